"""The engine's clocks: wall time for window starts, monotonic time for windows due by time.

One object (``DriftEngine(..., clock=...)``) rather than ``time`` called in
place, so that a test can run a week of windows in seconds: it sets the time,
feeds a window's values and flushes; the window closes at that time and the
next one starts there, judged against the profile slot it starts in
(``profiles.py``). Read once per window, never per span.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """What the engine reads the time from."""

    def time_ns(self) -> int:
        """Wall-clock time, in ns since the epoch: windows' start and end times."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start, never going back: windows due by ``seconds``."""
        ...


class SystemClock:
    """The real clocks: ``time.time_ns`` and ``time.monotonic``."""

    time_ns = staticmethod(time.time_ns)
    monotonic = staticmethod(time.monotonic)


SYSTEM_CLOCK: Clock = SystemClock()
