"""Login page: local staff accounts (``susulan users add``)."""

from __future__ import annotations

import streamlit as st

from pipeline.store.users import LoginFailed, list_users, verify
from review_app import common

st.title("Susulan — pemeriksaan data formulir")
st.write("Masuk dengan akun petugas Anda. Setiap perubahan dicatat atas nama Anda.")

if not list_users(common.store()):
    st.warning("Belum ada akun petugas. Minta admin membuatnya dengan perintah "
               "`susulan users add NAMA --role admin`, lalu muat ulang halaman ini.")

with st.form("login"):
    name = st.text_input("Nama pengguna", key="login_name")
    password = st.text_input("Kata sandi", type="password", key="login_password")
    submitted = st.form_submit_button("Masuk", type="primary")

if submitted:
    try:
        account = verify(common.store(), name, password, common.client_address())
    except LoginFailed as e:  # every refusal takes the same time (see pipeline.store.users)
        st.error(str(e))
    else:
        common.log_in(account)
        st.session_state.pop("login_password", None)
        st.rerun()
