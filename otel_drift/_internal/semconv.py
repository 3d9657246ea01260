"""Names that users and backends see: the product's public contract, each defined once."""

# Instrumentation scopes. Spans of these scopes are never matched by the span
# processor: otel-drift's own instrumentations hand their values over themselves.
OWN_SCOPE = "otel_drift"

#: ``drift.status`` values by number: 0 ok, 1 warning, 2 critical.
STATUS_NAMES = ("ok", "warning", "critical")

# Attributes (on metrics, spans and events).
EXPECTATION = "drift.expectation"
ATTRIBUTE = "drift.attribute"
METHOD = "drift.method"
RULE = "drift.rule"
BIN = "drift.bin"
OUTCOME = "drift.outcome"
SCORE = "drift.score"
STATUS = "drift.status"
STATUS_NAME = "drift.status_name"
LEVEL = "drift.level"
WARNING = "drift.threshold.warning"
CRITICAL = "drift.threshold.critical"
VALUE = "drift.value"
WINDOW_SPANS = "drift.window.spans"
WINDOW_PARTIAL = "drift.window.partial"
WATCHES = "drift.watches"
WATCHES_OMITTED = "drift.watches.omitted"

# Spans and events.
EVALUATION_SPAN = "drift.evaluation"
VIOLATION_SPAN = "drift.violation"
DETECTED_EVENT = "drift.detected"

# Metrics.
METRIC_SCORE = "drift.score"
METRIC_STATUS = "drift.status"
METRIC_VIOLATIONS = "drift.violations"
METRIC_OBSERVATIONS = "drift.observations"
METRIC_DROPPED = "drift.dropped"
METRIC_SAMPLED_OUT = "drift.sampled_out"
METRIC_BIN_COUNT = "drift.bin.count"
METRIC_BASELINE_FRACTION = "drift.baseline.fraction"
