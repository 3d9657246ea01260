"""Profiles: a baseline per hour of the day or week, each window judged by the slot it starts in.

Latency here is lognormal and twice as slow at night (00:00-05:59) as by day;
the profile is learned in the test from such data. The engine runs on a
clock the test sets, so a night of windows takes well under a second: each
window's values are drawn for the hour it starts in, the clock is set to the
next window's start, then the values are fed and flushed, so the window closes
there and the next one starts there.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_drift import DriftSpanProcessor, Settings, loads_expectations
from otel_drift._internal.cli.main import main as cli_main
from otel_drift._internal.engine.core import DriftEngine
from otel_drift._internal.engine.results import WindowEvaluation
from otel_drift._internal.expectations.model import BinnedBaseline, CategoricalBaseline
from otel_drift._internal.expectations.profiles import (
    merge_sparse_slots,
    nearest_slots,
    profile_baseline,
    slot_key,
    slot_number,
    slot_of,
)
from otel_drift._internal.semconv import EVALUATION_SPAN, STATUS
from otel_drift.expectations import ExpectationsError

SECOND = 1_000_000_000
HOUR = 3600 * SECOND
#: Monday 2026-01-05 00:00 UTC.
MONDAY = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp()) * SECOND
WINDOW = 500
DAY_MEDIAN_MS, NIGHT_MEDIAN_MS, SIGMA = 40.0, 80.0, 0.35


class ManualClock:
    """The engine's clock, set by the test (``engine/clock.py``)."""

    def __init__(self, now_ns: int) -> None:
        self.now_ns = now_ns

    def time_ns(self) -> int:
        return self.now_ns

    def monotonic(self) -> float:
        return self.now_ns / SECOND


def median_ms(hour: int) -> float:
    return NIGHT_MEDIAN_MS if hour < 6 else DAY_MEDIAN_MS


def latencies(rng: np.random.Generator, hour: int, n: int, factor: float = 1.0) -> np.ndarray:
    return factor * rng.lognormal(np.log(median_ms(hour)), SIGMA, n)


def learned_profile(seed: int = 1, per_hour: int = 4000) -> dict[str, Any]:
    """An hour_of_day profile learned from a day of recorded latencies: shared edges at
    the pooled deciles with open outer bins, each hour's own fractions."""
    rng = np.random.default_rng(seed)
    recorded = {hour: latencies(rng, hour, per_hour) for hour in range(24)}
    pooled = np.concatenate(list(recorded.values()))
    inner = np.quantile(pooled, np.linspace(0.1, 0.9, 9)).round(2)
    edges = [0.0, *inner.tolist(), 60_000.0]
    slots = {}
    for hour, values in recorded.items():
        counts, _ = np.histogram(values, bins=edges)
        slots[hour] = {
            "bins": edges,
            "fractions": (counts / counts.sum()).tolist(),
            "samples": int(counts.sum()),
        }
    return profile_baseline("hour_of_day", slots)


def document(baseline: Mapping[str, Any], source: str = "span.duration") -> str:
    """One expectation watching ``latency`` (or a label when ``source`` is an attribute)."""
    read = {"attribute": source} if "." not in source else {"source": source}
    return json.dumps(
        {
            "version": 1,
            "expectations": [
                {
                    "name": "api",
                    "match": {"span_kind": "server"},
                    "window": {"spans": WINDOW},
                    "min_samples": 100,
                    "watch": {"latency": {**read, "baseline": baseline}},
                }
            ],
        }
    )


def engine_for(baseline: Mapping[str, Any], clock: ManualClock) -> DriftEngine:
    return DriftEngine(loads_expectations(document(baseline)), clock=clock)


