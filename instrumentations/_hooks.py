"""Wrapping library methods when (and only when) the library is imported.

``_instrument`` must not import a heavy library (torch) into every process
that merely has it installed: wrapt post-import hooks wrap it when the
application imports it, or at once if it already has. Hooks cannot be
unregistered, so each is registered once and does nothing while its
instrumentor is off; re-instrumenting re-applies to what is imported.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap

_logger = logging.getLogger(__name__)

#: What a wrapt-wrapped attribute is: wrapt 2's FunctionWrapper is no longer an ObjectProxy.
_WRAPPED: tuple[type, ...] = tuple(
    kind
    for kind in (getattr(wrapt, "ObjectProxy", None), getattr(wrapt, "FunctionWrapper", None))
    if isinstance(kind, type)
)

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


def require(module: str) -> None:
    """Raise ModuleNotFoundError when ``module`` is not installed (without importing it).

    ``opentelemetry-instrument`` skips an instrumentor quietly on that error,
    so the others in this distribution still load.
    """
    if importlib.util.find_spec(module) is None:
        raise ModuleNotFoundError(f"No module named {module!r}", name=module)


class Patcher:
    """The wraps of one instrumentor: applied on import, undone on uninstrument."""

    def __init__(self) -> None:
        self.active = False
        #: Per module, what to apply to it (an instrumentor may wrap several things).
        self._registered: dict[str, list[Callable[[ModuleType], None]]] = {}
        self._wrapped: list[tuple[type, str]] = []

    def on_import(self, module: str, apply: Callable[[ModuleType], None]) -> None:
        """Call ``apply(module)`` now if imported, else when it is; only while active."""
        self.active = True
        applies = self._registered.get(module)
        if applies is not None:
            # The hook is registered already (hooks cannot be removed): add to
            # what it applies, and apply now if the module is there.
            if apply not in applies:
                applies.append(apply)
            loaded = sys.modules.get(module)
            if loaded is not None:
                self._run(apply, loaded)
            return
        applies = self._registered[module] = [apply]

        def hook(loaded: ModuleType) -> None:
            if self.active:
                for each in list(applies):
                    self._run(each, loaded)

        wrapt.register_post_import_hook(hook, module)

    def _run(self, apply: Callable[[ModuleType], None], module: ModuleType) -> None:
        try:
            apply(module)
        except Exception:
            # A library version whose layout we do not know: instrument less, never break.
            _logger.exception("otel-drift: could not instrument %s", module.__name__)

    def wrap(self, owner: type, name: str, wrapper: Wrapper) -> bool:
        """Wrap ``owner.name`` (defined on owner itself) once; False if absent or done."""
        current = owner.__dict__.get(name)
        if current is None or isinstance(current, _WRAPPED):
            return False
        wrapt.wrap_function_wrapper(owner, name, wrapper)
        self._wrapped.append((owner, name))
        return True

    def unwrap_all(self) -> None:
        self.active = False
        while self._wrapped:
            owner, name = self._wrapped.pop()
            unwrap(owner, name)


class PatchingInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """A ``BaseInstrumentor`` whose wraps one ``Patcher`` applies and undoes.

    ``BaseInstrumentor`` is a singleton per class: ``__init__`` runs on every
    call of the class, and must not forget what is wrapped. So the patcher is
    made once, and subclasses set their own state once in ``_set_up``.
    """

    patcher: Patcher

    def __init__(self) -> None:
        super().__init__()
        if "patcher" not in self.__dict__:
            self.patcher = Patcher()
            self._set_up()

    def _set_up(self) -> None:
        """Per-instance state beside the patcher (runs once)."""

    def _uninstrument(self, **kwargs: Any) -> None:
        self.patcher.unwrap_all()
