"""Text to Python data: YAML (safe constructors only) or JSON, with hostile input bounded.

YAML aliases are expanded by reference, so a few hundred bytes can describe a
document with a billion values ("billion laughs"); merge keys (``<<: *a``)
go further and really copy the merged entries while constructing. The node
graph is therefore walked with a visit budget (and a depth limit, which also
stops self-referencing aliases) *before* any Python object is built.

YAML 1.1, which PyYAML reads, makes booleans of the plain words ``yes``,
``no``, ``on`` and ``off``; YAML 1.2 and most people do not. As a mapping key
(a category: ``{yes: 0.3, no: 0.7}``) or a list item (``allowed: [yes, no]``)
such a word is read as the string written, so it matches the attribute value
``"yes"``; ``true`` and ``false`` stay booleans there, and match boolean
attributes (labelled ``true``/``false``). As any other value (``required:
yes``) it stays a boolean.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from yaml.constructor import ConstructorError

from otel_drift._internal.expectations.errors import FileRefusedError, ProblemList

#: Most values a document may expand to, counting an aliased value once per use.
#: A real file holds a few thousand (30 features x 10 quantiles is ~700).
MAX_VALUES = 200_000
#: Most YAML parse events (scalars, aliases, collection starts and ends) read
#: before anything is built: composing nodes costs ~400 bytes and ~4 us each,
#: so a 10 MB flat list would take minutes and gigabytes to refuse otherwise.
MAX_EVENTS = 200_000
#: Deepest nesting accepted; real files nest about 8 levels.
MAX_DEPTH = 64
#: Longest text accepted (the file-size limit, for text given directly).
MAX_TEXT_CHARS = 10 * 1024 * 1024

# libyaml's parser when available (much faster on a large wrong file), else
# PyYAML's own. Both build objects with SafeConstructor only: plain data,
# never arbitrary Python objects.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_MERGE_TAG = "tag:yaml.org,2002:merge"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_STR_TAG = "tag:yaml.org,2002:str"
#: Plain words YAML 1.1 reads as booleans, and YAML 1.2 as strings.
_YAML11_BOOLS = frozenset({"yes", "no", "on", "off"})


def looks_like_json(text: str) -> bool:
    """Strict JSON's first key is quoted; a YAML flow mapping's usually is not."""
    return text.lstrip()[:1] == "{" and text.lstrip()[1:].lstrip()[:1] in ('"', "}")


def parse(text: str, *, json_file: bool, problems: ProblemList) -> object:
    """The document in ``text``; duplicate keys go to ``problems``.

    Faults that leave nothing to check raise :class:`FileRefusedError`.

    ``json_file`` (the file is named ``*.json``) parses as JSON only; other
    text parses as JSON when it starts with ``{`` and as YAML otherwise (or
    when that JSON attempt fails: a YAML flow mapping also starts with ``{``).
    """
    if len(text) > MAX_TEXT_CHARS:
        raise FileRefusedError(
            f"the text has {len(text)} characters; expectations files are limited to "
            f"{MAX_TEXT_CHARS} (10 MB).",
            "check that this is the expectations file (they are usually a few KB).",
        )
    text = text.removeprefix("\ufeff")
    if json_file:
        return _parse_json(text, problems)
    if not text.lstrip().startswith("{"):
        return _parse_yaml(text, problems)
    # JSON, or a YAML flow mapping (YAML also reads most JSON). When both
    # parsers fail, report the error of the one the text looks written for.
    try:
        return _parse_json(text, problems)
    except FileRefusedError as json_error:
        if looks_like_json(text):
            try:
                return _parse_yaml(text, problems)
            except FileRefusedError:
                raise json_error from None
    return _parse_yaml(text, problems)


def _parse_json(text: str, problems: ProblemList) -> object:
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in items:
            if key in result:
                duplicates.append(key)
            result[key] = value
        return result

    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as error:
        raise FileRefusedError(
            f"the file is not valid JSON: {error.msg} at line {error.lineno}, "
            f"column {error.colno}.",
            "correct the JSON at that place (a missing comma or quote is the usual cause).",
        ) from None
    except RecursionError:
        raise _too_deep() from None
    except ValueError as error:  # e.g. an integer with thousands of digits
        raise FileRefusedError(
            f"the file cannot be read as JSON: {error}.", "correct the value."
        ) from None
    # Reported only once the whole text parsed: a failed JSON attempt may be YAML.
    for key in duplicates:
        problems.add(
            (),
            f"the key {json.dumps(key)} appears twice in one object; "
            "the later value would silently replace the earlier one.",
            "remove or rename one of them.",
        )
    return data


def _count_events(text: str) -> None:
    """Refuse a document with too many parse events, streaming, before building nodes."""
    for count, _event in enumerate(yaml.parse(text, Loader=_SafeLoader), 1):
        if count > MAX_EVENTS:
            raise FileRefusedError(
                f"the document has more than {MAX_EVENTS:,} YAML values.",
                "an expectations file has a few thousand values at most; "
                "split it, or use coarser baselines.",
            )


def _parse_yaml(text: str, problems: ProblemList) -> object:
    try:
        loader = _SafeLoader(text)  # PyYAML's reader checks the characters here
    except yaml.YAMLError as error:
        raise _yaml_refusal(error, text) from None
    try:
        _count_events(text)
    except yaml.YAMLError as error:
        loader.dispose()
        raise _yaml_refusal(error, text) from None
    except FileRefusedError:
        loader.dispose()
        raise
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as error:
            raise _yaml_refusal(error, text) from None
        except RecursionError:
            raise _too_deep() from None
        if node is None:
            raise FileRefusedError(
                "the file is empty.",
                "start it with version: 1 and a list of expectations.",
            )
        _check_node_graph(node, problems)
        try:
            return loader.construct_document(node)
        except yaml.YAMLError as error:
            raise _yaml_refusal(error, text) from None
        except RecursionError:
            raise _too_deep() from None
        except Exception as error:  # e.g. ValueError for a date like 2024-02-30
            raise FileRefusedError(
                f"a value cannot be read: {error}.",
                "quote the value to keep it as a string, or correct it.",
            ) from None
    finally:
        loader.dispose()


def _line_column(text: str, position: int) -> tuple[int, int]:
    line = text.count("\n", 0, position) + 1
    return line, position - (text.rfind("\n", 0, position) + 1) + 1


def _yaml_refusal(error: yaml.YAMLError, text: str) -> FileRefusedError:
    syntax_fix = (
        "correct the YAML at that place (indentation, a missing ':' or an unclosed quote "
        "are the usual causes)."
    )
    if isinstance(error, yaml.reader.ReaderError):
        line, column = _line_column(text, error.position)
        code = error.character
        shown = f"U+{code:04X}" if isinstance(code, int) else repr(code)
        return FileRefusedError(
            f"the file has a character YAML does not allow ({shown}) at line {line}, "
            f"column {column}: {error.reason}.",
            "remove the character, or write it as an escape inside a double-quoted string.",
        )
    if not isinstance(error, yaml.MarkedYAMLError):
        reason = " ".join(str(error).split())
        return FileRefusedError(f"the file is not valid YAML: {reason}.", syntax_fix)
    mark = error.problem_mark or error.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    what = error.problem or error.context or "syntax error"
    context = f" ({error.context})" if error.context and error.problem else ""
    fix = syntax_fix
    if isinstance(error, ConstructorError):
        fix = "remove the tag: only plain values (mappings, lists, strings, numbers) are read."
    elif mark is not None and text[mark.index : mark.index + 1] == "\t":
        fix = "indent with spaces: YAML does not allow tabs for indentation."
    return FileRefusedError(f"the file is not valid YAML{where}: {what}{context}.", fix)


def _too_deep() -> FileRefusedError:
    return FileRefusedError(
        f"the document is nested more than {MAX_DEPTH} levels deep.",
        "an expectations file nests about 8 levels; check the brackets and indentation.",
    )


def _check_node_graph(root: yaml.Node, problems: ProblemList) -> None:
    """Refuse alias bombs, cycles and absurd nesting; report duplicate keys."""
    visits = 0
    checked: set[int] = set()
    stack: list[tuple[yaml.Node, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        visits += 1
        if visits > MAX_VALUES:
            raise FileRefusedError(
                f"the document expands to more than {MAX_VALUES:,} values (YAML aliases "
                "such as *name count once per use).",
                "use fewer aliases; an expectations file has a few thousand values at most.",
            )
        if depth > MAX_DEPTH:
            # Also where an alias used inside its own anchor (&a [*a]) ends up.
            raise _too_deep()
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                _as_written(child)
            stack.extend((child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            if id(node) not in checked:
                checked.add(id(node))
                _report_duplicate_keys(node, problems)
            for key, value in node.value:
                _as_written(key)
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))


def _as_written(node: yaml.Node) -> None:
    """Read a plain ``yes``/``no``/``on``/``off`` as the string written (see the docstring)."""
    if (
        isinstance(node, yaml.ScalarNode)
        and node.tag == _BOOL_TAG
        and not node.style
        and node.value.lower() in _YAML11_BOOLS
    ):
        node.tag = _STR_TAG


def _report_duplicate_keys(node: yaml.MappingNode, problems: ProblemList) -> None:
    seen: set[str] = set()
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE_TAG:
            continue
        if key.value in seen:
            mark = key.start_mark
            problems.add(
                (),
                f"the key {json.dumps(key.value)} appears twice in one mapping (again at line "
                f"{mark.line + 1}, column {mark.column + 1}); the later value would silently "
                "replace the earlier one.",
                "remove or rename one of them.",
            )
        seen.add(key.value)
