"""The demo's checkout service: a plain Flask app with no OpenTelemetry code.

Run it under ``opentelemetry-instrument``; contrib's Flask instrumentation
makes the server spans and otel-drift watches them.

``/checkout?items=N`` takes about N milliseconds (the work grows with the
cart); ``gateway=down`` fails with 500 and ``cart=unknown`` answers 404.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from types import FrameType

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

app = Flask(__name__)
# One access-log line per request would drown the drift reports in the terminal.
logging.getLogger("werkzeug").setLevel(logging.WARNING)


@app.get("/checkout")
def checkout() -> ResponseReturnValue:
    items = min(max(int(request.args.get("items", "1")), 0), 5000)
    time.sleep(items / 1000.0)
    if request.args.get("cart") == "unknown":
        return jsonify(error="unknown cart"), 404
    if request.args.get("gateway") == "down":
        return jsonify(error="payment gateway unavailable"), 500
    return jsonify(ok=True, items=items)


@app.get("/catalog")
def catalog() -> ResponseReturnValue:
    return jsonify(products=["book", "lamp", "mug"])


@app.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify(ok=True)


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    # A normal exit runs atexit handlers: the last drift window is evaluated
    # and the telemetry flushed. (Python's default for SIGTERM skips them.)
    sys.exit(0)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _exit_cleanly)
    app.run(host="127.0.0.1", port=int(os.environ.get("DEMO_PORT", "8000")), threaded=True)
