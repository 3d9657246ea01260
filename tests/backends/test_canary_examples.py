"""examples/deploy: the canary templates ask the served gate questions it accepts."""

from __future__ import annotations

import json
from typing import Any

import yaml

from otel_drift._internal.cli.canary.serve import Defaults, question, request_params
from otel_drift._internal.cli.main import build_parser
from tests.support import ROOT

DEPLOY = ROOT / "examples" / "deploy"


def _documents(name: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all((DEPLOY / name).read_text()))


def test_the_server_deployment_runs_a_valid_gate_command() -> None:
    deployment, service = _documents("canary-gate-server.yaml")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    assert command[:2] == ["otel-drift", "gate"]
    parsed = build_parser().parse_args(command[1:])
    assert (parsed.serve, parsed.since, parsed.expectations) == (
        ":8080",
        "10m",
        "/etc/otel-drift/expectations.yaml",
    )
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_argo_template_posts_a_valid_question_and_reads_the_verdict() -> None:
    (template,) = _documents("argo-canary-template.yaml")
    (metric,) = template["spec"]["metrics"]
    web = metric["provider"]["web"]
    body = web["body"].replace("{{args.canary-version}}", "2.1.0")
    body = body.replace("{{args.stable-version}}", "2.0.4")
    key, require = question(json.loads(body), Defaults())
    assert key[:4] == ('service_version="2.1.0"', 'service_version="2.0.4"', "target_info", "10m")
    assert require == ""
    assert web["jsonPath"] == "{$.verdict}" and web["method"] == "POST"
    assert metric["successCondition"] == 'result == "PASS"'
    assert metric["failureCondition"] == 'result == "FAIL"'


def test_flagger_webhooks_send_valid_questions() -> None:
    (canary,) = _documents("flagger-canary.yaml")
    hooks = {hook["type"]: hook for hook in canary["spec"]["analysis"]["webhooks"]}
    assert hooks.keys() == {"rollout", "confirm-promotion"}
    for kind, require in (("rollout", "no-fail"), ("confirm-promotion", "pass")):
        metadata = hooks[kind]["metadata"]
        # Flagger's metadata is a map of strings.
        assert all(isinstance(value, str) for value in metadata.values())
        payload = {"name": "checkout", "namespace": "shop", "metadata": metadata}
        key, asked = question(request_params(payload, ""), Defaults())
        assert asked == require and key[2] == "series"
