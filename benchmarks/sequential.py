"""Sequential detection: our CUSUM against River's ADWIN and PageHinkley.

Streams are N(0, 1) until a change point, then a mean shift of 0.25, 0.5 or
1 sigma, or a doubled variance; one stream per seed, every detector sees the
same one. Our :class:`Cusum` runs as the engine runs it: ``k = 0.5``, fed
batches of :data:`BATCH` values with numpy, alarming at the engine's default
decision intervals (``h = 8`` warning, ``h = 10`` critical: ``METHODS["cusum"]``)
and re-armed after an alarm. River's detectors keep their defaults and are fed
one value at a time, which is how they are built.

The alarm position inside a batch is found exactly (by replaying that batch
from the state before it), so delays are in samples for every detector; the
engine itself learns of an alarm when the batch it is in has been processed.

CUSUM on the raw value looks for a change of the mean; a change of the
variance alone leaves the mean where it was. The variance rows therefore run
twice: on the raw values, and on ``z^2`` (mean 1, std sqrt(2) when nothing
changed), which turns a variance change into a mean change for every detector.
"""

from __future__ import annotations

import copy
import gc
import importlib
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks.common import Section, interleave, spread, table, time_ns, verdict
from otel_drift._internal.detectors import METHODS, Cusum

Stream = NDArray[np.float64]

#: Values per CUSUM update, as an ML batch or a worker drain hands them over.
BATCH = 1000
K = 0.5
WARNING_H = METHODS["cusum"].warning
CRITICAL_H = METHODS["cusum"].critical
SEEDS = 10
#: (samples before the change, samples after it before a miss is declared).
DELAY_STREAM = {False: (5_000, 20_000), True: (1_000, 2_000)}
#: Stationary samples per seed for the false-alarm rate (full, quick).
FALSE_ALARM_SAMPLES = {False: 200_000, True: 5_000}
COST_SAMPLES = {False: 100_000, True: 10_000}
TARGET_COST_RATIO = 0.1


@dataclass(frozen=True)
class Case:
    name: str
    shift: float
    scale: float
    #: Feed z^2 instead of z (a variance change becomes a mean change).
    squared: bool = False


CASES = (
    Case("mean +0.25σ", 0.25, 1.0),
    Case("mean +0.5σ", 0.5, 1.0),
    Case("mean +1σ", 1.0, 1.0),
    Case("variance x2, raw values", 0.0, math.sqrt(2.0)),
    Case("variance x2, fed z²", 0.0, math.sqrt(2.0), squared=True),
)

#: Finds the alarm positions in a stream; stops at the first one at or after ``until``.
Alarms = Callable[[Stream, bool, int | None], list[int]]


