"""Worked example of otel-drift actions: turn a feature flag off, or roll back.

Enable with no code change in the service::

    PYTHONPATH=examples/deploy \
    OTEL_DRIFT_ACTIONS=drift_actions:turn_off_flag,drift_actions:abort_rollout \
    opentelemetry-instrument python app.py

or package them under the ``otel_drift_actions`` entry-point group. Each hook
gets a ``DriftTransition`` (expectation, watch, previous_status, status,
score, thresholds, window, service name and version) on otel-drift's own
actions thread, after the window closed; an exception is logged, never raised
into the service.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from otel_drift.actions import DriftTransition

_logger = logging.getLogger("drift_actions")

#: The flag the new checkout code path hides behind, and the file that holds flags.
FLAG = os.environ.get("DRIFT_FLAG_NAME", "new_checkout")
FLAGS_FILE = Path(os.environ.get("DRIFT_FLAGS_FILE", "flags.json"))


def turn_off_flag(event: DriftTransition) -> None:
    """On critical drift of the checkout expectation, switch the new code path off.

    The flags file stands for any flag service (an OpenFeature provider reads
    it); written atomically so a reader never sees half a file.
    """
    if event.expectation != "checkout" or event.status != "critical":
        return
    flags: dict[str, object] = {}
    if FLAGS_FILE.exists():
        flags = json.loads(FLAGS_FILE.read_text() or "{}")
    flags[FLAG] = False
    fd, temporary = tempfile.mkstemp(dir=FLAGS_FILE.parent or Path("."), suffix=".tmp")
    with os.fdopen(fd, "w") as stream:
        json.dump(flags, stream)
    os.replace(temporary, FLAGS_FILE)
    _logger.warning(
        "flag %s turned off: %s.%s is critical (%s %.3g)",
        FLAG,
        event.expectation,
        event.watch,
        event.method,
        event.score or 0.0,
    )


def abort_rollout(event: DriftTransition) -> None:
    """On critical drift of a canary, abort its Argo Rollout (the rollback).

    Needs ``DRIFT_ROLLOUT_NAME`` and ``kubectl`` with the Argo Rollouts plugin;
    otherwise it only logs what it would do.
    """
    if event.status != "critical":
        return
    rollout = os.environ.get("DRIFT_ROLLOUT_NAME")
    kubectl = shutil.which("kubectl")
    if not rollout or kubectl is None:
        _logger.warning(
            "would abort the rollout: %s.%s is critical", event.expectation, event.watch
        )
        return
    # Bounded: the actions thread must not hang on a stuck API server.
    subprocess.run([kubectl, "argo", "rollouts", "abort", rollout], timeout=30, check=False)
