"""Hysteresis rules, edge cases, and agreement with a brute-force reading of the rule."""

from __future__ import annotations

import numpy as np
import pytest

from otel_drift._internal.detectors.hysteresis import Hysteresis


def brute_force(levels: list[int], raise_after: int, clear_after: int) -> list[int]:
    """The rule read literally over the full history, re-scanning every level each step."""
    status, out = 0, []
    for t in range(len(levels)):
        history = levels[: t + 1]
        raised = False
        if len(history) >= raise_after:
            window = history[len(history) - raise_after :]
            for candidate in (2, 1):
                if candidate > status and all(v >= candidate for v in window):
                    status, raised = candidate, True
                    break
        if not raised and len(history) >= clear_after:
            window = history[len(history) - clear_after :]
            if all(v < status for v in window):
                status = max(c for c in (0, 1, 2) if all(v >= c for v in window))
        out.append(status)
    return out


def run(h: Hysteresis, levels: list[int]) -> list[int]:
    return [h.update(level) for level in levels]


def test_defaults_raise_at_once_and_clear_after_two() -> None:
    assert run(Hysteresis(), [0, 1, 0, 0, 2, 0, 2, 0, 0]) == [0, 1, 1, 0, 2, 2, 2, 2, 0]


def test_raise_after_three() -> None:
    h = Hysteresis(raise_after=3, clear_after=1)
    assert run(h, [2, 2]) == [0, 0]
    assert h.update(2) == 2
    # Three windows at >= 1 with one critical among them raise only to warning.
    assert run(Hysteresis(raise_after=3), [2, 1, 2]) == [0, 0, 1]
    # An interrupted streak starts over.
    assert run(Hysteresis(raise_after=3), [1, 1, 0, 1, 1, 1]) == [0, 0, 0, 0, 0, 1]


@pytest.mark.parametrize("raise_after", [2, 3])
def test_flapping_input_never_raises(raise_after: int) -> None:
    h = Hysteresis(raise_after=raise_after, clear_after=2)
    assert set(run(h, [0, 2] * 50)) == {0}
    # Flapping between warning and critical holds warning, never critical.
    h = Hysteresis(raise_after=2, clear_after=2)
    assert run(h, [1, 2] * 4) == [0, 1, 1, 1, 1, 1, 1, 1]


@pytest.mark.parametrize("clear_after", [1, 2, 3, 5])
def test_clears_after_exactly_clear_after_windows(clear_after: int) -> None:
    h = Hysteresis(raise_after=1, clear_after=clear_after)
    assert h.update(2) == 2
    statuses = run(h, [0] * clear_after)
    assert statuses == [2] * (clear_after - 1) + [0]


def test_critical_steps_down_through_warning() -> None:
    h = Hysteresis(raise_after=1, clear_after=2)
    assert run(h, [2, 1, 1, 1, 0, 0]) == [2, 2, 1, 1, 1, 0]
    # Windows below critical but not all at warning fall straight to ok.
    assert run(Hysteresis(), [2, 1, 0]) == [2, 2, 0]


def test_a_single_good_window_does_not_clear() -> None:
    assert run(Hysteresis(), [2, 0, 2, 0, 2]) == [2, 2, 2, 2, 2]


@pytest.mark.parametrize(("raise_after", "clear_after"), [(1, 1), (1, 2), (2, 1), (3, 2), (2, 4)])
def test_agrees_with_brute_force_on_seeded_streams(raise_after: int, clear_after: int) -> None:
    rng = np.random.default_rng(raise_after * 10 + clear_after)
    for _ in range(50):
        levels = [int(v) for v in rng.choice(3, size=40, p=[0.6, 0.25, 0.15])]
        h = Hysteresis(raise_after, clear_after)
        assert run(h, levels) == brute_force(levels, raise_after, clear_after)


def test_reset_and_validation() -> None:
    h = Hysteresis()
    h.update(2)
    assert h.status == 2
    h.reset()
    assert h.status == 0
    assert h.update(0) == 0
    with pytest.raises(ValueError, match="level"):
        h.update(3)
    with pytest.raises(ValueError, match="level"):
        h.update(-1)
    with pytest.raises(ValueError, match="raise_after"):
        Hysteresis(raise_after=0)
    with pytest.raises(ValueError, match="clear_after"):
        Hysteresis(clear_after=0)
