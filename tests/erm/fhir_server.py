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


CLIENT_ID, CLIENT_SECRET = "pkm-bluto-test", "rahasia-uji-0123456789"
HTML = b"<!DOCTYPE html><html><head><title>Portal</title></head><body><h1>Selamat datang</h1></body></html>"


class FhirServer:
    """``sekmet serve`` with its SQLite store in ``folder``; strict inbound validation.

    With ``token_lifetime`` the server wants OAuth2 client-credentials tokens (``CLIENT_ID``/``CLIENT_SECRET``
    at ``token_url``, ``client_secret_post``) that expire after that many seconds; otherwise no auth.
    """

    def __init__(self, folder: Path, token_lifetime: int = 0) -> None:
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}/fhir"
        self.token_url = f"http://{HOST}:{self.port}/auth/token"
        self.token_lifetime = token_lifetime
        self.session = requests.Session()
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "settings.yaml"
        auth = (f"server_auth: {{types: [smart], token_lifetime: {token_lifetime}, smart_clients: "
                f"[{{client_id: {CLIENT_ID}, client_secret: {CLIENT_SECRET}, scopes: 'system/*.*'}}]}}\n"
                if token_lifetime else "")
        config.write_text(f"base_url: {self.base}\nhost: {HOST}\nport: {self.port}\ndata_dir: {folder / 'data'}\n"
                          "simulator: {enabled: false}\nlog_inbound: false\n"
                          f"validation: {{inbound: strict}}\n{auth}", encoding="utf-8")
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
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError("sekmet did not start within 60 s")
        if token_lifetime:
            self.session.headers["Authorization"] = f"Bearer {self.token()}"

    def token(self) -> str:
        """A fresh access token (the test's own, for seeding and reading)."""
        r = requests.post(self.token_url, data={"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                                "client_secret": CLIENT_SECRET}, timeout=30)
        r.raise_for_status()
        return str(r.json()["access_token"])

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

    def _fresh(self) -> None:
        if self.token_lifetime:
            self.session.headers["Authorization"] = f"Bearer {self.token()}"

    def all(self, resource_type: str) -> list[dict[str, Any]]:
        """Every resource of a type (one page of up to 1000 is plenty here)."""
        self._fresh()
        r = self.session.get(f"{self.base}/{resource_type}", params={"_count": "1000"}, timeout=30)
        r.raise_for_status()
        body = r.json()
        assert body.get("total", 0) <= 1000
        return [e["resource"] for e in body.get("entry") or []]

    def create(self, resource: dict[str, Any]) -> dict[str, Any]:
        """Create a resource directly (to seed the server); returns it as stored."""
        self._fresh()
        r = self.session.post(f"{self.base}/{resource['resourceType']}", json=resource, timeout=30,
                              headers={"Prefer": "return=representation"})
        r.raise_for_status()
        return dict(r.json())


class FaultProxy:
    """Forwards to ``upstream`` (with the client's Authorization header) and misbehaves on request.

    ``fail_posts``: the first POSTs answer 503. ``delay_s``: answers of POSTs wait after forwarding (the
    server has the data, the client does not know yet). ``html_posts``: POSTs answer ``200 text/html``
    (a proxy's portal page); ``html_forward`` says whether the POST reached the server first.
    ``status_all``: every request answers this status (401, 403, 503) without reaching the server.
    Every Encounter identifier posted in a Bundle that reaches the server is counted in ``sent``.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.fail_posts = 0
        self.delay_s = 0.0
        self.html_posts = False
        self.html_forward = True
        self.status_all = 0
        self.sent: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()  # what the upstream server answered
        self.posts = 0
        self.gets = 0
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
                with proxy.lock:
                    if method == "POST":
                        proxy.posts += 1
                    else:
                        proxy.gets += 1
                if proxy.status_all:
                    outcome = b'{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"security"}]}'
                    self._reply(proxy.status_all, outcome, {"Retry-After": "0"})
                    return
                if method == "POST":
                    with proxy.lock:
                        fail = proxy.failed < proxy.fail_posts
                        if fail:
                            proxy.failed += 1
                    if fail:
                        self._reply(503, b'{"resourceType":"OperationOutcome","issue":[{"severity":"error",'
                                         b'"code":"transient","diagnostics":"injected"}]}', {"Retry-After": "0"})
                        return
                    if proxy.html_posts and not proxy.html_forward:
                        self._reply(200, HTML, {}, "text/html; charset=utf-8")
                        return
                    for e in json.loads(body or b"{}").get("entry", []):
                        res = e.get("resource", {})
                        if res.get("resourceType") == "Encounter":
                            with proxy.lock:
                                proxy.sent[res["identifier"][0]["value"]] += 1
                headers = {"Content-Type": "application/fhir+json"}
                for name in ("Authorization", "If-None-Exist"):
                    if self.headers.get(name):
                        headers[name] = self.headers[name]
                r = requests.request(method, proxy.upstream + path, data=body, timeout=60, headers=headers)
                with proxy.lock:
                    proxy.statuses[r.status_code] += 1
                if method == "POST":
                    with proxy.lock:
                        proxy.forwarded += 1
                    if proxy.delay_s:
                        time.sleep(proxy.delay_s)  # the server has it; the client waits for the answer
                    if proxy.html_posts:
                        self._reply(200, HTML, {}, "text/html; charset=utf-8")
                        return
                self._reply(r.status_code, r.content, {k: v for k, v in r.headers.items() if k.lower() == "location"})

            def _reply(self, status: int, content: bytes, headers: dict[str, str],
                       kind: str = "application/fhir+json") -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", kind)
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