def _peer(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _cusum(squared: bool) -> Cusum:
    # z^2 of a standard normal has mean 1 and standard deviation sqrt(2).
    return Cusum(1.0, math.sqrt(2.0), K) if squared else Cusum(0.0, 1.0, K)


def _first_crossing(before: Cusum, chunk: Stream, h: float) -> int:
    """Index in ``chunk`` where the statistic first reaches ``h``, from state ``before``."""
    low, high = 0, chunk.size - 1  # the answer is in [low, high]
    while low < high:
        middle = (low + high) // 2
        probe = copy.copy(before)  # a few floats: a shallow copy is a full one
        if probe.update(chunk[: middle + 1]).max_statistic >= h:
            high = middle
        else:
            low = middle + 1
    return low


def cusum_alarms(h: float) -> Alarms:
    def alarms(stream: Stream, squared: bool, until: int | None) -> list[int]:
        cusum = _cusum(squared)
        found: list[int] = []
        start = 0
        while start < stream.size:
            chunk = stream[start : start + BATCH]
            before = copy.copy(cusum)
            if cusum.update(chunk).max_statistic < h:
                start += chunk.size
                continue
            at = _first_crossing(before, chunk, h)
            found.append(start + at)
            if until is not None and start + at >= until:
                break
            # Re-armed right after the alarm, as the engine does after a critical window.
            cusum = before
            cusum.update(chunk[: at + 1])
            cusum.reset()
            start += at + 1
        return found

    return alarms


def river_alarms(factory: Callable[[], Any]) -> Alarms:
    def alarms(stream: Stream, squared: bool, until: int | None) -> list[int]:
        detector = factory()
        found: list[int] = []
        for i, value in enumerate(stream.tolist()):
            detector.update(value)
            if detector.drift_detected:
                found.append(i)
                if until is not None and i >= until:
                    break
        return found

    return alarms


def _detectors() -> dict[str, Alarms | None]:
    drift = _peer("river.drift")
    return {
        f"CUSUM h={CRITICAL_H:g} (critical)": cusum_alarms(CRITICAL_H),
        f"CUSUM h={WARNING_H:g} (warning)": cusum_alarms(WARNING_H),
        "River ADWIN": river_alarms(drift.ADWIN) if drift is not None else None,
        "River PageHinkley": river_alarms(drift.PageHinkley) if drift is not None else None,
    }


def _stream(rng: np.random.Generator, before: int, after: int, case: Case) -> Stream:
    stream = np.concatenate(
        (rng.normal(size=before), rng.normal(case.shift, case.scale, size=after))
    )
    return stream**2 if case.squared else stream


def _delays(detect: Alarms, case: Case, quick: bool) -> list[float]:
    """Samples after the change until the first alarm, per seed; inf when missed."""
    before, after = DELAY_STREAM[quick]
    delays: list[float] = []
    for seed in range(SEEDS):
        stream = _stream(np.random.default_rng([seed, 1]), before, after, case)
        late = [i for i in detect(stream, case.squared, before) if i >= before]
        delays.append(late[0] - before + 1 if late else math.inf)
    return delays


def _false_alarms_per_million(detect: Alarms, squared: bool, quick: bool) -> float:
    samples = FALSE_ALARM_SAMPLES[quick]
    seeds = SEEDS if not quick else 2
    count = 0
    for seed in range(seeds):
        stream = np.random.default_rng([seed, 2]).normal(size=samples)
        count += len(detect(stream**2 if squared else stream, squared, None))
    return count / (samples * seeds) * 1e6


def _costs(quick: bool) -> dict[str, list[float]]:
    """Nanoseconds per sample of each detector's update on a stationary stream."""
    stream = np.random.default_rng(3).normal(size=COST_SAMPLES[quick])
    chunks = [stream[i : i + BATCH] for i in range(0, stream.size, BATCH)]
    values = stream.tolist()

    def ours() -> float:
        cusum = _cusum(False)

        def loop() -> None:
            for chunk in chunks:
                if cusum.update(chunk).max_statistic >= CRITICAL_H:
                    cusum.reset()

        return time_ns(loop) / stream.size

    def river(factory: Callable[[], Any]) -> Callable[[], float]:
        def arm() -> float:
            detector = factory()

            def loop() -> None:
                alarms = 0
                for value in values:
                    detector.update(value)
                    if detector.drift_detected:
                        alarms += 1

            return time_ns(loop) / len(values)

        return arm

    arms: dict[str, Callable[[], float]] = {"ours": ours}
    drift = _peer("river.drift")
    if drift is not None:
        arms["adwin"] = river(drift.ADWIN)
        arms["page_hinkley"] = river(drift.PageHinkley)
    return interleave(arms, 2 if quick else 7)


def run(quick: bool) -> Section:
    # Frozen, the heap River brought in is not scanned by every collect in time_ns.
    gc.freeze()
    try:
        return _measure(quick)
    finally:
        gc.unfreeze()


def _measure(quick: bool) -> Section:
    detectors = _detectors()
    costs = _costs(quick)
    delays = {
        (case.name, name): _delays(detect, case, quick)
        for case in CASES
        for name, detect in detectors.items()
        if detect is not None
    }
    false_alarms = {
        (squared, name): _false_alarms_per_million(detect, squared, quick)
        for squared in (False, True)
        for name, detect in detectors.items()
        if detect is not None
    }
    return _section(list(detectors), costs, delays, false_alarms, quick)


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _delay_cell(values: list[float], horizon: int) -> str:
    detected = sum(math.isfinite(v) for v in values)
    median = _median(values)
    shown = f"{median:,.0f}" if math.isfinite(median) else f"> {horizon:,}"
    return f"{shown} ({detected}/{len(values)})"


def _section(
    names: list[str],
    costs: dict[str, list[float]],
    delays: dict[tuple[str, str], list[float]],
    false_alarms: dict[tuple[bool, str], float],
    quick: bool,
) -> Section:
    ours, adwin = names[0], "River ADWIN"
    figures: dict[str, float] = {"seq_cusum_ns_per_sample": spread(costs["ours"]).median}
    cost_rows = [[f"otel-drift CUSUM (numpy, batches of {BATCH})", spread(costs["ours"]).fmt(1)]]
    for arm, label in (("adwin", "River ADWIN"), ("page_hinkley", "River PageHinkley")):
        if arm in costs:
            cost_rows.append([f"{label} (one update per sample)", spread(costs[arm]).fmt(1)])
            figures[f"seq_{arm}_ns_per_sample"] = spread(costs[arm]).median
        else:
            cost_rows.append([label, "not installed"])
    horizon = DELAY_STREAM[quick][1]
    delay_rows = [
        [
            case.name,
            *(
                _delay_cell(delays[case.name, name], horizon)
                if (case.name, name) in delays
                else "not installed"
                for name in names
            ),
        ]
        for case in CASES
    ]
    fa_rows = [
        [
            "N(0,1), z²" if squared else "N(0,1), raw",
            *(
                f"{false_alarms[squared, name]:,.1f}"
                if (squared, name) in false_alarms
                else "not installed"
                for name in names
            ),
        ]
        for squared in (False, True)
    ]
    for case in CASES:
        delay = _median(delays[case.name, ours])
        if math.isfinite(delay):  # a miss of most seeds shows in the table, not as inf
            figures[f"seq_cusum_delay_{_slug(case.name)}"] = delay
    figures["seq_cusum_false_alarms_per_million"] = false_alarms[False, ours]
    verdicts = ["ADWIN targets: River not installed."]
    if (False, adwin) in false_alarms:
        ratio = [o / a for o, a in zip(costs["ours"], costs["adwin"], strict=True)]
        figures["seq_cusum_cost_over_adwin"] = spread(ratio).median
        figures["seq_adwin_false_alarms_per_million"] = false_alarms[False, adwin]
        verdicts = _verdicts(ours, adwin, spread(ratio).median, delays, false_alarms)
    before, _ = DELAY_STREAM[quick]
    seeds = SEEDS if not quick else 2
    fa_samples = FALSE_ALARM_SAMPLES[quick] * seeds
    markdown = "\n".join(
        [
            f"Streams: N(0,1) for {before:,} samples, then the change; {SEEDS} seeds. "
            f"CUSUM k={K:g}, fed {BATCH} values per update; River defaults, one value per "
            "update. Cost: median (min–max) over rounds.",
            "",
            table(["detector", "ns per sample"], cost_rows),
            "",
            "Detection delay, samples after the change (median over seeds; detected/seeds, "
            f"a miss counts as > {horizon:,}):",
            "",
            table(["change", *names], delay_rows),
            "",
            f"False alarms per million stationary samples ({fa_samples:,} samples; re-armed "
            "after each alarm):",
            "",
            table(["stream", *names], fa_rows),
            "",
            *verdicts,
            *(["Quick mode: few and short streams; indicative only."] if quick else []),
        ]
    )
    return Section(title="Sequential detection: CUSUM vs River", markdown=markdown, figures=figures)


def _verdicts(
    ours: str,
    adwin: str,
    cost_ratio: float,
    delays: dict[tuple[str, str], list[float]],
    false_alarms: dict[tuple[bool, str], float],
) -> list[str]:
    slower = [
        case.name
        for case in CASES
        if _median(delays[case.name, ours]) > _median(delays[case.name, adwin])
    ]
    ours_fa, adwin_fa = false_alarms[False, ours], false_alarms[False, adwin]
    return [
        f"Target cost <= {TARGET_COST_RATIO:g} x ADWIN's per sample: "
        f"{verdict(cost_ratio <= TARGET_COST_RATIO)} ({cost_ratio:.3f} x).",
        f"Target delay no worse than ADWIN's ({ours}): {verdict(not slower)}"
        + (f" (slower on: {', '.join(slower)})." if slower else "."),
        f"Target false alarms no worse than ADWIN's: {verdict(ours_fa <= adwin_fa)} "
        f"({ours_fa:,.1f} vs {adwin_fa:,.1f} per million).",
    ]


def _slug(name: str) -> str:
    keep = "".join(c if c.isalnum() else "_" for c in name.replace("σ", "sd").replace("²", "2"))
    return "_".join(part for part in keep.split("_") if part)
