"""The prediction column of a model output.

Labels, regression values and scores are 1-D already. A 2-D output (class
probabilities, logits) gives one column: the one an expectation names with
``output``, else column 1 of a two-column output (the positive class), else
the index of each row's largest column (the predicted class), so a shift in
the prediction mix shows however the model reports it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .inputs import Array, to_numpy


def prediction_array(output: object) -> Array | None:
    """The output as a numpy array of one row per input row (None when it is not one)."""
    array = to_numpy(output)
    if array is None:
        return None
    if array.ndim == 0:
        return array.reshape(1)
    if array.ndim > 2:
        return array.reshape(array.shape[0], -1)
    return array


def prediction_column(array: Array, output: int | None) -> Array | None:
    if array.ndim == 1:
        return array if output in (None, 0) else None
    width = array.shape[1]
    if output is not None:
        return array[:, output] if output < width else None
    if width == 1:
        return array[:, 0]
    if width == 2:
        return array[:, 1]
    result: np.ndarray[Any, Any] = np.argmax(array, axis=1)
    return result
