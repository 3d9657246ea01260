"""otel-drift's own instrumentations, installed as ``otel_drift.instrumentation``.

This folder is mapped onto the ``otel_drift.instrumentation`` package by
``pyproject.toml``; nothing here is ever importable as a top-level
``instrumentations`` module.
"""
