#!/usr/bin/env python3
"""What `record --duration 10s --no-apply` and `apply` add beyond the recording window.

Against the real test cluster (tests/cluster/harness.py up), in one run:

* baseline: two `kubectl rollout restart` + `kubectl rollout status` cycles of
  the same Deployment (a record makes two rollouts too: onto the log profile
  and back; apply makes one more);
* record: wall time of `kubectl seccomp record deploy/bench --duration 10s
  --no-apply`, minus the 10 s window;
* apply: wall time of `kubectl seccomp apply deploy/bench --profile <recorded>`;
* record+apply: wall time of `kubectl seccomp record deploy/bench --duration 5s`
  (rollout onto the log profile, trace, rollout onto the recorded profile: the
  whole of what the two baseline cycles automate), minus the 5 s window.

Prints a Markdown table (JSON with --json): each command's time against the
baseline (goal: below 1.5), and both together.

    python3 bench/record_overhead.py [--kubeconfig PATH] [--replicas 2] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WINDOW = 10.0
SHORT = 5.0


def run(cmd: list[str], env: dict[str, str], cwd: Path | None = None, phases: list[str] | None = None) -> float:
    """Wall time of ``cmd``; with ``phases``, its ``[ x.xs]`` phase stamps (stderr) are appended to it."""
    start = time.monotonic()
    result = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stderr}{result.stdout}")
    if phases is not None:
        phases.extend(line for line in result.stderr.splitlines() if line.startswith("["))
        phases.append(f"[{elapsed:6.1f}s] exited (wall time of the whole command)")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG", "/var/lib/ksc-cluster/kubeconfig"))
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    env = dict(os.environ, KUBECONFIG=args.kubeconfig, PYTHONPATH=str(REPO))
    namespace = f"bench-{secrets.token_hex(3)}"
    kubectl = ["kubectl", "-n", namespace]
    plugin = [sys.executable, "-m", "kubectl_seccomp"]
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "bench"},
        "spec": {
            "replicas": args.replicas,
            "selector": {"matchLabels": {"app": "bench"}},
            "template": {
                "metadata": {"labels": {"app": "bench"}},
                "spec": {
                    "terminationGracePeriodSeconds": 2,
                    "containers": [
                        {
                            "name": "web",
                            "image": "docker.io/library/python:3.12-slim",
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["python3", "-m", "http.server", "8080"],
                            "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                        }
                    ],
                },
            },
        },
    }
    subprocess.run(["kubectl", "create", "namespace", namespace], env=env, check=True, capture_output=True)
    results: dict[str, list[float]] = {"baseline": [], "record": [], "apply": [], "record_apply": []}
    all_phases: list[list[str]] = []
    try:
        subprocess.run(
            [*kubectl, "apply", "-f", "-"],
            input=json.dumps(manifest),
            text=True,
            env=env,
            check=True,
            capture_output=True,
        )
        run([*kubectl, "rollout", "status", "deploy/bench", "--timeout=180s"], env)
        with tempfile.TemporaryDirectory() as workdir:
            for _ in range(args.repeat):
                baseline = 0.0
                for _cycle in range(2):
                    baseline += run([*kubectl, "rollout", "restart", "deploy/bench"], env)
                    baseline += run([*kubectl, "rollout", "status", "deploy/bench", "--timeout=180s"], env)
                results["baseline"].append(baseline)
                record = run(
                    [*plugin, "record", "deploy/bench", "-n", namespace, "--duration", f"{WINDOW:g}s", "--no-apply"],
                    env,
                    cwd=Path(workdir),
                )
                results["record"].append(record - WINDOW)
                profile = Path(workdir) / "profiles" / namespace / "bench-web.json"
                results["apply"].append(
                    run([*plugin, "apply", "deploy/bench", "-n", namespace, "--profile", str(profile)], env)
                )
                run([*plugin, "rollback", "deploy/bench", "-n", namespace], env)
                phases: list[str] = []
                whole = run(
                    [*plugin, "record", "deploy/bench", "-n", namespace, "--duration", f"{SHORT:g}s"],
                    env,
                    cwd=Path(workdir),
                    phases=phases,
                )
                all_phases.append(phases)
                results["record_apply"].append(whole - SHORT)
                run([*plugin, "rollback", "deploy/bench", "-n", namespace], env)
    finally:
        subprocess.run(["kubectl", "delete", "namespace", namespace, "--wait=false"], env=env, capture_output=True)
    summary = {key: statistics.median(values) for key, values in results.items()}
    summary["record_ratio"] = summary["record"] / summary["baseline"]
    summary["apply_ratio"] = summary["apply"] / summary["baseline"]
    summary["ratio"] = (summary["record"] + summary["apply"]) / summary["baseline"]
    summary["record_apply_ratio"] = summary["record_apply"] / summary["baseline"]
    if args.json:
        print(
            json.dumps(
                {
                    "median": summary,
                    "runs": results,
                    "replicas": args.replicas,
                    "phases": all_phases,
                    "load": os.getloadavg(),
                },
                indent=2,
            )
        )
    else:
        print(f"| measure ({args.replicas} replicas, median of {args.repeat}) | seconds |")
        print("| --- | --- |")
        print(f"| 2 x (rollout restart + rollout status) | {summary['baseline']:.1f} |")
        print(f"| record --duration 10s --no-apply, minus the 10 s window | {summary['record']:.1f} |")
        print(f"| apply --profile | {summary['apply']:.1f} |")
        print(f"| ratio record overhead / baseline | {summary['record_ratio']:.2f} |")
        print(f"| ratio apply / baseline | {summary['apply_ratio']:.2f} |")
        print(f"| ratio (record overhead + apply) / baseline | {summary['ratio']:.2f} |")
        print(f"| record --duration 5s with apply, minus the 5 s window | {summary['record_apply']:.1f} |")
        print(f"| ratio (record with apply) / baseline (goal < 1.5) | {summary['record_apply_ratio']:.2f} |")
        print(f"\nload average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        for number, stamps in enumerate(all_phases, 1):
            print(f"\nphases of record --duration 5s with apply, run {number}:")
            print("\n".join(f"    {line}" for line in stamps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
