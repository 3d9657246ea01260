"""Live learning's cost per span, next to the judging path's, in one run.

What a service pays per span, in one process, as it runs: the garbage
collector on, otel-drift's thread running on its own, the SDK's
BatchSpanProcessor exporting on its thread (to an exporter that drops the
spans). Arms, each its own TracerProvider built once, called in whole calls of
N Flask-shaped server spans (benchmarks/workload.py), alternated, the order
rotated every round:

- ``sdk``, and ``sdk (A/A)``: the SDK alone, twice (the method's resolution);
- ``+ learning``: a ``LearningSpanProcessor`` whose period never ends: parks
  each span, its thread converts and learns it;
- ``+ judging (2 values)``: the ``DriftSpanProcessor`` of benchmarks/span_e2e.py,
  watching the spans' route (latency and status);
- ``+ judging the learned file``: a ``LearningSpanProcessor`` that learned from
  these spans first and handed over: its file's two expectations (the traffic
  mix, and the route's latency and status) match every span;
- ``+ the learned file, no hand-over``: a ``DriftSpanProcessor`` built from that
  file directly: what the hand-over itself adds (nothing is expected: the
  SDK calls the judging processor's ``on_end`` directly).

A call is timed in the process's CPU time (every thread): the spans, then
waiting (asleep) until otel-drift's thread has taken what the call parked,
and the batch processor's flush. Per round, each arm's cost over the ``sdk``
arm's; the median over rounds with its bootstrap interval. Underneath, the
learning thread's own CPU clock per span.

    python -m benchmarks.learn_live [--spans 20000] [--rounds 15]
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from benchmarks import workload
from benchmarks.common import bootstrap, interleave, percent_excess, spread, table
from benchmarks.span_e2e import _settled, _thread_cpu_ns
from otel_drift import DriftSpanProcessor, Settings
from otel_drift._internal.settings import LearnPeriod
from otel_drift._internal.spans.learning import LearningSpanProcessor


@dataclass
class _Arm:
    label: str
    provider: TracerProvider
    batch: BatchSpanProcessor
    learning: LearningSpanProcessor | None = None
    drift: DriftSpanProcessor | None = None


def _arm(label: str, first: SpanProcessor | None) -> _Arm:
    provider = TracerProvider()
    if first is not None:
        provider.add_span_processor(first)
    batch = BatchSpanProcessor(workload.CountingExporter(), max_queue_size=workload.BATCH_QUEUE)
    provider.add_span_processor(batch)
    arm = _Arm(label, provider, batch)
    if isinstance(first, LearningSpanProcessor):
        arm.learning = first
    elif isinstance(first, DriftSpanProcessor):
        arm.drift = first
    return arm


def _learned(folder: Path) -> _Arm:
    """A learning processor that has learned from 5,000 spans and hands over."""
    learning = LearningSpanProcessor(
        folder / "bench.yaml", LearnPeriod(spans=5_000, seconds=None), settings=Settings()
    )
    arm = _arm("+ judging the learned file", learning)
    workload.make_spans(arm.provider.get_tracer(workload.FLASK_SCOPE), 5_000)
    arm.provider.force_flush()
    assert learning.judging is not None, "the learning arm did not hand over"
    arm.learning, arm.drift = None, learning.judging
    return arm


def _learning_settled(learning: LearningSpanProcessor) -> None:
    """Wait (asleep) until the learning thread has learned what was parked."""
    learning._wake.set()
    deadline = time.monotonic() + 10.0
    while learning._parked or learning._pass_lock.locked() or learning._wake.is_set():
        if time.monotonic() > deadline:
            raise RuntimeError("the learning thread did not take the parked spans within 10 s")
        time.sleep(0.0005)


def measure(spans: int, rounds: int, folder: Path) -> str:
    never = LearnPeriod(spans=1 << 62, seconds=None)
    drift = DriftSpanProcessor(workload.load(workload.expectations_json(1, 2)), settings=Settings())
    drift.engine.add_listener(lambda _evaluation: None)
    learned = _learned(folder)
    direct = DriftSpanProcessor(folder / "bench.yaml", settings=Settings())
    direct.engine.add_listener(lambda _evaluation: None)
    arms = [
        _arm("sdk", None),
        _arm("sdk (A/A)", None),
        _arm("+ learning", LearningSpanProcessor(folder / "never.yaml", never)),
        _arm("+ judging (2 values)", drift),
        learned,
        _arm("+ the learned file, no hand-over", direct),
    ]
    thread_ns: list[float] = []

    def call(arm: _Arm) -> float:
        tracer = arm.provider.get_tracer(workload.FLASK_SCOPE)
        learning = arm.learning
        before = _thread_cpu_ns(learning._thread) if learning is not None else 0
        start = time.process_time_ns()
        workload.make_spans(tracer, spans)
        if learning is not None:
            _learning_settled(learning)
        if arm.drift is not None:
            _settled(arm.drift)
        arm.batch.force_flush()
        elapsed = time.process_time_ns() - start
        if learning is not None:
            thread_ns.append((_thread_cpu_ns(learning._thread) - before) / spans)
        return elapsed / spans

    gc.collect()
    assert gc.isenabled()
    results = interleave({arm.label: partial(call, arm) for arm in arms}, rounds, warmup=1)
    for arm in arms:
        arm.provider.shutdown()
    rows = []
    for label, values in results.items():
        cost = spread(values)
        added = (
            bootstrap(percent_excess(values, results["sdk"])).fmt(1, " %") if label != "sdk" else ""
        )
        rows.append(
            [
                label,
                f"{cost.median / 1000:.2f} ({cost.low / 1000:.2f}–{cost.high / 1000:.2f})",
                added,
            ]
        )
    learning_thread = spread(thread_ns[1:])  # the warm-up round's call left out
    return "\n".join(
        [
            f"{spans:,} spans a call, {rounds} rounds of the {len(arms)} arms alternated, GC on; "
            "CPU µs a span (every thread), median (min–max over rounds); added: per round "
            "over the SDK-alone arm, median with its 95 % bootstrap interval.",
            "",
            table(["arm", "µs a span", "added (95 % CI)"], rows),
            "",
            f"The learning thread's own CPU per span (inside `+ learning`): "
            f"{learning_thread.fmt(0)} ns.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=15)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print(measure(arguments.spans, arguments.rounds, Path(folder)))


if __name__ == "__main__":
    main()
