"""otel-drift internals: import from the public modules instead."""
