"""Environment variables read by otel-drift.

Each one is also an ``opentelemetry-instrument`` flag: the ``OTEL_`` prefix is
dropped and the rest lower-cased, so ``OTEL_DRIFT_EXPECTATIONS`` is
``--drift_expectations``. A value that cannot be parsed is logged once and
replaced by the default. An ``OTEL_DRIFT_*`` name not listed here is logged
too (with the closest name that is), since it is otherwise not read at all.
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

OTEL_DRIFT_LEARN = "OTEL_DRIFT_LEARN"
"""
.. envvar:: OTEL_DRIFT_LEARN

Learn the service's baselines live when no expectations file is given: a
span count (``20000``, counted per process) or a duration (``90s``, ``30m``,
``2h``, ``1d``). otel-drift discovers the routes, client targets, LLM models
and flags from the spans it sees for that long, writes the learned
expectations file to ``OTEL_DRIFT_BASELINE_DIR/<service.name>.yaml``, and
judges with it from then on; on a restart it loads that file instead of
learning again (delete the file to learn again). Pre-forked workers learn one
file per service: the first to finish writes it, the others load it.
``OTEL_DRIFT_EXPECTATIONS``, when set, wins. Unset (default): nothing is learned.
"""

OTEL_DRIFT_BASELINE_DIR = "OTEL_DRIFT_BASELINE_DIR"
"""
.. envvar:: OTEL_DRIFT_BASELINE_DIR

Folder of the files learned live (``OTEL_DRIFT_LEARN``), one
``<service.name>.yaml`` per service; created if missing. Default:
``otel-drift-baselines`` (in the working directory).
"""

OTEL_DRIFT_MAX_EXPECTATIONS = "OTEL_DRIFT_MAX_EXPECTATIONS"
"""
.. envvar:: OTEL_DRIFT_MAX_EXPECTATIONS

Expectations a file learned live holds at most: the traffic mix, then the
busiest routes, client targets, models and flags; the others are counted and
named in the log. Default: ``100``.
"""

OTEL_DRIFT_STRICT = "OTEL_DRIFT_STRICT"
"""
.. envvar:: OTEL_DRIFT_STRICT

``false`` (default) or ``true``. By default an invalid expectation is
disabled alone: its problems are logged (file, place in it, fix), counted in
``drift.config.errors``, and the other expectations run. With ``true`` one
invalid expectation refuses the whole file and otel-drift stays off, with one
error log. A file that cannot be read or parsed, or whose problems lie outside
any one expectation (``version``, ``defaults``), is refused either way.
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

OTEL_DRIFT_MAX_BATCH_ROWS = "OTEL_DRIFT_MAX_BATCH_ROWS"
"""
.. envvar:: OTEL_DRIFT_MAX_BATCH_ROWS

Rows of one batch handed over whole (a model call's inputs and outputs, or
``DriftEngine.observe`` / ``observe_matrix``) that are observed. A larger
batch is observed through an evenly spaced sample of at most this many of
its rows (from a random start), so that what one batch costs the worker,
and the copy ``observe_matrix`` makes on the caller's thread, stay bounded
however large the batch. The rows left out are counted in
``drift.sampled_out``; windows count the rows observed.
Hard-constraint events on a model span still check every row. ``0`` observes
every row. Default: ``16384`` (every row of usual online batches; a 256 or so
keeps a large batch's cost to a few percent of a fast model's predict, at
the price of windows that fill more slowly).
"""

OTEL_DRIFT_COST_BUDGET = "OTEL_DRIFT_COST_BUDGET"
"""
.. envvar:: OTEL_DRIFT_COST_BUDGET

What otel-drift may add to an instrumented model call, beyond the one span
that traces it, as a fraction of the call's own CPU time (``0.05`` or ``5%``):
the caller's thread time spent reading the input and handing it over, plus
the drift worker's measured CPU per value it bins. Over the budget, rows are
sampled uniformly at random at a rate adapted to the measured costs, and when
even one row would cost more than the budget (one-row calls of a fast model)
whole calls are left out at random. Rows left out are counted in
``drift.sampled_out``; windows count the rows observed, and constraint events
on the span count the observed rows. ``0`` observes every row of every call.
Default: ``0.05``.
"""

OTEL_DRIFT_ML_SPANS = "OTEL_DRIFT_ML_SPANS"
"""
.. envvar:: OTEL_DRIFT_ML_SPANS

Which model calls get a span from otel-drift's ML instrumentations: ``all``
(default: every call, the cost of one SDK span each) or ``sampled`` (only the
calls whose rows are observed under ``OTEL_DRIFT_COST_BUDGET``: for very fast
models, where even one span per call matters).
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

Rate limit of ``drift.violation`` spans, per second, process and rule (each
expectation, watched value and rule has its own budget, so that a rule broken
on every call leaves the others their examples). Violations over the limit
are still counted in ``drift.violations``. Default: ``10``.
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

OTEL_DRIFT_ACTIONS = "OTEL_DRIFT_ACTIONS"
"""
.. envvar:: OTEL_DRIFT_ACTIONS

