"""``otel-drift validate``: check expectations files and report every problem.

It loads each file as the SDK would (schema, then the meaning of each
watched value) and prints one line per good file; every problem of a bad one
goes to stderr, and the exit code is 1 when any file was bad.

``--explain`` adds, for each watched value of a good file, what its
thresholds mean at its window's size: the false-alarm rate per window and
the smallest change caught within one window, simulated from the baseline
(``explain.py`` says how).
"""

from __future__ import annotations

import argparse
import math
import sys

from otel_drift._internal.cli import explain
from otel_drift._internal.cli.registry import EXIT_FAILED, EXIT_OK, command
from otel_drift._internal.expectations.errors import ExpectationsError
from otel_drift._internal.expectations.learned import TRUSTED_WINDOWS
from otel_drift._internal.expectations.load import load_expectations
from otel_drift._internal.expectations.model import (
    DEFAULT_WINDOW_SPANS,
    Expectation,
    ExpectationsFile,
    Watch,
)

_THRESHOLDS = {
    "declared": "declared",
    "default": "the method's defaults",
    "learned": "learned",
}
_MINUTES = (
    (60.0, "minutes", 1.0),
    (48 * 60.0, "hours", 60.0),
    (60 * 24 * 60.0, "days", 24 * 60.0),
    (math.inf, "years", 365.25 * 24 * 60.0),
)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of values >= 1, got {text!r}")
    return value


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="expectations file (YAML or JSON)")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="for each watched value, print the false-alarm rate of its thresholds and "
        "the smallest change it catches within one window (simulated from its baseline)",
    )
    parser.add_argument(
        "--window-values",
        type=_positive_int,
        metavar="N",
        help="with --explain: values per window (default: the expectation's window; "
        f"a time window counts as its baseline's reference windows, else {DEFAULT_WINDOW_SPANS})",
    )


@command("validate", "check expectations files and report every problem", _arguments)
def validate(arguments: argparse.Namespace) -> int:
    status = EXIT_OK
    for name in arguments.files:
        try:
            loaded = load_expectations(name)
        except ExpectationsError as error:
            print(error, file=sys.stderr)
            status = EXIT_FAILED
            continue
        expectations = len(loaded.expectations)
        watched = sum(len(expectation.watch) for expectation in loaded.expectations)
        print(
            f"{name}: ok ({expectations} expectation{'' if expectations == 1 else 's'}, "
            f"{watched} watched value{'' if watched == 1 else 's'})"
        )
        if arguments.explain:
            for line in _explained(loaded, arguments.window_values):
                print(line)
    return status


def _explained(loaded: ExpectationsFile, override: int | None) -> list[str]:
    lines: list[str] = []
    for expectation in loaded.expectations:
        for watch in expectation.watch:
            lines.extend(_explain_watch(expectation, watch, override))
    lines.append(
        f"How: windows drawn from each baseline (seed {explain.SEED}) and judged as the engine "
        "judges them. False alarms are per window, before hysteresis, from "
        f"{explain.NULL_WINDOWS} stationary windows (fewer for cusum on large windows); where "
        "none was seen, the rate shown is the test's own level (the significance gate's, or a "
        "test's alpha) or else the simulation's 95 % bound. A change is caught when it "
        f"reaches the level in >= {explain.POWER:.0%} of {explain.POWER_WINDOWS} first windows "
        f"after it (+-{1.96 * 0.5 / explain.POWER_WINDOWS**0.5:.0%} at 95 %), found by "
        "bisection."
    )
    return lines


def _explain_watch(expectation: Expectation, watch: Watch, override: int | None) -> list[str]:
    head = f"{expectation.name}.{watch.name}"
    if watch.baseline is None:
        return [f"{head}: no baseline (constraints only): no drift to explain"]
    window, where = _window(expectation, watch, override)
    thresholds = _THRESHOLDS[watch.thresholds]
    references = [
        b.reference
        for b in (watch.profile.slots.values() if watch.profile else [watch.baseline])
        if b.reference is not None
    ]
    windows = sum(r.windows for r in references)
    if watch.thresholds == "learned":
        thresholds = f"learned from {windows} reference windows"
        if windows < TRUSTED_WINDOWS:
            thresholds += f", fewer than {TRUSTED_WINDOWS}: a loose tail, record longer"
    elif watch.thresholds == "default" and references:
        thresholds += f": its {windows} reference windows varied as sampling noise alone"
    lines = [
        f"{head}: {watch.method}, warning {watch.warning:g}, critical {watch.critical:g} "
        f"({thresholds}); windows of {window:,} values ({where})"
    ]
    if window < expectation.min_samples:
        lines.append(
            f"  windows of {window:,} values are below min_samples {expectation.min_samples}: "
            "never judged"
        )
        return lines
    explained = explain.explain_watch(watch, window)
    for noun, rate in (
        ("warnings", explained.false_warning),
        ("criticals", explained.false_critical),
    ):
        lines.append(
            f"  false {noun}: {_rate(rate)} a window ({rate.basis}): about one every "
            f"{_every(rate.rate)} at one window a minute"
        )
    lines.append(f"  smallest change reaching warning:  {explained.warning_change.text}")
    lines.append(f"  smallest change reaching critical: {explained.critical_change.text}")
    return lines


def _window(expectation: Expectation, watch: Watch, override: int | None) -> tuple[int, str]:
    """Values per window, and where that number comes from."""
    if override is not None:
        return override, "--window-values"
    spans, seconds = expectation.window.spans, expectation.window.seconds
    if spans is not None:
        if not expectation.window_declared:
            return spans, "the default window; OTEL_DRIFT_WINDOW may set another"
        if seconds is not None:
            return spans, f"window.spans, or fewer when {seconds:g} s pass first"
        return spans, "window.spans"
    reference = watch.baseline.reference if watch.baseline is not None else None
    if reference is not None:
        return reference.window, f"a {seconds:g} s window, as the baseline's reference windows"
    return (
        DEFAULT_WINDOW_SPANS,
        f"a {seconds:g} s window: n unknown, assumed {DEFAULT_WINDOW_SPANS:,}; "
        "set it with --window-values N",
    )


def _rate(rate: explain.Rate) -> str:
    prefix = "" if rate.seen else "<= "
    return f"{prefix}{rate.rate:.2g}"


def _every(rate: float) -> str:
    """1 / ``rate`` minutes, in words ("1.9 years")."""
    minutes = 1.0 / rate if rate > 0 else math.inf
    for below, unit, size in _MINUTES:
        if minutes < below:
            return f"{_figure(minutes / size)} {unit}"
    return "never"


def _figure(value: float) -> str:
    """Two significant figures, with thousands separators."""
    if value >= 100:
        return f"{float(f'{value:.2g}'):,.0f}"
    return f"{value:.2g}"
