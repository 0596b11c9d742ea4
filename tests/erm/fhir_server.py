"""Test helpers: a real sekmet-fhir server process on a free localhost port, and a fault-injecting proxy."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def sekmet_command() -> list[str]:
    """How to start sekmet: its console script beside this Python, else on PATH."""
    script = Path(sys.executable).with_name("sekmet")
    if script.exists():
        return [str(script)]
    found = shutil.which("sekmet")
    if not found:
        raise FileNotFoundError("sekmet-fhir is not installed (pip install -e '.[test]')")
    return [found]


class FhirServer:
    """``sekmet serve`` with its SQLite store in ``folder``; strict inbound validation, no auth."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}/fhir"
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "settings.yaml"
        config.write_text(f"base_url: {self.base}\nhost: {HOST}\nport: {self.port}\ndata_dir: {folder / 'data'}\n"
                          "simulator: {enabled: false}\nlog_inbound: false\n"
                          "validation: {inbound: strict}\n", encoding="utf-8")
        self.log = (folder / "server.log").open("wb")
        self.proc = subprocess.Popen([*sekmet_command(), "serve", "--config", str(config), "--host", HOST,
                                      "--port", str(self.port)], cwd=folder, stdout=self.log,
                                     stderr=subprocess.STDOUT, env={**os.environ, "SEKMET_CONFIG": str(config)})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sekmet exited with {self.proc.returncode}; see {folder / 'server.log'}")
            try:
                if requests.get(f"{self.base}/metadata", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("sekmet did not start within 60 s")

    def stop(self) -> None:
        """Stop the server process (only this one, by its pid)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def all(self, resource_type: str) -> list[dict[str, Any]]:
        """Every resource of a type (one page of up to 1000 is plenty here)."""
        r = requests.get(f"{self.base}/{resource_type}", params={"_count": "1000"}, timeout=30)
        r.raise_for_status()
        body = r.json()
        assert body.get("total", 0) <= 1000
        return [e["resource"] for e in body.get("entry") or []]

    def create(self, resource: dict[str, Any]) -> None:
        """Create a resource directly (to seed the server)."""
        requests.post(f"{self.base}/{resource['resourceType']}", json=resource, timeout=30).raise_for_status()


class FaultProxy:
    """Forwards to ``upstream``; can fail the first POSTs with 503 and delay answers after forwarding.

    Every Encounter identifier posted in a Bundle is counted in ``sent`` (to prove nothing was sent twice).
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.fail_posts = 0
        self.delay_s = 0.0
        self.sent: Counter[str] = Counter()
        self.posts = 0
        self.failed = 0
        self.forwarded = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self, method: str) -> None:
                path = self.path.split("/fhir", 1)[1] if "/fhir" in self.path else self.path
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if method == "POST" else None
                if method == "POST":
                    with proxy.lock:
                        proxy.posts += 1
                        fail = proxy.failed < proxy.fail_posts
                        if fail:
                            proxy.failed += 1
                    if fail:
                        self._reply(503, b'{"resourceType":"OperationOutcome","issue":[{"severity":"error",'
                                         b'"code":"transient","diagnostics":"injected"}]}', {"Retry-After": "0"})
                        return
                    for e in json.loads(body or b"{}").get("entry", []):
                        res = e.get("resource", {})
                        if res.get("resourceType") == "Encounter":
                            with proxy.lock:
                                proxy.sent[res["identifier"][0]["value"]] += 1
                r = requests.request(method, proxy.upstream + path, data=body, timeout=60,
                                     headers={"Content-Type": "application/fhir+json"})
                if method == "POST":
                    with proxy.lock:
                        proxy.forwarded += 1
                if method == "POST" and proxy.delay_s:
                    time.sleep(proxy.delay_s)  # the server has it; the client waits for the answer
                self._reply(r.status_code, r.content, {})

            def _reply(self, status: int, content: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/fhir+json")
                    self.send_header("Content-Length", str(len(content)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(content)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client was killed while waiting

            def do_POST(self) -> None:  # noqa: N802
                self._forward("POST")

            def do_GET(self) -> None:  # noqa: N802
                self._forward("GET")

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://{HOST}:{self.server.server_address[1]}/fhir"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
