"""scikit-learn end to end: one span per call, features and predictions judged against a
baseline built by ``otel-drift baseline`` from the reference data.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from otel_drift.instrumentation import name_model

from otel_drift._internal.cli.main import main
from tests.ml.support import Drift, drift, need

need("sklearn")
need("pandas")

from otel_drift.instrumentation.sklearn import SklearnInstrumentor  # noqa: E402

from tests.ml.models import CANCER_TARGET, cancer_features, cancer_frame, cancer_model  # noqa: E402

BATCH = 500


@pytest.fixture(scope="module")
def expectations(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The baseline of the cancer model, built by the CLI from its training data."""
    folder = tmp_path_factory.mktemp("baseline")
    data = folder / "train.csv"
    cancer_frame().to_csv(data, index=False)
    out = folder / "expectations.yaml"
    code = main(
        [
            "baseline",
            str(data),
            "-o",
            str(out),
            "--name",
            "cancer",
            "--model-version",
            "1",
            "--target",
            CANCER_TARGET,
            "--model",
            "tests.ml.models:cancer_model",
            "--no-progress",
        ]
    )
    assert code == 0
    return out.read_text()


@pytest.fixture
def model() -> Any:
    return name_model(cancer_model(), "cancer", "1")


@pytest.fixture
def watched(expectations: str) -> Iterator[Drift]:
    pipeline = drift(expectations)
    SklearnInstrumentor().instrument(
        tracer_provider=pipeline.provider, drift_processor=pipeline.processor
    )
    yield pipeline
    SklearnInstrumentor().uninstrument()
    pipeline.shutdown()


def _stream(rows: int, seed: int = 0) -> Any:
    """``rows`` rows drawn from the reference data: a stationary stream."""
    features = cancer_features()
    picks = np.random.default_rng(seed).integers(0, len(features), size=rows)
    return features.iloc[picks].reset_index(drop=True)


def _serve(model: Any, frame: Any) -> None:
    for start in range(0, len(frame), BATCH):
        model.predict(frame.iloc[start : start + BATCH])


def test_one_span_per_call_with_ml_attributes(watched: Drift, model: Any) -> None:
    frame = _stream(40)
    model.predict(frame)
    model.predict_proba(frame)
    spans = watched.model_spans()
    # A Pipeline's steps (imputer, scaler, encoder, classifier) make no span of their own.
    assert [s.name for s in spans] == ["predict cancer", "predict_proba cancer"]
    attributes = dict(spans[0].attributes or {})
    assert attributes == {
        "ml.model.name": "cancer",
        "ml.model.version": "1",
        "ml.framework": "sklearn",
        "ml.operation": "predict",
        "ml.batch_size": 40,
        "ml.features": 31,
    }
    assert spans[0].kind.name == "INTERNAL"


def test_training_makes_no_span_and_uninstrument_removes_spans(watched: Drift) -> None:
    from sklearn.tree import DecisionTreeClassifier  # noqa: PLC0415

    frame = cancer_frame()
    features = frame.drop(columns=[CANCER_TARGET, "size"]).to_numpy()
    classifier = DecisionTreeClassifier(random_state=0).fit(features, frame[CANCER_TARGET])
    assert watched.model_spans() == []
    # predict calls predict_proba inside: still one span.
    classifier.predict(features[:5])
    (span,) = watched.model_spans()
    assert span.name == "predict DecisionTreeClassifier"  # unnamed: the class name
    SklearnInstrumentor().uninstrument()
    classifier.predict(features[:5])
    assert len(watched.model_spans()) == 1
    SklearnInstrumentor().instrument(
        tracer_provider=watched.provider, drift_processor=watched.processor
    )
    classifier.predict(features[:5])
    assert len(watched.model_spans()) == 2


def test_user_exceptions_pass_through_untouched(watched: Drift) -> None:
    from sklearn.exceptions import NotFittedError  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

    with pytest.raises(NotFittedError):
        LogisticRegression().predict(np.zeros((2, 3)))
    (span,) = watched.model_spans()
    assert span.status.status_code.name == "ERROR"


