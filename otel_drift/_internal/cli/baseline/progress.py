"""A one-line progress bar on stderr for the baseline commands (no dependency)."""

from __future__ import annotations

from typing import TextIO


class Progress:
    """A one-line progress bar on stderr (no dependency): rows done of this pass's rows.

    The first pass over a CSV file does not know how many rows there are and
    counts them; the second pass has a bar.
    """

    def __init__(self, stream: TextIO, enabled: bool, passes: int, unit: str = "rows") -> None:
        self.stream, self.enabled, self.passes, self.unit = stream, enabled, passes, unit
        self.step, self.done = 0, 0
        self.total: int | None = None

    def start(self, step: int, total: int | None) -> None:
        self.step, self.total, self.done = step, total, 0

    def update(self, rows: int) -> None:
        self.done += rows
        if not self.enabled:
            return
        label = f"pass {self.step}/{self.passes}"
        if self.total:
            share = min(self.done / self.total, 1.0)
            bar = "#" * int(share * 30)
            self.stream.write(f"\r{label} [{bar:<30}] {share:6.1%} of {self.total:,} {self.unit}")
        else:
            self.stream.write(f"\r{label} {self.done:,} {self.unit}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
