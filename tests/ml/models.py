"""Models trained on datasets scikit-learn ships, built once per test session.

Also importable by ``otel-drift baseline --model tests.ml.models:cancer_model``
(a function returning a fitted model), as a user's own module would be.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

CANCER_TARGET = "target"


@functools.cache
def cancer_frame() -> Any:
    """Breast cancer features, a categorical ``size`` column, ``target``; 569 rows."""
    import pandas as pd  # noqa: PLC0415 - the ML extras are optional
    from sklearn.datasets import load_breast_cancer  # noqa: PLC0415

    frame = load_breast_cancer(as_frame=True).frame
    area = frame["mean area"].to_numpy()
    frame.insert(0, "size", np.where(area < 450, "small", np.where(area < 800, "medium", "large")))
    return pd.DataFrame(frame)


def cancer_features() -> Any:
    return cancer_frame().drop(columns=CANCER_TARGET)


@functools.cache
def cancer_model() -> Any:
    """A Pipeline (impute + scale numbers, one-hot ``size``, logistic regression)."""
    from sklearn.compose import ColumnTransformer  # noqa: PLC0415
    from sklearn.impute import SimpleImputer  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.pipeline import Pipeline, make_pipeline  # noqa: PLC0415
    from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: PLC0415

    features = cancer_features()
    numeric = [c for c in features.columns if c != "size"]
    prep = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["size"]),
        ]
    )
    model = Pipeline([("prep", prep), ("clf", LogisticRegression(max_iter=2000))])
    return model.fit(features, cancer_frame()[CANCER_TARGET])


@functools.cache
def diabetes_frame() -> Any:
    """The diabetes regression data (442 rows, 10 features, ``target``)."""
    from sklearn.datasets import load_diabetes  # noqa: PLC0415

    return load_diabetes(as_frame=True, scaled=False).frame


@functools.cache
def diabetes_model() -> Any:
    """A Ridge regression on the diabetes features."""
    from sklearn.linear_model import Ridge  # noqa: PLC0415

    frame = diabetes_frame()
    return Ridge(alpha=1.0).fit(frame.drop(columns="target"), frame["target"])


@functools.cache
def digits_model() -> Any:
    """A tiny convolutional network on the 8x8 digits images (N, 1, 8, 8)."""
    import torch  # noqa: PLC0415
    from sklearn.datasets import load_digits  # noqa: PLC0415

    torch.manual_seed(0)
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    target = torch.tensor(digits.target, dtype=torch.long)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 6 * 6, 10),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(60):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(images), target)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    return model.eval()


class _Digits:
    """``predict`` for ``otel-drift baseline``: flattened 8x8 rows (pixels / 16) in,
    class indexes out."""

    def predict(self, rows: Any) -> Any:
        import torch  # noqa: PLC0415

        model = digits_model()  # trained (with gradients) before inference
        images = torch.tensor(np.asarray(rows, dtype=np.float32)).reshape(-1, 1, 8, 8)
        with torch.no_grad():
            return model(images).argmax(dim=1).numpy()


def digits_predictor() -> Any:
    return _Digits()
