"""Spans end to end: what a user's process pays per span, otel-drift's worker included.

The hot-path section times ``on_end`` and the worker's matching apart; this
one times what a service pays, in one process, the way it runs: the garbage
collector on, the drift worker thread running on its own (woken by the parked
spans, or its flush interval), the SDK's BatchSpanProcessor exporting on its
thread. Five arms, each its own TracerProvider built once, called in whole
calls of N Flask-shaped server spans, alternated, the order rotated every
round:

- ``sdk``: SDK + BatchSpanProcessor to an exporter that drops the spans;
- ``sdk (A/A)``: the same again, a second provider: the method's resolution;
- ``+ no-op processor``: the SDK's fan-out to a second processor alone;
- ``+ otel-drift, no match``: DriftSpanProcessor watching ``/checkout``
  (2 watched values), the spans on ``/health``;
- ``+ otel-drift, match``: the same processor, the spans on ``/checkout``.

A call is timed in the process's CPU time (every thread): the spans, then
waiting (asleep) until the drift worker has taken and fed what the call
parked, and the batch processor's ``force_flush``, so that each arm pays for
its own work and none lands in another's call. Per round, each arm's cost
over the ``sdk`` arm's; the median over rounds, with its bootstrap interval.
Underneath, the drift worker thread's own CPU clock per span.

``process_rows`` then alternates whole processes under
``opentelemetry-instrument`` for a real Flask app whose WSGI callable is
called in-process (``_flask_child``): OTel alone twice (A/A), otel-drift
with requests that match nothing, and with requests matching the demo's
expectation (latency and status). Each child times its requests and its
providers' shutdown (the last drift pass and export) in process CPU.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Sequence, Sized
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Tracer

from benchmarks import workload
from benchmarks.common import (
    Interval,
    Section,
    Spread,
    bootstrap,
    interleave,
    percent_excess,
    spread,
    table,
)
from benchmarks.servers import EXPECTATIONS, PATH
from otel_drift import DriftSpanProcessor, Settings

TARGET_NO_MATCH = 2.0
TARGET_MATCH = 5.0


class _NoOp(SpanProcessor):
    """A second processor whose ``on_end`` does nothing: the SDK's fan-out alone."""

    def on_end(self, span: ReadableSpan) -> None:
        return None


@dataclass
class _Arm:
    label: str
    provider: TracerProvider
    batch: BatchSpanProcessor
    route: str
    drift: DriftSpanProcessor | None = None


def _provider(
    first: SpanProcessor | None,
) -> tuple[TracerProvider, BatchSpanProcessor]:
    provider = TracerProvider()
    if first is not None:
        provider.add_span_processor(first)
    batch = BatchSpanProcessor(workload.CountingExporter(), max_queue_size=workload.BATCH_QUEUE)
    provider.add_span_processor(batch)
    return provider, batch


def _arms() -> list[_Arm]:
    sdk, sdk_batch = _provider(None)
    twin, twin_batch = _provider(None)
    noop, noop_batch = _provider(_NoOp())
    # The defaults a service runs with (flush interval, queue): only the file is ours.
    drift = DriftSpanProcessor(workload.load(workload.expectations_json(1, 2)), settings=Settings())
    with_drift, drift_batch = _provider(drift)
    drift.engine.add_listener(lambda _evaluation: None)
    return [
        _Arm("sdk", sdk, sdk_batch, workload.ROUTE),
        _Arm("sdk (A/A)", twin, twin_batch, workload.ROUTE),
        _Arm("+ no-op processor", noop, noop_batch, workload.ROUTE),
        # The matching arm first: the first spans the processor reads then match its
        # expectation, as a service's would (else it warns that the expectation matched
        # none of the first spans read).
        _Arm("+ otel-drift, match (2 values)", with_drift, drift_batch, workload.ROUTE, drift),
        _Arm("+ otel-drift, no match", with_drift, drift_batch, workload.OTHER_ROUTE, drift),
    ]


def _worker_thread(drift: DriftSpanProcessor) -> threading.Thread | None:
    return drift.engine._worker.thread


