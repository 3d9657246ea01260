"""``otel-drift baseline DATA``: an expectations file for a model, from reference data.

Reads CSV, Parquet or ``.npy`` in chunks (data larger than memory is fine),
gives each feature a binned baseline with quantile edges (numbers) or its
category frequencies (labels), and a baseline of its missing-value rate;
with ``--model module:attribute`` it also runs the model on the data for the
prediction's baseline. The output is YAML meant to be read and edited, and
is checked like ``otel-drift validate`` before it is written.
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from otel_drift._internal import semconv as sc
from otel_drift._internal.cli.baseline.model import ModelError, load_model, predict
from otel_drift._internal.cli.baseline.progress import Progress
from otel_drift._internal.cli.baseline.read import DataError, Source, open_source
from otel_drift._internal.cli.baseline.stats import (
    MAX_CATEGORIES,
    CategoryStats,
    NumericStats,
    is_categorical_output,
    missing_mask,
)
from otel_drift._internal.cli.registry import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from otel_drift._internal.expectations.errors import ExpectationsError
from otel_drift._internal.expectations.load import loads_expectations
from otel_drift._internal.learn.bins import open_fractions, rounded_shares
from otel_drift._internal.learn.reference import MIN_WINDOWS, WindowScores, has_window_score
from otel_drift._internal.learn.yaml_text import dump, plain_number, watch_name
from otel_drift._internal.values import labels_of

#: Rows per window of a data file, unless --window says.
CSV_WINDOW = 1000
#: Categorical features with at most this many categories get an allowed-set constraint.
MAX_ALLOWED = 50
#: Distinct predicted labels remembered for the reference windows; rarer ones are
#: replayed as one label outside the baseline (as live values beyond it count).
VOCABULARY = 4 * MAX_CATEGORIES
UNLISTED = "\x00unlisted"
#: Thresholds written for each kind of watched value (editable in the file).
NUMERIC_RULE = {"method": "psi", "warning": 0.1, "critical": 0.25}
CATEGORICAL_RULE = {"method": "jensen_shannon", "warning": 0.1, "critical": 0.2}
#: The missing-value rate: linf is the largest change of a share, here of "missing".
MISSING_RULE = {"method": "linf", "warning": 0.05, "critical": 0.1}


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


@dataclass
class _Prediction:
    categorical: bool | None = None
    labels: CategoryStats = field(default_factory=CategoryStats)
    numbers: NumericStats = field(default_factory=lambda: NumericStats(np.random.default_rng(1)))
    # Quality on the reference data, when --target names the true outcome.
    outcomes: int = 0
    correct: int = 0
    abs_error: float = 0.0
    # Categorical predictions are spilled as codes into this vocabulary, for pass 3.
    vocabulary: dict[str, int] = field(default_factory=dict)

    def spill_labels(self, column: np.ndarray[Any, Any], spill: Any) -> None:
        """Write each row's label as an int32 code: -1 missing, -2 beyond the vocabulary."""
        labels = labels_of(column)
        present = ~missing_mask(column) & np.asarray(labels != None, dtype=bool)  # noqa: E711
        codes = np.full(column.shape[0], -1, dtype=np.int32)
        if present.any():
            found, inverse = np.unique(labels[present].astype(str), return_inverse=True)
            codes[present] = np.array([self._code(text) for text in found.tolist()])[inverse]
        codes.tofile(spill)

    def _code(self, text: str) -> int:
        code = self.vocabulary.get(text)
        if code is None and len(self.vocabulary) < VOCABULARY:
            code = self.vocabulary[text] = len(self.vocabulary)
        return -2 if code is None else code

    def replay(self, spill: Any, rows: int) -> np.ndarray[Any, Any]:
        """The next ``rows`` predictions from the spill: numbers, or labels (None: missing)."""
        if not self.categorical:
            return np.fromfile(spill, dtype=np.float64, count=rows)
        codes = np.fromfile(spill, dtype=np.int32, count=rows)
        table = np.array([*self.vocabulary, UNLISTED, None], dtype=object)
        return table[codes]  # -2 and -1 index the last two entries


