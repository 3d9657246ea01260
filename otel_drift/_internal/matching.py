"""Compiled span selectors: which expectations does a finished span feed?

The conditions on a span's name, kind and instrumentation scope depend only on
those three values, which repeat endlessly in a service (one per route and
operation). So they are evaluated once per distinct triple and the result, a
``Plan``, is cached. A plan holds what is left to check against the span's
attributes, indexed so that expectations keyed on an attribute value
(``http.route: /checkout``) cost one dict lookup however many there are.

A span that matches nothing costs a tuple, a dict lookup and a truth test.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeGuard

from opentelemetry.trace import SpanKind

from otel_drift._internal.expectations.model import AttributeScalar, Expectation

#: Our own spans never feed the engine through the processor: evaluations and
#: violations would loop, and otel-drift's instrumentations (scopes
#: ``otel_drift.instrumentation.*``) hand their values to the engine directly.
OWN_SCOPE = "otel_drift"

_KINDS: Mapping[str, SpanKind] = {
    "internal": SpanKind.INTERNAL,
    "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
}

#: Distinct (name, kind, scope) triples remembered; a service that puts ids
#: in span names would otherwise grow the cache without bound.
MAX_CACHED_PLANS = 4096

PlanKey = tuple[str, SpanKind, str]


@dataclass(frozen=True)
class _Residual:
    """Attribute conditions still to check once a candidate is found."""

    index: int
    equals: tuple[tuple[str, AttributeScalar], ...]
    regexes: tuple[tuple[str, re.Pattern[str]], ...]

    def holds(self, attributes: Mapping[str, object]) -> bool:
        try:
            for key, expected in self.equals:
                if not _equal(attributes.get(key), expected):
                    return False
            for key, pattern in self.regexes:
                value = attributes.get(key)
                if value is None or pattern.search(str(value)) is None:
                    return False
        except Exception:
            # A value that cannot be compared or shown as text (an int past Python's
            # int -> str digit limit, an object with a broken __eq__) matches nothing;
            # raising would lose the span for every other expectation too.
            return False
        return True


#: (expectation index, residual conditions or None when there are none).
Candidate = tuple[int, "_Residual | None"]


@dataclass(frozen=True)
class Plan:
    """What to check for spans of one (name, kind, scope)."""

    unkeyed: tuple[Candidate, ...]
    #: (attribute, {value: candidates}) for expectations with an equality condition.
    keyed: tuple[tuple[str, Mapping[AttributeScalar, tuple[Candidate, ...]]], ...]

    def __bool__(self) -> bool:
        return bool(self.unkeyed or self.keyed)

    def matches(self, attributes: Mapping[str, object]) -> list[int]:
        # Plain loops, no generators: this runs on the request thread per matched span.
        found: list[int] = []
        for index, residual in self.unkeyed:
            if residual is None or residual.holds(attributes):
                found.append(index)
        for key, table in self.keyed:
            value = attributes.get(key)
            if value is None:
                continue
            try:
                candidates = table.get(value)  # type: ignore[call-overload]
                if candidates is None and _is_int(value):
                    # `http.status_code: "500"` written as a string still matches 500.
                    candidates = table.get(str(int(value)))
            except Exception:
                # Unhashable (the SDK keeps dict attribute values) or too many digits
                # to print: equal to no scalar of the file.
                continue
            if candidates:
                for index, residual in candidates:
                    if residual is None or residual.holds(attributes):
                        found.append(index)
        return found


EMPTY_PLAN = Plan(unkeyed=(), keyed=())


def _is_int(value: object) -> TypeGuard[int]:
    # Subclasses too (HTTPStatus, IntEnum): the SDK keeps them as they are.
    return isinstance(value, int) and not isinstance(value, bool)


def _equal(actual: object, expected: AttributeScalar) -> bool:
    if actual is None:
        return False
    if type(actual) is bool or type(expected) is bool:
        # True == 1 in Python; a flag attribute must not match a count of one.
        return actual is expected
    if actual == expected:
        return True
    return _is_int(actual) and isinstance(expected, str) and str(int(actual)) == expected


@dataclass(frozen=True)
class _Compiled:
    index: int
    span_name: str | None
    span_name_regex: re.Pattern[str] | None
    kind: SpanKind | None
    scope: str | None
    scope_regex: re.Pattern[str] | None
    equals: tuple[tuple[str, AttributeScalar], ...]
    regexes: tuple[tuple[str, re.Pattern[str]], ...]

    def admits(self, key: PlanKey) -> bool:
        name, kind, scope = key
        if self.span_name is not None and name != self.span_name:
            return False
        if self.span_name_regex is not None and self.span_name_regex.search(name) is None:
            return False
        if self.kind is not None and kind is not self.kind:
            return False
        if self.scope is not None and scope != self.scope:
            return False
        return self.scope_regex is None or self.scope_regex.search(scope) is not None


def _compile(index: int, expectation: Expectation) -> _Compiled:
    match = expectation.match
    return _Compiled(
        index=index,
        span_name=match.span_name,
        span_name_regex=re.compile(match.span_name_regex) if match.span_name_regex else None,
        kind=_KINDS[match.span_kind] if match.span_kind else None,
        scope=match.scope,
        scope_regex=re.compile(match.scope_regex) if match.scope_regex else None,
        equals=tuple(match.attributes.items()),
        regexes=tuple((k, re.compile(v)) for k, v in match.attribute_regexes.items()),
    )


def _candidate(
    index: int,
    equals: tuple[tuple[str, AttributeScalar], ...],
    regexes: tuple[tuple[str, re.Pattern[str]], ...],
) -> Candidate:
    return (index, _Residual(index, equals, regexes) if equals or regexes else None)


class SpanMatcher:
    """Finds the expectations a span feeds, with plans cached per (name, kind, scope)."""

    def __init__(self, expectations: Sequence[Expectation]) -> None:
        self._compiled = tuple(_compile(i, e) for i, e in enumerate(expectations))
        self.plans: dict[PlanKey, Plan] = {}
        #: Plans for match(), which instrumentations of our own scopes call: kept
        #: apart from ``plans``, where those scopes must stay empty.
        self._direct_plans: dict[PlanKey, Plan] = {}

    def plan_for(self, key: PlanKey) -> Plan:
        """Build (and cache) the plan for one (span name, kind, scope name)."""
        plan = self._build(key)
        if len(self.plans) >= MAX_CACHED_PLANS:
            self.plans.clear()
        self.plans[key] = plan
        return plan

    def match(
        self, name: str, kind: SpanKind, scope: str, attributes: Mapping[str, object]
    ) -> list[int]:
        key = (name, kind, scope)
        plan = self._direct_plans.get(key)
        if plan is None:
            # own_scopes: otel-drift's instrumentations ask for their own spans.
            plan = self._build(key, own_scopes=True)
            if len(self._direct_plans) >= MAX_CACHED_PLANS:
                self._direct_plans.clear()
            self._direct_plans[key] = plan
        return plan.matches(attributes) if plan is not EMPTY_PLAN else []

    def _build(self, key: PlanKey, *, own_scopes: bool = False) -> Plan:
        scope = key[2]
        if not own_scopes and (scope == OWN_SCOPE or scope.startswith(OWN_SCOPE + ".")):
            return EMPTY_PLAN
        unkeyed: list[Candidate] = []
        keyed: dict[str, dict[AttributeScalar, list[Candidate]]] = {}
        for compiled in self._compiled:
            if not compiled.admits(key):
                continue
            if compiled.equals:
                attr, value = compiled.equals[0]
                # A dict lookup finds the entry for 1 with True (equal hashes), which
                # _equal refuses: where that can happen, the residual checks the key again.
                ambiguous = isinstance(value, bool) or value in (0, 1)
                rest = compiled.equals if ambiguous else compiled.equals[1:]
                keyed.setdefault(attr, {}).setdefault(value, []).append(
                    _candidate(compiled.index, rest, compiled.regexes)
                )
            else:
                unkeyed.append(_candidate(compiled.index, (), compiled.regexes))
        if not unkeyed and not keyed:
            return EMPTY_PLAN
        return Plan(
            unkeyed=tuple(unkeyed),
            keyed=tuple(
                (attr, {value: tuple(rs) for value, rs in table.items()})
                for attr, table in keyed.items()
            ),
        )
