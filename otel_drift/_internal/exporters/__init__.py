"""Exporters that write otel-drift telemetry somewhere other than an OTLP endpoint."""
