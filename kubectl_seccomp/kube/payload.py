"""Verified payloads, pure: the sha256 of each ConfigMap key a node pod may use,
and the check each node pod runs before it uses any of them.

The agent zipapp and the profiles travel in a ConfigMap into pods that run as
root on the node (the recording's agent pod is privileged with ``hostPID``).
A ConfigMap can be edited by anyone allowed to edit ConfigMaps in the agent
namespace, and the kubelet mounts whatever it holds when the pod starts. So
the CLI computes the digests of what it sent and writes them into the pod's
command, which cannot change once the pod exists; the pod's first step
(:data:`VERIFY_SCRIPT`, inline in that same command) reads each key from the
mounted ConfigMap, compares its sha256, and copies the verified bytes into an
``emptyDir``. Everything after it runs from that copy, so a later update of
the mount (the kubelet syncs ConfigMap edits into running pods) cannot swap
what runs. A key that differs ends the pod with exit code
:data:`TAMPERED_EXIT` and one JSON line (:data:`TAMPERED_EVENT`) naming the
ConfigMap and the key; :func:`tampered` finds it in the pod's log.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shlex
from dataclasses import dataclass
from typing import Optional

CONFIGMAP_DIR = "/opt/kubectl-seccomp-configmap"
TAMPERED_EVENT = "payload-tampered"
TAMPERED_EXIT = 86

VERIFY_SCRIPT = (
    "import hashlib,json,os,sys\n"
    "src,dst,name=sys.argv[1:4]\n"
    "for arg in sys.argv[4:]:\n"
    "    key,want=arg.split('=',1)\n"
    "    try:\n"
    "        with open(os.path.join(src,key),'rb') as f: data=f.read()\n"
    "        got=hashlib.sha256(data).hexdigest()\n"
    "    except OSError:\n"
    "        data,got=b'','missing'\n"
    "    if got!=want:\n"
    f"        print(json.dumps({{'event':'{TAMPERED_EVENT}','configmap':name,'key':key,"
    "'expected':want,'found':got}),flush=True)\n"
    f"        sys.exit({TAMPERED_EXIT})\n"
    "    tmp=os.path.join(dst,'.'+key)\n"
    "    with open(tmp,'wb') as f: f.write(data)\n"
    "    os.rename(tmp,os.path.join(dst,key))\n"
)


@dataclass(frozen=True)
class Payload:
    """A ConfigMap we created and the sha256 of each of its keys, as we sent them."""

    name: str
    digests: tuple[tuple[str, str], ...]


def payload_of(name: str, binary_data: dict[str, str], data: dict[str, str]) -> Payload:
    """The digests of a ConfigMap body's ``binaryData`` (base64) and ``data`` (UTF-8 text)."""
    digests = {key: hashlib.sha256(base64.b64decode(value)).hexdigest() for key, value in binary_data.items()}
    digests.update({key: hashlib.sha256(value.encode("utf-8")).hexdigest() for key, value in data.items()})
    return Payload(name, tuple(sorted(digests.items())))


def verified(command: list[str], payload: Payload, dest: str, source: str = CONFIGMAP_DIR) -> list[str]:
    """``command``, run only after every key of ``payload`` in ``source`` was checked and copied to ``dest``."""
    check = " ".join(
        ["python3", "-c", shlex.quote(VERIFY_SCRIPT), shlex.quote(source), shlex.quote(dest), shlex.quote(payload.name)]
        + [shlex.quote(f"{key}={digest}") for key, digest in payload.digests]
    )
    return ["sh", "-c", f'{check} && exec "$@"', "sh", *command]


@dataclass(frozen=True)
class Tampered:
    configmap: str
    key: str
    expected: str
    found: str


def tampered(output: str) -> Optional[Tampered]:
    """The tamper report in a node pod's output, if the check refused the payload."""
    for line in output.splitlines():
        if TAMPERED_EVENT not in line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") == TAMPERED_EVENT:
            return Tampered(
                str(event.get("configmap")), str(event.get("key")), str(event.get("expected")), str(event.get("found"))
            )
    return None
