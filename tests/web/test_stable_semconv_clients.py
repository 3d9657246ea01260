"""Client spans with the stable HTTP semconv names (OTEL_SEMCONV_STABILITY_OPT_IN=http).

Contrib picks its semconv mode once per process, so this runs in a fresh one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.support import ROOT

SCRIPT = """
import json
import httpx, pytest, requests
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from otel_drift.instrumentation.httpx_json import HttpxJsonShapeInstrumentor
from otel_drift.instrumentation.requests_json import RequestsJsonShapeInstrumentor
from tests.web.support import (
    SHAPE_EXPECTATIONS, active_pipeline, finished_client_spans, upstream_server, violations,
)

text = SHAPE_EXPECTATIONS.replace("http.url", "url.full")
with active_pipeline(text, pytest.MonkeyPatch()) as pipeline, upstream_server() as url:
    RequestsInstrumentor().instrument(tracer_provider=pipeline.provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=pipeline.provider)
    RequestsJsonShapeInstrumentor().instrument()
    HttpxJsonShapeInstrumentor().instrument()
    requests.get(f"{url}/users/7", params={"schema": "v2"}, timeout=5)
    httpx.get(f"{url}/users/7", params={"schema": "v3"})
    spans = finished_client_spans(pipeline)
    print(json.dumps({
        "names": [sorted(span.attributes) for span in spans],
        "violations": violations(pipeline, "profile", "shape"),
    }))
"""


def test_shapes_on_client_spans_with_stable_names() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env={**os.environ, "OTEL_SEMCONV_STABILITY_OPT_IN": "http"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    for names in found["names"]:
        assert "url.full" in names and "http.url" not in names
        assert "drift.json.shape" in names and "http.response.body.size" in names
    assert found["violations"] == {"shape.missing": 1, "shape.added": 1, "shape.type": 1}
