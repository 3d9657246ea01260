"""Loading an expectations file: read, parse, check against the schema and the rules, build.

Every step reports into one :class:`ProblemList`, so a file with several
mistakes gets them all in one :class:`ExpectationsError`.
"""

from __future__ import annotations

import os
from functools import cache

from otel_drift._internal.expectations.build import build
from otel_drift._internal.expectations.errors import (
    ExpectationsError,
    FileRefusedError,
    Problem,
    ProblemList,
)
from otel_drift._internal.expectations.model import ExpectationsFile
from otel_drift._internal.expectations.normalize import normalize
from otel_drift._internal.expectations.parse import parse
from otel_drift._internal.expectations.read import read_text
from otel_drift._internal.expectations.schema import load_schema
from otel_drift._internal.expectations.semantic import check_semantics
from otel_drift._internal.expectations.validator import SchemaValidator


@cache
def schema_validator() -> SchemaValidator:
    return SchemaValidator(load_schema())


def load_expectations(path: str | os.PathLike[str]) -> ExpectationsFile:
    """Read, check and resolve the expectations file at ``path`` (YAML, or JSON).

    Raises :class:`ExpectationsError` listing every problem found (up to 20);
    never anything else for any file content.
    """
    name = os.fspath(path)
    try:
        text = read_text(name)
    except FileRefusedError as refusal:
        raise refusal.error(name) from None
    return loads_expectations(text, path=name)


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
    problems = ProblemList()
    try:
        document = parse(text, json_file=path.lower().endswith(".json"), problems=problems)
        document = normalize(document, problems)
    except FileRefusedError as refusal:
        raise refusal.error(path) from None
    try:
        schema_validator().validate(document, problems)
        if not problems.full:
            check_semantics(document, problems)
        if problems:
            raise problems.error(path)
        assert isinstance(document, dict)  # the schema requires a mapping
        return build(document, path)
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
        raise ExpectationsError(path, [problem]) from error
