"""Profiles handed to a running recording agent: ``record`` installs the recorded
profiles through the agents it already has on the nodes instead of starting
new pods.

The CLI writes a request into the agent pod's annotation
``kubectl-seccomp.io/handover``; the kubelet puts the annotation into a
downward API file, which :func:`watch` reads every ``poll`` seconds. A request::

    {"id": "<request id>", "install": {"<path>": "<profile JSON>"}, "remove": ["<path>"]}

Each answer is one protocol line on stdout (the pod's log, which the CLI
follows)::

    {"event":"handed-over","id":"<request id>","files":{"<path>":"<sha256 of what was written>"}}
    {"event":"handover-failed","id":"<request id>","message":"..."}

The CLI compares the digests with what it sent, so an annotation changed on
the way is caught there; a node that does not answer, or answers otherwise,
gets the profiles from an install pod as before. Files are written by
:func:`kubectl_seccomp.agent.profiles.install_profile` (atomic, inside the root).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from types import FrameType
from typing import Optional

from kubectl_seccomp.agent.profiles import install_profile, remove_profile
from kubectl_seccomp.errors import AgentError

POLL_SECONDS = 0.05


def answer(request_text: str, root: str) -> dict[str, object]:
    """Carry out one request; the protocol line's object (``handed-over`` or ``handover-failed``)."""
    request_id = ""
    try:
        request = json.loads(request_text)
        if not isinstance(request, dict):
            raise AgentError("the request is not a JSON object")
        request_id = str(request.get("id", ""))
        install = request.get("install") or {}
        remove = request.get("remove") or []
        if not isinstance(install, dict) or not isinstance(remove, list):
            raise AgentError("'install' must be an object and 'remove' a list")
        written: dict[str, str] = {}
        for path, text in install.items():
            if not isinstance(text, str):
                raise AgentError(f"profile {path!r} is not a string")
            content = text.encode()
            install_profile(root, str(path), content)
            written[str(path)] = hashlib.sha256(content).hexdigest()
        for path in remove:
            remove_profile(root, str(path))
        return {"event": "handed-over", "id": request_id, "files": written}
    except ValueError as error:
        return {"event": "handover-failed", "id": request_id, "message": f"the request is not JSON: {error}"}
    except AgentError as error:
        return {"event": "handover-failed", "id": request_id, "message": error.message}


def watch(root: str, request_file: str, poll: float = POLL_SECONDS) -> int:
    """Answer each new request in ``request_file`` until SIGTERM/SIGINT (between requests, never
    in the middle of writing a file)."""
    stopping = False

    def stop(_signum: int, _frame: Optional[FrameType]) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    last = ""
    while not stopping:
        try:
            with open(request_file, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:  # the annotation is not there (yet)
            text = ""
        if text.strip() and text != last:
            last = text
            line = json.dumps(answer(text, root), separators=(",", ":")).encode() + b"\n"
            # One write: the follower prints to the same stdout, and a line written whole is never cut.
            os.write(1, line)
        time.sleep(poll)
    return 0
