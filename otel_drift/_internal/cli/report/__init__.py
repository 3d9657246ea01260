"""``otel-drift report``: a self-contained HTML page of drift over a time range."""
