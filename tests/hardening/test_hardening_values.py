"""Bad values: nothing escapes on_end, and every watched value is counted exactly once.

Hypothesis draws span attributes from hostile pools (NaN, inf, None, bytes,
10 MB strings, nested and mixed sequences, mappings, booleans and numeric
strings where numbers are expected, subclasses of int/float/str, integers
beyond int64 and beyond Python's int -> str limit) and sends them through a
real SDK TracerProvider, and, unchecked, straight into ``on_end``. For each
watched value the engine's drift.observations (valid, missing, invalid) plus
drift.dropped must equal the spans that matched its expectation, as the
oracle in ``fuzzing.py`` computes them.

The long run is ``python -m tests.hardening.fuzz_long``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from opentelemetry.trace import SpanKind

from otel_drift import Settings
from tests.hardening.fuzzing import (
    FUZZ_EXPECTATIONS,
    HUGE_DIGITS,
    KEYS,
    RAW_ONLY,
    SDK_SPECIALS,
    Count,
    Expected,
    Plan,
    RandomCases,
    Ratio,
    SpanCase,
    emit_raw,
    emit_sdk,
    mismatches,
)
from tests.hardening.support import Counts, make_rig
from tests.support import IN_CI

RecordFigures = Callable[[str, dict[str, object]], None]

# Each example builds a pipeline, so shrinking a failure takes minutes: CI reports the
# failing example as found (short reprs keep it readable) and leaves shrinking to a rerun.
_PHASES = tuple(phase for phase in Phase if phase is not Phase.shrink) if IN_CI else tuple(Phase)


def _pool(values: tuple[object, ...]) -> st.SearchStrategy[object]:
    # By index: hypothesis shows a sampled_from's elements in its repr, and the repr
    # of 10**5000 raises.
    return st.integers(min_value=0, max_value=len(values) - 1).map(values.__getitem__)


_ATOMS = st.one_of(
    _pool(SDK_SPECIALS),
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=70),
    st.binary(max_size=16),
    st.floats().map(repr),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
)
_SDK_VALUES = st.one_of(
    _ATOMS,
    st.lists(_ATOMS, max_size=4).map(tuple),
    st.dictionaries(st.text(max_size=4), _ATOMS, max_size=3),
)
# Lists stay lists here (unhashable), and objects the SDK would have turned into text.
_RAW_VALUES = st.one_of(_SDK_VALUES, _pool(RAW_ONLY), st.lists(_ATOMS, max_size=3))
_TIMES = st.one_of(st.none(), st.integers(min_value=0, max_value=2**62))


def _cases(values: st.SearchStrategy[object], *, raw: bool) -> st.SearchStrategy[list[SpanCase]]:
    case = st.builds(
        SpanCase,
        name=st.sampled_from(("fuzz", "fuzz", "fuzz", "other")),
        attributes=st.dictionaries(st.sampled_from(KEYS), values),
        error=st.booleans(),
        times=st.tuples(_TIMES, _TIMES) if raw else st.none(),
    )
    return st.lists(case, min_size=10, max_size=60)


@dataclass
class _Tally:
    examples: int = 0
    spans: int = 0
    values: int = 0
    escapes: int = 0

    def add(self, expected: Expected) -> None:
        self.examples += 1
        self.spans += expected.spans
        self.values += expected.values
        self.escapes += len(expected.escapes)


@pytest.fixture(autouse=True)
def _quiet_sdk_attribute_warnings() -> Iterator[None]:
    # The SDK warns once per odd attribute value; thousands of lines would bury the report.
    logger = logging.getLogger("opentelemetry.attributes")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


@dataclass
class _Outcome:
    expected: Expected
    counts: Counts
    #: Errors on_end and the worker swallowed: each one lost values.
    swallowed: tuple[int, int]
    unexportable: list[tuple[str, str, object]]

    def check(self, *, exact_outcomes: bool) -> None:
        assert self.expected.escapes == [], self.expected.escapes
        assert self.swallowed == (0, 0), f"swallowed errors (on_end, worker): {self.swallowed}"
        problems = mismatches(self.expected, self.counts, exact_outcomes=exact_outcomes)
        assert problems == [], "\n".join(problems)
        assert self.unexportable == [], self.unexportable


def _run(cases: list[SpanCase], settings: Settings, *, raw: bool) -> _Outcome:
    rig = make_rig(FUZZ_EXPECTATIONS, settings)
    expected = Expected()
    try:
        if raw:
            emit_raw(rig.processor, cases, expected)
        else:
            emit_sdk(rig.provider, cases, expected)
        assert rig.processor.force_flush(10_000)
        return _Outcome(
            expected,
            rig.counts(),
            (rig.processor._reader.errors, rig.processor.engine.errors),
            list(rig.sink.unexportable),
        )
    finally:
        rig.close()


@pytest.mark.parametrize("raw", [False, True], ids=["sdk", "raw"])
def test_every_value_counted_once_and_in_the_right_bucket(
    raw: bool, figures: RecordFigures
) -> None:
    tally = _Tally()

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        phases=_PHASES,
    )
    @given(cases=_cases(_RAW_VALUES if raw else _SDK_VALUES, raw=raw))
    def run(cases: list[SpanCase]) -> None:
        # A queue that never fills: every value lands in valid/missing/invalid, as the oracle says.
        outcome = _run(cases, Settings(flush_interval_s=0.01, queue_size=65536), raw=raw)
        tally.add(outcome.expected)
        outcome.check(exact_outcomes=True)

    run()
    figures(
        f"fuzz.{'raw' if raw else 'sdk'}.exact",
        {
            "examples": tally.examples,
            "spans": tally.spans,
            "values_fuzzed": tally.values,
            "escapes": tally.escapes,
        },
    )


@pytest.mark.parametrize("raw", [False, True], ids=["sdk", "raw"])
def test_a_full_queue_drops_whole_spans_and_counts_them(raw: bool, figures: RecordFigures) -> None:
    tally = _Tally()
    dropped = 0

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        phases=_PHASES,
    )
    @given(
        cases=_cases(_RAW_VALUES if raw else _SDK_VALUES, raw=raw),
        queue_size=st.sampled_from((1, 2, 5, 16)),
        # A worker that wakes constantly, or only when the queue is half full.
        interval=st.sampled_from((0.001, 3600.0)),
    )
    def run(cases: list[SpanCase], queue_size: int, interval: float) -> None:
        nonlocal dropped
        outcome = _run(cases, Settings(flush_interval_s=interval, queue_size=queue_size), raw=raw)
        tally.add(outcome.expected)
        dropped += sum(outcome.counts.dropped.values())
        # Which spans were dropped is timing; that each was counted once is not.
        outcome.check(exact_outcomes=False)

    run()
    assert dropped > 0, "the queue never filled: this test did not test dropping"
    figures(
        f"fuzz.{'raw' if raw else 'sdk'}.dropping",
        {
            "examples": tally.examples,
            "spans": tally.spans,
            "values_fuzzed": tally.values,
            "dropped": dropped,
            "escapes": tally.escapes,
        },
    )


@pytest.mark.filterwarnings("error")
def test_hosts_that_turn_warnings_into_errors_lose_no_values(figures: RecordFigures) -> None:
    # Test suites often run with -W error; the filter is process-wide, so it reaches our
    # worker too, where a numpy RuntimeWarning (1e308 squared) would abort a batch.
    cases = RandomCases(seed=7, raw=False)
    outcome = _run(
        [cases.case() for _ in range(2000)],
        Settings(flush_interval_s=0.01, queue_size=65536),
        raw=False,
    )
    outcome.check(exact_outcomes=True)
    figures(
        "fuzz.warnings_as_errors",
        {
            "spans": outcome.expected.spans,
            "values_fuzzed": outcome.expected.values,
            "escapes": len(outcome.expected.escapes),
        },
    )


# -- Subclasses of the attribute types count as their base type -------------------------

_SUBCLASS_EXPECTATIONS = """\
version: 1
expectations:
  - name: sub
    match: {span_name: sub}
    window: {spans: 1000}
    min_samples: 1
    watch:
      score:
        attribute: ml.score
        baseline: {bins: [0, 1, 2, 3], fractions: [0.4, 0.3, 0.3]}
        constraints: {type: number, max: 2}
      code:
        attribute: http.status_code
        baseline: {categories: {"200": 0.9, "503": 0.1}}
        constraints: {type: integer}
      klass:
        source: http.status_class
        attribute: http.status_code
        baseline: {categories: {2xx: 0.9, 5xx: 0.1}}
      plan:
        attribute: plan
        baseline: {categories: {free: 0.5, pro: 0.5}}
        constraints: {type: string, allowed: [free, pro]}
