"""End to end: the demo service sends its traces to a real Arize Phoenix, over OTLP.

One replica exports over OTLP/gRPC, the other over OTLP/HTTP, each into its
own Phoenix project (resource attribute ``openinference.project.name``). The
test reads the spans back from Phoenix's REST API: the ``drift.evaluation``
spans with their status, attributes and ``drift.detected`` events, and the
``drift.violation`` spans inside the offending requests' traces.

Phoenix needs a newer OpenTelemetry SDK than otel-drift pins, so it runs from
its own venv (``scripts/phoenix-venv.sh`` makes ``.venv-phoenix``), as a
separate process on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.backends.support import (
    free_port,
    http_get,
    start_replica,
    traffic,
    wait_for,
)
from tests.support import IN_CI, ROOT

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
PHOENIX_PYTHON = ROOT / ".venv-phoenix" / "bin" / "python"
EXPECTATIONS = HERE / "phoenix_expectations.yaml"


class Phoenix:
    def __init__(self, http_port: int, grpc_port: int) -> None:
        self.base = f"http://127.0.0.1:{http_port}"
        self.grpc = f"http://127.0.0.1:{grpc_port}"

    def spans(self, project: str) -> list[dict[str, Any]]:
        """Every span of a project, following Phoenix's cursor (bounded)."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(50):
            query = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
            page = json.loads(
                http_get(
                    f"{self.base}/v1/projects/{project}/spans?{urllib.parse.urlencode(query)}",
                    timeout_s=30,
                )
            )
            found.extend(page["data"])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return found


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phoenix]:
    if not PHOENIX_PYTHON.exists():
        message = "Arize Phoenix is not installed (scripts/phoenix-venv.sh makes .venv-phoenix)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    work = tmp_path_factory.mktemp("phoenix")
    http_port, grpc_port = free_port(), free_port()
    env = {
        **os.environ,
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(http_port),
        "PHOENIX_GRPC_PORT": str(grpc_port),
        "PHOENIX_WORKING_DIR": str(work),
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
    }
    log = (work / "phoenix.log").open("w")
    process = subprocess.Popen(
        [str(PHOENIX_PYTHON), str(ROOT / "scripts" / "phoenix_serve.py")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    running = Phoenix(http_port, grpc_port)
    try:
        wait_for(lambda: http_get(running.base + "/healthz"), 180, "Phoenix to start", every=0.5)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def _run_service(tmp_path: Path, name: str, protocol: str, endpoint: str) -> None:
    replica = start_replica(
        tmp_path,
        name,
        EXPECTATIONS,
        {
            "OTEL_SERVICE_NAME": name,
            "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={name}",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": protocol,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "500",
            # Room for every span even when Phoenix ingests slowly on a busy machine.
            "OTEL_BSP_MAX_QUEUE_SIZE": "20000",
        },
    )
    try:
        generator = traffic()
        generator.wait_until_up(replica.base)
        generator.run(replica.base, 400, 400, concurrency=8, seed=9)
    finally:
        # SIGTERM: the last window is evaluated and the SDK flushes its spans.
        replica.stop()
    assert replica.process.returncode == 0, replica.log.read_text()


@pytest.fixture(scope="module")
def projects(phoenix: Phoenix, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp_path = tmp_path_factory.mktemp("phoenix-services")
    runs = {
        "checkout-grpc": ("grpc", phoenix.grpc),
        "checkout-http": ("http/protobuf", phoenix.base + "/v1/traces"),
    }
    with ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(_run_service, tmp_path, name, protocol, endpoint)
            for name, (protocol, endpoint) in runs.items()
        ]
        for future in futures:
            future.result()

    def evaluations_arrived() -> dict[str, Any] | None:
        spans = {name: phoenix.spans(name) for name in runs}
        done = all(
            # 800 matched spans in windows of 200: 4 full windows each.
            sum(s["name"] == "drift.evaluation" for s in found) >= 4
            for found in spans.values()
        )
        return spans if done else None

    return wait_for(evaluations_arrived, 120, "drift.evaluation spans in Phoenix", every=2.0)


@pytest.mark.parametrize("project", ["checkout-grpc", "checkout-http"])
def test_evaluation_spans_come_back_from_phoenix(
    projects: dict[str, list[dict[str, Any]]], project: str
) -> None:
    evaluations = [s for s in projects[project] if s["name"] == "drift.evaluation"]
    critical = [s for s in evaluations if s["attributes"].get("drift.status") == 2]
    assert critical, [sorted(s["attributes"].items()) for s in evaluations]
    span = critical[0]
    assert span["status_code"] == "ERROR"
    assert "checkout" in span["status_message"] and "latency" in span["status_message"]
    assert span["attributes"]["drift.expectation"] == "checkout"
    assert span["attributes"]["drift.watch.latency.method"] == "psi"
    assert span["attributes"]["drift.watch.latency.score"] > 0.25
    events = [e for e in span["events"] if e["name"] == "drift.detected"]
    assert {e["attributes"]["drift.attribute"] for e in events} >= {"latency"}
    # The steady first window's status-code mix is ok. (Its latency is not
    # asserted: two services and Phoenix share two cores here.)
    first = min(evaluations, key=lambda s: str(s["start_time"]))
    assert first["attributes"]["drift.watch.status.status"] == 0


@pytest.mark.parametrize("project", ["checkout-grpc", "checkout-http"])
def test_violation_spans_sit_inside_the_offending_request_trace(
    projects: dict[str, list[dict[str, Any]]], project: str
) -> None:
    spans = projects[project]
    by_id = {s["context"]["span_id"]: s for s in spans}
    violations = [s for s in spans if s["name"] == "drift.violation"]
    assert violations
    for violation in violations[:20]:
        assert violation["status_code"] == "ERROR"
        assert violation["attributes"]["drift.rule"] == "max"
        assert violation["attributes"]["drift.value"] > 250
        parent = by_id[violation["parent_id"]]
        assert parent["context"]["trace_id"] == violation["context"]["trace_id"]
        # Phoenix shows OpenInference span kinds (UNKNOWN here), so the name says it.
        assert "/checkout" in parent["name"], parent
