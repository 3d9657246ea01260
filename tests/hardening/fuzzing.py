"""Hostile attribute values, the spans that carry them, and an oracle for what must be counted.

Used by the short property tests (hypothesis draws the values) and by the
long run (``python -m tests.hardening.fuzz_long``, a seeded generator over the
same pools, fast enough for millions of spans).

The oracle restates the documented rules independently of ``values.py`` and
``matching.py``: which expectations a span matches, and whether each watched
value is valid, missing or invalid. The tests compare the engine's counts
with it, exactly.
"""

from __future__ import annotations

import enum
import math
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus

import numpy as np
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from otel_drift import DriftSpanProcessor
from tests.hardening.support import Counts

FUZZ_EXPECTATIONS = """\
version: 1
expectations:
  - name: numbers
    match: {span_name: fuzz}
    window: {spans: 37}
    min_samples: 5
    watch:
      latency:
        source: span.duration
        unit: us
        baseline: {bins: [0, 10, 100, 1000], fractions: [0.5, 0.3, 0.2]}
      amount:
        attribute: fz.num
        baseline: {bins: [0, 10, 100, 1000], fractions: [0.5, 0.3, 0.2]}
        constraints: {min: 0, max: 500, type: number}
      count:
        attribute: [fz.int, fz.num]
        baseline: {quantiles: {0: 0, 0.5: 10, 1: 100}}
        method: cusum
        constraints: {type: integer, required: true}
      score:
        attribute: fz.num
        baseline: {bins: [-1, 0, 1], fractions: [0.5, 0.5]}
        method: ks
  - name: labels
    match: {span_name: fuzz}
    window: {spans: 23}
    min_samples: 5
    watch:
      plan:
        attribute: fz.cat
        baseline: {categories: {free: 0.5, pro: 0.3, "200": 0.2}}
        constraints: {allowed: [free, pro, "200"], type: string}
      klass:
        source: http.status_class
        attribute: [fz.int, fz.num]
        baseline: {categories: {2xx: 0.9, 5xx: 0.1}}
      status:
        source: span.status
        baseline: {categories: {UNSET: 0.9, ERROR: 0.1}}
      tag:
        attribute: fz.cat
        constraints: {required: true}
      flag:
        attribute: fz.flag
        constraints: {type: boolean}
  - name: keyed-str
    match: {span_name: fuzz, attributes: {fz.key: "200"}}
    window: {spans: 10}
    min_samples: 1
    watch:
      v: {attribute: fz.num, constraints: {min: 0}}
  - name: keyed-int
    match: {span_name: fuzz, attributes: {fz.key: 1}}
    window: {spans: 10}
    min_samples: 1
    watch:
      v: {attribute: fz.cat, constraints: {required: true}}
  - name: keyed-bool
    match: {span_name: fuzz, attributes: {fz.key: true}}
    window: {spans: 10}
    min_samples: 1
    watch:
      v: {attribute: fz.num, constraints: {max: 10}}
  - name: keyed-float
    match: {span_name: fuzz, attributes: {fz.key: 2.5, fz.flag: false}}
    window: {spans: 10}
    min_samples: 1
    watch:
      v: {attribute: fz.int, constraints: {type: integer}}
  - name: regex
    match: {span_name: fuzz, attribute_regex: {fz.cat: "^p"}}
    window: {spans: 10}
    min_samples: 1
    watch:
      v: {attribute: fz.cat, constraints: {allowed: [pro]}}
"""

