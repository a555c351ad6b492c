"""Certificates and keys for the test cluster, made with the ``openssl`` CLI.

One CA signs everything: the API server's serving certificate, the client
certificates of the admin, controller-manager, scheduler and kubelets (their
CN/O are what RBAC and the Node authorizer look at), and each kubelet's serving
certificate. A separate RSA key pair signs service-account tokens. Keys are
ECDSA P-256 (fast to make); everything is regenerated on each ``up``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca(pki: Path) -> None:
    pki.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        str(pki / "ca.key"),
        "-out",
        str(pki / "ca.crt"),
        "-days",
        "3650",
        "-subj",
        "/CN=kubectl-seccomp-test-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
    )


def make_cert(
    pki: Path,
    name: str,
    *,
    cn: str,
    org: str | None = None,
    dns: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
    server: bool = False,
) -> tuple[Path, Path]:
    """Issue ``name.crt``/``name.key`` signed by the CA; return their paths."""
    key, csr, crt, ext = (pki / f"{name}.{suffix}" for suffix in ("key", "csr", "crt", "ext"))
    subject = f"/CN={cn}" + (f"/O={org}" if org else "")
    _openssl(
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(csr),
        "-subj",
        subject,
    )
    lines = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=" + ("serverAuth,clientAuth" if server else "clientAuth"),
    ]
    sans = [f"DNS:{d}" for d in dns] + [f"IP:{ip}" for ip in ips]
    if sans:
        lines.append("subjectAltName=" + ",".join(sans))
    ext.write_text("\n".join(lines) + "\n")
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(pki / "ca.crt"),
        "-CAkey",
        str(pki / "ca.key"),
        "-CAcreateserial",
        "-out",
        str(crt),
        "-days",
        "3650",
        "-extfile",
        str(ext),
    )
    csr.unlink()
    ext.unlink()
    return crt, key


def make_service_account_keys(pki: Path) -> None:
    _openssl("genrsa", "-out", str(pki / "sa.key"), "2048")
    _openssl("rsa", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))
