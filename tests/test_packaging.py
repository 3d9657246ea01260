"""Packaging: instrumentations install under otel_drift, entry points resolve, wheel is whole."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from importlib.metadata import entry_points
from pathlib import Path

import tomllib

from tests.support import ROOT


def _declared_packages() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages: list[str] = config["tool"]["setuptools"]["packages"]
    return packages


def _package_dirs() -> set[str]:
    found = set()
    for init in (ROOT / "otel_drift").rglob("__init__.py"):
        found.add(".".join(init.parent.relative_to(ROOT).parts))
    for init in (ROOT / "instrumentations").rglob("__init__.py"):
        parts = init.parent.relative_to(ROOT / "instrumentations").parts
        found.add(".".join(("otel_drift", "instrumentation", *parts)))
    return found


def test_every_package_folder_is_declared() -> None:
    assert set(_declared_packages()) == _package_dirs()


def test_entry_points_resolve() -> None:
    groups = {
        "opentelemetry_post_instrument": "otel_drift",
        "opentelemetry_environment_variables": "otel_drift",
        "opentelemetry_traces_exporter": "otlp_json_file",
        "opentelemetry_metrics_exporter": "otlp_json_file",
    }
    for group, name in groups.items():
        (found,) = [ep for ep in entry_points(group=group) if ep.name == name]
        assert found.load() is not None


def test_wheel_has_no_top_level_instrumentations(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("otel_drift-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert "instrumentations" not in top_level
    assert {n for n in top_level if not n.endswith(".dist-info")} == {"otel_drift"}
    assert "otel_drift/instrumentation/__init__.py" in names
    assert "otel_drift/py.typed" in names
    assert "otel_drift/_internal/expectations/schema.json" in names
