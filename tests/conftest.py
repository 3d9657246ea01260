"""Shared fixtures (helpers live in tests/support.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import EXAMPLE_FILE, Pipeline, make_pipeline


@pytest.fixture
def example_text() -> str:
    return EXAMPLE_FILE.read_text()


@pytest.fixture
def pipeline(example_text: str) -> Iterator[Pipeline]:
    built = make_pipeline(example_text)
    yield built
    built.provider.shutdown()
