"""Actions on drift: user hooks and a JSON webhook, called when a status changes.

The engine calls :meth:`ActionDispatcher.__call__` on its worker thread with
every closed window. That call only turns status changes into
:class:`DriftTransition` events and puts them in a bounded queue (full: the
event is dropped and counted); a thread of its own delivers them, so a slow
hook or webhook never delays the evaluation of the next window, and nothing
ever runs on a request thread.

Delivery: each hook is called once (an exception is logged, never raised);
the webhook gets a JSON ``POST`` with a timeout, retried with a doubling
back-off up to ``OTEL_DRIFT_WEBHOOK_RETRIES`` times.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from otel_drift import environment_variables as ev
from otel_drift._internal.engine.results import WindowEvaluation
from otel_drift._internal.engine.what_moved import SegmentShare
from otel_drift._internal.semconv import STATUS_CHANGED_EVENT, STATUS_NAMES

_logger = logging.getLogger(__name__)

#: The entry-point group of packaged hooks: ``name = "module:function"``.
ENTRY_POINT_GROUP = "otel_drift_actions"
DEFAULT_QUEUE_SIZE = 256
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_RETRIES = 3
#: First back-off between webhook attempts; doubled after each failure.
BACKOFF_S = 0.5

Hook = Callable[["DriftTransition"], object]


@dataclass(frozen=True)
class DriftTransition:
    """A watched value whose status changed at the close of a window.

    Hooks receive one of these; the webhook's body is :meth:`to_json`.
    """

    expectation: str
    watch: str
    method: str
    previous_status: str
    status: str
    #: 0 ok, 1 warning, 2 critical, as in ``drift.status``.
    status_code: int
    score: float | None
    warning: float
    critical: float
    samples: int
    window_start: str
    window_end: str
    window_spans: int
    window_partial: bool
    service_name: str | None = None
    service_version: str | None = None
    #: What moved most (``drift.top_changes``), e.g. ``500: 1.0% -> 15.2%``.
    top_changes: tuple[str, ...] = ()
    #: The segments that carried the drift (``drift.explained_by``): segment, share,
    #: score without it, its own score, its values in the window.
    explained_by: tuple[SegmentShare, ...] = ()

    @property
    def worsened(self) -> bool:
        codes = {name: code for code, name in STATUS_NAMES.items()}
        return codes[self.status] > codes[self.previous_status]

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"event": STATUS_CHANGED_EVENT}
        body.update(asdict(self))
        return body


def _iso(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns / 1e9, timezone.utc).isoformat()


def transitions(
    window: WindowEvaluation, resource: Mapping[str, object] | None = None
) -> list[DriftTransition]:
    """The status changes in one closed window."""
    resource = resource or {}
    name = resource.get("service.name")
    version = resource.get("service.version")
    return [
        DriftTransition(
            expectation=window.expectation,
            watch=evaluation.watch,
            method=evaluation.method,
            previous_status=STATUS_NAMES[evaluation.previous_status],
            status=STATUS_NAMES[evaluation.status],
            status_code=evaluation.status,
            score=evaluation.score,
            warning=evaluation.warning,
            critical=evaluation.critical,
            samples=evaluation.samples,
            window_start=_iso(window.start_time_ns),
            window_end=_iso(window.end_time_ns),
            window_spans=window.spans,
            window_partial=window.partial,
            service_name=None if name is None else str(name),
            service_version=None if version is None else str(version),
            top_changes=evaluation.top_changes,
            explained_by=evaluation.explained,
        )
        for evaluation in window.watches
        if evaluation.status != evaluation.previous_status
    ]


@dataclass(frozen=True)
class Webhook:
    url: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    retries: int = DEFAULT_RETRIES
    headers: Mapping[str, str] | None = None


class ActionDispatcher:
    """An engine listener that delivers status changes off the worker thread."""

    def __init__(
        self,
        hooks: Sequence[Hook] = (),
        webhook: Webhook | None = None,
        *,
        resource: Mapping[str, object] | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.hooks = tuple(hooks)
        self.webhook = webhook
        self._resource = dict(resource or {})
        self._queue_size = queue_size
        self._sleep = sleep
        self.delivered = 0
        self.failed = 0
        self.dropped = 0
        self._start_lock = threading.Lock()
        self._pid = -1
        self._queue: queue.Queue[DriftTransition | None] = queue.Queue(queue_size)
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- the engine side (worker thread): never blocks, never raises ----------

    def __call__(self, window: WindowEvaluation) -> None:
        try:
            found = transitions(window, self._resource)
            if not found or self._closed:
                return
            self._ensure_thread()
            for event in found:
                try:
                    self._queue.put_nowait(event)
                except queue.Full:
                    self.dropped += 1
                    if self.dropped == 1 or self.dropped % 100 == 0:
                        _logger.warning(
                            "otel-drift: action queue full, %d drift events dropped", self.dropped
                        )
        except Exception:
            _logger.exception("otel-drift: could not queue drift actions")

    def _ensure_thread(self) -> None:
        # Started lazily, and again in a forked child (threads do not survive fork).
        if self._pid == os.getpid() and self._thread is not None:
            return
        with self._start_lock:
            if self._pid == os.getpid() and self._thread is not None:
                return
            self._queue = queue.Queue(self._queue_size)
            self._thread = threading.Thread(
                target=self._run, name="otel-drift-actions", daemon=True
            )
            self._pid = os.getpid()
            self._thread.start()

    # -- the actions thread ----------------------------------------------------

    def _run(self) -> None:
        work = self._queue
        while True:
            event = work.get()
            try:
                if event is None:
                    return
                self._deliver(event)
            finally:
                work.task_done()

    def _deliver(self, event: DriftTransition) -> None:
        for hook in self.hooks:
            try:
                hook(event)
                self.delivered += 1
            except Exception:
                self.failed += 1
                _logger.exception(
                    "otel-drift: action hook %s failed for %s.%s",
                    getattr(hook, "__qualname__", hook),
                    event.expectation,
                    event.watch,
                )
        if self.webhook is not None:
            if post_json(self.webhook, event.to_json(), self._sleep):
                self.delivered += 1
            else:
                self.failed += 1

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued, for at most ``timeout_s``; later events are ignored."""
        thread = self._thread
        self._closed = True
        if thread is None or self._pid != os.getpid() or not thread.is_alive():
            return
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            return
        thread.join(timeout_s)


