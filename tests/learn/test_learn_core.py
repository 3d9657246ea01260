"""The learning core: discovery (both HTTP conventions), open outer bins, bounded memory."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import yaml

from benchmarks.learn_traces import write_recording
from otel_drift._internal.cli.main import main
from otel_drift._internal.expectations.load import load_expectations
from otel_drift._internal.learn.accumulate import Learner
from otel_drift._internal.learn.discover import SpanRecord, discover
from otel_drift._internal.sketches import BinnedHistogram

OLD = {"http.method": "POST", "http.route": "/pay", "http.status_code": 503}
NEW = {"http.request.method": "POST", "http.route": "/pay", "http.response.status_code": 503}


def test_discovery_reads_both_http_conventions_the_same() -> None:
    for attributes, method_name in ((OLD, "http.method"), (NEW, "http.request.method")):
        found = dict(discover(SpanRecord("POST /pay", "server", "f", attributes, 0, 2_000_000)))
        route = next(k for k in found if k.family == "route")
        assert route.match == (("http.route", "/pay"), (method_name, "POST"))
        assert found[route] == {"duration": 2.0, "status": "5xx"}
    old = {"net.peer.name": "api.example.com", "http.status_code": 200}
    new = {"server.address": "api.example.com", "url.template": "/v1/items/{id}"}
    ((old_key, _),) = discover(SpanRecord("GET", "client", "r", old, 0, 1))
    ((new_key, _),) = discover(SpanRecord("GET", "client", "r", new, 0, 1))
    assert old_key.target == "api.example.com" and old_key.match == (
        ("net.peer.name", "api.example.com"),
    )
    assert new_key.target == "api.example.com/v1/items/{id}"


def test_discovery_of_llm_calls_and_flags() -> None:
    llm = {
        "gen_ai.request.model": "gpt-x",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 40,
        "gen_ai.response.finish_reasons": ("stop",),
    }
    ((key, values),) = discover(SpanRecord("chat", "client", "o", llm, 0, 5_000_000))
    assert key.family == "llm" and values["input_tokens"] == 12.0 and values["finish"] == "stop"
    event = (
        "feature_flag.evaluation",
        {"feature_flag.key": "new", "feature_flag.result.variant": "on"},
    )
    found = discover(SpanRecord("GET /", "internal", "x", {}, 0, 1, events=[event]))
    assert [(k.family, k.target, v) for k, v in found] == [("flag", "new", {"variant": "on"})]


def _learn(tmp_path: Path, *extra: str, spans: int = 6000, slow: str = "") -> dict:  # type: ignore[type-arg]
    folder = tmp_path / f"rec{slow}"
    if not folder.exists():
        write_recording(folder, spans, slow=slow)
    out = tmp_path / "learned.yaml"
    argv = ["baseline", "--from-traces", str(folder), "-o", str(out), "--force", "--no-progress"]
    assert main([*argv, "--window", "100", *extra]) == 0
    return dict(yaml.safe_load(out.read_text()))


def test_open_outer_bins_take_values_beyond_the_recording(tmp_path: Path) -> None:
    _learn(tmp_path)
    (orders,) = [
        e
        for e in load_expectations(tmp_path / "learned.yaml").expectations
        if e.name == "route.orders"
    ]
    baseline = orders.watch[0].baseline
    histogram = BinnedHistogram(baseline.edges)  # type: ignore[union-attr]
    histogram.update(np.array([0.01, 200.0]))  # faster and slower than any recorded
    counts = histogram.extended_counts()
    assert counts[0] == counts[-1] == 0  # neither in underflow nor overflow
    shares = np.array(baseline.fractions)  # type: ignore[union-attr]
    assert shares[0] > 0 and shares[-1] > 0


def test_include_exclude_and_min_spans(tmp_path: Path) -> None:
    names = {e["name"] for e in _learn(tmp_path, "--exclude", "^/search")["expectations"]}
    assert "route.search" not in names and "route.orders" in names
    names = {e["name"] for e in _learn(tmp_path, "--include", "orders")["expectations"]}
    assert {n for n in names if n.startswith("route")} == {"route.orders"}
    # 6,000 spans: 1,333 per route, 2,000 client calls; at 1,500 only those and the mix stay.
    names = {e["name"] for e in _learn(tmp_path, "--min-spans", "1500")["expectations"]}
    assert names == {"traffic", "client.127.0.0.1"}


def test_accumulator_memory_is_constant_over_200k_spans() -> None:
    learner = Learner(window=200, max_windows=20)
    rng = random.Random(3)
    sizes = []
    for made in range(200_000):
        attributes = {"http.route": f"/r{made % 3}", "http.method": "GET", "http.status_code": 200}
        duration = int(rng.lognormvariate(16, 0.3))
        learner.add(SpanRecord("GET", "server", "f", attributes, 0, duration))
        if made in (50_000, 199_999):
            sizes.append(
                [
                    (len(s.windows), sum(c.size for c in s.numbers.values()))
                    for s in learner.keys.values()
                ]
            )
    assert sizes[0] == sizes[1]  # the reservoir and the grid are full, and stay that size
    assert all(windows == 20 for windows, _ in sizes[1]) and len(sizes[1]) == 4
