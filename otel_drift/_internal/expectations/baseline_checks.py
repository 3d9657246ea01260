"""Checks of a watched value's ``baseline:`` that JSON Schema cannot express.

Bin edges that increase, fractions and shares that sum to one, quantiles in
order, categories that agree with the ``allowed`` constraint: the part of the
semantic checks (``semantic.py``) that reads baselines, in a class of its own
so that each checker holds one concern.
"""

import json
import math
from collections.abc import Callable, Mapping, Sequence
from itertools import pairwise
from typing import Any

from otel_drift._internal.expectations.baselines import bin_moments, quantile_bins
from otel_drift._internal.expectations.errors import PathParts
from otel_drift._internal.expectations.normalize import scalar_text
from otel_drift._internal.expectations.resolve import (
    is_number,
)

#: Fractions and category shares must sum to 1 within this (1 %): shares
#: written with 3 decimals may sum to 0.999 or 1.001. A sum off by more than
#: rounding (:data:`EXACT_SUM`) but within this is read as shares of the sum
#: (each divided by it), with a note in the log.
SUM_TOLERANCE = 0.01
#: A sum this close to 1 is 1.
EXACT_SUM = 1e-6


def _first(entry: tuple[float, Any, str]) -> float:
    return entry[0]


class BaselineChecker:
    """Reports baseline problems through the semantic checker's ``add``."""

    def __init__(
        self,
        add: Callable[[PathParts, str, str], None],
        rescale: Callable[[PathParts, float], None],
    ) -> None:
        self.add = add
        #: Called with shares (their path) that sum to 1 within SUM_TOLERANCE only.
        self.rescale = rescale

    def baseline(
        self, raw: Mapping[str, Any], path: PathParts, constraints: Mapping[str, Any]
    ) -> None:
        if "categories" in raw:
            self.categories(raw.get("categories"), (*path, "categories"), constraints)
            return
        bins: tuple[Sequence[float], Sequence[float]] | None
        if "quantiles" in raw:
            bins = self.quantiles(raw.get("quantiles"), (*path, "quantiles"))
        else:
            bins = self.bins(raw.get("bins"), raw.get("fractions"), path)
        if bins is not None and not ("mean" in raw and "std" in raw):
            mean, std = bin_moments(*bins)
            if not (math.isfinite(mean) and math.isfinite(std)):
                self.add(
                    path,
                    "its mean and standard deviation cannot be computed: the numbers are too big.",
                    "give mean and std, or use a larger unit so the numbers are smaller.",
                )

    def bins(
        self, bins: object, fractions: object, path: PathParts
    ) -> tuple[list[float], list[float]] | None:
        """Check a bins/fractions baseline; returns (edges, fractions) when usable."""
        edges = (
            bins
            if isinstance(bins, list) and len(bins) >= 2 and all(map(is_number, bins))
            else None
        )
        shares = (
            fractions
            if isinstance(fractions, list)
            and fractions
            and all(is_number(share) and 0 <= share <= 1 for share in fractions)
            else None
        )
        if edges is None:
            return None
        increasing = True
        for i in range(1, len(edges)):
            if edges[i] <= edges[i - 1]:
                self.add(
                    (*path, "bins", i),
                    f"is {edges[i]}, not greater than the edge before it ({edges[i - 1]}).",
                    "list the bin edges in strictly increasing order.",
                )
                increasing = False
                break
        if shares is None:
            return None
        if len(shares) != len(edges) - 1:
            self.add(
                (*path, "fractions"),
                f"has {len(shares)} values but bins has {len(edges)} edges, "
                f"so {len(edges) - 1} fractions are expected.",
                "give one fraction per bin (len(bins) - 1).",
            )
            return None
        if not self.sums_to_one(shares, (*path, "fractions"), "fractions"):
            return None
        return ([float(e) for e in edges], [float(f) for f in shares]) if increasing else None

    def sums_to_one(self, shares: list[Any], path: PathParts, what: str) -> bool:
        total = math.fsum(shares)
        if abs(total - 1) <= EXACT_SUM:
            return True
        if abs(total - 1) <= SUM_TOLERANCE:
            self.rescale(path, total)
            return True
        self.add(
            path,
            f"the {what} sum to {total:.6g}, not 1 (a sum within {SUM_TOLERANCE:g} of 1 is "
            "accepted as rounding).",
            f"make the {what} add up to 1 (each is the share of values "
            f"{'in its bin' if what == 'fractions' else 'equal to its key'}).",
        )
        return False

    def quantiles(
        self, raw: object, path: PathParts
    ) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        """Check a quantile baseline; returns its bins when usable."""
        if not isinstance(raw, dict) or len(raw) < 2:
            return None
        fix = "use probabilities from 0 to 1 as keys, such as 0, 0.5, 0.99 and 1."
        usable = True
        for key, value in raw.items():
            try:
                probability = float(key)
            except ValueError:
                self.add((*path, key), f"{json.dumps(key)} is not a probability.", fix)
                usable = False
                continue
            if not 0 <= probability <= 1:
                self.add((*path, key), f"probability {key} is outside 0 to 1.", fix)
                usable = False
            if not is_number(value):
                usable = False
        if not usable:
            return None
        entries = sorted(((float(key), value, key) for key, value in raw.items()), key=_first)
        for (low, low_value, low_key), (high, high_value, high_key) in pairwise(entries):
            if high == low:
                self.add(
                    (*path, high_key),
                    f"probability {high_key} is given twice (also as {low_key}).",
                    "keep one of them.",
                )
                return None
            if high_value < low_value:
                self.add(
                    (*path, high_key),
                    f"the value {high_value:g} is below {low_value:g}, the value at the lower "
                    f"probability {low_key}.",
                    "make the values grow (or stay equal) as the probability grows.",
                )
                return None
        points = [(probability, float(value)) for probability, value, _ in entries]
        ends = ((points[0][0], 0, "starts", "smallest"), (points[-1][0], 1, "ends", "largest"))
        for probability, wanted, verb, extreme in ends:
            if probability != wanted:
                self.add(
                    path,
                    f"{verb} at probability {probability:g}, not {wanted}.",
                    f"add {wanted}: <the {extreme} value> so the bins cover every value.",
                )
                return None
        return quantile_bins(points)

    def categories(self, raw: object, path: PathParts, constraints: Mapping[str, Any]) -> None:
        if not isinstance(raw, dict) or not raw:
            return
        shares = list(raw.values())
        if all(is_number(share) for share in shares):
            self.sums_to_one(shares, path, "shares")
        allowed = constraints.get("allowed")
        if isinstance(allowed, list):
            allowed_text = {scalar_text(value) for value in allowed}
            for key in raw:
                if key not in allowed_text:
                    self.add(
                        (*path, key),
                        f"{json.dumps(key)} is not in constraints.allowed, so each such value "
                        "would be a violation.",
                        "add it to constraints.allowed, or remove it from the baseline.",
                    )
