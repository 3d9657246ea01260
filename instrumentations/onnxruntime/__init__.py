"""ONNX Runtime instrumentation: one span per ``InferenceSession.run``.

The model is known by its ONNX graph's name unless named with ``name_model``.
Features come from the input feed: a single 2-D input is read by column index;
several inputs of one value per row each (``{"age": (n, 1), ...}``) are
features named by input. The prediction is the first requested output.

    from otel_drift.instrumentation.onnxruntime import OnnxRuntimeInstrumentor
    OnnxRuntimeInstrumentor().instrument()
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection
from types import ModuleType
from typing import Any

from .._ml import ModelCall, ModelInstrumentor, features_of
from .._ml.inputs import Array, Features, named_columns
from .._ml.outputs import prediction_array
from .package import _instruments
from .version import __version__

__all__ = ["OnnxRuntimeInstrumentor", "__version__"]

#: Attribute caching a session's graph name (asking ONNX Runtime is not free).
_GRAPH_NAME = "_otel_drift_graph_name"


class OnnxRuntimeInstrumentor(ModelInstrumentor):
    module = "onnxruntime"
    framework = "onnxruntime"
    scope = "otel_drift.instrumentation.onnxruntime"
    instruments: Collection[str] = _instruments

    def _patch(self) -> None:
        self.patcher.on_import("onnxruntime.capi.onnxruntime_inference_collection", self._on_ort)

    def _on_ort(self, module: ModuleType) -> None:
        owner = next(c for c in module.InferenceSession.__mro__ if "run" in c.__dict__)
        self.patcher.wrap(owner, "run", self._run)

    def _run(
        self,
        wrapped: Callable[..., Any],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        if instance is None:
            return wrapped(*args, **kwargs)
        feed = args[1] if len(args) > 1 else kwargs.get("input_feed")
        call = ModelCall(
            model=instance,
            operation="run",
            features=lambda: _features(feed),
            prediction=_first_output,
            default_name=_graph_name(instance),
        )
        return self.recorder.call(call, wrapped, args, kwargs)


def _graph_name(session: Any) -> str:
    name = getattr(session, _GRAPH_NAME, None)
    if isinstance(name, str):
        return name
    try:
        name = session.get_modelmeta().graph_name or "InferenceSession"
    except Exception:
        name = "InferenceSession"
    with contextlib.suppress(AttributeError):  # a session type that takes no attributes
        setattr(session, _GRAPH_NAME, name)
    return str(name)


def _features(feed: object) -> Features | None:
    if not isinstance(feed, dict) or not feed:
        return None
    if len(feed) == 1:
        return features_of(next(iter(feed.values())))
    return named_columns(feed)


def _first_output(outputs: object) -> Array | None:
    if isinstance(outputs, list | tuple) and outputs:
        return prediction_array(outputs[0])
    return None
