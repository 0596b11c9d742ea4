"""Upload scans: saved into the data dir's inbox and read by a separate ``susulan ingest`` process.

The web server never reads scans itself: each upload (and each "read again") starts the
same ingest as the command line (``run.ingest_paths``, as ``watch`` uses) as its own
process, which keeps going if the browser is closed; this page follows it from the store.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import streamlit as st

from pipeline.store import review as rv
from review_app import common, logic

LIST_LIMIT = 40
INBOX = "inbox"

user = common.require_user()
store = common.store()


def save_uploads(files: list) -> Path:
    """Write uploaded files into a new ``<data_dir>/inbox/<time>-<user>/`` folder (each complete before it shows)."""
    folder = common.data_dir() / INBOX / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}-{user.name}"
    folder.mkdir(parents=True, exist_ok=True)
    for n, f in enumerate(files):
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(f.name).name) or f"berkas{n}"
        part = folder / f".{n:03d}_{safe}.part"
        part.write_bytes(f.getvalue())
        part.rename(folder / f"{n:03d}_{safe}")
    return folder


def start_reading(folder: Path, label: str) -> None:
    """Start ``susulan ingest <folder>`` as its own process (out of the web server) and follow it."""
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pipeline", "ingest", str(folder), "--data-dir", str(common.data_dir()),
           "--user", user.name, "--report", str(folder / ".report.json")]
    with (folder / ".ingest.log").open("ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    st.session_state.setdefault("_reading", []).append((proc, str(folder), label))


def retry_folder() -> Path:
    """An empty inbox folder: an ingest of it reads the pages put back to ``pending``."""
    return common.data_dir() / INBOX / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}-{user.name}-ulang"


@st.fragment(run_every=1.5)
def reading() -> None:
    """Progress of the reads this browser started; when one ends, its result in plain words."""
    running = st.session_state.get("_reading", [])
    if not running:
        return
    still = []
    for proc, folder, label in running:
        if proc.poll() is None:
            still.append((proc, folder, label))
            continue
        report = Path(folder) / ".report.json"
        if report.exists():
            s = json.loads(report.read_text())
            text = logic.ingest_text(s["files_new"], s["files_known"], s["pages_done"], s["records"],
                                     s["duplicates"], s["problems"], [tuple(x) for x in s["file_problems"]])
            common.flash("warning" if s["needs_attention"] else "success", common.md(f"{label}: {text}"))
        else:
            log = (Path(folder) / ".ingest.log").read_text(errors="replace").strip().splitlines()
            why = common.md(log[-1]) if log else "tanpa pesan"
            common.flash("error", f"{label}: pembacaan berhenti ({why}). Berkas tetap tersimpan; tekan "
                                  "**Coba baca lagi semua** atau unggah lagi.")
    st.session_state["_reading"] = still
    if len(still) != len(running):
        st.rerun()
    unread = rv.unread_pages(store)
    st.info(f"Sedang dibaca: {len(still)} unggahan; {unread} halaman belum selesai. Halaman ini diperbarui "
            "sendiri; Anda boleh pindah ke halaman lain.", icon=":material/hourglass_top:")


st.title("Unggah pindaian")
st.write("Seret berkas hasil scan ke kotak di bawah (PDF, TIFF, JPEG, PNG, WEBP atau HEIC; boleh banyak sekaligus), "
         "lalu tekan **Baca berkas**. Berkas yang sama tidak akan terbaca dua kali.")
with st.form("upload", clear_on_submit=True):
    # every file type is taken (no English "file type not allowed"): the ingest says what it cannot read
    files = st.file_uploader("Berkas pindaian", accept_multiple_files=True, key="upload_files")
    go = st.form_submit_button("Baca berkas", icon=":material/upload_file:", type="primary")
if go:
    if not files:
        st.warning("Pilih atau seret berkas dulu.")
    else:
        start_reading(save_uploads(files), f"Membaca {len(files)} berkas")
        st.rerun()
reading()
common.show_flash()

st.subheader("Halaman yang perlu perhatian")
problems = store.problem_pages()
bad_files = rv.problem_files(store)
if not problems and not bad_files:
    st.caption("Tidak ada. Semua halaman terbaca.")
for f in bad_files:
    c = st.columns([5, 1], vertical_alignment="center")
    with c[0]:
        common.text_line((f["name"], True), (" — " + logic.reason_text(f["reason"], f["message"]), False))
    if c[1].button("Buang", key=f"discard_file{f['id']}"):
        rv.discard_file(store, f["id"], user.name)
        st.rerun()
if problems:
    st.caption("**Coba baca lagi** berguna setelah formulir atau program diperbarui; bila tetap gagal, pindai ulang "
               "lembarnya dan unggah lagi, lalu **Buang** halaman yang lama.")
    if st.button(f"Coba baca lagi semua ({len(problems)})", key="retry_all"):
        for p in problems:
            rv.retry_page(store, p["id"], user.name)
        start_reading(retry_folder(), "Membaca ulang")
        st.rerun()
for p in problems[:LIST_LIMIT]:
    c = st.columns([5, 1, 1], vertical_alignment="center")
    status = logic.PAGE_STATUS_LABEL.get(p["status"], p["status"])
    with c[0]:
        common.text_line((p["file_name"], True), (f", halaman {p['page_no']} · {status}: "
                                                  + logic.reason_text(p["reason"], p["message"]), False))
    if c[1].button("Coba lagi", key=f"retry{p['id']}"):
        rv.retry_page(store, p["id"], user.name)
        start_reading(retry_folder(), "Membaca ulang")
        st.rerun()
    if c[2].button("Buang", key=f"discard{p['id']}"):
        rv.discard_page(store, p["id"], user.name)
        common.flash("info", f"Halaman {p['page_no']} dari {common.md(p['file_name'])} dibuang.")
        st.rerun()
if len(problems) > LIST_LIMIT:
    st.caption(f"… dan {len(problems) - LIST_LIMIT} halaman lagi (selesaikan yang di atas dulu).")
