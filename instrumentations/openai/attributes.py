"""``gen_ai.*`` attributes of OpenAI calls: from the request, the response, stream chunks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
SYSTEM = "gen_ai.system"  # the older name of the provider attribute
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
FINISH_REASONS = "gen_ai.response.finish_reasons"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
#: Seconds from the request to the first streamed chunk (no semantic convention yet).
TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
STREAMING = "gen_ai.request.stream"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"


def request_attributes(kwargs: Mapping[str, Any], instance: Any) -> dict[str, Any]:
    found: dict[str, Any] = {OPERATION: "chat", PROVIDER: "openai", SYSTEM: "openai"}
    model = kwargs.get("model")
    if isinstance(model, str):
        found[REQUEST_MODEL] = model
    for key, name in (
        ("max_tokens", REQUEST_MAX_TOKENS),
        ("max_completion_tokens", REQUEST_MAX_TOKENS),
        ("max_output_tokens", REQUEST_MAX_TOKENS),
        ("temperature", REQUEST_TEMPERATURE),
    ):
        value = kwargs.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            found[name] = value
    found[STREAMING] = bool(kwargs.get("stream"))
    try:
        url = instance._client.base_url
        if url.host:
            found[SERVER_ADDRESS] = str(url.host)
        if url.port:
            found[SERVER_PORT] = int(url.port)
    except Exception:  # a client without base_url: nothing to say
        pass
    return found


class ResponseState:
    """What the response (or the chunks of a stream) told so far."""

    def __init__(self) -> None:
        self.model: str | None = None
        self.id: str | None = None
        self.finish_reasons: list[str] = []
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None

    def read(self, item: Any) -> None:
        """A ChatCompletion, a chat chunk, a Response, or a Responses stream event."""
        response = getattr(item, "response", None)
        if response is not None and getattr(item, "type", "") in (
            "response.completed",
            "response.incomplete",
            "response.failed",
        ):
            item = response
        model, ident = getattr(item, "model", None), getattr(item, "id", None)
        if isinstance(model, str):
            self.model = model
        if isinstance(ident, str):
            self.id = ident
        for choice in getattr(item, "choices", None) or ():
            reason = getattr(choice, "finish_reason", None)
            if isinstance(reason, str):
                self.finish_reasons.append(reason)
        status = getattr(item, "status", None)
        if isinstance(status, str) and getattr(item, "object", None) == "response":
            details = getattr(item, "incomplete_details", None)
            reason = getattr(details, "reason", None) if details is not None else None
            self.finish_reasons.append(reason if isinstance(reason, str) else status)
        usage = getattr(item, "usage", None)
        if usage is not None:
            for name in ("prompt_tokens", "input_tokens"):
                value = getattr(usage, name, None)
                if isinstance(value, int):
                    self.input_tokens = value
            for name in ("completion_tokens", "output_tokens"):
                value = getattr(usage, name, None)
                if isinstance(value, int):
                    self.output_tokens = value

    def attributes(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.model is not None:
            found[RESPONSE_MODEL] = self.model
        if self.id is not None:
            found[RESPONSE_ID] = self.id
        if self.finish_reasons:
            found[FINISH_REASONS] = tuple(self.finish_reasons)
        if self.input_tokens is not None:
            found[INPUT_TOKENS] = self.input_tokens
        if self.output_tokens is not None:
            found[OUTPUT_TOKENS] = self.output_tokens
        return found
