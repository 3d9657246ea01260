"""PyTorch instrumentation: one span per top-level ``nn.Module`` call in inference.

A call is inference when gradients are off (``torch.no_grad()``,
``torch.inference_mode()``) or the module is in ``eval()`` mode. Only the
outermost module call makes a span (``"forward <model name>"``); the
sub-modules it calls, and every call made while training, make none.
The input's first tensor gives the features (``(rows, -1)``: an image's
feature index is its flattened position); the output's first tensor (or a
dict's ``logits``) gives the prediction.

    from otel_drift.instrumentation.torch import TorchInstrumentor
    TorchInstrumentor().instrument()
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from types import ModuleType
from typing import Any

from .._ml import ModelCall, ModelInstrumentor, call_quietly, features_of
from .._ml.outputs import prediction_array
from .._ml.recorder import in_model_call
from .package import _instruments
from .version import __version__

__all__ = ["TorchInstrumentor", "__version__"]


class TorchInstrumentor(ModelInstrumentor):
    module = "torch"
    framework = "torch"
    scope = "otel_drift.instrumentation.torch"
    instruments: Collection[str] = _instruments

    def _patch(self) -> None:
        self.patcher.on_import("torch.nn.modules.module", self._on_module)

    def _on_module(self, module: ModuleType) -> None:
        import torch  # noqa: PLC0415 - imported by now

        grad_enabled = torch.is_grad_enabled

        def wrapper(
            wrapped: Callable[..., Any],
            instance: Any,
            args: tuple[Any, ...],
            kwargs: dict[str, Any],
        ) -> Any:
            # Every sub-module call passes here: the common case must stay cheap.
            if instance is None or in_model_call():
                return wrapped(*args, **kwargs)
            if grad_enabled() and instance.training:
                return call_quietly(wrapped, args, kwargs)
            x = args[0] if args else next(iter(kwargs.values()), None)
            call = ModelCall(
                model=instance,
                operation="forward",
                features=lambda: features_of(_first_tensor(x)),
                prediction=lambda output: prediction_array(_first_tensor(output)),
            )
            return self.recorder.call(call, wrapped, args, kwargs)

        self.patcher.wrap(module.Module, "__call__", wrapper)


def _first_tensor(value: object) -> object:
    """The first tensor of a (possibly nested) tuple/list/dict, else the value itself."""
    if isinstance(value, dict):
        found: object = value["logits"] if "logits" in value else next(iter(value.values()), None)
        value = found
    if isinstance(value, tuple | list) and value:
        return _first_tensor(value[0])
    return value
