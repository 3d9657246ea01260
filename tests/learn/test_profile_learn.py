"""``baseline --from-traces --profile``: an hour-of-day profile learned from a recording, judged.

A synthetic day of a service recorded as the ``otlp_json_file`` exporter
writes it (OTLP/JSON lines): one route, lognormal latency twice as slow at
night (00:00-05:59 UTC) as by day, traffic lighter at night. The learned
files are then loaded into the engine on a clock the test sets, and night
windows are fed to it: each window's values are drawn for the hour it starts
in, the clock is set to the next window's start, then the values are fed and
flushed, so the window closes there (see tests/test_profiles.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from otel_drift._internal.cli.main import main
from otel_drift._internal.engine.core import DriftEngine
from otel_drift._internal.engine.results import WindowEvaluation
from otel_drift._internal.expectations.load import load_expectations
from tests.test_profiles import ManualClock

SECOND = 1_000_000_000
HOUR = 3600 * SECOND
#: Monday 2026-01-05 00:00 UTC.
MONDAY = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp()) * SECOND
WINDOW = 200
DAY_MEDIAN_MS, NIGHT_MEDIAN_MS, SIGMA = 40.0, 80.0, 0.35
#: Requests an hour by day and by night.
DAY_TRAFFIC, NIGHT_TRAFFIC = 1500, 1300
NAME = "route.items"


def night(hour: int) -> bool:
    return hour < 6


def latencies(rng: np.random.Generator, hour: int, n: int, factor: float = 1.0) -> np.ndarray:
    median = NIGHT_MEDIAN_MS if night(hour) else DAY_MEDIAN_MS
    return factor * rng.lognormal(np.log(median), SIGMA, n)


def _attribute(key: str, value: object) -> dict[str, Any]:
    if isinstance(value, str):
        return {"key": key, "value": {"stringValue": value}}
    return {"key": key, "value": {"intValue": str(value)}}


def write_day(folder: Path, hours: range = range(24), seed: int = 1) -> Path:
    """``hours`` of a day of ``GET /items`` server spans into ``folder/traces.jsonl``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "traces.jsonl"
    attributes = [
        _attribute(k, v)
        for k, v in {"http.method": "GET", "http.route": "/items", "http.status_code": 200}.items()
    ]
    resource = {"attributes": [_attribute("service.name", "shop")]}
    with path.open("w") as stream:
        for hour in hours:
            count = NIGHT_TRAFFIC if night(hour) else DAY_TRAFFIC
            starts = MONDAY + hour * HOUR + np.sort(rng.integers(0, HOUR, count))
            spans = [
                {
                    "traceId": "0" * 32,
                    "spanId": "0" * 16,
                    "name": "GET /items",
                    "kind": 2,
                    "startTimeUnixNano": str(int(start)),
                    "endTimeUnixNano": str(int(start + duration * 1e6)),
                    "attributes": attributes,
                    "status": {},
                }
                for start, duration in zip(starts, latencies(rng, hour, count), strict=True)
            ]
            scope = {"scope": {"name": "opentelemetry.instrumentation.flask"}, "spans": spans}
            request = {"resourceSpans": [{"resource": resource, "scopeSpans": [scope]}]}
            stream.write(json.dumps(request, separators=(",", ":")) + "\n")
    return path


@pytest.fixture(scope="module")
def learned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The day learned with an hour-of-day profile and flat (without --profile); and
    office hours (08:00-17:59) learned flat, as a team recording an afternoon would."""
    folder = tmp_path_factory.mktemp("profile")
    write_day(folder / "day")
    write_day(folder / "office", range(8, 18))
    files = {}
    for kind, recording, extra in (
        ("profile", "day", ["--profile", "hour-of-day"]),
        ("flat", "day", []),
        ("office", "office", []),
    ):
        out = files[kind] = folder / f"{kind}.yaml"
        argv = ["baseline", "--from-traces", str(folder / recording), "-o", str(out)]
        argv.append("--no-progress")
        assert main([*argv, "--window", str(WINDOW), *extra]) == 0
        assert main(["validate", str(out)]) == 0
    return files


def run_windows(
    path: Path, starts: list[int], draw: Callable[[int, int], np.ndarray]
) -> list[WindowEvaluation]:
    """One window of the route's latency per start time, judged by the file at ``path``."""
    clock = ManualClock(starts[0])
    engine = DriftEngine(load_expectations(path), clock=clock)
    closed: list[WindowEvaluation] = []
    engine.add_listener(
        lambda window: closed.append(window) if window.expectation == NAME else None
    )
    for k, start in enumerate(starts):
        values = draw(k, start)
        clock.now_ns = starts[k + 1] if k + 1 < len(starts) else start + 15 * 60 * SECOND
        assert engine.observe(NAME, {"latency": values})
        assert engine.force_flush()
    engine.shutdown()
    assert [w.start_time_ns for w in closed] == starts
    return closed


