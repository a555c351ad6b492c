"""Krew's validation of a plugin manifest, mirrored in Python for our tests.

Krew itself has no Python API, so this module restates the rules of kubernetes-sigs/krew:
``internal/index/validation/validate.go`` (``ValidatePlugin``, ``validatePlatform``, ``validateFiles``,
``validateSelector``, ``IsSafePluginName``), ``cmd/validate-krew-manifest/main.go`` (file name = plugin
name, every platform selects a supported os/arch, no os/arch selected twice, the installed files hold a
license), ``internal/installation/semver`` (``v`` + semantic version, parsed like
k8s.io/apimachinery's ``ParseSemantic``) and the krew-index guideline that ``shortDescription`` is at
most 50 characters. Each rule returns a message; an empty list means Krew would accept the manifest.
It is stricter in one way on purpose: unknown keys are errors here (Krew silently ignores them, which
hides typos).
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

API_VERSION = "krew.googlecontainertools.github.com/v1alpha2"
KIND = "Plugin"
MANIFEST_EXTENSION = ".yaml"
SAFE_NAME = re.compile(r"^[\w-]+$", re.ASCII)  # Go's \w is ASCII-only
SHA256 = re.compile(r"^[a-f0-9]{64}$")
WINDOWS_FORBIDDEN = {
    "CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10)),
}  # fmt: skip
#: allPlatforms() of validate-krew-manifest.
KREW_PLATFORMS = [
    ("windows", "386"), ("windows", "amd64"), ("windows", "arm64"),
    ("linux", "386"), ("linux", "amd64"), ("linux", "arm"), ("linux", "arm64"), ("linux", "ppc64le"),
    ("darwin", "386"), ("darwin", "amd64"), ("darwin", "arm64"),
]  # fmt: skip
LICENSE_FILES = {"license", "license.txt", "license.md", "licenses", "licenses.txt", "licenses.md", "copying",
                 "copying.txt"}  # fmt: skip
SHORT_DESCRIPTION_MAX = 50
# k8s.io/apimachinery/pkg/util/version ParseSemantic: three numeric components without leading zeros,
# optional pre-release and build metadata.
_NUMBER = r"(0|[1-9][0-9]*)"
_IDENTS = r"[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*"
SEMVER = re.compile(rf"^v{_NUMBER}\.{_NUMBER}\.{_NUMBER}(-{_IDENTS})?(\+{_IDENTS})?$")

KNOWN_KEYS = {
    "": {"apiVersion", "kind", "metadata", "spec"},
    "metadata": {"name", "labels", "annotations"},
    "spec": {"version", "shortDescription", "description", "caveats", "homepage", "platforms"},
    "platform": {"uri", "sha256", "selector", "files", "bin"},
    "selector": {"matchLabels", "matchExpressions"},
}


def is_safe_plugin_name(name: str) -> bool:
    return bool(SAFE_NAME.match(name)) and name.upper() not in WINDOWS_FORBIDDEN


def _unknown(section: str, data: Mapping[str, Any]) -> list[str]:
    return [f"unknown key {section + '.' if section else ''}{key}" for key in sorted(set(data) - KNOWN_KEYS[section])]


def selector_matches(selector: Mapping[str, Any], os_name: str, arch: str) -> bool:
    """metav1.LabelSelectorAsSelector(selector).Matches({os, arch})."""
    labels = {"os": os_name, "arch": arch}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def validate_selector(selector: Any) -> list[str]:
    if selector is None:
        return ["nil selector is not supported"]
    if not isinstance(selector, dict):
        return ["selector is not a mapping"]
    errors = _unknown("selector", selector)
    labels, expressions = selector.get("matchLabels"), selector.get("matchExpressions")
    if labels is None and not expressions:
        return [*errors, "empty selector is not supported"]
    keys = list(labels or {}) + [expression.get("key") for expression in expressions or []]
    errors += [f"key {key!r} not supported" for key in keys if key not in ("os", "arch")]
    if labels is not None and len(labels) == 0:
        errors.append("`matchLabels` specified but empty")
    if expressions is not None and len(expressions) == 0:
        errors.append("`matchExpressions` specified but empty")
    for expression in expressions or []:
        if expression.get("operator") not in ("In", "NotIn", "Exists", "DoesNotExist"):
            errors.append(f"bad operator {expression.get('operator')!r}")
    return errors


def validate_files(files: Any) -> list[str]:
    if files is None:
        return []
    if len(files) == 0:
        return ["`files` has to be unspecified or non-empty"]
    errors = []
    for operation in files:
        if not operation.get("from"):
            errors.append("`from` field has to be set")
        elif not operation.get("to"):
            errors.append("`to` field has to be set")
    return errors


def validate_platform(platform: Mapping[str, Any]) -> list[str]:
    errors = _unknown("platform", platform)
    if not platform.get("uri"):
        errors.append("`uri` has to be set")
    sha = platform.get("sha256")
    if not sha:
        errors.append("`sha256` sum has to be set")
    elif not SHA256.match(str(sha)):
        errors.append(f"`sha256` value {sha} is not valid")
    if not platform.get("bin"):
        errors.append("`bin` has to be set")
    errors += [f"`files` is invalid: {e}" for e in validate_files(platform.get("files"))]
    errors += [f"invalid platform selector: {e}" for e in validate_selector(platform.get("selector"))]
    return errors


def validate_plugin(name: str, plugin: Mapping[str, Any]) -> list[str]:
    """ValidatePlugin(name, plugin) plus the krew-index length limit; name is the file's stem."""
    errors = _unknown("", plugin)
    if plugin.get("apiVersion") != API_VERSION:
        errors.append(f"apiVersion={plugin.get('apiVersion')!r} not supported")
    if plugin.get("kind") != KIND:
        errors.append(f"kind={plugin.get('kind')!r}, but only {KIND!r} is supported")
    if not is_safe_plugin_name(name):
        errors.append(f"the plugin name {name!r} is not allowed")
    metadata = plugin.get("metadata") or {}
    errors += _unknown("metadata", metadata)
    if metadata.get("name") != name:
        errors.append(f"plugin should be named {name!r}, not {metadata.get('name')!r}")
    spec = plugin.get("spec") or {}
    errors += _unknown("spec", spec)
    short = spec.get("shortDescription") or ""
    if not short:
        errors.append("should have a short description")
    if "\r" in short or "\n" in short:
        errors.append("should not have line breaks in short description")
    if len(short) > SHORT_DESCRIPTION_MAX:
        errors.append(f"shortDescription is {len(short)} characters, krew-index allows {SHORT_DESCRIPTION_MAX}")
    platforms = spec.get("platforms") or []
    if not platforms:
        errors.append("should have a platform specified")
    version = spec.get("version") or ""
    if not version:
        errors.append("should have a version specified")
    elif not SEMVER.match(str(version)):
        errors.append(f"failed to parse plugin version {version!r}")
    for index, platform in enumerate(platforms):
        errors += [f"platform {index}: {e}" for e in validate_platform(platform)]
    return errors


