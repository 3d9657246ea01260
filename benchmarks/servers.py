"""Instrumented web servers for the requests section, and the CPU they use.

Each server runs under ``opentelemetry-instrument`` on 127.0.0.1 in its own
session, so that its CPU time can be summed over the master and every worker
(/proc, Linux) and so that it can be stopped as a whole. It can be confined
to some CPUs (``cpus``), so that the load generator, on the others, does not
compete with it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from benchmarks import load
from benchmarks.machine import ROOT

EXPECTATIONS = ROOT / "examples" / "demo" / "expectations.yaml"
PATH = "/checkout"
#: Batch export at least every second (default 5 s): uvicorn re-raises SIGTERM
#: after its graceful stop, so its workers never run atexit, and whatever is
#: still queued at the end is lost (in both arms alike).
EXPORT_DELAY_MS = 1000

FLASK_APP = textwrap.dedent(
    """
    from flask import Flask

    app = Flask(__name__)


    @app.get("/checkout")
    def checkout():
        return {"status": "ok"}
    """
)
FASTAPI_APP = textwrap.dedent(
    """
    from fastapi import FastAPI

    app = FastAPI()


    @app.get("/checkout")
    async def checkout():
        return {"status": "ok"}
    """
)
#: Settings, view and URLs in one module, which DJANGO_SETTINGS_MODULE names:
#: contrib's Django instrumentor reads the settings when opentelemetry-instrument
#: starts (it adds its middleware to MIDDLEWARE), before any app is loaded.
DJANGO_APP = textwrap.dedent(
    """
    from django.http import JsonResponse
    from django.urls import path

    DEBUG = False
    SECRET_KEY = "benchmark-only-not-a-secret"
    ALLOWED_HOSTS = ["127.0.0.1"]
    ROOT_URLCONF = "django_app"
    # Sets Content-Length (which the load generator frames responses by);
    # without it gunicorn answers chunked. In every startproject's settings.
    MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
    INSTALLED_APPS = []
    DATABASES = {}
    USE_TZ = True


    def checkout(request):
        return JsonResponse({"status": "ok"})


    urlpatterns = [path("checkout", checkout)]
    """
)
DJANGO_WSGI = textwrap.dedent(
    """
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()
    """
)


@dataclass(frozen=True)
class Server:
    label: str
    #: Modules that must be importable for this server to run.
    needs: tuple[str, ...]
    module: str
    source: str
    #: The application, as the server names it (``module:attribute``).
    app: str
    #: "gunicorn" (2 workers, gthread) or "uvicorn" (2 workers).
    runner: str
    #: More modules written next to ``module``: (name, source).
    extra_modules: tuple[tuple[str, str], ...] = ()
    #: Environment variables the server needs.
    env: tuple[tuple[str, str], ...] = ()
    #: The ``http.route`` its instrumentation gives ``GET /checkout``.
    route: str = PATH

    @property
    def short(self) -> str:
        return self.module.split("_")[0]

    def command(self, bin_dir: Path, port: int) -> list[str]:
        if self.runner == "gunicorn":
            return [
                str(bin_dir / "gunicorn"),
                "--workers=2",
                "--worker-class=gthread",
                "--threads=4",
                f"--bind={load.LOOPBACK}:{port}",
                "--log-level=warning",
                self.app,
            ]
        return [
            str(bin_dir / "uvicorn"),
            self.app,
            "--workers=2",
            f"--host={load.LOOPBACK}",
            f"--port={port}",
            "--no-access-log",
            "--log-level=warning",
        ]

    def write(self, folder: Path) -> None:
        """Write the app's modules into ``folder``."""
        for name, source in ((self.module, self.source), *self.extra_modules):
            (folder / f"{name}.py").write_text(source)

    def expectations(self, folder: Path) -> Path:
        """The demo's expectations for this server's route: the demo's file as
        is where the route is ``/checkout``; else a copy matching this route,
        written into ``folder`` (the same watches, windows and baselines, so
        that every server's drift arm does the same work)."""
        if self.route == PATH:
            return EXPECTATIONS
        path = folder / "expectations.yaml"
        path.write_text(expectations_text(self.route))
        return path


def expectations_text(route: str) -> str:
    """The demo's expectations file, matching the server spans of ``route``."""
    text, found = re.subn(
        rf"(http\.route:\s*){re.escape(PATH)}(?=[\s,}}])",
        lambda m: m.group(1) + route,
        EXPECTATIONS.read_text(),
    )
    if found != 1:
        raise RuntimeError(f"{EXPECTATIONS}: expected one `http.route: {PATH}`, found {found}")
    return text


SERVERS = (
    Server(
        "Flask + gunicorn (2 workers, gthread)",
        ("flask", "gunicorn"),
        "flask_app",
        FLASK_APP,
        app="flask_app:app",
        runner="gunicorn",
    ),
    Server(
        "FastAPI + uvicorn (2 workers)",
        ("fastapi", "uvicorn", "opentelemetry.instrumentation.fastapi"),
        "fastapi_app",
        FASTAPI_APP,
        app="fastapi_app:app",
        runner="uvicorn",
    ),
    Server(
        "Django + gunicorn (2 workers, gthread)",
        ("django", "gunicorn", "opentelemetry.instrumentation.django"),
        "django_app",
        DJANGO_APP,
        app="django_wsgi:application",
        runner="gunicorn",
        extra_modules=(("django_wsgi", DJANGO_WSGI),),
        env=(("DJANGO_SETTINGS_MODULE", "django_app"),),
        # Django's route is the URL pattern as written: no leading slash.
        route=PATH.lstrip("/"),
    ),
)


