"""otel-drift's web instrumentors under opentelemetry-instrument: loaded, skipped, disabled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import distribution, entry_points
from pathlib import Path

import pytest
from opentelemetry.instrumentation.dependencies import get_dist_dependency_conflicts
from otel_drift.instrumentation.asgi_json import AsgiJsonShapeInstrumentor
from otel_drift.instrumentation.django_json import DjangoJsonShapeInstrumentor
from otel_drift.instrumentation.flask_json import FlaskJsonShapeInstrumentor
from otel_drift.instrumentation.httpx_json import HttpxJsonShapeInstrumentor
from otel_drift.instrumentation.openfeature import OpenFeatureInstrumentor
from otel_drift.instrumentation.requests_json import RequestsJsonShapeInstrumentor

from tests.web.support import UPSTREAM_SHAPE_ONLY

BIN = Path(sys.executable).parent
NAMES = {
    "otel_drift_flask": FlaskJsonShapeInstrumentor,
    "otel_drift_requests": RequestsJsonShapeInstrumentor,
    "otel_drift_httpx": HttpxJsonShapeInstrumentor,
    "otel_drift_openfeature": OpenFeatureInstrumentor,
    "otel_drift_asgi": AsgiJsonShapeInstrumentor,
    "otel_drift_django": DjangoJsonShapeInstrumentor,
}

PROBE = """
import json
import flask, httpcore, requests.adapters
from openfeature import api
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.django.middleware.otel_middleware import _DjangoMiddleware
print(json.dumps({
    "otel_drift_flask": hasattr(flask.Flask.process_response, "__wrapped__"),
    "otel_drift_requests": hasattr(requests.adapters.HTTPAdapter.send, "__wrapped__"),
    "otel_drift_httpx": hasattr(httpcore.ConnectionPool.handle_request, "__wrapped__"),
    "otel_drift_openfeature": any(
        type(h).__name__ == "DriftFlagHook" for h in api.get_hooks()
    ),
    "otel_drift_asgi": hasattr(OpenTelemetryMiddleware.__init__, "__wrapped__"),
    "otel_drift_django": hasattr(_DjangoMiddleware.process_response, "__wrapped__"),
}))
"""


def test_one_entry_point_per_instrumentor() -> None:
    found = {ep.name: ep.load() for ep in entry_points(group="opentelemetry_instrumentor")}
    for name, instrumentor in NAMES.items():
        assert found[name] is instrumentor


def test_distribution_passes_the_dependency_check_with_any_library() -> None:
    # One distribution, several instrumentors: instruments-any, so that having
    # requests alone (or httpx alone, ...) is enough.
    assert get_dist_dependency_conflicts(distribution("otel-drift")) is None


@pytest.mark.parametrize("instrumentor", list(NAMES.values()))
def test_a_missing_library_means_module_not_found(
    instrumentor: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What opentelemetry-instrument takes as "skip this one" (auto_instrumentation/_load.py).
    module = {
        RequestsJsonShapeInstrumentor: "requests",
        HttpxJsonShapeInstrumentor: "httpx",
        OpenFeatureInstrumentor: "openfeature",
        FlaskJsonShapeInstrumentor: "flask",
        AsgiJsonShapeInstrumentor: "opentelemetry.instrumentation.asgi",
        DjangoJsonShapeInstrumentor: "django",
    }[instrumentor]
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ModuleNotFoundError):
        instrumentor().instrument(skip_dep_check=True)
    assert not instrumentor().is_instrumented_by_opentelemetry


CLIENT_IMPORTS = """
import json, sys
from otel_drift.instrumentation.httpx_json import HttpxJsonShapeInstrumentor
from otel_drift.instrumentation.requests_json import RequestsJsonShapeInstrumentor

HttpxJsonShapeInstrumentor().instrument()
RequestsJsonShapeInstrumentor().instrument()
imported = [m for m in ("requests", "httpx", "httpcore") if m in sys.modules]
import httpcore, requests.adapters

def wrapped():
    return [
        hasattr(requests.adapters.HTTPAdapter.send, "__wrapped__"),
        hasattr(httpcore.ConnectionPool.handle_request, "__wrapped__"),
        hasattr(httpcore.AsyncConnectionPool.handle_async_request, "__wrapped__"),
    ]

