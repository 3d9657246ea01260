"""Helpers for the web tests: an upstream JSON server in a thread, a drift pipeline."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
from otel_drift.instrumentation._web import http_json

from otel_drift._internal import feed
from tests.support import ROOT, Pipeline, make_pipeline

WEB = ROOT / "examples" / "web"


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"web_example_{name}", WEB / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_upstream = load_example("upstream")

BIG = json.dumps({"items": [{"id": i, "name": "x" * 50} for i in range(2000)]}).encode()


class UpstreamHandler(_upstream.Handler):  # type: ignore[misc, name-defined]
    """The example upstream, plus bodies that must not be broken: big, chunked, not JSON."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        path = urlsplit(self.path).path
        if path == "/big":
            self._raw(BIG, {"Content-Type": "application/json", "Content-Length": str(len(BIG))})
        elif path == "/chunked":
            self._chunked(BIG)
        elif path == "/text":
            self._raw(b"hello", {"Content-Type": "text/plain", "Content-Length": "5"})
        else:
            super().do_GET()

    def _raw(self, data: bytes, headers: dict[str, str]) -> None:
        self.send_response(200)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _chunked(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for start in range(0, len(data), 4096):
            part = data[start : start + 4096]
            self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")


@contextmanager
def upstream_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), UpstreamHandler)
    server.daemon_threads = True
    # A short poll interval: shutdown() waits for the loop to look again.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


SHAPE_EXPECTATIONS = """
version: 1
expectations:
  - name: profile
    match:
      span_kind: client
      attribute_regex: {http.url: "/users/"}
    window: {spans: 1000}
    min_samples: 1
    watch:
      shape:
        source: json.shape
        shape:
          paths:
            id: number
            name: string
            email: string
            tags: array
            "tags[]": string
            address: object
            address.city: string
            address.zip: string
      size:
        attribute: http.response.body.size
        constraints: {min: 1}
"""


@contextmanager
def active_pipeline(text: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    """A drift pipeline that otel-drift's instrumentations see as the attached one."""
    pipeline = make_pipeline(text)
    monkeypatch.setattr(feed, "_active", pipeline.processor)
    try:
        yield pipeline
    finally:
        pipeline.provider.shutdown()


def finished_client_spans(pipeline: Pipeline) -> list[Any]:
    from opentelemetry.trace import SpanKind  # noqa: PLC0415

    return [s for s in pipeline.spans.get_finished_spans() if s.kind is SpanKind.CLIENT]


def violations(pipeline: Pipeline, expectation: str, watch: str) -> dict[str, int]:
    pipeline.processor.force_flush()
    for state in pipeline.processor.engine.watch_states():
        if state.expectation == expectation and state.watch.name == watch:
            return dict(state.violations)
    raise KeyError(watch)


def reset_limits() -> None:
    http_json.max_bytes.cache_clear()


#: One expectation that reads the shape of upstream (client) answers only.
UPSTREAM_SHAPE_ONLY = """
version: 1
expectations:
  - name: upstream
    match: {span_kind: client}
    watch:
      shape: {source: json.shape, shape: {paths: {id: number}}}
"""


def orders_response_expectation(route: str) -> str:
    """The expected shape of a service's own ``/orders`` answer, on its server span.

    ``route`` as the framework spells it (Django's has no leading slash).
    """
    return f"""
version: 1
expectations:
  - name: orders-response
    match:
      span_kind: server
      attributes: {{http.route: {route}}}
    window: {{spans: 1000}}
    min_samples: 1
    watch:
      shape:
        source: json.shape
        shape: {{paths: {{"orders[].id": number, "orders[].total": number}}}}
"""


def receive_streamed(base: str, path: str, release: threading.Event) -> list[bytes]:
    """The chunks of a streamed answer as the client gets them.

    The server sends the rest only after ``release`` is set, which happens on
    the first chunk: an answer held back until complete never arrives.
    """
    import httpx  # noqa: PLC0415

    received = []
    with (
        httpx.Client(base_url=base, timeout=10) as client,
        client.stream("GET", path) as answer,
    ):
        for chunk in answer.iter_raw():
            received.append(chunk)
            release.set()
    return received
