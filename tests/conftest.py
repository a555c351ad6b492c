"""Shared test helpers: where the real fixture lines live."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
RECORDS = FIXTURES / "records"


@pytest.fixture
def records_dir() -> Path:
    return RECORDS


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fast tests first, the host tests next, the real-cluster tests last."""

    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("cluster"):
            return 2
        if item.get_closest_marker("host"):
            return 1
        return 0

    items.sort(key=rank)  # stable: keeps file order within each group