"""


def _bins_and_counts(values: list[dict[str, object]]) -> tuple[object, ...]:
    rig = make_rig(_SUBCLASS_EXPECTATIONS, Settings(flush_interval_s=0.01))
    try:
        tracer = rig.provider.get_tracer("sub")
        for attributes in values:
            tracer.start_span("sub", kind=SpanKind.SERVER, attributes=attributes).end()  # type: ignore[arg-type]
        assert rig.processor.force_flush()
        counts = rig.counts()
        bins = sorted(
            (str(a["drift.attribute"]), str(a["drift.bin"]), v)
            for a, v in rig.points("drift.bin.count")
        )
        violations = {k: dict(v) for k, v in counts.violations.items()}
        observations = {k: dict(v) for k, v in counts.observations.items()}
        return bins, violations, observations
    finally:
        rig.close()


def test_numpy_floats_enums_and_other_subclasses_count_as_their_base_type() -> None:
    # The SDK keeps float/int/str subclasses as they are: model scores come as numpy
    # float64, status codes as HTTPStatus, plan names as StrEnum members. They must be
    # binned, labelled and constrained like the plain values, not called invalid.
    plain: list[dict[str, object]] = [
        {"ml.score": 0.5, "http.status_code": 200, "plan": "pro"},
        {"ml.score": 2.5, "http.status_code": 503, "plan": "free"},
    ]
    wrapped: list[dict[str, object]] = [
        {"ml.score": np.float64(0.5), "http.status_code": HTTPStatus.OK, "plan": Plan.PRO},
        {"ml.score": Ratio(2.5), "http.status_code": Count(503), "plan": Plan.FREE},
    ]
    assert _bins_and_counts(wrapped) == _bins_and_counts(plain)


def test_a_10_mb_status_code_costs_the_worker_no_more_than_a_short_one() -> None:
    # The worker holds the GIL while it looks at a value: time spent there is time the
    # request threads cannot run. A 10 MB string of digits must not be scanned whole.
    expectations = """\
version: 1
expectations:
  - name: codes
    match: {span_name: req}
    window: {spans: 100000}
    watch:
      klass:
        source: http.status_class
        baseline: {categories: {2xx: 0.9, 5xx: 0.1}}
"""
    rig = make_rig(expectations, Settings(flush_interval_s=3600, queue_size=65536))
    try:
        tracer = rig.provider.get_tracer("codes")
        for _ in range(500):
            tracer.start_span("req", attributes={"http.status_code": HUGE_DIGITS}).end()
        started = time.perf_counter()
        assert rig.processor.force_flush()
        elapsed = time.perf_counter() - started
        assert rig.counts().seen("codes", "klass") == 500
    finally:
        rig.close()
    # Scanning each value whole took ~3 ms apiece (1.6 s here); a label is cut at 128.
    assert elapsed < 0.5, f"{elapsed:.2f} s for 500 values"
