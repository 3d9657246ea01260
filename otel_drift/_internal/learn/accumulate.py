"""What is learned of each expectation while spans stream by, in memory that does not grow.

Per :class:`~otel_drift._internal.learn.discover.Key`, a :class:`KeyStats`
holds the span count and period, and per watched value either the counts of
one fixed log grid (numbers: ``grid.py``) or of a bounded vocabulary of
labels. Spans are also cut into windows of ``window`` spans, as the engine
cuts them (the key's spans in the order they come); each full window's
values are kept as 16-bit codes in a reservoir of at most ``max_windows``
windows (uniform over all windows, seeded), for the reference scores the
writer computes once the baseline is known. So memory per key is fixed by
``window``, ``max_windows`` and the grid, not by the number of spans; the
:class:`Learner` keeps at most ``max_keys`` keys and counts the spans of the
others.

Cost: ``--from-traces`` on a million synthetic spans ran at 65,900 spans/s
against 128,500 for the reader alone, so discovery, this accumulation and
the write take about 7.4 us a span (benchmarks/learn_traces.py). Memory, by
arithmetic: a key with three values, windows of 200 and 120 windows kept,
holds 144 kB of window codes plus 24 kB of grid counts per numeric value.
With a profile (``Learner(profile=Slotting(...))``), each key also keeps its
counts and reference windows per time slot (``slots.py``, which says the
memory), and no flat reservoir.

>>> learner = Learner(window=2, max_windows=4, max_keys=10)
>>> from otel_drift._internal.learn.discover import SpanRecord
>>> for ms in (10, 11, 12, 13, 14):
...     learner.add(SpanRecord("GET /a", "server", "f", {"http.route": "/a",
...         "http.method": "GET", "http.status_code": 200}, 0, ms * 1_000_000))
>>> stats = learner.keys[next(k for k in learner.keys if k.family == "route")]
>>> stats.spans, len(stats.windows), int(stats.numbers["duration"].sum())
(5, 2, 4)
>>> learner.finish(); int(stats.numbers["duration"].sum())
5
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from otel_drift._internal.learn.discover import Key, SpanRecord, discover
from otel_drift._internal.learn.grid import CELLS, cell_of, cell_values
from otel_drift._internal.learn.slots import SlotStats, Slotting

#: Labels told apart per watched value; rarer ones are counted as "other".
MAX_LABELS = 64
#: The code of a label beyond the vocabulary, and of a missing value.
OTHER = MAX_LABELS
MISSING = -1
#: Values that are numbers; the rest are labels.
NUMERIC = frozenset({"duration", "input_tokens", "output_tokens"})

Codes = np.ndarray[Any, np.dtype[np.int16]]


class KeyStats:
    """One expectation's counts, extremes, period and reservoir of windows."""

    def __init__(
        self, window: int, max_windows: int, rng: random.Random, slotting: Slotting | None = None
    ) -> None:
        self.window = window
        self.max_windows = max_windows
        self.rng = rng
        self.spans = 0
        self.first_ns = 0
        self.last_ns = 0
        #: Full windows seen (the reservoir holds a uniform sample of them).
        self.windows_seen = 0
        self.windows: list[dict[str, Codes]] = []
        #: Each kept window's number among the full windows seen (its place in time).
        self.window_numbers: list[int] = []
        self.numbers: dict[str, np.ndarray[Any, np.dtype[np.int64]]] = {}
        self.low: dict[str, float] = {}
        self.high: dict[str, float] = {}
        self.vocabulary: dict[str, dict[str, int]] = {}
        self.labels: dict[str, np.ndarray[Any, np.dtype[np.int64]]] = {}
        self._rows = 0
        self._current: dict[str, list[int]] = {}
        #: With a profile: the counts and windows per slot, and each current row's slot.
        self.slotted = (
            None
            if slotting is None
            else SlotStats(slotting, max_windows=max_windows, label_codes=MAX_LABELS + 1, rng=rng)
        )
        self._slots: list[int] = []

    def add(
        self, values: dict[str, float | str], start_ns: int, end_ns: int, slot: int = 0
    ) -> None:
        """One span's values; ``slot``: its start's profile slot (with a profile only)."""
        if not self.spans:
            self.first_ns = start_ns
        self.spans += 1
        self.first_ns = min(self.first_ns, start_ns)
        self.last_ns = max(self.last_ns, end_ns)
        rows = self._rows
        current = self._current
        for name, value in values.items():
            column = current.get(name)
            if column is None:
                column = current[name] = [MISSING] * rows
            column.append(self._encode(name, value))
        self._rows = rows = rows + 1
        if self.slotted is not None:
            self._slots.append(slot)
        if len(values) != len(current):
            for column in current.values():
                if len(column) < rows:
                    column.append(MISSING)
        if rows == self.window:
            self._close(keep=True)

    def _encode(self, name: str, value: float | str) -> int:
        if isinstance(value, float):
            if not math.isfinite(value):
                return MISSING
            if name in self.low:
                self.low[name] = min(self.low[name], value)
                self.high[name] = max(self.high[name], value)
            else:
                self.low[name] = self.high[name] = value
            return cell_of(value)
        vocabulary = self.vocabulary.setdefault(name, {})
        code = vocabulary.get(value)
        if code is None:
            code = OTHER if len(vocabulary) >= MAX_LABELS else len(vocabulary)
            if code != OTHER:
                vocabulary[value] = code
        return code

    def _close(self, *, keep: bool) -> None:
        window: dict[str, Codes] = {}
        slotted = self.slotted
        slots = np.array(self._slots, dtype=np.int16)
        for name, column in self._current.items():
            codes = np.array(column, dtype=np.int16)
            present = codes[codes >= 0]
            if slotted is not None:
                slotted.count(name, codes, slots, name in NUMERIC)
            if name in NUMERIC:
                counts = self.numbers.setdefault(name, np.zeros(CELLS, dtype=np.int64))
                counts += np.bincount(present, minlength=CELLS)
            else:
                counts = self.labels.setdefault(name, np.zeros(MAX_LABELS + 1, dtype=np.int64))
                counts += np.bincount(present, minlength=MAX_LABELS + 1)
            window[name] = codes
        self._current = {name: [] for name in self._current}
        self._rows = 0
        self._slots = []
        if not keep:
            return
        self.windows_seen += 1
        if slotted is not None:
            slotted.keep(int(slots[0]), window)
        elif len(self.windows) < self.max_windows:
            self.windows.append(window)
            self.window_numbers.append(self.windows_seen)
        else:
            slot = self.rng.randrange(self.windows_seen)
            if slot < self.max_windows:
                self.windows[slot] = window
                self.window_numbers[slot] = self.windows_seen

    def kept_in_order(self) -> list[tuple[bool, dict[str, Codes]]]:
        """The kept windows in time order, each with whether it directly follows the one before."""
        order = sorted(range(len(self.windows)), key=self.window_numbers.__getitem__)
        numbers = [self.window_numbers[i] for i in order]
        return [
            (n > 0 and numbers[n - 1] + 1 == numbers[n], self.windows[i])
            for n, i in enumerate(order)
        ]

    def finish(self) -> None:
        """Count the last, partial window's values (it is not a reference window)."""
        if self._rows:
            self._close(keep=False)

    def label_counts(self, name: str) -> Counter[str]:
        """Each known label's count (beyond the vocabulary: left out)."""
        counts = self.labels.get(name)
        found: Counter[str] = Counter()
        if counts is None:
            return found
        for text, code in self.vocabulary.get(name, {}).items():
            if counts[code]:
                found[text] = int(counts[code])
        return found

    def replay(self, name: str, codes: Codes) -> np.ndarray[Any, Any]:
        """A stored window's column as the engine would read it: numbers (NaN) or labels (None)."""
        if name in NUMERIC:
            return np.where(codes == MISSING, np.nan, cell_values(codes))
        table = np.array([*self.vocabulary.get(name, {}), None], dtype=object)
        texts = np.full(codes.size, None, dtype=object)
        present = codes >= 0
        known = present & (codes < OTHER)
        texts[known] = table[codes[known]]
        texts[present & (codes == OTHER)] = "\x00other"
        return texts

    def present(self, name: str) -> int:
        """How many spans gave ``name`` a value."""
        counts = self.numbers.get(name) if name in NUMERIC else self.labels.get(name)
        return 0 if counts is None else int(counts.sum())


