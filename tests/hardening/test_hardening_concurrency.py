"""Concurrency: 8 threads and an asyncio task at once, and flush/shutdown in the middle.

Every matching span the producers ended is counted exactly once per watched
value (valid + missing + invalid + dropped). force_flush and shutdown called
from another thread while spans keep coming return within their timeouts, and
every producer finishes: no deadlock. The long run (1,000,000 matching spans)
is ``python -m tests.hardening.concurrency_long``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from otel_drift import Settings
from tests.hardening.producers import CONCURRENCY_EXPECTATIONS, WATCHED, crowd, run_crowd
from tests.hardening.support import Counts, make_rig

RecordFigures = Callable[[str, dict[str, object]], None]

SUITE_MATCHING_SPANS = 50_000


def _unaccounted(counts: Counts, matched: int) -> dict[str, int]:
    """Per watched value: matched minus what the metrics account for (0 when exact)."""
    return {watch: matched - counts.seen("checkout", watch) for watch in WATCHED}


def test_threads_and_asyncio_count_every_span_once(figures: RecordFigures) -> None:
    # A queue small enough that 9 producers outrun the worker now and then: both the
    # observed and the dropped path take part.
    rig = make_rig(CONCURRENCY_EXPECTATIONS, Settings(queue_size=256, flush_interval_s=0.05))
    people = crowd(SUITE_MATCHING_SPANS, threading.Event())
    started = time.perf_counter()
    try:
        stuck = run_crowd(rig.provider, people, join_timeout=120)
        assert stuck == [], f"producers still running: {stuck}"
        assert rig.processor.force_flush(30_000)
        counts = rig.counts()
    finally:
        rig.close()
    assert people.errors == [], people.errors[:5]
    assert people.matched == SUITE_MATCHING_SPANS
    assert _unaccounted(counts, people.matched) == dict.fromkeys(WATCHED, 0), counts
    outcomes = counts.observations["checkout", "plan"]
    # Each outcome really happened: the test exercised all the paths it claims to.
    assert outcomes["valid"] and outcomes["missing"] and outcomes["invalid"], outcomes
    figures(
        "concurrency.suite",
        {
            "matching_spans": people.matched,
            "dropped": counts.dropped["checkout"],
            "producers": len(people.everyone),
            "slowest_span_ms": round(people.slowest * 1000, 1),
            "seconds": round(time.perf_counter() - started, 1),
        },
    )


def test_flush_and_shutdown_mid_production_neither_deadlock_nor_lose_count(
    figures: RecordFigures,
) -> None:
    rig = make_rig(CONCURRENCY_EXPECTATIONS, Settings(queue_size=4096, flush_interval_s=0.05))
    stop = threading.Event()
    people = crowd(None, stop)
    timings: dict[str, float] = {}
    flushed: list[bool] = []

    def meanwhile() -> None:
        # Runs on its own thread while the producers go on.
        try:
            time.sleep(0.3)
            for _ in range(5):
                started = time.perf_counter()
                flushed.append(rig.processor.force_flush(5_000))
                timings["force_flush_max_s"] = max(
                    timings.get("force_flush_max_s", 0.0), time.perf_counter() - started
                )
                flushed.append(rig.provider.force_flush(5_000))
            started = time.perf_counter()
            rig.provider.shutdown()  # shuts the drift engine down, producers still going
            timings["shutdown_s"] = time.perf_counter() - started
            time.sleep(0.3)  # spans keep ending after shutdown
        finally:
            stop.set()

    started = time.perf_counter()
    try:
        stuck = run_crowd(rig.provider, people, during=meanwhile, join_timeout=60)
        counts = rig.counts()
        queued = len(rig.processor.engine._worker.queue) + len(rig.processor._ended)
    finally:
        rig.meter_provider.shutdown()
    assert stuck == [], f"producers deadlocked: {stuck}"
    assert people.errors == [], people.errors[:5]
    assert "shutdown_s" in timings, "shutdown never returned"
    # The engine's timeouts are 5 s (flush) and 30 s (shutdown's join and flush).
    assert timings["force_flush_max_s"] < 10, timings
    assert timings["shutdown_s"] < 35, timings
    # Spans that end after shutdown are dropped and counted, not parked in a queue
    # that nothing reads any more.
    assert queued == 0, f"{queued} spans stranded in the queue after shutdown"
    assert _unaccounted(counts, people.matched) == dict.fromkeys(WATCHED, 0), counts
    figures(
        "concurrency.flush_shutdown",
        {
            "matching_spans": people.matched,
            "flushes_true": sum(flushed),
            "flushes": len(flushed),
            **{k: round(v, 3) for k, v in timings.items()},
            "seconds": round(time.perf_counter() - started, 1),
        },
    )
