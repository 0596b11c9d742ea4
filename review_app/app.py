"""Entry point of the review app (``susulan review``): login gate, then the pages in the top bar."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from review_app import common

VIEWS = Path(__file__).resolve().parent / "views"


def main() -> None:
    """Show the login page, or the navigation for the logged-in account."""
    st.set_page_config(page_title="Susulan · Pemeriksaan data", page_icon=":material/fact_check:", layout="wide",
                       initial_sidebar_state="collapsed")
    common.style()
    user = common.user()
    if user is None:
        common.forget_cookie()
        common.forget_drafts()
        st.navigation([st.Page(VIEWS / "login.py", title="Masuk", icon=":material/login:")], position="hidden").run()
        return
    common.keep_login()
    pages = [
        st.Page(VIEWS / "overview.py", title="Ringkasan", icon=":material/dashboard:", default=True),
        st.Page(VIEWS / "record.py", title="Periksa per formulir", icon=":material/fact_check:"),
        st.Page(VIEWS / "field.py", title="Periksa per kolom", icon=":material/view_list:"),
        st.Page(VIEWS / "upload.py", title="Unggah pindaian", icon=":material/upload_file:"),
        st.Page(VIEWS / "history.py", title="Riwayat perubahan", icon=":material/history:"),
        st.Page(VIEWS / "export.py", title="Ekspor data", icon=":material/download:"),
        st.Page(VIEWS / "erm.py", title="Impor ke ERM", icon=":material/cloud_upload:"),
    ]
    if user.is_admin:
        pages.append(st.Page(VIEWS / "users.py", title="Akun petugas", icon=":material/group:"))
    nav = st.navigation(pages, position="top")
    who = st.container(key="who", horizontal=True, vertical_alignment="center", width="content")
    who.caption(f"Masuk sebagai **{common.md(user.name)}** ({'admin' if user.is_admin else 'pemeriksa'})")
    if who.button("Keluar", key="logout", type="tertiary"):
        common.log_out()
        st.rerun()
    nav.run()


main()
