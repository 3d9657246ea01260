"""Requests in-process: the framework's own callable, OTel alone vs OTel + otel-drift.

The socket benchmark (benchmarks/requests.py) measures the real thing but
cannot resolve 2 % on a shared 2-core machine: the CPU per request of one
server moves by 2x between rounds. Here the same quantity is measured where
it can be: in this process, the framework's WSGI/ASGI callable called
directly (no sockets, no HTTP parser, no server loop), the CPU read with
``time.process_time_ns``, which counts every thread of the process (the
SDK's batch exporter and otel-drift's worker included).

Per framework, one pipeline as ``opentelemetry-instrument`` builds it: an SDK
TracerProvider with a BatchSpanProcessor around otel-drift's OTLP/JSON file
exporter (the socket benchmark's exporter: a real encoder and a real write),
a MeterProvider with a reader, and contrib's instrumentation of the app. The
drift arm adds DriftSpanProcessor (the demo's expectations) to the same
provider and, as opentelemetry-instrument's hook leaves it, otel-drift's
JSON-shape instrumentor for the framework only where a watch reads server
bodies (the demo's expectations do not: it stays uninstrumented). Arms
alternate per round, the order flipped every round, and are toggled between
rounds, outside the timed region.

Rounds are short (50 requests an arm, ~30 ms) and many: this machine's CPU
speed jumps by up to 2x from one round to the next, and the median of many
paired rounds is robust to that where a sum is not. Each round ends with its
spans exported, inside the timed region: each arm pays for its own, and none
is exported during the other's round. (Batches of 50-150 spans instead of up
to 512 add a per-batch overhead to both arms, small against encoding the
spans.) The drift worker never wakes on its own (a flush interval of an hour):
after each window of the demo's expectation (500 drift requests) it is
flushed and timed on its own, and closes exactly that window, as serving
would (flushing every round would also close partial windows). Its CPU per
request is added to the per-round ratio. The evaluation span the window makes
is held and handed to the batch processor in the drift arm's next round,
where it is exported with that round's spans, as it would ride along with a
server's next batch (exported on its own, each one would be charged a whole
export call).
"""

from __future__ import annotations

import asyncio
import io
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import (
    ReadableSpan,
    SpanProcessor,
    SynchronousMultiSpanProcessor,
    TracerProvider,
)
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind
from otel_drift.instrumentation._web import http_json

from benchmarks.common import (
    Interval,
    Section,
    Spread,
    bootstrap_sum,
    cpu_ns,
    interleave,
    interval_verdicts,
    judge_interval,
    percent_excess,
    spread,
    table,
)
from benchmarks.servers import PATH, expectations_text
from otel_drift import DriftSpanProcessor, Settings, loads_expectations
from otel_drift._internal import feed
from otel_drift._internal.exporters.otlp_json_file import (
    OTLPJsonFileMetricExporter,
    OTLPJsonFileSpanExporter,
)

TARGET_PERCENT = 2.0

#: Serves one arm's requests: (how many) -> how many were not 200.
Serve = Callable[[int], int]


@dataclass(frozen=True)
class Plan:
    #: Requests per arm per round.
    requests: int
    #: Rounds per block (0: as many as make one window of the demo's expectation).
    block: int
    warmup_blocks: int
    min_blocks: int
    max_blocks: int
    #: Per framework: blocks continue until this much time is spent (or max_blocks).
    budget_s: float


QUICK = Plan(requests=25, block=1, warmup_blocks=1, min_blocks=2, max_blocks=2, budget_s=0.0)
#: Rounds of 50 requests (~30 ms an arm): the arms alternate faster than this
#: machine's CPU speed drifts (a single arm's CPU per request moves by ±15 %
#: between consecutive 0.3 s runs). Blocks of 10 rounds hold one window each.
#: At least 50 blocks (500 rounds an arm), past the 90 s if need be: a machine
#: busy with something else fits fewer rounds in them, and the interval widens.
FULL = Plan(requests=50, block=0, warmup_blocks=1, min_blocks=50, max_blocks=500, budget_s=90.0)


