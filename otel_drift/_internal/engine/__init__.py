"""The drift worker: values in, windows closed, evaluations out.

Imports only the base layer (expectations, detectors, sketches, settings,
values, semconv) and OpenTelemetry's trace types. Spans come in through
``spans/``, findings go out through ``signals/``; neither is imported here.
"""
