"""Valid files load into the expected model values."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

import otel_drift.expectations as public
from otel_drift._internal.expectations.normalize import scalar_text
from otel_drift.expectations import (
    DEFAULT_STATUS_CODE_ATTRIBUTES,
    BinnedBaseline,
    CategoricalBaseline,
    ExpectationsFile,
    Hysteresis,
    Watch,
    Window,
    load_expectations,
    loads_expectations,
)

EXAMPLE = """\
version: 1
expectations:
  - name: checkout
    match:
      span_kind: server
      attributes: {http.route: /checkout}
    window: {spans: 500}
    min_samples: 200
    watch:
      latency:
        source: span.duration
        unit: ms
        baseline:
          bins: [0, 10, 25, 50, 100, 250, 1000]
          fractions: [0.20, 0.45, 0.25, 0.07, 0.02, 0.01]
        method: psi
        warning: 0.1
        critical: 0.25
      status:
        attribute: [http.response.status_code, http.status_code]
        baseline:
          categories: {"200": 0.97, "404": 0.02, "500": 0.01}
        method: jensen_shannon
        warning: 0.05
        critical: 0.1
        constraints: {allowed: ["200", "404", "500"]}
"""

EXAMPLE_JSON: dict[str, Any] = {
    "version": 1,
    "expectations": [
        {
            "name": "checkout",
            "match": {"span_kind": "server", "attributes": {"http.route": "/checkout"}},
            "window": {"spans": 500},
            "min_samples": 200,
            "watch": {
                "latency": {
                    "source": "span.duration",
                    "unit": "ms",
                    "baseline": {
                        "bins": [0, 10, 25, 50, 100, 250, 1000],
                        "fractions": [0.20, 0.45, 0.25, 0.07, 0.02, 0.01],
                    },
                    "method": "psi",
                    "warning": 0.1,
                    "critical": 0.25,
                },
                "status": {
                    "attribute": ["http.response.status_code", "http.status_code"],
                    "baseline": {"categories": {"200": 0.97, "404": 0.02, "500": 0.01}},
                    "method": "jensen_shannon",
                    "warning": 0.05,
                    "critical": 0.1,
                    "constraints": {"allowed": ["200", "404", "500"]},
                },
            },
        }
    ],
}


def _watch(loaded: ExpectationsFile, name: str, index: int = 0) -> Watch:
    return next(w for w in loaded.expectations[index].watch if w.name == name)


def _one_watch(watch: dict[str, Any], **expectation: Any) -> str:
    document = {
        "version": 1,
        "expectations": [{"name": "e", "match": {}, "watch": {"w": watch}, **expectation}],
    }
    return json.dumps(document)


def test_the_readme_example_loads_exactly(tmp_path: Path) -> None:
    path = tmp_path / "expectations.yaml"
    path.write_text(EXAMPLE, encoding="utf-8")
    loaded = load_expectations(path)

    assert loaded.version == 1
    assert loaded.path == str(path)
    (checkout,) = loaded.expectations
    assert checkout.name == "checkout"
    assert checkout.match.span_kind == "server"
    assert dict(checkout.match.attributes) == {"http.route": "/checkout"}
    assert checkout.window == Window(spans=500, seconds=None)
    assert checkout.min_samples == 200
    assert checkout.hysteresis == Hysteresis()
    assert [w.name for w in checkout.watch] == ["latency", "status"]

    latency = _watch(loaded, "latency")
    assert latency.kind == "numeric"
    assert latency.source.kind == "span.duration"
    assert latency.source.unit == "ms"
    assert isinstance(latency.baseline, BinnedBaseline)
    assert latency.baseline.edges == (0.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0)
    assert latency.baseline.fractions == (0.20, 0.45, 0.25, 0.07, 0.02, 0.01)
    assert (latency.method, latency.warning, latency.critical) == ("psi", 0.1, 0.25)

    status = _watch(loaded, "status")
    assert status.kind == "categorical"
    assert status.source.kind == "attribute"
    assert status.source.attributes == ("http.response.status_code", "http.status_code")
    assert isinstance(status.baseline, CategoricalBaseline)
    assert dict(status.baseline.categories) == {"200": 0.97, "404": 0.02, "500": 0.01}
    assert (status.method, status.warning, status.critical) == ("jensen_shannon", 0.05, 0.1)
    assert status.constraints.allowed == frozenset({"200", "404", "500"})


def test_mean_and_std_come_from_the_bins() -> None:
    loaded = loads_expectations(EXAMPLE)
    baseline = _watch(loaded, "latency").baseline
    assert isinstance(baseline, BinnedBaseline)
    # The last bin, [250, 1000], is read as no wider than its neighbour: [250, 400].
    mids = [5, 17.5, 37.5, 75, 175, 325]
    widths = [10, 15, 25, 50, 150, 150]
    shares = [0.20, 0.45, 0.25, 0.07, 0.02, 0.01]
    mean = sum(f * m for f, m in zip(shares, mids, strict=True))
    variance = sum(
        f * ((m - mean) ** 2 + w**2 / 12) for f, m, w in zip(shares, mids, widths, strict=True)
    )
    assert baseline.mean == pytest.approx(mean)
    assert baseline.std == pytest.approx(math.sqrt(variance))


def test_single_bin_std_is_width_over_sqrt_12() -> None:
    text = _one_watch({"source": "span.duration", "baseline": {"bins": [10, 40], "fractions": [1]}})
    baseline = loads_expectations(text).expectations[0].watch[0].baseline
    assert isinstance(baseline, BinnedBaseline)
    assert baseline.mean == 25
    assert baseline.std == pytest.approx(30 / math.sqrt(12))


def test_given_mean_std_and_samples_are_kept() -> None:
    baseline_in = {"bins": [0, 1, 2], "fractions": [0.5, 0.5], "mean": 0.7, "std": 0.3}
    text = _one_watch({"source": "span.duration", "baseline": {**baseline_in, "samples": 5000}})
    baseline = loads_expectations(text).expectations[0].watch[0].baseline
    assert isinstance(baseline, BinnedBaseline)
    assert (baseline.mean, baseline.std, baseline.samples) == (0.7, 0.3, 5000)


def test_json_file_and_json_text_load_like_the_yaml(tmp_path: Path) -> None:
    from_yaml = loads_expectations(EXAMPLE)
    path = tmp_path / "expectations.json"
    path.write_text(json.dumps(EXAMPLE_JSON, indent=2), encoding="utf-8")
    from_file = load_expectations(str(path))
    from_text = loads_expectations(json.dumps(EXAMPLE_JSON))
    assert from_file.expectations == from_yaml.expectations
    assert from_text == from_yaml


def test_yaml_flow_mapping_starting_with_a_brace_is_still_yaml() -> None:
    text = (
        "{version: 1, expectations: [{name: e, match: {}, watch: {s: {source: span.status, "
        "baseline: {categories: {OK: 1}}}}}]}"
    )
    assert loads_expectations(text).expectations[0].watch[0].source.kind == "span.status"


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + EXAMPLE.encode())
    assert load_expectations(path).expectations[0].name == "checkout"


def test_quantiles_become_bins_yaml_float_keys() -> None:
    text = """