@dataclass(frozen=True)
class Framework:
    label: str
    short: str
    needs: tuple[str, ...]
    #: The ``http.route`` contrib gives ``GET /checkout`` (Django: no leading slash).
    route: str
    #: A context manager yielding ``arm(drift) -> Serve`` for a pipeline.
    serving: Callable[[Pipeline], Any]


@dataclass(frozen=True)
class Result:
    framework: Framework
    rounds: int
    #: CPU µs per request over rounds: requests and their export, each arm.
    otel_us: Spread
    drift_us: Spread
    #: The drift worker's CPU µs per request, over windows.
    worker_us: Spread
    #: Per round, drift over OTel, in percent, plus the worker's share.
    added: Interval
    #: Exported spans per request, per arm (the drift arm's include its evaluations).
    otel_spans: float
    drift_spans: float
    windows: int


class _Counting(SpanExporter):
    """Counts the spans it passes on: proof that both arms export all of theirs."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return self.inner.export(spans)

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


class _Held(SpanProcessor):
    """Keeps the spans that end (otel-drift's evaluations) until they are released."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


class Pipeline:
    """SDK providers as opentelemetry-instrument builds them, and the drift processor."""

    def __init__(self, folder: Path, expectations: str) -> None:
        self.exporter = _Counting(OTLPJsonFileSpanExporter(directory=folder))
        self.batch = BatchSpanProcessor(self.exporter)
        # opentelemetry-instrument's default: a collection a minute.
        reader = PeriodicExportingMetricReader(OTLPJsonFileMetricExporter(directory=folder))
        self.meters = MeterProvider(metric_readers=[reader])
        self.provider = TracerProvider()
        self.provider.add_span_processor(self.batch)
        # otel-drift's evaluation spans, held for the drift arm's next round (release).
        self._held = _Held()
        self._signals = TracerProvider(resource=self.provider.resource)
        self._signals.add_span_processor(self._held)
        self.drift = DriftSpanProcessor(
            loads_expectations(expectations),
            # Its worker wakes only when run (see run_worker): never in the other arm's round.
            settings=Settings(flush_interval_s=3600.0),
            tracer_provider=self._signals,
            meter_provider=self.meters,
        )
        self.provider.add_span_processor(self.drift)
        # Tracers keep this multi processor: swapping its tuple toggles the drift arm.
        multi = self.provider._active_span_processor
        assert isinstance(multi, SynchronousMultiSpanProcessor)
        self._multi = multi
        self._tuples = {False: (self.batch,), True: multi._span_processors}
        self.use(False)

    def use(self, drift: bool) -> None:
        self._multi._span_processors = self._tuples[drift]

    def export(self) -> None:
        """Export what the batch processor holds, in this thread."""
        self.batch.force_flush()

    def run_worker(self) -> None:
        """Process the drift queue: its evaluation spans are held (see release).

        Called once per window: force_flush also evaluates a partial window
        once it holds min_samples spans, which serving would not.
        """
        self.drift.force_flush()

    def release(self) -> None:
        """Hand the held evaluation spans to the batch processor (the drift arm's
        round, before its export: they go in its batch)."""
        held, self._held.spans = self._held.spans, []
        for span in held:
            self.batch.on_end(span)

    def shutdown(self) -> None:
        self.use(True)
        self.provider.shutdown()
        self._signals.shutdown()
        self.meters.shutdown()


# -- driving the apps -------------------------------------------------------

_ENVIRON: dict[str, Any] = {
    "REQUEST_METHOD": "GET",
    "SCRIPT_NAME": "",
    "PATH_INFO": PATH,
    "QUERY_STRING": "",
    "SERVER_NAME": "127.0.0.1",
    "SERVER_PORT": "8000",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "127.0.0.1",
    "REMOTE_PORT": "50000",
    "HTTP_HOST": "127.0.0.1",
    "wsgi.version": (1, 0),
    "wsgi.url_scheme": "http",
    "wsgi.errors": sys.stderr,
    "wsgi.multithread": True,
    "wsgi.multiprocess": False,
    "wsgi.run_once": False,
}


def _wsgi(app: Callable[..., Any]) -> Serve:
    status: list[str] = []

    def start_response(line: str, headers: object, exc_info: object = None) -> object:
        status.append(line)
        return None

    def serve(n: int) -> int:
        errors = 0
        for _ in range(n):
            status.clear()
            # A fresh environ each time: frameworks store the request in it.
            body = app({**_ENVIRON, "wsgi.input": io.BytesIO()}, start_response)
            for _chunk in body:
                pass
            close = getattr(body, "close", None)
            if close is not None:
                close()
            errors += not status or not status[-1].startswith("200")
        return errors

    return serve


_SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.3"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": PATH,
    "raw_path": PATH.encode(),
    "root_path": "",
    "query_string": b"",
    "headers": [(b"host", b"127.0.0.1")],
    "server": ("127.0.0.1", 8000),
    "client": ("127.0.0.1", 50000),
}


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def _asgi(app: Callable[..., Any], loop: asyncio.AbstractEventLoop) -> Serve:
    async def one() -> bool:
        status = 0

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app({**_SCOPE, "headers": list(_SCOPE["headers"])}, _receive, send)
        return status == 200

    async def many(n: int) -> int:
        errors = 0
        for _ in range(n):
            errors += not await one()
        return errors

    return lambda n: loop.run_until_complete(many(n))


