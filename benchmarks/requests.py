"""Requests: real instrumented servers, OTel alone vs OTel + otel-drift.

Flask and Django under gunicorn (2 workers, gthread: keep-alive) and FastAPI
under uvicorn (2 workers), each started with
``opentelemetry-instrument`` on 127.0.0.1 twice: OTel alone (otel-drift's
instrumentors disabled through OTEL_PYTHON_DISABLED_INSTRUMENTATIONS, as if
it were not installed), and with OTEL_DRIFT_EXPECTATIONS naming the demo's
file (latency and status of the server spans of ``GET /checkout``; for
Django, whose ``http.route`` is ``checkout``, a copy matching that). Both
arms export traces and metrics with the same ``otlp_json_file`` exporters (a
real encoder and a real write, an OTLP exporter minus the network); ``none``
for traces is no option: it would leave the OTel arm without any span
processor, which no real deployment has.

The method, made for a 2-core machine where everything shares the CPU:

- Both servers of a pair run (idle when not loaded) on all CPUs but one; the
  closed-loop client of benchmarks/load.py runs on the remaining CPU, so that
  it does not compete with the server it loads.
- Many short runs of the same length (``run_s``), the two servers
  alternating, the order flipped every round (AB, BA, AB, ...), until the
  section's time budget per server is spent: slow changes of the machine hit
  both arms alike, and each round gives one paired ratio. (Loading both
  servers at once pairs them even better, but two servers sharing one CPU
  cost ~1.5x the CPU per request of one alone, which would shrink the
  relative cost of otel-drift; so one at a time.)
- The figure that decides is the servers' CPU time per request: every process
  of the server (master and workers, exited threads included), read from
  Linux's per-process CPU clocks in nanoseconds (/proc's 10 ms ticks are too
  coarse for a round). It includes the drift worker thread and the batch
  exporter, wherever they ran, and not the time a server waited for the CPU.
  A CPU-bound server's requests/s per core is the inverse of it, so its ratio
  is the requests/s ratio of the issue; the req/s themselves are shown too.
- Per round, the ratio otel-drift / OTel; the median over rounds, with a
  bootstrap 95 % confidence interval of that median. The target is met when
  the whole interval is at or below it, missed when all of it is above, and
  otherwise "not resolved": more rounds, or a quieter machine, are needed.
- An A/A control (full runs): FastAPI against itself, OTel alone in both
  arms, measured the same way. Its interval is the method's resolution in
  this run: on this 2-core VM about ±4 points, too coarse to settle 2 %
  (``requests_inprocess`` resolves about ±0.5).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from benchmarks import load
from benchmarks.common import (
    Interval,
    Section,
    Spread,
    added_interval,
    interval_verdicts,
    judge_interval,
    spread,
    table,
)
from benchmarks.servers import (
    EXPORT_DELAY_MS,
    PATH,
    SERVERS,
    Running,
    Server,
    cpu_split,
    missing,
    pinned,
    serving,
)

TARGET_PERCENT = 2.0
CONNECTIONS = 4


@dataclass(frozen=True)
class Plan:
    """How much to measure: rounds, their length, and the time per server."""

    #: Length of one run of one server; a round is one run of each.
    run_s: float
    warmup_requests: int
    min_rounds: int
    max_rounds: int
    #: Rounds continue until this much time has been spent (or max_rounds).
    budget_s: float
    settle_s: float


QUICK = Plan(run_s=0.1, warmup_requests=50, min_rounds=2, max_rounds=2, budget_s=0.0, settle_s=0)
#: Three servers: under 5 minutes with start-up, warm-up and settling (up to
#: ~30 s a pair). A run of 0.5 s is ~600 requests on a quiet machine, about a
#: window close (500 spans) per worker every other run; the ~65 rounds of 70 s
#: make a median and its interval steady.
FULL = Plan(
    run_s=0.5,
    warmup_requests=1500,
    min_rounds=10,
    max_rounds=120,
    budget_s=70.0,
    settle_s=2 * EXPORT_DELAY_MS / 1000,
)


@dataclass(frozen=True)
class Result:
    server: Server
    rounds: int
    otel_rate: Spread
    drift_rate: Spread
    otel_cpu_us: Spread
    drift_cpu_us: Spread
    #: Per round, drift over OTel, in percent: CPU per request, time per request.
    added_cpu: Interval
    added_wall: Interval
    #: "ns clocks" or "10 ms ticks": how the servers' CPU time was read.
    clock: str
    errors: int
    evaluations: int


def _cpu_reader(running: Running) -> tuple[Callable[[], float], str]:
    """A reader of the server's CPU seconds so far, and what it counts in."""
    if running.cpu_ns() is not None:

        def precise() -> float:
            ns = running.cpu_ns()
            return float("nan") if ns is None else ns / 1e9

        return precise, "ns clocks"
    return running.cpu_seconds, "10 ms ticks"


