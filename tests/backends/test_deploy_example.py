"""examples/deploy: the generated files are current and valid, every port is loopback."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

import otel_drift._internal.cli.gate  # noqa: F401 - registers the gate subcommand
from otel_drift._internal.cli.dashboard import build_dashboard
from otel_drift._internal.cli.main import build_parser
from otel_drift._internal.cli.rules import RuleOptions, render_rules
from otel_drift._internal.expectations.load import load_expectations
from tests.backends.support import require_binary
from tests.support import EXAMPLE_FILE, ROOT

DEPLOY = ROOT / "examples" / "deploy"


def test_rules_and_dashboard_are_generated_from_the_demo_expectations() -> None:
    expectations = load_expectations("examples/demo/expectations.yaml")
    assert (DEPLOY / "drift-rules.yml").read_text() == render_rules(expectations, RuleOptions())
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "otel-drift.json").read_text())
    assert dashboard == build_dashboard(load_expectations(EXAMPLE_FILE))


def test_prometheus_config_and_rules_pass_promtool() -> None:
    promtool = require_binary("promtool")
    checked = subprocess.run(
        [promtool, "check", "config", "prometheus.yml"],
        cwd=DEPLOY,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 11 rules found" in checked.stdout


def test_compose_publishes_loopback_ports_only() -> None:
    compose: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert set(compose["services"]) == {"checkout", "collector", "jaeger", "prometheus", "grafana"}
    ports = [p for s in compose["services"].values() for p in s.get("ports", [])]
    assert ports and all(str(p).startswith("127.0.0.1:") for p in ports)
    checkout = compose["services"]["checkout"]["environment"]
    assert checkout["OTEL_DRIFT_EXPECTATIONS"].endswith("expectations.yaml")


def test_argo_template_runs_a_valid_gate_command() -> None:
    documents = list(yaml.safe_load_all((DEPLOY / "argo-analysis-template.yaml").read_text()))
    names = {d["metadata"]["name"] for d in documents}
    assert names == {"otel-drift-gate", "otel-drift-status"}
    job = next(d for d in documents if d["metadata"]["name"] == "otel-drift-gate")
    container = job["spec"]["metrics"][0]["provider"]["job"]["spec"]["template"]["spec"][
        "containers"
    ][0]
    command = [c.replace("{{args.prometheus-url}}", "http://p:9090") for c in container["command"]]
    assert command[:2] == ["otel-drift", "gate"]
    parsed = build_parser().parse_args(command[1:])
    assert parsed.command == "gate" and parsed.since == "10m"
    assert "otel-drift gate" in (DEPLOY / "ci-gate.sh").read_text()


def test_example_files_exist_for_every_compose_volume() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert (DEPLOY / source).exists(), source
    assert Path(DEPLOY / "Dockerfile").exists()
