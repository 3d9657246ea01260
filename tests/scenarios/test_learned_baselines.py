"""End to end: baselines learned from traces, and learned live, judge the varying-load service.

The same service and load as test_varying_load.py (which learns per route
from CSV files), learned two more ways (issue 16):

* **from traces**: the shared recording's ``traces.jsonl`` (conftest.py:
  some 33 windows of 500 spans a route, above the 30 the learner trusts)
  through ``otel-drift baseline --from-traces --window 500``; then a run
  judged by that file;
* **live**: the service started with ``OTEL_DRIFT_LEARN`` (a span count: the
  first phase's requests, less a margin so that learning is over before the
  steady phase), ``OTEL_DRIFT_WINDOW=500`` and no expectations file: it
  learns from its first spans, writes ``<service.name>.yaml`` and judges the
  rest of the same run with it.

Each learned file holds an expectation per route (latency, status class) and
the service's traffic mix (route, method), every one with thresholds learned
from the recording's own windows. Judged by it: the steady windows stay
quiet, all watched values of all expectations counted; a 30 % slowdown on
/orders is critical within 2 windows on /orders' latency and on nothing else;
a 5-point error spike on /orders is critical within 2 full windows on its
status; and /orders' share doubled is critical on the traffic mix; each
critical names what moved (``drift.top_changes``, on the console too).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.scenarios.support import (
    CHANGE,
    ERRORS,
    RECORD,
    ROUTES,
    SLOW,
    STEADY,
    WINDOW_SPANS,
    Phase,
    Run,
    Window,
    explained,
    learn_from_traces,
    live_learning,
    run_service,
    windows,
)

#: A soak, outside the default suite (README, "Tests"): about 8 minutes.
SOAK = "OTEL_DRIFT_SOAK"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not os.environ.get(SOAK), reason=f"a soak: set {SOAK}=1 to run it"),
]

#: Requests of the live way's learning phase (as many as the recording's): about
#: 33 windows of 500 spans a route. With 16 (25,000 requests), a steady window
#: unlike every learned one went critical in 1 run of 2 (2 of 4 before
#: out-of-sample scoring). Windows of 250 instead made a window's sampling noise
#: comparable to a 30 % slowdown, and the significance gate held a 1 % -> 6 %
#: error spike back past 3 windows.
LEARN = RECORD
#: Spans learned from: the learning phase's, less what a pass of the learning
#: thread may read past the count, so that learning ends within that phase.
LEARN_SPANS = 48_000
#: Requests with /orders' share doubled: 4 windows of the traffic mix.
SHIFT = 2_000
DOUBLED = {"orders": 0.68, "search": 0.16, "profile": 0.16}
#: The phases judged, in order; the switch before the shift restores /orders.
JUDGED = (
    Phase(STEADY, seed=2),
    Phase(CHANGE, seed=3, control=SLOW),
    Phase(CHANGE, seed=4, control=ERRORS),
    Phase(SHIFT, seed=5, control={"route": "orders"}, mix=DOUBLED),
)
TRAFFIC = "traffic"
ORDERS = "route.orders"


@dataclass
class Learned:
    """A way to learn: the file it learned, and the run judged by it."""

    way: str
    file: Path
    run: Run
    #: Index of the steady phase in ``run``'s phases (the slowdown, errors and
    #: shift follow it).
    steady: int

    @property
    def document(self) -> dict[str, Any]:
        return dict(yaml.safe_load(self.file.read_text()))

    def watches(self) -> dict[str, list[str]]:
        """Expectation name -> its watched values."""
        return {e["name"]: list(e["watch"]) for e in self.document["expectations"]}

    def windows(self, expectation: str) -> list[Window]:
        (match,) = [e["match"] for e in self.document["expectations"] if e["name"] == expectation]
        return windows(self.run, expectation, match, learned_first=self.way == "live")

    def all_windows(self) -> list[Window]:
        return [w for name in self.watches() for w in self.windows(name)]

    def during(self, phase: int) -> list[Window]:
        """Windows of every expectation holding spans of judged ``phase`` and none later."""
        at = self.steady + phase
        return [
            w
            for w in self.all_windows()
            if (phase == 0 or w.spans_after[at] > 0)
            and (at + 1 == len(self.run.phase_starts) or w.spans_after[at + 1] == 0)
        ]


def _learn_from_traces(folder: Path, recording: Run) -> Learned:
    learned = learn_from_traces(recording, folder / "learned.yaml")
    return Learned("traces", learned, run_service(folder, "traces", JUDGED, learned), 0)


def _learn_live(folder: Path) -> Learned:
    baselines = folder / "baselines"
    run = run_service(
        folder,
        "live",
        (Phase(LEARN, seed=1), *JUDGED),
        None,
        extra_env=live_learning(LEARN_SPANS, baselines),
    )
    return Learned("live", baselines / "shop.yaml", run, 1)


@pytest.fixture(scope="module", params=["traces", "live"])
def learned(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, recording: Run
) -> Learned:
    folder = tmp_path_factory.mktemp(f"learned-{request.param}")
    if request.param == "traces":
        return _learn_from_traces(folder, recording)
    return _learn_live(folder)


def _table(learned: Learned, found: Sequence[Window]) -> str:
    watches = learned.watches()
    return "\n".join(
        f"{w.expectation} #{w.number} {w.spans_after}: "
        + "; ".join(w.cell(watch) for watch in watches[w.expectation])
        for w in found
    )


def _levels(learned: Learned, found: Sequence[Window]) -> list[tuple[str, str, int, int]]:
    """(expectation, watch, window number, level) of every watched value of ``found``."""
    watches = learned.watches()
    return [(w.expectation, n, w.number, w.level(n)) for w in found for n in watches[w.expectation]]


def _named(learned: Learned, found: Sequence[Window], watch: str, within: int) -> tuple[str, ...]:
    """What moved, named by the first of ``found[:within]`` critical on ``watch``."""
    critical = [w for w in found[:within] if w.level(watch) == 2]
    assert critical, _table(learned, found)
    return explained(learned.run, critical[0], watch)


def test_the_learned_file_holds_each_route_and_the_traffic_mix(learned: Learned) -> None:
    expectations = learned.document["expectations"]
    by_name: Mapping[str, Mapping[str, Any]] = {e["name"]: e for e in expectations}
    routes = {
        e["match"]["attributes"]["http.route"]: e["name"]
        for e in expectations
        if e["name"] != TRAFFIC
    }
    assert set(routes) == set(ROUTES.values()), routes
    assert routes["/orders"] == ORDERS
    assert by_name[TRAFFIC]["match"] == {"span_kind": "server"}
    assert set(by_name[TRAFFIC]["watch"]) == {"route", "method"}
    for expectation in expectations:
        assert expectation["window"] == {"spans": WINDOW_SPANS}, expectation
        for name, watch in expectation["watch"].items():
            # Thresholds learned from the recording's own windows.
            reference = watch["baseline"].get("reference")
            # About 33 a route (live learning stops at LEARN_SPANS, a little short).
            assert reference and reference["windows"] >= 30, (expectation["name"], name, watch)
    if learned.way == "live":
        # Learned within the learning phase, then the same run judged.
        assert learned.file.stat().st_mtime_ns < learned.run.phase_starts[1]
        assert f"wrote {learned.file}; judging with it now" in learned.run.log, learned.run.log


def test_steady_windows_raise_no_critical_and_at_most_two_warnings(learned: Learned) -> None:
    steady = learned.during(0)
    table = _table(learned, steady)
    assert len([w for w in steady if w.expectation.startswith("route.")]) >= 50, table
    levels = _levels(learned, steady)
    assert not [found for found in levels if found[3] == 2], table
    assert len([found for found in levels if found[3] == 1]) <= 2, table


def test_a_30_percent_slowdown_is_critical_on_that_routes_latency_only(
    learned: Learned,
) -> None:
    slow = learned.during(1)
    orders = [w for w in slow if w.expectation == ORDERS]
    table = _table(learned, slow)
    assert len(orders) >= 2, table
    assert any(" ms" in change for change in _named(learned, orders, "latency", 2))
    others = [found for found in _levels(learned, slow) if found[:2] != (ORDERS, "latency")]
    assert not [found for found in others if found[3] == 2], table


def test_a_five_point_error_spike_is_critical_within_two_full_windows(learned: Learned) -> None:
    spike = [w for w in learned.during(2) if w.expectation == ORDERS]
    table = _table(learned, spike)
    assert len(spike) >= 3, table
    # The first window is mixed (spans from before the switch).
    changes = _named(learned, spike, "status", 3)
    assert any(change.startswith("5xx") for change in changes), changes


def test_doubling_a_routes_share_is_critical_on_the_traffic_mix(learned: Learned) -> None:
    shifted = [w for w in learned.during(3) if w.expectation == TRAFFIC]
    table = _table(learned, shifted)
    assert len(shifted) >= 3, table
    changes = _named(learned, shifted, "route", 3)
    assert any(change.startswith("/orders") for change in changes), changes
