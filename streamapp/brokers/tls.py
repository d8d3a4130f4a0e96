"""TLS material for a local broker: a fresh CA and a broker certificate it signed.

Made with the ``openssl`` command line (present on every Debian machine): the
broker gets a PKCS#12 keystore, clients get the CA's PEM file to verify it. The
certificate names ``localhost`` and ``127.0.0.1``, so hostname verification is on.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TlsMaterial:
    """Files of a generated CA and broker certificate."""

    ca_cert: Path
    """The CA certificate (PEM): clients' ``ssl.ca.location``."""
    keystore: Path
    """The broker's PKCS#12 keystore (key, certificate, CA chain)."""
    keystore_password: str
    """Password of the keystore and its key."""


def _openssl(*args: str) -> None:
    try:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)
    except FileNotFoundError as exc:
        raise RuntimeError("openssl is not installed: apt-get install openssl") from exc
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"openssl {args[0]} failed: {exc.stderr.decode()[-500:]}") from exc


def make_tls_material(directory: Path, hosts: tuple[str, ...] = ("localhost",)) -> TlsMaterial:
    """Create a CA and a broker certificate for ``127.0.0.1`` and ``hosts`` in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = directory / "ca.key", directory / "ca.pem"
    key, csr, cert = directory / "broker.key", directory / "broker.csr", directory / "broker.pem"
    ext = directory / "broker.ext"
    keystore = directory / "broker.p12"
    password = secrets.token_urlsafe(16)
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        "-keyout", str(ca_key), "-out", str(ca_cert), "-subj", "/CN=streamapp local CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", f"/CN={hosts[0]}",
    )  # fmt: skip
    sans = ",".join([*(f"DNS:{h}" for h in hosts), "IP:127.0.0.1"])
    ext.write_text(f"subjectAltName={sans}\nextendedKeyUsage=serverAuth\n")
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", "30", "-extfile", str(ext),
    )  # fmt: skip
    _openssl(
        "pkcs12", "-export", "-in", str(cert), "-inkey", str(key), "-certfile", str(ca_cert),
        "-name", "broker", "-out", str(keystore), "-passout", f"pass:{password}",
    )  # fmt: skip
    for private in (ca_key, key):
        private.chmod(0o600)
    return TlsMaterial(ca_cert=ca_cert, keystore=keystore, keystore_password=password)