#: (expectation, watch, kind, attributes read: first present wins).
#: kind: "numeric", "label", "class" (http.status_class), "always" (duration/status).
WATCHES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("numbers", "latency", "duration", ()),
    ("numbers", "amount", "numeric", ("fz.num",)),
    ("numbers", "count", "numeric", ("fz.int", "fz.num")),
    ("numbers", "score", "numeric", ("fz.num",)),
    ("labels", "plan", "label", ("fz.cat",)),
    ("labels", "klass", "label", ("fz.int", "fz.num")),
    ("labels", "status", "always", ()),
    ("labels", "tag", "label", ("fz.cat",)),
    ("labels", "flag", "label", ("fz.flag",)),
    ("keyed-str", "v", "numeric", ("fz.num",)),
    ("keyed-int", "v", "label", ("fz.cat",)),
    ("keyed-bool", "v", "numeric", ("fz.num",)),
    ("keyed-float", "v", "numeric", ("fz.int",)),
    ("regex", "v", "label", ("fz.cat",)),
)
EXPECTATION_NAMES = tuple(dict.fromkeys(e for e, _, _, _ in WATCHES))
#: The constraints of FUZZ_EXPECTATIONS, restated.
CONSTRAINTS: dict[tuple[str, str], dict[str, object]] = {
    ("numbers", "amount"): {"min": 0, "max": 500, "type": "number"},
    ("numbers", "count"): {"type": "integer", "required": True},
    ("labels", "plan"): {"allowed": {"free", "pro", "200"}, "type": "string"},
    ("labels", "tag"): {"required": True},
    ("labels", "flag"): {"type": "boolean"},
    ("keyed-str", "v"): {"min": 0},
    ("keyed-int", "v"): {"required": True},
    ("keyed-bool", "v"): {"max": 10},
    ("keyed-float", "v"): {"type": "integer"},
    ("regex", "v"): {"allowed": {"pro"}},
}
KEYS = ("fz.num", "fz.int", "fz.cat", "fz.flag", "fz.key")
FUZZ_SCOPE = "fuzz-scope"

#: 10 MB: a request body pasted into an attribute. Built once, shared by reference.
HUGE_DIGITS = "7" * 10_000_000
HUGE_TEXT = "p" + "x" * 10_000_000


class Plan(enum.StrEnum):
    FREE = "free"
    PRO = "pro"


class Ratio(float):
    """A float subclass, as libraries return them (numpy's float64 is one too)."""


class Count(int):
    """An int subclass (IntEnum, HTTPStatus and numpy's bool aside, libraries have these)."""


class Evil:
    """Raises from every protocol a careless processor might use (but repr). Only reachable
    by calling ``on_end`` with a ReadableSpan that did not pass through the SDK."""

    def __hash__(self) -> int:
        raise RuntimeError("hash")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    def __str__(self) -> str:
        raise RuntimeError("str")

    def __repr__(self) -> str:
        # Kept working: hypothesis prints failing examples with it.
        return "Evil()"

    def __float__(self) -> float:
        raise RuntimeError("float")

    def __bool__(self) -> bool:
        raise RuntimeError("bool")


#: Values an SDK span attribute can hold (SDK 1.45 keeps all of these as given).
SDK_SPECIALS: tuple[object, ...] = (
    None,
    True,
    False,
    0,
    1,
    -1,
    200,
    503,
    1.0,
    2.5,
    -0.0,
    math.nan,
    math.inf,
    -math.inf,
    1e308,
    5e-324,
    2**63,
    -(2**63) - 1,
    10**30,
    10**5000,  # more digits than Python's int -> str limit (4300)
    "",
    "200",
    "404",
    "2.5",
    " 42 ",
    "1e400",
    "nan",
    "-inf",
    "0x10",
    "1_000",
    "\u0663",  # ARABIC-INDIC DIGIT THREE: float() reads it
    "\x00",
    "\ud800",  # a lone surrogate: not encodable as UTF-8
    "free",
    "pro",
    "pp",
    "true",
    "x" * 65,
    "9" * 64,
    "p" * 200,
    HUGE_DIGITS,
    HUGE_TEXT,
    b"",
    b"200",
    b"\xff\xfe",
    (),
    (1, 2),
    ("a", "b"),
    (1, "a", None),
    ((1,), (2,)),
    (math.nan,),
    {"a": 1},
    {"a": (1, {"b": 2})},
    np.float64(2.5),
    np.float64(math.nan),
    np.float32(0.5),
    HTTPStatus.OK,
    HTTPStatus.SERVICE_UNAVAILABLE,
    Plan.PRO,
    Ratio(1.0),
    Ratio(2.5),
    Count(1),
    Count(200),
)

