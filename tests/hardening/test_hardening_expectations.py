"""Hostile expectations files and settings, through the zero-code path.

``opentelemetry-instrument python app.py`` runs a tiny Flask app (contrib's
Flask instrumentation makes a server span through the test client, the app
makes a span of its own) with OTEL_DRIFT_EXPECTATIONS naming each hostile
file. Each time: the app runs and exits 0; stderr has exactly one line from
otel-drift, naming the file and the problem, and no traceback; both spans are
still exported (OTLP/JSON file exporter). In process, in a forked child so
that the memory high-water mark is the loader's own: the hook's loader call
takes under 1 s of CPU and under 64 MiB, and logs exactly one error record.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import random
import resource
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import yaml

from otel_drift._internal import auto, feed
from otel_drift._internal.settings import Settings
from otel_drift.expectations import ExpectationsError, loads_expectations
from tests.hardening.support import read_jsonl, run_instrumented
from tests.support import EXAMPLE_FILE

RecordFigures = Callable[[str, dict[str, object]], None]

pytestmark = pytest.mark.e2e

LOADER_CPU_SECONDS = 1.0
LOADER_MEMORY_MIB = 64

APP = """\
from flask import Flask
from opentelemetry import trace

app = Flask(__name__)


@app.get("/ping")
def ping() -> str:
    return "pong"


# Outside app-span: with a local parent, contrib makes an INTERNAL span, not a SERVER one.
assert app.test_client().get("/ping").data == b"pong"
with trace.get_tracer("hardening.app").start_as_current_span("app-span"):
    pass
print("app ran")
"""

GOOD = """\
version: 1
expectations:
  - name: ping
    match: {span_kind: server}
    window: {spans: 100}
    min_samples: 1
    watch:
      latency:
        source: span.duration
        baseline: {bins: [0, 10, 100, 1000], fractions: [0.5, 0.3, 0.2]}
"""

_YAML_NOISE = ":{}[]&*!|>'\"%@`#,-?\t\n "


def mutants(seed: int, *, json_text: bool) -> Iterator[str]:
    """Endless seeded mutations of the example file (a few characters changed each)."""
    rng = random.Random(seed)
    base = EXAMPLE_FILE.read_text()
    if json_text:
        base = json.dumps(yaml.safe_load(base), indent=1)
    while True:
        chars = list(base)
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(chars))
            action = rng.random()
            noise = rng.choice(_YAML_NOISE) if rng.random() < 0.8 else chr(rng.randint(1, 0x2FF))
            if action < 0.4:
                chars[at] = noise
            elif action < 0.7:
                chars.insert(at, noise)
            else:
                del chars[at]
        yield "".join(chars)


def first_rejected(seed: int, *, json_text: bool) -> str:
    """The first mutant the loader refuses (some mutations leave a valid file)."""
    for text in mutants(seed, json_text=json_text):
        try:
            loads_expectations(text, path="x.json" if json_text else "x.yaml")
        except ExpectationsError:
            return text
    raise AssertionError("unreachable")


def _laughs(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghijkl"[: levels - 1]:
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")
        previous = name
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Hostile:
    name: str
    #: Builds the path (in the given folder) that OTEL_DRIFT_EXPECTATIONS will name.
    make: Callable[[Path], Path]
    #: Text the one error line must contain besides the path.
    problem: str


def _write(name: str, data: str | bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data)
        return path

    return make


def _mutant(name: str, seed: int) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        return _write(name, first_rejected(seed, json_text=name.endswith(".json")))(folder)

    return make


def _sparse_100mb(folder: Path) -> Path:
    path = folder / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(100 * 1024 * 1024)  # sparse: no disk, no time
    return path


def _directory(folder: Path) -> Path:
    path = folder / "expectations.d"
    path.mkdir()
    return path


def _under_a_file(folder: Path) -> Path:
    regular = folder / "regular.yaml"
    regular.write_text(GOOD)
    return regular / "expectations.yaml"


def _fifo(folder: Path) -> Path:
    # Opened without O_NONBLOCK, a FIFO with no writer blocks the app's startup forever.
    path = folder / "pipe.yaml"
    os.mkfifo(path)
    return path


def _python_tag(folder: Path) -> Path:
    path = folder / "tag.yaml"
    pwned = folder / "pwned"
    path.write_text(f'version: !!python/object/apply:os.system ["touch {pwned}"]\n')
    return path


def _symlink_loop(folder: Path) -> Path:
    path = folder / "loop.yaml"
    path.symlink_to(path)
    return path


SCHEMA_VIOLATIONS = """\
version: 2
expectations:
  - name: 1bad name
    match: {span_kind: sideways, attributes: {a: [1, 2]}}
    window: {spans: -3}
    watch:
      latency:
        source: span.duration
        baseline: {bins: [3, 2, 1], fractions: [0.9, 0.9]}
        method: telepathy
        warning: -1
