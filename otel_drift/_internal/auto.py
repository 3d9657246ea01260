"""Zero-code enablement: the ``opentelemetry_post_instrument`` hook.

``opentelemetry-instrument`` runs distro, configurator, instrumentors and
post-instrument hooks inside one ``try``: an exception from here would
silently turn off *all* auto-instrumentation. So this hook never raises: a
problem disables otel-drift alone, with one clear error log.

With ``OTEL_DRIFT_EXPECTATIONS`` it judges with that file. Without it and with
``OTEL_DRIFT_LEARN``, it judges with the file learned earlier for the service
(``OTEL_DRIFT_BASELINE_DIR/<service.name>.yaml``) when there is one, else it
learns that file live first (``spans/learning.py``) and, once it is written,
wires the judging processor exactly as here, from the learning thread.
"""

from __future__ import annotations

import atexit
import logging
import os
from typing import TYPE_CHECKING

from otel_drift import environment_variables as ev
from otel_drift._internal import feed
from otel_drift._internal.semconv import SERVICE_INSTANCE_ID, SERVICE_NAME
from otel_drift._internal.settings import LearnPeriod, Settings, settings_from_env

if TYPE_CHECKING:
    from pathlib import Path

    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

    from otel_drift._internal.expectations.load import Loaded
    from otel_drift._internal.spans.processor import DriftSpanProcessor

_logger = logging.getLogger("otel_drift")


def post_instrument(**_kwargs: object) -> None:
    """Attach a DriftSpanProcessor (or, to learn first, a LearningSpanProcessor)
    to the SDK TracerProvider. Never raises."""
    try:
        _install(settings_from_env())
    except Exception:
        _logger.exception(
            "otel-drift: could not start; drift detection is off "
            "(the application and the rest of OpenTelemetry keep running)"
        )
    if feed.active_processor() is None:
        # Off (disabled, no or an invalid expectations file): instrumentations that
        # read only for a watch (the HTTP body wrappers) take themselves out.
        feed.stay_off()


def _install(settings: Settings) -> None:
    if not settings.enabled:
        _logger.debug("otel-drift: %s=false, not attaching", ev.OTEL_DRIFT_ENABLED)
        return
    if settings.expectations_path is None and settings.learn is None:
        _logger.debug(
            "otel-drift: neither %s nor %s is set, not attaching",
            ev.OTEL_DRIFT_EXPECTATIONS,
            ev.OTEL_DRIFT_LEARN,
        )
        return
    if feed.active_processor() is not None:
        return
    # Imported only now: with otel-drift installed but off, numpy and the
    # engine stay out of the host's start-up.
    from opentelemetry import trace  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415

    from otel_drift._internal.expectations.errors import ExpectationsError  # noqa: PLC0415
    from otel_drift._internal.expectations.load import salvage_expectations  # noqa: PLC0415
    from otel_drift._internal.spans.learning import learned_path, load_learned  # noqa: PLC0415
    from otel_drift._internal.spans.processor import DriftSpanProcessor  # noqa: PLC0415

    provider = trace.get_tracer_provider()
    loaded: Loaded | None = None
    source = settings.expectations_path or ""
    if settings.expectations_path is not None:
        if settings.learn is not None:
            _logger.debug(
                "otel-drift: %s is set, so %s is not used: nothing is learned",
                ev.OTEL_DRIFT_EXPECTATIONS,
                ev.OTEL_DRIFT_LEARN,
            )
        try:
            # Invalid expectations are left out (each logged); the file is refused
            # whole only when nothing in it can be trusted, or OTEL_DRIFT_STRICT says so.
            loaded = salvage_expectations(settings.expectations_path, strict=settings.strict)
        except ExpectationsError as error:
            # One line: log collectors (journald, Kubernetes, most agents) split records at
            # newlines, and the problem would arrive as lines that do not say otel-drift.
            _logger.error(
                "otel-drift is disabled: the expectations file named by %s is invalid and "
                "refused whole (%s): %s",
                ev.OTEL_DRIFT_EXPECTATIONS,
                error.why_refused or "it is invalid",
                " | ".join(line.strip() for line in str(error).splitlines()),
            )
            return
    if not isinstance(provider, TracerProvider):
        _logger.error(
            "otel-drift is disabled: the global TracerProvider is %s, not the OpenTelemetry "
            "SDK's. Run under opentelemetry-instrument with a traces exporter configured "
            "(OTEL_TRACES_EXPORTER, not 'none'), or add DriftSpanProcessor to your own "
            "SDK TracerProvider.",
            type(provider).__name__,
        )
        return
    if loaded is None and settings.learn is not None:
        path = learned_path(settings.baseline_dir, _service(provider))
        if not path.exists():
            _learn(settings, settings.learn, provider, path)
            return
        loaded, source = load_learned(path, settings), str(path)
        if loaded is None:
            return
        from otel_drift._internal.spans.learning import announce  # noqa: PLC0415

        announce(
            settings,
            "judging with the baselines learned earlier in %s (delete it to learn them again)",
            path,
        )
    if loaded is None:
        return
    processor = DriftSpanProcessor(loaded, settings=settings)
    provider.add_span_processor(processor)
    _judge(processor, loaded, provider, settings, source)
    if settings.flush_on_sigterm:
        _flush_on_sigterm(processor)


