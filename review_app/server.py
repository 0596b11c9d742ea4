"""The review app's web server (``susulan review``): Streamlit, plus the login cookie and a session check on media.

Streamlit keeps a login in the browser tab's server-side session only; a reload starts a
new one. Here a login's one-time code is exchanged (``POST /api/session``, same origin
only) for an HttpOnly, SameSite=Strict cookie holding a session token of its own; every
rerun checks that token against the store (expiry, logout, account disabled). Page
images and downloads under ``/media/`` are served only with a live session cookie.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import streamlit as st
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from pipeline.store import Store
from pipeline.store.users import COOKIE, close_session, session_user, take_handoff

SCRIPT = Path(__file__).resolve().parent / "app.py"
PROTECTED = ("/media/",)
"""URL prefixes that need a live session cookie (page images, snippets served as files, downloads)."""
CHECK_TTL_S = 5.0
_checked: dict[str, float] = {}


def data_dir() -> Path:
    """The store's data directory (``$SUSULAN_DATA_DIR``, set by ``susulan review``)."""
    return Path(os.environ.get("SUSULAN_DATA_DIR", "susulan-data")).resolve()


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    return bool(origin) and urlsplit(origin).netloc == request.headers.get("host")


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "") == "https"


async def open_session(request: Request) -> Response:
    """Exchange a login's one-time code for the session cookie."""
    if not _same_origin(request):
        return PlainTextResponse("forbidden", status_code=403)
    try:
        code = str((await request.json()).get("code", ""))
    except ValueError:
        code = ""
    got = await run_in_threadpool(_take, code) if code else None
    if got is None:
        return PlainTextResponse("unknown or expired code", status_code=403)
    cookie, seconds = got
    response = JSONResponse({"ok": True})
    response.set_cookie(COOKIE, cookie, max_age=seconds, httponly=True, samesite="strict", secure=_secure(request),
                        path="/")
    return response


async def end_session(request: Request) -> Response:
    """Log out in the browser: end the cookie's session and delete the cookie."""
    if not _same_origin(request):
        return PlainTextResponse("forbidden", status_code=403)
    token = request.cookies.get(COOKIE, "")
    if token:
        await run_in_threadpool(_close, token)
        _checked.pop(token, None)
    response = JSONResponse({"ok": True})
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request))
    return response


def _take(code: str) -> tuple[str, int] | None:
    with Store.open(data_dir()) as store:
        return take_handoff(store, code)


def _close(token: str) -> None:
    with Store.open(data_dir()) as store:
        close_session(store, token)


def live(token: str) -> bool:
    """Whether a cookie token belongs to a live session (remembered for :data:`CHECK_TTL_S` seconds)."""
    if not token:
        return False
    if _checked.get(token, 0.0) > time.monotonic():
        return True
    with Store.open(data_dir()) as store:
        ok = session_user(store, token) is not None
    if ok:
        if len(_checked) > 1000:
            _checked.clear()
        _checked[token] = time.monotonic() + CHECK_TTL_S
    return ok


class SessionOnMedia:
    """ASGI middleware: files under :data:`PROTECTED` only for a browser with a live session cookie."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(PROTECTED):
            token = Request(scope).cookies.get(COOKIE, "")
            if not await run_in_threadpool(live, token):
                await PlainTextResponse("login required", status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


app = st.App(SCRIPT, routes=[Route("/api/session", open_session, methods=["POST"]),
                             Route("/api/logout", end_session, methods=["POST"])],
             middleware=[Middleware(SessionOnMedia)])