def _settled(drift: DriftSpanProcessor) -> None:
    """Wait (asleep: no CPU) until the drift worker has fed what was handed over."""
    worker = drift.engine._worker
    drift.engine.wake()
    # A pass takes all of these holding the worker's lock: all empty and the lock
    # free, the last pass is over.
    handed: list[Sized] = [drift._ended, worker.queue, *(r.buffer for r in drift._reader.rows)]
    deadline = time.monotonic() + 10.0
    while any(handed) or worker.lock.locked() or worker._wake.is_set():
        if time.monotonic() > deadline:
            raise RuntimeError("the drift worker did not take the parked spans within 10 s")
        time.sleep(0.0005)


def _thread_cpu_ns(thread: threading.Thread | None) -> int:
    if thread is None or thread.ident is None:
        return 0
    try:
        return time.clock_gettime_ns(time.pthread_getcpuclockid(thread.ident))
    except (OSError, AttributeError):
        return 0


def timed_call(
    arm: _Arm,
    spans: int,
    make_spans: Callable[[Tracer, int, str], None],
    worker_ns: dict[str, list[float]],
) -> float:
    """One call of ``spans`` spans through ``arm``: CPU ns a span (every thread), with the
    drift worker's pass over it and the batch processor's flush; the worker's own CPU
    a span goes to ``worker_ns``."""
    tracer = arm.provider.get_tracer(workload.FLASK_SCOPE)
    worker_before = _thread_cpu_ns(_worker_thread(arm.drift)) if arm.drift else 0
    start = time.process_time_ns()
    make_spans(tracer, spans, arm.route)
    if arm.drift is not None:
        _settled(arm.drift)
    arm.batch.force_flush()
    elapsed = time.process_time_ns() - start
    if arm.drift is not None:
        worker = _thread_cpu_ns(_worker_thread(arm.drift)) - worker_before
        worker_ns[arm.label].append(worker / spans)
    return elapsed / spans


@dataclass(frozen=True)
class Measured:
    """Arms alternated: their cost a span (ns) or a request (µs), and how much more
    than the first arm each cost, per round."""

    rounds: int
    cost: dict[str, Spread]
    added: dict[str, Interval]
    #: The drift worker thread's own CPU, ns a span, per drift arm (in process only).
    worker_ns: dict[str, Spread] = field(default_factory=dict)


def in_process(spans: int, rounds: int, warmup: int = 1) -> Measured:
    """The five arms, alternated in whole calls of ``spans`` spans, GC on."""
    arms = _arms()
    worker_ns: dict[str, list[float]] = {arm.label: [] for arm in arms}
    gc.collect()
    assert gc.isenabled()
    results = interleave(
        {
            arm.label: partial(timed_call, arm, spans, workload.make_spans, worker_ns)
            for arm in arms
        },
        rounds,
        warmup=warmup,
    )
    for provider in {id(arm.provider): arm.provider for arm in arms}.values():
        provider.shutdown()
    cost, added = _summary(results, "sdk")
    return Measured(
        rounds=rounds,
        cost=cost,
        added=added,
        # The warm-up rounds' calls are dropped here as their timings are by interleave.
        worker_ns={label: spread(v[warmup:]) for label, v in worker_ns.items() if v[warmup:]},
    )


def _summary(
    results: dict[str, list[float]], base: str
) -> tuple[dict[str, Spread], dict[str, Interval]]:
    """Per arm, its spread; and per arm but ``base``, per round how much more it cost."""
    spreads = {label: spread(values) for label, values in results.items()}
    added = {
        label: bootstrap(percent_excess(values, results[base]))
        for label, values in results.items()
        if label != base
    }
    return spreads, added


# -- whole processes under opentelemetry-instrument ---------------------------------