def _measure(server: Server, plan: Plan, *, control: bool = False) -> Result:
    """OTel alone against OTel + otel-drift; with ``control``, against OTel alone
    again (an A/A run: what the method reads when nothing differs)."""
    errors = 0
    split = cpu_split()
    client_cpus, server_cpus = split if split is not None else (None, None)
    samples: dict[str, dict[str, list[float]]] = {
        arm: {"cpu_us": [], "rate": []} for arm in ("otel", "drift")
    }
    with tempfile.TemporaryDirectory(prefix="otel-drift-bench-") as tmp, ExitStack() as stack:
        arms = {
            "otel": stack.enter_context(serving(server, Path(tmp), False, server_cpus)),
            "drift": stack.enter_context(
                serving(
                    server,
                    _folder(Path(tmp), "control" if control else ""),
                    not control,
                    server_cpus,
                )
            ),
        }
        readers = {name: _cpu_reader(running) for name, running in arms.items()}
        clock = readers["otel"][1] if readers["otel"][1] == readers["drift"][1] else "mixed"
        with pinned(client_cpus):
            for running in arms.values():
                load.wait_until_serving(running.port, PATH)
                load.run(running.port, PATH, plan.warmup_requests, CONNECTIONS)

            deadline = time.monotonic() + plan.budget_s
            rounds = 0
            while rounds < plan.max_rounds and (
                rounds < plan.min_rounds or time.monotonic() < deadline
            ):
                for name in ("otel", "drift") if rounds % 2 == 0 else ("drift", "otel"):
                    before = readers[name][0]()
                    (result,) = load.run_together([arms[name].port], PATH, plan.run_s, CONNECTIONS)
                    used = readers[name][0]() - before
                    samples[name]["cpu_us"].append(used * 1e6 / max(result.requests, 1))
                    samples[name]["rate"].append(result.rate)
                    errors += result.errors
                rounds += 1
        # Let the spans of the last closed windows be exported before the servers stop.
        time.sleep(plan.settle_s)
        stack.close()
        evaluations = _count(arms["drift"].out / "traces.jsonl", b'"drift.evaluation"')
    otel, drift = samples["otel"], samples["drift"]
    return Result(
        server=server,
        rounds=rounds,
        otel_rate=spread(otel["rate"]),
        drift_rate=spread(drift["rate"]),
        otel_cpu_us=spread(otel["cpu_us"]),
        drift_cpu_us=spread(drift["cpu_us"]),
        added_cpu=added_interval(drift["cpu_us"], otel["cpu_us"]),
        # Time per request is the inverse of the rate.
        added_wall=added_interval(otel["rate"], drift["rate"]),
        clock=clock,
        errors=errors,
        evaluations=evaluations,
    )


def _folder(parent: Path, name: str) -> Path:
    """``parent``, or a new folder in it (a second OTel-alone server's files)."""
    if not name:
        return parent
    folder = parent / name
    folder.mkdir()
    return folder


def _count(path: Path, needle: bytes) -> int:
    try:
        return path.read_bytes().count(needle)
    except OSError:
        return 0


def _row(label: str, result: Result, windows: str) -> list[str]:
    """One line of the section's table (``windows``: what the drift arm evaluated)."""
    return [
        label,
        f"{result.rounds}",
        result.otel_cpu_us.fmt(0),
        result.drift_cpu_us.fmt(0),
        result.added_cpu.fmt(1, " %"),
        result.otel_rate.fmt(0),
        result.drift_rate.fmt(0),
        result.added_wall.fmt(1, " %"),
        windows,
        f"{result.errors:,}",
    ]


