"""End to end: the FastAPI example under uvicorn and opentelemetry-instrument.

Contrib's FastAPI (ASGI) and httpx instrumentations make the spans;
otel-drift's httpx instrumentation puts the upstream's JSON shape on the
client spans, its ASGI instrumentation the service's own answers' shape on
the server spans, and its OpenFeature hook feeds the flag's variant mix.
Stopped with SIGTERM, as a process manager would.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.web.servers import require, run_service, traffic
from tests.web.support import WEB

pytestmark = pytest.mark.e2e

_PROFILE = "/profile/{user}"
UVICORN = ["uvicorn", "fastapi_app:app", "--host", "127.0.0.1", "--port", "{port}"]


def test_mix_shift_type_change_and_stuck_flag_each_found(tmp_path: Path) -> None:
    for module in ("uvicorn", "fastapi", "httpx", "openfeature"):
        require(module)
    run = run_service(
        tmp_path,
        [*UVICORN, "--log-level", "warning"],
        [("steady", 100), ("steady", 600), ("mix,retyped,flag-stuck", 600)],
        WEB / "fastapi.yaml",
        mix=traffic.ASGI_MIX,
    )
    watches = [
        ("traffic", "route"),
        ("upstream-profile", "shape"),
        ("profile-response", "shape"),
        ("new-checkout-flag", "variant"),
        ("search", "status"),
    ]
    # (Latency is left out here: one event loop on a shared 2-core machine
    # jitters; the latency scenarios run under gunicorn and Django.)
    for expectation, watch in watches:
        assert run.worst(expectation, watch, 1) < 2, (expectation, watch, run.log[-2000:])
    assert run.worst("traffic", "route", 2) == 2
    assert run.worst("upstream-profile", "shape", 2) == 2
    # The service passes the upstream's id through: its own answer changed too.
    assert run.worst("profile-response", "shape", 2) == 2
    assert run.worst("new-checkout-flag", "variant", 2) == 2
    # The shift moved traffic between routes; each route itself stayed as it was.
    assert run.worst("search", "status", 2) < 2
    assert run.violation_rules("upstream-profile") == {"shape.type"}
    retyped = [
        s
        for s in run.spans
        if s.kind == 3 and s.start_ns >= run.phase_starts[2] and "/users/" in str(s.attributes)
    ]
    assert retyped and all(
        s.attributes["drift.json.shape.type_changed"] == ("id",) for s in retyped
    )
    # ... and on the server span of each /profile request that answered it.
    answered = [s for s in run.spans if s.kind == 2 and s.attributes.get("http.route") == _PROFILE]
    assert answered and all(
        "drift.json.shape" in s.attributes and s.attributes["http.response.body.size"] > 0
        for s in answered
    )
    changed = [s for s in answered if s.start_ns >= run.phase_starts[2]]
    assert changed and all(
        s.attributes["drift.json.shape.type_changed"] == ("user",) for s in changed
    )
    assert not any(
        "drift.json.shape.type_changed" in s.attributes
        for s in answered
        if s.start_ns < run.phase_starts[2]
    )
    assert run.violation_rules("profile-response") == {"shape.type"}
    # Each flag evaluation is a feature_flag.evaluation event on its request's span.
    checkout = [s for s in run.spans if s.attributes.get("http.route") == "/checkout"]
    events = [e for s in checkout for e in s.events if e[0] == "feature_flag.evaluation"]
    assert len(events) == 195  # 15 % of 1300 requests
    assert {e[1]["feature_flag.result.variant"] for e in events} == {"on", "off"}
    # One server span per request (contrib's), no duplicates.
    requests_sent = sum(sum(counts.values()) for counts in run.statuses)
    # (the readiness probes before the first phase are not counted)
    served = [s for s in run.spans if s.kind == 2 and s.start_ns >= run.phase_starts[0]]
    assert len(served) == requests_sent
    # Stopped by SIGTERM: otel-drift's handler evaluated the last window and
    # flushed the spans before the process died of SIGTERM as uvicorn wants.
    partial = [s for s in run.evaluations("traffic") if s.attributes.get("drift.window.partial")]
    assert len(partial) == 1, "the last window was not evaluated at shutdown"
    assert run.returncode == -signal.SIGTERM, run.log[-2000:]
