"""No silent misconfiguration: each mistake gets a log line that says what and how to fix it.

A misspelled variable name, a bad window, one invalid expectation, a ``match``
that no span meets, shares that sum to 0.999 and unquoted ``yes``/``no`` keys:
each is shown with real spans through a real SDK ``TracerProvider`` and the
``DriftSpanProcessor``, the metrics read with an ``InMemoryMetricReader``.
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_drift import DriftSpanProcessor, Settings, environment_variables, settings_from_env
from otel_drift._internal import auto, feed
from otel_drift._internal.cli.main import main as cli_main
from otel_drift._internal.expectations.errors import ExpectationsError
from otel_drift._internal.expectations.load import STRICT, UNREADABLE
from otel_drift._internal.settings import known_names
from otel_drift._internal.spans.unmatched import UNMATCHED_AFTER_SPANS
from tests.support import Pipeline

CHECKOUT = """
  - name: checkout
    match: {span_kind: server, attributes: {http.route: /checkout}}
    window: {spans: 200}
    watch:
      latency:
        source: span.duration
        baseline: {bins: [0, 10, 25, 50, 100, 1000], fractions: [0.2, 0.45, 0.25, 0.07, 0.03]}
"""
# critical without warning, below any method's default warning.
BAD_SEARCH = """
  - name: search
    match: {span_kind: server, attributes: {http.route: /search}}
    watch:
      latency:
        source: span.duration
        baseline: {bins: [0, 10, 25, 50, 100, 1000], fractions: [0.2, 0.45, 0.25, 0.07, 0.03]}
        critical: 0.0001
"""


def _pipeline(expectations: object, settings: Settings | None = None) -> Pipeline:
    provider = TracerProvider()
    reader = InMemoryMetricReader()
    processor = DriftSpanProcessor(
        expectations,  # type: ignore[arg-type]
        settings=settings or Settings(flush_interval_s=0.05),
        tracer_provider=provider,
        meter_provider=MeterProvider(metric_readers=[reader]),
    )
    exporter = InMemorySpanExporter()
    provider.add_span_processor(processor)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Pipeline(provider, processor, exporter, reader)


def _serve(
    pipeline: Pipeline, routes: list[str], attributes: dict[str, bool | str] | None = None
) -> None:
    """One server span per route, 1 to 40 ms long, as a Flask app's would be."""
    tracer = pipeline.provider.get_tracer("opentelemetry.instrumentation.flask")
    start = 1_700_000_000_000_000_000
    for number, route in enumerate(routes):
        span = tracer.start_span(
            f"GET {route}",
            kind=SpanKind.SERVER,
            attributes={
                "http.route": route,
                "http.response.status_code": 200,
                **(attributes or {}),
            },
            start_time=start,
        )
        span.end(end_time=start + (1 + number % 40) * 1_000_000)


def _unmatched_flags(pipeline: Pipeline) -> dict[object, float]:
    points = pipeline.metric_points("drift.expectation.unmatched")
    return {a["drift.expectation"]: v for a, v in points}


def _warnings(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and text in r.getMessage()
    ]


# -- 1. environment variables ------------------------------------------------------------


def test_misspelled_variable_name_is_logged_with_the_closest_known_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        settings = settings_from_env(
            {
                "OTEL_DRIFT_EXPECTATION": "expectations.yaml",
                "OTEL_DRIFT_CONSOLE": "true",
                "OTEL_DRIFT_NONSENSE_ZZZ": "1",
                "OTEL_SERVICE_NAME": "shop",  # not ours: no word
            }
        )
    assert settings.expectations_path is None and settings.console
    (typo,) = _warnings(caplog, "OTEL_DRIFT_EXPECTATION:")
    assert "did you mean OTEL_DRIFT_EXPECTATIONS?" in typo
    (unknown,) = _warnings(caplog, "OTEL_DRIFT_NONSENSE_ZZZ")
    assert "otel_drift.environment_variables" in unknown
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2


def test_every_known_name_is_a_documented_constant() -> None:
    source = inspect.getsource(environment_variables)
    for name in known_names():
        assert getattr(environment_variables, name) == name
        assert f".. envvar:: {name}" in source
    assert "OTEL_DRIFT_STRICT" in known_names()
    assert settings_from_env({"OTEL_DRIFT_STRICT": "true"}).strict
    assert settings_from_env({"OTEL_DRIFT_VALUE_HISTOGRAMS": "true"}).value_histograms


