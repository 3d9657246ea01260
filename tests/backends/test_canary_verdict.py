"""The canary verdict on seeded count pairs: A/A passes, real changes fail, thin data waits.

Counts are binned as the engine bins them (its bin labels, the test
service's edges), from lognormal latencies and a status mix; each case is one
seeded draw of both sides, judged by :func:`judge` exactly as the gate does
on Prometheus' counts.
"""

from __future__ import annotations

import numpy as np
import pytest

from otel_drift._internal.cli.canary.query import CanaryQuery, watch_specs
from otel_drift._internal.cli.canary.serve import Defaults, question
from otel_drift._internal.cli.canary.verdict import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    WatchSpec,
    judge,
)
from otel_drift._internal.detectors.significance import p_value
from otel_drift._internal.engine.watch_state import bin_labels
from otel_drift._internal.expectations.load import load_expectations, loads_expectations
from tests.support import ROOT

EXPECTATIONS = ROOT / "tests" / "backends" / "canary_expectations.yaml"
EDGES = (0.0, 8.0, 11.0, 14.0, 18.0, 24.0, 32.0, 50.0, 1000.0)
LATENCY = WatchSpec(
    "checkout", "latency", "psi", 0.05, needed=100, edges=EDGES, slower_is_bad=True, unit="ms"
)
STATUS = WatchSpec("checkout", "status", "linf", 0.02, needed=100)


def latencies(rng: np.random.Generator, n: int, factor: float = 1.0) -> dict[str, float]:
    """``n`` request latencies (ms, work that varies plus a little overhead), binned."""
    values = rng.lognormal(np.log(11.6), 0.35, n) * factor + rng.gamma(2.0, 0.4, n)
    inner = np.histogram(values, bins=EDGES)[0].astype(float)
    # None under 0 ms or over 1 s: underflow and overflow stay empty.
    return dict(zip(bin_labels(EDGES), [0.0, *inner, 0.0], strict=True))


def statuses(rng: np.random.Generator, n: int, errors: float) -> dict[str, float]:
    failed = float(rng.binomial(n, errors))
    return {"200": n - failed, "500": failed}


@pytest.mark.parametrize("seed", range(20))
def test_a_a_passes_on_every_seed(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Unequal sides too: a canary with a quarter of the traffic.
    n_canary = 1000 if seed % 2 else 500
    latency = judge(LATENCY, latencies(rng, n_canary), latencies(rng, 2000))
    status = judge(STATUS, statuses(rng, n_canary, 0.01), statuses(rng, 2000, 0.01))
    assert (latency.verdict, status.verdict) == (PASS, PASS), (latency.reason, status.reason)


def test_the_two_sample_p_value_is_not_too_eager() -> None:
    """On 400 seeded A/A pairs, p <= 0.01 about 1 % of the time or less (conservative)."""
    rng = np.random.default_rng(7)
    small = 0
    for _ in range(400):
        canary, baseline = latencies(rng, 1000), latencies(rng, 1000)
        labels = [label for label in canary if canary[label] + baseline[label] > 0]
        b = np.array([baseline[label] for label in labels])
        c = np.array([canary[label] for label in labels])
        small += p_value(b / b.sum(), c, int(b.sum())) <= 0.01
    assert small <= 8


def test_a_slower_canary_fails_and_a_faster_one_passes() -> None:
    rng = np.random.default_rng(1)
    baseline = latencies(rng, 1000)
    slower = judge(LATENCY, latencies(rng, 1000, 1.3), baseline)
    assert slower.verdict == FAIL and slower.p_value is not None and slower.p_value < 1e-9
    assert slower.reason.split("; ")[1].startswith("slower: median ")
    assert slower.shift is not None and slower.shift > 0.3
    faster = judge(LATENCY, latencies(rng, 1000, 1 / 1.3), baseline)
    assert faster.verdict == PASS and faster.reason.startswith("faster, which is fine: psi ")
    assert faster.shift is not None and faster.shift < -0.3


def test_an_error_spike_fails_naming_the_status() -> None:
    rng = np.random.default_rng(2)
    judged = judge(STATUS, statuses(rng, 1000, 0.06), statuses(rng, 1000, 0.01))
    assert judged.verdict == FAIL
    assert judged.reason.split("; ")[1].startswith("500: 6.")
    assert judged.canary.bins["500"] > 2 * 20 > 2 * judged.baseline.bins["500"]


def test_thin_data_is_inconclusive_and_says_how_much_is_missing() -> None:
    rng = np.random.default_rng(3)
    judged = judge(LATENCY, latencies(rng, 40), latencies(rng, 1000))
    assert (judged.verdict, judged.reason) == (
        INCONCLUSIVE,
        "canary has 40 values of the 100 needed",
    )
    both = judge(STATUS, {}, statuses(rng, 30, 0.01))
    assert (
        both.reason
        == "canary has 0 values of the 100 needed; baseline has 30 values of the 100 needed"
    )
    # Enough to look material, too little to be sure: more data decides.
    unsure = judge(LATENCY, latencies(rng, 120, 1.15), latencies(rng, 120))
    assert unsure.verdict == INCONCLUSIVE and "more data decides" in unsure.reason


def test_specs_take_method_and_threshold_from_the_file() -> None:
    query = CanaryQuery("a", "b", 0.0, 1.0)
    specs = {s.name: s for s in watch_specs(load_expectations(EXPECTATIONS), query, None)}
    assert specs.keys() == {"checkout.latency", "checkout.status", "catalog.latency"}
    latency, status = specs["checkout.latency"], specs["checkout.status"]
    assert (latency.method, latency.materiality, latency.needed) == ("psi", 0.05, 100)
    assert latency.slower_is_bad and latency.unit == "ms" and latency.edges is not None
    assert (status.method, status.slower_is_bad, status.edges) == ("linf", False, None)
    # A method judged by p-values has no effect size of its own: psi measures it.
    text = """
version: 1
expectations:
  - name: m
    match: {span_name: p}
    watch:
      x:
        attribute: x
        baseline: {bins: [0, 1, 2], fractions: [0.5, 0.5]}
        method: ks
"""
    (spec,) = watch_specs(loads_expectations(text), query, 500)
    assert (spec.method, spec.materiality, spec.needed) == ("psi", 0.05, 500)


def test_served_questions_are_keyed_by_what_they_ask() -> None:
    defaults = Defaults()
    flagger = {"canary": "{service_version='2'}", "baseline": 'service_version="1"'}
    key, require = question({**flagger, "watch": "b,a", "require": "pass"}, defaults)
    assert key == question({**flagger, "watch": ["a", "b"]}, defaults)[0]
    assert require == "pass" and key[:4] == (
        "service_version='2'",
        'service_version="1"',
        "target_info",
        "15m",
    )
    for bad, message in [
        ({"canary": "x"}, "give canary and baseline"),
        ({**flagger, "require": "maybe"}, "require must be"),
        ({**flagger, "since": "soon"}, "not a duration"),
        ({**flagger, "selector_on": "pods"}, "selector_on must be"),
    ]:
        with pytest.raises(ValueError, match=message):
            question(bad, defaults)