def post_json(
    webhook: Webhook, body: Mapping[str, Any], sleep: Callable[[float], None] = time.sleep
) -> bool:
    """POST ``body``; retry on errors and 5xx/429, with a doubling back-off. Never raises."""
    data = json.dumps(body, allow_nan=False, default=str).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "otel-drift"}
    headers.update(webhook.headers or {})
    delay = BACKOFF_S
    for attempt in range(webhook.retries + 1):
        if attempt:
            sleep(delay)
            delay *= 2
        request = urllib.request.Request(webhook.url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=webhook.timeout_s) as response:
                response.read(1024)
            return True
        except urllib.error.HTTPError as error:
            retry = error.code >= 500 or error.code == 429
            _logger.warning(
                "otel-drift: webhook %s answered %d (attempt %d)",
                webhook.url,
                error.code,
                attempt + 1,
            )
            if not retry:
                return False
        except Exception as error:  # timeouts, refused connections, bad URLs
            _logger.warning(
                "otel-drift: webhook %s failed: %s (attempt %d)", webhook.url, error, attempt + 1
            )
    return False


# -- configuration -------------------------------------------------------------


def load_hook(spec: str) -> Hook:
    """``package.module:function`` -> the function."""
    module_name, _, attribute = spec.strip().partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{spec!r} is not module:function")
    target: Any = import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"{spec!r} is not callable")
    return target  # type: ignore[no-any-return]


def configured_hooks(environ: Mapping[str, str]) -> list[Hook]:
    """Hooks from the ``otel_drift_actions`` entry points, then ``OTEL_DRIFT_ACTIONS``."""
    hooks: list[Hook] = []
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            hooks.append(entry_point.load())
        except Exception:
            _logger.exception("otel-drift: cannot load action hook %s", entry_point.value)
    for spec in _split(environ.get(ev.OTEL_DRIFT_ACTIONS, "")):
        try:
            hooks.append(load_hook(spec))
        except Exception as error:
            _logger.error(
                "otel-drift: ignoring %s entry %r: %s", ev.OTEL_DRIFT_ACTIONS, spec, error
            )
    return hooks


def _split(text: str) -> Iterable[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _number(environ: Mapping[str, str], name: str, default: float, low: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
        if not low <= value < float("inf"):
            raise ValueError
    except ValueError:
        _logger.warning("otel-drift: ignoring %s=%r; using %g", name, raw, default)
        return default
    return value


def configured_webhook(environ: Mapping[str, str]) -> Webhook | None:
    url = environ.get(ev.OTEL_DRIFT_WEBHOOK_URL, "").strip()
    if not url:
        return None
    if not url.startswith(("http://", "https://")):
        _logger.error(
            "otel-drift: ignoring %s=%r: not an http(s) URL", ev.OTEL_DRIFT_WEBHOOK_URL, url
        )
        return None
    headers = {}
    for item in _split(environ.get(ev.OTEL_DRIFT_WEBHOOK_HEADERS, "")):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            headers[key.strip()] = value.strip()
    return Webhook(
        url=url,
        timeout_s=_number(environ, ev.OTEL_DRIFT_WEBHOOK_TIMEOUT, DEFAULT_TIMEOUT_S, 0.001),
        retries=int(_number(environ, ev.OTEL_DRIFT_WEBHOOK_RETRIES, DEFAULT_RETRIES, 0)),
        headers=headers,
    )


def dispatcher_from_env(
    environ: Mapping[str, str] | None = None, resource: Mapping[str, object] | None = None
) -> ActionDispatcher | None:
    """The dispatcher the environment asks for, or None when no action is configured."""
    env = os.environ if environ is None else environ
    hooks = configured_hooks(env)
    webhook = configured_webhook(env)
    if not hooks and webhook is None:
        return None
    return ActionDispatcher(hooks, webhook, resource=resource)