"""

HOSTILE: tuple[Hostile, ...] = (
    Hostile("fuzzed-yaml-1", _mutant("f1.yaml", 1), ""),
    Hostile("fuzzed-yaml-2", _mutant("f2.yaml", 2), ""),
    Hostile("fuzzed-json", _mutant("f3.json", 3), ""),
    Hostile("schema-violations", _write("schema.yaml", SCHEMA_VIOLATIONS), "version"),
    Hostile("alias-bomb", _write("laughs.yaml", _laughs()), "expands to more than"),
    Hostile("100-mb", _sparse_100mb, "100.0 MB"),
    Hostile(
        "non-utf8",
        _write("latin1.yaml", "version: 1\nname: caf\xe9\n".encode("latin-1")),
        "not UTF-8",
    ),
    Hostile("directory", _directory, "directory"),
    Hostile("path-under-a-file", _under_a_file, "is a file, not a directory"),
    Hostile("missing", lambda f: f / "missing.yaml", "does not exist"),
    Hostile("fifo", _fifo, "not a regular file"),
    Hostile("python-tag", _python_tag, "tag"),
    Hostile("deep-nesting", _write("deep.json", "[" * 200_000), "nested more than"),
)

#: In process only: cheap to check, nothing new to learn from a subprocess.
MORE_HOSTILE: tuple[Hostile, ...] = (
    Hostile("empty", _write("empty.yaml", ""), "empty"),
    Hostile("null-document", _write("null.yaml", "~\n"), "mapping"),
    Hostile("5000-digit-int", _write("digits.json", '{"version": ' + "9" * 5000 + "}"), "JSON"),
    Hostile("utf16", _write("utf16.yaml", "version: 1\n".encode("utf-16")), "UTF-16"),
    Hostile("symlink-loop", _symlink_loop, "cannot be opened"),
    Hostile("char-device", lambda _f: Path("/dev/zero"), "not a regular file"),
    Hostile("nul-bytes", _write("nul.yaml", b"version: 1\x00\x00\n"), "character"),
)


# -- in process: time, memory, one error record -----------------------------------------


@dataclass(frozen=True)
class LoaderRun:
    cpu_s: float
    wall_s: float
    rss_mib: float
    errors: list[str]
    others: list[str]


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def measure_hook(path: Path) -> LoaderRun:
    """Run the post-instrument hook's loading step in a forked child, measured there.

    A child's ru_maxrss starts near its current size, so the high-water mark it
    reaches is the loader's own, whatever this test process did before.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        status = 1
        try:
            os.close(read_end)
            gc.collect()
            gc.freeze()  # keep the collector from copying the parent's pages
            handler = _Keep()
            logging.getLogger("otel_drift").addHandler(handler)
            records = handler.records
            feed._active = None
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            cpu, wall = time.process_time(), time.perf_counter()
            auto._install(Settings(expectations_path=str(path)))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            result = {
                "cpu_s": cpu,
                "wall_s": wall,
                "rss_mib": (after - before) / 1024,
                "errors": [r.getMessage() for r in records if r.levelno >= logging.ERROR],
                "others": [r.getMessage() for r in records if r.levelno < logging.ERROR],
                "attached": feed._active is not None,
            }
            os.write(write_end, json.dumps(result).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    assert status == 0, f"child failed with status {status}"
    data = json.loads(b"".join(chunks))
    assert not data.pop("attached"), "a hostile file attached a processor"
    return LoaderRun(**data)


@pytest.mark.parametrize("hostile", HOSTILE + MORE_HOSTILE, ids=lambda h: h.name)
def test_loader_refuses_fast_small_and_once(
    hostile: Hostile, tmp_path: Path, figures: RecordFigures
) -> None:
    path = hostile.make(tmp_path)
    run = measure_hook(path)
    figures(
        "expectations.loader_cpu_s_and_mib",
        {hostile.name: f"{run.cpu_s:.3f}/{run.rss_mib:.1f}"},
    )
    assert len(run.errors) == 1, run.errors
    (line,) = run.errors
    assert "\n" not in line, f"one log record, but several lines: {line!r}"
    assert str(path) in line and hostile.problem in line, line
    assert run.cpu_s < LOADER_CPU_SECONDS, f"{run.cpu_s:.2f} s of CPU (wall {run.wall_s:.2f} s)"
    assert run.rss_mib < LOADER_MEMORY_MIB, f"{run.rss_mib:.0f} MiB"
    assert not (tmp_path / "pwned").exists(), "a YAML tag ran a command"


def test_fuzzed_files_load_or_are_refused_with_one_error(
    tmp_path: Path, figures: RecordFigures
) -> None:
    refused = accepted = 0
    worst_cpu = 0.0
    for json_text, generator in (
        (False, mutants(11, json_text=False)),
        (True, mutants(12, json_text=True)),
    ):
        for index, text in zip(range(40), generator, strict=False):
            path = tmp_path / f"m{index}.{'json' if json_text else 'yaml'}"
            path.write_text(text)
            run = measure_hook(path)
            worst_cpu = max(worst_cpu, run.cpu_s)
            assert len(run.errors) == 1, run.errors
            if "is invalid" in run.errors[0]:
                refused += 1
                assert str(path) in run.errors[0], run.errors
            else:
                # Still a good file: the hook went on to look for the SDK's provider,
                # which this test process has not set up.
                assert "TracerProvider" in run.errors[0], run.errors
                accepted += 1
    assert worst_cpu < LOADER_CPU_SECONDS
    figures(
        "expectations.fuzzed_in_process",
        {
            "files": refused + accepted,
            "refused": refused,
            "accepted": accepted,
            "worst_cpu_s": round(worst_cpu, 3),
        },
    )


def test_a_large_flat_yaml_file_is_refused_within_a_second(tmp_path: Path) -> None:
    path = tmp_path / "flat.yaml"
    path.write_text("version: 1\nexpectations: [" + "0," * 250_000 + "0]\n")
    run = measure_hook(path)
    assert len(run.errors) == 1
    assert run.cpu_s < LOADER_CPU_SECONDS, f"{run.cpu_s:.2f} s of CPU, {run.rss_mib:.0f} MiB"
    assert run.rss_mib < LOADER_MEMORY_MIB, f"{run.rss_mib:.0f} MiB"


# -- the zero-code path: opentelemetry-instrument python app.py ----------------------------


def _only_flask_instrumented() -> str:
    # Every installed instrumentor but Flask's is skipped: they would only add seconds
    # of imports to each of these runs, and Flask's is the one the app exercises.
    names = {ep.name for ep in entry_points(group="opentelemetry_instrumentor")}
    return ",".join(sorted(names - {"flask"}))


@dataclass
class AppRun:
    returncode: int
    stdout: str
    stderr: str
    spans: list[str]
    scopes: list[str]


def run_app(folder: Path, env: dict[str, str]) -> AppRun:
    folder.mkdir(parents=True, exist_ok=True)
    app = folder / "app.py"
    app.write_text(APP)
    out = folder / "otlp"
    result = run_instrumented(
        app,
        {
            "OTEL_SERVICE_NAME": "hardening-app",
            "OTEL_TRACES_EXPORTER": "otlp_json_file",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_DRIFT_OTLP_JSON_DIR": str(out),
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": _only_flask_instrumented(),
            **env,
        },
        cwd=folder,
        timeout=120,
    )
    spans: list[str] = []
    scopes: list[str] = []
    for request in read_jsonl(out / "traces.jsonl"):
        for resource_spans in request["resourceSpans"]:  # type: ignore[attr-defined]
            for scope_spans in resource_spans["scopeSpans"]:
                for span in scope_spans["spans"]:
                    spans.append(span["name"])
                    scopes.append(scope_spans["scope"]["name"])
    return AppRun(result.returncode, result.stdout, result.stderr, spans, scopes)


def _drift_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "otel-drift" in line or "otel_drift" in line]


