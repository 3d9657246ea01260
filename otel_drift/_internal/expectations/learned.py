"""Learned thresholds: where a recording's own window-to-window spread puts warning and critical.

A learned baseline carries ``reference:``, the mean, standard deviation and
maximum of the scores its recording's windows got against it, each window
scored out of sample (``learn/reference.py``). Warning goes
``LEARNED_WARNING_SIGMAS`` standard deviations above the mean, never below
the largest reference score; critical a further step above.

Measured in the score's own units, that rule is too tight for a divergence.
PSI grows as the *square* of a small shift (``MethodInfo.score_power``), so
when a route's median moves with load by a roughly Gaussian amount, its PSI
scores follow a squared Gaussian: their tail is far longer than their mean
and standard deviation suggest. In a soak of a Flask service under 1 to 8
clients and a CPU-burning neighbour (windows of 500 spans, 33 reference
windows), a steady window scored 0.229 against a critical of 0.17 placed in
PSI units; placed on the root, critical is 0.287, and the 30 % slowdown's
windows (0.34-0.53) still reach it. So the rule is applied to the root of
the score: the learner writes the roots' mean and standard deviation
(``root_mean``, ``root_std``); a file without them has them recovered from
the scores' own moments, exactly for a squared Gaussian (``root_moments``),
which one outlying window can inflate (its square dominates ``std``). The
thresholds are squared back. For distances (``score_power`` 1) the rule reads
on the scores themselves.

>>> learned_thresholds(Reference(200, 50, "wasserstein", mean=0.03, std=0.01, max=0.065))
(0.07, 0.09)
>>> warning, critical = learned_thresholds(Reference(200, 50, "psi", 0.03, 0.01, 0.065))
>>> round(warning, 3), round(critical, 3)
(0.082, 0.129)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from otel_drift._internal.detectors import METHODS
from otel_drift._internal.expectations.model import Reference

#: Warning this many standard deviations of the reference windows' scores
#: (of their roots, for a divergence) above their mean; critical this many.
#: NannyML's rule uses 3; the significance gate below takes care of small windows.
LEARNED_WARNING_SIGMAS = 4.0
LEARNED_CRITICAL_SIGMAS = 6.0
#: Fewer distinct reference windows than this say little about the spread's
#: tail: the learner says so and asks for a longer recording.
TRUSTED_WINDOWS = 30


def root_moments(mean: float, std: float) -> tuple[float, float]:
    """(mean, std) of ``y`` when ``y**2`` has this mean and std and ``y`` is Gaussian.

    From ``E[y²] = m² + s²`` and ``Var[y²] = 4m²s² + 2s⁴``. Scores spread
    wider than a squared zero-mean Gaussian (std above √2 · mean) read as one.

    >>> root_moments(1.0, math.sqrt(2.0))
    (0.0, 1.0)
    >>> tuple(round(x, 6) for x in root_moments(4.0 + 0.25, math.sqrt(4 * 4 * 0.25 + 2 * 0.0625)))
    (2.0, 0.5)
    """
    if mean <= 0.0:
        return 0.0, 0.0
    variance = std * std
    slack = mean * mean - variance / 2.0
    root_variance = mean - math.sqrt(slack) if slack > 0.0 else mean
    return math.sqrt(max(mean - root_variance, 0.0)), math.sqrt(root_variance)


def pooled(references: Sequence[Reference]) -> Reference:
    """One reference holding every window of ``references`` (a profile's slots).

    A slot holds a few windows, so its standard deviation is a rough
    estimate, and the highest of 24 slots' warnings is set by the roughest:
    on a steady synthetic day (6 to 8 windows of 200 a slot) it learned 0.28
    PSI, where latency x1.3 scores 0.3-0.45. Pooled (means and variances
    combined exactly), the slots are one reference of some 170 windows, each
    scored against its own slot's baseline.

    >>> a, b = Reference(200, 10, "psi", 0.1, 0.0, 0.1), Reference(200, 30, "psi", 0.2, 0.0, 0.2)
    >>> both = pooled([a, b])
    >>> both.windows, round(both.mean, 3), round(both.std, 3), both.max
    (40, 0.175, 0.044, 0.2)
    """
    if len(references) == 1:
        return references[0]
    counts = [max(r.windows, 1) for r in references]
    mean, std = _pooled_moments(counts, [(r.mean, r.std) for r in references])
    root_mean = root_std = None
    if all(r.root_mean is not None and r.root_std is not None for r in references):
        roots = [(r.root_mean or 0.0, r.root_std or 0.0) for r in references]
        root_mean, root_std = _pooled_moments(counts, roots)
    first = references[0]
    return Reference(
        window=first.window,
        windows=sum(counts),
        method=first.method,
        mean=mean,
        std=std,
        max=max(r.max for r in references),
        root_mean=root_mean,
        root_std=root_std,
    )


def _pooled_moments(
    counts: Sequence[int], moments: Sequence[tuple[float, float]]
) -> tuple[float, float]:
    """(mean, std) of groups of ``counts`` values with these (mean, std), taken together."""
    total = sum(counts)
    mean = sum(n * m for n, (m, _) in zip(counts, moments, strict=True)) / total
    squares = sum(
        (n - 1) * s * s + n * (m - mean) ** 2 for n, (m, s) in zip(counts, moments, strict=True)
    )
    return mean, math.sqrt(squares / max(total - 1, 1))


def score_power(method: str) -> int:
    """How a method's score grows with a small shift: 2 for a divergence, else 1."""
    info = METHODS.get(method)
    return 1 if info is None else info.score_power


def learned_thresholds(reference: Reference) -> tuple[float, float]:
    """(warning, critical) placed by the reference windows' own scores.

    Warning is never below the largest reference score (the recording judged
    against itself stays quiet); critical is above warning by at least a
    quarter of it (of its root, for a divergence). Every reference window at
    0 (a value that never varied) gives (0, 0): no spread to learn from, the
    method's defaults apply (``build``).
    """
    if reference.mean + reference.std + reference.max <= 0.0:
        return 0.0, 0.0
    power = score_power(reference.method)
    if power == 2:
        if reference.root_mean is not None and reference.root_std is not None:
            mean, std = reference.root_mean, reference.root_std
        else:
            mean, std = root_moments(reference.mean, reference.std)
        peak = math.sqrt(max(reference.max, 0.0))
    else:
        mean, std, peak = reference.mean, reference.std, reference.max
    warning = max(mean + LEARNED_WARNING_SIGMAS * std, peak)
    step = (LEARNED_CRITICAL_SIGMAS - LEARNED_WARNING_SIGMAS) * std
    critical = warning + max(step, 0.25 * warning)
    return round(warning**power, 6), round(critical**power, 6)
