"""Adversarial tests: otel-drift runs inside somebody else's service, the host comes first."""