def run_windows(
    engine: DriftEngine,
    clock: ManualClock,
    starts: list[int],
    draw: Callable[[int, int], np.ndarray],
) -> list[WindowEvaluation]:
    """One window per start time (the first is the clock's now): ``draw(k, start)``
    gives window k's values; it closes at the next start."""
    assert clock.now_ns == starts[0]
    closed: list[WindowEvaluation] = []
    engine.add_listener(closed.append)
    for k, start in enumerate(starts):
        values = draw(k, start)
        clock.now_ns = starts[k + 1] if k + 1 < len(starts) else start + 15 * 60 * SECOND
        assert engine.observe("api", {"latency": values})
        assert engine.force_flush()
    engine.shutdown()
    assert len(closed) == len(starts)
    assert [w.start_time_ns for w in closed] == starts
    return closed


def night_starts(count: int = 24, first: int = MONDAY) -> list[int]:
    """Every 15 minutes from midnight: 24 windows up to 05:45."""
    return [first + k * 15 * 60 * SECOND for k in range(count)]


def hour_utc(ns: int) -> int:
    return datetime.fromtimestamp(ns // SECOND, UTC).hour


# -- the engine -----------------------------------------------------------------


def test_night_windows_stay_quiet_against_the_profile_and_alarm_against_a_flat_baseline() -> None:
    profile = learned_profile()
    starts = night_starts()
    assert all(hour_utc(start) < 6 for start in starts)

    def night(_: int, start: int) -> np.ndarray:
        return latencies(np.random.default_rng(start // SECOND), hour_utc(start), WINDOW)

    clock = ManualClock(starts[0])
    profiled = run_windows(engine_for(profile, clock), clock, starts, night)
    levels = [w.watches[0].level for w in profiled]
    assert all(w.watches[0].score is not None for w in profiled)
    assert levels == [0] * len(starts), levels

    # The same windows against a flat baseline: the day's (noon's slot).
    flat = profile["slots"][12]
    clock = ManualClock(starts[0])
    judged_flat = run_windows(engine_for(flat, clock), clock, starts, night)
    assert sum(w.watches[0].status == 2 for w in judged_flat) >= len(starts) - 1


def test_a_real_change_at_night_is_caught_within_two_windows() -> None:
    starts = night_starts(8)

    def slower_from_4(k: int, start: int) -> np.ndarray:
        rng = np.random.default_rng(1000 + k)
        return latencies(rng, hour_utc(start), WINDOW, 1.3 if k >= 4 else 1.0)

    clock = ManualClock(starts[0])
    closed = run_windows(engine_for(learned_profile(), clock), clock, starts, slower_from_4)
    statuses = [w.watches[0].status for w in closed]
    assert statuses[:4] == [0, 0, 0, 0], statuses
    assert 2 in statuses[4:6], statuses


def test_each_window_is_judged_by_the_slot_its_start_falls_in_by_day_and_by_night() -> None:
    # 22:00 to 08:00, a window every 30 minutes: the night slots and the day ones.
    first = MONDAY - 2 * HOUR
    starts = [first + k * 30 * 60 * SECOND for k in range(20)]

    def hourly(k: int, start: int) -> np.ndarray:
        return latencies(np.random.default_rng(77 + k), hour_utc(start), WINDOW)

    clock = ManualClock(starts[0])
    engine = engine_for(learned_profile(), clock)
    closed = run_windows(engine, clock, starts, hourly)
    assert [w.watches[0].level for w in closed] == [0] * len(starts)
    # The open window (it started at 07:45) is judged by the 07:00 slot.
    (state,) = engine.watch_states()
    assert state.watch.profile is not None
    assert state.watch.baseline == state.watch.profile.slots[7]


def test_a_window_due_by_time_closes_by_the_engines_clock() -> None:
    profile = learned_profile()
    text = document(profile).replace('"window": {"spans": 500}', '"window": {"seconds": 60}')
    clock = ManualClock(MONDAY)
    engine = DriftEngine(loads_expectations(text), Settings(flush_interval_s=0.05), clock=clock)
    closed = threading.Event()
    windows: list[WindowEvaluation] = []

    def listen(window: WindowEvaluation) -> None:
        windows.append(window)
        closed.set()

    engine.add_listener(listen)
    engine.start_worker()
    assert engine.observe("api", {"latency": latencies(np.random.default_rng(3), 0, 150)})
    # A minute passes on the engine's clock only: the worker's next pass closes the window.
    clock.now_ns += 61 * SECOND
    engine.wake()
    assert closed.wait(timeout=30)
    engine.shutdown()
    assert windows[0].spans == 150 and not windows[0].partial
    assert (windows[0].start_time_ns, windows[0].end_time_ns) == (MONDAY, MONDAY + 61 * SECOND)
    assert windows[0].watches[0].level == 0


def test_a_missing_slot_falls_back_to_the_nearest_given_one() -> None:
    profile = learned_profile()
    sparse = {**profile, "slots": {0: profile["slots"][0], 12: profile["slots"][12]}}
    table = nearest_slots("hour_of_day", [0, 12])
    assert (table[4], table[6], table[8], table[19]) == (0, 0, 12, 0)  # 6: a tie, the earlier

    # Night windows (slot 0 judges 00:00-06:59) stay quiet; 08:00 is judged by noon.
    starts = [*night_starts(12), MONDAY + 8 * HOUR]
    clock = ManualClock(starts[0])
    engine = engine_for(sparse, clock)

    def hourly(k: int, start: int) -> np.ndarray:
        return latencies(np.random.default_rng(5 + k), hour_utc(start), WINDOW)

    closed = run_windows(engine, clock, starts, hourly)
    assert [w.watches[0].level for w in closed] == [0] * len(starts)
    (state,) = engine.watch_states()
    assert state.watch.profile is not None
    assert state.watch.baseline == state.watch.profile.slots[12]


def test_hour_of_week_slots_follow_local_time_across_daylight_saving_changes() -> None:
    paris = ZoneInfo("Europe/Paris")

    def key(year: int, month: int, day: int, hour: int, minute: int) -> int | str:
        ns = int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()) * SECOND
        return slot_key("hour_of_week", slot_of("hour_of_week", paris, ns))

    # Spring forward, Sunday 2026-03-29: 02:00 CET is 03:00 CEST (UTC+2 from 01:00 UTC).
    assert key(2026, 3, 29, 0, 30) == "sun-01"
    assert key(2026, 3, 29, 1, 30) == "sun-03"
    # Fall back, Sunday 2026-10-25: 03:00 CEST is 02:00 CET again (UTC+1 from 01:00 UTC).
    assert key(2026, 10, 25, 0, 30) == "sun-02"
    assert key(2026, 10, 25, 1, 30) == "sun-02"
    # 09:00 in Paris is mon-09 in winter and in summer.
    assert key(2026, 1, 5, 8, 0) == key(2026, 7, 6, 7, 0) == "mon-09"

    # The engine across the spring change: sun-01 is mostly "a", sun-03 mostly "b".
    profile = {
        "profile": "hour_of_week",
        "timezone": "Europe/Paris",
        "slots": {
            "sun-01": {"categories": {"a": 0.9, "b": 0.1}},
            "sun-03": {"categories": {"a": 0.1, "b": 0.9}},
        },
    }
    text = document(profile, "mix")
    sunday = int(datetime(2026, 3, 29, tzinfo=UTC).timestamp()) * SECOND
    # Windows starting 00:00 to 02:45 UTC: local 01:00-01:45 CET, then 03:00-04:45 CEST.
    starts = [sunday + k * 15 * 60 * SECOND for k in range(12)]
    local_hours = [datetime.fromtimestamp(s // SECOND, paris).hour for s in starts]
    assert local_hours == [1] * 4 + [3] * 4 + [4] * 4

    def mix(k: int, start: int) -> np.ndarray:
        hour = datetime.fromtimestamp(start // SECOND, paris).hour
        share_a = 0.9 if hour == 1 else 0.1
        rng = np.random.default_rng(k)
        return np.where(rng.random(WINDOW) < share_a, "a", "b")

    clock = ManualClock(starts[0])
    engine = DriftEngine(loads_expectations(text), clock=clock)
    closed = run_windows(engine, clock, starts, mix)
    assert [w.watches[0].level for w in closed] == [0] * len(starts)


# -- the file ---------------------------------------------------------------------


def test_a_profile_loads_with_its_slots_aligned_and_pooled() -> None:
    profile = {
        "profile": "hour_of_day",
        "timezone": "Europe/Paris",
        "slots": {
            "9": {"categories": {"2xx": 0.99, "5xx": 0.01}, "samples": 9000},
            "3": {"categories": {"2xx": 0.98, "4xx": 0.02}, "samples": 1000},
        },
    }
    text = document(profile, "http.status_class")
    (watch,) = loads_expectations(text).expectations[0].watch
    assert watch.profile is not None and watch.profile.timezone == "Europe/Paris"
    night, day = watch.profile.slots[3], watch.profile.slots[9]
    assert isinstance(night, CategoricalBaseline) and isinstance(day, CategoricalBaseline)
    assert list(day.categories) == list(night.categories) == ["2xx", "5xx", "4xx"]
    assert day.categories["4xx"] == 0.0 and night.categories["5xx"] == 0.0
    # The pooled baseline weighs the slots by their samples.
    assert isinstance(watch.baseline, CategoricalBaseline)
    assert watch.baseline.categories["5xx"] == pytest.approx(0.009)
    assert watch.baseline.samples == 10_000


def test_learned_thresholds_of_a_profile_pool_the_windows_of_its_slots() -> None:
    profile = learned_profile()
    wide = {"window": 500, "windows": 40, "method": "psi", "mean": 0.06, "std": 0.02, "max": 0.12}
    narrow = {**wide, "mean": 0.03, "std": 0.01, "max": 0.07}
    profile["slots"][3]["reference"] = wide
    profile["slots"][14]["reference"] = narrow
    (watch,) = loads_expectations(document(profile)).expectations[0].watch
    assert watch.thresholds == "learned"
    # 80 windows: mean 0.045, std 0.0218 (the two means apart widen it), max 0.12;
    # placed on the root of PSI, a divergence: (0.2+4*0.0545)^2 = 0.172.
    assert (watch.warning, watch.critical) == (0.17157, 0.268846)
    alone = {**profile, "slots": {3: profile["slots"][3]}}
    (wide_only,) = loads_expectations(document(alone)).expectations[0].watch
    assert wide_only.warning < watch.warning


def _problems(baseline: Mapping[str, Any], source: str = "span.duration") -> list[str]:
    with pytest.raises(ExpectationsError) as caught:
        loads_expectations(document(baseline, source), path="profile.yaml")
    return [str(problem) for problem in caught.value.problems]


def test_validate_rejects_slots_with_different_bin_edges_naming_the_path() -> None:
    profile = learned_profile()
    profile["slots"][3] = {"bins": [0, 50, 100, 60000], "fractions": [0.3, 0.6, 0.1]}
    (problem,) = _problems(profile)
    assert problem.startswith('expectations[0].watch.latency.baseline.slots["3"].bins: gives the')
    assert 'but slot "0" gives [0, ' in problem
    assert 'Fix: use the bins of slot "0" in every slot' in problem


@pytest.mark.parametrize(
    ("change", "path", "text"),
    [
        (
            {"slots": {"25": {"categories": {"a": 1.0}}}},
            'baseline.slots["25"]',
            "its keys are an hour from 0 to 23",
        ),
        (
            {"profile": "hour_of_week", "slots": {"monday-09": {"categories": {"a": 1.0}}}},
            "baseline.slots.monday-09",
            "name the slot like mon-09 or sun-23",
        ),
        (
            {"timezone": "Europe/Pariss", "slots": {"1": {"categories": {"a": 1.0}}}},
            "baseline.timezone",
            "use an IANA name such as Europe/Paris",
        ),
        (
            {"slots": {"1": {"categories": {"a": 1.0}}, "2": {"bins": [0, 1], "fractions": [1]}}},
            'baseline.slots["2"]',
            "describe every slot the same way",
        ),
        (
            {"slots": {"1": {"categories": {"a": 0.5}}}},
            'baseline.slots["1"].categories',
            "the shares sum to 0.5",
        ),
        (
            {"slots": {"9": {"categories": {"a": 1.0}}, "09": {"categories": {"a": 1.0}}}},
            'baseline.slots["09"]',
            'names the same slot as "9"',
        ),
    ],
)
def test_validate_reports_profile_mistakes(change: Mapping[str, Any], path: str, text: str) -> None:
    profile = {"profile": "hour_of_day", **change}
    found = [p for p in _problems(profile, "mix") if "baseline" in p]
    prefix = "expectations[0].watch.latency."
    assert found and found[0].startswith(prefix + path), found
    assert text in found[0], found


def test_the_validate_command_names_the_file_and_the_path(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = learned_profile()
    profile["slots"][3]["bins"] = [0.0, 1.0, *profile["slots"][3]["bins"][2:]]
    path = tmp_path / "profile.yaml"
    path.write_text(document(profile))
    assert cli_main(["validate", str(path)]) != 0
    out = capsys.readouterr()
    shown = out.out + out.err
    assert str(path) in shown or "profile.yaml" in shown
    assert 'expectations[0].watch.latency.baseline.slots["3"].bins' in shown


# -- what the learner writes --------------------------------------------------------


def test_sparse_slots_merge_into_the_slot_that_would_judge_them_and_the_result_loads() -> None:
    profile = learned_profile(per_hour=400)
    slots: dict[int, dict[str, Any]] = {int(k): v for k, v in profile["slots"].items()}
    assert slot_number("hour_of_day", "05") == 5
    slots[5] = {**slots[5], "samples": 20}  # a thin dawn hour
    del slots[17]  # an hour never seen
    merged = merge_sparse_slots("hour_of_day", slots, 100)
    assert 5 not in merged and 4 in merged and 17 not in merged
    assert merged[4]["samples"] == slots[4]["samples"] + 20
    assert sum(merged[4]["fractions"]) == pytest.approx(1.0, abs=1e-9)
    loads_expectations(document(profile_baseline("hour_of_day", merged)))
    week = merge_sparse_slots("hour_of_week", {9: slots[9], 33: {**slots[9], "samples": 3}}, 100)
    assert list(week) == [9]
    written = profile_baseline("hour_of_week", week, "Europe/Paris")
    assert list(written["slots"]) == ["mon-09"]
    loaded = loads_expectations(document(written)).expectations[0].watch[0]
    assert loaded.profile is not None and isinstance(loaded.baseline, BinnedBaseline)


# -- through the SDK ------------------------------------------------------------------


def test_night_spans_through_the_span_processor_are_judged_by_their_slot() -> None:
    starts = night_starts(6) + [MONDAY + 12 * HOUR + k * 15 * 60 * SECOND for k in range(3)]
    clock = ManualClock(starts[0])
    provider = TracerProvider()
    exported = InMemorySpanExporter()
    processor = DriftSpanProcessor(
        loads_expectations(document(learned_profile())),
        settings=Settings(flush_interval_s=0.05),
        tracer_provider=provider,
        meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]),
        clock=clock,
    )
    provider.add_span_processor(processor)
    provider.add_span_processor(SimpleSpanProcessor(exported))
    tracer = provider.get_tracer("shop")
    for k, start in enumerate(starts):
        rng = np.random.default_rng(300 + k)
        # A window of 300 requests (fewer than window.spans: force_flush closes it).
        for offset, duration_ms in enumerate(latencies(rng, hour_utc(start), 300)):
            begin = start + offset * SECOND
            span = tracer.start_span("GET /items", kind=SpanKind.SERVER, start_time=begin)
            span.end(end_time=begin + int(duration_ms * 1e6))
        clock.now_ns = starts[k + 1] if k + 1 < len(starts) else start + HOUR
        assert processor.force_flush()
    provider.shutdown()
    evaluations = [s for s in exported.get_finished_spans() if s.name == EVALUATION_SPAN]
    judged = [s for s in evaluations if s.start_time in starts]
    assert [s.start_time for s in judged] == starts
    assert [(s.attributes or {}).get(STATUS) for s in judged] == [0] * len(starts)
