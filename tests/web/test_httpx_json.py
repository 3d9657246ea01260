"""otel-drift's httpx instrumentation: JSON shapes on contrib's client spans, sync and async."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpcore
import httpx
import pytest
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from otel_drift.instrumentation._web import http_json
from otel_drift.instrumentation.httpx_json import HttpxJsonShapeInstrumentor

from otel_drift._internal import semconv as sc
from otel_drift.environment_variables import OTEL_DRIFT_JSON_MAX_BYTES
from tests.support import Pipeline
from tests.web.support import (
    BIG,
    SHAPE_EXPECTATIONS,
    active_pipeline,
    finished_client_spans,
    reset_limits,
    upstream_server,
    violations,
)


@pytest.fixture
def setup(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Pipeline, str]]:
    with active_pipeline(SHAPE_EXPECTATIONS, monkeypatch) as pipeline, upstream_server() as url:
        HTTPXClientInstrumentor().instrument(tracer_provider=pipeline.provider)
        HttpxJsonShapeInstrumentor().instrument()
        try:
            yield pipeline, url
        finally:
            HttpxJsonShapeInstrumentor().uninstrument()
            HTTPXClientInstrumentor().uninstrument()


def test_renamed_field_sync(setup: tuple[Pipeline, str]) -> None:
    pipeline, url = setup
    with httpx.Client() as client:
        assert client.get(f"{url}/users/7").json()["name"] == "user 7"
        assert client.get(f"{url}/users/8", params={"schema": "v2"}).json()["full_name"]
    first, second = finished_client_spans(pipeline)
    assert sc.JSON_SHAPE_MISSING not in (first.attributes or {})
    assert (second.attributes or {})[sc.JSON_SHAPE_MISSING] == ("name",)
    assert (second.attributes or {})[sc.JSON_SHAPE_ADDED] == ("full_name",)
    assert violations(pipeline, "profile", "shape") == {"shape.missing": 1, "shape.added": 1}


def test_type_change_async(setup: tuple[Pipeline, str]) -> None:
    pipeline, url = setup

    async def call() -> object:
        async with httpx.AsyncClient() as client:
            answer = await client.get(f"{url}/users/7", params={"schema": "v3"})
            return answer.json()["id"]

    assert asyncio.run(call()) == "7"
    (span,) = finished_client_spans(pipeline)
    assert (span.attributes or {})[sc.JSON_SHAPE_CHANGED] == ("id",)
    assert violations(pipeline, "profile", "shape") == {"shape.type": 1}


def test_streams_over_the_limit_pass_through_whole(
    setup: tuple[Pipeline, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline, url = setup
    monkeypatch.setenv(OTEL_DRIFT_JSON_MAX_BYTES, "10000")
    reset_limits()
    try:
        with httpx.Client() as client, client.stream("GET", f"{url}/chunked") as answer:
            assert b"".join(answer.iter_bytes()) == BIG
        with httpx.Client() as client:
            assert client.get(f"{url}/big").content == BIG

        async def call() -> bytes:
            async with httpx.AsyncClient() as client, client.stream("GET", f"{url}/chunked") as r:
                return b"".join([chunk async for chunk in r.aiter_bytes()])

        assert asyncio.run(call()) == BIG
    finally:
        monkeypatch.delenv(OTEL_DRIFT_JSON_MAX_BYTES)
        reset_limits()
    spans = finished_client_spans(pipeline)
    assert [(s.attributes or {})[sc.JSON_SKIPPED] for s in spans] == ["too_large"] * 3


def test_chunked_body_within_the_limit_is_read_and_returned(setup: tuple[Pipeline, str]) -> None:
    pipeline, url = setup
    with httpx.Client() as client:
        assert client.get(f"{url}/chunked").content == BIG
    (span,) = finished_client_spans(pipeline)
    assert (span.attributes or {})[http_json.RESPONSE_BODY_SIZE] == len(BIG)


def test_uninstrument_unwraps(setup: tuple[Pipeline, str]) -> None:
    HttpxJsonShapeInstrumentor().uninstrument()
    try:
        assert not hasattr(httpcore.ConnectionPool.handle_request, "__wrapped__")
        assert not hasattr(httpcore.AsyncConnectionPool.handle_async_request, "__wrapped__")
    finally:
        HttpxJsonShapeInstrumentor().instrument()
    assert hasattr(httpcore.ConnectionPool.handle_request, "__wrapped__")
