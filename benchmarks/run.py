"""Run the benchmark sections and write RESULTS.md.

    python -m benchmarks.run [--quick] [--only NAME] [--output PATH]

Every section module exposes ``run(quick: bool) -> Section``. A module that
does not exist (yet) is reported as not run; one that fails is reported with
its error, the others still run, and the exit status is 1. A full run writes
benchmarks/RESULTS.md; ``--quick`` (tiny sizes, figures meaningless) and
``--only`` print to stdout unless ``--output`` is given, so that they never
overwrite the real results.
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from benchmarks import machine
from benchmarks.common import Section, table

#: In the order they appear in RESULTS.md.
SECTIONS = (
    "hot_path",
    "requests",
    "requests_inprocess",
    "memory",
    "startup",
    "ml_batches",
    "sequential",
    "window_tests",
)
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


@dataclass
class Outcome:
    name: str
    section: Section | None
    note: str
    seconds: float
    failed: bool = False


def _import(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"benchmarks.{name}")
    except ModuleNotFoundError as error:
        if error.name == f"benchmarks.{name}":
            return None
        raise


def run_section(name: str, quick: bool) -> Outcome:
    start = time.perf_counter()
    load_before = machine.load_average()
    try:
        module = _import(name)
        if module is None:
            return Outcome(name, None, f"not run: benchmarks/{name}.py does not exist yet", 0.0)
        section: Section = module.run(quick)
    except Exception:
        error = traceback.format_exc(limit=8)
        print(error, file=sys.stderr)
        last = error.strip().splitlines()[-1]
        return Outcome(name, None, f"failed: `{last}`", time.perf_counter() - start, failed=True)
    seconds = time.perf_counter() - start
    note = (
        f"{seconds:.0f} s; 1-minute load average {load_before} before, "
        f"{machine.load_average()} after"
    )
    return Outcome(name, section, note, seconds)


def figure(value: float) -> str:
    """A headline number, readable at any magnitude.

    >>> [figure(v) for v in (119131.4, 110.2, 11.64, -0.9843, float("nan"))]
    ['119,131', '110', '11.64', '-0.984', 'n/a']
    """
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def render(outcomes: list[Outcome], quick: bool) -> str:
    parts = [
        "# otel-drift benchmarks",
        "Written by `./scripts/bench` (`python -m benchmarks.run`); do not edit by hand. "
        "Every figure is a ratio or a rate measured in this run: medians over repeated "
        "runs, with the min–max over the runs in brackets. The machine may be shared: the "
        "1-minute load average before and after each section is printed under it; above "
        "about 1, other processes competed for the 2 cores and the spreads widen.",
        machine.describe(),
    ]
    if quick:
        parts.append("**Quick mode: tiny sizes, the figures mean nothing.**")
    figures: list[list[str]] = []
    for outcome in outcomes:
        if outcome.section is None:
            parts.append(f"## {outcome.name}\n\n{outcome.note}")
            continue
        section = outcome.section
        parts.append(f"## {section.title}\n\n{section.markdown}\n\n<sub>{outcome.note}</sub>")
        figures.extend(
            [section.title, key, figure(value)] for key, value in section.figures.items()
        )
    if figures:
        parts.append("## Headline figures\n\n" + table(["section", "figure", "value"], figures))
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the code runs")
    parser.add_argument("--only", choices=SECTIONS, action="append", help="run only this section")
    parser.add_argument("--output", type=Path, help="where to write the markdown")
    args = parser.parse_args(argv)
    names = args.only or list(SECTIONS)
    outcomes = []
    for name in names:
        print(f"== {name}", file=sys.stderr, flush=True)
        outcome = run_section(name, args.quick)
        print(f"   {outcome.note}", file=sys.stderr, flush=True)
        outcomes.append(outcome)
    text = render(outcomes, args.quick)
    output = args.output or (None if args.quick or args.only else RESULTS)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        print(f"wrote {output}", file=sys.stderr)
    return 1 if any(o.failed for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
