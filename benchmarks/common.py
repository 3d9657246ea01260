"""What every benchmark section shares: the result type, timing and statistics.

Timing rules, for every section:

- A clock around a whole loop, never around one call (the clock costs as much
  as the code under test): ``time.perf_counter_ns`` where wall time is the
  point (throughput, start-up), the process's CPU time where the cost of code
  is (the hot path): this machine is shared, and time spent descheduled while
  another process runs is not a cost of the code under test.
- The garbage collector is collected, then disabled, during a timed loop: a
  collection pays for garbage made earlier, and would land on whichever arm
  happened to be running.
- Arms that are compared (SDK alone vs SDK + otel-drift) are run alternately
  within each round, and the order flips every round (AB, BA, AB, ...): slow
  drift of the machine (frequency, a neighbour on the host) then hits both arms
  alike. Ratios are taken per round, and the median over rounds is reported
  with the spread over rounds.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Section:
    """One section of RESULTS.md, as returned by each module's ``run(quick)``."""

    title: str
    #: Table(s) plus a sentence on which targets are met and which are not.
    markdown: str
    #: Headline numbers (ratios or rates), collected into the closing note.
    figures: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Spread:
    """Median and range of repeated measurements of one quantity."""

    median: float
    low: float
    high: float
    runs: int

    def fmt(self, digits: int = 1, unit: str = "") -> str:
        """``12.3 (11.9–12.8)``: median, then min–max over the runs."""
        return (
            f"{self.median:,.{digits}f}{unit} "
            f"({self.low:,.{digits}f}–{self.high:,.{digits}f}{unit})"
        )


def spread(samples: Sequence[float]) -> Spread:
    if not samples:
        raise ValueError("no samples")
    return Spread(statistics.median(samples), min(samples), max(samples), len(samples))


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Per-round ratios of two interleaved arms (round i of one over round i of the other)."""
    return [n / d for n, d in zip(numerators, denominators, strict=True)]


def added_percent(with_: Sequence[float], without: Sequence[float]) -> Spread:
    """How much more ``with_`` costs than ``without``, in percent, per round."""
    return spread([(r - 1.0) * 100.0 for r in ratios(with_, without)])


@contextmanager
def gc_paused() -> Iterator[None]:
    """Collect now, then keep the collector off until the block ends."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def time_ns(loop: Callable[[], object], clock: Callable[[], int] = time.perf_counter_ns) -> int:
    """Nanoseconds of one call of ``loop`` on ``clock``, with the collector paused."""
    with gc_paused():
        start = clock()
        loop()
        return clock() - start


def cpu_ns(loop: Callable[[], object]) -> int:
    """CPU nanoseconds (all threads of this process) of one call of ``loop``."""
    return time_ns(loop, time.process_time_ns)


