"""Attribute names of ML model spans.

OpenTelemetry has no convention for classic ML model calls yet, so these live
under ``ml.*`` (see the design's "Names users and backends see"). Defined
once here; the expectations file matches on them.
"""

from __future__ import annotations

ML_MODEL_NAME = "ml.model.name"
ML_MODEL_VERSION = "ml.model.version"
ML_FRAMEWORK = "ml.framework"
ML_OPERATION = "ml.operation"
ML_BATCH_SIZE = "ml.batch_size"
#: Number of input features (columns) of the call.
ML_FEATURES = "ml.features"
#: Set when the input was a sparse matrix (its watched columns are read one by one).
ML_INPUT_SPARSE = "ml.input.sparse"

#: Event put on a model span for each (watched value, rule) that some rows broke.
VIOLATION_EVENT = "drift.violation"
DRIFT_EXPECTATION = "drift.expectation"
DRIFT_ATTRIBUTE = "drift.attribute"
DRIFT_RULE = "drift.rule"
DRIFT_VIOLATIONS = "drift.violations"
