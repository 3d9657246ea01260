"""Delayed ground truth: labels that arrive after the prediction, joined to it
and judged like any other watched value."""
