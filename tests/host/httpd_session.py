"""Drive one web server container: start it, send it real requests, stop it.

    python3 httpd_session.py RUNTIME PROFILE ROOTFS PORT ANSWERS.json [busybox|python]

The server is busybox httpd (with a CGI shell script: fork+exec in the
container) or ``python3 -m http.server`` from a rootfs made of the host's Python.

Used both while recording (under the log profile) and while enforcing (under
the generated profile); the two ANSWERS files must be equal. Exits non-zero if
the server never answers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

# Run as a script (sys.path[0] is tests/host): the repository root makes the host tests' helpers
# importable, so this container gets the same podman flags and options as theirs.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.host.conftest import podman_command, run_args

runtime, profile, rootfs, port, answers_path = sys.argv[1:6]
server = sys.argv[6] if len(sys.argv) > 6 else "busybox"
SERVERS = {
    "busybox": ["/bin/httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", "/www"],
    "python": ["/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", "/www", port],
}
GLOBAL = podman_command(runtime)
name = f"httpd-{uuid.uuid4().hex[:8]}"
REQUESTS = [
    ("GET", "/index.html"),
    ("GET", "/big.txt"),
    ("HEAD", "/index.html"),
    ("GET", "/missing.html"),
    ("GET", "/cgi-bin/hello?recording"),
    ("GET", "/cgi-bin/hello?again"),
]


def fetch(method: str, path: str) -> dict[str, object]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return {"status": response.status, "body": response.read().decode()}
    except urllib.error.HTTPError as error:
        return {"status": error.code, "body": ""}


started = subprocess.run(
    [*GLOBAL, *run_args(Path(profile), Path(rootfs), "--detach", network="host", name=name), *SERVERS[server]],
    capture_output=True,
    text=True,
)
if started.returncode != 0:
    subprocess.run([*GLOBAL, "rm", "--force", name], capture_output=True)
    sys.exit(f"podman run failed ({started.returncode}): {started.stderr}")
container = started.stdout.strip().splitlines()[-1]
try:
    deadline = time.monotonic() + 30
    while True:
        try:
            fetch("GET", "/index.html")
            break
        except OSError:
            if time.monotonic() > deadline:
                logs = subprocess.run([*GLOBAL, "logs", name], capture_output=True, text=True)
                state = subprocess.run(
                    [
                        *GLOBAL,
                        "inspect",
                        "--format",
                        "{{.State.Status}} exit={{.State.ExitCode}} {{.State.Error}}",
                        name,
                    ],
                    capture_output=True,
                    text=True,
                )
                sys.exit(f"httpd never answered: {state.stdout} logs: {logs.stdout} {logs.stderr}")
            time.sleep(0.2)
    answers = [{"request": f"{method} {path}", **fetch(method, path)} for method, path in REQUESTS]
    with open(answers_path, "w") as handle:
        json.dump({"container": container, "answers": answers}, handle, indent=1)
finally:
    subprocess.run([*GLOBAL, "stop", "--time", "2", name], capture_output=True)
    subprocess.run([*GLOBAL, "rm", "--force", name], capture_output=True)
