"""A small Flask service whose latency is real work, for the varying-load scenario.

Run it under ``opentelemetry-instrument`` (contrib's Flask instrumentation makes
the server spans; the app has no OpenTelemetry code):

    opentelemetry-instrument python tests/scenarios/service.py   # port from SCENARIO_PORT

Three routes, each a short CPU loop and a jittered wait (a downstream call),
so their latency moves with the number of concurrent clients (the GIL) and
with a neighbour burning CPU, by about 5 to 15 % at the median: enough to
move a window's histogram, less than the 30 % regression the scenario
detects. ``/orders``, ``/search`` and ``/profile/<int:user>`` differ in how
much of each.

1 % of answers are 500s on a good day. ``POST /control`` with a JSON body
``{"route": "orders", "slow": 1.3, "errors": 0.06}`` changes one route at run
time: its work multiplied by ``slow``, its error share set to ``errors``
(``{"route": "orders"}`` alone restores it). Random draws are seeded.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass
from types import FrameType

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.serving import WSGIRequestHandler

#: Error share of every route on a good day.
BASE_ERRORS = 0.01


@dataclass
class Behaviour:
    """One route's work: CPU loop iterations, median wait (ms), error share, slowdown."""

    loops: int
    wait_ms: float
    errors: float = BASE_ERRORS
    slow: float = 1.0


ROUTES = {
    "orders": Behaviour(loops=3_000, wait_ms=6.0),
    "search": Behaviour(loops=2_000, wait_ms=7.0),
    "profile": Behaviour(loops=1_000, wait_ms=8.0),
}

app = Flask(__name__)
# One access-log line per request would fill the log with nothing of interest.
logging.getLogger("werkzeug").setLevel(logging.WARNING)
_lock = threading.Lock()
_rng = random.Random(int(os.environ.get("SCENARIO_SEED", "7")))


def _draws() -> tuple[float, float]:
    with _lock:
        return _rng.lognormvariate(0.0, 0.3), _rng.random()


def _work(route: str) -> ResponseReturnValue:
    behaviour = ROUTES[route]
    jitter, fail = _draws()
    total = 0
    for i in range(int(behaviour.loops * behaviour.slow)):
        total += i * i
    time.sleep(behaviour.wait_ms * behaviour.slow * jitter / 1000.0)
    if fail < behaviour.errors:
        return jsonify(error="backend unavailable"), 500
    return jsonify(ok=True, checksum=total % 997)


@app.get("/orders")
def orders() -> ResponseReturnValue:
    return _work("orders")


@app.get("/search")
def search() -> ResponseReturnValue:
    return _work("search")


@app.get("/profile/<int:user>")
def profile(user: int) -> ResponseReturnValue:
    return _work("profile")


@app.post("/control")
def control() -> ResponseReturnValue:
    body = request.get_json(force=True)
    behaviour = ROUTES[str(body["route"])]
    with _lock:
        behaviour.slow = float(body.get("slow", 1.0))
        behaviour.errors = float(body.get("errors", BASE_ERRORS))
    return jsonify(ok=True)


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    # A normal exit runs atexit handlers: the last drift window is evaluated
    # and the telemetry flushed (Python's default for SIGTERM skips them).
    sys.exit(0)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _exit_cleanly)
    # Keep-alive: each client keeps its connection, as a load balancer would.
    WSGIRequestHandler.protocol_version = "HTTP/1.1"
    app.run(host="127.0.0.1", port=int(os.environ["SCENARIO_PORT"]), threaded=True)
