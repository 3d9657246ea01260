"""Instrumented web servers for the requests section, and the CPU they use.

Each server runs under ``opentelemetry-instrument`` on 127.0.0.1 in its own
session, so that its CPU time can be summed over the master and every worker
(/proc, Linux) and so that it can be stopped as a whole.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import textwrap
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


@dataclass(frozen=True)
class Server:
    label: str
    #: Modules that must be importable for this server to run.
    needs: tuple[str, ...]
    module: str
    source: str

    @property
    def short(self) -> str:
        return self.module.split("_")[0]

    def command(self, bin_dir: Path, port: int) -> list[str]:
        if self.module == "flask_app":
            return [
                str(bin_dir / "gunicorn"),
                "--workers=2",
                "--worker-class=gthread",
                "--threads=4",
                f"--bind={load.LOOPBACK}:{port}",
                "--log-level=warning",
                "flask_app:app",
            ]
        return [
            str(bin_dir / "uvicorn"),
            "fastapi_app:app",
            "--workers=2",
            f"--host={load.LOOPBACK}",
            f"--port={port}",
            "--no-access-log",
            "--log-level=warning",
        ]


SERVERS = (
    Server("Flask + gunicorn (2 workers, gthread)", ("flask", "gunicorn"), "flask_app", FLASK_APP),
    Server(
        "FastAPI + uvicorn (2 workers)",
        ("fastapi", "uvicorn", "opentelemetry.instrumentation.fastapi"),
        "fastapi_app",
        FASTAPI_APP,
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


def session_cpu_seconds(session: int) -> float:
    total_ticks = 0
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:
        return float("nan")
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # The command name is in parentheses and may contain anything: split after it.
        fields = stat[stat.rindex(")") + 2 :].split()
        # Fields after the name start at 3 (state): session is 6, utime 14, stime 15.
        if int(fields[6 - 3]) == session:
            total_ticks += int(fields[14 - 3]) + int(fields[15 - 3])
    return total_ticks / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((load.LOOPBACK, 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(server: Server, workdir: Path, drift: bool) -> Iterator[Running]:
    """Start ``server`` under opentelemetry-instrument, with otel-drift on or not.

    Does not wait for it to serve (see ``load.wait_until_serving``), so that
    several servers can start at once. Both arms export traces and metrics
    with the same ``otlp_json_file`` exporters.
    """
    out = workdir / f"{server.module}-{'drift' if drift else 'otel'}"
    out.mkdir()
    (out / f"{server.module}.py").write_text(server.source)
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
        }
    )
    if drift:
        env["OTEL_DRIFT_EXPECTATIONS"] = str(EXPECTATIONS)
    with (out / "server.log").open("w") as log:
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
