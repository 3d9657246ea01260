"""Traffic for the demo service: steady like the baseline, then drifted.

With ``--learn N``, N steady requests come first: what the service learns
its baselines from when it runs with ``OTEL_DRIFT_LEARN`` (``./scripts/demo --learn``).

Steady requests follow the baseline of ``expectations.yaml``: cart sizes that
give its latency bins, 2% unknown carts (404) and 1% gateway failures (500).
From the drift phase on, carts are four times bigger and the payment gateway
fails one request in five. Bounded: a fixed number of requests, loopback only.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

# Cart sizes (= milliseconds of work) per baseline latency bin, and the bin weights.
_BINS = [(1, 9), (11, 24), (26, 48), (52, 98), (102, 240), (260, 600)]
_WEIGHTS = [0.20, 0.45, 0.25, 0.07, 0.02, 0.01]


def _query(rng: random.Random, drifted: bool) -> str:
    low, high = rng.choices(_BINS, _WEIGHTS)[0]
    items = rng.randint(low, high) * (4 if drifted else 1)
    roll = rng.random()
    failing = 0.20 if drifted else 0.01
    if roll < 0.02:
        return f"items={items}&cart=unknown"
    if roll < 0.02 + failing:
        return f"items={items}&gateway=down"
    return f"items={items}"


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def wait_until_up(base: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            _get(base + "/healthz")
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def run(
    base: str, steady: int, drifted: int, concurrency: int, seed: int, *, learn: int = 0
) -> None:
    rng = random.Random(seed)
    phases = [("learning", learn, False), ("steady", steady, False), ("drifted", drifted, True)]
    with ThreadPoolExecutor(concurrency) as pool:
        for name, count, drift in phases:
            if count <= 0:
                continue
            print(f"[traffic] {name}: {count} requests to /checkout", file=sys.stderr, flush=True)
            urls = [f"{base}/checkout?{_query(rng, drift)}" for _ in range(count)]
            # Requests the drift does not watch, so non-matching spans flow too.
            urls += [f"{base}/catalog"] * (count // 10)
            rng.shuffle(urls)  # a steady mix of routes, as real traffic comes
            statuses = list(pool.map(_get, urls))
            errors = sum(1 for s in statuses if s >= 500)
            print(f"[traffic] {name}: done, {errors} server errors", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--steady", type=int, default=1500)
    parser.add_argument("--drifted", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--learn", type=int, default=0, help="steady requests first, for live learning"
    )
    args = parser.parse_args()
    if not args.base.startswith(("http://127.", "http://localhost")):
        parser.error("the demo sends traffic to loopback only")
    wait_until_up(args.base)
    run(args.base, args.steady, args.drifted, args.concurrency, args.seed, learn=args.learn)


if __name__ == "__main__":
    main()