def from_data(arguments: argparse.Namespace) -> int:
    """``otel-drift baseline DATA --name NAME``: the model's expectation file, written."""
    output: Path = arguments.output
    arguments.window = arguments.window or CSV_WINDOW
    if arguments.bins < 2 or arguments.chunk_rows < 1 or arguments.window < 1:
        print(
            "otel-drift baseline: --bins must be >= 2, --chunk-rows and --window >= 1",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        text = build(arguments)
        loads_expectations(text, path=str(output))
    except (DataError, ModelError) as error:
        print(f"otel-drift baseline: {error}", file=sys.stderr)
        return EXIT_FAILED
    except ExpectationsError as error:  # a bug of ours: say so rather than write it
        print(f"otel-drift baseline: the generated file is invalid:\n{error}", file=sys.stderr)
        return EXIT_FAILED
    output.write_text(text, encoding="utf-8")
    print(f"{output}: wrote expectation {arguments.name!r}", file=sys.stderr)
    return EXIT_OK


def build(arguments: argparse.Namespace) -> str:
    source = open_source(arguments.data, _split(arguments.feature_names) or None)
    features = _features(source, arguments)
    categorical = {
        name
        for name in features
        if name not in source.numeric or name in set(_split(arguments.categorical))
    }
    model = load_model(arguments.model) if arguments.model else None
    # The model gets the columns it was fitted on when it names them, else the features.
    # (LightGBM renames "mean radius" to "mean_radius": then the features go, in order.)
    known = getattr(model, "feature_names_in_", None)
    named = [str(c) for c in known] if known is not None else []
    model_columns = named if named and set(named) <= set(source.columns) else features
    rng = np.random.default_rng(0)
    numeric_stats = {name: NumericStats(rng) for name in features if name not in categorical}
    category_stats = {name: CategoryStats() for name in features if name in categorical}
    prediction = _Prediction() if model is not None else None
    show = arguments.progress if arguments.progress is not None else sys.stderr.isatty()
    progress = Progress(sys.stderr, show, 2 + _has_reference(source.rows or 0, arguments.window))
    progress.start(1, source.rows)
    rows = 0
    with tempfile.TemporaryFile() as spill:
        for chunk in source.chunks(arguments.chunk_rows):
            size = len(next(iter(chunk.values()))) if chunk else 0
            rows += size
            for name, stats in numeric_stats.items():
                stats.first_pass(chunk[name])
            for name, labels in category_stats.items():
                labels.update(chunk[name])
            if prediction is not None and model is not None:
                _predict_first(
                    prediction,
                    model=model,
                    arguments=arguments,
                    chunk=chunk,
                    features=model_columns,
                    spill=spill,
                )
            progress.update(size)
        if rows == 0:
            raise DataError(f"{arguments.data}: no rows.")
        for stats in numeric_stats.values():
            stats.place_edges(arguments.bins)
        if prediction is not None and prediction.categorical is False:
            prediction.numbers.place_edges(arguments.bins)
        spill.seek(0)
        progress.passes = 2 + _has_reference(rows, arguments.window)
        progress.start(2, rows)
        for chunk in source.chunks(arguments.chunk_rows):
            size = len(next(iter(chunk.values()))) if chunk else 0
            for name, stats in numeric_stats.items():
                stats.second_pass(chunk[name])
            if prediction is not None and prediction.categorical is False:
                values = np.fromfile(spill, dtype=np.float64, count=size)
                prediction.numbers.second_pass(values)
            progress.update(size)
        document = _document(
            arguments,
            match=_model_match(arguments, model),
            features=features,
            numeric_stats=numeric_stats,
            category_stats=category_stats,
            prediction=prediction,
            rows=rows,
        )
        if _has_reference(rows, arguments.window):
            spill.seek(0)
            progress.start(3, rows)
            _reference(
                arguments,
                source,
                document=document,
                prediction=prediction,
                spill=spill,
                progress=progress,
            )
        else:
            print(
                f"otel-drift baseline: no reference windows: {rows:,} rows make "
                f"{rows // arguments.window} windows of --window {arguments.window:,}, and "
                f"learned thresholds need {MIN_WINDOWS}; the thresholds written are the "
                "methods' defaults.",
                file=sys.stderr,
            )
    progress.close()
    return dump(document, _header(arguments, rows))


def _has_reference(rows: int, window: int) -> bool:
    return rows // window >= MIN_WINDOWS


def _reference(
    arguments: argparse.Namespace,
    source: Source,
    *,
    document: dict[str, Any],
    prediction: _Prediction | None,
    spill: Any,
    progress: Progress,
) -> None:
    """Pass 3: score the data's consecutive windows against each watch's new baseline.

    The baselines are read back through the loader, so each window is scored
    with exactly the fractions, edges and std the engine will use. A watch
    whose reference scores vary loses its written thresholds: they are
    learned from the block (set warning/critical in the file to override).
    """
    (expectation,) = loads_expectations(dump(document, ""), path=str(arguments.output)).expectations
    min_samples = min(arguments.min_samples, arguments.window)
    scorers = {
        watch.name: (watch, WindowScores(watch, window=arguments.window, min_samples=min_samples))
        for watch in expectation.watch
        if has_window_score(watch)
    }
    for chunk in source.chunks(arguments.chunk_rows):
        size = len(next(iter(chunk.values()))) if chunk else 0
        for watch, scores in scorers.values():
            kind = watch.source.kind
            if kind == "ml.prediction":
                assert prediction is not None
                scores.add(prediction.replay(spill, size))
            elif kind == "ml.missing":
                scores.add(missing_mask(chunk[str(watch.source.feature)]).astype(np.float64))
            else:
                scores.add(chunk[str(watch.source.feature)])
        progress.update(size)
    entries = document["expectations"][0]["watch"]
    few = []
    for name, (_, scores) in scorers.items():
        block = scores.block()
        if block is None:
            few.append(name)
            continue
        entry = entries[name]
        entry["baseline"]["reference"] = block
        if block["std"] > 0:
            # Scores that never varied (a feature never missing) teach no threshold:
            # those watches keep the written defaults.
            entry.pop("warning", None)
            entry.pop("critical", None)
    if few:
        print(
            f"otel-drift baseline: no reference windows for {', '.join(few)}: fewer than "
            f"{MIN_WINDOWS} windows held --min-samples {min_samples} values; their thresholds "
            "are the methods' defaults.",
            file=sys.stderr,
        )


def _model_match(arguments: argparse.Namespace, model: object) -> dict[str, Any]:
    """The ``match`` that finds the model's spans, with no ``name_model()`` call required.

    ``--model-name`` (else ``--name``) names the model, and the version is
    ``--model-version``. With ``--model``, the loaded model says what its spans
    will carry: the ML instrumentations name a model by its ``name_model()``
    name and version, else by its class name (``Pipeline``). A model named by
    ``name_model`` matches by that name; an unnamed one by either its class name
    or the name given (``attribute_regex``), so the file matches the spans
    whether or not the serving code calls ``name_model(model, NAME)``.
    """
    name = arguments.model_name or arguments.name
    version = arguments.model_version
    attributes: dict[str, Any] = {sc.ML_MODEL_NAME: name}
    block: dict[str, Any] = {"attributes": attributes}
    if model is not None:
        # Only with --model: the instrumentation package brings OpenTelemetry in.
        from otel_drift.instrumentation._ml.naming import (  # noqa: PLC0415
            NAME_ATTRIBUTE,
            model_identity,
        )

        known_name, known_version = model_identity(model)
        version = version or known_version
        if arguments.model_name is None and hasattr(model, NAME_ATTRIBUTE):
            attributes[sc.ML_MODEL_NAME] = known_name
        elif known_name != name:
            del attributes[sc.ML_MODEL_NAME]
            either = "|".join(re.escape(n) for n in (name, known_name))
            block["attribute_regex"] = {sc.ML_MODEL_NAME: f"^(?:{either})$"}
        attributes[sc.ML_OPERATION] = arguments.operation
    if version:
        attributes[sc.ML_MODEL_VERSION] = str(version)
    return block


def _features(source: Source, arguments: argparse.Namespace) -> list[str]:
    wanted = _split(arguments.features) or list(source.columns)
    unknown = [name for name in wanted if name not in source.columns]
    if unknown:
        raise DataError(
            f"{arguments.data}: no column {unknown[0]!r}; the columns are "
            f"{', '.join(source.columns)}."
        )
    left_out = set(_split(arguments.exclude)) | ({arguments.target} if arguments.target else set())
    features = [name for name in wanted if name not in left_out]
    if not features:
        raise DataError(f"{arguments.data}: no feature columns left to watch.")
    return features


def _predict_first(
    prediction: _Prediction,
    *,
    model: Any,
    arguments: argparse.Namespace,
    chunk: dict[str, np.ndarray[Any, Any]],
    features: Sequence[str],
    spill: Any,
) -> None:
    # The CLI's one import from outside the base: the ML instrumentation's
    # reading of a model output, so that the baseline is built from the same
    # prediction column the live spans report. Only with --model.
    from otel_drift.instrumentation._ml.outputs import (  # noqa: PLC0415
        prediction_array,
        prediction_column,
    )

    try:
        raw = predict(model, arguments.operation, chunk, features)
    except ModelError:
        raise
    except Exception as error:
        raise ModelError(f"the model failed on the reference data: {error!r}") from error
    array = prediction_array(raw)
    column = prediction_column(array, arguments.output_column) if array is not None else None
    if column is None:
        raise ModelError(f"the model's {arguments.operation}() output has no usable column.")
    if prediction.categorical is None:
        prediction.categorical = is_categorical_output(column)
    if prediction.categorical:
        prediction.labels.update(column)
        prediction.spill_labels(column, spill)
    else:
        numbers = column.astype(np.float64)
        prediction.numbers.first_pass(numbers)
        numbers.tofile(spill)
    truth = chunk.get(arguments.target) if arguments.target else None
    if truth is not None and len(truth) == len(column):
        _score(prediction, column, truth)


def _score(
    prediction: _Prediction, column: np.ndarray[Any, Any], truth: np.ndarray[Any, Any]
) -> None:
    """Accuracy (labels) or absolute error (numbers) against the true outcome."""
    if prediction.categorical:
        present = ~missing_mask(truth)
        predicted = labels_of(column[present])
        prediction.correct += int(np.count_nonzero(predicted == labels_of(truth[present])))
        prediction.outcomes += int(present.sum())
    elif truth.dtype.kind in "fiub":
        error = column.astype(np.float64) - truth.astype(np.float64)
        finite = np.isfinite(error)
        prediction.abs_error += float(np.abs(error[finite]).sum())
        prediction.outcomes += int(finite.sum())


def _document(
    arguments: argparse.Namespace,
    *,
    match: dict[str, Any],
    features: Sequence[str],
    numeric_stats: dict[str, NumericStats],
    category_stats: dict[str, CategoryStats],
    prediction: _Prediction | None,
    rows: int,
) -> dict[str, Any]:
    watch: dict[str, Any] = {}
    taken: set[str] = set()
    for feature in features:
        name = watch_name(feature, taken)
        key: str | int = feature
        if feature in numeric_stats:
            stats = numeric_stats[feature]
            watch[name] = {"feature": key, **_numeric_watch(stats)}
            missing, total = stats.missing, stats.count + stats.missing
        else:
            labels = category_stats[feature]
            watch[name] = {"feature": key, **_categorical_watch(labels)}
            missing, total = labels.missing, labels.count + labels.missing + labels.dropped
        watch[watch_name(feature, taken, ".missing")] = {
            "source": "ml.missing",
            "feature": key,
            **_missing_watch(missing, total),
        }
    if prediction is not None:
        name = watch_name("prediction", taken)
        entry: dict[str, Any] = {"source": "ml.prediction"}
        if arguments.output_column is not None:
            entry["output"] = arguments.output_column
        if prediction.categorical:
            entry.update(_categorical_watch(prediction.labels, constrain=False))
        else:
            entry.update(_numeric_watch(prediction.numbers))
        watch[name] = entry
    expectation: dict[str, Any] = {
        "name": arguments.name,
        "description": f"Built by otel-drift baseline from {arguments.data.name} ({rows} rows).",
        "match": match,
        "window": {"spans": arguments.window},
        "min_samples": min(arguments.min_samples, arguments.window),
    }
    if prediction is not None and prediction.outcomes:
        # What label feedback (otel_drift.LabelFeedback) compares live outcomes with.
        if prediction.categorical:
            metric, value = "accuracy", prediction.correct / prediction.outcomes
        else:
            metric, value = "mae", prediction.abs_error / prediction.outcomes
        expectation["feedback"] = {"metric": metric, "baseline": round(value, 6)}
    expectation["watch"] = watch
    return {"version": 1, "expectations": [expectation]}


def _numeric_watch(stats: NumericStats) -> dict[str, Any]:
    assert stats.edges is not None and stats.counts is not None
    baseline: dict[str, Any] = {
        "bins": [plain_number(edge) for edge in stats.edges],
        "fractions": open_fractions(stats.counts.tolist()),
    }
    if stats.count >= 2 and stats.std > 0:
        baseline["mean"] = plain_number(float(f"{stats.mean:.6g}"))
        baseline["std"] = plain_number(float(f"{stats.std:.6g}"))
    if stats.count:
        baseline["samples"] = stats.count
    return {"baseline": baseline, **NUMERIC_RULE}


def _categorical_watch(labels: CategoryStats, *, constrain: bool = True) -> dict[str, Any]:
    total = labels.count
    ordered = labels.counts.most_common()
    if not ordered:
        ordered = [("__none__", 1)]
        total = 1
    shares = rounded_shares([count / total for _, count in ordered])
    entry: dict[str, Any] = {
        "baseline": {
            "categories": {label: share for (label, _), share in zip(ordered, shares, strict=True)},
            "samples": max(total, 1),
        },
        **CATEGORICAL_RULE,
    }
    if constrain and len(ordered) <= MAX_ALLOWED and not labels.dropped:
        entry["constraints"] = {"allowed": [label for label, _ in ordered]}
    return entry


def _missing_watch(missing: int, total: int) -> dict[str, Any]:
    rate = missing / total if total else 0.0
    shares = rounded_shares([1.0 - rate, rate])
    return {"baseline": {"bins": [0, 0.5, 1], "fractions": shares}, **MISSING_RULE}


def _header(arguments: argparse.Namespace, rows: int) -> str:
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"Expectations for model {arguments.model_name or arguments.name!r}, built by\n"
        f"`otel-drift baseline` from {arguments.data} ({rows} rows) on {today}.\n"
        "Edit freely (thresholds, constraints, which features to watch), then check it with\n"
        f"`otel-drift validate {arguments.output}`.\n"
    )
