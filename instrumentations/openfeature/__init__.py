"""OpenFeature flag evaluations as ``feature_flag.*`` events and watched values.

Adds :class:`DriftFlagHook` to the OpenFeature API's global hooks, so every
client's evaluations are recorded (see ``hook.py``); uninstrument removes
exactly that hook and leaves the application's own hooks alone.

    OpenFeatureInstrumentor().instrument()
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

from .package import _instruments


class OpenFeatureInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Records OpenFeature flag evaluations for drift (variant mix, stuck flags)."""

    _hook: Any = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return tuple(_instruments)

    def _instrument(self, **kwargs: Any) -> None:
        # The SDK first: without it this raises ModuleNotFoundError and
        # opentelemetry-instrument skips this instrumentor.
        from openfeature import api  # noqa: PLC0415

        from .hook import DriftFlagHook  # noqa: PLC0415

        self._hook = DriftFlagHook()
        api.add_hooks([self._hook])

    def _uninstrument(self, **kwargs: Any) -> None:
        from openfeature import api  # noqa: PLC0415

        hooks = [hook for hook in api.get_hooks() if hook is not self._hook]
        api.clear_hooks()
        if hooks:
            api.add_hooks(hooks)
        self._hook = None
