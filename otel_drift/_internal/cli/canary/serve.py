"""``otel-drift gate --serve``: canary verdicts over HTTP, for Argo Rollouts and Flagger.

Argo Rollouts' ``web`` metric provider GETs (or POSTs) a URL and reads the
JSON it gets back (``jsonPath: "{$.verdict}"``, ``successCondition: result
== "PASS"``, ``failureCondition: result == "FAIL"``; anything else is
inconclusive). Flagger's webhooks POST ``{"name", "namespace", "phase",
"metadata": {...}}`` and read only the status code: 2xx passes. So the
question comes as query parameters, as JSON body fields, or as Flagger's
``metadata`` (all merged; the query string wins), and ``require`` chooses
what the status code says:

- absent: 200 whatever the verdict (read the body: Argo);
- ``no-fail``: 412 on FAIL, else 200 (a Flagger ``rollout`` hook: a FAIL
  counts as a failed check, an INCONCLUSIVE does not);
- ``pass``: 200 only on PASS, else 412 (a Flagger ``confirm-promotion`` hook
  holds the promotion until the canary passes).

It never hangs a rollout: every Prometheus request has a timeout, and an
answer that is not ready within ``deadline_s`` is a 504 at once (the query
goes on in the pool and its result is cached for the caller's retry). At
most ``workers`` questions run at a time and as many more wait; past that a
request gets 503 at once. Answers are cached by question for ``cache_ttl_s``
(a question asked again while it runs waits for the same run), in at most
:data:`CACHE_ENTRIES` entries. On SIGTERM it stops taking requests and exits
once the questions under way end (each Prometheus request within ``--timeout``).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from otel_drift._internal.cli.canary.query import SELECTOR_ON, CanaryQuery, clean_selector
from otel_drift._internal.cli.canary.run import (
    CanaryOptions,
    CanaryResult,
    CanaryUsageError,
    evaluate_canary,
)
from otel_drift._internal.cli.canary.verdict import FAIL, PASS
from otel_drift._internal.cli.prometheus import PrometheusClient, PrometheusError
from otel_drift._internal.cli.timerange import time_range
from otel_drift._internal.expectations.model import ExpectationsFile

#: Answers kept at most (each a few kilobytes of counts).
CACHE_ENTRIES = 256
#: A request body larger than this is refused (Flagger's and Argo's are tiny).
MAX_BODY = 65_536
#: Seconds a client may take to send its request before its connection is dropped.
CLIENT_TIMEOUT_S = 10.0
_REQUIRE = ("", "no-fail", "pass")
_Key = tuple[str, ...]


@dataclass(frozen=True)
class Defaults:
    """What the command line sets for a question that does not say."""

    since: str = "15m"
    selector_on: str = "target_info"
    expectation: str | None = None
    #: Watched values, comma-separated (empty: all).
    watches: str = ""


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT``; ``:PORT`` listens on every address (in a cluster, behind a Service).

    >>> parse_address("127.0.0.1:8080"), parse_address(":9000"), parse_address("[::1]:80")
    (('127.0.0.1', 8080), ('0.0.0.0', 9000), ('::1', 80))
    """
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--serve {text!r}: give HOST:PORT, e.g. 127.0.0.1:8080")
    return (host.strip("[]") or "0.0.0.0"), int(port)


