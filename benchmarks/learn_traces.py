"""Learning: spans per second through ``otel-drift baseline --from-traces``.

A synthetic recording as the ``otlp_json_file`` exporter writes it (one
export request of 512 spans a line): a Flask-like service's server spans on
three routes (old HTTP names), 1 % 500s, lognormal latency, and a client span
to an upstream for every third request. Written once to a temporary folder.

Alternated in one run, whole calls each: the command (read + learn + write),
and the reader alone (``read_otlp_json`` + ``request_spans`` + the span
records: the floor any learning from this file pays); the same arm run
twice in a row gives the A/A control. GC on, one process.

    python -m benchmarks.learn_traces [--spans 1000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from otel_drift._internal.cli.baseline.from_traces import spans, trace_files
from otel_drift._internal.cli.main import main

ROUTES = (("/orders", 12.0), ("/search", 20.0), ("/profile/<int:user>", 8.0))
BATCH = 512


def _attribute(key: str, value: object) -> dict[str, object]:
    if isinstance(value, str):
        return {"key": key, "value": {"stringValue": value}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"intValue": str(value)}}


def _span(name: str, kind: int, start: int, end: int, attributes: dict[str, object]) -> dict:  # type: ignore[type-arg]
    return {
        "traceId": "0" * 32,
        "spanId": "0" * 16,
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(end),
        "attributes": [_attribute(k, v) for k, v in attributes.items()],
        "status": {},
    }


def write_recording(folder: Path, count: int, seed: int = 1, slow: str = "") -> Path:
    """``count`` spans into ``folder/traces.jsonl``; ``slow``: a route 30 % slower."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "traces.jsonl"
    now = 1_790_000_000_000_000_000
    batch: list[dict] = []  # type: ignore[type-arg]
    resource = {"attributes": [_attribute("service.name", "shop")]}
    with path.open("w") as stream:

        def flush() -> None:
            request = {
                "resourceSpans": [
                    {
                        "resource": resource,
                        "scopeSpans": [
                            {
                                "scope": {"name": "opentelemetry.instrumentation.flask"},
                                "spans": batch,
                            }
                        ],
                    }
                ]
            }
            stream.write(json.dumps(request, separators=(",", ":")) + "\n")
            batch.clear()

        for made in range(count):
            now += 1_000_000
            if made % 3 == 2:
                duration = rng.lognormvariate(1.5, 0.3)
                attributes: dict[str, object] = {
                    "http.method": "GET",
                    "net.peer.name": "127.0.0.1",
                    "http.url": "http://127.0.0.1:5001/items",
                    "http.status_code": 200,
                }
                batch.append(_span("GET", 3, now, now + int(duration * 1e6), attributes))
            else:
                route, median = ROUTES[rng.randrange(3)]
                duration = rng.lognormvariate(0.0, 0.3) * median * (1.3 if route == slow else 1.0)
                attributes = {
                    "http.method": "GET",
                    "http.route": route,
                    "http.target": route,
                    "http.status_code": 500 if rng.random() < 0.01 else 200,
                }
                batch.append(_span(f"GET {route}", 2, now, now + int(duration * 1e6), attributes))
            if len(batch) == BATCH:
                flush()
        if batch:
            flush()
    return path


def _learn(path: Path, out: Path) -> float:
    started = time.perf_counter()
    code = main(
        ["baseline", "--from-traces", str(path), "-o", str(out), "--force", "--no-progress"]
    )
    assert code == 0
    return time.perf_counter() - started


def _read(path: Path) -> float:
    started = time.perf_counter()
    for _ in spans(trace_files([path])):
        pass
    return time.perf_counter() - started


def run(count: int, rounds: int) -> str:
    with tempfile.TemporaryDirectory() as folder:
        path = write_recording(Path(folder) / "rec", count)
        out = Path(folder) / "learned.yaml"
        learn: list[float] = []
        read: list[float] = []
        control: list[float] = []
        for number in range(rounds):
            arms: list[tuple[list[float], Callable[[], float]]] = [
                (learn, partial(_learn, path, out)),
                (read, partial(_read, path)),
            ]
            for times, arm in arms if number % 2 == 0 else arms[::-1]:
                times.append(arm())
            control.append(_learn(path, out))  # A/A: the command again, right after
        ratio = [a / b for a, b in zip(learn, control, strict=True)]

        def rate(times: list[float]) -> str:
            rates = sorted(count / t for t in times)
            return f"{statistics.median(rates):,.0f} ({rates[0]:,.0f}–{rates[-1]:,.0f})"

        learn_share = statistics.median(learn) / statistics.median(read)
        return (
            f"{count:,} spans, {rounds} rounds: --from-traces {rate(learn)} spans/s; "
            f"the reader alone {rate(read)} spans/s (the command takes {learn_share:.2f}x the "
            f"read); A/A (the command twice) ratio {statistics.median(ratio):.3f} "
            f"({min(ratio):.3f}–{max(ratio):.3f})"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    print(run(options.spans, options.rounds))
