"""``otel-drift report --prometheus`` after the service stopped: counts from the range's end.

Two replicas of the demo export drift metrics; a real Prometheus scrapes
them; then both stop, so Prometheus marks their series stale and a query at
"now" finds nothing. The report must still show each replica's bin counts
(the last samples in the range), keep the replicas apart unless told to
combine them, and honour ``--end``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from otel_drift._internal.cli.main import main
from otel_drift._internal.cli.prometheus import PrometheusClient
from tests.backends.support import (
    prometheus,
    start_replica,
    traffic,
    wait_for,
    wait_until_exporting,
)

pytestmark = pytest.mark.e2e

FLEET_FILE = Path(__file__).resolve().parent / "fleet_expectations.yaml"
REQUESTS = 300
LATENCY = 'drift_bin_count_total{drift_attribute="latency"}'


def _live_totals(html: str, watch: str) -> list[int]:
    """The "live (N values)" legend of each lifetime chart of ``watch``, in page order."""
    found = []
    for section in html.split("<section id=")[1:]:
        if f'.checkout.{watch}"' in section.split(">")[0]:
            found += [int(n) for n in re.findall(r"live \((\d+) values\)", section)]
    return found


def test_report_of_a_stopped_fleet(tmp_path: Path) -> None:
    replicas = [start_replica(tmp_path, f"replica-{i}", FLEET_FILE) for i in range(2)]
    try:
        for replica in replicas:
            wait_until_exporting(replica)
        with prometheus(tmp_path, [r.target for r in replicas], []) as base:
            client = PrometheusClient(base)
            wait_for(
                lambda: len(client.query(f"count by (instance) ({LATENCY})")) == 2,
                30,
                "Prometheus to scrape both replicas",
            )
            before_traffic = time.time()
            generator = traffic()
            generator.run(replicas[0].base, REQUESTS, 0, concurrency=16, seed=3)
            generator.run(replicas[1].base, 0, REQUESTS, concurrency=16, seed=4)

            def counted() -> bool:
                series = client.query(f"sum by (instance) ({LATENCY})")
                return len(series) == 2 and all(s.points[0][1] == REQUESTS for s in series)

            wait_for(counted, 30, "Prometheus to scrape every request")
            for replica in replicas:
                replica.stop()
            # Failed scrapes mark the series stale: "now" has no bin counts any more.
            wait_for(lambda: not client.query(LATENCY), 30, "the stopped replicas' series to go")

            report = tmp_path / "report.html"
            args = ["report", "--prometheus", base, "--since", "10m", "-o", str(report)]
            assert main(args) == 0
            html = report.read_text()
            assert "no bin counts" not in html
            assert "2 processes (service.instance.id), shown apart" in html
            # One panel per replica, each with its own last counts in the range.
            assert _live_totals(html, "latency") == [REQUESTS, REQUESTS]
            assert html.count('.checkout.latency"') == 2

            assert main([*args, "--combine"]) == 0
            html = report.read_text()
            assert "2 processes combined" in html
            assert _live_totals(html, "latency") == [2 * REQUESTS]

            # A range ending before the traffic: the counts of that moment.
            assert main([*args, "--combine", "--end", f"{before_traffic:.3f}"]) == 0
            assert _live_totals(report.read_text(), "latency") == [0]
            assert main([*args, "--start", "2030-01-01T00:00:00Z", "--end", "1700000000"]) == 2
    finally:
        for replica in replicas:
            replica.stop()
