"""A throw-away certificate authority for the secured-broker tests, made with openssl: a CA, the broker's
certificate (for 127.0.0.1 and localhost) and a client certificate for mutual TLS. Nothing here is secret
beyond the test that makes it."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Pki:
    ca: Path
    broker_keystore: Path  # key then chain, as the broker's PEM keystore wants
    client_cert: Path
    client_key: Path  # encrypted with the passphrase in client_key_password
    client_key_password: Path


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, text=True)


def make_pki(folder: Path) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    _run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
         "-subj", "/CN=sla-pipeline test CA", cwd=folder)
    (folder / "broker.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                       "extendedKeyUsage=serverAuth,clientAuth\n")
    (folder / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name, subject in (("broker", "/CN=localhost"), ("client", "/CN=sla-pipeline-client")):
        _run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", subject, cwd=folder)
        _run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=folder)
    keystore = folder / "broker-keystore.pem"
    keystore.write_text((folder / "broker.key").read_text() + (folder / "broker.pem").read_text())
    password = folder / "client-key-password"
    password.write_text("client-key-passphrase\n")
    _run("pkcs8", "-topk8", "-in", "client.key", "-out", "client-encrypted.key", "-passout",
         f"file:{password}", cwd=folder)
    return Pki(folder / "ca.pem", keystore, folder / "client.pem", folder / "client-encrypted.key", password)