#: The child: a Flask app with the demo's route and one the expectations do not
#: name, its WSGI callable called in-process (no sockets), timed in process CPU
#: from after a warm-up to after the providers' shutdown.
_CHILD = textwrap.dedent(
    """
    import io, json, sys, time
    from flask import Flask
    from opentelemetry import trace

    app = Flask(__name__)

    @app.get("/checkout")
    def checkout():
        return {"status": "ok"}

    @app.get("/health")
    def health():
        return {"status": "ok"}

    def environ(path):
        return {
            "REQUEST_METHOD": "GET", "PATH_INFO": path, "SCRIPT_NAME": "",
            "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
            "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr, "wsgi.multithread": False,
            "wsgi.multiprocess": False, "wsgi.run_once": False, "wsgi.version": (1, 0),
        }

    def start_response(status, headers, exc_info=None):
        return None

    def serve(path, count):
        for _ in range(count):
            for chunk in app(environ(path), start_response):
                pass

    path, requests, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    serve(path, warmup)
    start = time.process_time_ns()
    serve(path, requests)
    trace.get_tracer_provider().shutdown()
    print(json.dumps({"us": (time.process_time_ns() - start) / requests / 1000}))
    """
)


@dataclass(frozen=True)
class ProcessArm:
    label: str
    drift: bool
    path: str


PROCESS_ARMS = (
    ProcessArm("OTel alone", False, PATH),
    ProcessArm("OTel alone (A/A)", False, PATH),
    ProcessArm("+ otel-drift, no match", True, "/health"),
    ProcessArm("+ otel-drift, match (2 values)", True, PATH),
)


def _child_env(drift: bool, out: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        {
            "OTEL_SERVICE_NAME": "bench-span-e2e",
            # A real encoder and a real write (the requests section's exporter), in
            # every arm alike: what a service exporting its spans pays.
            "OTEL_TRACES_EXPORTER": "otlp_json_file",
            "OTEL_DRIFT_OTLP_JSON_DIR": str(out),
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "" if drift else _ours(),
        }
    )
    if drift:
        env["OTEL_DRIFT_EXPECTATIONS"] = str(EXPECTATIONS)
        env["OTEL_DRIFT_CONSOLE"] = "false"
    return env


def _ours() -> str:
    from benchmarks.servers import _our_instrumentors  # noqa: PLC0415

    return ",".join(_our_instrumentors())


