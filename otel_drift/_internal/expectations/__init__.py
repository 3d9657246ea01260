"""The expectations file: schema, checks and loading.

The public API is in ``otel_drift.expectations``.
"""