# -- the frameworks -----------------------------------------------------------


@contextmanager
def _flask(pipeline: Pipeline) -> Iterator[Callable[[bool], Serve]]:
    from flask import Flask  # noqa: PLC0415
    from opentelemetry.instrumentation.flask import FlaskInstrumentor  # noqa: PLC0415
    from otel_drift.instrumentation.flask_json import (  # noqa: PLC0415
        FlaskJsonShapeInstrumentor,
    )

    app = Flask("bench_flask")

    @app.get(PATH)
    def checkout() -> dict[str, str]:
        return {"status": "ok"}

    FlaskInstrumentor().instrument_app(  # type: ignore[no-untyped-call]
        app, tracer_provider=pipeline.provider, meter_provider=pipeline.meters
    )
    serve = _wsgi(app)
    ours = FlaskJsonShapeInstrumentor()

    def arm(drift: bool) -> Serve:
        # It wraps Flask.process_response, looked up per request: toggles at once.
        _toggle(ours, drift)
        return serve

    try:
        yield arm
    finally:
        _toggle(ours, False)
        FlaskInstrumentor().uninstrument_app(app)  # type: ignore[no-untyped-call]


@contextmanager
def _fastapi(pipeline: Pipeline) -> Iterator[Callable[[bool], Serve]]:
    from fastapi import FastAPI  # noqa: PLC0415
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor  # noqa: PLC0415
    from otel_drift.instrumentation.asgi_json import (  # noqa: PLC0415
        AsgiJsonShapeInstrumentor,
    )

    loop = asyncio.new_event_loop()
    ours = AsgiJsonShapeInstrumentor()
    apps = []
    serves = {}
    try:
        # A built middleware stack keeps (or lacks) our middleware for good: one app
        # per arm, each built by a first request, ours on for the second only, where
        # a watch reads server bodies. Else both arms serve one app: two identical
        # apps still differ in where their objects sit in memory.
        with_ours = http_json.demand().wants(SpanKind.SERVER)
        for drift in (False, True) if with_ours else (False,):
            _toggle(ours, drift)
            app = FastAPI()

            @app.get(PATH)
            async def checkout() -> dict[str, str]:
                return {"status": "ok"}

            FastAPIInstrumentor.instrument_app(
                app, tracer_provider=pipeline.provider, meter_provider=pipeline.meters
            )
            apps.append(app)
            serves[drift] = _asgi(app, loop)
            if serves[drift](1):
                raise RuntimeError("FastAPI: the first request failed")
        serves.setdefault(True, serves[False])
        yield serves.__getitem__
    finally:
        _toggle(ours, False)
        for app in apps:
            FastAPIInstrumentor.uninstrument_app(app)
        loop.close()


