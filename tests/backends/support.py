"""Real backends on 127.0.0.1 for the end-to-end tests: Prometheus, replicas of the demo.

A test that needs a binary fails in CI (``CI=true``) when it is missing, and
skips elsewhere: ``scripts/system-deps.sh`` installs them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TypeVar

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support import IN_CI, ROOT

DEMO = ROOT / "examples" / "demo"
BIN = Path(sys.executable).parent
T = TypeVar("T")


def require_binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (scripts/system-deps.sh installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], T | None], timeout_s: float, what: str, every: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy, and return that (bounded)."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception as error:  # the backend may not be up yet
            last_error = error
        else:
            if result:
                return result
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what} ({last_error!r})")


def http_get(url: str, timeout_s: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return bytes(response.read())


@contextmanager
def prometheus(
    tmp_path: Path, targets: list[str], rule_files: list[Path], job: str = "checkout"
) -> Iterator[str]:
    """A real Prometheus scraping ``targets`` every second; yields its base URL."""
    binary = require_binary("prometheus")
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": targets}]}],
    }
    config_path = tmp_path / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            # Loopback only: the default listens on every address.
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http_get(base + "/-/ready"), 30, "Prometheus to be ready")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    base: str
    metrics_port: int
    out: Path
    log: Path

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.metrics_port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_replica(
    tmp_path: Path, name: str, expectations: Path, extra_env: dict[str, str] | None = None
) -> Replica:
    """The demo service under opentelemetry-instrument, metrics on a Prometheus endpoint."""
    port = free_port()
    metrics_port = free_port()
    out = tmp_path / name
    out.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "OTEL_SERVICE_NAME": "checkout",
        "OTEL_RESOURCE_ATTRIBUTES": "service.version=2.0.0",
        "OTEL_TRACES_EXPORTER": "otlp_json_file",
        "OTEL_METRICS_EXPORTER": "prometheus",
        "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
        "OTEL_EXPORTER_PROMETHEUS_PORT": str(metrics_port),
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_DRIFT_EXPECTATIONS": str(expectations),
        "OTEL_DRIFT_CONSOLE": "true",
        "OTEL_DRIFT_OTLP_JSON_DIR": str(out),
        "DEMO_PORT": str(port),
        **(extra_env or {}),
    }
    log = out / "app.log"
    with log.open("w") as stderr_file:
        process = subprocess.Popen(
            [str(BIN / "opentelemetry-instrument"), str(BIN / "python"), str(DEMO / "app.py")],
            env=env,
            stdout=stderr_file,
            stderr=stderr_file,
        )
    return Replica(process, f"http://127.0.0.1:{port}", metrics_port, out, log)


def wait_until_exporting(replica: Replica, timeout_s: float = 60) -> None:
    def exporting() -> bool:
        return b"drift_bin_count_total" in http_get(f"http://{replica.target}/metrics")

    wait_for(exporting, timeout_s, f"{replica.target} to export drift metrics")


def scraped_bin_counts(replica: Replica) -> dict[tuple[str, str], float]:
    """(watched value, bin) -> the replica's lifetime count, read from its own /metrics."""
    text = http_get(f"http://{replica.target}/metrics").decode()
    counts: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "drift_bin_count_total":
                key = (sample.labels["drift_attribute"], sample.labels["drift_bin"])
                counts[key] = float(sample.value)
    return counts


def traffic() -> ModuleType:
    """The demo's traffic generator (a script, loaded by path)."""
    spec = importlib.util.spec_from_file_location("demo_traffic", DEMO / "traffic.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
