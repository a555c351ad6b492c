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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runtime_default import count_on_arch

ORDER = ["nginx", "redis", "postgres", "jvm", "node", "etcd"]


def main(report_dir: Path, source: Path, goarch: str = "amd64") -> None:
    total, runtime_default = count_on_arch(source.read_text(), goarch)
    shares = []
    for name in ORDER:
        path = report_dir / f"{name}.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        ours = set(data["profile_syscalls"])
        removed = runtime_default - ours
        share = len(removed) / total
        shares.append(share)
        print(f"## {name}\n")
        print("| | |\n| --- | --- |")
        print(f"| image | `{data['image']}` |")
        print(f"| kind | {data['kind']}, 1 replica |")
        print(f"| client | `{data['client']}` |")
        print(f"| syscalls in the recorded profile | {len(ours)} |")
        print(f"| RuntimeDefault allows ({goarch}) | {total} |")
        print(f"| RuntimeDefault's syscalls removed | {len(removed)} ({share:.0%}) |")
        beyond = sorted(ours - runtime_default)
        if beyond:
            print(f"| in ours, not in RuntimeDefault | {', '.join(beyond)} |")
        print(f"| record time (`record --exec`, incl. apply) | {data['record_seconds']:.0f} s |")
        print(f"| client before (no profile) | {'<br>'.join(data['results_before'])} |")
        print(f"| client under the profile | {'<br>'.join(data['results_after'])} |")
        print(f"| client after {data['soak_seconds']:.0f} s under the profile | {'<br>'.join(data['results_later'])} |")
        if "stop_exit_before" in data:
            codes = f"{data['stop_exit_before']} / {data['stop_exit_later']}"
            print(f"| exit code on SIGTERM, before / under the profile | {codes} |")
        print()
    if shares:
        print(
            f"median share of RuntimeDefault's {total} syscalls removed: {statistics.median(shares):.0%} "
            f"({len(shares)} apps)"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), *(sys.argv[3:4]))