Comma-separated ``module:function`` hooks called with a ``DriftTransition``
each time a watched value's status changes (after the ``otel_drift_actions``
entry points). They run on otel-drift's own actions thread; an exception is
logged, never raised.
"""

OTEL_DRIFT_WEBHOOK_URL = "OTEL_DRIFT_WEBHOOK_URL"
"""
.. envvar:: OTEL_DRIFT_WEBHOOK_URL

An http(s) URL that receives a JSON ``POST`` per status change, off the
request and worker threads. Unset: no webhook.
"""

OTEL_DRIFT_WEBHOOK_TIMEOUT = "OTEL_DRIFT_WEBHOOK_TIMEOUT"
"""
.. envvar:: OTEL_DRIFT_WEBHOOK_TIMEOUT

Seconds per webhook attempt. Default: ``5``.
"""

OTEL_DRIFT_WEBHOOK_RETRIES = "OTEL_DRIFT_WEBHOOK_RETRIES"
"""
.. envvar:: OTEL_DRIFT_WEBHOOK_RETRIES

Retries after a failed attempt (connection error, timeout, 5xx or 429), with
a back-off doubling from 0.5 s. Default: ``3``.
"""

OTEL_DRIFT_WEBHOOK_HEADERS = "OTEL_DRIFT_WEBHOOK_HEADERS"
"""
.. envvar:: OTEL_DRIFT_WEBHOOK_HEADERS

Extra request headers, ``name=value`` pairs separated by commas (e.g. an
``Authorization`` token).
"""

OTEL_DRIFT_JSON_MAX_BYTES = "OTEL_DRIFT_JSON_MAX_BYTES"
"""
.. envvar:: OTEL_DRIFT_JSON_MAX_BYTES

Largest HTTP JSON body, in bytes, whose shape otel-drift's requests, httpx,
Flask, ASGI (FastAPI, Starlette) and Django instrumentations take
(``source: json.shape``). Larger bodies are not parsed:
``drift.json.skipped=too_large`` on the span, counted in the
``drift.json.skipped`` metric. Default: ``1048576`` (1 MiB).
"""

OTEL_DRIFT_FLUSH_ON_SIGTERM = "OTEL_DRIFT_FLUSH_ON_SIGTERM"
"""
.. envvar:: OTEL_DRIFT_FLUSH_ON_SIGTERM

``true`` (default) or ``false``. A process stopped by ``SIGTERM`` with the
default action skips ``atexit`` (uvicorn, for one, re-raises ``SIGTERM`` so
after its graceful shutdown), and the last window's evaluation and the
batched spans would be lost. So, under ``opentelemetry-instrument``, when
nothing else handles ``SIGTERM`` at start-up, otel-drift handles it: it
evaluates the last window, flushes the global tracer and meter providers (at
most 10 s), then lets ``SIGTERM`` end the process as before (same exit
status). A handler the application or server sets is never replaced.
"""

OTEL_DRIFT_VALUE_HASH_KEY = "OTEL_DRIFT_VALUE_HASH_KEY"
"""
.. envvar:: OTEL_DRIFT_VALUE_HASH_KEY

A secret of your deployment. A string value that breaks a constraint is shown
on its ``drift.violation`` span only as ``hmac-sha256:`` and 16 hex digits of
its HMAC-SHA256 under this key, so equal values show equal hashes in every
process that shares the key, and nobody without it can test guesses. Unset
(the default): a random key per process, so hashes match only within one
process. Treat it like a password: set it from your secret store.
"""

__all__ = [
    "OTEL_DRIFT_ACTIONS",
    "OTEL_DRIFT_BASELINE_DIR",
    "OTEL_DRIFT_CONSOLE",
    "OTEL_DRIFT_COST_BUDGET",
    "OTEL_DRIFT_ENABLED",
    "OTEL_DRIFT_EXPECTATIONS",
    "OTEL_DRIFT_FLUSH_INTERVAL",
    "OTEL_DRIFT_FLUSH_ON_SIGTERM",
    "OTEL_DRIFT_JSON_MAX_BYTES",
    "OTEL_DRIFT_LEARN",
    "OTEL_DRIFT_MAX_BATCH_ROWS",
    "OTEL_DRIFT_MAX_CATEGORIES",
    "OTEL_DRIFT_MAX_EXPECTATIONS",
    "OTEL_DRIFT_ML_SPANS",
    "OTEL_DRIFT_OTLP_JSON_DIR",
    "OTEL_DRIFT_QUEUE_SIZE",
    "OTEL_DRIFT_STRICT",
    "OTEL_DRIFT_VALUE_HASH_KEY",
    "OTEL_DRIFT_VALUE_HISTOGRAMS",
    "OTEL_DRIFT_VIOLATION_SPANS_PER_SECOND",
    "OTEL_DRIFT_WEBHOOK_HEADERS",
    "OTEL_DRIFT_WEBHOOK_RETRIES",
    "OTEL_DRIFT_WEBHOOK_TIMEOUT",
    "OTEL_DRIFT_WEBHOOK_URL",
    "OTEL_DRIFT_WINDOW",
]
