"""Shared pieces of the review app: data directory, per-session store, logged-in user, labels, cached images.

Images are drawn with Pillow (never cv2): the stored aligned page (template frame,
8 px/mm, origin top-left) with field boxes outlined, and PNG snippets read from the
store once and cached across reruns and sessions.
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from PIL import Image, ImageDraw, ImageFont

from pipeline import forms
from pipeline.errors import SusulanError
from pipeline.learn import hands
from pipeline.store import Store, sheets
from pipeline.store import review as rv
from pipeline.store.users import COOKIE, User, close_session, open_session, session_user

DATA_ENV = "SUSULAN_DATA_DIR"
COLOURS = {"problem": (220, 38, 38), "review": (234, 140, 0), "ok": (22, 163, 74)}
PAGE_WIDTH_PX = 1100


@dataclass(frozen=True)
class FieldMeta:
    """How a field is named and offered to staff."""

    label: str
    kind: str
    options: dict[str, str]
    role: str = ""


_STYLE = """<style>
[data-testid="stMainBlockContainer"] { padding: 3.6rem 1.25rem 2rem 1.25rem; max-width: none; }
[data-testid="InputInstructions"] { display: none; }
[data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"] p { font-size: 0; }
[data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"] p::after {
  content: "Pilih berkas"; font-size: .95rem; }
[data-testid="stFileUploaderDropzoneInstructions"] > div > span { font-size: 0; }
[data-testid="stFileUploaderDropzoneInstructions"] > div > span::after {
  content: "atau seret ke sini · paling besar 1 GB per berkas"; font-size: .9rem; }
[data-testid="stElementToolbar"] { display: none; }
.st-key-who { position: fixed; top: .55rem; right: 1.2rem; left: auto; width: auto !important; z-index: 1000100;
  gap: .6rem; }
</style>"""


def style() -> None:
    """Room for the review screens at 1366 px: narrow page margins; Streamlit's own English texts replaced.

    Input hints ("Press Enter to apply") and table toolbars are hidden; the file uploader's
    button and instructions are said in Bahasa Indonesia.
    """
    st.html(_STYLE)


def forget_drafts() -> None:
    """Clear the values typed but not saved in this browser tab (on the login page: the next person starts clean)."""
    st.html("<script>Object.keys(sessionStorage).filter((k) => k.startsWith('susulan-drafts'))"
            ".forEach((k) => sessionStorage.removeItem(k));</script>", unsafe_allow_javascript=True)


def md(text: object) -> str:
    """``text`` safe inside Streamlit markdown: shown as written, never as a link, image, HTML or format.

    Values, names, file names, rule messages and notes come from scans and people; rendered
    as markdown, ``![x](http://…)`` would become an image another reviewer's browser fetches.
    Markdown punctuation is backslash-escaped, ``& < >`` become character references, and an
    invisible word joiner after ``:`` ``@`` ``.`` keeps addresses from being turned into links.
    """
    out = str(text).replace("&", "&amp;")
    out = _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), out)
    return out.replace("<", "&lt;").replace(">", "&gt;").translate(_NO_LINKS)


def text_line(*parts: tuple[str, bool]) -> None:
    """One line of text from ``(text, bold)`` parts, every part shown exactly as written (HTML-escaped)."""
    st.html("<div style='line-height:1.5'>" + "".join(
        f"<b>{html.escape(t)}</b>" if bold else html.escape(t) for t, bold in parts) + "</div>")


_MD_SPECIAL = re.compile(r"[\\`*_{}\[\]()#+\-!|~$]")
_NO_LINKS = str.maketrans({":": ":\u2060", "@": "@\u2060", ".": ".\u2060"})


def data_dir() -> Path:
    """``$SUSULAN_DATA_DIR`` (set by ``susulan review``) or ``./susulan-data``."""
    return Path(os.environ.get(DATA_ENV, "susulan-data")).resolve()


def store() -> Store:
    """The store connection of this browser session (SQLite, WAL; one per session)."""
    s = st.session_state.get("_store")
    if s is None or s.data_dir != data_dir():
        s = Store(data_dir())
        st.session_state["_store"] = s
    return s


_LEARNING: list[subprocess.Popen] = []
"""The learning process this server started last (one at a time per server; the data dir's lock does the rest)."""
LEARN_LOG = "learn.log"


def learn_in_background(s: Store) -> bool:
    """When learning is due, start ``susulan learn --if-due`` as its own process; whether it was.

    Due: enough values reviewed since the last run, or a patient master not yet learned from.

    The web server never learns itself: the process refits the reader on what reviewers
    confirmed and, if the new model is better, reads the pages still under review again
    (:mod:`pipeline.reread`), while people go on working (a value it changes on an open
    sheet shows as changed by ``susulan``, nothing typed is lost). Its output goes to
    ``<data dir>/learn.log``.
    """
    if any(proc.poll() is None for proc in _LEARNING) or not hands.due(s):
        return False
    cmd = [sys.executable, "-m", "pipeline", "learn", "--if-due", "--data-dir", str(s.data_dir)]
    with (s.data_dir / LEARN_LOG).open("ab") as log:
        _LEARNING[:] = [subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                         start_new_session=True)]
    return True


def _cookie() -> str:
    try:
        return str(st.context.cookies.get(COOKIE) or "")
    except (AttributeError, RuntimeError, KeyError):  # no browser request (e.g. AppTest)
        return ""


def client_address() -> str:
    """The browser's network address, as far as the server can tell ('' if unknown)."""
    try:
        return str(st.context.ip_address or "")
    except (AttributeError, RuntimeError):
        return ""


def user() -> User | None:
    """The logged-in account of this session, checked against the store on every rerun.

    A session ends when it expires, when the person logs out, or when an admin disables
    the account or resets its password; the next rerun then shows the login page.
    """
    token = st.session_state.get("_session") or _cookie()
    found = session_user(store(), token) if token else None
    if found is None:
        for key in ("user", "_session", "_handoff"):
            st.session_state.pop(key, None)
        return None
    st.session_state["_session"] = token
    st.session_state["user"] = found
    return found


def log_in(account: User) -> None:
    """Start a session for ``account``; the browser gets its cookie on the next run (see :func:`keep_login`)."""
    token, handoff = open_session(store(), account, client_address())
    st.session_state["_session"], st.session_state["_handoff"] = token, handoff
    st.session_state["user"] = account


def keep_login() -> None:
    """Once after login: let the browser exchange the one-time code for its HttpOnly session cookie."""
    handoff = st.session_state.pop("_handoff", None)
    if handoff:
        st.html(f"""<script>fetch("/api/session", {{method: "POST", credentials: "same-origin",
                headers: {{"Content-Type": "application/json"}}, body: JSON.stringify({{code: {handoff!r}}})}});
                </script>""", unsafe_allow_javascript=True)


def log_out() -> None:
    """End this session (server side at once; the browser cookie is deleted on the login page)."""
    close_session(store(), st.session_state.get("_session"))
    for key in ("user", "_session", "_handoff", "_flash"):
        st.session_state.pop(key, None)
    st.session_state["_forget_cookie"] = True


def forget_cookie() -> None:
    """On the login page after a logout: delete the browser's (already ended) session cookie."""
    if st.session_state.pop("_forget_cookie", False) or _cookie():
        st.html('<script>fetch("/api/logout", {method: "POST", credentials: "same-origin"});</script>',
                unsafe_allow_javascript=True)


def require_user() -> User:
    """The logged-in account; stops the page when nobody is logged in."""
    u = user()
    if u is None:
        st.warning("Silakan masuk dulu.")
        st.stop()
    return u


def flash(kind: str, text: str) -> None:
    """Queue a message for the next run (``success``, ``warning``, ``error``, ``info``)."""
    st.session_state.setdefault("_flash", []).append((kind, text))


def show_flash() -> None:
    """Show and clear queued messages (markdown: escape what they quote with :func:`md`)."""
    for kind, text in st.session_state.pop("_flash", []):
        getattr(st, kind)(text)


# --- labels -------------------------------------------------------------------------------------


@st.cache_data(show_spinner=False)
def field_meta(form_id: str, version: int | None) -> dict[str, FieldMeta]:
    """Label, kind and option labels per field name; unlabelled row fields borrow another form's label."""
    fallback: dict[str, str] = {}
    for f in _all_forms():
        for fd in f.fields:
            if fd.label:
                fallback.setdefault(fd.name, fd.label)
    try:
        form = forms.load(form_id, version)
    except SusulanError:
        return {}
    out: dict[str, FieldMeta] = {}
    for fd in form.fields:
        out.setdefault(fd.name, FieldMeta(fd.label or fallback.get(fd.name, fd.name), fd.kind,
                                          {o.value: o.label for o in fd.options}, fd.role))
    return out


def _all_forms() -> list[forms.FormDefinition]:
    try:
        return forms.load_all()
    except SusulanError:
        return []


@st.cache_data(show_spinner=False)
def form_titles() -> dict[str, str]:
    """Form id -> printed title in sentence case (``Formulir pendaftaran pasien``)."""
    return {f.form_id: f.title.capitalize() for f in _all_forms()}


@st.cache_data(show_spinner=False)
def rows_per_page(form_id: str, version: int | None) -> int:
    """How many records one sheet of this form holds (1 for a registration form)."""
    try:
        return forms.load(form_id, version).records_per_page
    except SusulanError:
        return 1


def row_label(form_id: str, version: int | None, record_no: int | None) -> str:
    """`` baris 3`` for a row of a multi-row sheet, else empty."""
    if record_no is None or rows_per_page(form_id, version) <= 1:
        return ""
    return f" baris {record_no + 1}"


def meta_of(form_id: str, version: int | None, name: str, kind: str = "text") -> FieldMeta:
    """One field's meta, with a plain fallback for fields the form no longer defines."""
    return field_meta(form_id, version).get(name) or FieldMeta(name, kind, {})


# --- images -------------------------------------------------------------------------------------


@st.cache_data(max_entries=256, show_spinner=False)
def snippets(data_dir_key: str, field_ids: tuple[int, ...]) -> dict[int, bytes]:
    """PNG snippets of fields, read once from the store (they never change after ingest)."""
    with Store.open(Path(data_dir_key)) as s:
        return rv.crops(s, list(field_ids))


@st.cache_data(max_entries=64, show_spinner=False)
def page_snippets(data_dir_key: str, page_id: int,
                  field_ids: tuple[int, ...]) -> tuple[dict[int, bytes], dict[int, str]]:
    """A sheet's snippets and their ``data:`` URIs (keyed by the field ids, which a re-read page changes)."""
    with Store.open(Path(data_dir_key)) as s:
        pngs = sheets.page_crops(s, page_id)
    return pngs, {fid: _uri(png) for fid, png in pngs.items()}


def _uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii") if png else ""


def snippet_uris(field_ids: list[int]) -> dict[int, str]:
    """Snippets as ``data:`` URIs for grid image columns."""
    pngs = snippets(data_dir_key(), tuple(field_ids)) if field_ids else {}
    return {fid: "data:image/png;base64," + base64.b64encode(png).decode("ascii") if png else ""
            for fid, png in pngs.items()}


def data_dir_key() -> str:
    """The data directory as a cache key."""
    return str(data_dir())


Mark = tuple[int, int, int, int, str, str]
"""A box to outline on the page: ``(x, y, w, h)`` in page pixels, colour key, tag text."""


@st.cache_data(max_entries=64, show_spinner=False)
def page_picture(data_dir_key: str, image_path: str, marks: tuple[Mark, ...], band: bool) -> bytes:
    """The aligned page with field boxes outlined and numbered; ``band`` crops to the marked rows."""
    with Image.open(Path(data_dir_key) / image_path) as im:
        page = im.convert("RGB")
    draw = ImageDraw.Draw(page)
    font = _font(26)
    for x, y, w, h, colour, tag in marks:
        rgb = COLOURS.get(colour, COLOURS["ok"])
        draw.rectangle((x - 3, y - 3, x + w + 3, y + h + 3), outline=rgb, width=5 if colour != "ok" else 3)
        if tag:
            tx, ty = max(x - 36, 0), max(y - 4, 0)
            draw.rectangle((tx, ty, tx + 32, ty + 30), fill=rgb)
            draw.text((tx + 4, ty + 1), tag, fill=(255, 255, 255), font=font)
    if band and marks:
        top = max(min(m[1] for m in marks) - 160, 0)
        bottom = min(max(m[1] + m[3] for m in marks) + 160, page.height)
        page = page.crop((0, top, page.width, bottom))
    scale = PAGE_WIDTH_PX / page.width
    if scale < 1:
        page = page.resize((PAGE_WIDTH_PX, round(page.height * scale)), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    page.save(out, "JPEG", quality=82)
    return out.getvalue()


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):
        return ImageFont.load_default()
