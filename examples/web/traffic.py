"""Traffic for the web examples: a steady mix, then phases that each break one thing.

    python examples/web/traffic.py http://127.0.0.1:8000 steady:600 latency,renamed:600

Each argument after the URL is ``scenarios:count``; scenarios combine with
commas. Requests are deterministic (no randomness), so the tests can be too.

- ``steady``: the mix of a good day; 1 /search in 100 fails;
- ``latency``: /orders takes 40 ms instead of 2;
- ``errors``: every other /search fails;
- ``renamed`` / ``retyped``: the upstream answers /profile with schema v2
  (``name`` renamed ``full_name``) / v3 (``id`` a string);
- ``mix``: most requests go to /search (a traffic-mix shift);
- ``flag-stuck``: the ``new-checkout`` flag's rollout is broken (0 %).
"""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

#: Route -> share of requests on a good day (FastAPI adds /checkout).
WSGI_MIX: Mapping[str, float] = {"orders": 0.5, "search": 0.3, "profile": 0.2}
ASGI_MIX: Mapping[str, float] = {"orders": 0.4, "search": 0.25, "profile": 0.2, "checkout": 0.15}
SHIFTED: Mapping[str, float] = {"orders": 0.1, "search": 0.6, "profile": 0.15, "checkout": 0.15}


def _routes(count: int, mix: Mapping[str, float]) -> list[str]:
    """Smooth weighted round robin: exact shares, evenly interleaved."""
    total = sum(mix.values())
    credit = dict.fromkeys(mix, 0.0)
    chosen = []
    for _ in range(count):
        for route, share in mix.items():
            credit[route] += share / total
        route = max(credit, key=lambda name: credit[name])
        credit[route] -= 1.0
        chosen.append(route)
    return chosen


def paths(count: int, scenarios: Iterable[str], mix: Mapping[str, float] = WSGI_MIX) -> list[str]:
    wanted = set(scenarios)
    if "mix" in wanted:
        mix = {route: share for route, share in SHIFTED.items() if route in mix}
    made: list[str] = []
    searches = 0
    for number, route in enumerate(_routes(count, mix)):
        if route == "orders":
            made.append("/orders?ms=40" if "latency" in wanted else "/orders?ms=2")
        elif route == "search":
            searches += 1
            fail = searches % 2 == 0 if "errors" in wanted else searches % 100 == 0
            made.append("/search?fail=1" if fail else "/search")
        elif route == "profile":
            schema = "v2" if "renamed" in wanted else "v3" if "retyped" in wanted else "v1"
            made.append(f"/profile/{number % 50}?schema={schema}")
        else:
            rollout = 0 if "flag-stuck" in wanted else 50
            made.append(f"/checkout?user={number}&rollout={rollout}")
    return made


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            answer.read()
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def send(base: str, made: list[str], concurrency: int = 8) -> dict[int, int]:
    """Send every path (``concurrency`` at a time); status code -> count."""
    counts: dict[int, int] = {}
    with ThreadPoolExecutor(concurrency) as pool:
        for status in pool.map(lambda path: _get(base + path), made):
            counts[status] = counts.get(status, 0) + 1
    return counts


def wait_until_up(base: str, path: str = "/search", timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _get(base + path)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main(argv: list[str]) -> None:
    base, phases = argv[0].rstrip("/"), argv[1:] or ["steady:600"]
    mix = ASGI_MIX if "--asgi" in phases else WSGI_MIX
    for phase in (p for p in phases if p != "--asgi"):
        names, _, count = phase.partition(":")
        counts = send(base, paths(int(count or 600), names.split(","), mix))
        print(f"[traffic] {names}: {counts}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
