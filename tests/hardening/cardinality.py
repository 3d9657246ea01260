"""A flood of distinct values: categories, span names, violation values.

Shared by ``test_hardening_memory.py`` (100,000 values) and
``python -m tests.hardening.cardinality`` (1,000,000 by default).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from dataclasses import dataclass

from opentelemetry.trace import SpanKind

from otel_drift import DriftSpanProcessor, Settings
from otel_drift._internal.engine.what_moved import OTHER_LABEL
from otel_drift._internal.spans.matching import MAX_MATCH_KEYS
from tests.hardening.support import make_rig, rss_kib

MAX_CATEGORIES = 1000
KNOWN = ("free", "pro", "team")

CARDINALITY_EXPECTATIONS = """\
version: 1
expectations:
  - name: users
    match: {span_name: {regex: "^GET /users/"}}
    window: {spans: 7000}  # not a divisor of 100,000 or 1,000,000: a window is open at the end
    min_samples: 10
    watch:
      plan:
        attribute: plan
        baseline: {categories: {free: 0.5, pro: 0.3, team: 0.2}}
        constraints: {allowed: [free, pro, team]}
      user:
        attribute: user.id
        constraints: {required: true}
"""


@dataclass
class Flood:
    values: int
    tracked_plan: int
    tracked_user_window: int
    folded_plan: int
    other_bin: float
    known_bins: dict[str, float]
    cached_match_keys: int
    rss_growth_mib: float
    seconds: float


def flood(values: int) -> Flood:
    """``values`` spans, each with a new plan, a new user id and a new span name."""
    rig = make_rig(
        CARDINALITY_EXPECTATIONS,
        Settings(max_categories=MAX_CATEGORIES, flush_interval_s=0.05),
        keep=0,
    )
    tracer = rig.provider.get_tracer("opentelemetry.instrumentation.flask")
    engine = rig.processor.engine
    gc.collect()
    rss_before = rss_kib()
    started = time.perf_counter()
    pad = "x" * 100  # labels are cut at 128 characters; make each one cost that much
    for i in range(values):
        # A span name per user (an id in the route) also floods the matcher's cache.
        tracer.start_span(
            f"GET /users/{i}",
            kind=SpanKind.SERVER,
            attributes={"plan": f"plan-{i}-{pad}", "user.id": f"user-{i}-{pad}"},
        ).end()
        if i % 1000 == 0:
            _drain(rig.processor, 20_000)  # no drops: every value must be counted somewhere
    _drain(rig.processor, 0)
    states = {s.watch.name: s for s in engine.snapshot() or []}
    plan, user = states["plan"], states["user"]
    assert plan.lifetime_categories is not None and user.categories is not None
    # Read before the flush closes (and resets) the window in progress.
    tracked_user_window = len(user.categories.counts)
    assert rig.processor.force_flush(60_000)
    seconds = time.perf_counter() - started
    gc.collect()
    growth = (rss_kib() - rss_before) / 1024
    bins = {
        str(a["drift.bin"]): v
        for a, v in rig.points("drift.bin.count")
        if a["drift.attribute"] == "plan"
    }
    result = Flood(
        values=values,
        tracked_plan=len(plan.lifetime_categories.counts),
        tracked_user_window=tracked_user_window,
        folded_plan=plan.lifetime_categories.other,
        other_bin=bins.pop(OTHER_LABEL),
        known_bins=bins,
        cached_match_keys=len(rig.processor._matcher.candidates),
        rss_growth_mib=growth,
        seconds=seconds,
    )
    rig.close()
    return result


def _drain(processor: DriftSpanProcessor, below: int) -> None:
    """Wait for the worker (not a flush: that would close windows early) to catch up."""
    engine = processor.engine
    deadline = time.monotonic() + 120
    while len(engine._worker.queue) + len(processor._ended) > below and time.monotonic() < deadline:
        time.sleep(0.005)
    if below == 0:
        # The last items may be in the worker's hands: its lock says when it is done.
        with engine._worker.lock:
            pass


def check(result: Flood) -> list[str]:
    """What must hold whatever the number of values (empty when all does)."""
    problems = []
    if result.tracked_plan != MAX_CATEGORIES:
        problems.append(f"plan tracks {result.tracked_plan} categories, cap {MAX_CATEGORIES}")
    if result.tracked_user_window != MAX_CATEGORIES:
        problems.append(f"user tracks {result.tracked_user_window} categories in a window")
    # The 3 baseline categories hold 3 of the slots; every other value folded.
    if result.folded_plan != result.values - (MAX_CATEGORIES - len(KNOWN)):
        problems.append(f"folded {result.folded_plan} of {result.values}")
    if result.other_bin != result.values or any(result.known_bins.values()):
        problems.append(f"bins: other {result.other_bin}, known {result.known_bins}")
    if result.cached_match_keys > MAX_MATCH_KEYS:
        problems.append(f"{result.cached_match_keys} cached match keys, cap {MAX_MATCH_KEYS}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--values", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    result = flood(args.values)
    problems = check(result)
    print(f"{result}\nproblems: {problems or 'none'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
