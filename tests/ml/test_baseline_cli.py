"""``otel-drift baseline``: CSV, Parquet and NumPy in chunks, readable YAML that validates,
no overwriting without --force, a progress bar, no unpickling."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
import yaml

from otel_drift import load_expectations
from otel_drift._internal.cli.main import main
from otel_drift._internal.expectations.model import BinnedBaseline, CategoricalBaseline
from tests.ml.support import need

CSV = """age,city,income,flag
31,paris,1200.5,1
45,lyon,,0
27,paris,980,1
,nice,1500,0
52,lyon,2100,1
38,paris,NA,1
"""


def _run(*args: str) -> int:
    return main(["baseline", *args, "--no-progress"])


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "ref.csv"
    path.write_text(CSV)
    return path


def test_csv_gives_bins_categories_missing_rates_and_validates(
    csv_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "e.yaml"
    assert _run(str(csv_file), "-o", str(out), "--name", "credit", "--bins", "3") == 0
    assert main(["validate", str(out)]) == 0
    assert "ok (1 expectation, 8 watched values)" in capsys.readouterr().out
    text = out.read_text()
    assert text.startswith("# Expectations for model 'credit'")
    assert "bins: [" in text  # lists of numbers on one line
    document = yaml.safe_load(text)
    (raw,) = document["expectations"]
    assert raw["match"] == {"attributes": {"ml.model.name": "credit"}}
    assert raw["watch"]["city"]["constraints"] == {"allowed": ["paris", "lyon", "nice"]}
    assert raw["watch"]["income.missing"]["baseline"]["fractions"] == pytest.approx(
        [4 / 6, 2 / 6], abs=1e-6
    )
    (expectation,) = load_expectations(out).expectations
    watches = {w.name: w for w in expectation.watch}
    assert isinstance(watches["city"].baseline, CategoricalBaseline)
    assert watches["city"].baseline.categories == pytest.approx(
        {"paris": 0.5, "lyon": 1 / 3, "nice": 1 / 6}, abs=1e-6
    )
    age = watches["age"].baseline
    assert isinstance(age, BinnedBaseline)
    # Open outer bins: no edge at the sample's extremes (27, 52), and a share
    # the data supports (at least 1 / (n + 1)) beyond the values it held.
    assert age.edges[0] == 0 and age.edges[-1] > 52 and age.samples == 5
    assert 27 not in age.edges and 52 not in age.edges
    assert min(age.fractions[0], age.fractions[-1]) >= 1 / 6 - 1e-6
    # A 0/1 column gets one bin per value, not collapsed quantiles, and an open top bin.
    flag = watches["flag"].baseline
    assert isinstance(flag, BinnedBaseline) and flag.edges[:3] == (0, 0.5, 1.5)
    assert flag.fractions[0] == pytest.approx(2 / 6, abs=1e-6)
    assert flag.fractions[2] == pytest.approx(1 / 7, abs=1e-6)
    assert watches["age"].source.kind == "ml.feature" and watches["age"].source.feature == "age"


def test_refuses_to_overwrite_without_force(
    csv_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "e.yaml"
    out.write_text("mine")
    assert _run(str(csv_file), "-o", str(out), "--name", "credit") == 1
    assert "--force" in capsys.readouterr().err
    assert out.read_text() == "mine"
    assert _run(str(csv_file), "-o", str(out), "--name", "credit", "--force") == 0
    assert out.read_text() != "mine"


def test_chunked_reading_gives_the_same_file(csv_file: Path, tmp_path: Path) -> None:
    whole, chunked = tmp_path / "a.yaml", tmp_path / "b.yaml"
    assert _run(str(csv_file), "-o", str(whole), "--name", "x") == 0
    assert _run(str(csv_file), "-o", str(chunked), "--name", "x", "--chunk-rows", "2") == 0
    body = [p.read_text().split("\n", 4)[-1] for p in (whole, chunked)]  # past the dated header
    assert body[0] == body[1]


def test_parquet_and_npy_agree_with_csv(csv_file: Path, tmp_path: Path) -> None:
    pandas = need("pandas")
    need("pyarrow")
    frame = pandas.read_csv(csv_file)
    numeric = frame[["age", "income", "flag"]]
    numeric.to_parquet(tmp_path / "ref.parquet")
    np.save(tmp_path / "ref.npy", numeric.to_numpy())
    outputs = []
    for name, extra in (("ref.parquet", []), ("ref.npy", ["--feature-names", "age,income,flag"])):
        out = tmp_path / f"{name}.yaml"
        assert _run(str(tmp_path / name), "-o", str(out), "--name", "x", *extra) == 0
        outputs.append(yaml.safe_load(out.read_text())["expectations"][0]["watch"])
    csv_out = tmp_path / "csv.yaml"
    assert _run(str(csv_file), "-o", str(csv_out), "--name", "x", "--exclude", "city") == 0
    from_csv = yaml.safe_load(csv_out.read_text())["expectations"][0]["watch"]
    assert outputs[0] == outputs[1] == from_csv


def test_npy_is_never_unpickled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "objects.npy"
    np.save(data, np.array([[{"a": 1}]], dtype=object), allow_pickle=True)
    assert _run(str(data), "-o", str(tmp_path / "e.yaml"), "--name", "x") == 1
    assert "without unpickling" in capsys.readouterr().err
    assert not (tmp_path / "e.yaml").exists()


def test_progress_bar_on_stderr(
    csv_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "e.yaml"
    args = [str(csv_file), "-o", str(out), "--name", "x", "--chunk-rows", "2"]
    assert main(["baseline", *args, "--progress"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "pass 1/2 6 rows" in captured.err
    assert "pass 2/2 [##############################] 100.0% of 6 rows" in captured.err


def test_bad_model_and_unknown_columns_are_explained(
    csv_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "e.yaml")
    assert _run(str(csv_file), "-o", out, "--name", "x", "--model", "nomodule") == 1
    assert "module:attribute" in capsys.readouterr().err
    assert _run(str(csv_file), "-o", out, "--name", "x", "--model", "no_such_mod_x:m") == 1
    assert "cannot import" in capsys.readouterr().err
    assert _run(str(csv_file), "-o", out, "--name", "x", "--features", "age,zip") == 1
    assert "no column 'zip'" in capsys.readouterr().err
    assert _run(str(tmp_path / "none.csv"), "-o", out, "--name", "x") == 1
    assert "no such file" in capsys.readouterr().err


UNNAMED_MODEL = """
import functools

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression


