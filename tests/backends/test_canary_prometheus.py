"""End to end: a canary against its baseline, two real processes, a real Prometheus 2.42.

Two processes of one Flask service (``service.version`` 1 and 2) export their
drift metrics on Prometheus endpoints; a real Prometheus scrapes both every
second. The driver sends the same requests to both at the same time, in
phases, and each phase is one gate range (``--start``/``--end``):

- ``tiny``: 30 requests a route: INCONCLUSIVE, saying how many values are missing;
- ``aa``: both versions behave the same: PASS;
- ``slow``: version 2's ``/checkout`` takes 30 % longer: FAIL naming checkout.latency;
- ``errors``: version 2 fails 5 % more checkouts: FAIL naming status 500.

The same verdicts come through ``gate --serve``, fetched over HTTP as Argo
Rollouts' web provider (GET, JSON) and Flagger's webhooks (POST, status code) do.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from otel_drift._internal.cli.main import main
from otel_drift._internal.cli.prometheus import PrometheusClient
from tests.backends.support import (
    BIN,
    free_port,
    http_get,
    prometheus,
    wait_for,
)

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
APP = HERE / "canary_service.py"
EXPECTATIONS = HERE / "canary_expectations.yaml"
CANARY = 'service_version="2"'
BASELINE = 'service_version="1"'
#: (checkout, catalog) requests per version in each phase, and version 2's mode.
PHASES: dict[str, tuple[int, int, dict[str, float]]] = {
    "tiny": (30, 30, {}),
    "aa": (800, 600, {}),
    "slow": (600, 300, {"slower": 1.3}),
    "errors": (1000, 100, {"errors": 0.05}),
}


@dataclass
class Process:
    process: subprocess.Popen[bytes]
    base: str
    target: str
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _start(tmp_path: Path, version: str) -> Process:
    port, metrics_port = free_port(), free_port()
    out = tmp_path / f"v{version}"
    out.mkdir()
    env = {
        **os.environ,
        "OTEL_SERVICE_NAME": "checkout",
        "OTEL_RESOURCE_ATTRIBUTES": f"service.version={version}",
        "OTEL_TRACES_EXPORTER": "otlp_json_file",
        "OTEL_DRIFT_OTLP_JSON_DIR": str(out),
        "OTEL_METRICS_EXPORTER": "prometheus",
        "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
        "OTEL_EXPORTER_PROMETHEUS_PORT": str(metrics_port),
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_DRIFT_EXPECTATIONS": str(EXPECTATIONS),
        "CANARY_PORT": str(port),
        "CANARY_SEED": version,
    }
    log = out / "app.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [str(BIN / "opentelemetry-instrument"), str(BIN / "python"), str(APP)],
            env=env,
            stdout=sink,
            stderr=sink,
        )
    return Process(process, f"http://127.0.0.1:{port}", f"127.0.0.1:{metrics_port}", log)


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _requests(checkout: int, catalog: int, rng: random.Random) -> list[str]:
    """The phase's traffic mix: work times that vary, 1 % failed payments, both routes."""
    paths = [
        f"/checkout?ms={rng.lognormvariate(2.45, 0.35):.2f}"
        + ("&fail=1" if rng.random() < 0.01 else "")
        for _ in range(checkout)
    ]
    paths += [f"/catalog?ms={rng.lognormvariate(1.6, 0.3):.2f}" for _ in range(catalog)]
    rng.shuffle(paths)
    return paths


def _latency_total(process: Process) -> float:
    """Both routes' latency values this process counted (from its own /metrics)."""
    text = http_get(f"http://{process.target}/metrics").decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("drift_bin_count_total{") and 'drift_attribute="latency"' in line
    )