@contextmanager
def _django(pipeline: Pipeline) -> Iterator[Callable[[bool], Serve]]:
    from django.conf import settings  # noqa: PLC0415
    from django.core.handlers.wsgi import WSGIHandler  # noqa: PLC0415
    from django.http import JsonResponse  # noqa: PLC0415
    from django.test.utils import override_settings  # noqa: PLC0415
    from django.urls import clear_url_caches, path  # noqa: PLC0415
    from django.utils.functional import empty  # noqa: PLC0415
    from opentelemetry.instrumentation.django import DjangoInstrumentor  # noqa: PLC0415
    from otel_drift.instrumentation.django_json import (  # noqa: PLC0415
        DjangoJsonShapeInstrumentor,
    )

    def checkout(request: object) -> object:
        return JsonResponse({"status": "ok"})

    # A URLconf may be any object with urlpatterns: no module file needed.
    urls = types.ModuleType("bench_django_urls")
    urls.urlpatterns = [path(PATH.lstrip("/"), checkout)]  # type: ignore[attr-defined]
    configured_here = not settings.configured
    if configured_here:
        settings.configure(SECRET_KEY="benchmark-only", INSTALLED_APPS=[], DATABASES={})
    import django  # noqa: PLC0415

    django.setup(set_prefix=False)
    ours = DjangoJsonShapeInstrumentor()
    try:
        # benchmarks/servers.py's DJANGO_APP settings, over whatever this process has.
        with override_settings(
            DEBUG=False,
            ALLOWED_HOSTS=["127.0.0.1"],
            ROOT_URLCONF=urls,
            MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
            USE_TZ=True,
        ):
            # Contrib puts its middleware into MIDDLEWARE: before the handler loads it.
            DjangoInstrumentor().instrument(
                tracer_provider=pipeline.provider, meter_provider=pipeline.meters
            )
            try:
                serve = _wsgi(WSGIHandler())

                def arm(drift: bool) -> Serve:
                    # It wraps contrib's middleware class's process_response: toggles at once.
                    _toggle(ours, drift)
                    return serve

                yield arm
            finally:
                _toggle(ours, False)
                DjangoInstrumentor().uninstrument()
    finally:
        clear_url_caches()
        if configured_here:
            # Leave Django unconfigured, as found: a later test may configure its own.
            settings._wrapped = empty


def _toggle(instrumentor: Any, on: bool) -> None:
    # As opentelemetry-instrument's hook leaves it: instrumented only where a
    # watch of the attached expectations reads server bodies (the demo's do not).
    on = on and http_json.demand().wants(SpanKind.SERVER)
    if on and not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()
    elif not on and instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()


FRAMEWORKS = (
    Framework("Flask", "flask", ("flask", "opentelemetry.instrumentation.flask"), PATH, _flask),
    Framework(
        "FastAPI",
        "fastapi",
        ("fastapi", "opentelemetry.instrumentation.fastapi"),
        PATH,
        _fastapi,
    ),
    Framework(
        "Django",
        "django",
        ("django", "opentelemetry.instrumentation.django"),
        PATH.lstrip("/"),
        _django,
    ),
)


def missing(framework: Framework) -> list[str]:
    return [name for name in framework.needs if find_spec(name) is None]


# -- measuring ----------------------------------------------------------------


