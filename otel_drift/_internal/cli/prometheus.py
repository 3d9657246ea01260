"""A small client of the Prometheus HTTP API (``/api/v1/query``, ``/api/v1/query_range``).

Standard library only: the gate runs in CI images and rollout controllers
where adding packages is a cost. Every call has a timeout; errors become
:class:`PrometheusError` with a message fit for a terminal.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any


class PrometheusError(Exception):
    """Prometheus could not be reached or rejected the query."""


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    #: (unix seconds, value) pairs, oldest first; one pair for an instant query.
    points: list[tuple[float, float]]


class PrometheusClient:
    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def _get(self, path: str, params: dict[str, str]) -> Any:
        url = f"{self.base_url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as response:
                document = json.loads(response.read())
        except urllib.error.HTTPError as error:
            # Prometheus explains a bad query in the JSON body of a 400/422.
            try:
                detail = json.loads(error.read()).get("error", "")
            except (ValueError, OSError):
                detail = ""
            raise PrometheusError(f"{self.base_url}: HTTP {error.code} {detail}".strip()) from None
        except (OSError, ValueError) as error:
            raise PrometheusError(f"cannot query Prometheus at {self.base_url}: {error}") from None
        if not isinstance(document, dict) or document.get("status") != "success":
            raise PrometheusError(f"{self.base_url}: query failed: {document!r:.300}")
        return document["data"]

    def query(self, promql: str, at: float | None = None) -> list[Series]:
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._get("/api/v1/query", params)
        if data.get("resultType") == "scalar":
            stamp, value = data["result"]
            return [Series({}, [(float(stamp), float(value))])]
        return [
            Series(dict(item["metric"]), [(float(item["value"][0]), float(item["value"][1]))])
            for item in data.get("result", [])
        ]

    def query_range(self, promql: str, start: float, end: float, step_s: float) -> list[Series]:
        data = self._get(
            "/api/v1/query_range",
            {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step_s:g}"},
        )
        return [
            Series(
                dict(item["metric"]),
                [(float(stamp), float(value)) for stamp, value in item["values"]],
            )
            for item in data.get("result", [])
        ]
