from otel_drift.version import __version__

__all__ = ["__version__"]