def missing(server: Server) -> list[str]:
    """The modules ``server`` needs that are not installed here."""
    return [name for name in server.needs if importlib.util.find_spec(name) is None]


@dataclass(frozen=True)
class Running:
    port: int
    #: Where its otlp_json_file exporters write.
    out: Path
    #: Process id of the master, which is also the session id of all its processes.
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU time of every process of the server so far (NaN without /proc)."""
        return session_cpu_seconds(self.pid)

    def cpu_ns(self) -> int | None:
        """CPU time of every process of the server so far, in ns, exited threads
        included; None where the kernel does not tell (see ``process_cpu_ns``)."""
        total = 0
        for pid in session_pids(self.pid):
            ns = process_cpu_ns(pid)
            if ns is None:
                if pid_alive(pid):
                    return None
                continue  # gone meanwhile
            total += ns
        return total


def _stat_fields(pid: int | str) -> list[str] | None:
    """Fields of /proc/<pid>/stat from the state on (the 3rd), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may contain anything: split after it.
    return stat[stat.rindex(")") + 2 :].split()


def session_pids(session: int) -> list[int]:
    """Every process of ``session`` (/proc; empty without it)."""
    try:
        entries = [e.name for e in Path("/proc").iterdir() if e.name.isdigit()]
    except OSError:
        return []
    pids = []
    for name in entries:
        fields = _stat_fields(name)
        # Fields after the name start at 3 (state): session is 6.
        if fields is not None and int(fields[6 - 3]) == session:
            pids.append(int(name))
    return pids


def pid_alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def process_cpu_ns(pid: int) -> int | None:
    """CPU time of process ``pid`` (all its threads, live and exited), in ns.

    Linux's per-process CPU clock (``clock_getcpuclockid``: clock id
    ``(~pid << 3) | 2``) counts nanoseconds, where /proc/<pid>/stat counts
    10 ms ticks: a run of a few hundred requests costs a few tens of ticks, too
    coarse to see a 2 % difference. None when the clock cannot be read.
    """
    try:
        return time.clock_gettime_ns((~pid << 3) | 2)
    except (OSError, OverflowError, AttributeError):
        return None


def session_cpu_seconds(session: int) -> float:
    total_ticks = 0
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:
        return float("nan")
    for entry in entries:
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry.name)
        if fields is None:
            continue  # gone meanwhile
        # Fields after the name start at 3 (state): session is 6, utime 14, stime 15.
        if int(fields[6 - 3]) == session:
            total_ticks += int(fields[14 - 3]) + int(fields[15 - 3])
    return total_ticks / os.sysconf("SC_CLK_TCK")


def cpu_split() -> tuple[set[int], set[int]] | None:
    """(load generator's CPUs, servers' CPUs): one CPU for the client, the rest
    for the server; None with fewer than two CPUs or no affinity API."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None
    if len(cpus) < 2:
        return None
    return {cpus[0]}, set(cpus[1:])


@contextmanager
def pinned(cpus: set[int] | None) -> Iterator[None]:
    """Run this process (and what it starts meanwhile) on ``cpus`` only; None: as is."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((load.LOOPBACK, 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(
    server: Server, workdir: Path, drift: bool, cpus: set[int] | None = None
) -> Iterator[Running]:
    """Start ``server`` under opentelemetry-instrument, with otel-drift on or not.

    Does not wait for it to serve (see ``load.wait_until_serving``), so that
    several servers can start at once. Both arms export traces and metrics
    with the same ``otlp_json_file`` exporters. With ``cpus``, the server and
    every process it starts run on those CPUs only (inherited from this
    process, pinned to them while it starts the server).
    """
    out = workdir / f"{server.module}-{'drift' if drift else 'otel'}"
    out.mkdir()
    server.write(out)
    port = _free_port()
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        {
            "OTEL_SERVICE_NAME": f"bench-{server.module}",
            "OTEL_TRACES_EXPORTER": "otlp_json_file",
            "OTEL_METRICS_EXPORTER": "otlp_json_file",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_DRIFT_OTLP_JSON_DIR": str(out),
            "OTEL_BSP_SCHEDULE_DELAY": str(EXPORT_DELAY_MS),
            # The app module sits in its own folder; uvicorn's spawned workers
            # find it through PYTHONPATH (opentelemetry-instrument prepends its own).
            "PYTHONPATH": str(out),
            **dict(server.env),
        }
    )
    if drift:
        env["OTEL_DRIFT_EXPECTATIONS"] = str(server.expectations(out))
    else:
        # OTel alone, as without otel-drift installed: none of its instrumentors.
        env["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] = ",".join(_our_instrumentors())
    with (out / "server.log").open("w") as log:
        with pinned(cpus):
            process = subprocess.Popen(
                [str(bin_dir / "opentelemetry-instrument"), *server.command(bin_dir, port)],
                cwd=out,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            yield Running(port, out, process.pid)
        finally:
            _stop(process)


def _our_instrumentors() -> list[str]:
    """The names of otel-drift's ``opentelemetry_instrumentor`` entry points."""
    found = importlib.metadata.entry_points(group="opentelemetry_instrumentor")
    return sorted(ep.name for ep in found if ep.value.startswith("otel_drift."))


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # Whatever of its session is left (a worker that outlived its master).
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
