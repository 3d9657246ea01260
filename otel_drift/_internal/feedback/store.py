"""Predictions waiting for their true outcome: a bounded ring, joined without per-row Python.

Two ways to find a prediction again: by the caller's own ids (one per row),
or by the model call's span (trace id + span id, and the row in its batch).
The ring holds ``capacity`` predictions; the oldest are forgotten first.
Id lookups go through ``map``/``dict`` in C, never a Python loop over rows.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Hashable, Sequence
from itertools import repeat
from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]
SpanKey = tuple[int, int]


class PredictionStore:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._values: Array = np.empty(capacity, dtype=object)
        self._slot_ids: Array = np.full(capacity, None, dtype=object)
        self._next = 0
        self._ids: dict[Hashable, int] = {}
        #: span key -> (first slot, rows, generation of the first slot's write)
        self._spans: OrderedDict[SpanKey, tuple[int, int, int]] = OrderedDict()
        self._written = 0  # rows ever written: tells a slot's generation
        self._lock = threading.Lock()

    def _slots(self, rows: int) -> Array:
        slots = (self._next + np.arange(rows)) % self.capacity
        self._next = int((self._next + rows) % self.capacity)
        self._written += rows
        return slots

    def add(self, predictions: Array, ids: Sequence[Hashable] | None, span: SpanKey | None) -> None:
        rows = int(predictions.shape[0])
        if rows == 0:
            return
        if rows > self.capacity:  # keep the newest that fit
            predictions = predictions[-self.capacity :]
            ids = ids[-self.capacity :] if ids is not None else None
            rows = self.capacity
        with self._lock:
            first_generation = self._written
            slots = self._slots(rows)
            evicted = self._slot_ids[slots]
            # Forget ids whose slot is overwritten (C-level loop).
            deque(map(self._ids.pop, evicted[evicted != None], repeat(None)), maxlen=0)  # noqa: E711
            self._values[slots] = (
                predictions.astype(object) if predictions.dtype != object else predictions
            )
            self._slot_ids[slots] = None
            if ids is not None:
                keys = np.empty(rows, dtype=object)
                keys[:] = list(ids)
                self._slot_ids[slots] = keys
                self._ids.update(zip(keys.tolist(), slots.tolist(), strict=True))
            if span is not None:
                self._spans[span] = (int(slots[0]), rows, first_generation)
                while len(self._spans) > self.capacity:
                    self._spans.popitem(last=False)

    def take_ids(self, ids: Sequence[Hashable]) -> tuple[Array, Array]:
        """(positions in ``ids`` that matched, their predictions); matched ids are removed."""
        with self._lock:
            slots = np.fromiter(map(self._ids.pop, ids, repeat(-1)), dtype=np.int64, count=len(ids))
            matched = np.flatnonzero(slots >= 0)
            found = slots[matched]
            self._slot_ids[found] = None
            return matched, self._values[found]

    def take_span(self, span: SpanKey, rows: Array | None) -> tuple[Array, Array] | None:
        """The predictions of a model call's span (``rows``: which of its rows), or None."""
        with self._lock:
            entry = self._spans.pop(span, None)
            if entry is None:
                return None
            first, count, generation = entry
            if self._written - generation > self.capacity:
                return None  # overwritten since
            wanted = np.arange(count) if rows is None else np.asarray(rows, dtype=np.int64)
            wanted = wanted[(wanted >= 0) & (wanted < count)]
            return wanted, self._values[(first + wanted) % self.capacity]
