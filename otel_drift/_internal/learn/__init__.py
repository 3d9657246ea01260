"""Learning what normal is from spans: discovery, bounded accumulation, the learned file.

Base layer (no OpenTelemetry): ``otel-drift baseline --from-traces`` feeds it
spans read from OTLP/JSON files, and live learning can feed it finished spans
converted to :class:`~otel_drift._internal.learn.discover.SpanRecord`. The
open-outer-bin rule (``bins.py``) is the one every baseline command uses.
"""
