"""The JSON Schema of the expectations file, shipped as package data.

The schema is the single description of the file's shape: the validator
interprets it, editors can use it for completion, and the README's field
reference is written from its ``description`` texts.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def load_schema() -> dict[str, Any]:
    """The parsed ``schema.json`` (cached: it never changes while running)."""
    text = resources.files(__package__).joinpath("schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
