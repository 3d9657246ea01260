"""The data and the judging shared by the window-test sections.

Each data set draws values as a service would send them: Gaussian, lognormal
latency (median 40 ms, sigma 0.5), Pareto latency (shape 2.5, from 10 ms),
an HTTP status mix with rare categories (200 97 %, 404 2 %, 500 0.7 %,
503 0.3 %) and a long tail of 20 categories (shares as 1/k², the rarest
0.16 %).

The baseline is what a user writes from a reference sample: deciles through
``numpy.quantile`` (numeric) or the category shares (categorical), with
``samples:`` the reference's size, one watched value per method at its
default thresholds, dumped as YAML and read back by
:func:`otel_drift.loads_expectations`. Windows are judged by the engine's own
per-value state (:class:`WatchState`: ``add_numbers``/``add_labels``, then
``close_window``), which is what the engine's worker runs when a window
closes, minus the queue and the thread: 1-4 ms a window for all eight
methods, against several times that through ``DriftEngine.observe``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import yaml
from numpy.typing import NDArray

from otel_drift import Settings, loads_expectations
from otel_drift._internal.detectors import METHODS
from otel_drift._internal.detectors.significance import p_value
from otel_drift._internal.engine.watch_state import WatchEvaluation, WatchState

Kind = Literal["numeric", "categorical"]
Draw = Callable[[np.random.Generator, int], NDArray[Any]]

LATENCY_MEDIAN_MS = 40.0
LATENCY_SIGMA = 0.5
PARETO_SHAPE = 2.5
PARETO_MIN_MS = 10.0
STATUS = ("200", "404", "500", "503")
#: The 5xx share (500 and 503 together) of the status mix.
ERRORS = 0.01
TAIL = tuple(f"c{k:02d}" for k in range(1, 21))


@dataclass(frozen=True)
class Data:
    """One kind of stationary stream: ``draw(rng, n)`` gives ``n`` values."""

    name: str
    kind: Kind
    draw: Draw
    about: str


def latency(scale: float = 1.0) -> Draw:
    """Lognormal latency in ms, every value multiplied by ``scale``."""
    mu = float(np.log(LATENCY_MEDIAN_MS))
    return lambda rng, n: scale * rng.lognormal(mu, LATENCY_SIGMA, n)


def status_shares(extra_errors: float = 0.0) -> NDArray[np.float64]:
    """The status mix with the 5xx share raised by ``extra_errors`` (taken from 200)."""
    errors = ERRORS + extra_errors
    return np.array([1.0 - 0.02 - errors, 0.02, 0.7 * errors, 0.3 * errors])


def categories(names: tuple[str, ...], shares: NDArray[np.float64]) -> Draw:
    labels = np.array(names)
    cumulative = np.cumsum(shares / shares.sum())

    def draw(rng: np.random.Generator, n: int) -> NDArray[Any]:
        codes = np.searchsorted(cumulative, rng.random(n), side="right")
        return labels[np.minimum(codes, labels.size - 1)]

    return draw


def _tail_shares() -> NDArray[np.float64]:
    weights = 1.0 / np.arange(1, len(TAIL) + 1) ** 2
    return np.asarray(weights / weights.sum(), dtype=np.float64)


#: The method whose window p-value is read as the significance gate's (every
#: distance method tests the same counts against the same baseline).
GATE = "psi"

DATA = (
    Data("gaussian", "numeric", lambda rng, n: rng.normal(0.0, 1.0, n), "N(0, 1)"),
    Data("lognormal", "numeric", latency(), "lognormal, median 40 ms, σ 0.5"),
    Data(
        "pareto",
        "numeric",
        lambda rng, n: PARETO_MIN_MS * (1.0 + rng.pareto(PARETO_SHAPE, n)),
        f"Pareto, shape {PARETO_SHAPE:g}, from {PARETO_MIN_MS:g} ms",
    ),
    Data(
        "status",
        "categorical",
        categories(STATUS, status_shares()),
        "status 200/404/500/503 at 97/2/0.7/0.3 %",
    ),
    Data(
        "long tail",
        "categorical",
        categories(TAIL, _tail_shares()),
        "20 categories, shares ∝ 1/k² (rarest 0.16 %)",
    ),
)


def methods_for(kind: Kind) -> list[str]:
    """Every method in ``METHODS`` that applies to ``kind``, in its order."""
    return [
        name
        for name, info in METHODS.items()
        if (info.numeric if kind == "numeric" else info.categorical)
    ]


def expectations_yaml(kind: Kind, reference: NDArray[Any], window: int) -> str:
    """The expectations file a user would write from ``reference``."""
    if kind == "numeric":
        deciles = [i / 10 for i in range(11)]
        values = np.quantile(reference, deciles)
        baseline: dict[str, Any] = {
            "quantiles": {f"{q:g}": float(v) for q, v in zip(deciles, values, strict=True)}
        }
    else:
        names, counts = np.unique(reference, return_counts=True)
        baseline = {
            "categories": {
                str(n): round(float(c) / reference.size, 6)
                for n, c in zip(names, counts, strict=True)
            }
        }
    baseline["samples"] = int(reference.size)
    document = {
        "version": 1,
        "expectations": [
            {
                "name": "bench",
                "match": {"span_name": "bench"},
                "window": {"spans": window},
                "watch": {
                    method: {"attribute": f"x.{method}", "baseline": baseline, "method": method}
                    for method in methods_for(kind)
                },
            }
        ],
    }
    return yaml.safe_dump(document, sort_keys=False)


class Judge:
    """One watched value per method, all fed the same windows."""

    def __init__(self, kind: Kind, reference: NDArray[Any], window: int) -> None:
        self.kind = kind
        loaded = loads_expectations(
            expectations_yaml(kind, reference, window), path="window_tests.yaml"
        )
        self.expectation = loaded.expectations[0]
        self.cap = Settings().max_categories
        self.states: dict[str, WatchState] = {}
        #: The last window's binned counts (the gate's input), kept by :meth:`window`.
        self.counts: NDArray[np.float64] | None = None
        self.reset()

    def reset(self) -> None:
        """Start every method afresh (no hysteresis, CUSUM at zero)."""
        self.states = {
            w.method: WatchState(self.expectation, w, self.cap) for w in self.expectation.watch
        }

    def window(self, values: NDArray[Any]) -> dict[str, WatchEvaluation]:
        """Feed one window to every method and close it."""
        if self.kind == "numeric":
            numbers = np.asarray(values, dtype=np.float64)
            for state in self.states.values():
                state.add_numbers(numbers, 0, 0)
        else:
            labels = values.tolist()
            for state in self.states.values():
                state.add_labels(labels, 0, 0)
        counts = self.states[GATE].observed()
        self.counts = None if counts is None else counts.copy()
        return {method: state.close_window() for method, state in self.states.items()}

    def alone_p_value(self) -> float:
        """The last window's p-value on its own counts, not pooled with the one
        before (``significance.p_value``; the gate takes the smaller of this and
        the pooled one, doubled: ``window_p_value``)."""
        state = self.states[GATE]
        baseline = state.watch.baseline
        if self.counts is None or state.expected is None or self.counts.sum() <= 0:
            return 1.0
        return p_value(state.expected, self.counts, baseline.samples if baseline else None)
