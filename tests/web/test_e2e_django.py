"""End to end: the Django example under gunicorn and opentelemetry-instrument,
with the stable HTTP semconv names (OTEL_SEMCONV_STABILITY_OPT_IN=http).

otel-drift's Django instrumentation puts the shape of the service's own JSON
answers on contrib's server spans."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.servers import require, run_service
from tests.web.support import WEB

pytestmark = pytest.mark.e2e

GUNICORN = [
    "gunicorn",
    "-w",
    "1",
    "--threads",
    "4",
    "-b",
    "127.0.0.1:{port}",
    "django_wsgi:application",
]
DJANGO_MIX = {"orders": 0.625, "search": 0.375}


def test_latency_regression_and_error_spike_on_their_own_routes(tmp_path: Path) -> None:
    require("gunicorn")
    require("django")
    run = run_service(
        tmp_path,
        GUNICORN,
        [("steady", 80), ("steady", 400), ("latency,errors", 400)],
        WEB / "django.yaml",
        mix=DJANGO_MIX,
        extra_env={
            "OTEL_SEMCONV_STABILITY_OPT_IN": "http",
            # Contrib's Django instrumentation reads the settings at start-up.
            "DJANGO_SETTINGS_MODULE": "django_site",
            "PYTHONPATH": str(WEB),
        },
    )
    server = [s for s in run.spans if s.kind == 2]
    assert server and all("http.response.status_code" in s.attributes for s in server)
    assert not any("http.status_code" in s.attributes for s in server)
    for expectation, watch in sorted(run.watches()):
        assert run.worst(expectation, watch, 1) < 2, (expectation, watch, run.log[-2000:])
    assert run.worst("orders", "latency", 2) == 2
    assert run.worst("orders", "status", 2) < 2
    assert run.worst("search", "status", 2) == 2
    assert run.worst("search", "latency", 2) < 2
    assert run.worst("traffic", "route", 2) < 2
    # The error spike changed the shape of /search's answers, on their own spans.
    assert run.worst("search-response", "shape", 2) == 2
    assert run.violation_rules("search-response") == {"shape.missing", "shape.added"}
    for span in server:
        assert span.attributes["http.response.body.size"] > 0
        assert "drift.json.shape" in span.attributes
        failed = span.attributes["http.response.status_code"] == 500
        assert ("drift.json.shape.missing" in span.attributes) == (
            failed and span.attributes["http.route"] == "search"
        ), span
    # gunicorn's own SIGTERM handling is left alone: a clean exit, atexit ran.
    assert run.returncode == 0, run.log[-2000:]
    partial = [s for s in run.evaluations("traffic") if s.attributes.get("drift.window.partial")]
    assert len(partial) == 1, run.log[-2000:]