def _service(provider: TracerProvider) -> str:
    return str(provider.resource.attributes.get(SERVICE_NAME) or "unknown_service")


def _judge(
    processor: DriftSpanProcessor,
    loaded: Loaded,
    provider: TracerProvider,
    settings: Settings,
    source: str,
) -> None:
    """Wire an attached processor: console, actions, last window at exit, feed."""
    from otel_drift._internal.signals.console import ConsoleReporter  # noqa: PLC0415

    if settings.console:
        # Name the process: gunicorn workers and replicas share a terminal.
        resource = provider.resource.attributes
        process = resource.get(SERVICE_INSTANCE_ID) or f"pid {os.getpid()}"
        processor.engine.add_listener(ConsoleReporter(process=str(process)))
    _install_actions(processor, provider)
    # atexit runs handlers last-registered first: this evaluates the last
    # window before the SDK providers (registered earlier) flush and close.
    atexit.register(processor.shutdown)
    feed.attach(processor, loaded.file)
    _logger.info(
        "otel-drift: watching %d expectations from %s%s",
        len(loaded.file.expectations),
        source,
        f" ({len(loaded.disabled)} invalid, disabled)" if loaded.disabled else "",
    )


def _learn(settings: Settings, period: LearnPeriod, provider: TracerProvider, path: Path) -> None:
    """Attach a LearningSpanProcessor: it writes ``path``, then judges with it."""
    from otel_drift._internal.settings import describe_learn_period  # noqa: PLC0415
    from otel_drift._internal.spans.learning import (  # noqa: PLC0415
        LEARN_WINDOW,
        LearningSpanProcessor,
        announce,
    )
    from otel_drift._internal.spans.processor import DriftSpanProcessor  # noqa: PLC0415

    def judge(loaded: Loaded, learned: Path) -> DriftSpanProcessor:
        # On the learning thread, once the file is there (written here or by another worker).
        processor = DriftSpanProcessor(loaded, settings=settings)
        _judge(processor, loaded, provider, settings, str(learned))
        return processor

    service = _service(provider)
    learning = LearningSpanProcessor(
        path,
        period,
        service=service,
        settings=settings,
        judge=judge,
        window=settings.learn_window or LEARN_WINDOW,
    )
    provider.add_span_processor(learning)
    atexit.register(learning.shutdown)
    if settings.flush_on_sigterm:
        _flush_on_sigterm(learning)
    announce(
        settings,
        "learning the baselines of service %r from its spans for %s; then writes %s and "
        "judges with it",
        service,
        describe_learn_period(period),
        path,
    )


def _install_actions(processor: DriftSpanProcessor, provider: TracerProvider) -> None:
    """Hooks and webhook on status changes (OTEL_DRIFT_ACTIONS, OTEL_DRIFT_WEBHOOK_URL)."""
    from otel_drift._internal.signals.actions import dispatcher_from_env  # noqa: PLC0415

    try:
        dispatcher = dispatcher_from_env(resource=dict(provider.resource.attributes))
        if dispatcher is None:
            return
        processor.engine.add_listener(dispatcher)
        # Registered before the processor's shutdown, so it runs after it:
        # the transitions of the last (partial) window are delivered too.
        atexit.register(dispatcher.shutdown)
    except Exception:
        _logger.exception("otel-drift: drift actions are off (detection keeps running)")


#: Longest wait for the last window and the providers' flush when SIGTERM arrives.
SIGTERM_FLUSH_TIMEOUT_S = 10.0


def _flush_on_sigterm(processor: SpanProcessor) -> bool:
    """Handle SIGTERM when nothing else does: flush, then die of SIGTERM as before.

    With the default action SIGTERM ends the process at once, skipping atexit
    (uvicorn re-raises SIGTERM after its graceful shutdown, for one), so the
    last partial window and the SDK's batched spans and metrics would be lost.
    Only from the main thread, and only over the default action: a handler
    the host set is never replaced. Returns whether the handler was installed.
    """
    import signal  # noqa: PLC0415
    import threading  # noqa: PLC0415

    try:
        if threading.current_thread() is not threading.main_thread():
            return False
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return False
    except (AttributeError, ValueError):  # a platform without SIGTERM
        return False

    flushing = threading.Event()

    def handle(signum: int, _frame: object) -> None:
        if not flushing.is_set():  # a second SIGTERM does not wait again
            flushing.set()
            # The flush runs on its own thread, bounded: the signal interrupted the
            # main thread anywhere, possibly holding a lock the flush would need.
            worker = threading.Thread(
                target=_flush_all, args=(processor,), name="otel-drift-sigterm", daemon=True
            )
            worker.start()
            worker.join(SIGTERM_FLUSH_TIMEOUT_S)
        # Then the default action, so the exit status stays "killed by SIGTERM".
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)

    signal.signal(signal.SIGTERM, handle)
    return True


def _flush_all(processor: SpanProcessor) -> None:
    from opentelemetry import metrics, trace  # noqa: PLC0415

    timeout_ms = int(SIGTERM_FLUSH_TIMEOUT_S * 1000)
    try:
        processor.shutdown()  # the last window's evaluation spans go to the provider
        for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
            flush = getattr(provider, "force_flush", None)
            if flush is not None:
                flush(timeout_ms)
    except Exception:
        _logger.exception("otel-drift: error while flushing on SIGTERM")
