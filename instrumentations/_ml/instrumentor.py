"""The base of otel-drift's ML instrumentors (contrib-style ``BaseInstrumentor``)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Collection, Sequence
from typing import Any

from .._hooks import PatchingInstrumentor, require
from .inputs import Features
from .recorder import ModelCall, ModelCallRecorder, call_quietly, in_model_call

#: Reads a call's features from the model and the call's input.
FeatureReader = Callable[[Any, object], "Features | None"]


class ModelInstrumentor(PatchingInstrumentor):
    """Subclasses name their library and wrap it in :meth:`_patch`.

    ``instrument(tracer_provider=..., drift_processor=...)``: spans go to the
    given provider (default: the global one) and values to the given
    ``DriftSpanProcessor`` (default: the one ``opentelemetry-instrument``
    attached, if any).
    """

    #: Importable name of the instrumented library (``sklearn``, ``torch``).
    module: str
    #: ``ml.framework`` of its spans.
    framework: str
    #: Instrumentation scope; otel_drift.* scopes are skipped by the processor.
    scope: str
    instruments: Collection[str]

    def _set_up(self) -> None:
        self.recorder = ModelCallRecorder(self.framework, self.scope)

    def instrumentation_dependencies(self) -> Collection[str]:
        return self.instruments

    def _instrument(self, **kwargs: Any) -> None:
        require(self.module)
        self.recorder = ModelCallRecorder(
            self.framework,
            self.scope,
            kwargs.get("tracer_provider"),
            kwargs.get("drift_processor"),
        )
        self._patch()

    @abstractmethod
    def _patch(self) -> None:
        """Register the library's wraps with ``self.patcher.on_import``."""

    def wrap_inherited(
        self,
        cls: type,
        inference: Sequence[str],
        quiet: Sequence[str],
        module_prefix: str,
        *,
        features: FeatureReader,
        keywords: Sequence[str],
    ) -> None:
        """Wrap ``cls``'s methods where the library defines them (once per owner).

        ``inference`` methods make a model span; ``quiet`` ones (fit, score...)
        only keep inner calls from making spans. ``keywords`` name the input
        argument when it is not passed first.
        """
        for method in (*inference, *quiet):
            owner = next((c for c in cls.__mro__ if method in c.__dict__), None)
            if owner is None or not owner.__module__.startswith(module_prefix):
                continue
            wrapper = (
                self.quiet_wrapper
                if method in quiet
                else self.inference_wrapper(method, features, keywords)
            )
            self.patcher.wrap(owner, method, wrapper)

    @staticmethod
    def quiet_wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        return call_quietly(wrapped, args, kwargs)

    def inference_wrapper(
        self, operation: str, features: FeatureReader, keywords: Sequence[str]
    ) -> Callable[..., Any]:
        """A wrapt wrapper making one model span per call of ``operation``."""

        def wrapper(
            wrapped: Callable[..., Any],
            instance: Any,
            args: tuple[Any, ...],
            kwargs: dict[str, Any],
        ) -> Any:
            # Called on the class (not a fitted model), or inside a model call
            # (a Pipeline's steps, predict calling decision_function): no span.
            if instance is None or in_model_call():
                return wrapped(*args, **kwargs)
            data = args[0] if args else next((kwargs[k] for k in keywords if k in kwargs), None)
            call = ModelCall(
                model=instance,
                operation=operation,
                features=lambda: features(instance, data),
                data=data,
            )
            return self.recorder.call(call, wrapped, args, kwargs)

        return wrapper