on_import = wrapped()
HttpxJsonShapeInstrumentor().uninstrument()
RequestsJsonShapeInstrumentor().uninstrument()
print(json.dumps({
    "imported_by_instrument": imported,
    "wrapped_on_import": on_import,
    "wrapped_after_uninstrument": wrapped(),
}))
"""

#: One watch, on spans of any kind, reads body shapes: every body wrapper stays.
EVERY_BODY = """
version: 1
expectations:
  - name: any-body
    match: {}
    watch:
      shape: {source: json.shape, shape: {paths: {id: number}}}
"""


def _watching_every_body(tmp_path: Path) -> dict[str, str]:
    expectations = tmp_path / "every-body.yaml"
    expectations.write_text(EVERY_BODY)
    return {
        "OTEL_TRACES_EXPORTER": "otlp_json_file",
        "OTEL_DRIFT_OTLP_JSON_DIR": str(tmp_path),
        "OTEL_DRIFT_EXPECTATIONS": str(expectations),
    }


def _probe(tmp_path: Path, probe: str = PROBE, **env: str) -> dict[str, bool]:
    script = tmp_path / "probe.py"
    script.write_text(probe)
    done = subprocess.run(
        [str(BIN / "opentelemetry-instrument"), str(BIN / "python"), str(script)],
        env={**os.environ, "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found: dict[str, bool] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_instrumented_by_opentelemetry_instrument_and_disabled_by_name(tmp_path: Path) -> None:
    # One run shows both: the one left enabled is instrumented, the named ones not.
    watching = _watching_every_body(tmp_path)
    disabled = _probe(
        tmp_path,
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=(
            "otel_drift_requests,otel_drift_openfeature,otel_drift_django"
        ),
        **watching,
    )
    assert disabled == {
        "otel_drift_flask": True,
        "otel_drift_requests": False,
        "otel_drift_httpx": True,
        "otel_drift_openfeature": False,
        "otel_drift_asgi": True,
        "otel_drift_django": False,
    }
    # And the other way round for the two server-side ones.
    assert _probe(
        tmp_path, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="otel_drift_asgi", **watching
    ) == {
        **disabled,
        "otel_drift_requests": True,
        "otel_drift_openfeature": True,
        "otel_drift_asgi": False,
        "otel_drift_django": True,
    }


def test_body_wrappers_no_watch_reads_are_uninstrumented(tmp_path: Path) -> None:
    # The expectations read upstream (client) shapes only: the server-side
    # wrappers would cost every request a call for nothing, so the hook drops them.
    expectations = tmp_path / "expectations.yaml"
    expectations.write_text(UPSTREAM_SHAPE_ONLY)
    found = _probe(
        tmp_path,
        OTEL_TRACES_EXPORTER="otlp_json_file",
        OTEL_DRIFT_OTLP_JSON_DIR=str(tmp_path),
        OTEL_DRIFT_EXPECTATIONS=str(expectations),
    )
    assert found == {
        "otel_drift_flask": False,
        "otel_drift_requests": True,
        "otel_drift_httpx": True,
        "otel_drift_openfeature": True,
        "otel_drift_asgi": False,
        "otel_drift_django": False,
    }


def test_with_otel_drift_off_no_body_wrapper_stays(tmp_path: Path) -> None:
    # No expectations file, so nothing is watched: a wrapper left in place
    # would still cost every request a call. The flag hook stays (it records
    # flag evaluations on spans, which is not drift).
    assert _probe(tmp_path) == {
        "otel_drift_flask": False,
        "otel_drift_requests": False,
        "otel_drift_httpx": False,
        "otel_drift_openfeature": True,
        "otel_drift_asgi": False,
        "otel_drift_django": False,
    }


def test_client_libraries_are_wrapped_on_import_never_imported_by_us() -> None:
    # A service that never imports requests or httpx does not carry them (and
    # their ~20,000 objects in every full garbage collection) because of us;
    # one that imports them later has them wrapped. In a fresh interpreter:
    # contrib's own instrumentors (and this test session) import them.
    done = subprocess.run(
        [str(BIN / "python"), "-c", CLIENT_IMPORTS],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "imported_by_instrument": [],
        "wrapped_on_import": [True, True, True],
        "wrapped_after_uninstrument": [False, False, False],
    }
