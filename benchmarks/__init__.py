"""otel-drift benchmarks: ratios measured in one run (see README)."""
