"""The numbers of docs/proven-apps.md, from the reports of tests/e2e/apps.

    KSC_APPS_REPORT=DIR KSC_E2E=1 python3 -m pytest tests/e2e/apps
    python3 tests/e2e/apps/proven_apps.py DIR SECCOMP_DEFAULT_GO

prints, per application, the syscalls of its recorded profile, how many of
RuntimeDefault's (containerd's default profile, read from its Go source by
runtime_default.py) it removes, the record time and the client's results, then
the median share removed.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runtime_default import count_on_arch

ORDER = ["nginx", "redis", "postgres", "jvm", "node", "etcd"]
PACKAGES = {
    "nginx": "nginx-light 1.22.1 (nginx + libnginx-mod-http-echo)",
    "redis": "redis-server, redis-tools 7.0.15",
    "postgres": "postgresql-15 15.20",
    "jvm": "openjdk-17-jre-headless 17.0.21 + Server.java (com.sun.net.httpserver), compiled at build",
    "node": "nodejs 18.20.4 + server.js (http)",
    "etcd": "etcd-server 3.4.23 (Go 1.19)",
}
# What had to change in the plugin for the app to pass (docs/troubleshooting.md, "Found on real applications").
CHANGES = {
    "nginx": "`record` stops the traced pods while tracing: before, SIGTERM under the profile left "
    "`setitimer` and `wait4` denied and the pod was SIGKILLed (137)",
}


def section(name: str, data: dict[str, Any], total: int, runtime_default: set[str], goarch: str) -> list[str]:
    """The table of one application."""
    ours = set(data["profile_syscalls"])
    removed = runtime_default - ours
    beyond = sorted(ours - runtime_default)
    lines = [
        f"## {name}",
        "",
        "| | |",
        "| --- | --- |",
        f"| image | `{data['image']}`: {PACKAGES.get(name, '')} |",
        f"| kind | {data['kind']}, 1 replica |",
        f"| client | `{data['client']}` |",
        f"| syscalls in the recorded profile | {len(ours)} |",
        f"| RuntimeDefault allows ({goarch}) | {total} |",
        f"| RuntimeDefault's syscalls removed | {len(removed)} ({len(removed) / total:.0%}) |",
    ]
    if beyond:
        lines.append(f"| in ours, not in RuntimeDefault | {', '.join(beyond)} |")
    lines += [
        f"| record time (`record --exec`, incl. apply) | {data['record_seconds']:.0f} s |",
        f"| client before (no profile) | {'<br>'.join(data['results_before'])} |",
        f"| client under the profile | {'<br>'.join(data['results_after'])} |",
        f"| client after {data['soak_seconds']:.0f} s under the profile | {'<br>'.join(data['results_later'])} |",
        f"| exit code on SIGTERM, without / under the profile | {data['stop_exit_before']} / {data['stop_exit_later']} |"  # noqa: E501
        if "stop_exit_before" in data
        else "| exit code on SIGTERM | not measured |",
        f"| what had to change | {CHANGES.get(name, 'nothing')} |",
        "",
    ]
    return lines


def main(report_dir: Path, source: Path, goarch: str = "amd64") -> None:
    total, runtime_default = count_on_arch(source.read_text(), goarch)
    shares: list[float] = []
    rows: list[str] = []
    details: list[str] = []
    for name in ORDER:
        path = report_dir / f"{name}.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        ours = set(data["profile_syscalls"])
        removed = len(runtime_default - ours)
        shares.append(removed / total)
        rows.append(f"| {name} | {len(ours)} | {removed} ({removed / total:.0%}) | {data['record_seconds']:.0f} s |")
        details += section(name, data, total, runtime_default, goarch)
    if not shares:
        raise SystemExit(f"no reports in {report_dir}")
    print(
        f"median share of RuntimeDefault's {total} syscalls removed: "
        f"{statistics.median(shares):.0%} ({len(shares)} apps)"
    )
    print()
    print(f"| app | syscalls in the profile | of RuntimeDefault's {total} removed | record time |")
    print("| --- | --- | --- | --- |")
    print("\n".join(rows))
    print()
    print("\n".join(details))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), *(sys.argv[3:4]))
