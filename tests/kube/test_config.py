"""Kubeconfig resolution follows kubectl: files, merge order, context, namespace."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubectl_seccomp.kube.config import ConnectionOptions, kubeconfig_files, resolve
from kubectl_seccomp.kube.errors import ConfigError


def write(
    path: Path,
    current: str | None,
    contexts: dict[str, dict[str, str]],
    clusters: tuple[str, ...],
    ca: str = "ca.crt",
) -> Path:
    data: dict[str, object] = {
        "clusters": [
            {"name": c, "cluster": {"server": f"https://{c}:6443", "certificate-authority": ca}} for c in clusters
        ],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": name, "context": ctx} for name, ctx in contexts.items()],
    }
    if current:
        data["current-context"] = current
    path.write_text(yaml.safe_dump(data))
    return path


def test_kubeconfig_flag_wins_over_the_environment(tmp_path: Path) -> None:
    assert kubeconfig_files("/x/config", {"KUBECONFIG": "/a:/b"}) == ("/x/config",)


def test_kubeconfig_env_lists_existing_files_in_order(tmp_path: Path) -> None:
    a = write(tmp_path / "a", None, {}, ())
    b = write(tmp_path / "b", None, {}, ())
    assert kubeconfig_files(None, {"KUBECONFIG": f"{a}:{tmp_path / 'missing'}:{b}"}) == (str(a), str(b))
    with pytest.raises(ConfigError, match="none of the files"):
        kubeconfig_files(None, {"KUBECONFIG": str(tmp_path / "missing")})


def test_home_default(tmp_path: Path) -> None:
    assert kubeconfig_files(None, {"HOME": str(tmp_path)}) == (str(tmp_path / ".kube" / "config"),)


def test_merge_first_definition_and_first_current_context_win(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    first = write(
        tmp_path / "one" / "config",
        "dev",
        {"dev": {"cluster": "c1", "user": "u", "namespace": "team"}},
        ("c1",),
    )
    second = write(
        tmp_path / "two",
        "prod",
        {"dev": {"cluster": "c2", "user": "u"}, "prod": {"cluster": "c2", "user": "u"}},
        ("c1", "c2"),
    )
    env = {"KUBECONFIG": f"{first}:{second}"}
    resolved = resolve(ConnectionOptions(), env)
    assert (resolved.context, resolved.cluster, resolved.namespace) == ("dev", "c1", "team")
    assert resolved.server == "https://c1:6443"
    # relative paths resolve against the file that names them
    cluster = next(c for c in resolved.config["clusters"] if c["name"] == "c1")
    assert cluster["cluster"]["certificate-authority"] == str(tmp_path / "one" / "ca.crt")
    prod = resolve(ConnectionOptions(context="prod"), env)
    assert (prod.cluster, prod.namespace) == ("c2", "default")
    assert resolve(ConnectionOptions(namespace="other"), env).namespace == "other"


def test_unknown_context_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path / "c", "dev", {"dev": {"cluster": "c1", "user": "u"}}, ("c1",))
    with pytest.raises(ConfigError, match=r"context .nope. not found.*known: dev"):
        resolve(ConnectionOptions(kubeconfig=str(path), context="nope"), {})


def test_no_current_context(tmp_path: Path) -> None:
    path = write(tmp_path / "c", None, {"dev": {"cluster": "c1", "user": "u"}}, ("c1",))
    with pytest.raises(ConfigError, match="no current context"):
        resolve(ConnectionOptions(kubeconfig=str(path)), {})


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve(ConnectionOptions(kubeconfig=str(tmp_path / "nope")), {})
    broken = tmp_path / "broken"
    broken.write_text("a: [")
    with pytest.raises(ConfigError, match="not valid YAML"):
        resolve(ConnectionOptions(kubeconfig=str(broken)), {})