version: 1
expectations:
  - name: q
    match: {}
    watch:
      latency:
        source: span.duration
        baseline:
          quantiles: {0: 1, 0.5: 20, 0.9: 80, 1: 400}
"""
    baseline = loads_expectations(text).expectations[0].watch[0].baseline
    assert isinstance(baseline, BinnedBaseline)
    assert baseline.edges == (1.0, 20.0, 80.0, 400.0)
    assert baseline.fractions == pytest.approx((0.5, 0.4, 0.1))
    assert math.fsum(baseline.fractions) == pytest.approx(1)


def test_quantiles_json_string_keys_in_any_order() -> None:
    quantiles = {"1": 400, "0.9": 80, "0": 1, "0.5": 20}
    text = _one_watch({"source": "span.duration", "baseline": {"quantiles": quantiles}})
    baseline = loads_expectations(text).expectations[0].watch[0].baseline
    assert isinstance(baseline, BinnedBaseline)
    assert baseline.edges == (1.0, 20.0, 80.0, 400.0)
    assert baseline.fractions == pytest.approx((0.5, 0.4, 0.1))


def test_equal_quantile_values_keep_a_one_step_bin() -> None:
    quantiles = {"0": 0, "0.3": 0, "1": 10}
    text = _one_watch({"source": "span.duration", "baseline": {"quantiles": quantiles}})
    baseline = loads_expectations(text).expectations[0].watch[0].baseline
    assert isinstance(baseline, BinnedBaseline)
    assert baseline.edges == (0.0, math.nextafter(0.0, 1.0), 10.0)
    assert baseline.fractions == pytest.approx((0.3, 0.7))


def test_defaults_apply_to_expectations_that_omit_them() -> None:
    text = """