class Learner:
    """Discovery + one :class:`KeyStats` per key, for at most ``max_keys`` keys."""

    def __init__(
        self,
        *,
        window: int,
        max_windows: int = 120,
        max_keys: int = 1000,
        keep: Callable[[Key], bool] | None = None,
        profile: Slotting | None = None,
    ) -> None:
        self.window = window
        #: With a profile: each key's values are also counted per time slot.
        self.profile = profile
        #: Which discovered keys to learn (None: all); the others are not counted.
        self.keep = keep
        self.max_windows = max_windows
        self.max_keys = max_keys
        self.keys: dict[Key, KeyStats] = {}
        #: Spans of keys beyond ``max_keys``, by family.
        self.untracked: Counter[str] = Counter()
        self.spans = 0
        self._rng = random.Random(20_261_205)

    def add(self, record: SpanRecord) -> None:
        self.spans += 1
        slot = 0 if self.profile is None else self.profile.slot(record.start_ns)
        for key, values in discover(record):
            stats = self.keys.get(key)
            if stats is None:
                if self.keep is not None and not self.keep(key):
                    continue
                if len(self.keys) >= self.max_keys:
                    self.untracked[key.family] += 1
                    continue
                stats = self.keys[key] = KeyStats(
                    self.window, self.max_windows, self._rng, self.profile
                )
            stats.add(values, record.start_ns, record.end_ns, slot)

    def finish(self) -> None:
        for stats in self.keys.values():
            stats.finish()
