"""The node agent as one reproducible zip application (``agent.pyz``).

The record workflow ships the agent to node pods in a ConfigMap and runs it as
``python3 agent.pyz follow ...`` with whatever python3 >= 3.9 the image has,
nothing installed. So the zip holds a ``__main__.py`` and exactly the modules
the agent imports (``kubectl_seccomp/__init__.py``, ``agent/``, ``audit.py``,
``syscalls/``, ``errors.py``), as source. It is byte-for-byte reproducible:
entries sorted, fixed timestamps and permissions, stored uncompressed (deflate
output may differ between zlib versions) -- the same tree gives the same bytes.
Each run ships it in its own ConfigMap, ``kubectl-seccomp-<run id>``.
"""

from __future__ import annotations

import io
import zipfile
from importlib.resources import files

# kubectl_seccomp/ as a Traversable, not a Path: the plugin itself may be imported from a zip
# (the Krew executable), where the sources can be read through the loader but not open()ed.
_PACKAGE = files("kubectl_seccomp")
_FILES = ("__init__.py", "audit.py", "errors.py")
_DIRECTORIES = ("agent", "syscalls")
_SKIP = frozenset({"bundle.py", "generate.py"})  # build-time only: the bundle itself, the table generator
_EPOCH = (1980, 1, 1, 0, 0, 0)
MAIN = b'''"""kubectl seccomp node agent (zip application): python3 agent.pyz follow|install|remove|sync ..."""
import sys

if sys.version_info < (3, 9):
    sys.exit("the kubectl seccomp agent needs python3 >= 3.9")

from kubectl_seccomp.agent.main import main

sys.exit(main())
'''


def bundle_members() -> list[tuple[str, bytes]]:
    """(name in the zip, content) of every member, sorted by name."""
    members = [("__main__.py", MAIN)]
    for name in _FILES:
        members.append((f"kubectl_seccomp/{name}", (_PACKAGE / name).read_bytes()))
    for directory in _DIRECTORIES:
        for path in sorted((_PACKAGE / directory).iterdir(), key=lambda entry: entry.name):
            if path.name.endswith(".py") and path.name not in _SKIP:
                members.append((f"kubectl_seccomp/{directory}/{path.name}", path.read_bytes()))
    return sorted(members)


def build_agent_zipapp() -> bytes:
    """The agent's zip application, the same bytes for the same sources."""
    buffer = io.BytesIO()
    buffer.write(b"#!/usr/bin/env python3\n")  # as zipapp writes it: offsets stay right
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, content in bundle_members():
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix, whatever builds it
            archive.writestr(info, content)
    return buffer.getvalue()