version: 1
defaults:
  window: {seconds: 30}
  min_samples: 50
  hysteresis: {raise_after: 3, clear_after: 4}
expectations:
  - name: uses-defaults
    match: {}
    watch: {s: {source: span.status, baseline: {categories: {OK: 1}}}}
  - name: overrides
    match: {}
    window: {spans: 80}
    min_samples: 20
    hysteresis: {raise_after: 2}
    watch: {s: {source: span.status, baseline: {categories: {OK: 1}}}}
"""
    first, second = loads_expectations(text).expectations
    assert first.window == Window(spans=None, seconds=30.0)
    assert first.min_samples == 50
    assert first.hysteresis == Hysteresis(raise_after=3, clear_after=4)
    # A key given in the expectation replaces the default as a whole.
    assert second.window == Window(spans=80, seconds=None)
    assert second.min_samples == 20
    assert second.hysteresis == Hysteresis(raise_after=2, clear_after=2)


def test_model_defaults_without_a_defaults_block() -> None:
    text = _one_watch({"source": "span.status", "baseline": {"categories": {"OK": 1}}})
    expectation = loads_expectations(text).expectations[0]
    assert expectation.window == Window()
    assert expectation.min_samples == 100
    assert expectation.hysteresis == Hysteresis()
    watch = expectation.watch[0]
    assert (watch.method, watch.warning, watch.critical) == ("jensen_shannon", 0.06, 0.09)
    assert watch.cusum_k == 0.25


def test_numeric_default_method_and_thresholds_per_method() -> None:
    baseline = {"bins": [0, 1], "fractions": [1]}
    text = _one_watch({"attribute": "size", "baseline": baseline, "method": "ks"})
    watch = loads_expectations(text).expectations[0].watch[0]
    assert (watch.kind, watch.method, watch.warning, watch.critical) == (
        "numeric",
        "ks",
        1e-6,
        1e-9,
    )
    text = _one_watch({"attribute": "size", "baseline": baseline})
    assert loads_expectations(text).expectations[0].watch[0].method == "psi"


def test_window_with_spans_and_seconds() -> None:
    text = _one_watch(
        {"source": "span.status", "baseline": {"categories": {"OK": 1}}},
        window={"spans": 200, "seconds": 1.5},
    )
    assert loads_expectations(text).expectations[0].window == Window(spans=200, seconds=1.5)


def test_http_status_class_defaults_to_the_status_code_attributes() -> None:
    categories = {"2xx": 0.9, "5xx": 0.1}
    text = _one_watch({"source": "http.status_class", "baseline": {"categories": categories}})
    source = loads_expectations(text).expectations[0].watch[0].source
    assert source.kind == "http.status_class"
    assert source.attributes == DEFAULT_STATUS_CODE_ATTRIBUTES
    text = _one_watch(
        {
            "source": "http.status_class",
            "attribute": "rpc.code",
            "baseline": {"categories": categories},
        }
    )
    assert loads_expectations(text).expectations[0].watch[0].source.attributes == ("rpc.code",)


def test_single_attribute_name_and_explicit_source_attribute() -> None:
    text = _one_watch({"source": "attribute", "attribute": "llm.tokens", "constraints": {"min": 0}})
    watch = loads_expectations(text).expectations[0].watch[0]
    assert watch.source.kind == "attribute"
    assert watch.source.attributes == ("llm.tokens",)
    assert watch.baseline is None
    assert watch.kind == "numeric"
    assert watch.constraints.min == 0


def test_constraints_only_watch_kinds() -> None:
    cases = [
        ({"min": 0}, "numeric"),
        ({"type": "integer"}, "numeric"),
        ({"allowed": ["a"]}, "categorical"),
        ({"required": True}, "categorical"),
    ]
    for constraints, kind in cases:
        text = _one_watch({"attribute": "x", "constraints": constraints})
        assert loads_expectations(text).expectations[0].watch[0].kind == kind, constraints
    # The source decides when it can: durations are numbers.
    text = _one_watch({"source": "span.duration", "constraints": {"required": True}})
    assert loads_expectations(text).expectations[0].watch[0].kind == "numeric"


def test_yaml_scalar_keys_become_labels() -> None:
    text = """
