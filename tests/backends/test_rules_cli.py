"""``otel-drift rules`` and ``gate`` without a backend: options, fallbacks, usage errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from otel_drift._internal.cli.main import main

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
    assert ">= 0.25" in critical["expr"] and "drift:samples:increase10m >= 50" in critical["expr"]
    assert "sum by (job, namespace, drift_expectation" in rules["groups"][0]["rules"][0]["expr"]


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
