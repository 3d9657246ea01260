"""OTLP/JSON file exporters: spans and metrics as JSON Lines, no collector needed.

Each export call appends one line to ``<dir>/traces.jsonl`` or ``<dir>/metrics.jsonl``:
an ``ExportTraceServiceRequest`` / ``ExportMetricsServiceRequest`` in the OTLP/JSON
encoding (lowerCamelCase keys, enums as integers, 64-bit integers as strings, trace and
span ids as hex), which is the format of the OpenTelemetry file exporter and of the
collector's ``otlpjsonfile`` receiver. ``<dir>`` is the ``directory`` argument, else
``OTEL_DRIFT_OTLP_JSON_DIR``, else ``otlp-json`` in the current directory.

Selected with ``OTEL_TRACES_EXPORTER=otlp_json_file`` and
``OTEL_METRICS_EXPORTER=otlp_json_file`` (entry points in ``pyproject.toml``).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

# protobuf ships no type information; `unused-ignore` keeps this line valid once
# types-protobuf is installed.
from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped,unused-ignore]
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricsData,
)
from opentelemetry.sdk.metrics.view import Aggregation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_drift.environment_variables import OTEL_DRIFT_OTLP_JSON_DIR

__all__ = [
    "DEFAULT_DIRECTORY",
    "METRICS_FILE_NAME",
    "TRACES_FILE_NAME",
    "OTLPJsonFileMetricExporter",
    "OTLPJsonFileSpanExporter",
    "read_otlp_json",
]

DEFAULT_DIRECTORY = "otlp-json"
TRACES_FILE_NAME = "traces.jsonl"
METRICS_FILE_NAME = "metrics.jsonl"

_logger = logging.getLogger(__name__)

# Proto bytes fields holding ids; OTLP/JSON writes them as hex, protobuf's JSON mapping
# as base64. Other bytes fields (an attribute's bytesValue) stay base64, as OTLP says.
_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId"})

_Request = ExportTraceServiceRequest | ExportMetricsServiceRequest

# One lock per file, not per exporter: two exporters given the same folder must not
# interleave their lines.
_file_locks: dict[Path, threading.Lock] = {}
_file_locks_guard = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    with _file_locks_guard:
        return _file_locks.setdefault(path, threading.Lock())


def _ids_to_hex(node: object) -> None:
    """Rewrite the id fields of a ``MessageToDict`` result from base64 to hex, in place."""
    # Every dict key here is a proto field name (attribute keys are values of "key"),
    # so a plain walk reaches spans, links and exemplars and nothing else.
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _ids_to_hex(value)
    elif isinstance(node, list):
        for item in node:
            _ids_to_hex(item)


def _to_otlp_json(request: _Request) -> dict[str, Any]:
    document: dict[str, Any] = MessageToDict(request, use_integers_for_enums=True)
    _ids_to_hex(document)
    return document


class _JsonLinesFile:
    """Appends one OTLP/JSON request per line; the part both exporters share."""

    def __init__(self, directory: str | os.PathLike[str] | None, file_name: str) -> None:
        if directory is None:
            directory = os.environ.get(OTEL_DRIFT_OTLP_JSON_DIR) or DEFAULT_DIRECTORY
        # Made absolute now: if the application changes directory later, its telemetry
        # must still land in the folder it was started with.
        self.path = Path(directory).absolute() / file_name
        self._lock = _lock_for(self.path)
        self._warned = False
        self._shut_down = False

    def append(self, encode: Callable[[], _Request]) -> bool:
        """Encode and append one request; ``False`` (never an exception) on failure."""
        if self._shut_down:
            _logger.warning("OTLP/JSON file exporter for %s is shut down; batch dropped", self.path)
            return False
        try:
            document = _to_otlp_json(encode())
            if not document:  # an empty batch: a "{}" line would carry nothing
                return True
            line = json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # Opened per batch: batches are seconds apart, a file deleted or rotated
                # meanwhile is recreated, and there is no handle to leak or share after fork.
                with self.path.open("a", encoding="utf-8") as stream:
                    stream.write(line + "\n")
                    stream.flush()
        except OSError as error:
            self._warn_once("cannot write %s: %s", self.path, error)
            return False
        except Exception:  # an encoding bug must not escape into the SDK's export thread
            self._warn_once("cannot encode a batch for %s", self.path, exc_info=True)
            return False
        return True

    def _warn_once(self, message: str, *args: object, exc_info: bool = False) -> None:
        # A full disk fails every batch; one warning says it, thousands would bury it.
        if not self._warned:
            self._warned = True
            _logger.warning(
                message + "; later failures of this exporter are not logged",
                *args,
                exc_info=exc_info,
            )

    def wait_idle(self, timeout_millis: float) -> bool:
        """Wait for a write in progress; lines are flushed as written, so that is all."""
        if self._lock.acquire(timeout=max(timeout_millis, 0) / 1000):
            self._lock.release()
            return True
        return False

    def shutdown(self, timeout_millis: float) -> None:
        self._shut_down = True
        self.wait_idle(timeout_millis)


class OTLPJsonFileSpanExporter(SpanExporter):
    """Appends each batch of spans to ``traces.jsonl`` as an OTLP/JSON line."""

    def __init__(self, *, directory: str | os.PathLike[str] | None = None) -> None:
        self._file = _JsonLinesFile(directory, TRACES_FILE_NAME)

    @property
    def path(self) -> Path:
        """The file written."""
        return self._file.path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._file.append(lambda: encode_spans(spans)):
            return SpanExportResult.SUCCESS
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._file.shutdown(timeout_millis=30_000)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._file.wait_idle(timeout_millis)


class OTLPJsonFileMetricExporter(MetricExporter):
    """Appends each metrics collection to ``metrics.jsonl`` as an OTLP/JSON line.

    Temporality is cumulative for every instrument unless ``preferred_temporality``
    says otherwise, as with the OTLP exporters.
    """

    def __init__(
        self,
        *,
        directory: str | os.PathLike[str] | None = None,
        preferred_temporality: dict[type, AggregationTemporality] | None = None,
        preferred_aggregation: dict[type, Aggregation] | None = None,
    ) -> None:
        # None means cumulative everywhere: that is the metric reader's default.
        super().__init__(
            preferred_temporality=preferred_temporality,
            preferred_aggregation=preferred_aggregation,
        )
        self._file = _JsonLinesFile(directory, METRICS_FILE_NAME)

    @property
    def path(self) -> Path:
        """The file written."""
        return self._file.path

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        if self._file.append(lambda: encode_metrics(metrics_data)):
            return MetricExportResult.SUCCESS
        return MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._file.wait_idle(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._file.shutdown(timeout_millis)


def read_otlp_json(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield the JSON object on each line of an OTLP/JSON Lines file, in order.

    Blank lines are ignored. Lines that are not a JSON object (such as a last line cut
    short when the writer was killed) are skipped and their count is logged once, when
    the iteration ends. A missing file raises ``OSError``.
    """
    skipped = 0
    first_skipped = 0
    try:
        # Bytes in, so json.loads decodes UTF-8 itself and bad bytes count as a bad line.
        with Path(path).open("rb") as stream:
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    document = json.loads(line)
                except ValueError:  # JSONDecodeError and UnicodeDecodeError
                    document = None
                if isinstance(document, dict):
                    yield document
                else:
                    skipped += 1
                    first_skipped = first_skipped or number
    finally:
        if skipped:
            _logger.warning(
                "skipped %d malformed line(s) in %s (first: line %d)", skipped, path, first_skipped
            )


def attribute_value(attribute: Mapping[str, Any]) -> Any:
    """The Python value of one OTLP/JSON ``KeyValue`` (scalars; None otherwise)."""
    value = attribute.get("value", {})
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    if "intValue" in value:
        return int(value["intValue"])  # int64 travels as a string in OTLP/JSON
    return None


def attributes_dict(items: list[Mapping[str, Any]]) -> dict[str, Any]:
    """An OTLP/JSON attribute list as a plain dict."""
    return {item["key"]: attribute_value(item) for item in items}
