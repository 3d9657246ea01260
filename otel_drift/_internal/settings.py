"""Settings read from ``OTEL_DRIFT_*`` environment variables.

Follows the SDK's rule: a value that cannot be parsed is logged (once, naming
the variable, the value as given, the accepted forms and the default used) and
replaced by the default, so a typo in a deployment manifest never takes the
service down. A misspelled variable name would be ignored without a word, so
every ``OTEL_DRIFT_*`` name that is not one of ours is logged too, with the
closest known name.
"""

from __future__ import annotations

import difflib
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
class LearnPeriod:
    """How long live learning lasts: a span count, or seconds (``OTEL_DRIFT_LEARN``)."""

    spans: int | None
    seconds: float | None


#: Where live learning writes ``<service.name>.yaml`` (``OTEL_DRIFT_BASELINE_DIR``).
DEFAULT_BASELINE_DIR = "otel-drift-baselines"


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
    #: What a model call may add beyond its span, as a fraction of its own CPU time; 0: off.
    cost_budget: float = 0.05
    #: Model spans for "all" calls, or only the "sampled" ones (whose rows are observed).
    ml_spans: str = "all"
    violation_spans_per_second: float = 10.0
    console: bool = False
    value_histograms: bool = False
    flush_on_sigterm: bool = True
    #: One invalid expectation refuses the whole file (otel-drift stays off).
    strict: bool = False
    #: Key of the violation values' HMAC; never in a repr (it would reach logs).
    value_hash_key: bytes | None = field(default=None, repr=False)
    #: Learn the baselines live for this long when no expectations file is given; None: off.
    learn: LearnPeriod | None = None
    #: Live learning's window in spans: ``OTEL_DRIFT_WINDOW`` when the user set it
    #: as a span count (the learner cuts windows by spans); None: the learner's own.
    learn_window: int | None = None
    #: Folder of the learned files, one ``<service.name>.yaml`` per service.
    baseline_dir: str = DEFAULT_BASELINE_DIR
    #: Expectations a learned file holds at most (the busiest first).
    max_expectations: int = 100


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("not true or false")


def _whole(text: str) -> int:
    # Our own words: int()'s message would echo the text back changed.
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError("not a whole number") from None


