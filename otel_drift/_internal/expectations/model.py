"""The typed, validated form of an expectations file.

Everything the engine needs is resolved here once, at load time: defaults
filled in, quantile baselines turned into bins, method names checked. The
hot path and the worker never look at the raw YAML again. The methods a
watched value may use, with their default thresholds, are the detectors'
registry (``detectors.METHODS``), read by ``resolve`` and ``build``: this
module stays free of numpy, since every instrumentation imports it at
start-up, also where otel-drift is off.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from otel_drift._internal.json_shape import ExpectedShape

SpanKindName = Literal["internal", "server", "client", "producer", "consumer"]
AttributeScalar = str | bool | int | float
ValueKind = Literal["numeric", "categorical"]
DurationUnit = Literal["ns", "us", "ms", "s"]

#: Where a watched value comes from.
#: ``attribute``: the first present of ``Source.attributes``;
#: ``span.duration``: end - start, in ``Source.unit``;
#: ``span.status``: "UNSET", "OK" or "ERROR";
#: ``http.status_class``: "2xx", "4xx", ... derived from the first present of
#: ``Source.attributes`` (default: the new and the old HTTP status attribute).
#: ``ml.feature``, ``ml.missing``, ``ml.prediction``: columns of an ML model call,
#: handed over whole by otel-drift's ML instrumentations (``engine.observe``):
#: the input feature ``Source.feature``, 1.0/0.0 for "that feature is missing",
#: and the model's output (column ``Source.output`` of a 2-D one).
SourceKind = Literal[
    "attribute",
    "span.duration",
    "span.status",
    "http.status_class",
    "json.shape",
    "ml.feature",
    "ml.missing",
    "ml.prediction",
]
#: Sources fed by ML instrumentations rather than read from span attributes.
ML_SOURCES: frozenset[str] = frozenset({"ml.feature", "ml.missing", "ml.prediction"})
#: Attribute-style key of the prediction column (``engine.observe`` finds it by it).
ML_PREDICTION_KEY = "ml.prediction"

#: ``json.shape``: the id of a JSON body's shape, set on client (and server)
#: spans by otel-drift's HTTP instrumentations; compared with ``Watch.shape``.
JSON_SHAPE_ATTRIBUTE = "drift.json.shape"

DEFAULT_STATUS_CODE_ATTRIBUTES: tuple[str, ...] = ("http.response.status_code", "http.status_code")


DEFAULT_NUMERIC_METHOD = "psi"
DEFAULT_CATEGORICAL_METHOD = "jensen_shannon"
DEFAULT_WINDOW_SPANS = 1000
DEFAULT_MIN_SAMPLES = 100
#: Hysteresis defaults: a level is raised after one window at or above it and
#: cleared after two consecutive windows below it, so a single noisy window
#: cannot make the status flap.
DEFAULT_RAISE_AFTER = 1
DEFAULT_CLEAR_AFTER = 2


@dataclass(frozen=True)
class Match:
    """Which finished spans an expectation applies to. Every given field must hold."""

    span_name: str | None = None
    span_name_regex: str | None = None
    span_kind: SpanKindName | None = None
    scope: str | None = None
    scope_regex: str | None = None
    attributes: Mapping[str, AttributeScalar] = field(default_factory=dict)
    attribute_regexes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Window:
    """A window closes after ``spans`` matched spans or ``seconds`` seconds, whichever first."""

    spans: int | None = DEFAULT_WINDOW_SPANS
    seconds: float | None = None


@dataclass(frozen=True)
class Source:
    kind: SourceKind
    attributes: tuple[str, ...] = ()
    unit: DurationUnit = "ms"
    #: ``ml.feature`` / ``ml.missing``: the feature's name or column index.
    feature: str | int | None = None
    #: ``ml.prediction``: the column of a 2-D output (None: see the schema's rule).
    output: int | None = None


@dataclass(frozen=True)
class Reference:
    """How a recording's own windows scored against the baseline learned from it.

    The spread of real, load-dependent traffic around its own baseline: where
    thresholds go when the file does not set them (``learned.py``).
    """

    window: int
    windows: int
    method: str
    mean: float
    std: float
    max: float
    #: Mean and std of the scores' square roots, for a method scoring the square of a shift.
    root_mean: float | None = None
    root_std: float | None = None


@dataclass(frozen=True)
class BinnedBaseline:
    """A numeric baseline: ``len(edges) == len(fractions) + 1``, fractions sum to 1.

    ``mean``/``std`` are given or derived from bin midpoints; ``samples`` is the
    size of the reference sample when known (used by two-sample tests).
    """

    edges: tuple[float, ...]
    fractions: tuple[float, ...]
    mean: float
    std: float
    samples: int | None = None
    reference: Reference | None = None


@dataclass(frozen=True)
class CategoricalBaseline:
    """Category frequencies summing to 1; keys are the string form of values."""

    categories: Mapping[str, float]
    samples: int | None = None
    reference: Reference | None = None


Baseline = BinnedBaseline | CategoricalBaseline

ProfileKind = Literal["hour_of_day", "hour_of_week"]


@dataclass(frozen=True)
class Profile:
    """A baseline per time slot (``profiles.py``): each window is judged by the slot its
    start falls in, in ``timezone`` (an IANA name)."""

    kind: ProfileKind
    timezone: str
    #: Slot number (an hour 0-23, or 0-167 from Monday 00:00) -> its baseline. Aligned:
    #: numeric slots share their edges, categorical ones list the same categories in order.
    slots: Mapping[int, Baseline]


@dataclass(frozen=True)
class Constraints:
    """Hard rules on every single value; a break is a violation, not drift."""

    min: float | None = None
    max: float | None = None
    allowed: frozenset[str] | None = None
    required: bool = False
    type: Literal["number", "integer", "string", "boolean"] | None = None

    @property
    def empty(self) -> bool:
        return (
            self.min is None
            and self.max is None
            and self.allowed is None
            and not self.required
            and self.type is None
        )


@dataclass(frozen=True)
class Watch:
    """One watched value of an expectation."""

    name: str
    source: Source
    kind: ValueKind
    baseline: Baseline | None
    method: str
    warning: float
    critical: float
    constraints: Constraints = field(default_factory=Constraints)
    #: "declared" (the file's), "default" (the method's) or "learned" (from
    #: the baseline's reference windows): where warning/critical came from.
    thresholds: Literal["declared", "default", "learned"] = "default"
    #: CUSUM allowance k, in baseline standard deviations.
    cusum_k: float = 0.25
    #: ``json.shape``: the shape JSON bodies should have.
    shape: ExpectedShape | None = None
    #: A baseline per time slot; then ``baseline`` is the slots pooled (what reads a
    #: single baseline sees the whole cycle) and the engine judges by the slot.
    profile: Profile | None = None


@dataclass(frozen=True)
class Hysteresis:
    raise_after: int = DEFAULT_RAISE_AFTER
    clear_after: int = DEFAULT_CLEAR_AFTER


@dataclass(frozen=True)
class Feedback:
    """A model's quality on reference data, compared with true outcomes recorded later."""

    metric: Literal["accuracy", "mae", "rmse"]
    baseline: float
    warning: float
    critical: float
    window: int = 500


#: Default feedback thresholds: (warning, critical) per metric.
FEEDBACK_THRESHOLDS: Mapping[str, tuple[float, float]] = {
    "accuracy": (0.05, 0.1),
    "mae": (0.1, 0.25),
    "rmse": (0.1, 0.25),
}


@dataclass(frozen=True)
class Expectation:
    name: str
    match: Match
    watch: tuple[Watch, ...]
    window: Window = field(default_factory=Window)
    #: False when neither the expectation nor the file's defaults give a window:
    #: then ``OTEL_DRIFT_WINDOW`` (if set) decides instead of the built-in default.
    window_declared: bool = True
    min_samples: int = DEFAULT_MIN_SAMPLES
    hysteresis: Hysteresis = field(default_factory=Hysteresis)
    #: Model quality to compare label feedback with (None: not declared).
    feedback: Feedback | None = None
    #: Attributes whose values a drifting window is traced to (``engine/segments.py``);
    #: None: not declared, the default ones.
    explain_by: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ExpectationsFile:
    version: int
    expectations: tuple[Expectation, ...]
    #: Where it was read from ("<string>" when loaded from text).
    path: str = "<string>"
