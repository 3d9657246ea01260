"""PromQL for fleet-wide drift: the same formulas as the detectors, on summed bin counts.

Each replica exports ``drift.bin.count`` (a counter per baseline bin or
category) and ``drift.baseline.fraction``. Prometheus sums the counts across
replicas; each detector that can be written in PromQL (``MethodInfo.promql``:
PSI, Jensen-Shannon, Hellinger, L-infinity) turns those sums into its score
exactly as :mod:`otel_drift._internal.detectors` computes it on the merged
data (same smoothing, same renormalised baseline).

Names are those of OpenTelemetry's Prometheus exporter: dots become
underscores, counters get ``_total``.

>>> SCORE_EXPRESSIONS["linf"]("o", "e", ("job",))
'max by (job) (abs(o - e))'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from otel_drift._internal import semconv as sc
from otel_drift._internal.detectors import METHODS
from otel_drift._internal.detectors.method import PromqlForm


def prom_name(otel_name: str) -> str:
    """An OpenTelemetry name as the Prometheus exporter writes it.

    >>> prom_name("drift.bin.count"), prom_name(sc.EXPECTATION)
    ('drift_bin_count', 'drift_expectation')
    """
    return otel_name.replace(".", "_")


BIN_COUNT = prom_name(sc.METRIC_BIN_COUNT) + "_total"
BASELINE_FRACTION = prom_name(sc.METRIC_BASELINE_FRACTION)
STATUS = prom_name(sc.METRIC_STATUS)
SCORE = prom_name(sc.METRIC_SCORE)
EXPECTATION_LABEL = prom_name(sc.EXPECTATION)
ATTRIBUTE_LABEL = prom_name(sc.ATTRIBUTE)
BIN_LABEL = prom_name(sc.BIN)
METHOD_LABEL = prom_name(sc.METHOD)

#: Fleet scores by method name: the methods with a PromQL form. The others
#: need per-bin positions, p-values or state.
SCORE_EXPRESSIONS: Mapping[str, PromqlForm] = {
    name: method.promql for name, method in METHODS.items() if method.promql is not None
}
FLEET_METHODS = tuple(SCORE_EXPRESSIONS)


def _by(labels: Sequence[str]) -> str:
    return ", ".join(labels)


def fractions_expr(counts: str, group: Sequence[str]) -> str:
    """Each bin's share of its group's total; groups with no values give no series."""
    return f"{counts} / on ({_by(group)}) group_left() (sum by ({_by(group)}) ({counts}) > 0)"
