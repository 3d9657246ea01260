"""ML drift end to end: baseline from training data, then serving traffic that drifts.

    pip install "otel-drift[sklearn]" pandas
    cd examples/ml && python demo.py

1. writes the training data to ``reference.csv`` (in a temporary folder) and
   runs ``otel-drift baseline`` on it, with ``--model demo:fitted`` (this
   module, imported: nothing is unpickled) for the prediction baseline;
2. instruments scikit-learn and serves batches of wine rows: first as trained,
   then with ``alcohol`` sent in the wrong unit (x100) and ``magnesium`` missing
   in a third of the rows; prints each status change (``OTEL_DRIFT_CONSOLE``).
"""

from __future__ import annotations

import functools
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from opentelemetry.sdk.trace import TracerProvider
from otel_drift.instrumentation import name_model
from otel_drift.instrumentation.sklearn import SklearnInstrumentor

from otel_drift import ConsoleReporter, DriftSpanProcessor, Settings, load_expectations
from otel_drift._internal.cli.main import main as otel_drift_cli

HERE = Path(__file__).resolve().parent


@functools.cache
def reference() -> Any:
    """Wine features as a DataFrame, with the target column ``cultivar``."""
    from sklearn.datasets import load_wine  # noqa: PLC0415

    frame = load_wine(as_frame=True).frame
    return frame.rename(columns={"target": "cultivar"})


@functools.cache
def fitted() -> Any:
    from sklearn.impute import SimpleImputer  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.pipeline import make_pipeline  # noqa: PLC0415
    from sklearn.preprocessing import StandardScaler  # noqa: PLC0415

    frame = reference()
    features = frame.drop(columns="cultivar")
    pipeline = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=1000))
    return pipeline.fit(features, frame["cultivar"])


def build_baseline(folder: Path) -> Path:
    # The CLI imports this module as ``demo`` (from sys.path), never a pickle.
    sys.path.insert(0, str(HERE))
    data, out = folder / "reference.csv", folder / "expectations.yaml"
    reference().to_csv(data, index=False)
    code = otel_drift_cli(
        [
            "baseline",
            str(data),
            "-o",
            str(out),
            "--name",
            "wine",
            "--target",
            "cultivar",
            "--model",
            "demo:fitted",
            "--force",
        ]
    )
    if code != 0:
        raise SystemExit(code)
    return out


def serve(folder: Path) -> None:
    provider = TracerProvider()
    processor = DriftSpanProcessor(
        load_expectations(build_baseline(folder)), settings=Settings(), tracer_provider=provider
    )
    processor.engine.add_listener(ConsoleReporter())
    provider.add_span_processor(processor)
    SklearnInstrumentor().instrument(tracer_provider=provider, drift_processor=processor)
    model = name_model(fitted(), "wine")
    features = reference().drop(columns="cultivar")
    rng = np.random.default_rng(0)
    for batch in range(8):
        rows = features.iloc[rng.integers(0, len(features), size=500)].reset_index(drop=True)
        if batch >= 4:
            rows["alcohol"] = rows["alcohol"] * 100
            rows.loc[rows.index % 3 == 0, "magnesium"] = np.nan
        print(f"[traffic] batch {batch}: {'drifted' if batch >= 4 else 'as trained'}")
        model.predict(rows)
    provider.shutdown()
    SklearnInstrumentor().uninstrument()


if __name__ == "__main__":
    serve(Path(tempfile.mkdtemp(prefix="otel-drift-ml-")))
