"""otel-drift's requests instrumentation: JSON shapes on contrib's client spans."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from otel_drift.instrumentation._web import http_json
from otel_drift.instrumentation.requests_json import RequestsJsonShapeInstrumentor

from otel_drift._internal import semconv as sc
from otel_drift._internal.expectations.model import JSON_SHAPE_ATTRIBUTE
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
        RequestsInstrumentor().instrument(tracer_provider=pipeline.provider)
        RequestsJsonShapeInstrumentor().instrument()
        try:
            yield pipeline, url
        finally:
            RequestsJsonShapeInstrumentor().uninstrument()
            RequestsInstrumentor().uninstrument()


def test_expected_shape_is_recorded_and_body_untouched(setup: tuple[Pipeline, str]) -> None:
    pipeline, url = setup
    answer = requests.get(f"{url}/users/7", timeout=5)
    assert answer.json()["name"] == "user 7"
    (span,) = finished_client_spans(pipeline)
    attributes = span.attributes or {}
    assert len(str(attributes[JSON_SHAPE_ATTRIBUTE])) == 12
    assert sc.JSON_SHAPE_MISSING not in attributes
    assert attributes[http_json.RESPONSE_BODY_SIZE] == len(answer.content)
    assert violations(pipeline, "profile", "shape") == {}


def test_renamed_field_is_on_the_span_and_counted(setup: tuple[Pipeline, str]) -> None:
    pipeline, url = setup
    answer = requests.get(f"{url}/users/7", params={"schema": "v2"}, timeout=5)
    assert answer.json()["full_name"] == "user 7"
    (span,) = finished_client_spans(pipeline)
    attributes = span.attributes or {}
    assert attributes[sc.JSON_SHAPE_MISSING] == ("name",)
    assert attributes[sc.JSON_SHAPE_ADDED] == ("full_name",)
    (event,) = [e for e in span.events if e.name == sc.JSON_SHAPE_MISMATCH_EVENT]
    assert event.attributes is not None
    assert event.attributes["drift.expectation"] == "profile"
    assert tuple(event.attributes["drift.rule"]) == ("shape.missing", "shape.added")
    assert violations(pipeline, "profile", "shape") == {"shape.missing": 1, "shape.added": 1}


def test_type_change_is_on_the_span_and_counted(setup: tuple[Pipeline, str]) -> None:
    pipeline, url = setup
    assert requests.get(f"{url}/users/7", params={"schema": "v3"}, timeout=5).json()["id"] == "7"
    (span,) = finished_client_spans(pipeline)
    assert (span.attributes or {})[sc.JSON_SHAPE_CHANGED] == ("id",)
    assert violations(pipeline, "profile", "shape") == {"shape.type": 1}


def test_streamed_response_is_left_alone(setup: tuple[Pipeline, str]) -> None:
    pipeline, url = setup
    with requests.get(f"{url}/big", stream=True, timeout=5) as answer:
        body = b"".join(answer.iter_content(8192))
    assert body == BIG
    (span,) = finished_client_spans(pipeline)
    assert (span.attributes or {})[sc.JSON_SKIPPED] == http_json.SKIP_STREAMING


def test_body_over_the_limit_is_skipped_not_broken(
    setup: tuple[Pipeline, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline, url = setup
    monkeypatch.setenv(OTEL_DRIFT_JSON_MAX_BYTES, "1000")
    reset_limits()
    try:
        assert requests.get(f"{url}/big", timeout=5).content == BIG
        assert requests.get(f"{url}/chunked", timeout=5).content == BIG
    finally:
        monkeypatch.delenv(OTEL_DRIFT_JSON_MAX_BYTES)
        reset_limits()
    spans = finished_client_spans(pipeline)
    assert [(s.attributes or {})[sc.JSON_SKIPPED] for s in spans] == ["too_large"] * 2


def test_non_json_and_uninstrumented_calls_get_nothing(setup: tuple[Pipeline, str]) -> None:
    pipeline, url = setup
    assert requests.get(f"{url}/text", timeout=5).text == "hello"
    RequestsJsonShapeInstrumentor().uninstrument()
    assert not hasattr(requests.adapters.HTTPAdapter.send, "__wrapped__")
    requests.get(f"{url}/users/7", params={"schema": "v2"}, timeout=5)
    RequestsJsonShapeInstrumentor().instrument()
    for span in finished_client_spans(pipeline):
        assert JSON_SHAPE_ATTRIBUTE not in (span.attributes or {})


def test_without_contrib_client_span_nothing_happens(monkeypatch: pytest.MonkeyPatch) -> None:
    with active_pipeline(SHAPE_EXPECTATIONS, monkeypatch) as pipeline, upstream_server() as url:
        RequestsJsonShapeInstrumentor().instrument()
        try:
            assert requests.get(f"{url}/users/7", timeout=5).json()["id"] == 7
        finally:
            RequestsJsonShapeInstrumentor().uninstrument()
        assert finished_client_spans(pipeline) == []
        assert violations(pipeline, "profile", "shape") == {}


def test_excluded_urls_get_no_span_and_no_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    with active_pipeline(SHAPE_EXPECTATIONS, monkeypatch) as pipeline, upstream_server() as url:
        RequestsInstrumentor().instrument(
            tracer_provider=pipeline.provider, excluded_urls="/users/"
        )
        RequestsJsonShapeInstrumentor().instrument()
        try:
            assert requests.get(f"{url}/users/7", params={"schema": "v2"}, timeout=5).ok
        finally:
            RequestsJsonShapeInstrumentor().uninstrument()
            RequestsInstrumentor().uninstrument()
        assert finished_client_spans(pipeline) == []
        assert violations(pipeline, "profile", "shape") == {}
