"""JSON-shaped data that passed the schema and the semantic checks -> the typed model.

Everything is resolved here once: defaults filled in, quantiles turned into
bins, mean and std computed, keys and allowed values turned into the strings
span values are compared as. Nothing is checked: invalid data never gets here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, cast

import numpy as np

from otel_drift._internal.detectors import METHODS
from otel_drift._internal.detectors.method import WindowInputs
from otel_drift._internal.expectations.baselines import (
    bin_moments,
    quantile_bins,
    quantile_points,
)
from otel_drift._internal.expectations.learned import learned_thresholds, pooled
from otel_drift._internal.expectations.model import (
    DEFAULT_CLEAR_AFTER,
    DEFAULT_MIN_SAMPLES,
    DEFAULT_RAISE_AFTER,
    DEFAULT_STATUS_CODE_ATTRIBUTES,
    FEEDBACK_THRESHOLDS,
    JSON_SHAPE_ATTRIBUTE,
    ML_PREDICTION_KEY,
    ML_SOURCES,
    Baseline,
    BinnedBaseline,
    CategoricalBaseline,
    Constraints,
    DurationUnit,
    Expectation,
    ExpectationsFile,
    Feedback,
    Hysteresis,
    Match,
    Profile,
    ProfileKind,
    Reference,
    Source,
    SourceKind,
    SpanKindName,
    Watch,
    Window,
)
from otel_drift._internal.expectations.noise import within_sampling_noise
from otel_drift._internal.expectations.normalize import scalar_text
from otel_drift._internal.expectations.profiles import (
    DEFAULT_TIMEZONE,
    aligned_slots,
    pooled_baseline,
    slot_number,
)
from otel_drift._internal.expectations.resolve import (
    as_mapping,
    effective,
    method_of,
    source_of,
    value_kind,
)
from otel_drift._internal.expectations.shapes import expected_shape
from otel_drift._internal.json_shape import EXPECTED_LABEL

Raw = Mapping[str, Any]

#: CUSUM allowance when the file gives none, in baseline standard deviations.
DEFAULT_CUSUM_K = 0.25


def build(document: Raw, path: str) -> ExpectationsFile:
    defaults = as_mapping(document.get("defaults"))
    return ExpectationsFile(
        version=int(document["version"]),
        expectations=tuple(_expectation(raw, defaults) for raw in document["expectations"]),
        path=path,
    )


def _expectation(raw: Raw, defaults: Raw) -> Expectation:
    window, _ = effective(raw, defaults, "window")
    samples, _ = effective(raw, defaults, "min_samples")
    hysteresis, _ = effective(raw, defaults, "hysteresis")
    return Expectation(
        name=raw["name"],
        match=_match(raw["match"]),
        watch=tuple(_watch(name, watch) for name, watch in raw["watch"].items()),
        window=_window(window) if window is not None else Window(),
        window_declared=window is not None,
        min_samples=int(samples) if samples is not None else DEFAULT_MIN_SAMPLES,
        hysteresis=_hysteresis(as_mapping(hysteresis)),
        feedback=_feedback(raw["feedback"]) if "feedback" in raw else None,
        explain_by=tuple(raw["explain_by"]) if "explain_by" in raw else None,
    )


def _feedback(raw: Raw) -> Feedback:
    metric = raw["metric"]
    warning, critical = FEEDBACK_THRESHOLDS[metric]
    return Feedback(
        metric=metric,
        baseline=float(raw["baseline"]),
        warning=float(raw.get("warning", warning)),
        critical=float(raw.get("critical", critical)),
        window=int(raw.get("window", 500)),
    )


def _window(raw: Raw) -> Window:
    # Only what is given: {seconds: 60} is a time-only window, not 60 s or 1000 spans.
    spans = raw.get("spans")
    seconds = raw.get("seconds")
    return Window(
        spans=int(spans) if spans is not None else None,
        seconds=float(seconds) if seconds is not None else None,
    )


def _hysteresis(raw: Raw) -> Hysteresis:
    return Hysteresis(
        raise_after=int(raw.get("raise_after", DEFAULT_RAISE_AFTER)),
        clear_after=int(raw.get("clear_after", DEFAULT_CLEAR_AFTER)),
    )


def _text_or_regex(value: object) -> tuple[str | None, str | None]:
    """(exact, regex) from ``"text"`` or ``{regex: "..."}``."""
    if isinstance(value, dict):
        return None, cast(str, value["regex"])
    return cast("str | None", value), None


def _match(raw: Raw) -> Match:
    span_name, span_name_regex = _text_or_regex(raw.get("span_name"))
    scope, scope_regex = _text_or_regex(raw.get("scope"))
    return Match(
        span_name=span_name,
        span_name_regex=span_name_regex,
        span_kind=cast("SpanKindName | None", raw.get("span_kind")),
        scope=scope,
        scope_regex=scope_regex,
        attributes=dict(as_mapping(raw.get("attributes"))),
        attribute_regexes=dict(as_mapping(raw.get("attribute_regex"))),
    )


def _watch(name: str, raw: Raw) -> Watch:
    kind = value_kind(raw)
    method = method_of(raw, kind)
    info = METHODS[method]
    profile = _profile(raw["baseline"]) if "profile" in as_mapping(raw.get("baseline")) else None
    baseline: Baseline | None
    if profile is not None:
        baseline = pooled_baseline(profile.slots)
    else:
        baseline = _baseline(raw["baseline"]) if "baseline" in raw else _shape_baseline(raw)
    warning, critical = info.defaults(kind)
    thresholds: Literal["declared", "default", "learned"] = "default"
    if "warning" in raw or "critical" in raw:
        thresholds = "declared"
    elif "baseline" not in raw and baseline is not None and info.threshold_kind == "distance":
        # A shape alone: its baseline is a claim ("every body"), not a measured mix.
        warning, critical = _unexpected_share_scores(method)
    elif info.threshold_kind == "distance":
        judged = profile.slots.values() if profile is not None else [baseline] if baseline else []
        learned = _learned(judged, method)
        if learned is not None:
            warning, critical = learned
            thresholds = "learned"
    return Watch(
        name=name,
        source=_source(raw),
        kind=kind,
        baseline=baseline,
        method=method,
        warning=float(raw.get("warning", warning)),
        critical=float(raw.get("critical", critical)),
        thresholds=thresholds,
        constraints=_constraints(as_mapping(raw.get("constraints"))),
        cusum_k=float(raw.get("cusum_k", DEFAULT_CUSUM_K)),
        shape=expected_shape(raw["shape"]) if "shape" in raw else None,
        profile=profile,
    )


#: A shape alone (``{expected: 1.0}``): the share of bodies of another shape at
#: which it is warning and critical. Error answers have their own shape, so a
#: service that fails 1 % of its calls must not alarm forever; the categorical
#: defaults would warn at 0.7 % (at 0.06 Jensen-Shannon).
UNEXPECTED_SHAPE_SHARES = (0.05, 0.10)


def _unexpected_share_scores(method: str) -> tuple[float, float]:
    """``method``'s score for :data:`UNEXPECTED_SHAPE_SHARES` of unexpected shapes.

    >>> tuple(round(score, 3) for score in _unexpected_share_scores("jensen_shannon"))
    (0.16, 0.228)
    """
    score = METHODS[method].score
    assert score is not None  # every distance method scores a window alone
    expected = np.array([1.0, 0.0])
    return cast(
        tuple[float, float],
        tuple(
            float(score(expected, np.array([1.0 - share, share]) * 1000, WindowInputs()).score)
            for share in UNEXPECTED_SHAPE_SHARES
        ),
    )


def _learned(baselines: Iterable[Baseline], method: str) -> tuple[float, float] | None:
    """(warning, critical) learned from the baselines' reference windows, if any.

    A reference that varied no more than sampling noise teaches nothing: the
    defaults and the significance gate judge it better (``noise.py``). A
    profile has one pair for all its slots, learned from their windows pooled
    (``learned.pooled``): each slot's recording then stays quiet against it,
    the metrics, spans and Prometheus rules that carry one threshold stay
    true all day, and a quiet slot's lower spread is mostly fewer values,
    which the significance gate already weighs window by window.
    """
    scored = [b for b in baselines if b.reference is not None and b.reference.method == method]
    references = [b.reference for b in scored if b.reference is not None]
    if not references:
        return None
    reference = pooled(references)
    thresholds = learned_thresholds(reference)
    if thresholds[0] <= 0.0:
        return None
    # Sampling noise is alike across slots (same window, same bins): one slot tells it.
    typical = max(scored, key=lambda b: b.reference.windows if b.reference else 0)
    if within_sampling_noise(reference, typical):
        return None
    return thresholds


def _profile(raw: Raw) -> Profile:
    kind = cast(ProfileKind, raw["profile"])
    slots: dict[int, Baseline] = {}
    for key, slot in raw["slots"].items():
        number = slot_number(kind, key)
        assert number is not None  # the profile checks ruled other keys out
        slots[number] = _baseline(slot)
    return Profile(
        kind=kind,
        timezone=str(raw.get("timezone", DEFAULT_TIMEZONE)),
        slots=aligned_slots(slots),
    )


def _shape_baseline(raw: Raw) -> Baseline | None:
    # A shape alone means "every body has it": drift is the share that does not.
    if source_of(raw) == "json.shape" and "shape" in raw:
        return CategoricalBaseline(categories={EXPECTED_LABEL: 1.0})
    return None


def _source(raw: Raw) -> Source:
    kind = cast(SourceKind, source_of(raw))
    names = raw.get("attribute")
    attributes = (names,) if isinstance(names, str) else tuple(names or ())
    if kind == "http.status_class" and not attributes:
        attributes = DEFAULT_STATUS_CODE_ATTRIBUTES
    if kind == "json.shape" and not attributes:
        attributes = (JSON_SHAPE_ATTRIBUTE,)
    feature = raw.get("feature")
    if kind in ML_SOURCES and not attributes:
        # The key an ML instrumentation's column goes by; never a real span
        # attribute (their spans are not read by the processor).
        attributes = (ML_PREDICTION_KEY,) if kind == "ml.prediction" else (f"{kind}.{feature}",)
    output = raw.get("output")
    return Source(
        kind=kind,
        attributes=attributes,
        unit=cast(DurationUnit, raw.get("unit", "ms")),
        feature=feature if isinstance(feature, str | int) else None,
        output=int(output) if output is not None else None,
    )


def _reference(raw: object) -> Reference | None:
    if not isinstance(raw, dict):
        return None
    return Reference(
        window=int(raw["window"]),
        windows=int(raw["windows"]),
        method=str(raw["method"]),
        mean=float(raw["mean"]),
        std=float(raw["std"]),
        max=float(raw["max"]),
        root_mean=float(raw["root_mean"]) if "root_mean" in raw else None,
        root_std=float(raw["root_std"]) if "root_std" in raw else None,
    )


def _baseline(raw: Raw) -> Baseline:
    samples = int(raw["samples"]) if "samples" in raw else None
    reference = _reference(raw.get("reference"))
    if "categories" in raw:
        categories = {key: float(share) for key, share in raw["categories"].items()}
        return CategoricalBaseline(categories=categories, samples=samples, reference=reference)
    if "quantiles" in raw:
        points = quantile_points(raw["quantiles"])
        if points is None:  # pragma: no cover - the semantic checks rule this out
            raise ValueError("quantiles that are not numbers reached the builder")
        edges, fractions = quantile_bins(points)
    else:
        edges = tuple(float(edge) for edge in raw["bins"])
        fractions = tuple(float(share) for share in raw["fractions"])
    mean, std = bin_moments(edges, fractions)
    return BinnedBaseline(
        edges=edges,
        fractions=fractions,
        mean=float(raw.get("mean", mean)),
        std=float(raw.get("std", std)),
        samples=samples,
        reference=reference,
    )


def _constraints(raw: Raw) -> Constraints:
    allowed = raw.get("allowed")
    low, high = raw.get("min"), raw.get("max")
    return Constraints(
        min=float(low) if low is not None else None,
        max=float(high) if high is not None else None,
        allowed=frozenset(scalar_text(v) for v in allowed) if allowed is not None else None,
        required=bool(raw.get("required", False)),
        type=raw.get("type"),
    )
