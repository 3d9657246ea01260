"""Checks JSON Schema cannot express: sums, orderings, cross-field rules, regexes, names.

They run on the same JSON-shaped data as the schema, also when the schema
found problems elsewhere, so one run reports everything. Each check looks
only at values of the right type and skips the rest (the schema reports
those); a problem inside a location the schema already rejected is dropped
by :class:`ProblemList`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from otel_drift._internal.detectors import METHODS
from otel_drift._internal.expectations.baseline_checks import BaselineChecker
from otel_drift._internal.expectations.errors import PathParts, ProblemList
from otel_drift._internal.expectations.model import DEFAULT_MIN_SAMPLES, ValueKind
from otel_drift._internal.expectations.profile_checks import ProfileChecker
from otel_drift._internal.expectations.resolve import (
    SOURCE_KINDS,
    as_mapping,
    baseline_kind,
    effective,
    is_integer,
    is_number,
    method_of,
    source_of,
    value_kind,
)
from otel_drift._internal.expectations.shapes import check_shape

_NAME_FIX = (
    "use a letter, then up to 62 letters, digits, '_', '.' or '-' on one line "
    "(names become part of metric names)."
)


def check_semantics(document: object, problems: ProblemList) -> None:
    """Add every semantic problem of ``document`` to ``problems``."""
    if not isinstance(document, dict):
        return
    defaults = as_mapping(document.get("defaults"))
    expectations = document.get("expectations")
    if not isinstance(expectations, list):
        return
    names: dict[str, int] = {}
    for index, expectation in enumerate(expectations):
        if problems.full:
            return
        if isinstance(expectation, dict):
            _Checker(problems).expectation(expectation, index, defaults, names)


class _Checker:
    def __init__(self, problems: ProblemList) -> None:
        self.baselines = BaselineChecker(self.add, self.rescale)
        self.profiles = ProfileChecker(self.add, self.baselines)
        self._problems = problems

    def add(self, path: PathParts, message: str, fix: str) -> None:
        # Semantic problems are independent of each other: a wrong sum of
        # categories does not make a category missing from ``allowed`` noise.
        self._problems.add(path, message, fix, hides_inner=False)

    def rescale(self, path: PathParts, total: float) -> None:
        self._problems.rescaled.append((path, total))

    # -- expectation level --------------------------------------------------

    def expectation(
        self,
        raw: Mapping[str, Any],
        index: int,
        defaults: Mapping[str, Any],
        names: dict[str, int],
    ) -> None:
        path: PathParts = ("expectations", index)
        name = raw.get("name")
        if isinstance(name, str):
            self.name(name, (*path, "name"))
            if name in names:
                self.add(
                    (*path, "name"),
                    f"{json.dumps(name)} is already the name of expectations[{names[name]}].",
                    "give every expectation its own name.",
                )
            else:
                names[name] = index
        self.match(as_mapping(raw.get("match")), (*path, "match"))
        self.window_and_samples(raw, defaults, path)
        self.feedback(as_mapping(raw.get("feedback")), (*path, "feedback"))
        explain_by = raw.get("explain_by")
        if isinstance(explain_by, list):
            self.explain_by(explain_by, (*path, "explain_by"))
        watches = raw.get("watch")
        if isinstance(watches, dict):
            for watch_name, watch in watches.items():
                self.name(watch_name, (*path, "watch", watch_name))
                if isinstance(watch, dict):
                    self.watch(watch, (*path, "watch", watch_name))

    def name(self, name: str, path: PathParts) -> None:
        # The schema's pattern rejects everything else; only a trailing line
        # break passes it, because "$" also matches before a final "\n".
        if name.endswith("\n"):
            self.add(path, f"{json.dumps(name)} ends with a line break.", _NAME_FIX)

    def match(self, match: Mapping[str, Any], path: PathParts) -> None:
        for key in ("span_name", "scope"):
            value = match.get(key)
            if isinstance(value, dict) and isinstance(value.get("regex"), str):
                self.regex(value["regex"], (*path, key, "regex"))
        for attribute, pattern in as_mapping(match.get("attribute_regex")).items():
            if isinstance(pattern, str):
                self.regex(pattern, (*path, "attribute_regex", attribute))

    def explain_by(self, attributes: list[Any], path: PathParts) -> None:
        seen: dict[str, int] = {}
        for index, attribute in enumerate(attributes):
            if not isinstance(attribute, str):
                continue  # the schema reports it
            if attribute != attribute.strip() or any(c.isspace() for c in attribute):
                self.add(
                    (*path, index),
                    f"{json.dumps(attribute)} holds white space; no span attribute does.",
                    "write the attribute's name as spans carry it, e.g. cloud.region.",
                )
            elif attribute in seen:
                self.add(
                    (*path, index),
                    f"{json.dumps(attribute)} is already explain_by[{seen[attribute]}].",
                    "name each attribute once.",
                )
            else:
                seen[attribute] = index

    def regex(self, pattern: str, path: PathParts) -> None:
        fix = (
            "correct the pattern (Python re syntax; it is searched anywhere in the value, "
            "so anchor it with ^ and $ to match the whole value)."
        )
        try:
            re.compile(pattern)
        except re.error as error:
            where = f" at position {error.pos}" if error.pos is not None else ""
            self.add(path, f"is not a valid regular expression: {error.msg}{where}.", fix)
        except (RecursionError, OverflowError, ValueError) as error:
            self.add(path, f"is not a usable regular expression: {error}.", fix)

    def window_and_samples(
        self, raw: Mapping[str, Any], defaults: Mapping[str, Any], path: PathParts
    ) -> None:
        window, window_from = effective(raw, defaults, "window")
        samples, samples_from = effective(raw, defaults, "min_samples")
        if not isinstance(window, dict) or not is_integer(window.get("spans")):
            return
        spans = window["spans"]
        if samples is None:
            samples = DEFAULT_MIN_SAMPLES
        if not is_integer(samples) or samples <= spans:
            return
        why = "a window would always close with too few values and never be compared"
        fix = "lower min_samples to at most window.spans, or raise window.spans."
        # Blame what the author wrote for this expectation first, the defaults last.
        where: PathParts
        if samples_from == "expectation":
            where = (*path, "min_samples")
        elif window_from == "expectation":
            where = (*path, "window", "spans")
        elif samples_from == "defaults":
            where = ("defaults", "min_samples")
        else:
            where = ("defaults", "window", "spans")
        if where[-1] == "min_samples":
            message = f"is {samples}, more than window.spans ({spans}): {why}."
        else:
            origin = {"defaults": " from defaults", None: ", the default"}.get(samples_from, "")
            message = f"is {spans}, fewer than min_samples ({samples}{origin}): {why}."
        self.add(where, message, fix)

    # -- watch level --------------------------------------------------------

    def watch(self, raw: Mapping[str, Any], path: PathParts) -> None:
        source = raw.get("source") if isinstance(raw.get("source"), str) else None
        resolved = source_of(raw)
        if source == "attribute" and "attribute" not in raw:
            self.add(
                (*path, "attribute"),
                "is required with source: attribute.",
                "name the attribute to read, or a list of names (the first present is used).",
            )
        if source in ("span.duration", "span.status") and "attribute" in raw:
            self.add(
                (*path, "attribute"),
                f"has no effect with source: {source}.",
                "remove attribute, or use source: attribute to read the value from it.",
            )
        self.ml_source(raw, path, resolved)
        if "unit" in raw and resolved not in (None, "span.duration"):
            self.add(
                (*path, "unit"),
                f"applies only to source: span.duration, not {resolved}.",
                "remove unit.",
            )
        attributes = raw.get("attribute")
        if isinstance(attributes, list):
            seen: set[object] = set()
            for position, attribute in enumerate(attributes):
                if isinstance(attribute, str) and attribute in seen:
                    self.add(
                        (*path, "attribute", position),
                        f"{json.dumps(attribute)} is listed twice.",
                        "list each attribute once.",
                    )
                seen.add(attribute)
        kind = value_kind(raw)
        baseline = raw.get("baseline")
        fixed = SOURCE_KINDS.get(resolved or "")
        given = baseline_kind(baseline)
        if fixed is not None and given is not None and given != fixed:
            self.add(
                (*path, "baseline"),
                f"is {given}, but {resolved} values are "
                f"{'numbers' if fixed == 'numeric' else 'labels'}.",
                "describe durations with bins and fractions or with quantiles."
                if fixed == "numeric"
                else "describe them with categories, e.g. {OK: 0.99, ERROR: 0.01} or "
                "{2xx: 0.95, 4xx: 0.04, 5xx: 0.01}.",
            )
        elif isinstance(baseline, dict):
            check = self.profiles.profile if "profile" in baseline else self.baselines.baseline
            check(baseline, (*path, "baseline"), as_mapping(raw.get("constraints")))
        self.constraints(as_mapping(raw.get("constraints")), (*path, "constraints"), kind, resolved)
        self.json_shape(raw, path, resolved)
        if resolved == "json.shape" and "shape" in raw and "baseline" not in raw:
            # The implied baseline {expected: 1.0} makes method and thresholds meaningful.
            raw = {**raw, "baseline": {"categories": {"expected": 1.0}}}
        self.method(raw, path, kind)

    def method(self, raw: Mapping[str, Any], path: PathParts, kind: ValueKind) -> None:
        if not isinstance(raw.get("baseline"), dict):
            if "baseline" in raw:
                return  # malformed; the schema says how
            for key in ("method", "warning", "critical", "cusum_k"):
                if key in raw:
                    self.add(
                        (*path, key),
                        "has no effect without a baseline.",
                        "add a baseline to detect drift, or remove it.",
                    )
            return
        given = raw.get("method")
        if "method" in raw and not (isinstance(given, str) and given in METHODS):
            return  # the schema lists the methods
        method = method_of(raw, kind)
        info = METHODS[method]
        if not (info.numeric if kind == "numeric" else info.categorical):
            usable = [
                name
                for name, other in METHODS.items()
                if (other.numeric if kind == "numeric" else other.categorical)
            ]
            self.add(
                (*path, "method"),
                f"{method} cannot compare {kind} values.",
                f"use one of {', '.join(usable)}.",
            )
            return
        if "cusum_k" in raw and method != "cusum":
            self.add(
                (*path, "cusum_k"),
                f"applies only to method: cusum, not {method}.",
                "remove cusum_k, or use method: cusum.",
            )
        default_warning, default_critical = info.defaults(kind)
        warning = raw.get("warning", default_warning)
        critical = raw.get("critical", default_critical)
        if not (is_number(warning) and is_number(critical)):
            return
        if info.threshold_kind == "alpha":
            for key, value in (("warning", warning), ("critical", critical)):
                if key in raw and value >= 1:
                    self.add(
                        (*path, key),
                        f"is a significance level for {method} and must be below 1, got {value}.",
                        "use a p-value threshold such as 0.05 or 0.01.",
                    )
            ordered, relation = critical < warning, "below"
            why = "a smaller p-value is stronger evidence of drift"
        else:
            ordered, relation = critical > warning, "above"
            why = "a larger score means more drift"
        if ordered:
            return
        notes = [
            f"{key} is the {method} default {value}"
            for key, value in (("warning", warning), ("critical", critical))
            if key not in raw
        ]
        note = f" ({'; '.join(notes)})" if notes else ""
        where = "critical" if "critical" in raw else "warning"
        self.add(
            (*path, where),
            f"critical ({critical}) must be {relation} warning ({warning}) for {method}{note}: "
            f"{why}.",
            f"make critical {relation} warning.",
        )

    # -- baselines ----------------------------------------------------------

    def feedback(self, raw: Mapping[str, Any], path: PathParts) -> None:
        warning, critical = raw.get("warning"), raw.get("critical")
        if is_number(warning) and is_number(critical) and critical < warning:
            self.add(
                (*path, "critical"),
                f"is {critical}, below warning ({warning}): the critical level would come first.",
                "make critical at least warning.",
            )
        baseline = raw.get("baseline")
        if raw.get("metric") == "accuracy" and is_number(baseline) and baseline > 1:
            self.add(
                (*path, "baseline"),
                f"is {baseline}, but an accuracy is a share from 0 to 1.",
                "give the accuracy as a share (0.93, not 93).",
            )

    def ml_source(self, raw: Mapping[str, Any], path: PathParts, resolved: str | None) -> None:
        """``feature`` and ``output`` belong to the ML sources that read them."""
        if resolved in ("ml.feature", "ml.missing") and "feature" not in raw:
            self.add(
                (*path, "feature"),
                f"is required with source: {resolved}.",
                "name the model input feature (a column name) or give its column index.",
            )
        if "feature" in raw and resolved not in ("ml.feature", "ml.missing"):
            self.add(
                (*path, "feature"),
                f"has no effect with source: {resolved}.",
                "remove feature, or use source: ml.feature or ml.missing.",
            )
        if "output" in raw and resolved != "ml.prediction":
            self.add(
                (*path, "output"),
                f"applies only to source: ml.prediction, not {resolved}.",
                "remove output.",
            )

    def json_shape(self, raw: Mapping[str, Any], path: PathParts, resolved: str | None) -> None:
        """``shape`` goes with ``source: json.shape``, and that source needs one."""
        if resolved == "json.shape" and "shape" not in raw:
            self.add(
                (*path, "shape"),
                "is required with source: json.shape.",
                "give the expected shape: {paths: {id: number, name: string}} or "
                "{schema: {type: object, properties: ..., required: [...]}}.",
            )
        if "shape" in raw and resolved != "json.shape":
            self.add(
                (*path, "shape"),
                f"applies only to source: json.shape, not {resolved}.",
                "remove shape, or use source: json.shape.",
            )
        shape = raw.get("shape")
        if isinstance(shape, dict):
            check_shape(shape, (*path, "shape"), self.add)

    # -- constraints --------------------------------------------------------

    def constraints(
        self, raw: Mapping[str, Any], path: PathParts, kind: ValueKind, source: str | None
    ) -> None:
        low, high = raw.get("min"), raw.get("max")
        if is_number(low) and is_number(high) and low > high:
            self.add((*path, "min"), f"is {low}, above max ({high}).", "make min at most max.")
        value_type = raw.get("type")
        if source in ("span.status", "http.status_class"):
            for key in ("min", "max", "type"):
                if key in raw and (key != "type" or value_type in ("number", "integer")):
                    self.add(
                        (*path, key),
                        f"cannot apply: {source} values are labels such as OK or 2xx.",
                        "use allowed to list the accepted labels, or remove it.",
                    )
        elif kind == "numeric" and value_type in ("string", "boolean"):
            self.add(
                (*path, "type"),
                f"is {value_type}, but this watch's values are numbers.",
                "use type number or integer, or remove type.",
            )