version: 1
expectations:
  - name: keys
    match:
      span_name: {regex: "^GET "}
      scope: opentelemetry.instrumentation.flask
      attributes: {http.status_code: 200, feature.on: true}
      attribute_regex: {http.route: "^/api/"}
    watch:
      code:
        attribute: http.status_code
        baseline: {categories: {200: 0.5, 404.0: 0.25, true: 0.25}}
        constraints: {allowed: [200, 404, true, "x"], required: true, type: integer}
"""
    expectation = loads_expectations(text).expectations[0]
    match = expectation.match
    assert (match.span_name, match.span_name_regex) == (None, "^GET ")
    assert (match.scope, match.scope_regex) == ("opentelemetry.instrumentation.flask", None)
    # Attribute values keep their type: they are compared with typed span attributes.
    assert dict(match.attributes) == {"http.status_code": 200, "feature.on": True}
    assert dict(match.attribute_regexes) == {"http.route": "^/api/"}
    watch = expectation.watch[0]
    assert isinstance(watch.baseline, CategoricalBaseline)
    assert dict(watch.baseline.categories) == {"200": 0.5, "404": 0.25, "true": 0.25}
    assert watch.constraints.allowed == frozenset({"200", "404", "true", "x"})
    assert watch.constraints.required is True
    assert watch.constraints.type == "integer"


def test_labels_match_how_span_values_are_labelled() -> None:
    values = pytest.importorskip("otel_drift._internal.values")
    for value in (True, False, 0, 200, -3, 2.0, 0.5, 1e-05, "x", "200"):
        assert scalar_text(value) == values.label(value), value


def test_cusum_with_k_and_integer_valued_floats() -> None:
    text = _one_watch(
        {
            "source": "span.duration",
            "unit": "s",
            "baseline": {"bins": [0, 1, 2], "fractions": [0.5, 0.5], "samples": 100.0},
            "method": "cusum",
            "cusum_k": 0.25,
            "warning": 3,
            "critical": 6,
        },
        min_samples=10.0,
    )
    expectation = loads_expectations(text).expectations[0]
    watch = expectation.watch[0]
    assert (watch.method, watch.cusum_k, watch.warning, watch.critical) == ("cusum", 0.25, 3, 6)
    assert watch.source.unit == "s"
    assert isinstance(watch.baseline, BinnedBaseline)
    assert watch.baseline.samples == 100
    assert isinstance(watch.baseline.samples, int)
    assert expectation.min_samples == 10
    assert isinstance(expectation.min_samples, int)


def test_description_is_ignored_and_empty_match_selects_everything() -> None:
    text = _one_watch(
        {"source": "span.status", "baseline": {"categories": {"OK": 1}}}, description="note"
    )
    match = loads_expectations(text).expectations[0].match
    assert match == public.Match()


def test_public_module_exports() -> None:
    for name in public.__all__:
        assert hasattr(public, name), name
    assert {"load_expectations", "loads_expectations", "ExpectationsError"} <= set(public.__all__)
    assert public.ExpectationsError.__module__.startswith("otel_drift")


def test_a_shape_alone_alarms_on_a_share_of_other_shapes_not_on_one_error_answer() -> None:
    shape = {"source": "json.shape", "shape": {"paths": {"id": "number"}}}
    (watch,) = loads_expectations(_one_watch(shape)).expectations[0].watch
    # 5 % and 10 % of bodies of another shape (a 1 % error rate stays ok).
    assert (round(watch.warning, 3), round(watch.critical, 3)) == (0.16, 0.228)
    assert watch.thresholds == "default"
    declared = {**shape, "warning": 0.3, "critical": 0.4}
    (watch,) = loads_expectations(_one_watch(declared)).expectations[0].watch
    assert (watch.warning, watch.critical, watch.thresholds) == (0.3, 0.4, "declared")
