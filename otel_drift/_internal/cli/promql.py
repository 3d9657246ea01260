"""PromQL for fleet-wide drift: the same formulas as the detectors, on summed bin counts.

Each replica exports ``drift.bin.count`` (a counter per baseline bin or
category) and ``drift.baseline.fraction``. Prometheus sums the counts across
replicas; the expressions here turn those sums into PSI, Jensen-Shannon,
Hellinger and L-infinity scores exactly as :mod:`otel_drift._internal.detectors`
computes them on the merged data (same smoothing, same renormalised baseline).

Names are those of OpenTelemetry's Prometheus exporter: dots become
underscores, counters get ``_total``.

>>> psi_expr("o", "e", ("job",))
'sum by (job) ((o - e) * ln((o + 0.0001) / (e + 0.0001)))'
"""

from __future__ import annotations

from collections.abc import Sequence

from otel_drift._internal import semconv as sc
from otel_drift._internal.detectors.psi import PSI_EPS


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

#: Fleet scores expressible in PromQL, by method name. The others (ks,
#: chi_square, wasserstein, cusum) need per-bin positions, p-values or state.
FLEET_METHODS = ("psi", "jensen_shannon", "hellinger", "linf")

_LN2 = 0.6931471805599453
_SQRT2 = 1.4142135623730951


def _by(labels: Sequence[str]) -> str:
    return ", ".join(labels)


def psi_expr(observed: str, expected: str, group: Sequence[str]) -> str:
    # (o + eps) - (e + eps) == o - e, so the difference needs no smoothing.
    return (
        f"sum by ({_by(group)}) (({observed} - {expected}) * "
        f"ln(({observed} + {PSI_EPS:g}) / ({expected} + {PSI_EPS:g})))"
    )


def jensen_shannon_expr(observed: str, expected: str, group: Sequence[str]) -> str:
    # 0 * ln(0) is taken as 0: the `> 0` filters drop those bins before the log,
    # as the detector's mask does.
    mixture = f"(({observed} + {expected}) / 2)"
    kl_p = f"sum by ({_by(group)}) (({expected} > 0) * ln(({expected} > 0) / {mixture}))"
    kl_q = f"sum by ({_by(group)}) (({observed} > 0) * ln(({observed} > 0) / {mixture}))"
    return f"sqrt(clamp(0.5 * ({kl_p} + {kl_q}) / {_LN2!r}, 0, 1))"


def hellinger_expr(observed: str, expected: str, group: Sequence[str]) -> str:
    return (
        f"clamp_max(sqrt(sum by ({_by(group)}) "
        f"((sqrt({expected}) - sqrt({observed})) ^ 2)) / {_SQRT2!r}, 1)"
    )


def linf_expr(observed: str, expected: str, group: Sequence[str]) -> str:
    return f"max by ({_by(group)}) (abs({observed} - {expected}))"


SCORE_EXPRESSIONS = {
    "psi": psi_expr,
    "jensen_shannon": jensen_shannon_expr,
    "hellinger": hellinger_expr,
    "linf": linf_expr,
}


def fractions_expr(counts: str, group: Sequence[str]) -> str:
    """Each bin's share of its group's total; groups with no values give no series."""
    return f"{counts} / on ({_by(group)}) group_left() (sum by ({_by(group)}) ({counts}) > 0)"