def test_stationary_stream_raises_nothing(watched: Drift, model: Any) -> None:
    _serve(model, _stream(4000))
    watched.flush()
    assert len(watched.windows) == 4
    worst = watched.worst()
    assert "prediction" in watched.scored() and "mean_radius" in watched.scored()
    assert {name: status for name, status in worst.items() if status} == {}
    assert all(not s.events for s in watched.model_spans())  # no violations either


def test_unit_change_is_attributed_to_its_feature(watched: Drift, model: Any) -> None:
    frame = _stream(2000, seed=1)
    frame["mean radius"] = frame["mean radius"] * 100  # millimetres sent as tenths of µm
    _serve(model, frame)
    watched.flush()
    worst = watched.worst()
    assert worst["mean_radius"] == 2
    features = {n: s for n, s in worst.items() if n not in ("mean_radius", "prediction")}
    assert set(features.values()) == {0}


def test_surge_of_missing_values_is_attributed(watched: Drift, model: Any) -> None:
    frame = _stream(2000, seed=2)
    frame.loc[frame.index % 3 == 0, "worst texture"] = np.nan
    _serve(model, frame)
    watched.flush()
    worst = watched.worst()
    assert worst["worst_texture.missing"] == 2
    assert {n for n, s in worst.items() if s} == {"worst_texture.missing"}


def test_renamed_category_is_drift_and_a_violation_on_the_span(watched: Drift, model: Any) -> None:
    frame = _stream(2000, seed=3)
    frame["size"] = frame["size"].replace({"large": "LARGE"})
    _serve(model, frame)
    watched.flush()
    worst = watched.worst()
    assert worst["size"] == 2
    events = [e for s in watched.model_spans() for e in s.events]
    assert events and all(e.name == "drift.violation" for e in events)
    assert {e.attributes["drift.attribute"] for e in events if e.attributes} == {"size"}
    renamed = int((frame["size"] == "LARGE").sum())
    counts = [e.attributes["drift.violations"] for e in events if e.attributes]
    assert sum(c for c in counts if isinstance(c, int)) == renamed
    states = {s.watch.name: s for s in watched.processor.engine.watch_states()}
    assert states["size"].violations["allowed"] == renamed


def test_shift_in_the_prediction_mix_is_attributed(watched: Drift, model: Any) -> None:
    frame = cancer_frame()
    malignant = frame[frame[CANCER_TARGET] == 0].drop(columns=CANCER_TARGET)
    picks = np.random.default_rng(4).integers(0, len(malignant), size=2000)
    _serve(model, malignant.iloc[picks].reset_index(drop=True))
    watched.flush()
    assert watched.worst()["prediction"] == 2


def test_numpy_list_and_sparse_inputs_by_feature_index() -> None:
    from scipy import sparse  # noqa: PLC0415
    from sklearn.datasets import load_wine  # noqa: PLC0415
    from sklearn.tree import DecisionTreeClassifier  # noqa: PLC0415

    x, y = load_wine(return_X_y=True)
    classifier = name_model(DecisionTreeClassifier(random_state=0).fit(x, y), "wine")
    pipeline = drift(
        """
version: 1
expectations:
  - name: wine
    match: {attributes: {ml.model.name: wine, ml.operation: predict}}
    window: {spans: 100000}
    watch:
      alcohol: {feature: 0, constraints: {min: 11, max: 15}}
      proline: {feature: "12", constraints: {max: 1000}}
      absent: {feature: 99, constraints: {required: true}}
      label: {source: ml.prediction, constraints: {allowed: [0, 1, 2]}}
"""
    )
    SklearnInstrumentor().instrument(
        tracer_provider=pipeline.provider, drift_processor=pipeline.processor
    )
    try:
        classifier.predict(x)
        classifier.predict(x.tolist())
        classifier.predict(sparse.csr_matrix(x))
        spans = pipeline.model_spans()
        assert [dict(s.attributes or {}).get("ml.input.sparse") for s in spans] == [
            None,
            None,
            True,
        ]
        expected = {
            ("alcohol", "max"): int((x[:, 0] > 15).sum()),
            ("proline", "max"): int((x[:, 12] > 1000).sum()),
            ("absent", "required"): len(x),
        }
        for span in spans:
            found = {
                (e.attributes["drift.attribute"], e.attributes["drift.rule"]): e.attributes[
                    "drift.violations"
                ]
                for e in span.events
                if e.attributes
            }
            assert found == {k: v for k, v in expected.items() if v}
        pipeline.flush()
        states = {s.watch.name: s for s in pipeline.processor.engine.watch_states()}
        assert states["alcohol"].total_valid == 3 * len(x)
        assert states["label"].violations == {}
    finally:
        SklearnInstrumentor().uninstrument()
        pipeline.shutdown()


