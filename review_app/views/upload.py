"""Upload scans (same ingest as ``susulan ingest``) and deal with pages that could not be read."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import streamlit as st

from pipeline import run
from pipeline.store import review as rv
from review_app import common, logic

SCAN_TYPES = ["pdf", "tif", "tiff", "jpg", "jpeg", "png"]
LIST_LIMIT = 40

user = common.require_user()
store = common.store()


def save_uploads(files: list) -> list[Path]:
    """Write uploaded files into ``<data_dir>/uploads/<time>/`` (the ingest copies them by hash)."""
    folder = common.data_dir() / "uploads" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, f in enumerate(files):
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(f.name).name) or f"berkas{n}"
        path = folder / f"{n:03d}_{safe}"
        path.write_bytes(f.getvalue())
        paths.append(path)
    return paths


def ingest(paths: list[Path], label: str) -> None:
    """Run the ingest with a progress bar and report in plain words."""
    bar = st.progress(0.0, text=f"{label}…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"{label}: {done} dari {total} halaman")

    summary = run.ingest_paths(paths, common.data_dir(), jobs=os.cpu_count() or 1, user=user.name,
                               progress=progress)
    bar.progress(1.0, text=f"{label}: selesai")
    text = logic.ingest_text(summary.files_new, summary.files_known, summary.pages_done, summary.records,
                             summary.duplicates, dict(summary.problems), summary.file_problems)
    common.flash("warning" if summary.needs_attention else "success", common.md(text))


st.title("Unggah pindaian")
st.write("Seret berkas hasil scan ke kotak di bawah (PDF, TIFF, JPEG atau PNG; boleh banyak sekaligus), lalu "
         "tekan **Baca berkas**. Berkas yang sama tidak akan terbaca dua kali.")
with st.form("upload", clear_on_submit=True):
    files = st.file_uploader("Berkas pindaian", type=SCAN_TYPES, accept_multiple_files=True, key="upload_files")
    go = st.form_submit_button("Baca berkas", icon=":material/upload_file:", type="primary")
if go:
    if not files:
        st.warning("Pilih atau seret berkas dulu.")
    else:
        ingest(save_uploads(files), f"Membaca {len(files)} berkas")
        st.rerun()
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
        ingest([], "Membaca ulang")
        st.rerun()
for p in problems[:LIST_LIMIT]:
    c = st.columns([5, 1, 1], vertical_alignment="center")
    status = logic.PAGE_STATUS_LABEL.get(p["status"], p["status"])
    with c[0]:
        common.text_line((p["file_name"], True), (f", halaman {p['page_no']} · {status}: "
                                                  + logic.reason_text(p["reason"], p["message"]), False))
    if c[1].button("Coba lagi", key=f"retry{p['id']}"):
        rv.retry_page(store, p["id"], user.name)
        ingest([], "Membaca ulang")
        st.rerun()
    if c[2].button("Buang", key=f"discard{p['id']}"):
        rv.discard_page(store, p["id"], user.name)
        common.flash("info", f"Halaman {p['page_no']} dari {common.md(p['file_name'])} dibuang.")
        st.rerun()
if len(problems) > LIST_LIMIT:
    st.caption(f"… dan {len(problems) - LIST_LIMIT} halaman lagi (selesaikan yang di atas dulu).")
