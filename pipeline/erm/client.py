"""A small FHIR REST client: post a transaction Bundle with retries and backoff, find an Encounter."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from pipeline.errors import SusulanError

RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
MAX_WAIT_S = 30.0
FHIR_JSON = "application/fhir+json"


class Unreachable(SusulanError):
    """The server did not answer usefully after every retry (network down, always 5xx)."""

    def __init__(self, message: str, network: bool) -> None:
        super().__init__(message)
        self.network = network


@dataclass(frozen=True)
class Answer:
    """Status code and decoded JSON body (``{}`` when there was none)."""

    status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        """2xx."""
        return 200 <= self.status < 300


def outcome_text(body: dict[str, Any], status: int) -> str:
    """The server's message from an OperationOutcome, else the status."""
    issues = (body.get("issue") or []) if body.get("resourceType") == "OperationOutcome" else []
    text = "; ".join(str(i.get("diagnostics") or i.get("details", {}).get("text") or i.get("code")) for i in issues)
    return f"HTTP {status}: {text}" if text else f"HTTP {status}"


class Client:
    """Talks to one FHIR base URL; retries network errors, 408, 429 and 5xx with exponential backoff."""

    def __init__(self, base_url: str, token: str = "", retries: int = 4, backoff_s: float = 1.0,
                 timeout_s: float = 60.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.base = base_url.rstrip("/")
        self.retries, self.backoff_s, self.timeout_s, self.sleep = retries, backoff_s, timeout_s, sleep
        self.session = requests.Session()
        self.session.headers.update({"Accept": FHIR_JSON, "Content-Type": FHIR_JSON})
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def _request(self, method: str, url: str, **kw: Any) -> Answer:
        last, network = "", False
        for attempt in range(self.retries + 1):
            wait = min(self.backoff_s * 2 ** attempt, MAX_WAIT_S)
            try:
                r = self.session.request(method, url, timeout=self.timeout_s, **kw)
            except requests.RequestException as e:
                last, network = f"{type(e).__name__}: {e}", True
            else:
                body = _json(r)
                if r.status_code not in RETRY_STATUSES:
                    return Answer(r.status_code, body)
                last, network = outcome_text(body, r.status_code), False
                wait = _retry_after(r, wait)
            if attempt < self.retries:
                self.sleep(wait)
        raise Unreachable(f"{method} {url}: no usable answer after {self.retries + 1} tries ({last})", network)

    def transaction(self, bundle: dict[str, Any]) -> Answer:
        """POST a transaction Bundle to the base URL."""
        return self._request("POST", self.base, json=bundle)

    def find(self, resource_type: str, system: str, value: str) -> list[dict[str, Any]]:
        """Resources of a type carrying ``system|value`` as identifier."""
        a = self._request("GET", f"{self.base}/{resource_type}", params={"identifier": f"{system}|{value}"})
        if not a.ok:
            raise Unreachable(f"search {resource_type} failed: {outcome_text(a.body, a.status)}", network=False)
        return [e["resource"] for e in a.body.get("entry") or [] if "resource" in e]


def _json(r: requests.Response) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(r: requests.Response, default: float) -> float:
    try:
        return min(float(r.headers.get("Retry-After", "")), MAX_WAIT_S)
    except ValueError:
        return default
