"""Shared test helpers: where the real fixture lines live, the order of the test
groups, the wait for a cluster that CI starts in the background, and the wait of
the exclusive cluster tests for the other lane (scripts/test.sh).
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
    """Fast tests first, the host tests next, the real-cluster tests last, the exclusive ones at the very end."""

    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("exclusive"):
            return 3
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


def _wait_for_status(status_file: Path, what: str) -> str:
    """Block until ``status_file`` exists (its writer has ended); its content."""
    deadline = time.monotonic() + START_WAIT
    while not status_file.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} after {START_WAIT // 60} min ({status_file} missing)")
        time.sleep(2)
    return status_file.read_text().strip()


def _wait_for_background_start(status_file: Path) -> None:
    """Block until the background build-and-up has ended; fail the test with its log if it failed."""
    status = _wait_for_status(status_file, "the test cluster was still starting")
    if status != "0":
        log = status_file.with_suffix(".log")
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:]) if log.exists() else ""
        pytest.fail(f"building or starting the test cluster failed (exit {status}); {log}:\n{tail}")


# scripts/test.sh runs the cluster tests in two lanes at once; the tests marked exclusive
# (they restart components, add nodes, label every node or clean up what no workload uses)
# run in the first lane after the second has ended: KSC_EXCLUSIVE_AFTER names the file its
# exit status is written to.
EXCLUSIVE_AFTER = os.environ.get("KSC_EXCLUSIVE_AFTER")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if CLUSTER_STARTING and item.get_closest_marker("cluster"):
        _wait_for_background_start(Path(CLUSTER_STARTING))
    if EXCLUSIVE_AFTER and item.get_closest_marker("exclusive"):
        _wait_for_status(Path(EXCLUSIVE_AFTER), "the other lane of cluster tests was still running")
