"""End to end: two replicas, a real Prometheus, the rules of ``otel-drift rules``.

Each replica exports its drift metrics through OpenTelemetry's Prometheus
exporter; Prometheus scrapes both and evaluates the generated recording and
alerting rules. The fleet scores it records must be the detectors' scores on
the merged (summed) counts.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from otel_drift._internal.cli import promql as pq
from otel_drift._internal.cli.dashboard import build_dashboard
from otel_drift._internal.cli.main import main
from otel_drift._internal.cli.prometheus import PrometheusClient
from otel_drift._internal.cli.rules import RuleNames
from otel_drift._internal.detectors import evaluate
from otel_drift._internal.engine.watch_state import bin_labels
from otel_drift._internal.engine.what_moved import OTHER_LABEL
from otel_drift._internal.expectations.load import load_expectations
from otel_drift._internal.expectations.model import BinnedBaseline, CategoricalBaseline
from tests.backends.support import (
    BIN,
    Replica,
    free_port,
    prometheus,
    require_binary,
    scraped_bin_counts,
    start_replica,
    traffic,
    wait_for,
    wait_until_exporting,
)

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
FLEET_FILE = HERE / "fleet_expectations.yaml"
WINDOW = "2m"
REQUESTS = 300


def baselines() -> dict[str, dict[str, float]]:
    """Watched value -> bin label -> baseline fraction, from the expectations file."""
    found: dict[str, dict[str, float]] = {}
    for watch in load_expectations(FLEET_FILE).expectations[0].watch:
        baseline = watch.baseline
        if isinstance(baseline, BinnedBaseline):
            fractions = [0.0, *baseline.fractions, 0.0]
            found[watch.name] = dict(zip(bin_labels(baseline.edges), fractions, strict=True))
        elif isinstance(baseline, CategoricalBaseline):
            found[watch.name] = {**baseline.categories, OTHER_LABEL: 0.0}
    return found


def detector_score(method: str, watch: str, counts: dict[str, float]) -> float:
    expected = baselines()[watch]
    labels = list(expected)
    return evaluate(
        method,
        np.array([expected[label] for label in labels]),
        np.array([counts[label] for label in labels]),
    ).score


@dataclass
class Fleet:
    replicas: list[Replica]
    prometheus: str
    #: (watched value, bin) -> count summed over the replicas, read from each one's /metrics.
    truth: dict[tuple[str, str], float]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Two replicas of one service (version 1.0.0 steady, 2.0.0 drifted), one Prometheus."""
    tmp_path = tmp_path_factory.mktemp("fleet")
    rules = tmp_path / "rules.yml"
    assert (
        main(["rules", str(FLEET_FILE), "--window", WINDOW, "--for", "0s", "-o", str(rules)]) == 0
    )
    replicas = [
        start_replica(
            tmp_path,
            f"replica-{i}",
            FLEET_FILE,
            {"OTEL_RESOURCE_ATTRIBUTES": f"service.version={version}"},
        )
        for i, version in enumerate(("1.0.0", "2.0.0"))
    ]
    try:
        for replica in replicas:
            wait_until_exporting(replica)
        with prometheus(tmp_path, [r.target for r in replicas], [rules]) as base:
            client = PrometheusClient(base)
            bins = sum(len(b) for b in baselines().values())

            def scraped_zeros() -> bool:
                found = client.query("count(drift_bin_count_total)")
                return bool(found) and found[0].points[0][1] == 2 * bins

            # Both replicas scraped while every bin is still 0, so increase()
            # starts from a zero sample.
            wait_for(scraped_zeros, 30, "Prometheus to scrape both replicas")
            generator = traffic()
            # One replica sees baseline-like traffic, the other drifted traffic:
            # only the merged counts say what the fleet as a whole looks like.
            generator.run(replicas[0].base, REQUESTS, 0, concurrency=16, seed=3)
            generator.run(replicas[1].base, 0, REQUESTS, concurrency=16, seed=4)

            def settled() -> dict[tuple[str, str], float] | None:
                per_replica = [scraped_bin_counts(r) for r in replicas]
                for counts in per_replica:
                    if sum(c for (w, _), c in counts.items() if w == "latency") < REQUESTS:
                        return None
                return {key: sum(c.get(key, 0.0) for c in per_replica) for key in per_replica[0]}

            truth = wait_for(settled, 30, "both replicas to count every request")

            def prometheus_has_truth() -> bool:
                series = client.query("sum by (drift_attribute, drift_bin) (drift_bin_count_total)")
                seen = {
                    (s.labels["drift_attribute"], s.labels["drift_bin"]): s.points[0][1]
                    for s in series
                }
                return seen == truth

            wait_for(prometheus_has_truth, 30, "Prometheus to scrape the final counts")
            # Let the rule group evaluate on the final counts.
            time.sleep(2.5)
            yield Fleet(replicas, base, truth)
    finally:
        for replica in replicas:
            replica.stop()


