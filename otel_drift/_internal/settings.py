"""Settings read from ``OTEL_DRIFT_*`` environment variables.

Follows the SDK's rule: a value that cannot be parsed is logged (once, naming
the variable, the value and the default used) and replaced by the default, so
a typo in a deployment manifest never takes the service down.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from otel_drift import environment_variables as ev

_logger = logging.getLogger(__name__)

_T = TypeVar("_T")

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class DefaultWindow:
    spans: int | None
    seconds: float | None


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    expectations_path: str | None = None
    default_window: DefaultWindow = DefaultWindow(spans=1000, seconds=None)
    queue_size: int = 65536
    flush_interval_s: float = 0.2
    max_categories: int = 1000
    #: Rows of a batch that are observed (an evenly spaced sample); 0: every row.
    max_batch_rows: int = 16384
    violation_spans_per_second: float = 10.0
    console: bool = False
    value_histograms: bool = False
    flush_on_sigterm: bool = True
    #: Key of the violation values' HMAC; never in a repr (it would reach logs).
    value_hash_key: bytes | None = field(default=None, repr=False)


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected true or false")


def _parse_positive_int(text: str) -> int:
    value = int(text.strip())
    if value < 1:
        raise ValueError("expected a whole number >= 1")
    return value


def _parse_non_negative_int(text: str) -> int:
    value = int(text.strip())
    if value < 0:
        raise ValueError("expected a whole number >= 0")
    return value


def _parse_positive_float(text: str) -> float:
    value = float(text.strip())
    if not value > 0 or value == float("inf"):
        raise ValueError("expected a finite number > 0")
    return value


def _parse_non_negative_float(text: str) -> float:
    value = float(text.strip())
    if not value >= 0 or value == float("inf"):
        raise ValueError("expected a finite number >= 0")
    return value


def parse_window(text: str) -> DefaultWindow:
    """Parse ``500`` (spans) or ``60s`` (seconds).

    >>> parse_window("500")
    DefaultWindow(spans=500, seconds=None)
    >>> parse_window("1.5s")
    DefaultWindow(spans=None, seconds=1.5)
    """
    stripped = text.strip().lower()
    if stripped.endswith("s"):
        return DefaultWindow(spans=None, seconds=_parse_positive_float(stripped[:-1]))
    return DefaultWindow(spans=_parse_positive_int(stripped), seconds=None)


def _read(
    environ: Mapping[str, str], name: str, parse: Callable[[str], _T], default: _T, hint: str
) -> _T:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return parse(raw)
    except (ValueError, OverflowError) as error:
        _logger.warning(
            "otel-drift: ignoring %s=%r (%s; %s); using the default %r",
            name,
            raw,
            error,
            hint,
            default,
        )
        return default


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every ``OTEL_DRIFT_*`` variable; bad values fall back to defaults."""
    env = os.environ if environ is None else environ
    defaults = Settings()
    path = env.get(ev.OTEL_DRIFT_EXPECTATIONS, "").strip() or None
    return Settings(
        enabled=_read(
            env, ev.OTEL_DRIFT_ENABLED, _parse_bool, defaults.enabled, "use true or false"
        ),
        expectations_path=path,
        default_window=_read(
            env,
            ev.OTEL_DRIFT_WINDOW,
            parse_window,
            defaults.default_window,
            "use a span count such as 500 or seconds such as 60s",
        ),
        queue_size=_read(
            env,
            ev.OTEL_DRIFT_QUEUE_SIZE,
            _parse_positive_int,
            defaults.queue_size,
            "use a whole number of spans >= 1",
        ),
        flush_interval_s=_read(
            env,
            ev.OTEL_DRIFT_FLUSH_INTERVAL,
            lambda text: _parse_positive_float(text) / 1000.0,
            defaults.flush_interval_s,
            "use milliseconds > 0",
        ),
        max_batch_rows=_read(
            env,
            ev.OTEL_DRIFT_MAX_BATCH_ROWS,
            _parse_non_negative_int,
            defaults.max_batch_rows,
            "use a whole number of rows >= 0 (0 observes every row)",
        ),
        max_categories=_read(
            env,
            ev.OTEL_DRIFT_MAX_CATEGORIES,
            _parse_positive_int,
            defaults.max_categories,
            "use a whole number >= 1",
        ),
        violation_spans_per_second=_read(
            env,
            ev.OTEL_DRIFT_VIOLATION_SPANS_PER_SECOND,
            _parse_non_negative_float,
            defaults.violation_spans_per_second,
            "use a number >= 0 (0 turns violation spans off)",
        ),
        console=_read(
            env, ev.OTEL_DRIFT_CONSOLE, _parse_bool, defaults.console, "use true or false"
        ),
        flush_on_sigterm=_read(
            env,
            ev.OTEL_DRIFT_FLUSH_ON_SIGTERM,
            _parse_bool,
            defaults.flush_on_sigterm,
            "use true or false",
        ),
        value_hash_key=env.get(ev.OTEL_DRIFT_VALUE_HASH_KEY, "").encode("utf-8") or None,
    )
