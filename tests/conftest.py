"""Shared test helpers: where the real fixture lines live."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
RECORDS = FIXTURES / "records"


@pytest.fixture
def records_dir() -> Path:
    return RECORDS
