"""What a drift method is, in one record: the entry each detector registers.

A method is named in expectations files, checked by the loader, scored on
each window by the engine (alone, or stacked with its neighbours), and, for
some, written as PromQL by the CLI. Each of those places used to keep its own
table; now each detector module defines one :class:`MethodInfo` next to its
formula, ``detectors/__init__.py`` collects them in ``METHODS``, and every
other place derives what it needs from that.

>>> from otel_drift._internal.detectors import METHODS
>>> psi = METHODS["psi"]
>>> psi.defaults("numeric"), psi.defaults("categorical"), psi.threshold_kind
((0.05, 0.1), (0.02, 0.05), 'distance')
>>> [name for name, method in METHODS.items() if method.promql is None]
['wasserstein', 'ks', 'chi_square', 'cusum']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from ._inputs import FloatArray
from .result import DetectorResult

#: The default significance levels of a window (the arithmetic is in
#: ``significance.py``): about one false warning a week and one false critical
#: in 19 years for 100 watched values closing a window a minute.
WARNING_ALPHA = 1e-6
CRITICAL_ALPHA = 1e-9

#: How ``warning``/``critical`` read; see :class:`MethodInfo`.
ThresholdKind = Literal["distance", "alpha", "h"]


class WindowInputs(NamedTuple):
    """What a method may read of a window besides the two distributions.

    A tuple, not a dataclass: one is built per scored window, and a frozen
    dataclass costs several times more to build.
    """

    #: The bins' representative values, increasing (numeric baselines only).
    points: FloatArray | None = None
    #: The baseline's standard deviation: the unit of a score in baseline sigmas.
    scale: float = 1.0
    #: Size of the sample the baseline was measured on (None: a population).
    baseline_samples: int | None = None
    #: The warning threshold, for the tests that report a critical value at it.
    alpha: float = 0.05


#: One window: (expected fractions, observed counts, inputs) -> result.
WindowScore = Callable[[FloatArray, FloatArray, WindowInputs], DetectorResult]
#: Many windows at once: (p, q, gaps, totals) -> one score per row. ``p`` and
#: ``q`` are checked fractions, one row per watched value, zero-padded to the
#: widest; ``gaps`` holds each row's distances between consecutive
#: representative points (zero-padded; all zero unless the method
#: ``uses_points``); ``totals`` each row's observed count.
RowKernel = Callable[[FloatArray, FloatArray, FloatArray, FloatArray], FloatArray]
#: The score in PromQL: (observed fractions, baseline fractions, labels to
#: group by) -> expression, evaluated on bin counts summed across replicas.
PromqlForm = Callable[[str, str, Sequence[str]], str]


@dataclass(frozen=True, kw_only=True)
class MethodInfo:
    """A drift method: what it applies to, its default thresholds, its formulas.

    ``threshold_kind`` says how ``warning``/``critical`` read:
    ``"distance"``: the score at or above which the level is reached;
    ``"alpha"``: a significance level, reached when the test's p-value is at or
    below it (the score is then the test statistic);
    ``"h"``: a CUSUM decision interval in baseline standard deviations.

    ``score`` scores one window (None for a stateful method, which the engine
    drives through its own class: CUSUM). ``rows``, when given, scores the
    windows of many watched values in one numpy pass and must equal ``score``
    row by row; ``uses_points``: the method reads the bins' representative
    points and reports in baseline sigmas (its score is divided by the
    baseline's standard deviation). ``promql``, when given, writes the score
    as PromQL for fleet-wide recording rules.

    ``categorical_thresholds``: the defaults for a categorical value, when
    they differ. A mix is dominated by its common categories, so a distance
    barely moves when a rare one multiplies: the numeric defaults are set
    where decile-binned latency x1.3 is critical and x1.1 at most a warning;
    the categorical ones where a 1 % category (errors) going to 4.5 % is
    critical and to 3 % a warning (``defaults``).
    """

    name: str
    numeric: bool
    categorical: bool
    warning: float
    critical: float
    threshold_kind: ThresholdKind
    score: WindowScore | None
    rows: RowKernel | None = None
    uses_points: bool = False
    promql: PromqlForm | None = None
    categorical_thresholds: tuple[float, float] | None = None
    #: How the score grows with a small shift of the distribution: 2 for a
    #: divergence (PSI: the square of the shift), 1 for a distance. Learned
    #: thresholds are placed on the score's root accordingly
    #: (``expectations/learned.py``).
    score_power: int = 1

    def defaults(self, kind: str) -> tuple[float, float]:
        """(warning, critical) by default for a ``"numeric"`` or ``"categorical"`` value."""
        if kind == "categorical" and self.categorical_thresholds is not None:
            return self.categorical_thresholds
        return self.warning, self.critical