#: The server of the A/A control (full runs only).
CONTROL = SERVERS[1]


def _control(plan: Plan, rows: list[list[str]], figures: dict[str, float]) -> Interval | None:
    """Run the A/A control (full plan only); add its row and figures."""
    if plan is QUICK or missing(CONTROL):
        return None
    result = _measure(CONTROL, plan, control=True)
    rows.append(_row(f"{CONTROL.label}: A/A control, OTel alone in both arms", result, "–"))
    figures["A/A control: added % server CPU per request"] = result.added_cpu.value
    figures["A/A control: 95 % CI width of server CPU added"] = (
        result.added_cpu.high - result.added_cpu.low
    )
    return result.added_cpu


def run(quick: bool) -> Section:
    plan = QUICK if quick else FULL
    split = cpu_split()
    rows = []
    notes = []
    figures: dict[str, float] = {}
    verdicts = []
    clocks = set()
    for server in SERVERS:
        absent = missing(server)
        if absent:
            notes.append(f"{server.label}: skipped, {', '.join(absent)} not installed.")
            continue
        result = _measure(server, plan)
        clocks.add(result.clock)
        rows.append(_row(server.label, result, f"{result.evaluations:,}"))
        figures[f"req/s ratio OTel+drift / OTel, {server.short}"] = (
            result.drift_rate.median / result.otel_rate.median
        )
        figures[f"added % server CPU per request, {server.short}"] = result.added_cpu.value
        figures[f"95 % CI high of server CPU added, {server.short}"] = result.added_cpu.high
        verdicts.append(
            f"{server.label}: server CPU per request "
            f"{judge_interval(result.added_cpu, TARGET_PERCENT)}"
        )
    control = _control(plan, rows, figures)
    placement = (
        f"the servers on CPU {', '.join(map(str, sorted(split[1])))}, the client on CPU "
        f"{', '.join(map(str, sorted(split[0])))}"
        if split is not None
        else "client and servers unpinned (fewer than 2 CPUs)"
    )
    parts = [
        f"`GET {PATH}` returning a small JSON body over {CONNECTIONS} keep-alive "
        f"connections; runs of {plan.run_s:g} s, the two servers alternating (order "
        f"flipped every round) for up to {plan.budget_s:g} s per pair, after "
        f"{plan.warmup_requests:,} warm-up requests each; {placement}. Server CPU: every "
        f"process of the server, read as {' / '.join(sorted(clocks)) or 'n/a'}. Medians "
        "with min–max over rounds; *added*: per round, otel-drift over OTel alone, median "
        "over rounds with a bootstrap 95 % confidence interval: of the CPU per request "
        "(what decides; for a CPU-bound server, the inverse of its req/s per core), and of "
        "the time per request (inverse of req/s, for information: it also moves with the "
        "client's CPU and whatever else runs). *windows*: `drift.evaluation` spans the drift arm "
        "exported (it was watching).",
    ]
    if rows:
        parts.append(
            table(
                [
                    "server",
                    "rounds",
                    "OTel, CPU µs/req",
                    "OTel + drift, CPU µs/req",
                    "added (CPU)",
                    "OTel, req/s",
                    "OTel + drift, req/s",
                    "added (wall)",
                    "windows",
                    "errors",
                ],
                rows,
            )
        )
    parts.extend(notes)
    if control is not None:
        parts.append(
            f"*A/A control*: {CONTROL.label} against itself, OTel alone in both arms, measured "
            f"the same way: {control.fmt(1, ' %')}. Nothing differs between its arms, so its "
            "interval is what this run can resolve; a drift interval about as wide that "
            "straddles 2 % says the method, on this machine, cannot tell."
        )
    if verdicts:
        parts.append(interval_verdicts(TARGET_PERCENT, verdicts))
    return Section("Requests: instrumented servers on 127.0.0.1", "\n\n".join(parts), figures)