def _assert_host_unharmed(run: AppRun) -> None:
    assert run.returncode == 0, run.stderr
    assert "app ran" in run.stdout, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    assert "Failed to auto initialize" not in run.stderr, run.stderr
    # The app's own span and contrib's Flask span were exported: tracing kept working.
    assert "app-span" in run.spans, (run.spans, run.stderr)
    assert "GET /ping" in run.spans, (run.spans, run.stderr)


def test_hostile_files_through_opentelemetry_instrument(
    tmp_path: Path, figures: RecordFigures
) -> None:
    def one(hostile: Hostile) -> tuple[Hostile, Path, AppRun]:
        folder = tmp_path / hostile.name
        folder.mkdir()
        path = hostile.make(folder)
        return hostile, path, run_app(folder / "app", {"OTEL_DRIFT_EXPECTATIONS": str(path)})

    started = time.perf_counter()
    # Three at a time: each run is mostly imports, and this machine has two cores.
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = list(pool.map(one, HOSTILE))
    failures: list[str] = []
    for hostile, path, run in runs:
        try:
            _assert_host_unharmed(run)
            lines = _drift_lines(run.stderr)
            assert len(lines) == 1, lines
            assert str(path) in lines[0] and hostile.problem in lines[0], lines[0]
            assert not (path.parent / "pwned").exists()
        except AssertionError as error:
            failures.append(f"{hostile.name}: {error}")
    figures(
        "expectations.zero_code",
        {
            "files_tried": len(runs),
            "failures": len(failures),
            "seconds": round(time.perf_counter() - started, 1),
        },
    )
    assert failures == [], "\n\n".join(failures)


