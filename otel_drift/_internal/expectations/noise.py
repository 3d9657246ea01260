"""What a method scores on pure sampling noise: when learned thresholds add nothing.

A recording's own windows (``model.Reference``) score above zero for two
reasons: a window of ``n`` values is a sample, which the significance gate
already judges at the window's size (``detectors/significance.py``); and real
traffic varies beyond that (load, mix, time of day), which only a threshold
can absorb. When the reference windows scored no higher than windows drawn
from the baseline itself, their spread *is* sampling noise: learned
thresholds would repeat, less well, what the gate does, and at small windows
they put materiality far above the method's defaults. On a status mix of
99/1 in windows of 200 spans they learned a Jensen-Shannon critical of
0.12-0.17, above the 0.122 of a 1 % -> 6 % error spike; the default is 0.12.
Then the defaults apply, and the gate keeps the noise quiet.

The noise is simulated, seeded: ``NOISE_WINDOWS`` multinomial windows of the
reference's size from the baseline's own shares, each scored by the method
the engine runs against a baseline drawn as the real one was measured (its
``samples`` values): the reference windows are scored out of sample, and a
live window meets a baseline measured on a sample too. About 5 ms a watched
value, once, when a file is loaded.

>>> from otel_drift._internal.expectations.model import CategoricalBaseline, Reference
>>> mix = CategoricalBaseline({"2xx": 0.99, "5xx": 0.01}, samples=20_000)
>>> noise = Reference(200, 50, "jensen_shannon", mean=0.06, std=0.02, max=0.11)
>>> load = Reference(200, 50, "jensen_shannon", mean=0.15, std=0.05, max=0.3)
>>> within_sampling_noise(noise, mix), within_sampling_noise(load, mix)
(True, False)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from otel_drift._internal.detectors import evaluate
from otel_drift._internal.detectors.wasserstein import representative_points
from otel_drift._internal.expectations.learned import learned_thresholds
from otel_drift._internal.expectations.model import Baseline, BinnedBaseline, Reference

#: Simulated windows per watched value (the noise quantile to about 5 %).
NOISE_WINDOWS = 200
#: The reference counts as noise up to this factor above the noise's own
#: quantile (the reference's mean and spread come from a few dozen windows).
NOISE_TOLERANCE = 1.25
_SEED = 20_260_105


class WindowVectors:
    """A baseline as the engine scores it: shares with the extra bins, points, scale."""

    def __init__(self, baseline: Baseline) -> None:
        self.points: NDArray[np.float64] | None = None
        self.scale = 1.0
        if isinstance(baseline, BinnedBaseline):
            # [underflow, bins..., overflow]: the baseline puts nothing outside.
            self.expected = np.array([0.0, *baseline.fractions, 0.0])
            self.points = representative_points(np.array(baseline.edges))
            self.scale = baseline.std
        else:
            # The categories, then ``__other__``.
            self.expected = np.array([*baseline.categories.values(), 0.0])


def noise_quantile(method: str, baseline: Baseline, window: int) -> float:
    """The learned warning that ``method``'s scores on noise windows alone would place."""
    vectors = WindowVectors(baseline)
    shares = vectors.expected / vectors.expected.sum()
    rng = np.random.default_rng(_SEED)
    counts = rng.multinomial(max(1, window), shares, size=NOISE_WINDOWS).astype(np.float64)
    # A live window meets a baseline measured on ``samples`` values, and the
    # reference windows were scored out of sample: draw each one's baseline too.
    measured = np.tile(shares, (NOISE_WINDOWS, 1))
    if baseline.samples:
        measured = rng.multinomial(baseline.samples, shares, size=NOISE_WINDOWS) / baseline.samples
    scores = np.array(
        [
            evaluate(
                method,
                expected,
                row,
                points=vectors.points,
                scale=vectors.scale,
                baseline_samples=baseline.samples,
            ).score
            for expected, row in zip(measured, counts, strict=True)
        ]
    )
    roots = np.sqrt(np.maximum(scores, 0.0))
    noise = Reference(
        window,
        NOISE_WINDOWS,
        method,
        float(scores.mean()),
        float(scores.std()),
        0.0,
        root_mean=float(roots.mean()),
        root_std=float(roots.std()),
    )
    return learned_thresholds(noise)[0]


def within_sampling_noise(reference: Reference, baseline: Baseline) -> bool:
    """Did the reference windows vary no more than sampling alone makes them?"""
    recorded = learned_thresholds(reference)[0]
    noise = noise_quantile(reference.method, baseline, reference.window)
    return recorded <= NOISE_TOLERANCE * noise
