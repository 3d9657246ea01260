"""Time ranges on the command line: ``--since 15m`` or ``--start``/``--end``.

The Prometheus commands (``gate``, ``report``) and the served canary gate read
a range the same way, so it is parsed in one place.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(s|m|h|d)\s*$")
_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds in ``90s``, ``15m``, ``2h`` or ``1d``.

    >>> parse_duration("15m"), parse_duration("1.5h")
    (900.0, 5400.0)
    """
    found = _DURATION.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not a duration such as 90s, 15m, 2h or 1d")
    return float(found.group(1)) * _SECONDS[found.group(2)]


def parse_time(text: str) -> float:
    """Unix seconds, or an RFC 3339 / ISO 8601 time (UTC when no offset is given).

    >>> parse_time("1700000000"), parse_time("2023-11-14T22:13:20Z")
    (1700000000.0, 1700000000.0)
    """
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither unix seconds nor an RFC 3339 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def time_range(since: str, start: str | None, end: str | None) -> tuple[float, float]:
    """(start, end) in unix seconds: ``start``/``end`` when given, else ``since`` up to now.

    >>> time_range("15m", "1700000000", "1700000900")
    (1700000000.0, 1700000900.0)
    """
    stop = parse_time(end) if end else time.time()
    begin = parse_time(start) if start else stop - parse_duration(since)
    if begin >= stop:
        raise ValueError("the range is empty: start must be before end")
    return begin, stop


def when(stamp: float) -> str:
    """A unix time as ``YYYY-MM-DD HH:MM:SSZ``, for report headers."""
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