def test_bad_window_is_echoed_as_given_with_the_default_in_user_terms(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        settings = settings_from_env({"OTEL_DRIFT_WINDOW": "10 Minutes"})
    assert settings.default_window == Settings().default_window
    (message,) = _warnings(caplog, "OTEL_DRIFT_WINDOW")
    assert "OTEL_DRIFT_WINDOW='10 Minutes'" in message
    assert "the default, 1000 spans" in message
    assert "500" in message and "60s" in message  # the accepted forms
    assert "DefaultWindow" not in message and "10 minutes" not in message


# -- 3. one invalid expectation ----------------------------------------------------------


def test_invalid_expectation_is_disabled_alone_logged_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "expectations.yaml"
    path.write_text("version: 1\nexpectations:" + CHECKOUT + BAD_SEARCH)
    with caplog.at_level(logging.WARNING):
        pipeline = _pipeline(str(path))
    (message,) = _warnings(caplog, "invalid and disabled")
    assert 'expectation "search" (expectations[1])' in message
    assert str(path) in message
    assert "expectations[1].watch.latency.critical: critical (0.0001) must be above" in message
    assert "Fix: make critical above warning." in message
    assert "\n" not in message
    assert pipeline.metric_points("drift.config.errors") == [({"drift.expectation": "search"}, 1)]
    # The valid expectation still runs: 400 spans close two of its windows.
    _serve(pipeline, ["/checkout"] * 400)
    assert pipeline.processor.force_flush()
    evaluations = [s for s in pipeline.spans.get_finished_spans() if s.name == "drift.evaluation"]
    assert len(evaluations) == 2
    assert {s.attributes["drift.expectation"] for s in evaluations if s.attributes} == {"checkout"}
    pipeline.processor.shutdown()


def test_strict_refuses_the_whole_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "expectations.yaml"
    path.write_text("version: 1\nexpectations:" + CHECKOUT + BAD_SEARCH)
    with pytest.raises(ExpectationsError) as raised:
        DriftSpanProcessor(str(path), settings=Settings(strict=True))
    assert raised.value.why_refused == STRICT
    feed._active = None
    with caplog.at_level(logging.WARNING, logger="otel_drift"):
        auto._install(Settings(expectations_path=str(path), strict=True))
    assert feed.active_processor() is None
    (error,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "otel-drift is disabled" in error and "OTEL_DRIFT_STRICT=true" in error
    assert "expectations[1].watch.latency.critical" in error


def test_unparsable_file_still_disables_with_the_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "expectations.yaml"
    path.write_text("version: 1\nexpectations:\n  - name: [unclosed\n")
    feed._active = None
    with caplog.at_level(logging.WARNING, logger="otel_drift"):
        auto._install(Settings(expectations_path=str(path)))
    assert feed.active_processor() is None
    (error,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert UNREADABLE in error and str(path) in error and "not valid YAML" in error


def test_validate_still_reports_every_error_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "expectations.yaml"
    path.write_text("version: 1\nexpectations:" + CHECKOUT + BAD_SEARCH)
    assert cli_main(["validate", str(path)]) != 0
    err = capsys.readouterr().err
    assert "1 problem" in err and "expectations[1].watch.latency.critical" in err


# -- 4. an expectation that matches nothing ----------------------------------------------


def test_expectation_matching_nothing_names_the_closest_values_seen(
    caplog: pytest.LogCaptureFixture,
) -> None:
    text = (
        "version: 1\nexpectations:"
        + CHECKOUT
        + BAD_SEARCH.replace("/search", "/Search").replace("        critical: 0.0001\n", "")
        + """
  - name: by_name
    match: {span_name: GET /ordres}
    watch:
      status: {source: span.status, baseline: {categories: {UNSET: 1.0}}}
  - name: model
    match: {span_name: predict}
    watch:
      age: {source: ml.feature, feature: age, baseline: {bins: [0, 50, 100], fractions: [0.5, 0.5]}}
"""
    )
    from otel_drift import loads_expectations  # noqa: PLC0415

    pipeline = _pipeline(loads_expectations(text, path="expectations.yaml"))
    routes = ["/search", "/orders", "/checkout", "/search/suggest"] * (UNMATCHED_AFTER_SPANS // 4)
    with caplog.at_level(logging.WARNING):
        _serve(pipeline, routes)
        assert pipeline.processor.force_flush()  # the decision
        assert pipeline.processor.force_flush()  # confirmed a pass later
    (search,) = _warnings(caplog, 'expectation "search"')
    assert (
        f'expectation "search" matched none of the first {UNMATCHED_AFTER_SPANS} spans read: '
        "no span had http.route=/Search; seen: /search, " in search
    )
    assert "expectations.yaml" in search
    (by_name,) = _warnings(caplog, 'expectation "by_name"')
    assert "no span had span_name=GET /ordres; seen: GET /orders, " in by_name
    assert not _warnings(caplog, 'expectation "model"')  # fed by an instrumentation
    assert not _warnings(caplog, 'expectation "checkout"')
    flags = dict(
        (a["drift.expectation"], v)
        for a, v in pipeline.metric_points("drift.expectation.unmatched")
    )
    assert flags == {"search": 1, "by_name": 1}
    # A /Search span after all: the expectation counts as matched from then on.
    _serve(pipeline, ["/Search"])
    assert pipeline.processor.force_flush()
    flags = dict(
        (a["drift.expectation"], v)
        for a, v in pipeline.metric_points("drift.expectation.unmatched")
    )
    assert flags == {"search": 0, "by_name": 1}
    assert len(_warnings(caplog, "matched none")) == 2  # once each, never again
    pipeline.processor.shutdown()


# -- 5. shares and YAML booleans ---------------------------------------------------------


def test_fractions_summing_to_0_999_are_normalised_with_a_note(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "rounded.yaml"
    path.write_text(
        "version: 1\nexpectations:"
        + CHECKOUT.replace("[0.2, 0.45, 0.25, 0.07, 0.03]", "[0.2, 0.45, 0.25, 0.07, 0.029]")
    )
    with caplog.at_level(logging.INFO):
        pipeline = _pipeline(str(path))
    notes = [r.getMessage() for r in caplog.records if "rounding tolerance" in r.getMessage()]
    assert len(notes) == 1
    assert str(path) in notes[0]
    assert "expectations[0].watch.latency.baseline.fractions" in notes[0]
    assert "0.999" in notes[0]
    baseline = pipeline.processor.engine.expectations.expectations[0].watch[0].baseline
    assert sum(baseline.fractions) == pytest.approx(1.0, abs=1e-12)  # type: ignore[union-attr]
    assert baseline.fractions[0] == pytest.approx(0.2 / 0.999)  # type: ignore[union-attr]
    pipeline.processor.shutdown()


def test_fractions_off_by_more_than_the_tolerance_state_it(tmp_path: Path) -> None:
    path = tmp_path / "off.yaml"
    path.write_text(
        "version: 1\nexpectations:"
        + CHECKOUT.replace("[0.2, 0.45, 0.25, 0.07, 0.03]", "[0.2, 0.45, 0.25, 0.07, 0.0]")
    )
    with pytest.raises(ExpectationsError) as raised:
        DriftSpanProcessor(str(path))
    (problem,) = raised.value.problems
    assert problem.path == "expectations[0].watch.latency.baseline.fractions"
    assert "sum to 0.97, not 1 (a sum within 0.01 of 1 is accepted as rounding)" in str(problem)


def test_unquoted_yes_no_keys_are_the_words_written_and_true_false_match_booleans() -> None:
    text = """
version: 1
expectations:
  - name: flags
    match: {span_kind: server}
    window: {spans: 400}
    watch:
      answer:
        attribute: answer
        baseline: {categories: {yes: 0.5, no: 0.5}}
      beta:
        attribute: beta
        baseline: {categories: {true: 0.5, false: 0.5}}
"""
    from otel_drift import loads_expectations  # noqa: PLC0415

    pipeline = _pipeline(loads_expectations(text))
    _serve(pipeline, ["/a"] * 200, {"answer": "yes", "beta": True})
    _serve(pipeline, ["/a"] * 200, {"answer": "no", "beta": False})
    assert pipeline.processor.force_flush()
    bins = {
        (a["drift.attribute"], a["drift.bin"]): v
        for a, v in pipeline.metric_points("drift.bin.count")
    }
    assert bins[("answer", "yes")] == bins[("answer", "no")] == 200
    assert bins[("beta", "true")] == bins[("beta", "false")] == 200
    assert not any(name == "__other__" and count for (_, name), count in bins.items())
    evaluation = next(
        s for s in pipeline.spans.get_finished_spans() if s.name == "drift.evaluation"
    )
    assert evaluation.attributes is not None
    assert evaluation.attributes["drift.status"] == 0
    pipeline.processor.shutdown()
