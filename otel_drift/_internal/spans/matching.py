"""Compiled span selectors: which expectations does a finished span feed?

The conditions on a span's name, kind and instrumentation scope depend only on
those three values, which repeat endlessly in a service (one per route and
operation). So they are evaluated once per distinct triple (a ``MatchKey``) and
the result, the ``Candidates`` for that key, is cached. It holds the
expectations such a span may feed and what is left to check against the span's
attributes, indexed so that expectations keyed on an attribute value
(``http.route: /checkout``) cost one dict lookup however many there are.

A span that matches nothing costs two dict lookups (scope name, span name)
and an index (its kind); one of a candidate's route, one more of an attribute
(``DriftSpanProcessor.on_end`` then keeps the decision by span name: one
lookup). It and the span reader read the candidates' precomputed shortcuts
(``key`` with ``direct`` and ``otherwise``, ``always``) inline, and fall
back to ``Candidates.matches``, the one complete definition, whenever they
cannot decide alone (``on_end`` only where it tests equalities alone:
``equalities_only``; a regex's cost grows with the value it reads).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeGuard

from opentelemetry.trace import SpanKind

from otel_drift._internal.expectations.model import AttributeScalar, Expectation
from otel_drift._internal.semconv import OWN_SCOPE

# Our own spans (OWN_SCOPE) never feed the engine through the processor:
# evaluations and violations would loop, and otel-drift's instrumentations
# (scopes ``otel_drift.instrumentation.*``) hand their values to the engine directly.

#: The expectations file's ``span_kind`` values.
SPAN_KINDS: Mapping[str, SpanKind] = {
    "internal": SpanKind.INTERNAL,
    "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
}

#: Distinct (name, kind, scope) triples remembered; a service that puts ids
#: in span names would otherwise grow the cache without bound.
MAX_MATCH_KEYS = 4096

MatchKey = tuple[str, SpanKind, str]
#: Slots of candidates per SpanKind value in ``SpanMatcher.index``.
KIND_SLOTS = max(int(kind.value) for kind in SpanKind) + 1


@dataclass(frozen=True)
class _Residual:
    """Attribute conditions still to check once a candidate is found."""

    index: int
    equals: tuple[tuple[str, AttributeScalar], ...]
    regexes: tuple[tuple[str, re.Pattern[str]], ...]

    def holds(self, attributes: Mapping[str, object]) -> bool:
        try:
            for key, expected in self.equals:
                if not attribute_equals(attributes.get(key), expected):
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
class Candidates:
    """The expectations spans of one (name, kind, scope) may feed, and what is left
    to check against their attributes."""

    unkeyed: tuple[Candidate, ...]
    #: (attribute, {value: candidates}) for expectations with an equality condition.
    keyed: tuple[tuple[str, Mapping[AttributeScalar, tuple[Candidate, ...]]], ...]
    #: Shortcuts for the span reader's hot loop, derived from the two above. ``always``:
    #: the indices every span of this key matches, when no attribute matters.
    always: tuple[int, ...] | None = field(init=False, repr=False, compare=False)
    #: When one attribute's value alone decides (one keyed attribute, no residual
    #: condition, no integer written as a string among the values): that attribute,
    #: and {value: indices} in ``direct``, each with the unkeyed candidates'; a value
    #: absent from ``direct`` (or unhashable) feeds ``otherwise``, the unkeyed ones
    #: (a learned file's traffic mix beside its routes), often none. Otherwise None,
    #: and ``matches`` decides.
    key: str | None = field(init=False, repr=False, compare=False)
    direct: Mapping[object, tuple[int, ...]] = field(init=False, repr=False, compare=False)
    otherwise: tuple[int, ...] = field(init=False, repr=False, compare=False)
    #: Whether ``matches`` tests equalities only (no regex, whose cost grows with the
    #: value's length): then ``on_end`` may call it on the request thread.
    equalities_only: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        always = None
        if not self.keyed and all(residual is None for _, residual in self.unkeyed):
            always = tuple(index for index, _ in self.unkeyed)
        key: str | None = None
        direct: dict[object, tuple[int, ...]] = {}
        otherwise: tuple[int, ...] = ()
        if len(self.keyed) == 1 and all(residual is None for _, residual in self.unkeyed):
            key, table = self.keyed[0]
            otherwise = tuple(index for index, _ in self.unkeyed)
            for value, candidates in table.items():
                if any(residual is not None for _, residual in candidates) or (
                    isinstance(value, str) and _int_text(value)
                ):
                    key, direct, otherwise = None, {}, ()
                    break
                # The order ``matches`` finds them in: unkeyed first.
                direct[value] = otherwise + tuple(index for index, _ in candidates)
        every = [
            *self.unkeyed,
            *(c for _, table in self.keyed for cs in table.values() for c in cs),
        ]
        equalities_only = all(residual is None or not residual.regexes for _, residual in every)
        object.__setattr__(self, "equalities_only", equalities_only)
        object.__setattr__(self, "always", always)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "direct", direct)
        object.__setattr__(self, "otherwise", otherwise)

    def __bool__(self) -> bool:
        return bool(self.unkeyed or self.keyed)

    def matches(self, attributes: Mapping[str, object]) -> list[int]:
        # Plain loops, no generators: this runs per matched span.
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


NO_CANDIDATES = Candidates(unkeyed=(), keyed=())


def _int_text(text: str) -> bool:
    """Whether ``text`` is how ``str(int(...))`` writes some integer."""
    try:
        return str(int(text)) == text
    except ValueError:
        return False


def _is_int(value: object) -> TypeGuard[int]:
    # Subclasses too (HTTPStatus, IntEnum): the SDK keeps them as they are.
    return isinstance(value, int) and not isinstance(value, bool)


def attribute_equals(actual: object, expected: AttributeScalar) -> bool:
    """Whether a span's attribute value meets ``match.attributes``' ``expected``."""
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

    def admits(self, key: MatchKey) -> bool:
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
        kind=SPAN_KINDS[match.span_kind] if match.span_kind else None,
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
    """Finds the expectations a span feeds, with candidates cached per (name, kind, scope)."""

    def __init__(self, expectations: Sequence[Expectation]) -> None:
        self._compiled = tuple(_compile(i, e) for i, e in enumerate(expectations))
        #: The span reader's candidates per key; our own scopes map to NO_CANDIDATES.
        self.candidates: dict[MatchKey, Candidates] = {}
        #: The same as ``candidates`` (SpanKind members only), by scope name, then
        #: span name, then SpanKind value: what the span reader looks up per span.
        #: Two lookups of strings and an index cost less than building and hashing
        #: a (name, kind, scope) tuple, whose SpanKind hashes in Python (~0.1 us).
        self.index: dict[str, dict[str, list[Candidates | None]]] = {}
        #: Candidates for match(), which instrumentations of our own scopes call: kept
        #: apart from ``candidates``, where those scopes must stay empty.
        self._direct_candidates: dict[MatchKey, Candidates] = {}
        #: Per SpanKind value: whether some expectation may match a span of that kind.
        self.kinds: tuple[bool, ...] = tuple(
            any(c.kind is None or c.kind._value_ == value for c in self._compiled)
            for value in range(KIND_SLOTS)
        )

    def candidates_for(self, key: MatchKey) -> Candidates:
        """The candidates for one (span name, kind, scope name), built and cached once."""
        candidates = self.candidates.get(key)
        if candidates is None:
            candidates = self._build(key)
            if len(self.candidates) >= MAX_MATCH_KEYS:
                self.candidates.clear()
                self.index.clear()
            self.candidates[key] = candidates
        name, kind, scope = key
        if type(kind) is SpanKind:
            slots = self.index.setdefault(scope, {}).setdefault(name, [None] * KIND_SLOTS)
            slots[kind._value_] = candidates
        return candidates

    def match(
        self, name: str, kind: SpanKind, scope: str, attributes: Mapping[str, object]
    ) -> list[int]:
        key = (name, kind, scope)
        candidates = self._direct_candidates.get(key)
        if candidates is None:
            # own_scopes: otel-drift's instrumentations ask for their own spans.
            candidates = self._build(key, own_scopes=True)
            if len(self._direct_candidates) >= MAX_MATCH_KEYS:
                self._direct_candidates.clear()
            self._direct_candidates[key] = candidates
        return candidates.matches(attributes) if candidates is not NO_CANDIDATES else []

    def _build(self, key: MatchKey, *, own_scopes: bool = False) -> Candidates:
        scope = key[2]
        if not own_scopes and (scope == OWN_SCOPE or scope.startswith(OWN_SCOPE + ".")):
            return NO_CANDIDATES
        unkeyed: list[Candidate] = []
        keyed: dict[str, dict[AttributeScalar, list[Candidate]]] = {}
        for compiled in self._compiled:
            if not compiled.admits(key):
                continue
            if compiled.equals:
                attr, value = compiled.equals[0]
                # A dict lookup finds the entry for 1 with True (equal hashes), which
                # attribute_equals refuses: where that can happen, the residual checks
                # the key again.
                ambiguous = isinstance(value, bool) or value in (0, 1)
                rest = compiled.equals if ambiguous else compiled.equals[1:]
                keyed.setdefault(attr, {}).setdefault(value, []).append(
                    _candidate(compiled.index, rest, compiled.regexes)
                )
            else:
                unkeyed.append(_candidate(compiled.index, (), compiled.regexes))
        if not unkeyed and not keyed:
            return NO_CANDIDATES
        return Candidates(
            unkeyed=tuple(unkeyed),
            keyed=tuple(
                (attr, {value: tuple(rs) for value, rs in table.items()})
                for attr, table in keyed.items()
            ),
        )
