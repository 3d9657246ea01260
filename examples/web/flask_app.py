"""The Flask example service (no OpenTelemetry code): run it under opentelemetry-instrument.

    opentelemetry-instrument gunicorn -w 2 -b 127.0.0.1:8000 --chdir examples/web flask_app:app

Routes, each with a knob the traffic script turns to make one kind of drift:

- ``/orders?ms=2``: takes ``ms`` milliseconds (a latency regression);
- ``/search?fail=1``: answers 500 (an error spike);
- ``/profile/<id>?schema=v2``: calls the upstream API with ``requests``
  (contrib makes the client span, otel-drift puts the JSON shape on it) and
  asks it for that schema (an upstream field renamed or retyped).
"""

from __future__ import annotations

import logging
import os
import time

import requests
from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

app = Flask(__name__)
logging.getLogger("werkzeug").setLevel(logging.WARNING)
UPSTREAM = os.environ.get("UPSTREAM_URL", "http://127.0.0.1:8100")
_session = requests.Session()


@app.get("/orders")
def orders() -> ResponseReturnValue:
    time.sleep(min(float(request.args.get("ms", "2")), 2000.0) / 1000.0)
    return jsonify(orders=[{"id": 1, "total": 12.5}])


@app.get("/search")
def search() -> ResponseReturnValue:
    if request.args.get("fail"):
        return jsonify(error="index unavailable"), 500
    return jsonify(results=["book", "lamp"])


@app.get("/profile/<int:user>")
def profile(user: int) -> ResponseReturnValue:
    schema = request.args.get("schema")
    answer = _session.get(
        f"{UPSTREAM}/users/{user}", params={"schema": schema} if schema else None, timeout=5
    )
    data = answer.json()
    return jsonify(user=data.get("id"), name=data.get("name") or data.get("full_name"))
