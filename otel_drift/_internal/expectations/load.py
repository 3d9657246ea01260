"""Loading an expectations file: read, parse, check against the schema and the rules, build.

Every step reports into one :class:`ProblemList`, so a file with several
mistakes gets them all in one :class:`ExpectationsError`. That is what
checking a file wants (``load_expectations``, ``otel-drift validate``).

A running service wants the opposite trade: one invalid expectation should
not turn off the others. :func:`salvage_expectations` leaves out each
expectation with a problem (logged with the file, the place and the fix) and
runs the rest; it refuses the file whole only when nothing in it can be
trusted: it cannot be read or parsed, a problem lies outside any one
expectation (``version``, ``defaults``, the file's layout), no expectation is
valid, or ``strict`` (``OTEL_DRIFT_STRICT=true``) asks for all or nothing.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import cache
from typing import Any

from otel_drift._internal.expectations.build import build
from otel_drift._internal.expectations.errors import (
    ExpectationsError,
    FileRefusedError,
    PathParts,
    Problem,
    ProblemList,
    format_path,
)
from otel_drift._internal.expectations.model import ExpectationsFile
from otel_drift._internal.expectations.normalize import normalize
from otel_drift._internal.expectations.parse import parse
from otel_drift._internal.expectations.read import read_text
from otel_drift._internal.expectations.schema import load_schema
from otel_drift._internal.expectations.semantic import check_semantics
from otel_drift._internal.expectations.validator import SchemaValidator

_logger = logging.getLogger(__name__)

#: Why a file is refused whole (``ExpectationsError.why_refused``).
UNREADABLE = "it cannot be read or parsed, so nothing in it can be used"
OUTSIDE_EXPECTATIONS = (
    "a problem lies outside any one expectation (version, defaults or the file's layout), "
    "so no expectation in it can be trusted"
)
NONE_VALID = "none of its expectations is valid"
STRICT = "OTEL_DRIFT_STRICT=true refuses a file with any invalid expectation"
INTERNAL = "otel-drift could not check it (an internal error)"


@dataclass(frozen=True)
class DisabledExpectation:
    """An expectation left out of a salvaged file, and its problems.

    ``index`` is its place in the file's list; ``name`` its name when it has a
    usable one (a string), else None.
    """

    index: int
    name: str | None
    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class Loaded:
    """A loaded file: the expectations that run, and those left out as invalid."""

    file: ExpectationsFile
    disabled: tuple[DisabledExpectation, ...] = ()


@cache
def schema_validator() -> SchemaValidator:
    return SchemaValidator(load_schema())


def load_expectations(path: str | os.PathLike[str]) -> ExpectationsFile:
    """Read, check and resolve the expectations file at ``path`` (YAML, or JSON).

    Raises :class:`ExpectationsError` listing every problem found (up to 20);
    never anything else for any file content.
    """
    name = os.fspath(path)
    return _load(_read(name), name, salvage=False).file


def loads_expectations(text: str, *, path: str = "<string>") -> ExpectationsFile:
    """Like :func:`load_expectations`, from text; ``path`` names it in messages.

    The text is JSON when ``path`` ends with ``.json`` or the text starts
    with ``{``, YAML otherwise.

    >>> loaded = loads_expectations('''
    ... version: 1
    ... expectations:
    ...   - name: errors
    ...     match: {span_kind: server}
    ...     watch:
    ...       status: {source: span.status, baseline: {categories: {OK: 0.99, ERROR: 0.01}}}
    ... ''')
    >>> loaded.expectations[0].watch[0].method
    'jensen_shannon'
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    return _load(text, path, salvage=False).file


def salvage_expectations(path: str | os.PathLike[str], *, strict: bool = False) -> Loaded:
    """Load the file at ``path`` to run it: invalid expectations are left out.

    Each one left out is logged once (a warning naming the file, where in it
    and the fix). Raises :class:`ExpectationsError` (with ``why_refused``)
    when the file is refused whole; see the module's docstring.
    """
    name = os.fspath(path)
    return _load(_read(name), name, salvage=not strict)


def salvages_expectations(text: str, *, path: str = "<string>", strict: bool = False) -> Loaded:
    """:func:`salvage_expectations` from text (``path`` names it in messages)."""
    return _load(text, path, salvage=not strict)


def _read(name: str) -> str:
    try:
        return read_text(name)
    except FileRefusedError as refusal:
        error = refusal.error(name)
        error.why_refused = UNREADABLE
        raise error from None


def _load(text: str, path: str, *, salvage: bool) -> Loaded:
    problems = ProblemList()
    try:
        document = parse(text, json_file=path.lower().endswith(".json"), problems=problems)
        document = normalize(document, problems)
    except FileRefusedError as refusal:
        error = refusal.error(path)
        error.why_refused = UNREADABLE
        raise error from None
    try:
        return _Salvage(document, path, problems).run(salvage=salvage)
    except ExpectationsError:
        raise
    except Exception as error:
        # A bug here must not take the application down: otel-drift turns
        # itself off on ExpectationsError and the service keeps running.
        problem = Problem(
            "",
            f"internal error while checking the file ({type(error).__name__}: {error}).",
            "please report this as an otel-drift bug, with the file.",
        )
        raise ExpectationsError(path, [problem], why_refused=INTERNAL) from error


class _Salvage:
    """Check, leave out the expectations with problems, check what is left again.

    A second round is needed: past :data:`MAX_PROBLEMS` the list stops, so an
    expectation not blamed in one round may still have problems; each round
    leaves out at least one expectation, so the rounds end.
    """

    def __init__(self, document: object, path: str, problems: ProblemList) -> None:
        self.document = document
        self.path = path
        self.first = problems  # the parse and normalize steps' problems, if any
        raws = document.get("expectations") if isinstance(document, dict) else None
        self.raws: list[Any] = raws if isinstance(raws, list) else []

    def run(self, *, salvage: bool) -> Loaded:
        document = self.document
        kept = list(range(len(self.raws)))
        disabled: dict[int, list[Problem]] = {}
        problems = self.first
        while True:
            schema_validator().validate(document, problems)
            if not problems.full:
                check_semantics(document, problems)
            if not problems:
                break
            blamed, whole = self._split(problems, kept)
            if whole or not salvage:
                why = OUTSIDE_EXPECTATIONS if whole else STRICT
                raise ExpectationsError(
                    self.path, problems.problems, truncated=problems.truncated, why_refused=why
                )
            for index, found in blamed.items():
                disabled.setdefault(index, []).extend(found)
            kept = [index for index in kept if index not in blamed]
            if not kept:
                every = [problem for index in sorted(disabled) for problem in disabled[index]]
                raise ExpectationsError(self.path, every, why_refused=NONE_VALID)
            assert isinstance(document, dict)  # problems could be blamed on expectations
            document = {**document, "expectations": [self.raws[index] for index in kept]}
            problems = ProblemList()
        assert isinstance(document, dict)  # the schema requires a mapping
        for parts, total in problems.rescaled:
            _rescale(document, parts, total)
            _logger.info(
                "otel-drift: %s: %s: the shares sum to %.6g, within the rounding tolerance; "
                "each is read as its share of that sum.",
                self.path,
                format_path(_original(parts, kept)),
                total,
            )
        result = Loaded(
            build(document, self.path),
            tuple(self._disabled(index, disabled[index]) for index in sorted(disabled)),
        )
        for each in result.disabled:
            self._log(each)
        return result

    def _split(
        self, problems: ProblemList, kept: list[int]
    ) -> tuple[dict[int, list[Problem]], bool]:
        """The problems by the (original) index of the expectation they are in, and
        whether any is outside every expectation."""
        blamed: dict[int, list[Problem]] = {}
        whole = False
        for parts, problem in problems.located():
            if len(parts) >= 2 and parts[0] == "expectations" and isinstance(parts[1], int):
                original = _original(parts, kept)
                moved = Problem(format_path(original), problem.message, problem.fix)
                blamed.setdefault(kept[parts[1]], []).append(moved)
            else:
                whole = True
        return blamed, whole

    def _disabled(self, index: int, problems: list[Problem]) -> DisabledExpectation:
        raw = self.raws[index]
        name = raw.get("name") if isinstance(raw, dict) else None
        return DisabledExpectation(
            index, name if isinstance(name, str) and name.strip() else None, tuple(problems)
        )

    def _log(self, disabled: DisabledExpectation) -> None:
        # One line (log collectors split records at newlines).
        called = f'"{disabled.name}" ' if disabled.name is not None else ""
        _logger.warning(
            "otel-drift: expectation %s(expectations[%d]) in %s is invalid and disabled; "
            "the other expectations keep running (OTEL_DRIFT_STRICT=true refuses the whole "
            "file instead): %s",
            called,
            disabled.index,
            self.path,
            " | ".join(str(problem) for problem in disabled.problems),
        )


def _original(parts: PathParts, kept: list[int]) -> PathParts:
    """A path in the document with only the ``kept`` expectations, in the file's numbering."""
    if len(parts) >= 2 and parts[0] == "expectations" and isinstance(parts[1], int):
        return ("expectations", kept[parts[1]], *parts[2:])
    return parts


def _rescale(document: dict[str, Any], parts: PathParts, total: float) -> None:
    """Divide the shares at ``parts`` (a list of fractions or a mapping of categories)
    by their sum, in place."""
    shares: Any = document
    for part in parts:
        shares = shares[part]
    if isinstance(shares, list):
        shares[:] = [share / total for share in shares]
    else:
        for key in shares:
            shares[key] = shares[key] / total
