"""The OpenAI SDK's stream helpers: ``chat.completions.stream``, ``responses.stream``
(and ``client.beta``'s aliases), sync and async, against the tiny server on 127.0.0.1.

They call ``create(stream=True)`` themselves: exactly one span per call, whose
``gen_ai.*`` attributes are read from the chunks the helper consumes, which
ends when the stream is exhausted or the ``with`` block exits (after an early
``break``, an explicit ``close()`` or an exception too), and the caller gets
the same events as without instrumentation.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.ml.openai_server import MODEL, Behaviour, openai_server
from tests.ml.support import Drift, drift, need

need("openai")

import openai  # noqa: E402
from otel_drift.instrumentation.openai import OpenAIInstrumentor  # noqa: E402

EXPECTATIONS = """
version: 1
expectations:
  - name: llm
    match: {span_kind: client, attributes: {gen_ai.request.model: tiny-1}}
    window: {spans: 1000}
    watch:
      latency: {source: span.duration, unit: ms, constraints: {max: 10000}}
"""

MESSAGES: Any = [{"role": "user", "content": "say five words"}]
WORDS = ["w0", "w1", "w2", "w3", "w4"]
USAGE: Any = {"include_usage": True}


@pytest.fixture
def server() -> Iterator[tuple[str, Behaviour]]:
    with openai_server() as running:
        yield running


@pytest.fixture
def watched() -> Iterator[Drift]:
    pipeline = drift(EXPECTATIONS)
    OpenAIInstrumentor().instrument(
        tracer_provider=pipeline.provider, drift_processor=pipeline.processor
    )
    yield pipeline
    OpenAIInstrumentor().uninstrument()
    pipeline.shutdown()


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key="test", max_retries=0)


def _async_client(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url, api_key="test", max_retries=0)


def _one_span(pipeline: Drift) -> dict[str, Any]:
    """The only model span, ended; also exactly one call reached the engine."""
    (span,) = pipeline.model_spans()
    assert span.end_time is not None
    assert span.name == "chat tiny-1" and span.kind.name == "CLIENT"
    pipeline.flush()
    (state,) = pipeline.processor.engine.watch_states()
    assert state.total_valid == 1
    return dict(span.attributes or {})


def _assert_complete(attributes: dict[str, Any], finish: str, response_id: str) -> None:
    assert attributes["gen_ai.request.model"] == MODEL
    assert attributes["gen_ai.response.model"] == MODEL
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.response.id"] == response_id
    assert attributes["gen_ai.response.finish_reasons"] == (finish,)
    assert attributes["gen_ai.usage.output_tokens"] == 5
    input_tokens = attributes["gen_ai.usage.input_tokens"]
    assert isinstance(input_tokens, int) and input_tokens > 0
    first = attributes["gen_ai.response.time_to_first_chunk"]
    assert isinstance(first, float) and 0 <= first < 10


def _chat_events(client: openai.OpenAI) -> tuple[list[Any], str | None]:
    with client.chat.completions.stream(
        model=MODEL, messages=MESSAGES, stream_options=USAGE
    ) as stream:
        events = [(e.type, getattr(e, "delta", None)) for e in stream]
        final = stream.get_final_completion().choices[0].message.content
    return events, final


def _responses_events(client: openai.OpenAI) -> tuple[list[Any], str]:
    with client.responses.stream(model=MODEL, input="say five words") as stream:
        events = [(e.type, getattr(e, "delta", None)) for e in stream]
        final = stream.get_final_response().output_text
    return events, final


@pytest.mark.parametrize(
    ("run", "finish", "response_id"),
    [(_chat_events, "stop", "chatcmpl-1"), (_responses_events, "completed", "resp_1")],
    ids=["chat", "responses"],
)
def test_sync_helper_one_span_and_unchanged_content(
    server: tuple[str, Behaviour],
    run: Callable[[openai.OpenAI], tuple[list[Any], str]],
    finish: str,
    response_id: str,
) -> None:
    url, _ = server
    plain = run(_client(url))  # what the caller gets without instrumentation
    pipeline = drift(EXPECTATIONS)
    OpenAIInstrumentor().instrument(
        tracer_provider=pipeline.provider, drift_processor=pipeline.processor
    )
    try:
        traced = run(_client(url))
        _assert_complete(_one_span(pipeline), finish, response_id)
    finally:
        OpenAIInstrumentor().uninstrument()
        pipeline.shutdown()
    assert traced == plain
    events, final = traced
    deltas = [d for kind, d in events if kind.endswith("delta") and d]
    assert [d.strip() for d in deltas] == WORDS
    assert final == "".join(deltas)


def test_beta_aliases_are_traced_too(server: tuple[str, Behaviour], watched: Drift) -> None:
    url, _ = server
    beta = _client(url).beta
    chat = getattr(beta, "chat", None)
    if chat is None:
        pytest.skip("this openai version has no client.beta.chat")
    with chat.completions.stream(model=MODEL, messages=MESSAGES, stream_options=USAGE) as stream:
        stream.until_done()
    _assert_complete(_one_span(watched), "stop", "chatcmpl-1")


def test_early_break_ends_the_span(server: tuple[str, Behaviour], watched: Drift) -> None:
    url, _ = server
    client = _client(url)
    with client.chat.completions.stream(model=MODEL, messages=MESSAGES) as stream:
        for event in stream:
            if event.type == "content.delta":
                break
        assert watched.model_spans() == []  # still open inside the block
    attributes = _one_span(watched)
    assert attributes["gen_ai.response.model"] == MODEL
    assert "gen_ai.usage.output_tokens" not in attributes  # never read that far
    assert "error.type" not in attributes
    watched.exporter.clear()
    with client.responses.stream(model=MODEL, input="hi") as responses:
        next(iter(responses))
    (span,) = watched.model_spans()
    assert span.end_time is not None


def test_explicit_close_then_exit_ends_it_once(
    server: tuple[str, Behaviour], watched: Drift
) -> None:
    url, _ = server
    with _client(url).responses.stream(model=MODEL, input="hi") as stream:
        next(iter(stream))
        stream.close()
        assert len(watched.model_spans()) == 1
    _one_span(watched)


def test_exception_in_the_block_ends_the_span(
    server: tuple[str, Behaviour], watched: Drift
) -> None:
    url, _ = server
    with (
        pytest.raises(KeyError),
        _client(url).chat.completions.stream(model=MODEL, messages=MESSAGES) as stream,
    ):
        for _ in stream:
            raise KeyError("the caller's own bug")
    _one_span(watched)


def test_server_error_on_enter(server: tuple[str, Behaviour], watched: Drift) -> None:
    url, behaviour = server
    behaviour.fail = True
    manager = _client(url).responses.stream(model=MODEL, input="hi")
    assert watched.model_spans() == []  # no request before the block is entered
    with pytest.raises(openai.InternalServerError), manager:
        pass
    (span,) = watched.model_spans()
    assert span.status.status_code.name == "ERROR"
    assert [e.name for e in span.events] == ["exception"]


def test_async_helpers(server: tuple[str, Behaviour], watched: Drift) -> None:
    url, _ = server

    async def run() -> tuple[list[str], str, list[str]]:
        client = _async_client(url)
        async with client.chat.completions.stream(
            model=MODEL, messages=MESSAGES, stream_options=USAGE
        ) as chat:
            deltas = [e.delta async for e in chat if e.type == "content.delta"]
        async with client.responses.stream(model=MODEL, input="say five words") as responses:
            kinds: list[str] = [e.type async for e in responses]
            text = (await responses.get_final_response()).output_text
        await client.close()
        return deltas, text, kinds

    deltas, text, kinds = asyncio.run(run())
    assert deltas == WORDS
    assert text == " ".join(WORDS)
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    chat, responses = (dict(s.attributes or {}) for s in watched.model_spans())
    _assert_complete(chat, "stop", "chatcmpl-1")
    _assert_complete(responses, "completed", "resp_1")
    watched.flush()
    (state,) = watched.processor.engine.watch_states()
    assert state.total_valid == 2


def test_async_early_exit_and_exception(server: tuple[str, Behaviour], watched: Drift) -> None:
    url, _ = server

    async def run() -> None:
        client = _async_client(url)
        async with client.chat.completions.stream(model=MODEL, messages=MESSAGES) as chat:
            async for _ in chat:
                break
        assert len(watched.model_spans()) == 1
        with pytest.raises(KeyError):
            async with client.responses.stream(model=MODEL, input="hi") as responses:
                async for _ in responses:
                    raise KeyError("the caller's own bug")
        await client.close()

    asyncio.run(run())
    spans = watched.model_spans()
    assert len(spans) == 2 and all(s.end_time is not None for s in spans)
    watched.flush()
    (state,) = watched.processor.engine.watch_states()
    assert state.total_valid == 2


def test_instrumenting_before_openai_is_imported() -> None:
    """Every class is wrapped when openai is imported later (one import hook per module)."""
    code = """
from otel_drift.instrumentation.openai import OpenAIInstrumentor
OpenAIInstrumentor().instrument()
import openai
from openai.lib.streaming.chat import _completions as chat
from openai.lib.streaming.responses import _responses as responses
from openai.resources.chat.completions import completions
from openai.resources.responses import responses as resources
wrapped = [
    hasattr(owner.__dict__[method], "__wrapped__")
    for owner, method in [
        (completions.Completions, "create"), (completions.AsyncCompletions, "create"),
        (resources.Responses, "create"), (resources.AsyncResponses, "create"),
        (chat.ChatCompletionStream, "close"), (chat.AsyncChatCompletionStream, "close"),
        (responses.ResponseStream, "close"), (responses.AsyncResponseStream, "close"),
    ]
]
assert all(wrapped), wrapped
"""
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
