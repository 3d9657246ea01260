"""Labels round-trip: a baseline built by ``otel-drift baseline`` from CSV, Parquet or
NumPy matches the same values fed live, so a steady feature shows no drift and breaks
no ``allowed`` constraint (issue 15: a CSV bool column used to be ``True``/``False``
and a float-coded category ``200.0``, against live ``true`` and ``200``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from otel_drift import DriftEngine, Settings, load_expectations
from otel_drift._internal.cli.main import main
from otel_drift._internal.engine.results import Violation, WindowEvaluation
from otel_drift._internal.expectations.model import CategoricalBaseline
from tests.ml.support import need

ROWS = 3000
WINDOW = 500


def _columns(seed: int) -> dict[str, np.ndarray[Any, Any]]:
    """A bool flag, a status code written as a float, a city name."""
    rng = np.random.default_rng(seed)
    return {
        "flag": rng.random(ROWS) < 0.3,
        "code": rng.choice(np.array([200.0, 404.0, 500.0]), ROWS, p=[0.9, 0.07, 0.03]),
        "city": rng.choice(np.array(["paris", "lyon", "nice"]), ROWS, p=[0.5, 0.3, 0.2]),
    }


def _csv(path: Path, columns: dict[str, np.ndarray[Any, Any]]) -> None:
    # As pandas writes them: True/False, 200.0.
    lines = ["flag,code,city"]
    lines += [
        f"{flag},{code!r},{city}"
        for flag, code, city in zip(
            columns["flag"].tolist(),
            columns["code"].tolist(),
            columns["city"].tolist(),
            strict=True,
        )
    ]
    path.write_text("\n".join(lines) + "\n")


def _parquet(path: Path, columns: dict[str, np.ndarray[Any, Any]]) -> None:
    pa = need("pyarrow")
    need("pyarrow.parquet").write_table(pa.table(columns), path)


def _npy_records(path: Path, columns: dict[str, np.ndarray[Any, Any]]) -> None:
    records = np.empty(ROWS, dtype=[("flag", "?"), ("code", "f8"), ("city", "U8")])
    for name, values in columns.items():
        records[name] = values
    np.save(path, records)


def _npy_text(path: Path, columns: dict[str, np.ndarray[Any, Any]]) -> None:
    # np.array of mixed columns: everything becomes text ("True", "200.0", "paris").
    np.save(path, np.column_stack([columns["flag"], columns["code"], columns["city"]]))


WRITERS = {
    "ref.csv": (_csv, []),
    "ref.parquet": (_parquet, []),
    "records.npy": (_npy_records, []),
    "text.npy": (_npy_text, ["--feature-names", "flag,code,city"]),
}


@pytest.mark.parametrize("file_name", list(WRITERS))
def test_baseline_labels_match_live_values(file_name: str, tmp_path: Path) -> None:
    write, extra = WRITERS[file_name]
    data = tmp_path / file_name
    write(data, _columns(seed=1))
    out = tmp_path / "e.yaml"
    argv = ["baseline", str(data), "-o", str(out), "--name", "m", "--no-progress"]
    argv += ["--categorical", "code", "--window", str(WINDOW), *extra]
    assert main(argv) == 0

    (expectation,) = load_expectations(out).expectations
    watches = {w.name: w for w in expectation.watch}
    for watch_name, labels in (
        ("flag", {"true", "false"}),
        ("code", {"200", "404", "500"}),
        ("city", {"paris", "lyon", "nice"}),
    ):
        baseline = watches[watch_name].baseline
        assert isinstance(baseline, CategoricalBaseline)
        assert set(baseline.categories) == labels
        assert watches[watch_name].constraints.allowed == frozenset(labels)

    engine = DriftEngine(load_expectations(out), Settings(flush_interval_s=3600))
    windows: list[WindowEvaluation] = []
    violations: list[Violation] = []
    engine.add_listener(windows.append)
    engine.add_violation_listener(violations.extend)
    live = _columns(seed=2)  # a fresh draw of the same mix
    fed: dict[str, np.ndarray[Any, Any] | list[int]] = {
        "flag": live["flag"],  # numpy bools
        "code": live["code"].astype(int).tolist(),  # ints, as a status code attribute is
        "city": live["city"],
    }
    fed.update({f"{w}.missing": np.zeros(ROWS) for w in ("flag", "code", "city")})
    assert engine.observe("m", fed)
    assert engine.force_flush()
    engine.shutdown()
    assert [w.spans for w in windows] == [WINDOW] * (ROWS // WINDOW)
    assert violations == []
    for window in windows:
        for watch in window.watches:
            assert (watch.invalid, watch.status) == (0, 0), watch
            assert watch.samples == WINDOW, watch


def test_float_labels_are_the_engines(tmp_path: Path) -> None:
    """A float category fed as floats (2.5, 200.0) matches its CSV baseline too."""
    data = tmp_path / "ref.csv"
    rng = np.random.default_rng(3)
    values = rng.choice(np.array([0.5, 2.5, 200.0]), 600)
    data.write_text("ratio\n" + "\n".join(repr(v) for v in values.tolist()) + "\n")
    out = tmp_path / "e.yaml"
    argv = ["baseline", str(data), "-o", str(out), "--name", "m", "--no-progress"]
    assert main([*argv, "--categorical", "ratio"]) == 0
    (expectation,) = load_expectations(out).expectations
    ratio = next(w for w in expectation.watch if w.name == "ratio")
    assert isinstance(ratio.baseline, CategoricalBaseline)
    assert set(ratio.baseline.categories) == {"0.5", "2.5", "200"}
