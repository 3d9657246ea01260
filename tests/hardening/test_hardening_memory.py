"""Memory bounds: 100,000 distinct categories, user ids and span names.

Tracked categories stop at the cap (Settings.max_categories, i.e.
OTEL_DRIFT_MAX_CATEGORIES), the rest is counted in ``__other__``, the plan
cache stays within its cap, and RSS barely moves. The 1,000,000-value run is
``python -m tests.hardening.cardinality``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from tests.hardening.cardinality import check, flood

RecordFigures = Callable[[str, dict[str, object]], None]

SUITE_VALUES = 100_000
#: Far below what 100,000 labels of 128 characters would take if kept (~25 MiB as
#: dictionary keys per watched value, twice over), with room for allocator noise.
RSS_GROWTH_MIB = 40


def test_distinct_values_stop_at_the_cap_and_are_counted(figures: RecordFigures) -> None:
    result = flood(SUITE_VALUES)
    figures("memory.cardinality", {k: v for k, v in asdict(result).items() if k != "known_bins"})
    assert check(result) == []
    assert result.rss_growth_mib < RSS_GROWTH_MIB, result
