"""OpenAI SDK instrumentation: chat completions and responses, sync, async and streaming.

One CLIENT span per call, ``"chat <model>"``, from the request to the last
streamed chunk, with ``gen_ai.*`` attributes: the request and response model,
token usage (streams: when the server sends it, e.g. with
``stream_options={"include_usage": True}``), finish reasons, response id,
time to the first chunk. Expectations matching the span watch these like any
span attribute, its duration (the latency) and status; this instrumentation
hands them to the engine itself (its scope is one of otel-drift's).

The SDK's stream helpers (``client.chat.completions.stream(...)``,
``client.responses.stream(...)``, their async twins, and the ``client.beta``
aliases) call ``create(stream=True)`` themselves: that call makes the span,
once. Their stream's ``close`` (called when the ``with`` block exits, also
after an early ``break`` or an exception) ends it too, as exhausting it does.

    from otel_drift.instrumentation.openai import OpenAIInstrumentor
    OpenAIInstrumentor().instrument()
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from types import ModuleType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from .._hooks import PatchingInstrumentor, Wrapper, require
from .attributes import request_attributes
from .call import Call, Calls
from .package import _instruments
from .streams import TracedAsyncStream, TracedStream, helper_closed
from .version import __version__

__all__ = ["OpenAIInstrumentor", "__version__"]

#: (module, class, is_async) whose ``create`` is wrapped; the async ones return awaitables.
TARGETS = (
    ("openai.resources.chat.completions.completions", "Completions", False),
    ("openai.resources.chat.completions.completions", "AsyncCompletions", True),
    ("openai.resources.responses.responses", "Responses", False),
    ("openai.resources.responses.responses", "AsyncResponses", True),
)

#: (module, class, is_async) of the streams ``.stream()`` helpers yield: their
#: ``close`` closes the HTTP response, not the stream ``create`` returned, so
#: it must end the span as well.
HELPERS = (
    ("openai.lib.streaming.chat._completions", "ChatCompletionStream", False),
    ("openai.lib.streaming.chat._completions", "AsyncChatCompletionStream", True),
    ("openai.lib.streaming.responses._responses", "ResponseStream", False),
    ("openai.lib.streaming.responses._responses", "AsyncResponseStream", True),
)


class OpenAIInstrumentor(PatchingInstrumentor):
    def _set_up(self) -> None:
        self.calls = Calls(None, None)

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        require("openai")
        self.calls = Calls(kwargs.get("tracer_provider"), kwargs.get("drift_processor"))
        # One hook per module (the Patcher keeps the first one registered for a module).
        wraps: dict[str, list[tuple[str, str, Wrapper]]] = {}
        for module, cls, is_async in TARGETS:
            create = self._async_create if is_async else self._create
            wraps.setdefault(module, []).append((cls, "create", create))
        for module, cls, is_async in HELPERS:
            close = _async_helper_close if is_async else _helper_close
            wraps.setdefault(module, []).append((cls, "close", close))
        for module, targets in wraps.items():
            self.patcher.on_import(module, self._wrapper_for(targets))

    def _wrapper_for(self, targets: list[tuple[str, str, Wrapper]]) -> Callable[[ModuleType], None]:
        def apply(module: ModuleType) -> None:
            for cls, method, wrapper in targets:
                owner = getattr(module, cls, None)
                if owner is not None:
                    self.patcher.wrap(owner, method, wrapper)

        return apply

    def _begin(self, instance: Any, kwargs: dict[str, Any]) -> tuple[Call | None, object]:
        try:
            call = self.calls.start(request_attributes(kwargs, instance))
            token = otel_context.attach(trace.set_span_in_context(call.span))
            return call, token
        except Exception:
            self.calls.error("starting an OpenAI span")
            return None, None

    def _create(
        self,
        wrapped: Callable[..., Any],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        call, token = self._begin(instance, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as error:
            call.finish(error)
            raise
        finally:
            otel_context.detach(token)  # type: ignore[arg-type]
        return self._settle(call, result, TracedStream)

    async def _async_create(
        self,
        wrapped: Callable[..., Any],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        call, token = self._begin(instance, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as error:
            call.finish(error)
            raise
        finally:
            otel_context.detach(token)  # type: ignore[arg-type]
        return self._settle(call, result, TracedAsyncStream)

    @staticmethod
    def _settle(call: Call, result: Any, stream_type: type) -> Any:
        kind = type(result).__name__
        if kind in ("Stream", "AsyncStream"):
            return stream_type(result, call)  # the span ends with the stream
        call.chunk(result)
        call.first_chunk = None  # a whole response has no "first chunk"
        call.finish()
        return result


def _helper_close(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    try:
        return wrapped(*args, **kwargs)
    finally:
        helper_closed(instance)


async def _async_helper_close(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    try:
        return await wrapped(*args, **kwargs)
    finally:
        helper_closed(instance)
