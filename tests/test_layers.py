"""The layer rules of ARCHITECTURE.md, checked on the source's imports.

Imports point down the layers: the base (names, settings, the expectations
file, detectors, sketches) <- engine/ (the worker) <- spans/, signals/,
feedback/ <- feed.py, auto.py; the CLI is a leaf; instrumentations see only
a small named set. Every import counts, also one inside a function or under
``TYPE_CHECKING``: a lazy import is still a dependency, and a cycle through
one is still a cycle.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import ROOT

INTERNAL = "otel_drift._internal"
INSTRUMENTATION = "otel_drift.instrumentation"

#: The base: plain Python and numpy, nothing from OpenTelemetry.
BASE = tuple(
    f"{INTERNAL}.{name}"
    for name in (
        "semconv",
        "settings",
        "json_shape",
        "values",
        "expectations",
        "detectors",
        "sketches",
        "learn",
    )
)
#: Public modules of constants and the version, which any layer may read.
PUBLIC_LEAVES = ("otel_drift", "otel_drift.version", "otel_drift.environment_variables")
#: What an instrumentation may import of otel-drift (besides its own package).
INSTRUMENTATION_MAY_IMPORT = (
    f"{INTERNAL}.feed",
    f"{INTERNAL}.feedback",
    f"{INTERNAL}.semconv",
    f"{INTERNAL}.expectations.model",
    f"{INTERNAL}.json_shape",
)
MAX_MODULE_LINES = 600
MAX_CLASS_LINES = 350


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (or the package, for a name in it)
    line: int


def _module_files() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for path in (ROOT / "otel_drift").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for path in (ROOT / "instrumentations").rglob("*.py"):
        parts = path.relative_to(ROOT / "instrumentations").with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        modules[".".join((INSTRUMENTATION, *parts))] = path
    return modules


MODULES = _module_files()


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _imports(module: str) -> Iterator[Import]:
    tree = ast.parse(MODULES[module].read_text(), str(MODULES[module]))
    package = module if _is_package(module) else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            for alias in node.names:
                # ``from package import module`` imports the module.
                candidate = f"{source}.{alias.name}"
                yield Import(module, candidate if candidate in MODULES else source, node.lineno)


ALL_IMPORTS = [each for module in sorted(MODULES) for each in _imports(module)]


def _within(name: str, *prefixes: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def _ours(name: str) -> bool:
    return _within(name, "otel_drift")


def _public_leaf(name: str) -> bool:
    return name in PUBLIC_LEAVES


def _where(each: Import) -> str:
    path = MODULES[each.module].relative_to(ROOT)
    return f"{path}:{each.line} imports {each.target}"


def _breaking(rule: object) -> list[str]:
    return [_where(each) for each in ALL_IMPORTS if rule(each)]  # type: ignore[operator]


def test_the_base_imports_nothing_from_opentelemetry_or_above_it() -> None:
    def breaks(each: Import) -> bool:
        if not _within(each.module, *BASE):
            return False
        if _within(each.target, "opentelemetry"):
            return True
        return _ours(each.target) and not (_within(each.target, *BASE) or _public_leaf(each.target))

    assert _breaking(breaks) == []


def test_the_engine_imports_only_the_base_and_trace_types() -> None:
    engine = f"{INTERNAL}.engine"

    def breaks(each: Import) -> bool:
        if not _within(each.module, engine):
            return False
        if _within(each.target, "opentelemetry"):
            return not _within(each.target, "opentelemetry.trace")
        return _ours(each.target) and not (
            _within(each.target, engine, *BASE) or _public_leaf(each.target)
        )

    assert _breaking(breaks) == []


def test_spans_signals_and_feedback_import_only_the_engine_and_the_base() -> None:
    middle = tuple(f"{INTERNAL}.{name}" for name in ("spans", "signals", "feedback"))
    allowed = (*middle, f"{INTERNAL}.engine", *BASE)

    def breaks(each: Import) -> bool:
        if not _within(each.module, *middle) or not _ours(each.target):
            return False
        if _within(each.module, f"{INTERNAL}.signals") and _within(
            each.target, f"{INTERNAL}.spans"
        ):
            return True
        return not (_within(each.target, *allowed) or _public_leaf(each.target))

    assert _breaking(breaks) == []


def test_the_cli_is_a_leaf() -> None:
    cli = f"{INTERNAL}.cli"
    allowed = (cli, f"{INTERNAL}.exporters", *BASE)

    def breaks(each: Import) -> bool:
        if _within(each.module, cli):
            # Documented exception: ``baseline --model`` reads a model's outputs
            # the way the ML instrumentations do (one conversion, not two), and
            # names the model as they will (the file matches its spans).
            if each.target in (f"{INSTRUMENTATION}._ml.outputs", f"{INSTRUMENTATION}._ml.naming"):
                return False
            return _ours(each.target) and not (
                _within(each.target, *allowed) or _public_leaf(each.target)
            )
        return _within(each.target, cli)

    assert _breaking(breaks) == []


def test_instrumentations_import_only_the_named_set() -> None:
    def breaks(each: Import) -> bool:
        if not _within(each.module, INSTRUMENTATION) or not _ours(each.target):
            return False
        return not (
            _within(each.target, INSTRUMENTATION, *INSTRUMENTATION_MAY_IMPORT)
            or _public_leaf(each.target)
        )

    assert _breaking(breaks) == []


def test_nothing_outside_the_cli_or_the_public_modules_imports_the_wiring() -> None:
    """feed.py and auto.py sit at the top: the layers below never reach up to them."""
    top = (f"{INTERNAL}.feed", f"{INTERNAL}.auto")
    below = (*BASE, *(f"{INTERNAL}.{name}" for name in ("engine", "spans", "signals", "feedback")))

    def breaks(each: Import) -> bool:
        return _within(each.module, *below) and _within(each.target, *top)

    assert _breaking(breaks) == []


def _cycles() -> list[list[str]]:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for each in ALL_IMPORTS:
        if each.target in MODULES and each.target != each.module:
            graph[each.module].add(each.target)
    # Tarjan's strongly connected components, iteratively.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles() -> None:
    """A package's ``__init__`` importing its own modules is not a cycle unless
    one of them imports the package back for a name defined in it."""
    assert _cycles() == []


#: ``sys.modules[...]`` or ``sys.modules.get(...)`` of one of our own modules.
_OWN_MODULE_LOOKUP = re.compile(r"sys\.modules(?:\.get)?[\[(]\s*[\"']otel_drift")


def test_no_module_is_reached_through_sys_modules() -> None:
    """Looking a module of ours up in ``sys.modules`` hides an import from the
    rules above (a post-import hook asking whether a *library* is loaded is fine)."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in MODULES.values()
        if _OWN_MODULE_LOOKUP.search(path.read_text())
    ]
    assert offenders == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_and_classes_stay_small(module: str) -> None:
    path = MODULES[module]
    text = path.read_text()
    assert text.count("\n") <= MAX_MODULE_LINES, (
        f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines; split it by concept "
        f"(at most {MAX_MODULE_LINES}, see ARCHITECTURE.md)"
    )
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            assert lines <= MAX_CLASS_LINES, (
                f"{path.relative_to(ROOT)}: class {node.name} is {lines} lines "
                f"(at most {MAX_CLASS_LINES}): give one of its jobs a class of its own"
            )


def test_every_module_says_why_at_the_top() -> None:
    missing = [
        str(path.relative_to(ROOT))
        for path in MODULES.values()
        # package.py and version.py: one line each, contrib's convention.
        if path.name not in ("package.py", "version.py")
        and path.stat().st_size
        and ast.get_docstring(ast.parse(path.read_text())) is None
    ]
    assert missing == []
