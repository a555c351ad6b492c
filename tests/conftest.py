"""Shared test helpers: where the real fixture lines live, the order of the test
groups, and the wait for a cluster that CI starts in the background.
"""

from __future__ import annotations

import os
import time
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


# .ci/run builds and starts the test cluster in the background while the tests that
# need none run; it sets KSC_CLUSTER_STARTING to a file its background job writes its
# exit status into (and its log next to it, .log). Cluster tests wait for that file.
CLUSTER_STARTING = os.environ.get("KSC_CLUSTER_STARTING")
START_WAIT = 90 * 60  # .ci/run's whole limit; a cold build of the current stack takes 10-25 min


def _wait_for_background_start(status_file: Path) -> None:
    """Block until the background build-and-up has ended; fail the test with its log if it failed."""
    deadline = time.monotonic() + START_WAIT
    while not status_file.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"the test cluster was still starting after {START_WAIT // 60} min ({status_file} missing)")
        time.sleep(2)
    status = status_file.read_text().strip()
    if status != "0":
        log = status_file.with_suffix(".log")
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:]) if log.exists() else ""
        pytest.fail(f"building or starting the test cluster failed (exit {status}); {log}:\n{tail}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if CLUSTER_STARTING and item.get_closest_marker("cluster"):
        _wait_for_background_start(Path(CLUSTER_STARTING))
