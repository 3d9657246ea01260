"""``baseline --from-traces ... --update EXISTING``: new baselines, the user's edits kept.

A service is learned from one recording; the file is then edited as a team
would (a threshold and a method declared, a constraint, a rename, an edited
match, a hand-written expectation, one expectation deleted) and updated from
a second recording in which ``/orders`` is 30 % slower.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks.learn_traces import write_recording
from otel_drift._internal.cli.main import main
from otel_drift._internal.expectations.load import load_expectations

CHECKOUT: dict[str, Any] = {
    "name": "checkout",
    "match": {"span_kind": "server", "attributes": {"http.route": "/checkout"}},
    "watch": {
        "status": {
            "source": "http.status_class",
            "baseline": {"categories": {"2xx": 0.99, "5xx": 0.01}},
            "warning": 0.05,
            "critical": 0.1,
        }
    },
}
SEARCH_MATCH = {
    "span_kind": "server",
    "span_name": "GET /search",
    "attributes": {"http.route": "/search"},
}


def _learn(folder: Path, out: Path, *extra: str) -> None:
    argv = ["baseline", "--from-traces", str(folder), "-o", str(out), "--no-progress"]
    assert main([*argv, "--window", "100", *extra]) == 0


def _by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in document["expectations"]}


def _edit(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    entries = _by_name(document)
    orders = entries["route.orders"]["watch"]
    orders["latency"].update(warning=0.3, critical=0.6)
    orders["status"]["method"] = "hellinger"
    entries["route.search"]["watch"]["latency"]["constraints"] = {"min": 0, "max": 60000}
    entries["route.search"]["match"] = SEARCH_MATCH  # found again by its name
    entries["client.127.0.0.1"]["name"] = "upstream"  # found again by its match
    document["expectations"] = [
        e for e in document["expectations"] if e["name"] != "route.profile_int_user"
    ] + [CHECKOUT]
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return document


def test_update_keeps_edits_and_refreshes_baselines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before, after = tmp_path / "before", tmp_path / "after"
    write_recording(before, 6000)
    write_recording(after, 6000, seed=2, slow="/orders")
    path = tmp_path / "shop.yaml"
    _learn(before, path)
    assert "route.profile_int_user" in _by_name(yaml.safe_load(path.read_text()))
    edited = _by_name(_edit(path))
    capsys.readouterr()

    _learn(after, path, "--update", str(path), "--force")
    message = capsys.readouterr().err
    assert "4 relearned" in message and "1 added" in message, message
    assert "1 untouched (checkout)" in message, message
    edits = "edits kept: thresholds 1, method 1, constraints 1, name 1, match 1"
    assert edits in message, message
    text = path.read_text()
    assert text.startswith("# Learned by otel-drift") and f"# Updated from {path}:" in text
    entries = _by_name(yaml.safe_load(text))
    # EXISTING's order, then what was added.
    assert list(entries) == [*edited, "route.profile_int_user"]

    orders = entries["route.orders"]
    latency = orders["watch"]["latency"]
    assert (latency["warning"], latency["critical"]) == (0.3, 0.6)
    # The baseline is the slower recording's: its median 30 % higher, its bins new.
    old = edited["route.orders"]
    assert orders["learned"]["p50_ms"] > 1.2 * old["learned"]["p50_ms"]
    assert latency["baseline"]["bins"] != old["watch"]["latency"]["baseline"]["bins"]
    assert latency["baseline"]["reference"]["windows"] >= 5
    # A declared method is kept, and the reference is scored with it.
    status = orders["watch"]["status"]
    assert (
        status["method"] == "hellinger" and status["baseline"]["reference"]["method"] == "hellinger"
    )

    search = entries["route.search"]
    assert search["match"] == SEARCH_MATCH
    assert search["watch"]["latency"]["constraints"] == {"min": 0, "max": 60000}
    assert search["learned"]["spans"] != edited["route.search"]["learned"]["spans"]
    upstream = entries["upstream"]["watch"]["latency"]["baseline"]
    assert upstream != edited["upstream"]["watch"]["latency"]["baseline"]
    assert entries["checkout"] == CHECKOUT

    assert main(["validate", str(path)]) == 0
    loaded = {e.name: e for e in load_expectations(path).expectations}
    (orders_latency, _) = loaded["route.orders"].watch
    assert orders_latency.thresholds == "declared"
    # Not kept from the edited file: placed by the new recording's reference
    # (a synthetic recording varies by sampling noise alone, so the defaults).
    assert search["watch"]["latency"]["baseline"]["reference"]["windows"] >= 5
    assert loaded["route.search"].watch[0].thresholds == "default"


def test_update_refuses_an_invalid_existing_file_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "rec"
    write_recording(folder, 3000)
    existing = tmp_path / "old.yaml"
    existing.write_text("version: 1\nexpectations:\n  - name: x\n    watch: {}\n")
    out = tmp_path / "new.yaml"
    argv = ["baseline", "--from-traces", str(folder), "-o", str(out), "--no-progress"]
    assert main([*argv, "--update", str(existing)]) != 0
    err = capsys.readouterr().err
    assert "--update needs a valid file" in err and str(existing) in err
    assert "expectations[0]" in err and "Fix:" in err
    assert not out.exists()