#: Further values a hand-built ReadableSpan can carry (the SDK would convert them).
#: Not numpy's bool_: it equals 1 by value and hash, as True did before bool was special-cased,
#: and the SDK turns it into the text "True" anyway.
RAW_ONLY: tuple[object, ...] = (
    [1, 2],
    ["pro"],
    {1, 2},
    bytearray(b"200"),
    np.array([1.0, 2.0]),
    np.array(2.5),
    np.int64(7),
    object(),
    Evil(),
    1 + 2j,
    Ellipsis,
)

_REGEX = re.compile("^p")


def _key_equal(actual: object, expected: object) -> bool:
    """Equality as documented for ``match.attributes``: true/false equal only
    themselves, numbers compare by value, an integer equals its decimal string."""
    if actual is None or type(actual) is Evil:
        return False
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual is expected
    number = int | float
    if isinstance(actual, number) and isinstance(expected, number):
        return bool(actual == expected)
    if isinstance(actual, str) and isinstance(expected, str):
        return str.__eq__(actual, expected)
    if isinstance(actual, int) and isinstance(expected, str):
        try:
            return str(int(actual)) == expected
        except ValueError:  # beyond the int -> str digit limit: equals no text
            return False
    return False


def _regex_holds(value: object) -> bool:
    if value is None:
        return False
    try:
        return _REGEX.search(str(value)) is not None
    except Exception:  # an object that cannot be shown as text matches nothing
        return False


def expected_matches(name: str, attributes: Mapping[str, object]) -> list[str]:
    if name != "fuzz":
        return []
    found = ["numbers", "labels"]
    key = attributes.get("fz.key")
    if _key_equal(key, "200"):
        found.append("keyed-str")
    if _key_equal(key, 1):
        found.append("keyed-int")
    if _key_equal(key, True):
        found.append("keyed-bool")
    if _key_equal(key, 2.5) and _key_equal(attributes.get("fz.flag"), False):
        found.append("keyed-float")
    if _regex_holds(attributes.get("fz.cat")):
        found.append("regex")
    return found


def numeric_outcome(value: object) -> str:
    """Documented in values.py: numbers and short numeric text are valid, True is no number."""
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return "invalid"
    if isinstance(value, int | float):
        try:
            float(value)
        except OverflowError:
            return "invalid"
        return "valid"
    if isinstance(value, str) and len(value) <= 64:
        try:
            float(value)
        except ValueError:
            return "invalid"
        return "valid"
    return "invalid"


def label_outcome(value: object) -> str:
    """Text, true/false and numbers are labels; anything else cannot be one."""
    if value is None:
        return "missing"
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            str(int(value))
        except ValueError:
            return "invalid"
        return "valid"
    return "valid" if isinstance(value, str | bool | float) else "invalid"


def label_text(value: object) -> str:
    """The label of a value label_outcome calls valid: what ``allowed`` compares."""
    if isinstance(value, str):
        return str.__str__(value)[:128]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))[:128]
    assert isinstance(value, float)
    number = float(value)
    if math.isfinite(number) and number.is_integer():
        return str(int(number))[:128]
    return repr(number)


def _type_holds(value: object, wanted: object) -> bool:
    if wanted == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if wanted == "string":
        return isinstance(value, str)
    if wanted == "integer":
        return isinstance(value, int)
    return isinstance(value, int | float)


