"""The expectations file: what a service declares about its own telemetry.

Load one with :func:`load_expectations` (YAML or JSON file) or
:func:`loads_expectations` (text); both return the typed, fully resolved
:class:`ExpectationsFile` or raise :class:`ExpectationsError` listing every
problem with its place and a fix. The JSON Schema of the format ships as
``otel_drift/_internal/expectations/schema.json``; ``otel-drift validate FILE``
checks files from the command line.
"""

from __future__ import annotations

from otel_drift._internal.detectors import METHODS, MethodInfo
from otel_drift._internal.expectations.errors import ExpectationsError, Problem
from otel_drift._internal.expectations.load import load_expectations, loads_expectations
from otel_drift._internal.expectations.model import (
    DEFAULT_CATEGORICAL_METHOD,
    DEFAULT_NUMERIC_METHOD,
    DEFAULT_STATUS_CODE_ATTRIBUTES,
    Baseline,
    BinnedBaseline,
    CategoricalBaseline,
    Constraints,
    Expectation,
    ExpectationsFile,
    Hysteresis,
    Match,
    Source,
    Watch,
    Window,
)

__all__ = [
    "DEFAULT_CATEGORICAL_METHOD",
    "DEFAULT_NUMERIC_METHOD",
    "DEFAULT_STATUS_CODE_ATTRIBUTES",
    "METHODS",
    "Baseline",
    "BinnedBaseline",
    "CategoricalBaseline",
    "Constraints",
    "Expectation",
    "ExpectationsError",
    "ExpectationsFile",
    "Hysteresis",
    "Match",
    "MethodInfo",
    "Problem",
    "Source",
    "Watch",
    "Window",
    "load_expectations",
    "loads_expectations",
]
