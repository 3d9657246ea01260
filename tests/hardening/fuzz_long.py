"""The long fuzz run: a million hostile spans, every value accounted for.

    python -m tests.hardening.fuzz_long              # 1,000,000 spans
    python -m tests.hardening.fuzz_long --spans 50000 --seed 3

Three lanes share the spans: the real SDK with a queue that never fills (so
the oracle's valid/missing/invalid and per-rule violation counts must match
exactly), unchecked ReadableSpans straight into on_end (same exactness), and
the SDK with a queue of 8 (drops: only the sum is exact). Prints the figures
and exits 1 on any escape, swallowed error or mismatch.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass

from otel_drift import Settings
from tests.hardening.fuzzing import (
    FUZZ_EXPECTATIONS,
    Expected,
    RandomCases,
    emit_raw,
    emit_sdk,
    mismatches,
)
from tests.hardening.support import make_rig, rss_kib

#: Spans between force_flush calls in the exact lanes: far below the queue size.
CHUNK = 10_000


@dataclass
class Lane:
    name: str
    share: float
    raw: bool
    settings: Settings
    exact: bool


LANES = (
    Lane("sdk", 0.6, False, Settings(flush_interval_s=0.05, queue_size=65536), True),
    Lane("raw", 0.3, True, Settings(flush_interval_s=0.05, queue_size=65536), True),
    Lane("sdk-dropping", 0.1, False, Settings(flush_interval_s=0.001, queue_size=8), False),
)


def run_lane(lane: Lane, spans: int, seed: int) -> dict[str, object]:
    rig = make_rig(FUZZ_EXPECTATIONS, lane.settings, keep=0)
    cases = RandomCases(seed, raw=lane.raw)
    expected = Expected()
    started = time.perf_counter()
    done = 0
    while done < spans:
        batch = [cases.case() for _ in range(min(CHUNK, spans - done))]
        if lane.raw:
            emit_raw(rig.processor, batch, expected)
        else:
            emit_sdk(rig.provider, batch, expected)
        done += len(batch)
        if lane.exact and not rig.processor.force_flush(60_000):
            expected.escapes.append("force_flush timed out")
    rig.processor.force_flush(60_000)
    counts = rig.counts()
    problems = mismatches(expected, counts, exact_outcomes=lane.exact)
    figures: dict[str, object] = {
        "spans": expected.spans,
        "values_fuzzed": expected.values,
        "matched": sum(expected.matched.values()),
        "dropped": sum(counts.dropped.values()),
        "violations": sum(sum(v.values()) for v in counts.violations.values()),
        "own_spans": dict(rig.sink.own_by_name),
        "escapes": len(expected.escapes),
        "swallowed": rig.processor._reader.errors + rig.processor.engine.errors,
        "unexportable": len(rig.sink.unexportable),
        "mismatches": len(problems),
        "seconds": round(time.perf_counter() - started, 1),
    }
    rig.close()
    for line in [*expected.escapes[:5], *problems[:10]]:
        print(f"  {lane.name}: {line}")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    # The SDK warns once per odd attribute value; a million lines would bury the figures.
    logging.getLogger("opentelemetry.attributes").setLevel(logging.ERROR)
    rss_before = rss_kib()
    totals = {"spans": 0, "values_fuzzed": 0, "escapes": 0, "swallowed": 0, "mismatches": 0}
    for offset, lane in enumerate(LANES):
        figures = run_lane(lane, round(args.spans * lane.share), args.seed + offset)
        print(f"{lane.name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()), flush=True)
        for key in totals:
            value = figures[key]
            assert isinstance(value, int)
            totals[key] += value
    print(
        f"TOTAL: spans run={totals['spans']:,}, values fuzzed={totals['values_fuzzed']:,}, "
        f"escapes found={totals['escapes']}, swallowed errors={totals['swallowed']}, "
        f"count mismatches={totals['mismatches']}, "
        f"RSS growth={(rss_kib() - rss_before) / 1024:.0f} MiB"
    )
    failed = totals["escapes"] or totals["swallowed"] or totals["mismatches"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
