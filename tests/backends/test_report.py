"""``otel-drift report``: inline-SVG HTML from a real service's OTLP/JSON, seen in Chromium."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from otel_drift._internal.cli.main import main
from tests.backends.support import require_binary
from tests.support import EXAMPLE_FILE
from tests.test_e2e_flask import run_service

pytestmark = pytest.mark.e2e


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return int(width), int(height)


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    chromium = require_binary("chromium")
    run_service(tmp_path, steady=500, drifted=1000)
    report = tmp_path / "report.html"
    code = main(
        [
            "report",
            str(tmp_path / "otlp"),
            "--expectations",
            str(EXAMPLE_FILE),
            "-o",
            str(report),
        ]
    )
    assert code == 0
    html = report.read_text()
    # Self-contained: inline SVG, no script, nothing fetched from elsewhere.
    # Per watched value: the drifted window, lifetime counts, scores, statuses.
    assert html.count("<svg") == 8
    assert "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    assert "checkout.latency" in html and "critical" in html
    assert "baseline vs live distribution" in html and "score per window" in html
    assert "baseline vs the window that drifted" in html
    assert "What moved (baseline -&gt; window):</p><ul><li>500: 1.0% -&gt; " in html
    screenshot = tmp_path / "report.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            f"--screenshot={screenshot}",
            "--window-size=1280,1600",
            report.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert _png_size(screenshot) == (1280, 1600)
    # Charts in colour make a PNG far larger than a blank page (~10 KB).
    assert screenshot.stat().st_size > 40_000


def test_report_needs_exactly_one_source(tmp_path: Path) -> None:
    assert main(["report", "-o", str(tmp_path / "r.html")]) == 2
    assert main(["report", str(tmp_path / "missing")]) == 1