def _number(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise ValueError("not a number") from None


def _parse_positive_int(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise ValueError("below 1")
    return value


def _parse_non_negative_int(text: str) -> int:
    value = _whole(text)
    if value < 0:
        raise ValueError("below 0")
    return value


def _parse_positive_float(text: str) -> float:
    value = _number(text)
    if not value > 0 or value == float("inf"):
        raise ValueError("not a finite number above 0")
    return value


def _parse_non_negative_float(text: str) -> float:
    value = _number(text)
    if not value >= 0 or value == float("inf"):
        raise ValueError("not a finite number of at least 0")
    return value


def parse_fraction(text: str) -> float:
    """A fraction of a call's time: ``0.05`` or ``5%``, from 0 to 1.

    >>> parse_fraction("0.05"), parse_fraction(" 5% "), parse_fraction("0")
    (0.05, 0.05, 0.0)
    >>> parse_fraction("50")
    Traceback (most recent call last):
    ...
    ValueError: not between 0 and 1 (or 0% and 100%)
    """
    stripped = text.strip()
    value = _number(stripped[:-1]) / 100.0 if stripped.endswith("%") else _number(stripped)
    if not 0.0 <= value <= 1.0:
        raise ValueError("not between 0 and 1 (or 0% and 100%)")
    return value


ML_SPANS = ("all", "sampled")


def _parse_ml_spans(text: str) -> str:
    lowered = text.strip().lower()
    if lowered not in ML_SPANS:
        raise ValueError("neither all nor sampled")
    return lowered


def parse_window(text: str) -> DefaultWindow:
    """Parse ``500`` (spans) or ``60s`` (seconds).

    >>> parse_window("500")
    DefaultWindow(spans=500, seconds=None)
    >>> parse_window("1.5S")
    DefaultWindow(spans=None, seconds=1.5)
    >>> parse_window("10 minutes")
    Traceback (most recent call last):
    ...
    ValueError: neither a span count nor seconds
    """
    stripped = text.strip()
    try:
        if stripped[-1:] in ("s", "S"):
            return DefaultWindow(spans=None, seconds=_parse_positive_float(stripped[:-1]))
        return DefaultWindow(spans=_parse_positive_int(stripped), seconds=None)
    except ValueError:
        raise ValueError("neither a span count nor seconds") from None


#: ``OTEL_DRIFT_LEARN``'s duration suffixes, in seconds.
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_learn_period(text: str) -> LearnPeriod:
    """Parse ``20000`` (spans) or a duration: ``90s``, ``30m``, ``2h``, ``1d``.

    >>> parse_learn_period("20000")
    LearnPeriod(spans=20000, seconds=None)
    >>> parse_learn_period(" 30M ")
    LearnPeriod(spans=None, seconds=1800.0)
    >>> parse_learn_period("30 minutes")
    Traceback (most recent call last):
    ...
    ValueError: neither a span count nor a duration
    """
    stripped = text.strip().lower()
    try:
        unit = _UNITS.get(stripped[-1:])
        if unit is not None:
            return LearnPeriod(spans=None, seconds=_parse_positive_float(stripped[:-1]) * unit)
        return LearnPeriod(spans=_parse_positive_int(stripped), seconds=None)
    except ValueError:
        raise ValueError("neither a span count nor a duration") from None


def describe_learn_period(period: LearnPeriod) -> str:
    """A learn period in words, for the logs.

    >>> describe_learn_period(LearnPeriod(spans=20000, seconds=None))
    '20,000 spans'
    >>> describe_learn_period(LearnPeriod(spans=None, seconds=1800.0))
    '30 minutes'
    """
    if period.spans is not None:
        return f"{period.spans:,} spans"
    seconds = period.seconds or 0.0
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} hours"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} minutes"
    return f"{seconds:g} seconds"


def describe_window(window: DefaultWindow) -> str:
    """A window in the words of ``OTEL_DRIFT_WINDOW``'s documentation.

    >>> describe_window(DefaultWindow(spans=1000, seconds=None))
    '1000 spans'
    >>> describe_window(DefaultWindow(spans=None, seconds=60.0))
    '60 seconds'
    """
    if window.spans is not None:
        return f"{window.spans} spans"
    return f"{window.seconds:g} seconds"


def _read(
    environ: Mapping[str, str],
    name: str,
    parse: Callable[[str], _T],
    default: _T,
    hint: str,
    *,
    shown_default: str | None = None,
) -> _T:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return parse(raw)
    except (ValueError, OverflowError) as error:
        if shown_default is None:
            shown_default = str(default).lower() if isinstance(default, bool) else str(default)
        _logger.warning(
            "otel-drift: ignoring %s=%r (%s); %s. Using the default, %s.",
            name,
            raw,
            error,
            hint,
            shown_default,
        )
        return default


def known_names() -> frozenset[str]:
    """Every ``OTEL_DRIFT_*`` variable otel-drift reads (``environment_variables``)."""
    return frozenset(name for name in ev.__all__ if name.startswith("OTEL_DRIFT_"))


def warn_unknown_names(environ: Mapping[str, str]) -> list[str]:
    """Log one warning per ``OTEL_DRIFT_*`` name that otel-drift does not read,
    with the closest known name; returns those names (sorted).

    A misspelled name (``OTEL_DRIFT_EXPECTATION``) is otherwise simply not read,
    and the setting silently keeps its default.
    """
    known = known_names()
    prefix = "OTEL_DRIFT_"
    # Compared without the prefix every name shares, which would make any name "close".
    suffixes = [name[len(prefix) :] for name in sorted(known)]
    unknown = sorted(n for n in environ if n.startswith(prefix) and n not in known)
    for name in unknown:
        close = difflib.get_close_matches(name[len(prefix) :], suffixes, n=1, cutoff=0.6)
        hint = (
            f"did you mean {prefix}{close[0]}?"
            if close
            else "the variables it reads are listed in otel_drift.environment_variables."
        )
        _logger.warning(
            "otel-drift: ignoring the environment variable %s: it is not one otel-drift reads; %s",
            name,
            hint,
        )
    return unknown


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every ``OTEL_DRIFT_*`` variable; bad values fall back to defaults,
    and unknown ``OTEL_DRIFT_*`` names are logged (see :func:`warn_unknown_names`)."""
    env = os.environ if environ is None else environ
    warn_unknown_names(env)
    defaults = Settings()
    path = env.get(ev.OTEL_DRIFT_EXPECTATIONS, "").strip() or None
    window = _read(
        env,
        ev.OTEL_DRIFT_WINDOW,
        parse_window,
        defaults.default_window,
        "use a whole number of spans such as 500, or seconds with an s suffix such as 60s",
        shown_default=describe_window(defaults.default_window),
    )
    return Settings(
        enabled=_read(
            env, ev.OTEL_DRIFT_ENABLED, _parse_bool, defaults.enabled, "use true or false"
        ),
        expectations_path=path,
        default_window=window,
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
            shown_default=f"{defaults.flush_interval_s * 1000:g} ms",
        ),
        max_batch_rows=_read(
            env,
            ev.OTEL_DRIFT_MAX_BATCH_ROWS,
            _parse_non_negative_int,
            defaults.max_batch_rows,
            "use a whole number of rows >= 0 (0 observes every row)",
        ),
        cost_budget=_read(
            env,
            ev.OTEL_DRIFT_COST_BUDGET,
            parse_fraction,
            defaults.cost_budget,
            "use a fraction of the model call's time such as 0.05 or 5% (0 observes every row)",
        ),
        ml_spans=_read(
            env,
            ev.OTEL_DRIFT_ML_SPANS,
            _parse_ml_spans,
            defaults.ml_spans,
            "use all or sampled",
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
        value_histograms=_read(
            env,
            ev.OTEL_DRIFT_VALUE_HISTOGRAMS,
            _parse_bool,
            defaults.value_histograms,
            "use true or false",
        ),
        flush_on_sigterm=_read(
            env,
            ev.OTEL_DRIFT_FLUSH_ON_SIGTERM,
            _parse_bool,
            defaults.flush_on_sigterm,
            "use true or false",
        ),
        strict=_read(env, ev.OTEL_DRIFT_STRICT, _parse_bool, defaults.strict, "use true or false"),
        value_hash_key=env.get(ev.OTEL_DRIFT_VALUE_HASH_KEY, "").encode("utf-8") or None,
        learn=_read(
            env,
            ev.OTEL_DRIFT_LEARN,
            parse_learn_period,
            defaults.learn,
            "use a whole number of spans such as 20000, or a duration such as 90s, 30m or 2h",
            shown_default="off (nothing is learned)",
        ),
        # ``_read`` hands back the default object itself when the variable is unset or invalid.
        learn_window=window.spans if window is not defaults.default_window else None,
        baseline_dir=env.get(ev.OTEL_DRIFT_BASELINE_DIR, "").strip() or defaults.baseline_dir,
        max_expectations=_read(
            env,
            ev.OTEL_DRIFT_MAX_EXPECTATIONS,
            _parse_positive_int,
            defaults.max_expectations,
            "use a whole number of expectations >= 1",
        ),
    )