def latency_of(window: WindowEvaluation) -> Any:
    (watch,) = [w for w in window.watches if w.watch == "latency"]
    return watch


def night_starts(count: int = 24) -> list[int]:
    """Every 15 minutes from midnight: up to 05:45."""
    return [MONDAY + k * 15 * 60 * SECOND for k in range(count)]


def hour_of(ns: int) -> int:
    return datetime.fromtimestamp(ns // SECOND, UTC).hour


def test_the_learned_profile_has_a_slot_per_hour_sharing_edges(learned: dict[str, Path]) -> None:
    document = yaml.safe_load(learned["profile"].read_text())
    (items,) = [e for e in document["expectations"] if e["name"] == NAME]
    baseline = items["watch"]["latency"]["baseline"]
    assert (baseline["profile"], baseline["timezone"]) == ("hour_of_day", "UTC")
    slots = baseline["slots"]
    assert sorted(slots) == list(range(24))
    assert len({tuple(slot["bins"]) for slot in slots.values()}) == 1
    assert all(slot["reference"]["windows"] >= 5 for slot in slots.values())
    assert slots[3]["samples"] == NIGHT_TRAFFIC and slots[12]["samples"] == DAY_TRAFFIC
    # The status mix is a profile too.
    assert items["watch"]["status"]["baseline"]["slots"][3]["categories"] == {"2xx": 1.0}
    (loaded,) = [e for e in load_expectations(learned["profile"]).expectations if e.name == NAME]
    # A synthetic day varies by sampling noise alone: its slots' pooled reference
    # gives way to the defaults and the significance gate (expectations/noise.py).
    assert loaded.watch[0].thresholds == "default"


def test_night_windows_are_quiet_against_the_profile_and_alarm_against_a_flat_baseline(
    learned: dict[str, Path],
) -> None:
    starts = night_starts()

    def draw(k: int, start: int) -> np.ndarray:
        return latencies(np.random.default_rng(100 + k), hour_of(start), WINDOW)

    profiled = [latency_of(w) for w in run_windows(learned["profile"], starts, draw)]
    assert all(w.score is not None for w in profiled)
    assert [w.status for w in profiled] == [0] * len(starts), [w.score for w in profiled]
    # Flat, learned from office hours: every night window alarms.
    office = [latency_of(w) for w in run_windows(learned["office"], starts, draw)]
    assert sum(w.status == 2 for w in office) >= len(starts) - 1, [w.status for w in office]
    # Flat, learned from the same whole day: the night scores ten times higher than
    # against the profile, so its learned thresholds had to widen to keep the night quiet.
    flat = [latency_of(w) for w in run_windows(learned["flat"], starts, draw)]
    median = float(np.median([w.score for w in flat]))
    assert median > 10 * float(np.median([w.score for w in profiled]))
    assert flat[0].warning > median > 5 * profiled[0].warning


def test_a_real_change_at_night_is_still_caught_against_the_profile(
    learned: dict[str, Path],
) -> None:
    starts = night_starts(8)

    def slower_from_4(k: int, start: int) -> np.ndarray:
        rng = np.random.default_rng(1000 + k)
        return latencies(rng, hour_of(start), WINDOW, 1.3 if k >= 4 else 1.0)

    statuses = [
        latency_of(w).status for w in run_windows(learned["profile"], starts, slower_from_4)
    ]
    assert statuses[:4] == [0, 0, 0, 0], statuses
    assert 2 in statuses[4:6], statuses