def test_rules_pass_promtool(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    rules = tmp_path / "rules.yml"
    assert main(["rules", str(FLEET_FILE), "--window", WINDOW, "-o", str(rules)]) == 0
    checked = subprocess.run(
        [promtool, "check", "rules", "--lint=all", "--lint-fatal", str(rules)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 17 rules found" in checked.stdout
    text = rules.read_text()
    assert "increase(drift_bin_count_total" in text and "for: 5m" in text
    assert "severity: critical" in text and "severity: warning" in text


def _recorded_counts(client: PrometheusClient, at: float) -> dict[str, dict[str, float]]:
    found: dict[str, dict[str, float]] = {}
    for series in client.query(RuleNames(WINDOW).counts, at):
        watch = series.labels[pq.ATTRIBUTE_LABEL]
        found.setdefault(watch, {})[series.labels[pq.BIN_LABEL]] = series.points[0][1]
    return found


def _lifetime_score(client: PrometheusClient, method: str, watch: str, at: float) -> float:
    """The rules' formula on the exact lifetime sums: no increase() extrapolation."""
    group = ("job", pq.EXPECTATION_LABEL, pq.ATTRIBUTE_LABEL)
    lifetime = (
        f"sum by ({', '.join(group)}, {pq.BIN_LABEL}) "
        f'({pq.BIN_COUNT}{{{pq.ATTRIBUTE_LABEL}="{watch}"}})'
    )
    promql = pq.SCORE_EXPRESSIONS[method](
        f"({pq.fractions_expr(lifetime, group)})", f"({RuleNames(WINDOW).baseline})", group
    )
    (series,) = client.query(promql, at)
    return series.points[0][1]


METHODS = {
    "latency": "psi",
    "latency_hellinger": "hellinger",
    "status": "jensen_shannon",
    "status_linf": "linf",
}


@pytest.mark.parametrize(("watch", "method"), METHODS.items())
def test_fleet_score_equals_detector_on_merged_counts(
    fleet: Fleet, watch: str, method: str
) -> None:
    client = PrometheusClient(fleet.prometheus)
    # One evaluation's outputs, a moment in the past: that evaluation is complete.
    at = time.time() - 1.0
    counts = _recorded_counts(client, at)[watch]
    (recorded,) = client.query(
        f'{RuleNames(WINDOW).score(method)}{{drift_attribute="{watch}"}}', at
    )
    assert recorded.points[0][1] == pytest.approx(detector_score(method, watch, counts), abs=1e-6)
    truth = {b: c for (w, b), c in fleet.truth.items() if w == watch}
    assert _lifetime_score(client, method, watch, at) == pytest.approx(
        detector_score(method, watch, truth), abs=1e-6
    )
    # increase() scales each replica's counts by (sampled + extrapolated) / sampled
    # time: here up to ~1 s over a ~10 s old series, so a loose bound.
    assert sum(counts.values()) == pytest.approx(sum(truth.values()), rel=0.3)
    assert detector_score(method, watch, truth) > 0.0


def test_fleet_alert_fires_with_severity(fleet: Fleet) -> None:
    client = PrometheusClient(fleet.prometheus)
    # The drifted replica drives the fleet's latency over the critical threshold.
    alerts = wait_for(
        lambda: client.query('ALERTS{alertname="DriftCritical", alertstate="firing"}'),
        20,
        "the fleet DriftCritical alert to fire",
    )
    assert "latency" in {a.labels["drift_attribute"] for a in alerts}
    assert {a.labels["severity"] for a in alerts} == {"critical"}


def _gate(fleet: Fleet, *extra: str) -> tuple[int, str, str]:
    completed = subprocess.run(
        [
            str(BIN / "otel-drift"),
            "gate",
            "--prometheus",
            fleet.prometheus,
            "--since",
            "5m",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return completed.returncode, completed.stdout, completed.stderr


def test_gate_fails_the_drifted_version(fleet: Fleet) -> None:
    code, out, err = _gate(fleet, "--service", "checkout", "--version", "2.0.0")
    assert code == 1, out + err
    assert "verdict: FAIL" in out
    assert "FAIL checkout.latency" in out and "worst critical" in out


def test_gate_passes_the_steady_version(fleet: Fleet) -> None:
    # The status-code mix only: on a loaded 2-core machine the steady
    # replica's latency itself can drift (CPU contention adds milliseconds).
    code, out, err = _gate(
        fleet, "--service", "checkout", "--version", "1.0.0", "--watch", "status"
    )
    assert code == 0, out + err
    assert "verdict: PASS: none of 1 watched values" in out and "checkout.status " in out
    code, out, err = _gate(
        fleet, "--service", "checkout", "--version", "2.0.0", "--watch", "status"
    )
    assert code == 1 and "FAIL checkout.status" in out, out + err


def test_gate_exits_2_without_data_or_prometheus(fleet: Fleet) -> None:
    code, _, err = _gate(fleet, "--service", "no-such-service")
    assert code == 2 and "no drift_status series" in err
    code, _, err = _gate(fleet, "--since", "soon")
    assert code == 2 and "not a duration" in err
    unreachable = subprocess.run(
        [str(BIN / "otel-drift"), "gate", "--prometheus", f"http://127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert unreachable.returncode == 2 and "cannot query Prometheus" in unreachable.stderr


def test_dashboard_queries_run_on_prometheus(fleet: Fleet) -> None:
    """Every query of the Grafana dashboard parses and finds the fleet's data."""
    dashboard = build_dashboard(load_expectations(FLEET_FILE), WINDOW)
    client = PrometheusClient(fleet.prometheus)
    targets = [t for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(targets) == 4 * 5
    for target in targets:
        expr = target["expr"].replace("$__range", "5m").replace('"$job"', '".*"')
        assert client.query(expr), expr


def test_report_reads_prometheus(fleet: Fleet, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    code = main(
        [
            "report",
            "--prometheus",
            fleet.prometheus,
            "--since",
            "5m",
            "--combine",
            "-o",
            str(report),
        ]
    )
    assert code == 0
    html = report.read_text()
    assert "checkout.latency_hellinger" in html and html.count("<svg") == 4 * 3
    assert "2 processes combined" in html
