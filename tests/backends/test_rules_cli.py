"""``otel-drift rules`` and ``gate`` without a backend: options, fallbacks, usage errors,
and rules that the real ``promtool`` accepts with its lint on."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from otel_drift._internal.cli.main import main
from otel_drift._internal.detectors import METHODS
from tests.backends.support import require_binary

KS_FILE = """
version: 1
expectations:
  - name: payments
    match: {span_name: pay}
    min_samples: 50
    watch:
      amount:
        attribute: amount
        baseline: {bins: [0, 10, 100], fractions: [0.5, 0.5]}
        method: ks
"""


def test_rules_fall_back_to_psi_for_methods_promql_cannot_express(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "e.yaml"
    source.write_text(KS_FILE)
    assert main(["rules", str(source), "--window", "10m", "--fleet-labels", "job,namespace"]) == 0
    text = capsys.readouterr().out
    assert "their fleet alerts use PSI" in text and "payments.amount (ks)" in text
    rules = yaml.safe_load(text)
    recorded = [r["record"] for r in rules["groups"][0]["rules"]]
    assert "drift:psi:10m" in recorded
    critical = next(r for r in rules["groups"][1]["rules"] if r["alert"] == "DriftCritical")
    # PSI's own default critical threshold, not ks's alpha.
    assert f">= {METHODS['psi'].critical!r})" in critical["expr"]
    assert "drift:samples:increase10m >= 50" in critical["expr"]
    assert "sum by (job, namespace, drift_expectation" in rules["groups"][0]["rules"][0]["expr"]


THREE_FILE = """
version: 1
expectations:
  - name: checkout
    match: {span_name: POST /checkout}
    watch:
      latency: {source: span.duration, baseline: {bins: [0, 50, 200], fractions: [0.8, 0.2]}}
      status:
        source: http.status_class
        baseline: {categories: {2xx: 0.99, 5xx: 0.01}}
        method: hellinger
  - name: search
    match: {span_name: GET /search}
    watch:
      latency:
        source: span.duration
        baseline: {bins: [0, 20, 100], fractions: [0.9, 0.1]}
        warning: 0.2
        critical: 0.4
  - name: payments
    match: {span_name: pay}
    min_samples: 50
    watch:
      amount:
        attribute: amount
        baseline: {bins: [0, 10, 100], fractions: [0.5, 0.5]}
        method: ks
"""


def test_rules_for_three_expectations_pass_promtool_lint(tmp_path: Path) -> None:
    promtool = require_binary("promtool")  # fails in CI when missing
    source, rules = tmp_path / "e.yaml", tmp_path / "rules.yml"
    source.write_text(THREE_FILE)
    assert main(["rules", str(source), "-o", str(rules)]) == 0
    checked = subprocess.run(
        [promtool, "check", "rules", "--lint=all", "--lint-fatal", str(rules)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Per watched value (4) a critical and a warning alert, one replica alert,
    # 4 recording rules and one score per fleet method (psi, hellinger).
    assert "SUCCESS: 15 rules found" in checked.stdout
    alerts = yaml.safe_load(rules.read_text())["groups"][1]["rules"]
    labelled = {
        (a["labels"]["drift_expectation"], a["labels"]["drift_attribute"], a["alert"])
        for a in alerts
        if a["alert"] != "DriftReplicaCritical"
    }
    assert len(labelled) == 8
    assert ("search", "latency", "DriftWarning") in labelled


@pytest.mark.parametrize(
    "arguments",
    [["--window", "5 minutes"], ["--for", "x"], ["--fleet-labels", "job,bad-label"]],
)
def test_rules_usage_errors_exit_2(tmp_path: Path, arguments: list[str]) -> None:
    source = tmp_path / "e.yaml"
    source.write_text(KS_FILE)
    assert main(["rules", str(source), *arguments]) == 2


def test_rules_on_an_invalid_file_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nexpectations: []\n")
    assert main(["rules", str(bad)]) == 1


def test_gate_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gate"]) == 2
    url = "http://127.0.0.1:9"
    assert main(["gate", "--prometheus", url, "--service", 'a"b']) == 2
    assert main(["gate", "--prometheus", url, "--start", "2030-01-01T00:00:00Z"]) == 2
    assert "start must be before end" in capsys.readouterr().err
