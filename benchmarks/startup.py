"""Start-up: what otel-drift adds to starting (and stopping) an instrumented app.

``opentelemetry-instrument python -c pass``, hyperfine-style: whole process
launches, wall time, the two arms alternating: otel-drift installed but off
(OTEL_DRIFT_EXPECTATIONS unset) and on (set to the demo's file).

"Off" is not free, and the difference of the two arms does not show it:
``opentelemetry-instrument`` loads every distribution's entry points, in the
launcher (for the environment-variable flags) and again in the app (the
post-instrument hook, instrumentors). So the import time that goes to
otel-drift's modules in the off arm is measured too, with
``PYTHONPROFILEIMPORTTIME`` (both processes), counting each outermost
``otel_drift`` import's cumulative time: modules it is the first to load.

Both arms export with the ``console`` exporters into /dev/null (a trivial app
has nothing to export but otel-drift's own metrics at shutdown).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from benchmarks.common import Section, Spread, interleave, spread, table, verdict
from benchmarks.machine import ROOT

TARGET_MS = 150.0
EXPECTATIONS = ROOT / "examples" / "demo" / "expectations.yaml"
IMPORT_RUNS = 5

BASE_ENV = {
    "OTEL_SERVICE_NAME": "startup-bench",
    "OTEL_TRACES_EXPORTER": "console",
    "OTEL_METRICS_EXPORTER": "console",
    "OTEL_LOGS_EXPORTER": "none",
}


def _environment(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTHON"))}
    return {**env, **BASE_ENV, **extra}


def _children_cpu_ms() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * 1000


def _launch(bin_dir: Path, env: Mapping[str, str], cpu_ms: list[float]) -> Callable[[], float]:
    """One launch to exit: returns its wall ms and appends its CPU ms to ``cpu_ms``."""
    command = [str(bin_dir / "opentelemetry-instrument"), str(bin_dir / "python"), "-c", "pass"]

    def once() -> float:
        cpu_before = _children_cpu_ms()
        start = time.perf_counter_ns()
        subprocess.run(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
        )
        wall = (time.perf_counter_ns() - start) / 1e6
        # The launcher execs the app in the same process: one child, both parts.
        cpu_ms.append(_children_cpu_ms() - cpu_before)
        return wall

    return once


def outermost_import_us(report: str, prefix: str = "otel_drift") -> int:
    r"""Sum of the cumulative import times (us) of the outermost ``prefix`` modules.

    ``-X importtime`` prints a module after everything it imported, indented
    two spaces a level; a module's parent is the next line less indented.

    >>> outermost_import_us(
    ...     "import time: self [us] | cumulative | imported package\n"
    ...     "import time:  5 |  5 |     numpy\n"
    ...     "import time:  2 |  7 |   otel_drift.engine\n"
    ...     "import time:  1 |  8 | otel_drift\n"
    ...     "import time:  3 |  3 |   otel_drift.auto\n"
    ...     "import time:  4 |  7 | sitecustomize\n"
    ... )
    11
    """
    lines: list[tuple[int, int, str]] = []
    for line in report.splitlines():
        fields = line.split("|")
        if len(fields) != 3 or not line.startswith("import time:"):
            continue
        try:
            cumulative = int(fields[1])
        except ValueError:
            continue  # the header
        name = fields[2].rstrip()
        lines.append((len(name) - len(name.lstrip()), cumulative, name.strip()))
    total = 0
    for i, (depth, cumulative, name) in enumerate(lines):
        if not name.startswith(prefix):
            continue
        parent = next((n for d, _, n in lines[i + 1 :] if d < depth), None)
        if parent is None or not parent.startswith(prefix):
            total += cumulative
    return total


def _import_ms(bin_dir: Path, env: Mapping[str, str]) -> float:
    command = [str(bin_dir / "opentelemetry-instrument"), str(bin_dir / "python"), "-c", "pass"]
    done = subprocess.run(
        command,
        env={**env, "PYTHONPROFILEIMPORTTIME": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    return outermost_import_us(done.stderr) / 1000


def _differences(on: list[float], off: list[float]) -> Spread:
    return spread([a - b for a, b in zip(on, off, strict=True)])


def run(quick: bool) -> Section:
    rounds, warmup = (1, 0) if quick else (20, 2)
    here = Path(sys.executable).parent
    off_env = _environment({})
    cpu: dict[str, list[float]] = {"off": [], "on": []}
    arms = {
        "off": _launch(here, off_env, cpu["off"]),
        "on": _launch(
            here, _environment({"OTEL_DRIFT_EXPECTATIONS": str(EXPECTATIONS)}), cpu["on"]
        ),
    }
    wall = interleave(arms, rounds, warmup=warmup)
    # interleave drops its warm-up rounds; drop their CPU samples too.
    cpu = {name: samples[warmup:] for name, samples in cpu.items()}
    added = _differences(wall["on"], wall["off"])
    added_cpu = _differences(cpu["on"], cpu["off"])
    imports = spread([_import_ms(here, off_env) for _ in range(1 if quick else IMPORT_RUNS)])
    labels = {
        "off": "otel-drift installed, OTEL_DRIFT_EXPECTATIONS unset",
        "on": "otel-drift on (OTEL_DRIFT_EXPECTATIONS set)",
    }
    rows = [
        [labels[name], spread(wall[name]).fmt(0, " ms"), spread(cpu[name]).fmt(0, " ms")]
        for name in arms
    ]
    rows.append(["on − off, per round", added.fmt(0, " ms"), added_cpu.fmt(0, " ms")])
    markdown = "\n\n".join(
        [
            f"`opentelemetry-instrument python -c pass`, {rounds} rounds of one launch per arm "
            "(order flipped every round), from spawn to exit: wall time, and the CPU time of "
            "the process (launcher and app), which what else runs on the machine disturbs "
            "less. Console exporters into /dev/null.",
            table(["arm", "wall", "CPU"], rows),
            f"On vs off: {added.median:+.0f} ms wall, {added_cpu.median:+.0f} ms CPU per launch; "
            f"target ≤ {TARGET_MS:g} ms, "
            f"{verdict(max(added.median, added_cpu.median) <= TARGET_MS)}.",
            f"Installed but off still costs {imports.fmt(0, ' ms')} of imports (launcher + app, "
            f"outermost `otel_drift` modules under `-X importtime`, median of "
            f"{imports.runs} launches), which neither arm above is without.",
        ]
    )
    figures = {
        "start-up ms added, on vs off (wall)": added.median,
        "start-up ms added, on vs off (CPU)": added_cpu.median,
        "import ms of otel-drift when installed but off": imports.median,
    }
    return Section("Start-up", markdown, figures)
