"""Load that varies like a real day's: 1 to 8 concurrent clients and a noisy neighbour.

A seeded schedule of segments; each segment has its number of concurrent
clients (1 to 8), its number of requests, and whether a neighbour process
burns a CPU core meanwhile. Requests go to the scenario service's three
routes in a seeded random mix (``MIX``, or a phase's own). Everything is
bounded (request counts, the neighbour's own deadline) and on 127.0.0.1 only.
"""

from __future__ import annotations

import http.client
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

#: Route -> share of requests.
MIX: Mapping[str, float] = {"orders": 0.34, "search": 0.33, "profile": 0.33}
MAX_CLIENTS = 8

#: The neighbour: one core busy, ending by itself after two minutes at the latest.
_BURN = "import time\nend = time.monotonic() + 120\nwhile time.monotonic() < end:\n    pass\n"


@dataclass(frozen=True)
class Segment:
    clients: int
    requests: int
    neighbour: bool


def schedule(total: int, seed: int) -> list[Segment]:
    """Segments adding up to ``total`` requests; the neighbour toggles now and then.

    A segment lasts about as long whatever its number of clients (each sends
    30 to 90 requests), so busy and quiet spells alternate as they do in time.
    """
    rng = random.Random(seed)
    segments = []
    neighbour = rng.random() < 0.5
    left = total
    while left > 0:
        clients = rng.randint(1, MAX_CLIENTS)
        size = min(left, clients * rng.randint(30, 90))
        if rng.random() < 0.35:
            neighbour = not neighbour
        segments.append(Segment(clients, size, neighbour))
        left -= size
    return segments


def paths(count: int, rng: random.Random, mix: Mapping[str, float] = MIX) -> list[str]:
    routes = rng.choices(list(mix), weights=list(mix.values()), k=count)
    return [f"/profile/{rng.randint(1, 500)}" if r == "profile" else f"/{r}" for r in routes]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            answer.read()
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def post_json(url: str, body: bytes) -> int:
    made = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(made, timeout=30) as answer:
        answer.read()
        return int(answer.status)


def wait_until_up(base: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _get(base + "/search")
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class Neighbour:
    """A process burning one core while switched on; switched off at the latest on exit."""

    def __init__(self) -> None:
        self._burner: subprocess.Popen[bytes] | None = None

    def switch(self, on: bool) -> None:
        if on and self._burner is None:
            self._burner = subprocess.Popen([sys.executable, "-c", _BURN])
        elif not on and self._burner is not None:
            self._burner.terminate()
            self._burner.wait(timeout=30)
            self._burner = None


@contextmanager
def neighbour() -> Iterator[Neighbour]:
    made = Neighbour()
    try:
        yield made
    finally:
        made.switch(False)


def _send_all(base: str, made: list[str], clients: int, counts: dict[int, int]) -> None:
    position = 0
    lock = threading.Lock()
    address = urllib.parse.urlsplit(base)

    def client() -> None:
        nonlocal position
        connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=30)
        try:
            while True:
                with lock:
                    if position >= len(made):
                        return
                    path = made[position]
                    position += 1
                connection.request("GET", path)
                answer = connection.getresponse()
                answer.read()
                with lock:
                    counts[answer.status] = counts.get(answer.status, 0) + 1
        finally:
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def drive(base: str, total: int, seed: int, mix: Mapping[str, float] = MIX) -> dict[int, int]:
    """Send ``total`` requests under a seeded varying load, in ``mix``; status code -> count."""
    rng = random.Random(seed + 1)
    counts: dict[int, int] = {}
    with neighbour() as burner:
        for segment in schedule(total, seed):
            burner.switch(segment.neighbour)
            _send_all(base, paths(segment.requests, rng, mix), segment.clients, counts)
    return counts
