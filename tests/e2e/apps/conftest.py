"""Fixtures of the application tests: their images, built once and imported into each node.

The images (tests/cluster/images.py, ``APP_IMAGES``) are made of Debian
packages and cached by input hash under ``~/.cache/kubectl-seccomp/images``;
``harness.py up`` does not import them (it stays fast for the other tests):
the first test that needs one imports it into every node's containerd, once
per node, only when the node does not have it yet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "cluster"))
import images

CLUSTER_DIR = Path(os.environ.get("KSC_CLUSTER_DIR", "/var/lib/ksc-cluster"))  # as tests/e2e/conftest.py


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "apps: real applications recorded and enforced on the test cluster")


def _node_has(socket: str, tag: str) -> bool:
    result = subprocess.run(
        ["ctr", f"--address={socket}", "--namespace=k8s.io", "images", "ls", "-q", f"name=={tag}"],
        capture_output=True,
        text=True,
    )
    return tag in result.stdout.split()


@pytest.fixture(scope="session")
def app_image(cluster: Any) -> Iterator[Callable[[str], str]]:
    """``app_image(name)`` -> the tag of ``images.APP_IMAGES[name]``, present on every node."""
    info = json.loads((CLUSTER_DIR / "cluster.json").read_text())  # the `cluster` fixture checked it
    sockets = [node["containerd_socket"] for node in info["node_info"]]
    ready: set[str] = set()

    def get(name: str) -> str:
        image = images.APP_IMAGES[name]
        if name not in ready:
            try:
                archive = images.deb_image_archive(image, images.IMAGE_CACHE)
            except images.ImageBuildError as error:
                pytest.fail(str(error))
            for socket in sockets:
                if not _node_has(socket, image.tag):
                    subprocess.run(
                        ["ctr", f"--address={socket}", "--namespace=k8s.io", "images", "import", str(archive)],
                        check=True,
                        capture_output=True,
                    )
            ready.add(name)
        return image.tag

    yield get
