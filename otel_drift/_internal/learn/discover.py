"""Discovery: which expectations a finished span belongs to, and the values it gives each.

A span is read as plain data (:class:`SpanRecord`: name, kind, scope,
attributes, times, status, events), so the same discovery serves a recorded
file (``otel-drift baseline --from-traces``) and live spans. Each
expectation is named by a :class:`Key`:

* ``route``: a server span with ``http.route``, and its method;
* ``mix``: every server span: the service's traffic mix of routes and methods;
* ``client``: a client span's target, ``server.address`` (``net.peer.name``
  before the stable HTTP conventions) and its URL template
  (``url.template``, or ``http.route``) when there is one;
* ``llm``: a span with ``gen_ai.request.model``: tokens, latency, finish reasons;
* ``flag``: a ``feature_flag.evaluation`` event (the OpenFeature hook's) or a
  span with ``feature_flag.key``: the variant.

Both HTTP semantic-convention modes are read: ``http.request.method`` /
``http.response.status_code`` / ``server.address`` and the old
``http.method`` / ``http.status_code`` / ``net.peer.name``; the key keeps
which attribute named the method, so the learned ``match`` uses the name
the service sends. Values are numbers (``duration``, tokens) and labels
(``status``: the status class, ``2xx``...; ``shape``: ``drift.json.shape``,
set by otel-drift's JSON instrumentations; ``route``, ``method``,
``variant``, ``finish``).

>>> record = SpanRecord("GET /orders", "server", "flask", {"http.request.method": "GET",
...     "http.route": "/orders", "http.response.status_code": 200}, 0, 12_500_000)
>>> for key, values in discover(record):
...     print(key.family, repr(key.target), values)
route '/orders' {'duration': 12.5, 'status': '2xx'}
mix '' {'route': '/orders', 'method': 'GET'}
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple
from urllib.parse import urlsplit

from otel_drift._internal.expectations.model import (
    DEFAULT_STATUS_CODE_ATTRIBUTES,
    JSON_SHAPE_ATTRIBUTE,
)
from otel_drift._internal.values import label, status_class

Family = Literal["route", "mix", "client", "llm", "flag"]

#: The method's attribute: the stable name first, then the old one.
METHOD_ATTRIBUTES = ("http.request.method", "http.method")
#: A client span's host: stable, then old.
HOST_ATTRIBUTES = ("server.address", "net.peer.name")
#: A client span's URL template.
TEMPLATE_ATTRIBUTES = ("url.template", "http.route")
#: A client span's full URL, where the host attribute is missing.
URL_ATTRIBUTES = ("url.full", "http.url")
ROUTE = "http.route"
MODEL = "gen_ai.request.model"
INPUT_TOKENS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
OUTPUT_TOKENS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
FINISH_REASONS = "gen_ai.response.finish_reasons"
FLAG_KEY = "feature_flag.key"
VARIANT_ATTRIBUTES = ("feature_flag.result.variant", "feature_flag.variant")
#: Where the OpenFeature hook's evaluations are matched (``instrumentations/openfeature``).
FLAG_EVENT = "feature_flag.evaluation"
FLAG_SCOPE = "otel_drift.instrumentation.openfeature"

#: Values of one span for one expectation: watched value -> number or label.
Values = dict[str, float | str]


class Key(NamedTuple):
    """One expectation to learn: its family, target and the attribute names that match it."""

    family: Family
    #: The route, ``host`` + template, model or flag key ("" for the mix).
    target: str
    #: The method (routes; "" where not known).
    method: str = ""
    #: Which attribute names matched: (attribute, value) pairs, in order.
    match: tuple[tuple[str, str], ...] = ()
    #: The span kind the key's spans had ("" for flag events).
    kind: str = ""
    #: (attribute, regular expression) pairs that match it too: a client span
    #: with no host attribute, only its URL (old-convention requests spans).
    regexes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """A finished span as plain data. Times in nanoseconds; ``kind`` as in ``span_kind:``."""

    name: str
    kind: str
    scope: str
    attributes: Mapping[str, object]
    start_ns: int
    end_ns: int
    status: str = "UNSET"
    #: (name, attributes) of each span event.
    events: Sequence[tuple[str, Mapping[str, object]]] = field(default=())


def _first(attributes: Mapping[str, object], names: Sequence[str]) -> tuple[str, object]:
    for name in names:
        value = attributes.get(name)
        if value is not None:
            return name, value
    return "", None


def _status(attributes: Mapping[str, object]) -> str | None:
    _, code = _first(attributes, DEFAULT_STATUS_CODE_ATTRIBUTES)
    found = label(status_class(code)) if code is not None else None
    return found


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _http_values(record: SpanRecord) -> Values:
    values: Values = {"duration": (record.end_ns - record.start_ns) / 1e6}
    status = _status(record.attributes)
    if status is not None:
        values["status"] = status
    shape = record.attributes.get(JSON_SHAPE_ATTRIBUTE)
    if isinstance(shape, str):
        values["shape"] = shape
    return values


def _server(record: SpanRecord) -> list[tuple[Key, Values]]:
    attributes = record.attributes
    method_name, method = _first(attributes, METHOD_ATTRIBUTES)
    method_text = label(method) or "" if method is not None else ""
    route = attributes.get(ROUTE)
    mix: Values = {}
    found: list[tuple[Key, Values]] = []
    if isinstance(route, str):
        mix["route"] = route
        match = ((ROUTE, route), (method_name, method_text)) if method_text else ((ROUTE, route),)
        found.append((Key("route", route, method_text, match, "server"), _http_values(record)))
    if method_text:
        mix["method"] = method_text
    found.append((Key("mix", "", "", (), "server"), mix))
    return found


def _client(record: SpanRecord) -> list[tuple[Key, Values]]:
    attributes = record.attributes
    host_name, host = _first(attributes, HOST_ATTRIBUTES)
    if not isinstance(host, str):
        return _client_by_url(record)
    template_name, template = _first(attributes, TEMPLATE_ATTRIBUTES)
    match: tuple[tuple[str, str], ...] = ((host_name, host),)
    target = host
    if isinstance(template, str):
        match += ((template_name, template),)
        target = f"{host}{template}"
    return [(Key("client", target, "", match, "client"), _http_values(record))]


def _client_by_url(record: SpanRecord) -> list[tuple[Key, Values]]:
    """A client span with only its URL: the target is its scheme, host and port."""
    url_name, url = _first(record.attributes, URL_ATTRIBUTES)
    if not isinstance(url, str):
        return []
    parts = urlsplit(url)
    if not parts.netloc:
        return []
    origin = f"{parts.scheme}://{parts.netloc}"
    regexes = ((url_name, f"^{re.escape(origin)}(/|$)"),)
    return [(Key("client", parts.netloc, "", (), "client", regexes), _http_values(record))]


def _llm(record: SpanRecord, model: str) -> list[tuple[Key, Values]]:
    attributes = record.attributes
    values: Values = {"duration": (record.end_ns - record.start_ns) / 1e6}
    for name, keys in (("input_tokens", INPUT_TOKENS), ("output_tokens", OUTPUT_TOKENS)):
        number = _number(_first(attributes, keys)[1])
        if number is not None:
            values[name] = number
    reasons = attributes.get(FINISH_REASONS)
    if isinstance(reasons, str):
        values["finish"] = reasons
    elif isinstance(reasons, Sequence) and reasons:
        values["finish"] = ",".join(str(reason) for reason in reasons)
    return [(Key("llm", model, "", ((MODEL, model),), record.kind), values)]


def _flag(attributes: Mapping[str, object], kind: str) -> tuple[Key, Values] | None:
    key = attributes.get(FLAG_KEY)
    if not isinstance(key, str):
        return None
    variant = label(_first(attributes, VARIANT_ATTRIBUTES)[1])
    return Key("flag", key, "", ((FLAG_KEY, key),), kind), {"variant": variant} if variant else {}


def discover(record: SpanRecord) -> list[tuple[Key, Values]]:
    """The expectations ``record`` belongs to, each with the values it gives."""
    attributes = record.attributes
    model = attributes.get(MODEL)
    found: list[tuple[Key, Values]]
    if isinstance(model, str):
        found = _llm(record, model)  # an LLM call's client span is the model's, not a target's
    elif record.kind == "server":
        found = _server(record)
    elif record.kind == "client":
        found = _client(record)
    else:
        found = []
    flag = _flag(attributes, record.kind)
    if flag is not None:
        found.append(flag)
    for name, event_attributes in record.events:
        if name == FLAG_EVENT:
            flag = _flag(event_attributes, "")
            if flag is not None:
                found.append(flag)
    return found
