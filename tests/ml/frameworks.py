"""Per-framework models trained on breast cancer (scikit-learn's copy), and how to serve them.

Each ``Framework`` trains a real model, serves a DataFrame batch the way an
application would call that library, and offers ``predictor()``: an object
with ``predict(frame)`` that ``otel-drift baseline --model`` runs for the
prediction baseline (``tests.ml.frameworks:<name>_predictor``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tests.ml.models import CANCER_TARGET, cancer_frame


def numeric_frame() -> Any:
    """The 30 numeric breast cancer features (no ``size``, no target)."""
    return cancer_frame().drop(columns=[CANCER_TARGET, "size"])


def labels() -> Any:
    return cancer_frame()[CANCER_TARGET].to_numpy()


@dataclass(frozen=True)
class Framework:
    name: str
    module: str
    instrumentor: str
    #: Calls the model on a DataFrame batch as an application would.
    serve: Callable[[Any], Any]
    #: True when features are known by index only (tensors, ONNX feeds).
    by_index: bool


# -- XGBoost -------------------------------------------------------------------


@functools.cache
def xgboost_model() -> Any:
    import xgboost  # noqa: PLC0415

    model = xgboost.XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1)
    return model.fit(numeric_frame(), labels())


def xgboost_predictor() -> Any:
    return xgboost_model()


# -- LightGBM ------------------------------------------------------------------


@functools.cache
def lightgbm_model() -> Any:
    import lightgbm  # noqa: PLC0415

    model = lightgbm.LGBMClassifier(n_estimators=20, num_leaves=8, n_jobs=1, verbose=-1)
    return model.fit(numeric_frame(), labels())


def lightgbm_predictor() -> Any:
    return lightgbm_model()


# -- PyTorch -------------------------------------------------------------------


@functools.cache
def torch_model() -> Any:
    import torch  # noqa: PLC0415

    torch.manual_seed(0)
    x = numeric_frame().to_numpy(dtype=np.float32)
    mean, std = x.mean(axis=0), x.std(axis=0)
    scale = torch.nn.Linear(30, 30)
    with torch.no_grad():
        # Standardization inside the model: it takes raw features, as served.
        scale.weight.copy_(torch.diag(torch.tensor(1.0 / std)))
        scale.bias.copy_(torch.tensor(-mean / std))
    scale.requires_grad_(False)
    model = torch.nn.Sequential(
        scale, torch.nn.Linear(30, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    inputs, target = torch.tensor(x), torch.tensor(labels(), dtype=torch.long)
    model.train()
    for _ in range(150):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(inputs), target)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    return model.eval()


def torch_serve(frame: Any) -> Any:
    import torch  # noqa: PLC0415

    with torch.no_grad():
        return torch_model()(torch.tensor(frame.to_numpy(dtype=np.float32)))


class _Predictor:
    def __init__(self, run: Callable[[Any], Any]) -> None:
        self.run = run

    def predict(self, frame: Any) -> Any:
        return self.run(frame)


def torch_predictor() -> Any:
    return _Predictor(lambda frame: torch_serve(frame).numpy())


# -- ONNX Runtime (a scikit-learn model exported with skl2onnx) ------------------


@functools.cache
def onnx_session() -> Any:
    import onnxruntime  # noqa: PLC0415
    from skl2onnx import to_onnx  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.pipeline import make_pipeline  # noqa: PLC0415
    from sklearn.preprocessing import StandardScaler  # noqa: PLC0415

    x = numeric_frame().to_numpy(dtype=np.float32)
    fitted = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, labels())
    exported = to_onnx(fitted, x[:1], options={"zipmap": False})
    exported.graph.name = "cancer_onnx"
    return onnxruntime.InferenceSession(
        exported.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def onnx_serve(frame: Any) -> Any:
    session = onnx_session()
    name = session.get_inputs()[0].name
    return session.run(None, {name: frame.to_numpy(dtype=np.float32)})


def onnxruntime_predictor() -> Any:
    return _Predictor(lambda frame: onnx_serve(frame)[0])


FRAMEWORKS = {
    "xgboost": Framework(
        "xgboost",
        "xgboost",
        "XGBoostInstrumentor",
        lambda frame: xgboost_model().predict(frame),
        by_index=False,
    ),
    "lightgbm": Framework(
        "lightgbm",
        "lightgbm",
        "LightGBMInstrumentor",
        lambda frame: lightgbm_model().predict(frame),
        by_index=False,
    ),
    "torch": Framework("torch", "torch", "TorchInstrumentor", torch_serve, by_index=True),
    "onnxruntime": Framework(
        "onnxruntime", "onnxruntime", "OnnxRuntimeInstrumentor", onnx_serve, by_index=True
    ),
}
