"""The long concurrency run: 1,000,000 matching spans from 8 threads and an asyncio task.

    python -m tests.hardening.concurrency_long
    python -m tests.hardening.concurrency_long --spans 200000 --queue-size 65536

A force_flush from another thread every second while the producers run; at the
end, per watched value, valid + missing + invalid + dropped must equal the
matching spans ended, exactly. Prints the figures; exits 1 on any difference,
producer exception or stuck producer.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

from otel_drift import Settings
from tests.hardening.producers import CONCURRENCY_EXPECTATIONS, WATCHED, crowd, run_crowd
from tests.hardening.support import make_rig, rss_kib


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--spans", type=int, default=1_000_000, help="matching spans in total")
    parser.add_argument("--queue-size", type=int, default=4096)
    args = parser.parse_args(argv)
    rss_before = rss_kib()
    rig = make_rig(
        CONCURRENCY_EXPECTATIONS,
        Settings(queue_size=args.queue_size, flush_interval_s=0.05),
        keep=0,
    )
    people = crowd(args.spans, threading.Event())
    finished = threading.Event()
    flushes: list[tuple[bool, float]] = []

    def flusher() -> None:
        while not finished.wait(1.0):
            started = time.perf_counter()
            flushes.append((rig.processor.force_flush(10_000), time.perf_counter() - started))

    background = threading.Thread(target=flusher, daemon=True)
    background.start()
    started = time.perf_counter()
    stuck = run_crowd(rig.provider, people, join_timeout=1800)
    finished.set()
    background.join(30)
    ok = rig.processor.force_flush(60_000)
    seconds = time.perf_counter() - started
    counts = rig.counts()
    rig.close()
    unaccounted = {w: people.matched - counts.seen("checkout", w) for w in WATCHED}
    slowest_flush = max((t for _, t in flushes), default=0.0)
    print(
        f"matching spans={people.matched:,} from {len(people.everyone)} producers "
        f"({len(people.threads)} threads + 1 asyncio task) in {seconds:.1f} s; "
        f"dropped={counts.dropped['checkout']:,}; "
        f"outcomes={ {w: dict(counts.observations[('checkout', w)]) for w in WATCHED} }; "
        f"unaccounted={unaccounted}; producer errors={len(people.errors)}; stuck={stuck}; "
        f"mid-run force_flush calls={len(flushes)} "
        f"(true={sum(f for f, _ in flushes)}, slowest={slowest_flush:.3f} s); "
        f"slowest single span={people.slowest * 1000:.1f} ms; "
        f"RSS growth={(rss_kib() - rss_before) / 1024:.0f} MiB"
    )
    failed = any(unaccounted.values()) or people.errors or stuck or not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
