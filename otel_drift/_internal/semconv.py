"""Names that users and backends see: the product's public contract, each defined once."""

# Instrumentation scopes. Spans of these scopes are never matched by the span
# processor: otel-drift's own instrumentations hand their values over themselves.
OWN_SCOPE = "otel_drift"

#: A watched value whose window held values, none of them usable (all missing
#: or invalid): not judged, and not ok either. Below ok, so ``>= 1`` alert
#: rules and ``max()`` over watched values are unaffected by it.
STATUS_NO_DATA = -1
#: ``drift.status`` values by number: -1 no data, 0 ok, 1 warning, 2 critical.
STATUS_NAMES: dict[int, str] = {
    STATUS_NO_DATA: "no_data",
    0: "ok",
    1: "warning",
    2: "critical",
}

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
#: The omitted watched values, compactly: one string per value,
#: ``watch<TAB>status<TAB>method<TAB>samples<TAB>score<TAB>p_value`` (score and
#: p-value empty when absent), so readers still see every value's window.
WATCHES_COMPACT = "drift.watches.compact"
#: The significance of the window's deviation from the baseline (0..1).
P_VALUE = "drift.p_value"
#: What moved most, as readable strings, e.g. ``500: 1.0% -> 15.2%``.
TOP_CHANGES = "drift.top_changes"
#: The segments of traffic that carried the drift (``explain_by``), e.g.
#: ``cloud.region=eu-west-1``, and the share of the score each carried (0..1:
#: ``1 - score without the segment / score``), in the same order.
EXPLAINED_BY = "drift.explained_by"
EXPLAINED_SHARE = "drift.explained_share"
#: Why a watched value has its status, when not by its score alone
#: (``no valid values: 200 invalid``, ``held by hysteresis``, ``not significant``).
REASON_TEXT = "drift.reason_text"
#: The process (OpenTelemetry resource attribute): keeps replicas apart.
SERVICE_INSTANCE_ID = "service.instance.id"
SERVICE_NAME = "service.name"

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
#: Expectations (or defaults) of the loaded file that were invalid and disabled.
METRIC_CONFIG_ERRORS = "drift.config.errors"
#: Expectations that matched no span while the service served spans (1 each).
METRIC_UNMATCHED = "drift.expectation.unmatched"

# Names built per watched value, and the webhook's event (signals/).
#: Evaluation span attributes ``drift.watch.<watch>.{status,method,samples,score,p_value}``.
WATCH_PREFIX = "drift.watch."
#: Opt-in value histograms ``drift.value.<expectation>.<watch>``.
VALUE_HISTOGRAM_PREFIX = "drift.value."
#: The ``event`` field of a drift action's JSON (webhook body, ``DriftTransition.to_json``).
STATUS_CHANGED_EVENT = "drift.status_changed"

# otel-drift's own instrumentations: on the spans they make (model and LLM
# calls) or add to (contrib's HTTP client and server spans).
#: Event on a model or LLM call's span per (expectation, watched value, rule)
#: it broke; attributes EXPECTATION, ATTRIBUTE, RULE and, on a model call, VIOLATIONS.
VIOLATION_EVENT = "drift.violation"
#: How many rows of a model call broke the rule.
VIOLATIONS = "drift.violations"
#: A watched JSON body whose shape was not taken, and why (span attribute and counter).
JSON_SKIPPED = "drift.json.skipped"
#: The skip counter's reason: streaming, too_large, invalid_json.
REASON = "drift.reason"
#: Paths of a body missing from, added to, or of another type than an expected
#: shape (the shape id itself is ``expectations.model.JSON_SHAPE_ATTRIBUTE``).
JSON_SHAPE_MISSING = "drift.json.shape.missing"
JSON_SHAPE_ADDED = "drift.json.shape.added"
JSON_SHAPE_CHANGED = "drift.json.shape.type_changed"
#: Event per expectation whose ``shape`` a body breaks.
JSON_SHAPE_MISMATCH_EVENT = "drift.json.shape.mismatch"

# Label feedback.
METRIC_FEEDBACK_SCORE = "drift.feedback.score"
METRIC_FEEDBACK_STATUS = "drift.feedback.status"
#: The quality metric a feedback window scores: accuracy, mae or rmse.
METRIC = "drift.metric"

# ML model spans. OpenTelemetry has no convention for classic ML model calls
# yet, so these live under ``ml.*`` (see the design's "Names users and backends
# see"); the expectations file matches on them.
ML_MODEL_NAME = "ml.model.name"
ML_MODEL_VERSION = "ml.model.version"
ML_FRAMEWORK = "ml.framework"
ML_OPERATION = "ml.operation"
ML_BATCH_SIZE = "ml.batch_size"
#: Number of input features (columns) of the call.
ML_FEATURES = "ml.features"
#: Set when the input was a sparse matrix (its watched columns are read one by one).
ML_INPUT_SPARSE = "ml.input.sparse"
