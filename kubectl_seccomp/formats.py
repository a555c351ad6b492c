"""The forms a profile is written in: the seccomp JSON, or a Security Profiles Operator resource.

- ``json``: the profile as the kubelet reads it from its seccomp directory (``Localhost``), and as
  podman and docker read it (``--security-opt seccomp=FILE``): one format for all three.
- ``spo``: a ``SeccompProfile`` custom resource of the Security Profiles Operator
  (``security-profiles-operator.x-k8s.io/v1``), for teams that let the operator put profiles on
  the nodes: ``kubectl apply -f`` it. Rendered from the Jinja2 template
  ``templates/seccompprofile.yaml.j2``.
"""

from __future__ import annotations

import enum
import re
from typing import Any, Optional

from kubectl_seccomp import __version__
from kubectl_seccomp.errors import UsageError
from kubectl_seccomp.profile import EPERM, Profile

TEMPLATE = "seccompprofile.yaml.j2"
DEFAULT_NAME = "kubectl-seccomp"
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class ProfileFormat(str, enum.Enum):
    """Values of ``--format``."""

    json = "json"
    spo = "spo"


#: The extension of a file of each form (``record`` names its files ``<name>-<container>.<ext>``).
FILE_EXTENSIONS = {ProfileFormat.json: "json", ProfileFormat.spo: "yaml"}


def resource_name(name: Optional[str], file_hint: Optional[str] = None) -> str:
    """The SeccompProfile's ``metadata.name``: ``name`` as given (checked), else made from ``file_hint``."""
    if name is not None:
        if len(name) > 253 or not _NAME.match(name):
            raise UsageError(
                f"--name {name!r} is not a valid Kubernetes object name",
                hint="use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit",
            )
        return name
    if file_hint:
        stem = file_hint.rsplit("/", 1)[-1].rsplit(".", 1)[0].lower()
        made = re.sub(r"[^a-z0-9.-]+", "-", stem).strip("-.")[:253].strip("-.")
        if made and _NAME.match(made):
            return made
    return DEFAULT_NAME


def render_profile(profile: Profile, form: ProfileFormat, name: str = DEFAULT_NAME) -> str:
    """``profile`` as text in ``form``."""
    if form is ProfileFormat.json:
        return profile.to_json()
    if profile.default_errno_ret not in (None, EPERM):
        raise UsageError(
            f"the SeccompProfile resource cannot hold defaultErrnoRet {profile.default_errno_ret}",
            hint="write it with --format json",
        )
    return str(_template().render(profile=profile.to_dict(), name=name, generator=f"kubectl-seccomp {__version__}"))


def _template() -> Any:
    import importlib.resources

    import jinja2

    text = (importlib.resources.files("kubectl_seccomp") / "templates" / TEMPLATE).read_text(encoding="utf-8")
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    return environment.from_string(text)
