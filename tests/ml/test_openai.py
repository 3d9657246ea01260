"""OpenAI SDK: chat completions and responses, sync/async/streaming, against a tiny
OpenAI-compatible server on 127.0.0.1; gen_ai.* attributes; token drift; violations."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
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
    window: {spans: 20}
    min_samples: 20
    watch:
      output_tokens:
        attribute: gen_ai.usage.output_tokens
        baseline: {bins: [0, 4, 8, 16, 64], fractions: [0, 1, 0, 0]}
        constraints: {max: 32}
      latency:
        source: span.duration
        unit: ms
        constraints: {max: 10000}
"""


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


def _attributes(pipeline: Drift) -> list[dict[str, Any]]:
    return [dict(s.attributes or {}) for s in pipeline.model_spans()]


MESSAGES: Any = [{"role": "user", "content": "say five words"}]


def test_chat_completion_span(server: tuple[str, Behaviour], watched: Drift) -> None:
    url, _ = server
    reply = _client(url).chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=50)
    assert reply.choices[0].message.content == "w0 w1 w2 w3 w4"
    (span,) = watched.model_spans()
    assert span.name == "chat tiny-1" and span.kind.name == "CLIENT"
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == MODEL
    assert attributes["gen_ai.response.model"] == MODEL
    assert attributes["gen_ai.request.max_tokens"] == 50
    assert attributes["gen_ai.usage.output_tokens"] == 5
    input_tokens = attributes["gen_ai.usage.input_tokens"]
    assert isinstance(input_tokens, int) and input_tokens > 0
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["server.address"] == "127.0.0.1"


def test_chat_stream_span_ends_with_the_stream(
    server: tuple[str, Behaviour], watched: Drift
) -> None:
    url, _ = server
    stream = _client(url).chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert watched.model_spans() == []  # still streaming
    words = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert words == ["w0", "w1", "w2", "w3", "w4"]
    (attributes,) = _attributes(watched)
    assert attributes["gen_ai.usage.output_tokens"] == 5
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.request.stream"] is True
    first_chunk = attributes["gen_ai.response.time_to_first_chunk"]
    assert isinstance(first_chunk, float) and 0 <= first_chunk < 10


def test_responses_whole_and_streamed(server: tuple[str, Behaviour], watched: Drift) -> None:
    url, _ = server
    client = _client(url)
    response = client.responses.create(model=MODEL, input="hello there")
    assert response.output_text == "w0 w1 w2 w3 w4"
    with client.responses.create(model=MODEL, input="hello", stream=True) as stream:
        kinds = [event.type for event in stream]
    assert kinds[-1] == "response.completed"
    whole, streamed = _attributes(watched)
    for attributes in (whole, streamed):
        assert attributes["gen_ai.usage.output_tokens"] == 5
        assert attributes["gen_ai.response.id"] == "resp_1"
        assert attributes["gen_ai.response.finish_reasons"] == ("completed",)


def test_async_chat_and_responses(server: tuple[str, Behaviour], watched: Drift) -> None:
    url, _ = server

    async def run() -> list[str]:
        client = openai.AsyncOpenAI(base_url=url, api_key="test", max_retries=0)
        await client.chat.completions.create(model=MODEL, messages=MESSAGES)
        stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        words = [c.choices[0].delta.content async for c in stream if c.choices[0].delta.content]
        await client.responses.create(model=MODEL, input="hi")
        await client.close()
        return [w for w in words if w]

    assert asyncio.run(run()) == ["w0", "w1", "w2", "w3", "w4"]
    names = [s.name for s in watched.model_spans()]
    assert names == ["chat tiny-1"] * 3
    assert [a.get("gen_ai.usage.output_tokens") for a in _attributes(watched)] == [5, None, 5]


def test_server_error_passes_through_and_marks_the_span(
    server: tuple[str, Behaviour], watched: Drift
) -> None:
    url, behaviour = server
    behaviour.fail = True
    with pytest.raises(openai.InternalServerError):
        _client(url).chat.completions.create(model=MODEL, messages=MESSAGES)
    (span,) = watched.model_spans()
    assert span.status.status_code.name == "ERROR"


def test_token_drift_and_violations(server: tuple[str, Behaviour], watched: Drift) -> None:
    url, behaviour = server
    client = _client(url)
    for _ in range(20):
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    behaviour.output_tokens = 40  # the model got verbose: more tokens, longer answers
    for _ in range(20):
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    watched.flush()
    statuses = [{w.watch: w.status for w in window.watches} for window in watched.windows]
    assert statuses == [
        {"output_tokens": 0, "latency": 0},
        {"output_tokens": 2, "latency": 0},
    ]
    events = [e for s in watched.model_spans() for e in s.events]
    assert len(events) == 20
    assert {(e.attributes or {}).get("drift.rule") for e in events} == {"max"}
    states = {s.watch.name: s for s in watched.processor.engine.watch_states()}
    assert states["latency"].total_valid == 40
    assert states["output_tokens"].violations["max"] == 20