def _measure(framework: Framework, plan: Plan, folder: Path) -> Result:
    pipeline = Pipeline(folder, expectations_text(framework.route))
    (expectation,) = pipeline.drift.engine.expectations.expectations
    window = expectation.window.spans or 0
    block = plan.block or max(1, window // plan.requests)
    previous, feed._active = feed._active, pipeline.drift
    spans = {False: [0, 0], True: [0, 0]}  # exported spans, requests
    worker_ns: list[float] = []
    errors = 0
    drift_rounds = 0
    try:
        with framework.serving(pipeline) as arm:

            def measure(drift: bool) -> Callable[[], float]:
                def one() -> float:
                    nonlocal errors, drift_rounds
                    # The toggles, outside the timed region.
                    pipeline.use(drift)
                    serve = arm(drift)
                    exported = pipeline.exporter.spans
                    bad = 0

                    def loop() -> None:
                        nonlocal bad
                        bad = serve(plan.requests)
                        if drift:
                            pipeline.release()
                        # Inside: each arm pays for exporting its own spans.
                        pipeline.export()

                    ns = cpu_ns(loop)
                    if drift:
                        drift_rounds += 1
                        if drift_rounds % block == 0:
                            # One window of spans is queued: the worker closes it.
                            worker_ns.append(cpu_ns(pipeline.run_worker))
                    errors += bad
                    spans[drift][0] += pipeline.exporter.spans - exported
                    spans[drift][1] += plan.requests
                    return ns / plan.requests / 1000

                return one

            arms = {"otel": measure(False), "drift": measure(True)}
            interleave(arms, 0, warmup=plan.warmup_blocks * block)
            for counts in spans.values():
                counts[:] = [0, 0]  # count the measured rounds only
            worker_ns.clear()
            timed: dict[str, list[float]] = {"otel": [], "drift": []}
            deadline = time.monotonic() + plan.budget_s
            while len(timed["otel"]) < plan.max_blocks * block and (
                len(timed["otel"]) < plan.min_blocks * block or time.monotonic() < deadline
            ):
                for name, values in interleave(arms, block, warmup=0).items():
                    timed[name].extend(values)
    finally:
        feed._active = previous
        pipeline.use(False)
    windows = len(pipeline.drift.engine.history)
    dropped = sum(pipeline.drift.engine.dropped.values())
    pipeline.shutdown()
    if errors:
        raise RuntimeError(f"{framework.label}: {errors} requests did not answer 200")
    if dropped:
        raise RuntimeError(f"{framework.label}: otel-drift dropped {dropped} spans")
    per_request = {drift: exported / requests for drift, (exported, requests) in spans.items()}
    # Every request makes at least its server span; fewer exported means the batch queue lost some.
    if min(per_request.values()) < 1:
        raise RuntimeError(f"{framework.label}: spans lost before export: {per_request}")
    if windows == 0 and spans[True][1] >= window:
        raise RuntimeError(f"{framework.label}: the drift arm closed no window (no match?)")
    otel, drift = timed["otel"], timed["drift"]
    otel_us = spread(otel)
    # The worker's share, in percent of the OTel arm's CPU per request.
    worker = [ns / (block * plan.requests) / 1000 for ns in worker_ns] or [0.0]
    share = [us / otel_us.median * 100.0 for us in worker]
    # Rounds and windows are timed apart: each is resampled on its own.
    added = bootstrap_sum(percent_excess(drift, otel), share)
    return Result(
        framework=framework,
        rounds=len(otel),
        otel_us=otel_us,
        drift_us=spread(drift),
        worker_us=spread(worker),
        added=added,
        otel_spans=per_request[False],
        drift_spans=per_request[True],
        windows=windows,
    )


def run(quick: bool) -> Section:
    plan = QUICK if quick else FULL
    rows = []
    notes = []
    verdicts = []
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="otel-drift-bench-") as tmp:
        for framework in FRAMEWORKS:
            absent = missing(framework)
            if absent:
                notes.append(f"{framework.label}: skipped, {', '.join(absent)} not installed.")
                continue
            folder = Path(tmp) / framework.short
            result = _measure(framework, plan, folder)
            # From the ratio, not a difference of medians (each moves with the machine).
            added_us = result.otel_us.median * result.added.value / 100
            rows.append(
                [
                    framework.label,
                    f"{result.rounds}",
                    result.otel_us.fmt(0),
                    result.drift_us.fmt(0),
                    result.worker_us.fmt(2),
                    f"{added_us:+.1f}",
                    result.added.fmt(2, " %"),
                    f"{result.otel_spans:.3f} / {result.drift_spans:.3f}",
                    f"{result.windows:,}",
                ]
            )
            short = framework.short
            figures[f"requests_inprocess_added_pct_{short}"] = result.added.value
            figures[f"requests_inprocess_added_pct_ci_high_{short}"] = result.added.high
            figures[f"requests_inprocess_added_us_{short}"] = added_us
            figures[f"requests_inprocess_otel_us_{short}"] = result.otel_us.median
            verdicts.append(f"{framework.label}: {judge_interval(result.added, TARGET_PERCENT)}")
    parts = [
        "The socket benchmark above measures real servers but, on this shared 2-core "
        "machine, cannot resolve 2 %: one server's CPU per request moves by up to 2x "
        "between rounds. Here the same quantity is measured in one process: the "
        "framework's WSGI/ASGI callable is called directly with `GET /checkout` "
        "(a small JSON body), under an SDK TracerProvider + BatchSpanProcessor + the "
        "OTLP/JSON file exporter, a MeterProvider, and contrib's instrumentation; the "
        "drift arm adds DriftSpanProcessor (the demo's expectations; otel-drift's "
        "JSON-shape instrumentor stays off, as opentelemetry-instrument's hook leaves it "
        "when no watch reads bodies). CPU of the whole process (`time.process_time_ns`: the "
        f"export and drift worker threads included) per request. Rounds of {plan.requests:,} "
        "requests per arm, each ending with its spans exported (each arm pays for its "
        "own), the arms alternating (order flipped every "
        f"round) for {plan.budget_s:g} s per framework, and for at least "
        f"{plan.min_blocks} windows' worth of rounds, after {plan.warmup_blocks} "
        "warm-up window(s); short rounds, because this machine's CPU speed jumps by up to "
        "2x between rounds of 30 ms: the median of many short paired rounds is robust to "
        "that, a sum is not. The drift worker never wakes by itself (flush interval of an "
        "hour): after every window of the demo's expectation (500 drift requests) it is "
        "flushed, timed on its own, and closes that window; the evaluation span it makes "
        "is exported with the drift arm's next round (as a server's next batch would "
        "carry it). µs/request: median (min–max) "
        "over rounds (worker: over windows); *added*: the median over rounds of drift "
        "over OTel, plus the worker's median µs/request over OTel's, with a 95 % "
        "bootstrap interval that resamples rounds and windows each on its own; "
        "*added µs/req*: that percentage of OTel's µs/request; "
        "*spans/req*: spans exported per request by each arm (the drift arm's include "
        "its window evaluations); *windows*: windows otel-drift closed. This leaves out "
        "HTTP parsing and the server's loop, which a real server also spends per request: "
        "the denominator is smaller than a server's, so the relative cost shown is an "
        "upper bound of the real one.",
    ]
    if rows:
        parts.append(
            table(
                [
                    "framework",
                    "rounds",
                    "OTel, CPU µs/req",
                    "OTel + drift, CPU µs/req",
                    "drift worker, µs/req",
                    "added µs/req",
                    "added",
                    "spans/req OTel / drift",
                    "windows",
                ],
                rows,
            )
        )
    parts.extend(notes)
    if verdicts:
        parts.append(interval_verdicts(TARGET_PERCENT, verdicts))
    return Section("Requests in-process: the frameworks' callables", "\n\n".join(parts), figures)
