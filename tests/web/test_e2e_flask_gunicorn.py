"""End to end: the Flask example under gunicorn (2 pre-forked workers) and opentelemetry-instrument.

Contrib's Flask and requests instrumentations make the spans; otel-drift's
requests instrumentation puts the upstream's JSON shape on the client spans.
Each worker process has its own engine: every verdict below comes from
windows of both.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.servers import Run, require, run_service
from tests.web.support import WEB

pytestmark = pytest.mark.e2e

GUNICORN = ["gunicorn", "-w", "2", "-b", "127.0.0.1:{port}", "flask_app:app"]


def _run(tmp_path: Path, phases: list[tuple[str, int]]) -> Run:
    require("gunicorn")
    require("flask")
    return run_service(tmp_path, GUNICORN, phases, WEB / "flask.yaml")


def test_latency_errors_and_renamed_field_each_found_where_they_happen(tmp_path: Path) -> None:
    run = _run(tmp_path, [("steady", 100), ("steady", 600), ("latency,errors,renamed", 600)])
    assert 0 < run.statuses[1].get(500, 0) <= 6, run.log[-2000:]
    for expectation, watch in [
        ("orders", "latency"),
        ("search", "status"),
        ("upstream-profile", "shape"),
        ("traffic", "route"),
    ]:
        assert run.worst(expectation, watch, 1) < 2, (expectation, watch)
    # Each drift on its own route or field, and nowhere else.
    assert run.worst("orders", "latency", 2) == 2
    assert run.worst("orders", "status", 2) < 2
    assert run.worst("search", "status", 2) == 2
    assert run.worst("search", "latency", 2) < 2
    assert run.worst("upstream-profile", "shape", 2) == 2
    assert run.worst("upstream-profile", "response_size", 2) < 2
    assert run.worst("traffic", "route", 2) < 2
    # The service papers over the rename: its own /profile answer keeps its shape.
    assert run.worst("profile-response", "shape", 2) < 2
    # The renamed field is visible on the client span of each upstream call ...
    drifted = [
        s
        for s in run.spans
        if s.kind == 3 and s.start_ns >= run.phase_starts[2] and "/users/" in str(s.attributes)
    ]
    assert drifted and all(s.attributes["drift.json.shape.missing"] == ("name",) for s in drifted)
    assert all(s.attributes["drift.json.shape.added"] == ("full_name",) for s in drifted)
    # ... and counted as violations of the right rules.
    assert run.violation_rules("upstream-profile") == {"shape.missing", "shape.added"}
    # One server span per request, one client span per upstream call: no duplicates.
    requests_sent = sum(sum(counts.values()) for counts in run.statuses)
    # (the readiness probes before the first phase are not counted)
    served = [s for s in run.spans if s.kind == 2 and s.start_ns >= run.phase_starts[0]]
    assert len(served) == requests_sent
    assert len([s for s in run.spans if s.kind == 3]) == requests_sent // 5
    # Both pre-forked workers evaluated their last window at shutdown.
    partial = [s for s in run.evaluations("traffic") if s.attributes.get("drift.window.partial")]
    assert len(partial) == 2, run.log[-2000:]


def test_stationary_control_run_raises_nothing(tmp_path: Path) -> None:
    run = _run(tmp_path, [("steady", 100), ("steady", 1000)])
    watches = run.watches()
    assert len(watches) == 9
    for expectation, watch in watches:
        assert run.worst(expectation, watch, 1) < 2, (expectation, watch, run.log[-2000:])
    assert not [s for s in run.spans if s.name == "drift.violation"]
