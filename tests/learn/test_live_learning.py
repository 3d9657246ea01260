"""Live learning in process: an SDK TracerProvider, a learning processor, then judging.

A Flask-shaped service (contrib's Flask scope and old HTTP names): three
routes, ``/profile`` calling an upstream (a client span with only its URL,
as contrib's requests instrumentation writes it), 1 % of ``/search`` failing,
lognormal latencies whose median moves with the load (1 to 8 concurrent
clients, changing every 150 requests, seeded). Spans carry their own start and
end times, so nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from otel_drift import DriftSpanProcessor, Settings, load_expectations
from otel_drift._internal import auto, feed
from otel_drift._internal.engine.clock import SYSTEM_CLOCK, Clock
from otel_drift._internal.engine.results import WindowEvaluation
from otel_drift._internal.expectations.load import Loaded
from otel_drift._internal.settings import LearnPeriod, settings_from_env
from otel_drift._internal.spans.learning import (
    LearningSpanProcessor,
    learned_path,
    min_spans,
    write_first,
)
from tests.support import EXAMPLE_FILE

FLASK = "opentelemetry.instrumentation.flask"
REQUESTS = "opentelemetry.instrumentation.requests"
UPSTREAM = "http://127.0.0.1:9000/items"
#: Route -> (share of requests, median latency in ms at a load of one client).
ROUTES = {"/orders": (0.5, 12.0), "/search": (0.3, 20.0), "/profile/<int:user>": (0.2, 8.0)}
WINDOW = 100
SETTINGS = Settings(flush_interval_s=0.05, flush_on_sigterm=False)


@dataclass
class Service:
    """Makes the spans of the service, in time order, on one provider."""

    provider: TracerProvider
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    now_ns: int = 1_767_225_600_000_000_000
    load: int = 1
    searches: int = 0
    #: Route -> latency factor (a slowdown).
    slow: dict[str, float] = field(default_factory=dict)

    def _latency_ms(self, route: str, median: float) -> float:
        # Load slows every route a little; each request varies around that.
        factor = (1.0 + 0.02 * (self.load - 1)) * self.slow.get(route, 1.0)
        return median * factor * math.exp(self.rng.gauss(0.0, 0.25))

    def requests(self, count: int) -> None:
        flask = self.provider.get_tracer(FLASK)
        client = self.provider.get_tracer(REQUESTS)
        routes = list(ROUTES)
        weights = [share for share, _ in ROUTES.values()]
        for number in range(count):
            if number % 150 == 0:
                self.load = self.rng.randint(1, 8)
            route = self.rng.choices(routes, weights)[0]
            status = 200
            if route == "/search":
                self.searches += 1
                status = 500 if self.searches % 100 == 0 else 200
            start = self.now_ns
            end = start + int(self._latency_ms(route, ROUTES[route][1]) * 1e6)
            span = flask.start_span(
                f"GET {route}",
                kind=SpanKind.SERVER,
                start_time=start,
                attributes={"http.method": "GET", "http.route": route, "http.scheme": "http"},
            )
            if route.startswith("/profile"):
                call = client.start_span(
                    "GET",
                    kind=SpanKind.CLIENT,
                    start_time=start + 1_000_000,
                    attributes={"http.method": "GET", "http.url": UPSTREAM},
                )
                call.set_attribute("http.status_code", 200)
                call.end(end_time=end - 500_000)
            span.set_attribute("http.status_code", status)
            span.end(end_time=end)
            self.now_ns = start + 2_000_000


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    made = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    yield made
    made.shutdown()


@dataclass
class Judged:
    windows: list[WindowEvaluation] = field(default_factory=list)

    def judge(self, loaded: Loaded, _path: Path) -> DriftSpanProcessor:
        processor = DriftSpanProcessor(loaded, settings=SETTINGS, emit_spans=False)
        processor.engine.add_listener(self.windows.append)
        return processor


def _learning(
    provider: TracerProvider, path: Path, period: LearnPeriod, clock: Clock = SYSTEM_CLOCK
) -> Judged:
    judged = Judged()
    learning = LearningSpanProcessor(
        path,
        period,
        service="shop",
        settings=SETTINGS,
        judge=judged.judge,
        window=WINDOW,
        clock=clock,
    )
    provider.add_span_processor(learning)
    return judged


def _learner(provider: TracerProvider) -> LearningSpanProcessor:
    (found,) = [
        p
        for p in provider._active_span_processor._span_processors
        if isinstance(p, LearningSpanProcessor)
    ]
    return found


def _levels(windows: list[WindowEvaluation], expectation: str, watch: str) -> list[int]:
    return [
        v.level
        for w in windows
        if w.expectation == expectation and not w.partial
        for v in w.watches
        if v.watch == watch
    ]


def test_learns_writes_a_valid_file_then_judges_and_catches_a_slowdown(
    provider: TracerProvider, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "baselines" / "shop.yaml"
    judged = _learning(provider, path, LearnPeriod(spans=4_500, seconds=None))
    learning = _learner(provider)
    service = Service(provider)
    service.requests(3_000)
    with caplog.at_level(logging.INFO, logger="otel_drift"):
        provider.force_flush()
        assert learning.judging is None and not path.exists()  # 3,000 + ~600 client spans
        service.requests(1_000)
        provider.force_flush()
    assert learning.judging is not None
    # The file: valid as `otel-drift validate` checks it, readable, reviewable.
    text = path.read_text()
    assert text.startswith("# Learned by otel-drift on ")
    loaded = load_expectations(path)
    names = {e.name for e in loaded.expectations}
    assert {"traffic", "route.orders", "route.search", "route.profile_int_user"} <= names
    assert any(n.startswith("client.127.0.0.1") for n in names), names
    search = next(e for e in yaml.safe_load(text)["expectations"] if e["name"] == "route.search")
    assert search["window"] == {"spans": WINDOW}
    assert search["watch"]["latency"]["baseline"]["reference"]["windows"] >= 5
    (line,) = [r.getMessage() for r in caplog.records if str(path) in r.getMessage()]
    assert "learned" in line and "judging with it now" in line
    assert not list(path.parent.glob(".*.tmp"))

    # Judging: the same kind of traffic stays quiet ...
    service.requests(3_000)
    provider.force_flush()
    steady = [w for w in judged.windows if not w.partial]
    assert len(steady) >= 20
    loud = [(w.expectation, v.watch, v.level) for w in steady for v in w.watches if v.level]
    assert not [x for x in loud if x[2] == 2] and len(loud) <= 3, loud
    # ... and /search 30 % slower reaches critical on its latency within two windows.
    before = len(judged.windows)
    service.slow["/search"] = 1.3
    service.requests(800)
    provider.force_flush()
    after = judged.windows[before:]
    assert 2 in _levels(after, "route.search", "latency")[:2], _levels(
        after, "route.search", "latency"
    )
    assert 2 not in _levels(after, "route.orders", "latency")


def test_a_duration_is_read_on_the_injected_clock(provider: TracerProvider, tmp_path: Path) -> None:
    @dataclass
    class Clock:
        now: float = 0.0

        def time_ns(self) -> int:
            return 1_767_225_600_000_000_000 + int(self.now * 1e9)

        def monotonic(self) -> float:
            return self.now

    clock = Clock()
    path = tmp_path / "shop.yaml"
    judged = _learning(provider, path, LearnPeriod(spans=None, seconds=1800.0), clock=clock)
    Service(provider).requests(3_000)
    clock.now = 1799.0
    provider.force_flush()
    assert not path.exists()
    clock.now = 1800.0
    provider.force_flush()
    assert path.exists() and judged.windows == []
    assert load_expectations(path).expectations


def test_at_most_max_expectations_the_rest_said_in_the_log(
    provider: TracerProvider, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "shop.yaml"
    settings = Settings(flush_interval_s=0.05, flush_on_sigterm=False, max_expectations=2)
    learning = LearningSpanProcessor(
        path,
        LearnPeriod(spans=3_000, seconds=None),
        service="shop",
        settings=settings,
        window=WINDOW,
    )
    provider.add_span_processor(learning)
    with caplog.at_level(logging.INFO, logger="otel_drift"):
        Service(provider).requests(3_000)
        provider.force_flush()
    assert [e.name for e in load_expectations(path).expectations] == ["traffic", "route.orders"]
    (line,) = [r.getMessage() for r in caplog.records if "wrote" in r.getMessage()]
    assert "3 left out beyond OTEL_DRIFT_MAX_EXPECTATIONS=2: route GET /search" in line, line


def test_nothing_seen_often_enough_learns_on_and_says_so(
    provider: TracerProvider, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "shop.yaml"
    learning = LearningSpanProcessor(
        path, LearnPeriod(spans=50, seconds=None), service="shop", settings=SETTINGS
    )
    provider.add_span_processor(learning)
    with caplog.at_level(logging.WARNING, logger="otel_drift"):
        Service(provider).requests(60)
        provider.force_flush()
    assert not path.exists() and learning.judging is None
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "nothing learned yet" in warning and "learning on for another 50 spans" in warning


def test_pre_forked_workers_share_the_first_file_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Two workers of one service, each with its own provider and learner.
    path = tmp_path / "shop.yaml"
    providers = [TracerProvider(resource=Resource.create({"service.name": "shop"})) for _ in "ab"]
    judged = [_learning(p, path, LearnPeriod(spans=3_000, seconds=None)) for p in providers]
    first, second = (
        next(
            x
            for x in p._active_span_processor._span_processors
            if isinstance(x, LearningSpanProcessor)
        )
        for p in providers
    )
    Service(providers[0]).requests(3_000)
    Service(providers[1], rng=random.Random(8)).requests(1_000)  # still learning
    with caplog.at_level(logging.INFO, logger="otel_drift"):
        providers[0].force_flush()
        written = path.read_text()
        providers[1].force_flush()
    assert first.judging is not None and second.judging is not None
    assert path.read_text() == written
    assert any("learned by another process" in r.getMessage() for r in caplog.records)
    # The second judges with the first's file.
    Service(providers[1], rng=random.Random(9)).requests(1_500)
    providers[1].force_flush()
    assert {w.expectation for w in judged[1].windows} >= {"route.orders", "route.search"}
    for made in providers:
        made.shutdown()


def test_write_first_lets_one_writer_win(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "shop.yaml"
    assert write_first(path, "version: 1\n")
    assert not write_first(path, "version: 2\n")
    assert path.read_text() == "version: 1\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["shop.yaml"]


def test_an_unwritable_folder_is_logged_and_judging_goes_on_in_memory(
    provider: TracerProvider, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    judged = _learning(provider, blocker / "shop.yaml", LearnPeriod(spans=3_000, seconds=None))
    with caplog.at_level(logging.ERROR, logger="otel_drift"):
        Service(provider).requests(3_000)
        provider.force_flush()
    (error,) = [r.getMessage() for r in caplog.records]
    assert "could not write the learned baselines to" in error
    assert "OTEL_DRIFT_BASELINE_DIR" in error
    Service(provider, rng=random.Random(3)).requests(500)
    provider.force_flush()
    assert judged.windows


def test_paths_and_min_spans() -> None:
    assert learned_path("b", "unknown_service:python") == Path("b/unknown_service_python.yaml")
    assert min_spans(100, 200) == 200


# -- auto.py: learn, then restart -------------------------------------------------------


@pytest.fixture
def detached() -> Iterator[None]:
    feed._active = None
    yield
    if feed._active is not None:
        feed._active.shutdown()
    feed._active = None


def _install(monkeypatch: pytest.MonkeyPatch, provider: TracerProvider, tmp_path: Path) -> None:
    monkeypatch.setattr("opentelemetry.trace.get_tracer_provider", lambda: provider)
    auto._install(
        Settings(
            flush_interval_s=0.05,
            flush_on_sigterm=False,
            learn=LearnPeriod(spans=3_000, seconds=None),
            baseline_dir=str(tmp_path),
        )
    )


def test_auto_learns_attaches_then_loads_the_file_on_restart(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    detached: None,
) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    with caplog.at_level(logging.INFO, logger="otel_drift"):
        _install(monkeypatch, provider, tmp_path)
        assert feed.active_processor() is None  # learning: nothing to hand values to yet
        Service(provider).requests(3_000)
        provider.force_flush()
    judging = feed.active_processor()
    assert judging is not None
    assert (tmp_path / "shop.yaml").exists()
    assert any("learning the baselines of service 'shop'" in r.getMessage() for r in caplog.records)
    provider.shutdown()
    feed._active = None

    # A restart: the file is loaded, nothing learned again.
    caplog.clear()
    restarted = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    with caplog.at_level(logging.INFO, logger="otel_drift"):
        _install(monkeypatch, restarted, tmp_path)
    processor = feed.active_processor()
    assert processor is not None and processor is not judging
    assert processor in restarted._active_span_processor._span_processors
    assert any("learned earlier in" in r.getMessage() for r in caplog.records)
    assert not any(
        isinstance(p, LearningSpanProcessor)
        for p in restarted._active_span_processor._span_processors
    )
    restarted.shutdown()


def test_auto_an_invalid_learned_file_stays_off_and_says_how_to_fix_it(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    detached: None,
) -> None:
    (tmp_path / "shop.yaml").write_text("version: 2\nexpectations: [\n")
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    with caplog.at_level(logging.WARNING, logger="otel_drift"):
        _install(monkeypatch, provider, tmp_path)
    assert feed.active_processor() is None
    assert provider._active_span_processor._span_processors == ()
    (error,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert str(tmp_path / "shop.yaml") in error and "Delete" in error and "\n" not in error
    provider.shutdown()


def test_auto_an_expectations_file_wins_over_learning(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    detached: None,
) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    monkeypatch.setattr("opentelemetry.trace.get_tracer_provider", lambda: provider)
    with caplog.at_level(logging.DEBUG, logger="otel_drift"):
        auto._install(
            Settings(
                expectations_path=str(EXAMPLE_FILE),
                flush_on_sigterm=False,
                learn=LearnPeriod(spans=100, seconds=None),
                baseline_dir=str(tmp_path),
            )
        )
    assert isinstance(feed.active_processor(), DriftSpanProcessor)
    assert any("nothing is learned" in r.getMessage() for r in caplog.records)
    provider.shutdown()


# -- the environment variables ---------------------------------------------------------


def test_environment_variables_are_read() -> None:
    settings = settings_from_env(
        {
            "OTEL_DRIFT_LEARN": "2h",
            "OTEL_DRIFT_BASELINE_DIR": "/var/lib/baselines",
            "OTEL_DRIFT_MAX_EXPECTATIONS": "40",
        }
    )
    assert settings.learn == LearnPeriod(spans=None, seconds=7200.0)
    assert (settings.baseline_dir, settings.max_expectations) == ("/var/lib/baselines", 40)
    assert settings_from_env({"OTEL_DRIFT_LEARN": "20000"}).learn == LearnPeriod(20_000, None)
    assert settings_from_env({"OTEL_DRIFT_LEARN": "90s"}).learn == LearnPeriod(None, 90.0)
    defaults = settings_from_env({})
    assert (defaults.learn, defaults.baseline_dir) == (None, "otel-drift-baselines")


@pytest.mark.parametrize(
    ("name", "value", "fix"),
    [
        ("OTEL_DRIFT_LEARN", "30 minutes", "a duration such as 90s, 30m or 2h"),
        ("OTEL_DRIFT_LEARN", "-5", "a whole number of spans such as 20000"),
        ("OTEL_DRIFT_MAX_EXPECTATIONS", "0", "a whole number of expectations >= 1"),
    ],
)
def test_bad_values_warn_naming_the_variable_and_the_fix(
    name: str, value: str, fix: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        settings = settings_from_env({name: value})
    (warning,) = [r.getMessage() for r in caplog.records]
    assert name in warning and repr(value) in warning and fix in warning
    assert (settings.learn, settings.max_expectations) == (None, 100)
