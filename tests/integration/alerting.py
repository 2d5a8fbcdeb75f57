"""A real Alertmanager (Debian's prometheus-alertmanager) for the paging tests, and the on-call webhook it calls.

Alertmanager runs on 127.0.0.1 with the shipped routing file, only its receiver URL and wait times changed;
the webhook receiver is a small HTTP server inside the test.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.integration.conftest import ROOT, free_port, wait_ready

SHIPPED = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"


def wait_listening(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class Webhook:
    """Records what Alertmanager posts, by path (/oncall, /noc)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict]] = []
        self.port = free_port()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.received.append((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alerts(self, path: str, status: str = "firing", **labels: str) -> list[dict]:
        """Alerts of that status delivered to that receiver whose labels include ``labels``."""
        return [a for p, n in self.received if p == path for a in n["alerts"]
                if a["status"] == status and all(a["labels"].get(k) == v for k, v in labels.items())]

    def wait_for(self, path: str, status: str = "firing", timeout: float = 60, **labels: str) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.alerts(path, status, **labels)
            if found:
                return found
            time.sleep(0.2)
        raise AssertionError(f"no {status} alert {labels} at {path} within {timeout} s; got {self.received}")


class Alertmanager:
    """Debian's Alertmanager on 127.0.0.1; with ``web_config`` (exporter-toolkit's TLS and basic-auth file) it
    serves https and wants credentials."""

    def __init__(self, workdir: Path, webhook: Webhook, web_config: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"{'https' if web_config else 'http'}://127.0.0.1:{self.port}"
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.web_config = web_config
        text = SHIPPED.read_text().replace("http://127.0.0.1:9095", f"http://127.0.0.1:{webhook.port}")
        text = text.replace("group_wait: 10s", "group_wait: 1s").replace("group_interval: 1m", "group_interval: 1s")
        self.config = workdir / "alertmanager.yml"
        self.config.write_text(text)
        self.proc: subprocess.Popen | None = None

    def start(self) -> Alertmanager:
        log = open(self.workdir / "alertmanager.log", "ab")  # noqa: SIM115 - handed to the child
        web = [f"--web.config.file={self.web_config}"] if self.web_config else []
        self.proc = subprocess.Popen(
            ["prometheus-alertmanager", f"--config.file={self.config}", f"--storage.path={self.workdir / 'am'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=", *web],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        if self.web_config:  # no anonymous /-/ready: wait for the port
            wait_listening(self.port)
        else:
            wait_ready(f"{self.url}/-/ready")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
