"""``otel-drift baseline``: expectations written from reference data."""