def test_bad_settings_are_logged_once_and_replaced_by_defaults(tmp_path: Path) -> None:
    expectations = tmp_path / "good.yaml"
    expectations.write_text(GOOD)
    bad = {
        "OTEL_DRIFT_QUEUE_SIZE": "abc",
        "OTEL_DRIFT_WINDOW": "-5",
        "OTEL_DRIFT_FLUSH_INTERVAL": "0",
        "OTEL_DRIFT_MAX_CATEGORIES": "1e9999",
        "OTEL_DRIFT_VIOLATION_SPANS_PER_SECOND": "nan",
        "OTEL_DRIFT_ENABLED": "perhaps",
        "OTEL_DRIFT_CONSOLE": "\x1b[31mred",
    }
    run = run_app(tmp_path / "app", {"OTEL_DRIFT_EXPECTATIONS": str(expectations), **bad})
    _assert_host_unharmed(run)
    lines = _drift_lines(run.stderr)
    for name, value in bad.items():
        mentioning = [line for line in lines if name in line]
        assert len(mentioning) == 1, (name, lines)
        assert repr(value) in mentioning[0] and "default" in mentioning[0], mentioning[0]
    assert len(lines) == len(bad), lines
    # The defaults took over: otel-drift attached (enabled) and evaluated the last window.
    assert "drift.evaluation" in run.spans, (run.spans, run.stderr)
