"""Hysteresis between per-window drift levels and the reported status.

Levels and statuses are 0 (ok), 1 (warning), 2 (critical). Keeping the last
windows' levels, ``update`` applies two rules:

* raise: with ``L`` the lowest of the last ``raise_after`` levels, the status
  rises to ``L`` when ``L`` is above it (every one of those windows reached L);
* clear: when all of the last ``clear_after`` levels are below the status, it
  falls to the lowest of them (the highest level they all reached), so
  critical can step down to warning and later to ok.

Both windows include the newest level, so the two rules can never fire
together. Until ``raise_after`` windows have been seen nothing is raised.

Trace with the defaults (raise after 1 window, clear after 2):

>>> h = Hysteresis()
>>> [h.update(level) for level in [0, 2, 0, 2, 1, 1, 0, 1, 0, 0]]
[0, 2, 2, 2, 2, 1, 1, 1, 1, 0]

With ``raise_after=2`` an isolated warning window is ignored; two in a row
raise the status (seeded noisy levels):

>>> import numpy as np
>>> rng = np.random.default_rng(8)
>>> levels = [int(x) for x in rng.random(12) < 0.3]
>>> h = Hysteresis(raise_after=2, clear_after=2)
>>> levels, [h.update(level) for level in levels]
([0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
"""

from __future__ import annotations

from collections import deque

_MAX_LEVEL = 2


class Hysteresis:
    """Debounces window levels into a status that does not flap."""

    def __init__(self, raise_after: int = 1, clear_after: int = 2) -> None:
        if raise_after < 1 or clear_after < 1:
            raise ValueError(
                f"raise_after and clear_after must be >= 1, got {raise_after}, {clear_after}"
            )
        self.raise_after = raise_after
        self.clear_after = clear_after
        self._levels: deque[int] = deque(maxlen=max(raise_after, clear_after))
        self._status = 0

    @property
    def status(self) -> int:
        """The current status: 0 ok, 1 warning, 2 critical."""
        return self._status

    def reset(self) -> None:
        """Back to ok with no history (e.g. when the baseline changes)."""
        self._levels.clear()
        self._status = 0

    def _last(self, count: int) -> list[int] | None:
        """The newest ``count`` levels, or None when fewer have been seen."""
        if len(self._levels) < count:
            return None
        return list(self._levels)[-count:]

    def update(self, level: int) -> int:
        """Record the newest window's level and return the resulting status."""
        if not 0 <= level <= _MAX_LEVEL:
            raise ValueError(f"level must be 0, 1 or 2, got {level}")
        self._levels.append(level)
        rising = self._last(self.raise_after)
        if rising is not None and min(rising) > self._status:
            self._status = min(rising)
            return self._status
        clearing = self._last(self.clear_after)
        if clearing is not None and max(clearing) < self._status:
            self._status = min(clearing)
        return self._status
