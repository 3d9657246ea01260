"""Live learning (``OTEL_DRIFT_LEARN``): learn the baselines from the spans, write the file, judge.

With no expectations file, :class:`LearningSpanProcessor` stands where the
``DriftSpanProcessor`` would. Its ``on_end`` parks the finished span (a
length check and a deque append, as the processor's own parking; past the
bound the span is dropped and counted) and now and then wakes its thread,
which turns each parked span into a ``learn.SpanRecord`` and feeds a
``learn.Learner`` (discovery and bounded accumulation: ``learn/``). When the
period is over (a span count, or a duration on the injectable clock) the
thread writes the learned file (``learn.document``) to
``OTEL_DRIFT_BASELINE_DIR/<service.name>.yaml``, builds the judging
``DriftSpanProcessor`` from it, and hands over: from then on the SDK calls
that processor's ``on_end`` directly (the instance's ``on_end`` is rebound to
it, so judging costs what it costs without learning, not a call more).

Pre-forked workers (gunicorn) each learn in their own process, and the first
to finish wins: the file is written under a temporary name, then linked to
its final name (``os.link`` fails when the name exists, so a reader never
sees half a file and a second writer never replaces the first). A loser, and
every still-learning worker once it sees the winner's file (checked at each
pass of the thread, 5 times a second), loads the winner's file and judges
with it: one file per service, one baseline for all workers.

Bounded: at most ``MAX_PARKED_SPANS`` spans wait for the thread; the learner
tracks the first ``max(2 * max_expectations, 64)`` keys seen (the spans of
the others are counted), each with at most ``MAX_WINDOWS`` reference windows
of ``window`` spans. By the arithmetic of ``learn/accumulate.py``, a key with
3 watched values holds 72 kB of window codes and 24 kB of grid counts per
numeric value: about 20 MB at most at the default 100 expectations, about
2 MB for a service of 20 routes and targets.

A key is learned when it had at least 2 % of the spans learned from, at
least one window (``window``, 200 spans as ``baseline --from-traces``) and
at most the CLI's ``--min-spans`` default (500): a short period keeps the
routes that filled a window, a long one leaves out the rare ones.

Measured end to end in one run (benchmarks/learn_live.py, RESULTS.md
"Learning"): learning adds +45 % to a Flask-shaped span (the SDK alone
~25 us), next to +34 % for judging two watched values; the learning thread
spends 10.4 us a span, ``on_end`` only parks it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable
from pathlib import Path

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode

from otel_drift import environment_variables as ev
from otel_drift._internal.engine.clock import SYSTEM_CLOCK, Clock
from otel_drift._internal.expectations.errors import ExpectationsError
from otel_drift._internal.expectations.learned import TRUSTED_WINDOWS
from otel_drift._internal.expectations.load import (
    Loaded,
    loads_expectations,
    salvage_expectations,
)
from otel_drift._internal.learn.accumulate import Learner
from otel_drift._internal.learn.discover import SpanRecord
from otel_drift._internal.learn.document import (
    Learned,
    Options,
    header,
    learned_document,
    thin_references,
)
from otel_drift._internal.learn.yaml_text import dump
from otel_drift._internal.semconv import OWN_SCOPE
from otel_drift._internal.settings import LearnPeriod, Settings, describe_learn_period
from otel_drift._internal.spans.matching import SPAN_KINDS
from otel_drift._internal.spans.processor import MAX_PARKED_SPANS, DriftSpanProcessor
from otel_drift._internal.spans.reader import private_layout_holds

_logger = logging.getLogger(__name__)

#: Spans a learned window holds (``baseline --from-traces --window``'s default).
LEARN_WINDOW = 200
#: Most spans a key needs to be learned (``baseline --from-traces --min-spans``'s default).
MAX_MIN_SPANS = 500
#: The share of the spans learned from that a key needs (within the bounds above).
MIN_SHARE = 0.02
#: Keys tracked at least (the first seen are tracked: a few more than written, so the
#: busiest are among them however small ``max_expectations`` is).
MIN_KEYS = 64
#: Reference windows kept per key (the CLI keeps 120; 60 give the spread, in half the memory).
MAX_WINDOWS = 60
#: Names of the SDK's span kinds, as in ``span_kind:``.
KIND_NAMES = {kind: name for name, kind in SPAN_KINDS.items()}

_KIND_BY_VALUE = {kind.value: name for kind, name in KIND_NAMES.items()}
_STATUS_BY_VALUE = {code.value: code.name for code in StatusCode}
#: The span class whose private fields ``span_record`` reads, or None.
_FAST_SPAN: type | None = ReadableSpan if private_layout_holds() else None

#: Builds the judging processor from the learned file (``auto.py`` also wires its signals).
Judge = Callable[[Loaded, Path], DriftSpanProcessor]


def learned_path(folder: str | os.PathLike[str], service: str) -> Path:
    """Where the file learned for ``service`` lives: ``folder/<service>.yaml``.

    >>> learned_path("baselines", "shop api/v2").as_posix()
    'baselines/shop_api_v2.yaml'
    """
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", service).strip("._") or "service"
    return Path(folder) / f"{name}.yaml"


def min_spans(spans: int, window: int) -> int:
    """Spans a key needs to be learned, out of ``spans`` learned from.

    >>> min_spans(3_000, 200), min_spans(20_000, 200), min_spans(1_000_000, 200)
    (200, 400, 500)
    """
    return max(window, min(MAX_MIN_SPANS, int(spans * MIN_SHARE)))


def span_record(span: ReadableSpan) -> SpanRecord:
    """A finished SDK span as the learner reads it.

    From the SDK's own span class, its private fields (checked once at import,
    as the processor's reader does: ``private_layout_holds``): each public
    property costs a Python call, ``events`` a copy, and the learner reads a
    plain dict's ``get`` several times faster than the ``MappingProxyType``
    of the public ``attributes``. Measured on one span of the Flask shape,
    alternated in one run: 1.8 us a conversion against 6.3 us through the
    public properties, and conversion + learning 10.6 us against 20.2 us.
    """
    if type(span) is _FAST_SPAN:
        raw = span._attributes
        attributes = raw._dict if type(raw) is BoundedAttributes else raw or {}
        scope = span._instrumentation_scope
        events = span._events
        return SpanRecord(
            name=span._name,
            kind=_KIND_BY_VALUE.get(span._kind._value_, "internal"),
            scope="" if scope is None else scope._name,
            attributes=attributes,
            start_ns=span._start_time or 0,
            end_ns=span._end_time or 0,
            status=_STATUS_BY_VALUE.get(span._status._status_code._value_, "UNSET"),
            events=[(e.name, e.attributes or {}) for e in events] if events else (),
        )
    scope = span.instrumentation_scope
    return SpanRecord(
        name=span.name,
        kind=KIND_NAMES.get(span.kind, "internal"),
        scope="" if scope is None else scope.name,
        attributes=span.attributes or {},
        start_ns=span.start_time or 0,
        end_ns=span.end_time or 0,
        status=span.status.status_code.name,
        events=[(event.name, event.attributes or {}) for event in span.events],
    )


def load_learned(path: Path, settings: Settings) -> Loaded | None:
    """The learned file at ``path``, or None (logged: the file, why, and the fix)."""
    try:
        return salvage_expectations(path, strict=settings.strict)
    except ExpectationsError as error:
        # One line, as auto.py's: log collectors split records at newlines.
        _logger.error(
            "otel-drift is disabled: the baselines learned earlier in %s cannot be used (%s): "
            "%s. Delete %s to learn them again (%s), or fix it (otel-drift validate %s).",
            path,
            error.why_refused or "it is invalid",
            " | ".join(line.strip() for line in str(error).splitlines()),
            path,
            ev.OTEL_DRIFT_LEARN,
            path,
        )
        return None


def write_first(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` unless it exists; whether this call wrote it.

    The text goes to a temporary file first, then is linked to ``path``:
    ``os.link`` refuses an existing name, so of several processes the first
    wins, and nobody ever reads a partly written file. ``OSError``: the folder
    cannot be written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        temporary.unlink(missing_ok=True)


def announce(settings: Settings, message: str, *args: object) -> None:
    """Log a step of learning (INFO), and print it on stderr with ``OTEL_DRIFT_CONSOLE``.

    Few applications show the INFO logs of a library; a user who turned the
    console on to watch otel-drift learns where the file went without that.
    """
    _logger.info("otel-drift: " + message, *args)
    if settings.console:
        # A closed or broken stderr: the log has it.
        with contextlib.suppress(OSError, ValueError):
            print("[otel-drift] " + message % args, file=sys.stderr, flush=True)


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


class LearningSpanProcessor(SpanProcessor):
    """Learns the service's baselines from its spans, writes them to ``path``, then judges.

    ``judge(loaded, path)`` builds the judging processor from the learned file
    (default: a ``DriftSpanProcessor`` with ``settings`` and ``clock``);
    ``judging`` is that processor once learning is over. ``clock`` is where a
    duration ``period`` is read (tests set their own).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        period: LearnPeriod,
        *,
        service: str = "",
        settings: Settings | None = None,
        judge: Judge | None = None,
        window: int = LEARN_WINDOW,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.path = Path(path)
        self.period = period
        self.service = service or self.path.stem
        self.settings = settings or Settings()
        self.window = window
        self._clock = clock
        self._judge = judge or self._default_judge
        #: The judging processor, once learning is over (None while learning, or off).
        self.judging: DriftSpanProcessor | None = None
        #: Learning stopped for good in this process (shut down, or off after an error).
        self.closed = False
        self._capacity_bound = min(self.settings.queue_size, MAX_PARKED_SPANS)
        self._init_process_state()
        weak = weakref.ref(self)

        def after_fork() -> None:
            processor = weak()
            if processor is not None and processor.judging is None and not processor.closed:
                # The parent's spans were the parent's: each worker learns its own.
                processor._init_process_state()

        os.register_at_fork(after_in_child=after_fork)

    def _init_process_state(self) -> None:
        self._parked: deque[ReadableSpan] = deque()
        self._capacity = self._capacity_bound
        self._wake_at = max(1, self._capacity // 2) - 1
        self._wake = threading.Event()
        self._lock = threading.Lock()
        #: Held by each learning pass: the thread's, or one run by force_flush.
        self._pass_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.learner = Learner(
            window=self.window,
            max_windows=MAX_WINDOWS,
            max_keys=max(2 * self.settings.max_expectations, MIN_KEYS),
        )
        #: Spans dropped because the parking was full (the thread fell behind).
        self.dropped = 0
        self.errors = 0
        self._started = self._clock.monotonic()
        self._spans_due = self.period.spans
        self._warned_empty = False

    def _default_judge(self, loaded: Loaded, _path: Path) -> DriftSpanProcessor:
        return DriftSpanProcessor(loaded, settings=self.settings, clock=self._clock)

    # -- the request threads ---------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        parked = self._parked
        size = len(parked)
        if size < self._capacity:
            parked.append(span)
            if size == self._wake_at:
                self._wake.set()
            elif not size and self._thread is None:
                self._start()
        elif not self.closed:
            self.dropped += 1  # a count for the log, not exact under contention

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self.closed:
                return
            try:
                thread = threading.Thread(target=self._run, name="otel-drift-learn", daemon=True)
                thread.start()
            except Exception:  # no thread: spans park to the bound, then are dropped
                _logger.exception("otel-drift: could not start learning")
                self.closed = True
                return
            self._thread = thread

    # -- the learning thread ---------------------------------------------------

    def _run(self) -> None:
        interval = self.settings.flush_interval_s
        while not self._stopped:
            self._wake.wait(interval)
            self._wake.clear()
            if self._stopped or self._step():
                return

    def _step(self) -> bool:
        """One pass, under the pass lock (the thread's, or force_flush's). True: over."""
        with self._pass_lock:
            if self.judging is not None or self.closed:
                return True
            try:
                return self._pass()
            except Exception:
                _logger.exception(
                    "otel-drift: learning failed; drift detection is off in this process "
                    "(the application keeps running)"
                )
                self._off()
                return True

    def _pass(self) -> bool:
        """Feed the parked spans; at the period's end write and hand over. True: over."""
        if self.path.exists():  # another worker of the service won
            self._adopt(None)
            return True
        self._feed()
        if not self._due():
            return False
        self.learner.finish()
        options = Options(
            window=self.window,
            min_spans=min_spans(self.learner.spans, self.window),
            max_expectations=self.settings.max_expectations,
        )
        learned = learned_document(self.learner, options)
        if not learned.document["expectations"]:
            self._learn_longer(options)
            return False
        text = dump(learned.document, header(learned, self._source()))
        # Checked as `otel-drift validate` would before it is written; an
        # ExpectationsError here is a bug of ours, and stops learning (logged).
        loaded = Loaded(loads_expectations(text, path=str(self.path)))
        try:
            wrote = write_first(self.path, text)
        except OSError as error:
            _logger.error(
                "otel-drift: could not write the learned baselines to %s (%s); judging with "
                "them in this process only. Set %s to a folder this process can write.",
                self.path,
                error,
                ev.OTEL_DRIFT_BASELINE_DIR,
            )
            self._adopt(loaded)
            return True
        if not wrote:
            self._adopt(None)
            return True
        announce(self.settings, "%s", self._summary(learned, options))
        self._adopt(loaded)
        return True

    def _feed(self) -> None:
        parked, add = self._parked, self.learner.add
        for _ in range(len(parked)):
            span = parked.popleft()
            scope = span.instrumentation_scope
            if scope is not None and scope.name == OWN_SCOPE:
                continue
            try:
                add(span_record(span))
            except Exception:
                self.errors += 1
                if self.errors <= 3 or self.errors % 1000 == 0:
                    _logger.exception("otel-drift: could not learn from a span (#%d)", self.errors)

    def _due(self) -> bool:
        if self._spans_due is not None:
            return self.learner.spans >= self._spans_due
        seconds = self.period.seconds or 0.0
        return self._clock.monotonic() - self._started >= seconds

    def _learn_longer(self, options: Options) -> None:
        """Nothing seen often enough: learn for another period (said once, then at debug)."""
        log = _logger.debug if self._warned_empty else _logger.warning
        self._warned_empty = True
        log(
            "otel-drift: nothing learned yet from %s spans of service %r: no route, client "
            "target, LLM model or flag had %d spans; learning on for another %s",
            f"{self.learner.spans:,}",
            self.service,
            options.min_spans,
            describe_learn_period(self.period),
        )
        if self._spans_due is not None:
            self._spans_due = self.learner.spans + (self.period.spans or 0)
        self._started = self._clock.monotonic()

    def _source(self) -> str:
        return (
            f"the live spans of service {self.service!r} (process {os.getpid()}, "
            f"{ev.OTEL_DRIFT_LEARN}={describe_learn_period(self.period)})"
        )

    def _summary(self, learned: Learned, options: Options) -> str:
        count = len(learned.document["expectations"])
        notes = []
        if learned.over_limit:
            notes.append(
                f"{len(learned.over_limit)} left out beyond {ev.OTEL_DRIFT_MAX_EXPECTATIONS}="
                f"{options.max_expectations}: {_listed(learned.over_limit)}"
            )
        if learned.too_few:
            notes.append(
                f"{len(learned.too_few)} seen fewer than {options.min_spans} times: "
                f"{_listed(learned.too_few)}"
            )
        thin = thin_references(learned.document)
        if thin:
            notes.append(
                f"thresholds learned from fewer than {TRUSTED_WINDOWS} windows, so a steady "
                f"window unlike every learned one may alarm (learn longer): {_listed(thin)}"
            )
        untracked = sum(self.learner.untracked.values())
        if untracked:
            notes.append(f"{untracked:,} spans of keys beyond the first {self.learner.max_keys}")
        if self.dropped:
            notes.append(f"{self.dropped:,} spans dropped (the learning thread fell behind)")
        return (
            f"learned {count} expectations from {self.learner.spans:,} spans of service "
            f"{self.service!r} and wrote {self.path}; judging with it now"
            + (f" ({'; '.join(notes)})" if notes else "")
        )

    def _adopt(self, loaded: Loaded | None) -> None:
        """Judge with ``loaded``, or (None) with the file another process wrote."""
        if loaded is None:
            loaded = load_learned(self.path, self.settings)
            if loaded is None:
                self._off()
                return
            announce(
                self.settings,
                "judging with %s, learned by another process of service %r",
                self.path,
                self.service,
            )
        with self._lock:
            if self.closed:
                return
            processor = self._judge(loaded, self.path)
            self.judging = processor
            self._capacity = 0
            # The SDK calls processor.on_end directly from now on.
            self.on_end = processor.on_end  # type: ignore[method-assign]
        self._parked.clear()
        # What was learned is in the file now: its memory goes back.
        self.learner = Learner(window=self.window, max_keys=0)

    def _off(self) -> None:
        with self._lock:
            self.closed = True
            self._capacity = 0
        self._parked.clear()

    # -- flush and shutdown ----------------------------------------------------

    def shutdown(self) -> None:
        with self._lock:
            learning = self.judging is None and not self.closed
            self.closed = True
            self._capacity = 0
            thread = self._thread
        self._stopped = True
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10.0)
        self._parked.clear()
        if learning and self.learner.spans:
            _logger.info(
                "otel-drift: stopped before the end of learning (%s spans of %s); nothing "
                "written, learning starts again at the next start",
                f"{self.learner.spans:,}",
                describe_learn_period(self.period),
            )
        if self.judging is not None:
            self.judging.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """While learning: a pass now, on the caller's thread (it learns what was
        parked and, if the period is over, writes the file and hands over)."""
        if self.judging is None and not self.closed:
            self._step()
        judging = self.judging
        return True if judging is None else judging.force_flush(timeout_millis)
