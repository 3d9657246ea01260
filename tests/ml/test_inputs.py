"""Model inputs and outputs as columns: dtypes, missing values, sparse, outputs."""

from __future__ import annotations

import numpy as np
from otel_drift.instrumentation._ml.columns import for_engine, missing_mask, violation_counts
from otel_drift.instrumentation._ml.inputs import features_of
from otel_drift.instrumentation._ml.outputs import prediction_array, prediction_column

from otel_drift._internal.expectations.model import Constraints
from tests.ml.support import need


def test_dataframe_dtypes_and_missing_values() -> None:
    pd = need("pandas")
    frame = pd.DataFrame(
        {
            "segment": pd.Series(["a", None, "b", "a"], dtype="category"),
            "count": pd.Series([1, None, 3, 4], dtype="Int64"),
            "flag": [True, False, True, True],
            "city": pd.Series(["x", pd.NA, "y", "x"], dtype="string"),
            "score": [0.5, np.nan, 1.5, 2.5],
        }
    )
    features = features_of(frame)
    assert features is not None and features.names == ("segment", "count", "flag", "city", "score")
    segment, count, flag, city, score = (features.column(n) for n in features.names or ())
    assert segment is not None and count is not None and flag is not None
    assert city is not None and score is not None
    assert for_engine(segment).tolist() == ["a", None, "b", "a"]
    assert count.dtype == np.float64 and np.isnan(count[1])
    assert for_engine(flag).tolist() == [1.0, 0.0, 1.0, 1.0]
    assert missing_mask(city).tolist() == [False, True, False, False]
    assert missing_mask(score).tolist() == [False, True, False, False]
    allowed = Constraints(allowed=frozenset({"a"}), required=True)
    assert violation_counts(allowed, segment, 4) == {"required": 1, "allowed": 1}
    assert violation_counts(Constraints(max=2), count, 4) == {"max": 2}
    assert features.column("missing") is None and features.column(7) is None


def test_arrays_lists_and_sparse() -> None:
    sparse = need("scipy.sparse")
    x = np.array([[0.0, 1.0], [2.0, 0.0], [0.0, 0.0]])
    named = features_of(x, ["a", "b"])
    assert named is not None and named.column("b") is not None
    assert named.column(1).tolist() == [1.0, 0.0, 0.0]
    listed = features_of([[1, "x"], [2, "y"]])
    assert listed is not None and listed.width == 2 and listed.names is None
    assert listed.column("1").tolist() == ["x", "y"]
    csr = features_of(sparse.csr_matrix(x))
    assert csr is not None and csr.is_sparse
    assert csr.column(0).tolist() == [0.0, 2.0, 0.0]
    # An XGBoost DMatrix's unstored entries are missing values.
    holes = features_of(sparse.csr_matrix(x), implicit=float("nan"))
    assert holes is not None
    assert np.isnan(holes.column(0)).tolist() == [True, False, True]
    images = features_of(np.zeros((4, 3, 2, 2)))
    assert images is not None and images.width == 12


def test_prediction_columns() -> None:
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8]])
    logits = np.array([[0.1, 3.0, 0.2], [2.0, 0.1, 0.3]])
    labels = np.array(["a", "b"])
    assert prediction_column(probabilities, None).tolist() == [0.1, 0.8]
    assert prediction_column(probabilities, 0).tolist() == [0.9, 0.2]
    assert prediction_column(logits, None).tolist() == [1, 0]
    assert prediction_column(logits, 5) is None
    assert prediction_column(labels, None).tolist() == ["a", "b"]
    array = prediction_array([[1.0], [2.0]])
    assert array is not None and prediction_column(array, None).tolist() == [1.0, 2.0]
    assert prediction_array(object()) is None


def test_a_mixed_frame_reads_its_numbers_from_its_dtype_blocks_once() -> None:
    pd = need("pandas")
    from otel_drift.instrumentation._ml.frames import FRAMES  # noqa: PLC0415

    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.normal(size=(6, 4)), columns=["a", "b", "c", "d"])
    frame.insert(1, "size", pd.Categorical(["s", "m", None, "l", "s", "m"]))
    frame.insert(3, "count", pd.array([1, None, 3, 4, 5, 6], dtype="Int64"))
    frame["flag"] = [True, False, True, True, False, True]
    frame["n"] = np.arange(6)
    frame["city"] = ["x", "y", None, "x", "y", "x"]
    numeric = ["a", "b", "count", "c", "d", "flag", "n"]
    expected = frame[numeric].to_numpy(dtype=np.float64, na_value=np.nan)
    before = (FRAMES.conversions, FRAMES.blocks)
    features = features_of(frame)
    assert features is not None
    matrix = features.numeric_matrix()
    assert matrix is not None and np.array_equal(matrix, expected, equal_nan=True)
    # Each column is found in the block, in the input's order; the others read apart.
    assert [features.matrix_position(name) for name in numeric] == list(range(7))
    assert features.matrix_position("size") is None
    size = features.column("size")
    assert size is not None and size.tolist() == ["s", "m", None, "l", "s", "m"]
    assert (FRAMES.conversions - before[0], FRAMES.blocks - before[1]) == (1, 1)
    # A frame of the same columns whose dtypes changed is read afresh, not misread.
    changed = frame.assign(b=["p", "q", "r", "s", "t", "u"])
    features = features_of(changed)
    assert features is not None
    matrix = features.numeric_matrix()
    assert matrix is not None and features.matrix_position("b") is None
    assert np.array_equal(matrix[:, 0], frame["a"].to_numpy())
