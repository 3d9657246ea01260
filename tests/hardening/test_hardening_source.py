"""Safe inputs: the package never evaluates, unpickles or shells out on data.

Reads every Python file of the installed package (``otel_drift/`` and
``instrumentations/``, which installs as ``otel_drift.instrumentation``) as an
AST, so comments and docstrings that merely *mention* pickle do not count,
and fails on: calls to eval/exec/compile, os.system/os.popen, anything with
``shell=True``; any import of pickle-like modules or unpickling loader
(``torch.load``, ``joblib.load``, ``pandas.read_pickle``, ``numpy.load`` with
``allow_pickle=True``); any ``yaml.load``/``load_all``/``unsafe_load``/
``full_load`` and the FullLoader/UnsafeLoader/Loader/CLoader classes, named or
in a string. ``yaml.safe_load``, ``SafeLoader`` and ``CSafeLoader`` are fine.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import ROOT

PACKAGE_DIRS = (ROOT / "otel_drift", ROOT / "instrumentations")

_CALLS = {"eval", "exec", "compile", "__import__"}
_DOTTED_CALLS = {
    "os.system",
    "os.popen",
    "os.execl",
    "os.execv",
    "torch.load",
    "joblib.load",
    "pandas.read_pickle",
    "pd.read_pickle",
    "yaml.load",
    "yaml.load_all",
    "yaml.unsafe_load",
    "yaml.unsafe_load_all",
    "yaml.full_load",
    "yaml.full_load_all",
}
_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "shelve", "marshal", "joblib"}
_YAML_UNSAFE = {"FullLoader", "UnsafeLoader", "Loader", "CLoader", "CFullLoader", "CUnsafeLoader"}
_YAML_LOADS = {"load", "load_all", "unsafe_load", "unsafe_load_all", "full_load", "full_load_all"}
_UNSAFE_TEXT = ("FullLoader", "UnsafeLoader", "unsafe_load", "full_load")


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def findings(source: str, name: str = "<source>") -> list[str]:
    """Every unsafe construct in ``source``, as 'name:line: what'."""
    found: list[str] = []
    tree = ast.parse(source, name)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }

    def flag(node: ast.AST, what: str) -> None:
        found.append(f"{name}:{getattr(node, 'lineno', '?')}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called = _dotted(node.func)
            if isinstance(node.func, ast.Name) and node.func.id in _CALLS:
                flag(node, f"{node.func.id}()")
            if called in _DOTTED_CALLS or called.endswith(".read_pickle"):
                flag(node, f"{called}()")
            for keyword in node.keywords:
                value = keyword.value
                truthy = not (isinstance(value, ast.Constant) and not value.value)
                if keyword.arg == "shell" and truthy:
                    flag(node, f"{called}(shell=...)")
                if keyword.arg == "allow_pickle" and truthy:
                    flag(node, f"{called}(allow_pickle=...)")
                if keyword.arg == "Loader" and _dotted(value).split(".")[-1] in _YAML_UNSAFE:
                    flag(node, f"{called}(Loader={_dotted(value)})")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                modules.append(node.module or "")
                if node.module == "yaml":
                    modules += [f"yaml.{a.name}" for a in node.names]
            for module in modules:
                last = module.split(".")[-1]
                unsafe_yaml = module.startswith("yaml.") and last in _YAML_UNSAFE | _YAML_LOADS
                if module.split(".")[0] in _MODULES or unsafe_yaml:
                    flag(node, f"import {module}")
        elif isinstance(node, ast.Attribute) and _dotted(node.value) == "yaml":
            if node.attr in _YAML_UNSAFE:
                flag(node, f"yaml.{node.attr}")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and any(text in node.value for text in _UNSAFE_TEXT)
        ):
            flag(node, f"string naming an unsafe loader: {node.value[:40]!r}")
    return found


def _package_files() -> list[Path]:
    return sorted(p for d in PACKAGE_DIRS for p in d.rglob("*.py") if "__pycache__" not in p.parts)


def test_the_package_source_has_no_unsafe_input_handling() -> None:
    files = _package_files()
    assert len(files) > 20, files  # the walk found the package
    found = [f for path in files for f in findings(path.read_text(), str(path.relative_to(ROOT)))]
    assert found == [], "\n".join(found)


@pytest.mark.parametrize(
    "snippet",
    [
        "eval(text)",
        "exec(code)",
        "import pickle",
        "from pickle import loads",
        "import cloudpickle as cp",
        "import yaml\nyaml.load(text)",
        # Refused even with SafeLoader: safe_load says it with no keyword to get wrong.
        "import yaml\nyaml.load(text, Loader=yaml.SafeLoader)",
        "import yaml\nyaml.load(text, Loader=yaml.FullLoader)",
        "import yaml\nyaml.unsafe_load(text)",
        "import yaml\nloader = yaml.UnsafeLoader",
        "import yaml\nyaml.safe_load(text) if 0 else yaml.load(text, Loader=yaml.Loader)",
        "from yaml import FullLoader",
        "import yaml\ngetattr(yaml, 'FullLoader')",
        "import subprocess\nsubprocess.run(cmd, shell=True)",
        "import subprocess\nsubprocess.Popen(cmd, shell=flag)",
        "import os\nos.system(cmd)",
        "import numpy as np\nnp.load(path, allow_pickle=True)",
        "import torch\ntorch.load(path)",
    ],
)
def test_the_checker_catches(snippet: str) -> None:
    assert findings(snippet), snippet


@pytest.mark.parametrize(
    "snippet",
    [
        '"""Nothing here unpickles; eval() is mentioned in a docstring only."""',
        "# pickle, yaml.load( and shell=True in a comment",
        "import yaml\nyaml.safe_load(text)",
        "import yaml\nloader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)",
        "import numpy as np\nnp.load(path, mmap_mode='r', allow_pickle=False)",
        "import subprocess\nsubprocess.run(['ls'], shell=False)",
        "model.eval()",
    ],
)
def test_the_checker_allows(snippet: str) -> None:
    assert findings(snippet) == [], snippet