@functools.cache
def frame():
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"age": rng.normal(40, 10, 600), "income": rng.normal(2000, 500, 600)})
    return x, (x["age"] > 40).astype(int)


def model():
    x, y = frame()
    return LogisticRegression().fit(x, y)
"""


@pytest.mark.parametrize("named", [False, True])
def test_the_file_matches_the_loaded_models_spans_without_a_naming_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, named: bool
) -> None:
    """``--name credit --model m:model``: the spans say ``LogisticRegression`` unless the
    serving code calls ``name_model(model, "credit")``; the file matches either way."""
    need("sklearn")
    need("pandas")
    from otel_drift.instrumentation import name_model  # noqa: PLC0415
    from otel_drift.instrumentation.sklearn import SklearnInstrumentor  # noqa: PLC0415

    from tests.ml.support import drift  # noqa: PLC0415

    (tmp_path / "unnamed_models.py").write_text(UNNAMED_MODEL)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    unnamed_models = importlib.import_module("unnamed_models")

    x, _ = unnamed_models.frame()
    x.to_csv(tmp_path / "ref.csv", index=False)
    out = tmp_path / "e.yaml"
    args = ["ref.csv", "-o", str(out), "--name", "credit", "--model", "unnamed_models:model"]
    assert _run(*args, "--window", "100") == 0
    match = yaml.safe_load(out.read_text())["expectations"][0]["match"]
    assert match["attribute_regex"] == {"ml.model.name": "^(?:credit|LogisticRegression)$"}
    pipeline = drift(out.read_text())
    SklearnInstrumentor().instrument(
        tracer_provider=pipeline.provider, drift_processor=pipeline.processor
    )
    try:
        model = unnamed_models.model()
        if named:
            model = name_model(model, "credit")
        for start in range(0, 600, 100):
            model.predict(x.iloc[start : start + 100])
        pipeline.flush()
        # Six calls of 100 rows: six windows of the expectation, steady against its own data.
        assert len(pipeline.windows) == 6
        assert all(w.expectation == "credit" for w in pipeline.windows)
    finally:
        SklearnInstrumentor().uninstrument()
        pipeline.shutdown()