def interleave(
    arms: Mapping[str, Callable[[], float]], rounds: int, *, warmup: int = 1
) -> dict[str, list[float]]:
    """Measure each arm once per round, rotating the order every round.

    Each arm is a callable returning one measurement (ns per item, requests
    per second, ...). ``warmup`` rounds run first and are thrown away (caches,
    lazy imports, the allocator's first growth).
    """
    names = list(arms)
    results: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(warmup + rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            value = arms[name]()
            if round_index >= warmup:
                results[name].append(value)
    return results


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured markdown table; the first column left-aligned, the rest right."""
    align = [":---"] + ["---:"] * (len(headers) - 1)
    lines = [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join(align) + " |",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
    return "\n".join(lines)


def verdict(met: bool) -> str:
    return "met" if met else "**not met**"


def judge(added: Spread, target: float, unit: str = " %") -> str:
    """``+1.2 %, met``, and a warning when the rounds are too spread to tell.

    Rounds that disagree by more than four times the target cannot tell a
    cost at the target from none at all; the verdict then says so.
    """
    return f"{added.median:+.1f}{unit}, {verdict(added.median <= target)}" + unresolved(
        added, target, unit
    )


def unresolved(added: Spread, target: float, unit: str = " %") -> str:
    """`` (rounds ranged ...: not resolved)`` when the rounds are too spread, else ``""``."""
    if added.high - added.low <= 4 * target:
        return ""
    return f" (rounds ranged {added.low:+.1f} to {added.high:+.1f}{unit}: not resolved)"


@dataclass(frozen=True)
class Interval:
    """A statistic of repeated measurements with its bootstrap confidence interval."""

    value: float
    low: float
    high: float
    level: float
    runs: int

    def fmt(self, digits: int = 1, unit: str = "", sign: bool = True) -> str:
        """``+1.2 % (95 % CI −0.3 to +2.8 %)``."""
        form = f"{'+' if sign else ''},.{digits}f"
        return (
            f"{self.value:{form}}{unit} ({self.level * 100:g} % CI "
            f"{self.low:{form}} to {self.high:{form}}{unit})"
        )


def bootstrap(
    samples: Sequence[float],
    statistic: Callable[[Sequence[float]], float] = statistics.median,
    *,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 20240601,
) -> Interval:
    """``statistic`` of ``samples`` with a percentile bootstrap interval over them.

    The samples are resampled with replacement (seeded: the same samples give
    the same interval); the interval holds the central ``level`` of the
    statistic over the resamples. With a single sample the interval is that
    sample alone, which says nothing: callers judge ``runs`` too.
    """
    if not samples:
        raise ValueError("no samples")
    value = statistic(samples)
    if len(samples) == 1:
        return Interval(value, value, value, level, 1)
    rng = random.Random(seed)
    n = len(samples)
    stats = [statistic(rng.choices(samples, k=n)) for _ in range(resamples)]
    return Interval(value, *_central(stats, level), level, n)


def _central(stats: list[float], level: float) -> tuple[float, float]:
    """The ends of the central ``level`` of bootstrap statistics."""
    stats = sorted(stats)
    tail = (1.0 - level) / 2
    last = len(stats) - 1
    return stats[round(tail * last)], stats[round((1.0 - tail) * last)]


def bootstrap_sum(
    first: Sequence[float],
    second: Sequence[float],
    *,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 20240601,
) -> Interval:
    """``median(first) + median(second)`` of two independent sets of measurements,
    with a percentile bootstrap interval that resamples each set on its own.

    Adding the ends of the two intervals instead would assume that both
    medians are at their worst in the same resample: wider than the truth.
    ``runs`` is the size of ``first``.
    """
    if not first or not second:
        raise ValueError("no samples")
    median = statistics.median
    value = median(first) + median(second)
    rng = random.Random(seed)
    stats = [
        median(rng.choices(first, k=len(first))) + median(rng.choices(second, k=len(second)))
        for _ in range(resamples)
    ]
    return Interval(value, *_central(stats, level), level, len(first))


def percent_excess(more: Sequence[float], less: Sequence[float]) -> list[float]:
    """Per round, ``more`` over ``less``, in percent above it."""
    return [(m / n - 1.0) * 100.0 for m, n in zip(more, less, strict=True)]


def added_interval(more: Sequence[float], less: Sequence[float]) -> Interval:
    """Median per-round excess of ``more`` over ``less``, in percent, with its interval."""
    return bootstrap(percent_excess(more, less))


def interval_verdicts(target: float, verdicts: Sequence[str]) -> str:
    """The paragraph that states ``target`` and each :func:`judge_interval` verdict."""
    return (
        f"Target ≤ {target:g} % more, judged on the interval (met: all of it at "
        "or below the target; not met: all above; else not resolved). "
        + " ".join(f"{v}." for v in verdicts)
    )


def judge_interval(added: Interval, target: float, unit: str = " %") -> str:
    """``met`` when the whole interval is at or below ``target``, ``not met`` when
    all of it is above, ``not resolved`` when it straddles the target."""
    shown = added.fmt(1, unit)
    if added.runs < 2:
        return f"{shown}: not resolved (one round)"
    if added.high <= target:
        return f"{shown}: {verdict(True)}"
    if added.low > target:
        return f"{shown}: {verdict(False)}"
    return f"{shown}: not resolved (the interval straddles {target:g}{unit})"
