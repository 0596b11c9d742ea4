"""A small FHIR REST client: transactions, searches and creates, with bounded retries and strict answers.

Only a FHIR answer counts: a 2xx whose body is not the FHIR JSON the request calls for (an HTML page
from a proxy, an empty body) raises :class:`NotFhir`, so the caller treats what it sent as *in doubt*
and settles it against the server before anything is sent again. 401/403 raise
:class:`~pipeline.erm.auth.AuthFailed` (after one renewal of OAuth2 credentials). Network errors, 408,
429 and 5xx are retried with exponential backoff (``Retry-After`` wins), but a push has one retry
budget for the whole run, so a server that keeps failing stops the run instead of retrying each
record for ever.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from pipeline.erm.auth import Auth, AuthFailed, NoAuth
from pipeline.errors import SusulanError

RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
AUTH_STATUSES = (401, 403)
MAX_WAIT_S = 30.0
FHIR_JSON = "application/fhir+json"


class Unreachable(SusulanError):
    """The server did not answer usefully after every retry (network down, always 5xx)."""

    def __init__(self, message: str, network: bool) -> None:
        super().__init__(message)
        self.network = network


class NotFhir(SusulanError):
    """A 2xx (or an error without an OperationOutcome) whose body is not the FHIR the request calls for."""


@dataclass
class RetryBudget:
    """Failed attempts a whole run may retry; when spent, the next failure stops the run."""

    left: int = 12
    spent: int = 0

    def take(self) -> bool:
        """Use one retry; False when none is left."""
        if self.left <= 0:
            return False
        self.left -= 1
        self.spent += 1
        return True


@dataclass(frozen=True)
class Answer:
    """Status code, decoded JSON body (``{}`` when there was none), headers and a short text of the body."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    snippet: str = ""

    @property
    def ok(self) -> bool:
        """2xx."""
        return 200 <= self.status < 300

    @property
    def fhir(self) -> bool:
        """The body is a FHIR resource (JSON with a ``resourceType``)."""
        return isinstance(self.body.get("resourceType"), str)

    def describe(self) -> str:
        """What came back, for a message: status, content type and the start of the body."""
        kind = self.headers.get("content-type", "no content type").split(";")[0]
        return f"HTTP {self.status} ({kind}){f': {self.snippet}' if self.snippet else ''}"


def outcome_text(body: dict[str, Any], status: int) -> str:
    """The server's message from an OperationOutcome, else the status."""
    issues = (body.get("issue") or []) if body.get("resourceType") == "OperationOutcome" else []
    text = "; ".join(str(i.get("diagnostics") or i.get("details", {}).get("text") or i.get("code")) for i in issues)
    return f"HTTP {status}: {text}" if text else f"HTTP {status}"


class Client:
    """Talks to one FHIR base URL."""

    def __init__(self, base_url: str, auth: Auth | None = None, retries: int = 4, backoff_s: float = 1.0,
                 timeout_s: float = 60.0, sleep: Callable[[float], None] = time.sleep,
                 budget: RetryBudget | None = None) -> None:
        self.base = base_url.rstrip("/")
        self.auth: Auth = auth or NoAuth()
        self.retries, self.backoff_s, self.timeout_s, self.sleep = retries, backoff_s, timeout_s, sleep
        self.budget = budget or RetryBudget()
        self.session = requests.Session()
        self.session.headers.update({"Accept": FHIR_JSON, "Content-Type": FHIR_JSON})

    def _send(self, method: str, url: str, **kw: Any) -> requests.Response:
        headers = dict(kw.pop("headers", {}) or {})
        value = self.auth.header()
        if value:
            headers["Authorization"] = value
        return self.session.request(method, url, timeout=self.timeout_s, headers=headers, **kw)

    def _request(self, method: str, url: str, **kw: Any) -> Answer:
        last, network, renewed = "", False, False
        attempt = 0
        while True:
            wait = min(self.backoff_s * 2 ** attempt, MAX_WAIT_S)
            try:
                r = self._send(method, url, **kw)
            except requests.RequestException as e:
                last, network = f"{type(e).__name__}: {e}", True
            else:
                answer = _answer(r)
                if r.status_code in AUTH_STATUSES:
                    if self.auth.renewable and not renewed:
                        self.auth.invalidate()
                        renewed = True
                        continue
                    raise AuthFailed(f"{method} {url}: the server refused Susulan's credentials "
                                     f"({outcome_text(answer.body, r.status_code)}); check the token or the client "
                                     "id and secret")
                if r.status_code not in RETRY_STATUSES:
                    return answer
                last, network = outcome_text(answer.body, r.status_code), False
                wait = _retry_after(r, wait)
            if attempt >= self.retries or not self.budget.take():
                spent = " (the retry budget of this run is spent)" if attempt < self.retries else ""
                raise Unreachable(f"{method} {url}: no usable answer after {attempt + 1} tries{spent} ({last})",
                                  network)
            self.sleep(wait)
            attempt += 1

    def transaction(self, bundle: dict[str, Any]) -> Answer:
        """POST a transaction Bundle; a 2xx must be a ``transaction-response`` with one entry per request."""
        a = self._request("POST", self.base, json=bundle)
        if a.ok:
            sent = len(bundle.get("entry") or [])
            got = a.body.get("entry") or []
            if a.body.get("resourceType") != "Bundle" or a.body.get("type") != "transaction-response" \
                    or len(got) != sent:
                raise NotFhir(f"POST {self.base}: the answer is not a FHIR transaction-response for {sent} "
                              f"entries: {a.describe()}")
        elif not a.fhir:
            raise NotFhir(f"POST {self.base}: refused without a FHIR OperationOutcome: {a.describe()}; "
                          "is the FHIR base URL right?")
        return a

    def search(self, resource_type: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """Resources matching a search (first page); anything but a FHIR searchset raises."""
        url = f"{self.base}/{resource_type}"
        a = self._request("GET", url, params=params)
        if not a.ok:
            if not a.fhir:
                raise NotFhir(f"search {resource_type}: {a.describe()}")
            raise Unreachable(f"search {resource_type} failed: {outcome_text(a.body, a.status)}", network=False)
        if a.body.get("resourceType") != "Bundle":
            raise NotFhir(f"search {resource_type}: the answer is not a FHIR Bundle: {a.describe()}")
        return [e["resource"] for e in a.body.get("entry") or []
                if isinstance(e, dict) and isinstance(e.get("resource"), dict)
                and e["resource"].get("resourceType") == resource_type]

    def find(self, resource_type: str, system: str, value: str) -> list[dict[str, Any]]:
        """Resources of a type carrying ``system|value`` as identifier."""
        return self.search(resource_type, {"identifier": f"{system}|{value}"})

    def create(self, resource: dict[str, Any], if_none_exist: str = "") -> Answer:
        """POST one resource (conditionally when ``if_none_exist`` is given, as the ``If-None-Exist`` header)."""
        headers = {"If-None-Exist": if_none_exist} if if_none_exist else {}
        return self._request("POST", f"{self.base}/{resource['resourceType']}", json=resource, headers=headers)


def _answer(r: requests.Response) -> Answer:
    try:
        body = r.json()
    except ValueError:
        body = {}
    text = " ".join((r.text or "")[:200].split()) if not isinstance(body, dict) or not body else ""
    return Answer(r.status_code, body if isinstance(body, dict) else {},
                  {k.lower(): v for k, v in r.headers.items()}, text[:120])


def _retry_after(r: requests.Response, default: float) -> float:
    try:
        return min(float(r.headers.get("Retry-After", "")), MAX_WAIT_S)
    except ValueError:
        return default
