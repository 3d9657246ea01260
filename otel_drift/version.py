"""The installed version of otel-drift."""

__version__ = "0.1.0"
