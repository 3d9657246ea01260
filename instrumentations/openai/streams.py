"""Streams whose span ends with the stream: exhausted, closed, or failed.

The SDK's stream helpers (``ChatCompletionStream``, ``ResponseStream`` and
their async twins) wrap the stream ``create(stream=True)`` returned, here a
traced one, and close the HTTP response under it directly: their ``close``
calls :func:`helper_closed` to end the span.
"""

from __future__ import annotations

from typing import Any

import wrapt

from .call import Call


class TracedStream(wrapt.ObjectProxy[Any]):
    def __init__(self, stream: Any, call: Call) -> None:
        super().__init__(stream)
        self._self_call = call
        self._self_iterator: Any = None

    def __iter__(self) -> TracedStream:
        return self

    def __next__(self) -> Any:
        if self._self_iterator is None:
            self._self_iterator = iter(self.__wrapped__)
        try:
            item = next(self._self_iterator)
        except StopIteration:
            self._self_call.finish()
            raise
        except Exception as error:
            self._self_call.finish(error)
            raise
        self._self_call.chunk(item)
        return item

    def __enter__(self) -> TracedStream:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc)
        finally:
            self._self_call.finish()

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_call.finish()


class TracedAsyncStream(wrapt.ObjectProxy[Any]):
    def __init__(self, stream: Any, call: Call) -> None:
        super().__init__(stream)
        self._self_call = call
        self._self_iterator: Any = None

    def __aiter__(self) -> TracedAsyncStream:
        return self

    async def __anext__(self) -> Any:
        if self._self_iterator is None:
            self._self_iterator = self.__wrapped__.__aiter__()
        try:
            item = await self._self_iterator.__anext__()
        except StopAsyncIteration:
            self._self_call.finish()
            raise
        except Exception as error:
            self._self_call.finish(error)
            raise
        self._self_call.chunk(item)
        return item

    async def __aenter__(self) -> TracedAsyncStream:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc)
        finally:
            self._self_call.finish()

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            self._self_call.finish()


def helper_closed(helper: Any) -> None:
    """A stream helper was closed: end the span of the traced stream it reads, if any."""
    raw = getattr(helper, "_raw_stream", None)
    if isinstance(raw, TracedStream | TracedAsyncStream):
        raw._self_call.finish()
