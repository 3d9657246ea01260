"""Reading an httpcore response body up to a limit, and handing every byte back.

The first chunks are taken from the response's own iterator; the stream is
then replaced by one that replays them and goes on with that same iterator,
so the application reads exactly the bytes the server sent, once. A read
error is re-raised where the application reads, not here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any


class ReplayStream:
    """Buffered chunks, then the rest of the original iterator; closes the original."""

    def __init__(
        self,
        chunks: list[bytes],
        rest: Iterator[bytes] | None,
        original: Any,
        error: BaseException | None,
    ) -> None:
        self._chunks = chunks
        self._rest = rest
        self._original = original
        self._error = error

    def __iter__(self) -> Iterator[bytes]:
        chunks, self._chunks = self._chunks, []
        yield from chunks
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if self._rest is not None:
            yield from self._rest

    def close(self) -> None:
        close = getattr(self._original, "close", None)
        if close is not None:
            close()


class AsyncReplayStream:
    def __init__(
        self,
        chunks: list[bytes],
        rest: AsyncIterator[bytes] | None,
        original: Any,
        error: BaseException | None,
    ) -> None:
        self._chunks = chunks
        self._rest = rest
        self._original = original
        self._error = error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks, self._chunks = self._chunks, []
        for chunk in chunks:
            yield chunk
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if self._rest is not None:
            async for chunk in self._rest:
                yield chunk

    async def aclose(self) -> None:
        aclose = getattr(self._original, "aclose", None)
        if aclose is not None:
            await aclose()


def read_up_to(stream: Any, limit: int) -> tuple[bytes | None, ReplayStream]:
    """(body, or None when over ``limit`` or failed; the stream to hand back)."""
    iterator = iter(stream)
    chunks: list[bytes] = []
    total = 0
    try:
        for chunk in iterator:
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                return None, ReplayStream(chunks, iterator, stream, None)
    except Exception as error:
        return None, ReplayStream(chunks, None, stream, error)
    return b"".join(chunks), ReplayStream(chunks, None, stream, None)


async def aread_up_to(stream: Any, limit: int) -> tuple[bytes | None, AsyncReplayStream]:
    iterator = stream.__aiter__()
    chunks: list[bytes] = []
    total = 0
    try:
        async for chunk in iterator:
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                return None, AsyncReplayStream(chunks, iterator, stream, None)
    except Exception as error:
        return None, AsyncReplayStream(chunks, None, stream, error)
    return b"".join(chunks), AsyncReplayStream(chunks, None, stream, None)
