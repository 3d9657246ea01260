"""End to end: live learning in the Flask example under gunicorn (2 pre-forked workers).

``opentelemetry-instrument gunicorn -w 2`` with ``OTEL_DRIFT_LEARN`` and no
expectations file, on 127.0.0.1, spans exported as OTLP/JSON. Each worker
learns from its own spans; the first to finish writes the one file of the
service, the other loads it; both then judge with it (each evaluates its own
last window at shutdown). A restart loads the file instead of learning again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_drift import load_expectations
from tests.web.servers import Run, require, run_service
from tests.web.support import WEB

pytestmark = pytest.mark.e2e

GUNICORN = ["gunicorn", "-w", "2", "-b", "127.0.0.1:{port}", "flask_app:app"]
#: Spans each worker learns from (about 1.2 spans a request: /profile calls the upstream).
LEARN = 1_000


def _run(tmp_path: Path, folder: Path, phases: list[tuple[str, int]]) -> Run:
    require("gunicorn")
    require("flask")
    tmp_path.mkdir(exist_ok=True)
    return run_service(
        tmp_path,
        GUNICORN,
        phases,
        WEB / "flask.yaml",  # not used: OTEL_DRIFT_EXPECTATIONS is emptied below
        extra_env={
            "OTEL_DRIFT_EXPECTATIONS": "",
            "OTEL_DRIFT_LEARN": str(LEARN),
            "OTEL_DRIFT_BASELINE_DIR": str(folder),
        },
    )


def test_two_workers_learn_one_file_and_both_judge_with_it_then_a_restart_loads_it(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "baselines"
    # 2,000 requests: at least one worker learns its 1,000 spans; then judged traffic.
    run = _run(tmp_path / "first", folder, [("steady", 2_000), ("steady", 1_000)])
    assert run.returncode is not None
    assert sorted(p.name for p in folder.iterdir()) == ["web-example.yaml"], run.log[-2000:]
    learned = folder / "web-example.yaml"
    text = learned.read_text()
    assert text.startswith("# Learned by otel-drift on ")
    names = {e.name for e in load_expectations(learned).expectations}
    assert {"traffic", "route.orders"} <= names, names
    # Judged in the second phase, by both workers: each closed its last window at shutdown.
    judged = [s for s in run.evaluations("traffic") if s.start_ns >= run.phase_starts[1]]
    assert judged, run.log[-2000:]
    partial = [s for s in run.evaluations("traffic") if s.attributes.get("drift.window.partial")]
    assert len(partial) == 2, run.log[-2000:]
    assert "Traceback" not in run.log, run.log[-3000:]

    # A restart: the file is loaded (not learned again) and judges from the first request.
    again = _run(tmp_path / "second", folder, [("steady", 500)])
    assert learned.read_text() == text
    assert sorted(p.name for p in folder.iterdir()) == ["web-example.yaml"]
    partial = [s for s in again.evaluations("traffic") if s.attributes.get("drift.window.partial")]
    assert len(partial) == 2, again.log[-2000:]
