"""``explain_by`` end to end: what segmenting a window costs a span, in one process.

The spans of ``span_e2e.py``, each with three more attributes a service may
explain drift by (``cloud.region`` of three, ``http.request.method``,
``user_agent.original``), through six arms, each its own TracerProvider built
once, alternated in whole calls, the order rotated every round, GC on, the
drift worker running on its own thread:

- ``sdk`` and ``sdk (A/A)``: SDK + BatchSpanProcessor alone, twice (the
  method's resolution);
- ``explain_by: []``: otel-drift matching every span (latency and status),
  segments off: the row as it was before ``explain_by``;
- ``default``: no ``explain_by`` (``service.version`` and the flag variant,
  absent from these spans: two lookups that miss, and the events' reference);
- ``1 attribute`` (``cloud.region``) and ``3 attributes`` (all three).

A call is timed in process CPU time (every thread), with the drift worker's
pass over it and the batch processor's flush (``span_e2e.timed_call``). Per
round, each arm over ``sdk``, and each drift arm over ``explain_by: []``
(the cost of segments alone); medians with their bootstrap intervals. The
windows (1,000 spans) drift against the workload's baseline, so every close
also ranks the segments: the worst case of the worker's side.

``python -m benchmarks.explain_by [spans rounds]`` (default 20,000 spans, 15 rounds).
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Sequence
from functools import partial

from opentelemetry.trace import SpanKind, Tracer
from opentelemetry.util.types import AttributeValue

from benchmarks import workload
from benchmarks.common import bootstrap, interleave, percent_excess, spread
from benchmarks.span_e2e import _Arm, _provider, timed_call
from otel_drift import DriftSpanProcessor, Settings

REGIONS = ("eu-west-1", "us-east-1", "ap-south-1")
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"
#: The drift arms' ``explain_by`` (None: not declared, the default).
EXPLAIN: dict[str, list[str] | None] = {
    "explain_by: []": [],
    "default (absent)": None,
    "1 attribute": ["cloud.region"],
    "3 attributes": ["cloud.region", "http.request.method", "user_agent.original"],
}
OFF = "explain_by: []"


def _expectations(explain_by: list[str] | None) -> str:
    document = json.loads(workload.expectations_json(1, 2))
    if explain_by is not None:
        document["expectations"][0]["explain_by"] = explain_by
    return json.dumps(document)


def _arms() -> list[_Arm]:
    arms = []
    for label in ("sdk", "sdk (A/A)"):
        provider, batch = _provider(None)
        arms.append(_Arm(label, provider, batch, workload.ROUTE))
    for label, explain_by in EXPLAIN.items():
        drift = DriftSpanProcessor(workload.load(_expectations(explain_by)), settings=Settings())
        drift.engine.add_listener(lambda _evaluation: None)
        provider, batch = _provider(drift)
        arms.append(_Arm(label, provider, batch, workload.ROUTE, drift))
    return arms


def make_spans(tracer: Tracer, count: int, route: str) -> None:
    """``workload.make_spans``'s Flask server span, with the three segment attributes."""
    name = f"GET {route}"
    for i in range(count):
        attributes: dict[str, AttributeValue] = {
            "http.method": "GET",
            "http.request.method": "GET",
            "http.scheme": "http",
            "http.target": route,
            "http.route": route,
            "net.host.port": 8000,
            "cloud.region": REGIONS[i % 3],
            "user_agent.original": USER_AGENT,
        }
        span = tracer.start_span(name, kind=SpanKind.SERVER, attributes=attributes)
        span.set_attribute("http.status_code", 200)
        span.end()


def measure(spans: int, rounds: int, warmup: int = 1) -> list[str]:
    arms = _arms()
    worker_ns: dict[str, list[float]] = {arm.label: [] for arm in arms}
    gc.collect()
    assert gc.isenabled()
    results = interleave(
        {arm.label: partial(timed_call, arm, spans, make_spans, worker_ns) for arm in arms},
        rounds,
        warmup=warmup,
    )
    for arm in arms:
        arm.provider.shutdown()
    lines = [
        f"{spans:,} spans a call, {rounds} rounds of {len(arms)} arms alternated, GC on; "
        "CPU ns a span (every thread), median (min-max); added: median over rounds (95 % CI)",
        f"{'arm':18s} {'ns a span':>22s} {'over sdk':>22s} {'over explain_by: []':>22s} "
        f"{'worker ns':>10s}",
    ]
    for arm in arms:
        label = arm.label
        over_sdk = (
            bootstrap(percent_excess(results[label], results["sdk"])).fmt(1, " %")
            if label != "sdk"
            else ""
        )
        over_off = (
            bootstrap(percent_excess(results[label], results[OFF])).fmt(1, " %")
            if arm.drift is not None and label != OFF
            else ""
        )
        worker = spread(worker_ns[label][warmup:]).fmt(0) if worker_ns[label][warmup:] else ""
        lines.append(
            f"{label:18s} {spread(results[label]).fmt(0):>22s} {over_sdk:>22s} "
            f"{over_off:>22s} {worker:>10s}"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    spans, rounds = (int(args[0]), int(args[1])) if args else (20_000, 15)
    print("\n".join(measure(spans, rounds)))


if __name__ == "__main__":
    main()
