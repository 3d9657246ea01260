"""``otel-drift validate``: through main() and as the installed console script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from otel_drift._internal.cli.main import main
from otel_drift._internal.cli.registry import COMMANDS

GOOD = """\
version: 1
expectations:
  - name: checkout
    match: {span_kind: server}
    watch:
      latency:
        source: span.duration
        baseline: {bins: [0, 10, 100], fractions: [0.9, 0.1]}
      status:
        source: span.status
        baseline: {categories: {OK: 0.99, ERROR: 0.01}}
  - name: tokens
    match: {scope: openai}
    watch:
      total: {attribute: llm.tokens, constraints: {min: 0}}
"""
BAD = GOOD.replace("fractions: [0.9, 0.1]", "fractions: [0.9]")
SCRIPT = Path(sys.executable).parent / "otel-drift"


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    return good, bad


def test_validate_ok(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    good, _ = files
    assert main(["validate", str(good)]) == 0
    out, err = capsys.readouterr()
    assert out == f"{good}: ok (2 expectations, 3 watched values)\n"
    assert err == ""


def test_validate_reports_every_file(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = files
    assert main(["validate", str(bad), str(good), str(good.parent / "missing.yaml")]) == 1
    out, err = capsys.readouterr()
    assert out == f"{good}: ok (2 expectations, 3 watched values)\n"
    assert err.startswith(f"{bad}: 1 problem\n")
    assert "expectations[0].watch.latency.baseline.fractions: has 1 values" in err
    assert f"{good.parent / 'missing.yaml'}: 1 problem\n  the file does not exist." in err


def test_usage_errors_return_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["validate"]) == 2
    assert main(["no-such-command"]) == 2
    assert "usage: otel-drift" in capsys.readouterr().err
    assert main(["--help"]) == 0
    assert "validate" in capsys.readouterr().out


def test_commands_are_registered_by_name() -> None:
    assert "validate" in COMMANDS
    assert COMMANDS["validate"].summary


def test_console_script_exit_codes(files: tuple[Path, Path]) -> None:
    if not SCRIPT.exists():
        pytest.skip("otel-drift is not installed next to this Python")
    good, bad = files
    ok = subprocess.run([SCRIPT, "validate", good], capture_output=True, text=True, check=False)
    assert (ok.returncode, ok.stdout) == (0, f"{good}: ok (2 expectations, 3 watched values)\n")
    failed = subprocess.run([SCRIPT, "validate", bad], capture_output=True, text=True, check=False)
    assert failed.returncode == 1
    assert "has 1 values but bins has 3 edges" in failed.stderr
    usage = subprocess.run([SCRIPT], capture_output=True, text=True, check=False)
    assert usage.returncode == 2


def test_module_entry_point(files: tuple[Path, Path]) -> None:
    good, _ = files
    result = subprocess.run(
        [sys.executable, "-m", "otel_drift._internal.cli.main", "validate", good],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr
