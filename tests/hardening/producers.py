"""Many producers at once: 8 threads and an asyncio task ending spans on one SDK provider.

Shared by ``test_hardening_concurrency.py`` and ``python -m tests.hardening.concurrency_long``.
Each producer counts the matching spans it ended; since the SDK calls ``on_end``
synchronously inside ``span.end()``, that is exactly what the processor was handed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import TracerProvider

CONCURRENCY_EXPECTATIONS = """\
version: 1
expectations:
  - name: checkout
    match: {span_name: checkout}
    window: {spans: 500}
    min_samples: 10
    watch:
      amount:
        attribute: amount
        baseline: {bins: [0, 10, 100, 1000], fractions: [0.5, 0.3, 0.2]}
        constraints: {min: 0}
      plan:
        attribute: plan
        baseline: {categories: {free: 0.5, pro: 0.5}}
        constraints: {allowed: [free, pro]}
      latency:
        source: span.duration
        unit: us
        baseline: {bins: [0, 1, 10, 100], fractions: [0.5, 0.3, 0.2]}
"""
WATCHED = ("amount", "plan", "latency")
THREADS = 8

# Cycled through: valid, violating, missing, invalid values for each watched attribute.
_AMOUNTS: tuple[object, ...] = (5, 50.5, -1, None, "abc", 500)
_PLANS: tuple[object, ...] = ("free", "pro", "gold", None, 3, "pro", ("x",))


@dataclass
class Producer:
    """Ends ``limit`` matching spans (or runs until ``stop``), one noise span per three."""

    name: str
    limit: int | None
    stop: threading.Event
    matched: int = 0
    noise: int = 0
    errors: list[str] = field(default_factory=list)
    #: Slowest single span (start + end, i.e. including on_end), in seconds.
    slowest: float = 0.0

    def one(self, tracer_end: Callable[[str, dict[str, object]], None], i: int) -> None:
        started = time.perf_counter()
        try:
            if i % 4 == 3:
                tracer_end("browse", {"plan": "free"})
                self.noise += 1
            else:
                tracer_end(
                    "checkout",
                    {"amount": _AMOUNTS[i % len(_AMOUNTS)], "plan": _PLANS[i % len(_PLANS)]},
                )
                self.matched += 1
        except Exception as error:  # the host would see this
            self.errors.append(f"{type(error).__name__}: {error}")
        self.slowest = max(self.slowest, time.perf_counter() - started)

    def done(self) -> bool:
        return self.stop.is_set() or (self.limit is not None and self.matched >= self.limit)


def _ender(provider: TracerProvider, scope: str) -> Callable[[str, dict[str, object]], None]:
    tracer = provider.get_tracer(scope)

    def end(name: str, attributes: dict[str, object]) -> None:
        # None values are dropped by the SDK with a warning; leave them out instead.
        kept = {k: v for k, v in attributes.items() if v is not None}
        tracer.start_span(name, attributes=kept).end()  # type: ignore[arg-type]

    return end


def run_thread(producer: Producer, provider: TracerProvider) -> None:
    end = _ender(provider, producer.name)
    i = 0
    while not producer.done():
        producer.one(end, i)
        i += 1


async def run_task(producer: Producer, provider: TracerProvider) -> None:
    end = _ender(provider, producer.name)
    i = 0
    while not producer.done():
        producer.one(end, i)
        i += 1
        if i % 64 == 0:
            await asyncio.sleep(0)  # let the loop's other tasks (the flusher) run


@dataclass
class Crowd:
    """THREADS thread producers and one asyncio producer."""

    threads: list[Producer]
    task: Producer

    @property
    def everyone(self) -> list[Producer]:
        return [*self.threads, self.task]

    @property
    def matched(self) -> int:
        return sum(p.matched for p in self.everyone)

    @property
    def errors(self) -> list[str]:
        return [e for p in self.everyone for e in p.errors]

    @property
    def slowest(self) -> float:
        return max(p.slowest for p in self.everyone)


def crowd(matching_spans: int | None, stop: threading.Event) -> Crowd:
    share = None if matching_spans is None else matching_spans // (THREADS + 1)
    threads = [Producer(f"thread-{n}", share, stop) for n in range(THREADS)]
    last = None if matching_spans is None or share is None else matching_spans - share * THREADS
    return Crowd(threads, Producer("asyncio", last, stop))


def run_crowd(
    provider: TracerProvider,
    people: Crowd,
    *,
    during: Callable[[], None] | None = None,
    join_timeout: float = 600.0,
) -> list[str]:
    """Run every producer to its end; ``during`` runs on the event loop's thread meanwhile.

    Returns the names of producers still running after ``join_timeout`` (a deadlock).
    """
    workers = [
        threading.Thread(target=run_thread, args=(p, provider), name=p.name, daemon=True)
        for p in people.threads
    ]
    for worker in workers:
        worker.start()

    async def main() -> None:
        task = asyncio.create_task(run_task(people.task, provider))
        if during is not None:
            await asyncio.to_thread(during)
        await task

    asyncio.run(main())
    deadline = time.monotonic() + join_timeout
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    return [w.name for w in workers if w.is_alive()]
