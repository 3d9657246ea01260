"""Expectations that match no span: noticed on the worker, from spans it reads anyway.

A typo in ``match`` (``http.route: /Search`` for ``/search``) makes an
expectation match nothing: no window closes, nothing is evaluated, and nothing
says so. The span reader hands :class:`UnmatchedWatch` the spans of its first
passes. It counts them and keeps, for each field some expectation's ``match``
names (span name, kind, scope, an attribute), up to :data:`MAX_SEEN` distinct
values, and which of each expectation's conditions some span met.

The rule: once :data:`UNMATCHED_AFTER_SPANS` spans of the service (not
otel-drift's own) were read, an expectation that has received no value at
all is confirmed one worker pass later (spans queued one by one are fed by
then) and reported: one warning naming the condition no span met and the
values seen closest to it, and ``drift.expectation.unmatched`` is 1 for it
until a span matches it (a rare route may simply not have come yet). Spans of
kinds no expectation watches are not parked by ``on_end``, so they are never
read or counted here. Expectations fed by otel-drift's instrumentations
(``ml.*`` sources, ``otel_drift.*`` scopes, OpenFeature flag evaluations) are
not matched against spans and are left out.

Cost: until the decision, ``on_end`` parks every span of a watched kind whole
(it decides on the request thread only afterwards), and the worker reads the
fields of those first 1,000 spans once more; after the decision, no per-span
work at all: spans that match nothing are neither parked nor read.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import ReadableSpan

from otel_drift._internal.engine.core import DriftEngine
from otel_drift._internal.expectations.model import (
    ML_SOURCES,
    AttributeScalar,
    Expectation,
    ExpectationsFile,
)
from otel_drift._internal.semconv import METRIC_UNMATCHED, OWN_SCOPE
from otel_drift._internal.spans.matching import attribute_equals

_logger = logging.getLogger(__name__)

#: Spans read (the service's own, of watched kinds) before an expectation that
#: received nothing is reported.
UNMATCHED_AFTER_SPANS = 1000
#: Distinct values kept per field, to name the closest ones.
MAX_SEEN = 50
#: Values named in a warning.
SHOWN = 5
#: Longest value kept (a long URL or SQL statement is cut).
MAX_TEXT = 100

#: The fields a condition reads: the span's name, kind, scope, or an attribute.
_NAME, _KIND, _SCOPE = "span_name", "span_kind", "scope"


@dataclass(frozen=True)
class _Condition:
    field: str  # _NAME, _KIND, _SCOPE or an attribute name
    label: str  # "http.route=/Search", "span_name matching ^GET"
    target: str  # what seen values are compared with for closeness
    test: Callable[[object], bool]


def _regex_test(pattern: str) -> Callable[[object], bool]:
    compiled = re.compile(pattern)
    return lambda value: value is not None and compiled.search(str(value)) is not None


def _equals_test(expected: AttributeScalar) -> Callable[[object], bool]:
    return lambda value: attribute_equals(value, expected)


def _conditions(expectation: Expectation) -> tuple[_Condition, ...]:
    match = expectation.match
    found: list[_Condition] = []
    if match.span_name is not None:
        name = match.span_name
        found.append(_Condition(_NAME, f"span_name={name}", name, _equals_test(name)))
    if match.span_name_regex is not None:
        pattern = match.span_name_regex
        label = f"span_name matching {pattern}"
        found.append(_Condition(_NAME, label, pattern, _regex_test(pattern)))
    if match.span_kind is not None:
        kind = match.span_kind  # compared with the kind's name, lower case, as written
        found.append(_Condition(_KIND, f"span_kind={kind}", kind, _equals_test(kind)))
    if match.scope is not None:
        scope = match.scope
        found.append(_Condition(_SCOPE, f"scope={scope}", scope, _equals_test(scope)))
    if match.scope_regex is not None:
        pattern = match.scope_regex
        found.append(_Condition(_SCOPE, f"scope matching {pattern}", pattern, _regex_test(pattern)))
    for key, expected in match.attributes.items():
        found.append(_Condition(key, f"{key}={expected}", str(expected), _equals_test(expected)))
    for key, pattern in match.attribute_regexes.items():
        found.append(_Condition(key, f"{key} matching {pattern}", pattern, _regex_test(pattern)))
    return tuple(found)


#: The OpenFeature conventions' event name: otel-drift's OpenFeature hook hands
#: each flag evaluation over as if it were a span of this name; none is made.
FLAG_EVALUATION = "feature_flag.evaluation"


def span_matched(expectation: Expectation) -> bool:
    """Whether ``expectation`` is fed by matching spans, not by one of otel-drift's
    instrumentations (``ml.*`` sources, ``otel_drift.*`` scopes, flag evaluations)."""
    match = expectation.match
    if any(watch.source.kind in ML_SOURCES for watch in expectation.watch):
        return False
    if match.span_name == FLAG_EVALUATION:
        return False
    scope = match.scope
    if scope is not None and (scope == OWN_SCOPE or scope.startswith(OWN_SCOPE + ".")):
        return False
    return match.scope_regex is None or "otel_drift" not in match.scope_regex.replace("\\", "")


def _text(value: object) -> str:
    text = str(value)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


class UnmatchedWatch:
    """Finds and reports the expectations no span matched (see the module's docstring)."""

    def __init__(self, engine: DriftEngine, expectations: ExpectationsFile) -> None:
        self._engine = engine
        self._path = expectations.path
        self._watched: dict[int, tuple[_Condition, ...]] = {}
        for index, expectation in enumerate(expectations.expectations):
            conditions = _conditions(expectation)
            if conditions and span_matched(expectation):
                self._watched[index] = conditions
        self._names = [e.name for e in expectations.expectations]
        #: Per field: the conditions reading it, as (expectation index, position).
        self._by_field: dict[str, list[tuple[int, int]]] = {}
        for index, conditions in self._watched.items():
            for position, condition in enumerate(conditions):
                self._by_field.setdefault(condition.field, []).append((index, position))
        self._attributes = [f for f in self._by_field if f not in (_NAME, _KIND, _SCOPE)]
        self._seen: dict[str, dict[str, None]] = {f: {} for f in self._by_field}
        self._met: set[tuple[int, int]] = set()
        self._read = 0
        self._suspects: list[int] | None = None
        #: Whether spans are still wanted (no decision made yet).
        self.active = bool(self._watched)
        self._reported: tuple[str, ...] = ()

    def reported(self) -> tuple[str, ...]:
        """Names of the expectations reported as matching nothing (any thread)."""
        return self._reported

    # -- on the worker ---------------------------------------------------------

    def see(self, spans: Sequence[ReadableSpan]) -> None:
        """Count the service's spans and note their fields, up to the decision."""
        for span in spans:
            if self._read >= UNMATCHED_AFTER_SPANS:
                return
            try:
                self._see(span)
            except Exception:  # an odd span: not counted, nothing else lost
                _logger.debug("otel-drift: span skipped by the unmatched check", exc_info=True)

    def _see(self, span: ReadableSpan) -> None:
        scope = span.instrumentation_scope
        scope_name = "" if scope is None else scope.name
        if scope_name == OWN_SCOPE or scope_name.startswith(OWN_SCOPE + "."):
            return
        self._read += 1
        raw = getattr(span, "_attributes", None)
        attributes: Mapping[str, object] = (
            raw._dict if type(raw) is BoundedAttributes else (span.attributes or {})
        )
        values: dict[str, object] = {
            _NAME: span.name,
            _KIND: span.kind.name.lower(),
            _SCOPE: scope_name,
        }
        for key in self._attributes:
            values[key] = attributes.get(key)
        for field_name, conditions in self._by_field.items():
            value = values.get(field_name)
            if value is None:
                continue
            seen = self._seen[field_name]
            if len(seen) < MAX_SEEN:
                seen.setdefault(_text(value), None)
            for met in conditions:
                if met not in self._met and self._watched[met[0]][met[1]].test(value):
                    self._met.add(met)

    def check(self) -> None:
        """Decide, once enough spans were read (the engine's lock held)."""
        if self._read < UNMATCHED_AFTER_SPANS:
            return
        if self._suspects is None:
            # Confirmed on the next pass: spans queued one by one are fed by then.
            self._suspects = [index for index in self._watched if not self._received(index)]
            self.active = bool(self._suspects)
            return
        unmatched = [index for index in self._suspects if not self._received(index)]
        for index in unmatched:
            _logger.warning("%s", self.message(index))
        self._reported = tuple(self._names[index] for index in unmatched)
        self.active = False

    def _received(self, index: int) -> bool:
        name = self._names[index]
        if self._engine.dropped.get(index, 0):
            return True
        return any(
            state.total_valid or state.total_missing or state.total_invalid
            for state in self._engine.watch_states()
            if state.expectation == name
        )

    def message(self, index: int) -> str:
        """The warning for expectation ``index``: which condition no span met, and
        the values seen closest to it."""
        conditions = self._watched[index]
        unmet = [
            condition
            for position, condition in enumerate(conditions)
            if (index, position) not in self._met
        ]
        if unmet:
            why = "; ".join(f"no span had {c.label}; seen: {self._closest(c)}" for c in unmet)
        else:
            labels = ", ".join(c.label for c in conditions)
            why = f"no span had all of {labels} at once (each was met by some span)"
        return (
            f'otel-drift: expectation "{self._names[index]}" matched none of the first '
            f"{self._read} spans read: {why}. Fix: correct its match in {self._path} "
            f"(if such spans are only rare, it counts in {METRIC_UNMATCHED} until one comes)."
        )

    def _closest(self, condition: _Condition) -> str:
        seen = list(self._seen.get(condition.field, {}))
        if not seen:
            return f"no span had {condition.field} at all"
        target = condition.target

        def similarity(text: str) -> float:
            return difflib.SequenceMatcher(None, target.lower(), text.lower()).ratio()

        shown = sorted(seen, key=similarity, reverse=True)[:SHOWN]
        more = len(seen) - len(shown)
        tail = f" (and {more}{'+' if len(seen) >= MAX_SEEN else ''} more)" if more > 0 else ""
        return ", ".join(shown) + tail