def _param(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if isinstance(value, list):
        value = value[-1] if value else None
    if value is None:
        return None
    if not isinstance(value, str | int | float):
        raise ValueError(f"{name} must be a string")
    return str(value)


def _watches(params: Mapping[str, Any]) -> tuple[str, ...]:
    value = params.get("watch")
    if value is None:
        return ()
    items = value if isinstance(value, list) else str(value).split(",")
    return tuple(sorted({str(item).strip() for item in items if str(item).strip()}))


def question(params: Mapping[str, Any], defaults: Defaults) -> tuple[_Key, str]:
    """The cache key of a request's question (its normalised parameters) and its ``require``."""
    canary, baseline = _param(params, "canary"), _param(params, "baseline")
    if canary is None or baseline is None:
        raise ValueError('give canary and baseline selectors, e.g. canary=service_version="2"')
    selector_on = _param(params, "selector_on") or defaults.selector_on
    if selector_on not in SELECTOR_ON:
        raise ValueError(f"selector_on must be one of {', '.join(SELECTOR_ON)}")
    require = _param(params, "require") or ""
    if require not in _REQUIRE:
        raise ValueError("require must be no-fail or pass (or absent)")
    key = (
        clean_selector(canary),
        clean_selector(baseline),
        selector_on,
        _param(params, "since") or defaults.since,
        _param(params, "start") or "",
        _param(params, "end") or "",
        _param(params, "expectation") or defaults.expectation or "",
        ",".join(_watches(params)) or defaults.watches,
    )
    time_range(key[3], key[4] or None, key[5] or None)  # a bad range is the caller's error now
    return key, require


def request_params(body: Mapping[str, Any], query_string: str) -> dict[str, Any]:
    """A request's question: the JSON body's fields, Flagger's ``metadata``, the query string.

    >>> request_params({"name": "checkout", "metadata": {"since": "5m"}}, "since=10m&canary=a")
    {'name': 'checkout', 'since': ['10m'], 'canary': ['a']}
    """
    params: dict[str, Any] = {k: v for k, v in body.items() if k != "metadata"}
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        params.update(metadata)
    params.update(parse_qs(query_string))
    return params


def _query(key: _Key) -> CanaryQuery:
    canary, baseline, selector_on, since, start, end, expectation, watches = key
    begin, stop = time_range(since, start or None, end or None)
    return CanaryQuery(
        canary,
        baseline,
        begin,
        stop,
        "series" if selector_on == "series" else "target_info",
        expectation or None,
        tuple(w for w in watches.split(",") if w),
    )


class CanaryService:
    """Questions in, (status, JSON) out: the cache, the pool and the deadline."""

    def __init__(
        self,
        client: PrometheusClient,
        expectations: ExpectationsFile,
        options: CanaryOptions,
        defaults: Defaults,
        *,
        deadline_s: float,
        cache_ttl_s: float,
        workers: int = 4,
    ) -> None:
        self._client = client
        self._expectations = expectations
        self._options = options
        self.defaults = defaults
        self._deadline_s = deadline_s
        self._ttl_s = cache_ttl_s
        self._workers = workers
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="otel-drift-gate")
        self._lock = threading.Lock()
        self._cache: OrderedDict[_Key, tuple[float, Future[CanaryResult]]] = OrderedDict()

    def _evaluate(self, key: _Key) -> CanaryResult:
        return evaluate_canary(self._client, self._expectations, _query(key), self._options)

    def _future(self, key: _Key) -> Future[CanaryResult] | None:
        """The run answering ``key``: cached, under way, or new (None: too busy)."""
        now = time.monotonic()
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                started, future = found
                fresh = now - started < self._ttl_s and not (
                    future.done() and future.exception() is not None
                )
                if not future.done() or fresh:
                    return future
                del self._cache[key]
            running = sum(1 for _, f in self._cache.values() if not f.done())
            if running >= 2 * self._workers:
                return None
            future = self._pool.submit(self._evaluate, key)
            self._cache[key] = (now, future)
            while len(self._cache) > CACHE_ENTRIES:
                oldest = next(iter(self._cache))
                if not self._cache[oldest][1].done():
                    break
                del self._cache[oldest]
            return future

    def answer(self, params: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            key, require = question(params, self.defaults)
        except ValueError as error:
            return 400, {"error": str(error)}
        future = self._future(key)
        if future is None:
            return 503, {"error": f"busy: {2 * self._workers} gate questions are under way"}
        try:
            result = future.result(timeout=self._deadline_s)
        except FutureTimeout:
            return 504, {
                "error": f"no answer within {self._deadline_s:g}s (Prometheus is slow); "
                "the query goes on and a retry gets its answer"
            }
        except PrometheusError as error:
            return 502, {"error": str(error)}
        except CanaryUsageError as error:
            return 400, {"error": str(error)}
        document = result.document()
        verdict = result.verdict
        failed = (require == "no-fail" and verdict == FAIL) or (
            require == "pass" and verdict != PASS
        )
        return (412 if failed else 200), document

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _handler(service: CanaryService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = CLIENT_TIMEOUT_S
        server_version = "otel-drift-gate"

        def _send(self, status: int, document: Mapping[str, Any]) -> None:
            body = json.dumps(document, indent=1).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _route(self, body: Mapping[str, Any]) -> None:
            path = urlsplit(self.path).path.rstrip("/")
            if path == "/healthz":
                self._send(200, {"ok": True})
            elif path in ("", "/gate"):
                self._send(*service.answer(request_params(body, urlsplit(self.path).query)))
            else:
                self._send(404, {"error": f"no {path}: ask /gate (or /healthz)"})

        def do_GET(self) -> None:
            self._route({})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._send(413, {"error": f"the body is over {MAX_BODY} bytes"})
                return
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                self._send(400, {"error": "the body is not JSON"})
                return
            self._route(body if isinstance(body, dict) else {})

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"otel-drift gate: {self.address_string()} {format % args}\n")

    return Handler


def serve(service: CanaryService, address: tuple[str, int]) -> int:
    """Answer until SIGTERM or Ctrl-C; 0 on a clean stop."""
    httpd = ThreadingHTTPServer(address, _handler(service))
    httpd.daemon_threads = True
    host, port = str(httpd.server_address[0]), httpd.server_address[1]

    def stop(_signum: int, _frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever, so it cannot run on this thread.
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    print(f"otel-drift gate: serving on http://{host}:{port}/gate", file=sys.stderr, flush=True)
    try:
        httpd.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
        service.close()
    return 0