@dataclass
class Canary:
    prometheus: str
    #: Phase name -> (start, end) in unix seconds.
    ranges: dict[str, tuple[float, float]]


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Canary]:
    tmp_path = tmp_path_factory.mktemp("canary")
    versions = [_start(tmp_path, "1"), _start(tmp_path, "2")]
    try:
        for process in versions:

            def exporting(process: Process = process) -> bool:
                return b"drift_bin_count_total" in http_get(f"http://{process.target}/metrics")

            wait_for(exporting, 60, f"{process.target} to export drift metrics")
        with prometheus(tmp_path, [p.target for p in versions], [], job="checkout") as base:
            client = PrometheusClient(base)
            metrics = http_get(f"http://{versions[0].target}/metrics").decode()
            bins = sum(line.startswith("drift_bin_count_total{") for line in metrics.splitlines())

            def scraped_zeros() -> bool:
                found = client.query("count(drift_bin_count_total)")
                return bool(found) and found[0].points[0][1] == 2 * bins

            # Every series scraped at zero first, so increase() counts from zero.
            wait_for(scraped_zeros, 30, "Prometheus to scrape both processes")
            rng = random.Random(18)
            ranges = {}
            served = 0
            with ThreadPoolExecutor(16) as pool:
                for name, (checkout, catalog, mode) in PHASES.items():
                    body = json.dumps({"slower": 1.0, "errors": 0.0, **mode}).encode()
                    request = urllib.request.Request(
                        versions[1].base + "/mode", body, {"Content-Type": "application/json"}
                    )
                    urllib.request.urlopen(request, timeout=10).read()
                    start = time.time()
                    paths = _requests(checkout, catalog, rng)
                    # The same request to both versions at the same time.
                    urls = [p.base + path for path in paths for p in versions]
                    assert all(code in (200, 500) for code in pool.map(_get, urls))
                    served += checkout + catalog

                    def counted(served: int = served) -> list[float] | None:
                        totals = [_latency_total(p) for p in versions]
                        return totals if min(totals) >= served else None

                    expected = wait_for(counted, 30, f"both versions to count phase {name}")

                    def scraped(expected: list[float] = expected) -> bool:
                        found = client.query(
                            'sum by (instance) (drift_bin_count_total{drift_attribute="latency"})'
                        )
                        return sorted(s.points[0][1] for s in found) == sorted(expected)

                    wait_for(scraped, 30, f"Prometheus to scrape the end of phase {name}")
                    ranges[name] = (start, time.time())
                    time.sleep(1.1)
            yield Canary(base, ranges)
    finally:
        for process in versions:
            process.stop()


