"""Environment variables read by otel-drift.

Each one is also an ``opentelemetry-instrument`` flag: the ``OTEL_`` prefix is
dropped and the rest lower-cased, so ``OTEL_DRIFT_EXPECTATIONS`` is
``--drift_expectations``. A value that cannot be parsed is logged once and
replaced by the default.
"""

OTEL_DRIFT_ENABLED = "OTEL_DRIFT_ENABLED"
"""
.. envvar:: OTEL_DRIFT_ENABLED

``true`` (default) or ``false``. With ``false`` otel-drift attaches nothing.
"""

OTEL_DRIFT_EXPECTATIONS = "OTEL_DRIFT_EXPECTATIONS"
"""
.. envvar:: OTEL_DRIFT_EXPECTATIONS

Path of the expectations file (YAML or JSON). Unset: otel-drift stays off.
"""

OTEL_DRIFT_WINDOW = "OTEL_DRIFT_WINDOW"
"""
.. envvar:: OTEL_DRIFT_WINDOW

Default window for expectations that declare none: a whole number of spans
(``500``) or seconds with an ``s`` suffix (``60s``). Default: ``1000``.
"""

OTEL_DRIFT_QUEUE_SIZE = "OTEL_DRIFT_QUEUE_SIZE"
"""
.. envvar:: OTEL_DRIFT_QUEUE_SIZE

Capacity of the queue between the request threads and the drift worker, in
matched spans. When it is full, new values are dropped and counted in
``drift.dropped``; the request never waits. Default: ``65536``.
"""

OTEL_DRIFT_FLUSH_INTERVAL = "OTEL_DRIFT_FLUSH_INTERVAL"
"""
.. envvar:: OTEL_DRIFT_FLUSH_INTERVAL

How often, in milliseconds, the worker drains the queue. Default: ``200``.
"""

OTEL_DRIFT_MAX_CATEGORIES = "OTEL_DRIFT_MAX_CATEGORIES"
"""
.. envvar:: OTEL_DRIFT_MAX_CATEGORIES

Distinct categories tracked per watched value; the excess folds into
``__other__`` and is counted. Default: ``1000``.
"""

OTEL_DRIFT_VIOLATION_SPANS_PER_SECOND = "OTEL_DRIFT_VIOLATION_SPANS_PER_SECOND"
"""
.. envvar:: OTEL_DRIFT_VIOLATION_SPANS_PER_SECOND

Rate limit of ``drift.violation`` spans (per process). Violations over the
limit are still counted in ``drift.violations``. Default: ``10``.
"""

OTEL_DRIFT_CONSOLE = "OTEL_DRIFT_CONSOLE"
"""
.. envvar:: OTEL_DRIFT_CONSOLE

``true`` prints each drift status change on stderr. Default: ``false``.
"""

OTEL_DRIFT_OTLP_JSON_DIR = "OTEL_DRIFT_OTLP_JSON_DIR"
"""
.. envvar:: OTEL_DRIFT_OTLP_JSON_DIR

Folder where the ``otlp_json_file`` exporters write ``traces.jsonl`` and
``metrics.jsonl`` (one OTLP/JSON export request per line). Select them with
``OTEL_TRACES_EXPORTER=otlp_json_file`` and
``OTEL_METRICS_EXPORTER=otlp_json_file``. Default: ``otlp-json``.
"""

OTEL_DRIFT_VALUE_HISTOGRAMS = "OTEL_DRIFT_VALUE_HISTOGRAMS"
"""
.. envvar:: OTEL_DRIFT_VALUE_HISTOGRAMS

``true`` records every valid numeric watched value in a histogram
``drift.value.<expectation>.<watch>`` whose buckets are the baseline's bins
(advisory boundaries, so ``opentelemetry-instrument``'s MeterProvider uses
them). Off by default: it costs one ``Histogram.record`` (~4 us, on the
worker) per value, and ``drift.bin.count`` already carries the same counts.
Default: ``false``.
"""

__all__ = [
    "OTEL_DRIFT_CONSOLE",
    "OTEL_DRIFT_ENABLED",
    "OTEL_DRIFT_EXPECTATIONS",
    "OTEL_DRIFT_FLUSH_INTERVAL",
    "OTEL_DRIFT_MAX_CATEGORIES",
    "OTEL_DRIFT_OTLP_JSON_DIR",
    "OTEL_DRIFT_QUEUE_SIZE",
    "OTEL_DRIFT_VALUE_HISTOGRAMS",
    "OTEL_DRIFT_VIOLATION_SPANS_PER_SECOND",
    "OTEL_DRIFT_WINDOW",
]