def validate_manifest_file(path: Path, plugin: Mapping[str, Any]) -> list[str]:
    """validate-krew-manifest without the install step: name from the file, platforms used, no overlap."""
    if path.suffix != MANIFEST_EXTENSION:
        return [f"expected manifest extension {MANIFEST_EXTENSION!r} but found {path.suffix!r}"]
    errors = validate_plugin(path.stem, plugin)
    if errors:
        return errors
    platforms = plugin["spec"]["platforms"]
    for index, platform in enumerate(platforms):
        if not any(selector_matches(platform["selector"], o, a) for o, a in KREW_PLATFORMS):
            errors.append(f"spec.platform[{index}]'s selector doesn't match any supported platforms")
    for os_name, arch in KREW_PLATFORMS:
        matching = [i for i, p in enumerate(platforms) if selector_matches(p["selector"], os_name, arch)]
        if len(matching) > 1:
            errors.append(f"multiple spec.platforms (at indexes {matching}) select {os_name}/{arch}")
    return errors


def selected_pairs(plugin: Mapping[str, Any]) -> dict[tuple[str, str], int]:
    """Which supported os/arch each platform entry installs on: (os, arch) -> platform index."""
    found = {}
    for index, platform in enumerate(plugin["spec"]["platforms"]):
        for os_name, arch in KREW_PLATFORMS:
            if selector_matches(platform["selector"], os_name, arch):
                found[(os_name, arch)] = index
    return found


def archive_errors(archive: Path, platform: Mapping[str, Any]) -> list[str]:
    """What Krew's install would trip on: unsafe members, a missing or non-executable bin, no license."""
    errors = []
    with tarfile.open(archive) as tar:
        members = {member.name: member for member in tar.getmembers()}
    for name in members:
        if name.startswith("/") or ".." in Path(name).parts:
            errors.append(f"unsafe member {name}")
    bin_name = platform["bin"]
    if bin_name not in members:
        errors.append(f"bin {bin_name} not in the archive")
    elif not members[bin_name].isfile() or not members[bin_name].mode & 0o111:
        errors.append(f"bin {bin_name} is not an executable file")
    if not any(Path(name).name.lower() in LICENSE_FILES for name, m in members.items() if m.isfile()):
        errors.append("no LICENSE (or alike) file in the archive")
    return errors