def _gate(canary: Canary, phase: str, *extra: str) -> tuple[int, dict[str, Any]]:
    start, end = canary.ranges[phase]
    argv = [
        "gate",
        "--prometheus",
        canary.prometheus,
        "--expectations",
        str(EXPECTATIONS),
        "--canary",
        CANARY,
        "--baseline",
        BASELINE,
        "--start",
        f"{start:.3f}",
        "--end",
        f"{end:.3f}",
        "--output",
        "json",
        *extra,
    ]
    completed = subprocess.run(
        [str(BIN / "otel-drift"), *argv], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.stdout, completed.stderr
    return completed.returncode, json.loads(completed.stdout)


def _watches(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{w['expectation']}.{w['watch']}": w for w in document["watches"]}


def test_slower_route_fails_naming_its_latency(canary: Canary) -> None:
    code, document = _gate(canary, "slow")
    watches = _watches(document)
    assert (code, document["verdict"], document["failed"]) == (1, "FAIL", ["checkout.latency"])
    latency = watches["checkout.latency"]
    assert latency["p_value"] < 1e-6 and latency["score"] >= latency["materiality"] == 0.05
    assert latency["canary"]["median"] > latency["baseline"]["median"] and latency["shift"] > 0
    assert "slower" in latency["reason"]
    # Counted exactly: every request of the phase, once, on each side.
    assert latency["canary"]["count"] == latency["baseline"]["count"] == PHASES["slow"][0]
    # The status mix did not move; the other route did not fail (at 300 values a
    # side it may be too close to call).
    assert watches["checkout.status"]["verdict"] == "PASS"
    assert watches["catalog.latency"]["verdict"] in ("PASS", "INCONCLUSIVE")
    assert document["canary"]["targets"] != document["baseline"]["targets"]


def test_error_spike_fails_naming_the_status(canary: Canary) -> None:
    code, document = _gate(canary, "errors")
    assert (code, document["verdict"]) == (1, "FAIL")
    assert "checkout.status" in document["failed"]
    status = _watches(document)["checkout.status"]
    assert status["reason"].split("; ")[1].startswith("500: ")
    assert status["moved"][0]["bin"] in ("500", "200")
    assert status["canary"]["bins"]["500"] > 3 * status["baseline"]["bins"]["500"]


def test_same_behaviour_passes(canary: Canary) -> None:
    code, document = _gate(canary, "aa")
    assert (code, document["verdict"], document["failed"]) == (0, "PASS", []), document
    for watch in document["watches"]:
        assert watch["canary"]["count"] >= 100 and watch["baseline"]["count"] >= 100


def test_too_little_data_is_inconclusive(canary: Canary) -> None:
    code, document = _gate(canary, "tiny")
    assert (code, document["verdict"]) == (3, "INCONCLUSIVE")
    reasons = [w["reason"] for w in document["watches"]]
    assert all("values of the 100 needed" in r for r in reasons), reasons
    assert any(r.startswith("canary has ") for r in reasons)


def test_text_report_and_usage_errors(canary: Canary, capsys: pytest.CaptureFixture[str]) -> None:
    start, end = canary.ranges["slow"]
    common = ["gate", "--prometheus", canary.prometheus, "--expectations", str(EXPECTATIONS)]
    window = ["--start", f"{start:.3f}", "--end", f"{end:.3f}"]
    assert main([*common, "--canary", CANARY, "--baseline", BASELINE, *window]) == 1
    out = capsys.readouterr().out
    assert "verdict: FAIL: checkout.latency" in out and "(1 processes)" in out
    assert main([*common, "--canary", 'service_version="9"', "--baseline", BASELINE, *window]) == 2
    assert "matches no process" in capsys.readouterr().err
    assert main([*common, "--canary", 'job="checkout"', "--baseline", BASELINE, *window]) == 2
    assert "each process must be on one side only" in capsys.readouterr().err
    assert main([*common, "--canary", CANARY, *window]) == 2
    assert "give both --canary and --baseline" in capsys.readouterr().err


@contextmanager
def _serving(prometheus_url: str, *extra: str) -> Iterator[str]:
    """``otel-drift gate --serve`` on a free loopback port; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [
            str(BIN / "otel-drift"),
            "gate",
            "--serve",
            f"127.0.0.1:{port}",
            "--prometheus",
            prometheus_url,
            "--expectations",
            str(EXPECTATIONS),
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: http_get(base + "/healthz"), 30, "the served gate to answer")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def served(canary: Canary) -> Iterator[str]:
    with _serving(canary.prometheus) as base:
        yield base + "/gate"


def _fetch(url: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), json.loads(error.read())


def _params(canary: Canary, phase: str, **extra: str) -> dict[str, str]:
    start, end = canary.ranges[phase]
    return {
        "canary": CANARY,
        "baseline": BASELINE,
        "start": f"{start:.3f}",
        "end": f"{end:.3f}",
        **extra,
    }


@pytest.mark.parametrize(
    ("phase", "verdict", "failed"),
    [
        ("slow", "FAIL", "checkout.latency"),
        ("errors", "FAIL", "checkout.status"),
        ("aa", "PASS", None),
        ("tiny", "INCONCLUSIVE", None),
    ],
)
def test_served_verdicts_as_argo_fetches_them(
    canary: Canary, served: str, phase: str, verdict: str, failed: str | None
) -> None:
    status, document = _fetch(served + "?" + urllib.parse.urlencode(_params(canary, phase)))
    assert (status, document["verdict"]) == (200, verdict)
    assert (failed in document["failed"]) if failed else document["failed"] == []
    assert len(document["watches"]) == 3


def test_served_status_codes_as_flagger_reads_them(canary: Canary, served: str) -> None:
    def flagger(phase: str, require: str) -> int:
        body = {"name": "checkout", "namespace": "shop", "phase": "Progressing"}
        body["metadata"] = _params(canary, phase, require=require)  # type: ignore[assignment]
        return _fetch(served, body)[0]

    assert flagger("slow", "no-fail") == 412
    assert flagger("tiny", "no-fail") == 200
    assert flagger("tiny", "pass") == 412
    assert flagger("aa", "pass") == 200
    status, document = _fetch(served, {"canary": CANARY})
    assert status == 400 and "give canary and baseline" in document["error"]


def test_served_gate_answers_504_when_prometheus_hangs() -> None:
    """A Prometheus that accepts and never answers: the gate still answers, with 504."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(silent.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    try:
        with _serving(f"http://127.0.0.1:{silent.getsockname()[1]}", "--deadline", "1") as base:
            query = urllib.parse.urlencode({"canary": CANARY, "baseline": BASELINE, "since": "5m"})
            status, document = _fetch(f"{base}/gate?{query}")
        assert status == 504 and "no answer within 1s" in document["error"]
    finally:
        stop.set()
        for connection in held:
            connection.close()
        silent.close()
