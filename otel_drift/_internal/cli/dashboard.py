"""``otel-drift dashboard``: a Grafana dashboard (JSON) for an expectations file.

One row per expectation; per watched value: its status (a stat panel with
ok/warning/critical mappings), each replica's score and the fleet score of
``otel-drift rules`` against the thresholds, and the baseline vs the live
distribution over the dashboard's time range. Import it in Grafana
(Dashboards > Import) and pick the Prometheus data source.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from otel_drift._internal.cli import promql as pq
from otel_drift._internal.cli.registry import EXIT_FAILED, EXIT_OK, command
from otel_drift._internal.cli.rules import RuleNames, fleet_method
from otel_drift._internal.expectations.errors import ExpectationsError
from otel_drift._internal.expectations.load import load_expectations
from otel_drift._internal.expectations.model import ExpectationsFile, Watch

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
_STATUS_COLORS = ("green", "yellow", "red")


def _target(expr: str, legend: str, ref: str, **extra: Any) -> dict[str, Any]:
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref, **extra}


def _thresholds(warning: float, critical: float) -> dict[str, Any]:
    return {
        "mode": "absolute",
        "steps": [
            {"color": "green", "value": None},
            {"color": "yellow", "value": warning},
            {"color": "red", "value": critical},
        ],
    }


def _panels(expectation: str, watch: Watch, y: int, window: str, ids: list[int]) -> list[Any]:
    selector = (
        f'{pq.EXPECTATION_LABEL}="{expectation}", {pq.ATTRIBUTE_LABEL}="{watch.name}", job=~"$job"'
    )
    where = f"{expectation}.{watch.name}"
    method = fleet_method(watch.method)
    names = RuleNames(window)

    def next_id() -> int:
        ids.append(len(ids) + 1)
        return ids[-1]

    status = {
        "id": next_id(),
        "type": "stat",
        "title": f"{where} status",
        "datasource": DATASOURCE,
        "gridPos": {"x": 0, "y": y, "w": 4, "h": 8},
        "targets": [_target(f"max({pq.STATUS}{{{selector}}})", "status", "A")],
        "fieldConfig": {
            "defaults": {
                "mappings": [
                    {
                        "type": "value",
                        "options": {
                            str(code): {"text": name, "color": _STATUS_COLORS[code]}
                            for code, name in enumerate(("ok", "warning", "critical"))
                        },
                    }
                ],
                "thresholds": _thresholds(1, 2),
                "color": {"mode": "thresholds"},
            },
            "overrides": [],
        },
        "options": {"colorMode": "background", "reduceOptions": {"calcs": ["lastNotNull"]}},
    }
    scores = {
        "id": next_id(),
        "type": "timeseries",
        "title": f"{where}: {watch.method} score per replica, {method} fleet",
        "datasource": DATASOURCE,
        "gridPos": {"x": 4, "y": y, "w": 10, "h": 8},
        "targets": [
            _target(f"{pq.SCORE}{{{selector}}}", "{{instance}}", "A"),
            _target(f"{names.score(method)}{{{selector}}}", "fleet {{job}}", "B"),
        ],
        "fieldConfig": {
            "defaults": {
                "thresholds": _thresholds(watch.warning, watch.critical),
                "custom": {"thresholdsStyle": {"mode": "dashed"}},
            },
            "overrides": [],
        },
    }
    distribution = {
        "id": next_id(),
        "type": "barchart",
        "title": f"{where}: baseline vs live over the time range",
        "datasource": DATASOURCE,
        "gridPos": {"x": 14, "y": y, "w": 10, "h": 8},
        "targets": [
            _target(
                f"max by ({pq.BIN_LABEL}) ({pq.BASELINE_FRACTION}{{{selector}}})",
                "baseline",
                "A",
                format="table",
                instant=True,
            ),
            _target(
                f"sum by ({pq.BIN_LABEL}) (increase({pq.BIN_COUNT}{{{selector}}}[$__range])) "
                f"/ scalar(sum(increase({pq.BIN_COUNT}{{{selector}}}[$__range])))",
                "live",
                "B",
                format="table",
                instant=True,
            ),
        ],
        "transformations": [
            {"id": "joinByField", "options": {"byField": pq.BIN_LABEL, "mode": "outer"}},
            {
                "id": "organize",
                "options": {
                    "renameByName": {"Value #A": "baseline", "Value #B": "live"},
                    "excludeByName": {"Time 1": True, "Time 2": True},
                },
            },
        ],
        "options": {"xField": pq.BIN_LABEL, "orientation": "vertical"},
    }
    return [status, scores, distribution]


def build_dashboard(expectations: ExpectationsFile, window: str = "5m") -> dict[str, Any]:
    panels: list[Any] = []
    ids: list[int] = []
    y = 0
    for expectation in expectations.expectations:
        ids.append(len(ids) + 1)
        panels.append(
            {
                "id": ids[-1],
                "type": "row",
                "title": f"expectation {expectation.name}",
                "collapsed": False,
                "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
                "panels": [],
            }
        )
        y += 1
        for watch in expectation.watch:
            if watch.baseline is None:
                continue
            panels.extend(_panels(expectation.name, watch, y, window, ids))
            y += 8
    return {
        "title": "otel-drift",
        "uid": "otel-drift",
        "tags": ["otel-drift", "drift"],
        "schemaVersion": 39,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus"},
                {
                    "name": "job",
                    "type": "query",
                    "datasource": DATASOURCE,
                    "query": f"label_values({pq.STATUS}, job)",
                    "includeAll": True,
                    "multi": True,
                    "current": {"text": "All", "value": "$__all"},
                },
            ]
        },
        "panels": panels,
    }


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("expectations", help="expectations file (YAML or JSON)")
    parser.add_argument("-o", "--output", help="write the JSON here (default: stdout)")
    parser.add_argument(
        "--window", default="5m", help="the window given to `otel-drift rules` (default: 5m)"
    )


@command("dashboard", "write a Grafana dashboard (JSON) for an expectations file", _arguments)
def dashboard_command(args: argparse.Namespace) -> int:
    try:
        expectations = load_expectations(args.expectations)
    except ExpectationsError as error:
        print(error, file=sys.stderr)
        return EXIT_FAILED
    text = json.dumps(build_dashboard(expectations, args.window), indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK
