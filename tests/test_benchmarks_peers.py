"""The peer-comparison benchmark sections run, tiny, and return a well-formed Section.

Peers (scikit-learn, pandas, whylogs, River, Evidently) live in the benchmark
venv, not in the dev venv nor in CI: there each section must still measure
our side and mark the peer columns "not installed".
"""

from __future__ import annotations

import importlib.util
import itertools
import math
from collections.abc import Callable

import pytest

from benchmarks import ml_batches, sequential, window_tests
from benchmarks.common import Section


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a missing parent package
        return False


SECTIONS: dict[str, tuple[Callable[[bool], Section], tuple[str, ...], tuple[str, ...]]] = {
    # name: (run, peer modules, figures our side always reports)
    "ml_batches": (
        ml_batches.run,
        ("sklearn", "whylogs", "pandas"),
        ("ml_values_per_s_total_b1024", "ml_values_per_s_worker_b1"),
    ),
    "sequential": (
        sequential.run,
        ("river",),
        ("seq_cusum_ns_per_sample", "seq_cusum_false_alarms_per_million"),
    ),
    "window_tests": (
        window_tests.run,
        ("evidently",),
        (
            "win_numeric_ks_false_criticals",
            "win_categorical_chi_square_false_warnings",
            "win_equal_rate_gate_p_cells_won_nannyml",
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_section_runs_quick_and_is_well_formed(name: str) -> None:
    run, peers, always = SECTIONS[name]
    section = run(True)
    assert isinstance(section, Section)
    assert section.title
    lines = section.markdown.splitlines()
    # At least one markdown table: a header row followed by its alignment row.
    assert any(
        line.startswith("| :---") and previous.startswith("| ")
        for previous, line in itertools.pairwise(lines)
    )
    assert "target" in section.markdown.lower() or "false alarms" in section.markdown.lower()
    for key in always:
        assert key in section.figures
    assert all(isinstance(v, float) and math.isfinite(v) for v in section.figures.values())
    missing = [peer for peer in peers if not _installed(peer)]
    if missing:
        assert "not installed" in section.markdown
    else:
        assert "not installed" not in section.markdown