def test_skew_between_training_and_serving_is_found(tmp_path: Path) -> None:
    """Baseline from the training split (CLI), serving data shifted on purpose."""
    from sklearn.model_selection import train_test_split  # noqa: PLC0415

    frame = cancer_frame()
    train, serve = train_test_split(frame, test_size=0.3, random_state=0)
    data = tmp_path / "train.parquet"
    need("pyarrow")
    train.to_parquet(data)
    out = tmp_path / "skew.yaml"
    assert (
        main(
            [
                "baseline",
                str(data),
                "-o",
                str(out),
                "--name",
                "skew",
                "--model-name",
                "cancer",
                "--target",
                CANCER_TARGET,
                "--bins",
                "5",
                "--no-progress",
            ]
        )
        == 0
    )
    pipeline = drift(out.read_text())
    SklearnInstrumentor().instrument(
        tracer_provider=pipeline.provider, drift_processor=pipeline.processor
    )
    try:
        model = name_model(cancer_model(), "cancer", "1")
        shifted = serve.drop(columns=CANCER_TARGET).copy()
        # The serving pipeline computes area in cm² rather than mm².
        shifted["mean area"] = shifted["mean area"] / 100
        picks = np.random.default_rng(5).integers(0, len(shifted), size=1000)
        model.predict(shifted.iloc[picks])
        pipeline.flush()
        worst = pipeline.worst()
        assert worst["mean_area"] == 2
        assert {n for n, s in worst.items() if s == 2} == {"mean_area"}
    finally:
        SklearnInstrumentor().uninstrument()
        pipeline.shutdown()


def test_no_code_change_under_opentelemetry_instrument(expectations: str, tmp_path: Path) -> None:
    """The entry point instruments scikit-learn; values reach the engine it attached."""
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    from tests.support import ROOT  # noqa: PLC0415

    (tmp_path / "expectations.yaml").write_text(expectations)
    script = tmp_path / "serve.py"
    script.write_text(
        "import otel_drift\n"
        "from otel_drift.instrumentation import name_model\n"
        "from tests.ml.models import cancer_features, cancer_model\n"
        "model = name_model(cancer_model(), 'cancer', '1')\n"
        "frame = cancer_features()\n"
        "frame['mean radius'] = frame['mean radius'] * 100\n"
        "for _ in range(2):\n"
        "    model.predict(frame)\n"
        "engine = otel_drift.get_engine()\n"
        "engine.force_flush()\n"
        "print(sorted({w.watch for e in engine.history for w in e.watches if w.status}))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OTEL_DRIFT_EXPECTATIONS": str(tmp_path / "expectations.yaml"),
        "OTEL_TRACES_EXPORTER": "otlp_json_file",
        "OTEL_DRIFT_OTLP_JSON_DIR": str(tmp_path / "otlp"),
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
    }
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    done = subprocess.run(
        [str(instrument), sys.executable, str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "'mean_radius'" in done.stdout
    traces = (tmp_path / "otlp" / "traces.jsonl").read_text()
    assert traces.count('"predict cancer"') == 2
