"""Findings going out: metrics, evaluation and violation spans, console lines,
metric views and actions. Listens to the engine; never imports ``spans/``."""