def _run_child(script: Path, arm: ProcessArm, requests: int, warmup: int) -> float:
    bin_dir = Path(sys.executable).parent
    out = script.parent / "otlp"
    out.mkdir(exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    done = subprocess.run(
        [
            str(bin_dir / "opentelemetry-instrument"),
            sys.executable,
            str(script),
            arm.path,
            str(requests),
            str(warmup),
        ],
        env=_child_env(arm.drift, out),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"us"')]
    if done.returncode or not lines:
        raise RuntimeError(f"{arm.label}: child failed: {done.stderr[-2000:]}")
    return float(json.loads(lines[-1])["us"])


def processes(requests: int, rounds: int, warmup: int, workdir: Path) -> Measured:
    """Whole processes, the arms alternated and rotated every round."""
    script = workdir / "span_e2e_child.py"
    script.write_text(_CHILD)
    results = interleave(
        {arm.label: partial(_run_child, script, arm, requests, warmup) for arm in PROCESS_ARMS},
        rounds,
        warmup=0,
    )
    cost, added = _summary(results, "OTel alone")
    return Measured(rounds=rounds, cost=cost, added=added)


def _verdict(added: Interval, target: float) -> str:
    if added.runs < 2:
        return "one round"
    if added.value <= target:
        return "met" if added.high <= target else "met (median; interval straddles)"
    return "**not met**" if added.low > target else "**not met** (median; interval straddles)"


def _rows(
    ns: dict[str, Spread], added: dict[str, Interval], targets: dict[str, float], scale: float
) -> list[list[str]]:
    rows = []
    for label, value in ns.items():
        interval = added.get(label)
        target = targets.get(label)
        rows.append(
            [
                label,
                f"{value.median / scale:,.2f} ({value.low / scale:,.2f}–{value.high / scale:,.2f})",
                interval.fmt(1, " %") if interval is not None else "",
                f"≤ {target:g} %: {_verdict(interval, target)}"
                if interval is not None and target is not None
                else "",
            ]
        )
    return rows


def run(quick: bool, *, with_processes: bool | None = None) -> Section:
    """The in-process table; with ``with_processes`` (default: a full run) the
    whole-process one too."""
    spans, rounds = (300, 2) if quick else (20_000, 21)
    inproc = in_process(spans, rounds, warmup=0 if quick else 1)
    targets = {
        "+ otel-drift, no match": TARGET_NO_MATCH,
        "+ otel-drift, match (2 values)": TARGET_MATCH,
    }
    parts = [
        f"**End to end, in one process** (benchmarks/span_e2e.py): SDK + BatchSpanProcessor "
        "to an exporter that drops the spans, a Flask-shaped SERVER span (5 attributes at "
        "start, the status code before the end); otel-drift watching `/checkout` (latency "
        f"and status), the defaults a service runs with. {spans:,} spans a call, each call "
        "timed with the drift worker's pass over it and the batch processor's flush, "
        f"{rounds} rounds of the five arms alternated (order rotated every round), GC on; "
        "CPU µs a span (every thread), median (min–max over rounds), and per round the arm "
        "over the SDK-alone arm, median with its 95 % bootstrap interval. Command: "
        "`python -m benchmarks.run --only hot_path` (the table alone: "
        "`python -m benchmarks.span_e2e 20000 21`).",
        table(
            ["arm", "µs a span", "added (95 % CI)", "target"],
            _rows(inproc.cost, inproc.added, targets, 1000.0),
        ),
        "The drift worker thread's own CPU per span (inside the figures above): "
        + ", ".join(f"{label}: {s.fmt(0)} ns" for label, s in inproc.worker_ns.items())
        + ".",
    ]
    figures = {
        "span e2e SDK alone ns": inproc.cost["sdk"].median,
        "span e2e added %, A/A": inproc.added["sdk (A/A)"].value,
        "span e2e added %, no-op processor": inproc.added["+ no-op processor"].value,
        "added % per span, no match": inproc.added["+ otel-drift, no match"].value,
        "added % per span, 2 watched values": inproc.added["+ otel-drift, match (2 values)"].value,
    }
    run_processes = (not quick) if with_processes is None else with_processes
    if run_processes:
        requests, process_rounds, warmup = (200, 2, 50) if quick else (3000, 9, 500)
        with tempfile.TemporaryDirectory() as folder:
            procs = processes(requests, process_rounds, warmup, Path(folder))
        parts += [
            f"Whole processes under `opentelemetry-instrument` (spans to otel-drift's "
            f"`otlp_json_file` exporter: a real encoder and a real write; metrics off), a "
            f"Flask app's WSGI callable called in-process: "
            f"{requests:,} requests a process after {warmup} of warm-up, timed with the "
            f"providers' shutdown (the last drift pass and export); {process_rounds} rounds "
            "of the four processes alternated. CPU µs a request:",
            table(
                ["arm", "µs a request", "added (95 % CI)"],
                [row[:3] for row in _rows(procs.cost, procs.added, {}, 1.0)],
            ),
            f"Whole processes differ by more than the cost sought: the A/A control moved by "
            f"{procs.added['OTel alone (A/A)'].fmt(1, ' %')}, so this table shows the order of "
            "magnitude in a real service (a span is a few per cent of a request here) and "
            "judges nothing; the in-process table above judges the targets.",
        ]
        figures["process e2e added %, A/A"] = procs.added["OTel alone (A/A)"].value
        figures["process e2e added %, no match"] = procs.added["+ otel-drift, no match"].value
        figures["process e2e added %, match 2 values"] = procs.added[
            "+ otel-drift, match (2 values)"
        ].value
    return Section("Spans end to end: what the process pays", "\n\n".join(parts), figures)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m benchmarks.span_e2e [spans rounds]``: the in-process table only."""
    args = list(sys.argv[1:] if argv is None else argv)
    spans, rounds = (int(args[0]), int(args[1])) if args else (20_000, 21)
    result = in_process(spans, rounds)
    for label, value in result.cost.items():
        added = result.added.get(label)
        print(f"{label:34s} {value.fmt(0)} ns  {added.fmt(1, ' %') if added else ''}")
    for label, worker in result.worker_ns.items():
        print(f"worker {label:27s} {worker.fmt(0)} ns")


if __name__ == "__main__":
    main()
