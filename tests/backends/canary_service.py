"""A small checkout service for the canary tests: two routes, a version that can misbehave.

Run under ``opentelemetry-instrument`` (two processes, ``service.version`` 1
and 2). Each request says how long its work takes (``ms``) and whether its
payment fails (``fail=1``), so both versions get the same traffic mix from
the driver; what differs is the version: ``POST /mode`` sets this process's
``slower`` factor on ``/checkout`` (1.3: 30 % slower) and its ``errors``
share (extra 500s on ``/checkout``, drawn from a seeded generator).
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

app = Flask(__name__)
logging.getLogger("werkzeug").setLevel(logging.WARNING)
_mode = {"slower": 1.0, "errors": 0.0}
_lock = threading.Lock()
_rng = random.Random(int(os.environ.get("CANARY_SEED", "0")))


@app.post("/mode")
def mode() -> ResponseReturnValue:
    with _lock:
        _mode.update({k: float(v) for k, v in (request.get_json() or {}).items()})
        return jsonify(_mode)


@app.get("/checkout")
def checkout() -> ResponseReturnValue:
    with _lock:
        slower, errors = _mode["slower"], _mode["errors"]
        unlucky = _rng.random() < errors
    time.sleep(float(request.args.get("ms", "10")) * slower / 1000.0)
    if request.args.get("fail") == "1" or unlucky:
        return jsonify(error="payment gateway unavailable"), 500
    return jsonify(ok=True)


@app.get("/catalog")
def catalog() -> ResponseReturnValue:
    time.sleep(float(request.args.get("ms", "5")) / 1000.0)
    return jsonify(products=["book", "lamp", "mug"])


@app.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify(ok=True)


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    sys.exit(0)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _exit_cleanly)
    app.run(host="127.0.0.1", port=int(os.environ["CANARY_PORT"]), threaded=True)