def broken_rules(kind: str, rules: Mapping[str, object], value: object) -> list[str]:
    """The constraints ``value`` breaks, as the expectations file documents them."""
    broken: list[str] = []
    if rules.get("required") and value is None:
        broken.append("required")
    numeric = kind == "numeric" and numeric_outcome(value) == "valid"
    number = float(value) if numeric else math.nan  # type: ignore[arg-type]
    wanted = rules.get("type")
    if wanted is not None and value is not None:
        whole = math.isfinite(number) and number.is_integer()
        if not _type_holds(value, wanted) or (wanted == "integer" and numeric and not whole):
            broken.append("type")
    low, high = rules.get("min"), rules.get("max")
    if isinstance(low, int | float) and numeric and number < low:
        broken.append("min")
    if isinstance(high, int | float) and numeric and number > high:
        broken.append("max")
    allowed = rules.get("allowed")
    is_label = label_outcome(value) == "valid"
    if isinstance(allowed, set) and is_label and label_text(value) not in allowed:
        broken.append("allowed")
    return broken


def first_present(attributes: Mapping[str, object], names: tuple[str, ...]) -> object:
    for name in names:
        value = attributes.get(name)
        if value is not None:
            return value
    return None


@dataclass
class Expected:
    """What the oracle says the engine must have counted."""

    spans: int = 0
    values: int = 0
    matched: Counter[str] = field(default_factory=Counter)
    #: (expectation, watch) -> outcome -> count.
    outcomes: defaultdict[tuple[str, str], Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    #: (expectation, watch) -> rule -> count.
    violations: defaultdict[tuple[str, str], Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    #: Exceptions that came out of span.end() / on_end: each one would hit the host.
    escapes: list[str] = field(default_factory=list)

    def add(
        self, name: str, attributes: Mapping[str, object], *, has_duration: bool, values: int
    ) -> None:
        self.spans += 1
        self.values += values
        matched = expected_matches(name, attributes)
        self.matched.update(matched)
        for expectation, watch, kind, names in WATCHES:
            if expectation not in matched:
                continue
            value = first_present(attributes, names)
            if kind == "numeric":
                outcome = numeric_outcome(value)
            elif kind == "label":
                outcome = label_outcome(value)
            elif kind == "duration":
                outcome = "valid" if has_duration else "missing"
            else:
                outcome = "valid"
            self.outcomes[expectation, watch][outcome] += 1
            rules = CONSTRAINTS.get((expectation, watch))
            if rules is not None:
                for rule in broken_rules(kind, rules, value):
                    self.violations[expectation, watch][rule] += 1


def short_repr(value: object, limit: int = 60) -> str:
    """repr for reports: 10 MB strings and 5000-digit ints (whose repr raises) stay short."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"<int of {value.bit_length()} bits>"
    if isinstance(value, str | bytes) and len(value) > limit:
        return f"{value[:limit]!r}...<{len(value)} long>"
    try:
        text = repr(value)
    except Exception as error:
        return f"<{type(value).__name__}: repr raised {type(error).__name__}>"
    return text if len(text) <= limit * 2 else text[: limit * 2] + "..."


@dataclass(frozen=True)
class SpanCase:
    name: str
    attributes: dict[str, object]
    error: bool = False
    #: Only for hand-built spans: (start, end), either may be None.
    times: tuple[int | None, int | None] | None = None

    def __repr__(self) -> str:
        shown = ", ".join(f"{k!r}: {short_repr(v)}" for k, v in self.attributes.items())
        return f"SpanCase({self.name!r}, {{{shown}}}, error={self.error}, times={self.times})"


def emit_sdk(provider: TracerProvider, cases: Iterable[SpanCase], expected: Expected) -> None:
    """Through the real SDK: ``start_span`` cleans the attributes, ``end`` calls on_end."""
    tracer = provider.get_tracer(FUZZ_SCOPE)
    for case in cases:
        span = tracer.start_span(case.name, attributes=case.attributes)  # type: ignore[arg-type]
        if case.error:
            span.set_status(Status(StatusCode.ERROR))
        try:
            span.end()
        except Exception as error:
            expected.escapes.append(f"{type(error).__name__}: {error}"[:200])
        # What the SDK kept is what the processor saw; count against that.
        assert isinstance(span, ReadableSpan)
        expected.add(
            case.name,
            dict(span.attributes or {}),
            has_duration=True,
            values=len(case.attributes),
        )


_CONTEXT = SpanContext(0x1234, 0x5678, is_remote=False, trace_flags=TraceFlags(1))
_SCOPE = InstrumentationScope(FUZZ_SCOPE)
# Given, because ReadableSpan() without one runs the resource detectors (in threads) per span.
_RESOURCE = Resource.get_empty()


def emit_raw(processor: DriftSpanProcessor, cases: Iterable[SpanCase], expected: Expected) -> None:
    """Straight into ``on_end``, attributes unchecked: what a buggy bridge might hand over."""
    for case in cases:
        start, end = case.times if case.times is not None else (1_000, 2_000)
        span = ReadableSpan(
            name=case.name,
            context=_CONTEXT,
            attributes=case.attributes,  # type: ignore[arg-type]
            kind=SpanKind.INTERNAL,
            instrumentation_scope=_SCOPE,
            resource=_RESOURCE,
            start_time=start,
            end_time=end,
            status=Status(StatusCode.ERROR) if case.error else Status(StatusCode.UNSET),
        )
        try:
            processor.on_end(span)
        except Exception as error:
            expected.escapes.append(f"{type(error).__name__}: {error}"[:200])
        expected.add(
            case.name,
            case.attributes,
            has_duration=start is not None and end is not None,
            values=len(case.attributes),
        )


class RandomCases:
    """Seeded, fast span cases for the long run: pools plus random numbers and text."""

    def __init__(self, seed: int, *, raw: bool) -> None:
        self._rng = random.Random(seed)
        self._pool = SDK_SPECIALS + (RAW_ONLY if raw else ())
        self._raw = raw

    def value(self) -> object:
        rng = self._rng
        pick = rng.random()
        if pick < 0.45:
            return rng.choice(self._pool)
        if pick < 0.6:
            return rng.uniform(-50, 1500)
        if pick < 0.7:
            return rng.randint(-(2**70), 2**70) if rng.random() < 0.1 else rng.randint(-5, 999)
        if pick < 0.8:
            return repr(rng.uniform(-10, 2000)) if rng.random() < 0.5 else str(rng.randint(0, 600))
        if pick < 0.9:
            size = rng.randint(0, 12)
            return "".join(chr(rng.randint(0x20, 0x2FFF)) for _ in range(size))
        length = rng.randint(0, 4)
        return tuple(rng.choice((1, 2.5, "a", True, None)) for _ in range(length))

    def case(self) -> SpanCase:
        rng = self._rng
        attributes = {key: self.value() for key in KEYS if rng.random() < 0.8}
        times: tuple[int | None, int | None] | None = None
        if self._raw:
            times = rng.choice(((1_000, 2_000), (None, 5), (5, None), (10**6, 0), (0, 2**62)))
        return SpanCase(
            name="fuzz" if rng.random() < 0.9 else "other",
            attributes=attributes,
            error=rng.random() < 0.1,
            times=times,
        )


def mismatches(expected: Expected, counts: Counts, *, exact_outcomes: bool) -> list[str]:
    """Every way the engine's counts differ from the oracle's (empty when they agree)."""
    problems: list[str] = []
    for expectation, watch, _kind, _names in WATCHES:
        matched = expected.matched[expectation]
        seen = counts.seen(expectation, watch)
        if seen != matched:
            problems.append(
                f"{expectation}.{watch}: valid+missing+invalid+dropped = {seen}, "
                f"matched = {matched} ({dict(counts.observations.get((expectation, watch), {}))}, "
                f"dropped {counts.dropped[expectation]})"
            )
        if exact_outcomes:
            want = +expected.outcomes.get((expectation, watch), Counter())
            got = +counts.observations.get((expectation, watch), Counter())
            if want != got:
                problems.append(f"{expectation}.{watch}: outcomes {dict(got)} != {dict(want)}")
            want = +expected.violations.get((expectation, watch), Counter())
            got = +counts.violations.get((expectation, watch), Counter())
            if want != got:
                problems.append(f"{expectation}.{watch}: violations {dict(got)} != {dict(want)}")
    return problems
