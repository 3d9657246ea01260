"""A shop for the ``baseline --from-prometheus`` test: three routes, one that can slow down.

Run under ``opentelemetry-instrument`` with ``OTEL_METRICS_EXPORTER=prometheus``:
contrib's Flask instrumentation exports the HTTP duration histograms that
Prometheus scrapes. Each route waits a lognormal time around its own median
(seeded; waits rather than CPU, so that the latency does not move with
whatever else the machine runs); ``POST /mode`` with ``{"search": 1.3}`` makes
``/search`` 30 % slower.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import sys
import threading
import time
from types import FrameType

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

#: Median wait (ms) of each route: /search sits below the 25 ms bucket bound,
#: so that 30 % slower moves most of it into the next bucket.
WAITS = {"orders": 3.0, "search": 17.0, "profile": 7.0}

app = Flask(__name__)
logging.getLogger("werkzeug").setLevel(logging.WARNING)
_slower: dict[str, float] = {}
_lock = threading.Lock()
_rng = random.Random(int(os.environ.get("SHOP_SEED", "0")))


def _wait(route: str) -> None:
    with _lock:
        factor = _slower.get(route, 1.0) * _rng.lognormvariate(0.0, 0.25)
    time.sleep(WAITS[route] * factor / 1000.0)


@app.post("/mode")
def mode() -> ResponseReturnValue:
    with _lock:
        _slower.update({k: float(v) for k, v in (request.get_json() or {}).items()})
        return jsonify(_slower)


@app.get("/orders")
def orders() -> ResponseReturnValue:
    _wait("orders")
    return jsonify(ok=True)


@app.get("/search")
def search() -> ResponseReturnValue:
    _wait("search")
    return jsonify(results=[])


@app.get("/profile/<int:user>")
def profile(user: int) -> ResponseReturnValue:
    _wait("profile")
    return jsonify(user=user)


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    sys.exit(0)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _exit_cleanly)
    app.run(host="127.0.0.1", port=int(os.environ["SHOP_PORT"]), threaded=True)
