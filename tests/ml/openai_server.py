"""A tiny OpenAI-compatible server on 127.0.0.1 for the tests: chat completions and
responses, whole or streamed (server-sent events: chat chunks, or the Responses
API's event sequence from ``response.created`` to ``response.completed``), with
token usage.

``output_tokens`` sets how many words each answer has (its usage counts them),
``fail`` makes every request a 500.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "tiny-1"


class Behaviour:
    def __init__(self) -> None:
        self.output_tokens = 5
        self.finish_reason = "stop"
        self.fail = False


def _words(n: int) -> list[str]:
    return [f"w{i}" for i in range(n)]


def _input_tokens(body: dict[str, Any]) -> int:
    text = json.dumps(body.get("messages", body.get("input", "")))
    return max(1, len(text.split()))


def _usage(body: dict[str, Any], output: int, responses: bool) -> dict[str, Any]:
    prompt = _input_tokens(body)
    if responses:
        return {
            "input_tokens": prompt,
            "output_tokens": output,
            "total_tokens": prompt + output,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        }
    return {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output}


def _message(words: list[str] | None, status: str = "completed") -> dict[str, Any]:
    """The assistant's output message (no content yet: ``words`` None)."""
    content = [] if words is None else [_text_part(words)]
    return {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": status,
        "content": content,
    }


def _text_part(words: list[str]) -> dict[str, Any]:
    return {"type": "output_text", "text": " ".join(words), "annotations": []}


def _response(body: dict[str, Any], words: list[str] | None, status: str) -> dict[str, Any]:
    """A Response; ``words`` None: one still in progress (no output, no usage yet)."""
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 0,
        "model": MODEL,
        "status": status,
        "output": [] if words is None else [_message(words)],
        "usage": None if words is None else _usage(body, len(words), responses=True),
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }


class _Handler(BaseHTTPRequestHandler):
    behaviour: Behaviour

    def log_message(self, *args: Any) -> None:  # quiet test output
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.behaviour.fail:
            self._send(500, {"error": {"message": "boom", "type": "server_error"}})
            return
        words = _words(self.behaviour.output_tokens)
        if self.path.endswith("/chat/completions"):
            self._chat(body, words)
        elif self.path.endswith("/responses"):
            self._responses(body, words)
        else:
            self._send(404, {"error": {"message": "not found"}})

    def _chat(self, body: dict[str, Any], words: list[str]) -> None:
        reason = self.behaviour.finish_reason
        if not body.get("stream"):
            message = {"role": "assistant", "content": " ".join(words)}
            self._send(
                200,
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "created": 0,
                    "model": MODEL,
                    "choices": [{"index": 0, "message": message, "finish_reason": reason}],
                    "usage": _usage(body, len(words), responses=False),
                },
            )
            return
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": MODEL}
        events = [
            {**base, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]}
            for w in words
        ]
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append({**base, "choices": [], "usage": _usage(body, len(words), False)})
        self._stream([(None, e) for e in events], done=True)

    def _responses(self, body: dict[str, Any], words: list[str]) -> None:
        if not body.get("stream"):
            self._send(200, _response(body, words, "completed"))
            return
        # The event sequence of the Responses API for one text message.
        place = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
        events: list[tuple[str, dict[str, Any]]] = [
            ("response.created", {"response": _response(body, None, "in_progress")}),
            ("response.in_progress", {"response": _response(body, None, "in_progress")}),
            (
                "response.output_item.added",
                {"output_index": 0, "item": _message(None, "in_progress")},
            ),
            ("response.content_part.added", {**place, "part": _text_part([])}),
        ]
        for i, word in enumerate(words):
            delta = word if i == 0 else f" {word}"
            events.append(("response.output_text.delta", {**place, "delta": delta, "logprobs": []}))
        events += [
            ("response.output_text.done", {**place, "text": " ".join(words), "logprobs": []}),
            ("response.content_part.done", {**place, "part": _text_part(words)}),
            ("response.output_item.done", {"output_index": 0, "item": _message(words)}),
            ("response.completed", {"response": _response(body, words, "completed")}),
        ]
        self._stream(
            [
                (kind, {"type": kind, "sequence_number": i, **e})
                for i, (kind, e) in enumerate(events)
            ],
            done=False,
        )

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, events: list[tuple[str | None, dict[str, Any]]], *, done: bool) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        self.close_connection = True
        try:
            for kind, event in events:
                prefix = f"event: {kind}\n" if kind else ""
                self.wfile.write(f"{prefix}data: {json.dumps(event)}\n\n".encode())
            if done:
                self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except ConnectionError:  # the client closed the stream early: nothing to send it
            return


@contextmanager
def openai_server() -> Iterator[tuple[str, Behaviour]]:
    """(base URL ending in /v1, behaviour) of a server that stops on exit."""
    behaviour = Behaviour()
    handler = type("Handler", (_Handler,), {"behaviour": behaviour})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", behaviour
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
