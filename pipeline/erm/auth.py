"""Credentials for a push: none, a static bearer token, or OAuth2 client credentials (SATUSEHAT).

SATUSEHAT issues tokens per organisation: ``POST <token_url>?grant_type=client_credentials`` with the
form fields ``client_id`` and ``client_secret``; the answer carries ``access_token`` and ``expires_in``
(seconds, sometimes as a string). Tokens are cached and fetched again ``refresh_s`` before they
expire. The secret is read from a file or an environment variable and never written to a log, a
message or a ``repr``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import requests

from pipeline.errors import BadInput, SusulanError


class AuthFailed(SusulanError):
    """The server (or its token endpoint) refused Susulan's credentials: HTTP 401/403."""


class Auth(Protocol):
    """Something that gives the ``Authorization`` header of the next request."""

    def header(self) -> str:
        """The header value (``""``: send none)."""
        ...

    def invalidate(self) -> None:
        """The server said the credentials are no longer good: fetch new ones next time (if possible)."""
        ...

    @property
    def renewable(self) -> bool:
        """Whether :meth:`invalidate` can lead to different credentials."""
        ...


@dataclass
class NoAuth:
    """No ``Authorization`` header (a local test server)."""

    renewable: bool = False

    def header(self) -> str:
        """Nothing."""
        return ""

    def invalidate(self) -> None:
        """Nothing to renew."""


@dataclass
class StaticToken:
    """A bearer token given by the user (``--token-file``)."""

    token: str = field(repr=False)
    renewable: bool = False

    def header(self) -> str:
        """``Bearer <token>``."""
        return f"Bearer {self.token}"

    def invalidate(self) -> None:
        """A static token cannot be renewed."""


@dataclass
class ClientCredentials:
    """OAuth2 client credentials grant with a cached token, renewed ``refresh_s`` before it expires."""

    token_url: str
    client_id: str
    secret: str = field(repr=False)
    refresh_s: float = 300.0
    timeout_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    session: requests.Session = field(default_factory=requests.Session, repr=False)
    renewable: bool = True
    fetched: int = 0
    _token: str = field(default="", repr=False)
    _expires: float = 0.0

    def header(self) -> str:
        """``Bearer <access token>``, fetching a new token when none is cached or it is about to expire."""
        if not self._token or self.clock() >= self._expires - self.refresh_s:
            self._fetch()
        return f"Bearer {self._token}"

    def invalidate(self) -> None:
        """Forget the cached token."""
        self._token, self._expires = "", 0.0

    def _fetch(self) -> None:
        started = self.clock()
        try:
            r = self.session.post(self.token_url, params={"grant_type": "client_credentials"},
                                  data={"grant_type": "client_credentials", "client_id": self.client_id,
                                        "client_secret": self.secret},
                                  headers={"Accept": "application/json"}, timeout=self.timeout_s)
        except requests.RequestException as e:
            raise AuthFailed(f"token endpoint {self.token_url} not reachable: {type(e).__name__}") from None
        try:
            body = r.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if r.status_code != 200 or not body.get("access_token"):
            why = body.get("error_description") or body.get("error") or ""
            raise AuthFailed(f"token endpoint {self.token_url} refused client id {self.client_id!r}: "
                             f"HTTP {r.status_code}{f' ({why})' if why else ''}; check the client id and secret")
        try:
            lifetime = float(body.get("expires_in") or 3600)
        except (TypeError, ValueError):
            lifetime = 3600.0
        self._token, self._expires = str(body["access_token"]), started + lifetime
        self.fetched += 1


def first_line(file: str, what: str) -> str:
    """The first line of ``file`` (a token or a secret); a clear error when it cannot be read or is empty."""
    try:
        lines = Path(file).read_text(encoding="utf-8").strip().splitlines()
    except OSError as e:
        raise BadInput(f"cannot read the {what} from {file}: {e.strerror}") from None
    if not lines or not lines[0].strip():
        raise BadInput(f"cannot read the {what} from {file}: the file is empty")
    return lines[0].strip()


def read_secret(file: str | None, env: str) -> str:
    """The client secret: first line of ``file``, else the environment variable ``env``."""
    if file:
        return first_line(file, "client secret")
    secret = os.environ.get(env, "").strip()
    if not secret:
        raise BadInput(f"no client secret: give --client-secret-file FILE or set the environment variable {env}")
    return secret


def read_token(file: str) -> str:
    """A static bearer token: the first line of ``file``."""
    return first_line(file, "token")
