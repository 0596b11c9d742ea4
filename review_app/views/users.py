"""Staff accounts (admins only): list, add, reset a password, disable."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pipeline.errors import BadInput
from pipeline.store import users as accounts
from review_app import common, logic

user = common.require_user()
store = common.store()
st.title("Akun petugas")
if not user.is_admin:
    st.error("Halaman ini hanya untuk admin.")
    st.stop()
common.show_flash()

people = accounts.list_users(store)
st.dataframe(pd.DataFrame([{
    "Nama": u.name, "Peran": "admin" if u.is_admin else "pemeriksa", "Aktif": "ya" if u.active else "tidak",
    "Terakhir masuk": logic.wib(u.last_login) or "-"} for u in people]),
    hide_index=True, width="stretch")

st.subheader("Tambah akun atau ganti kata sandi")
with st.form("add_user", clear_on_submit=True):
    name = st.text_input("Nama pengguna (tanpa spasi)", key="nu_name")
    role = st.radio("Peran", ["reviewer", "admin"], horizontal=True, key="nu_role",
                    format_func=lambda r: "pemeriksa" if r == "reviewer" else "admin")
    pw1 = st.text_input(f"Kata sandi (minimal {accounts.MIN_PASSWORD} karakter, bukan yang umum)", type="password",
                        key="nu_pw1")
    pw2 = st.text_input("Ulangi kata sandi", type="password", key="nu_pw2")
    add = st.form_submit_button("Simpan akun", type="primary")
if add:
    if not accounts.NAME_RE.fullmatch(name.strip()):
        st.error("Nama pengguna: 2-32 huruf atau angka (boleh titik, garis bawah, tanda minus), tanpa spasi.")
    elif accounts.password_problem(pw1):
        st.error(accounts.password_problem(pw1))
    elif pw1 != pw2:
        st.error("Kedua kata sandi tidak sama.")
    else:
        try:
            accounts.add_user(store, name.strip(), pw1, role, replace=True, by=user.name)
        except BadInput as e:
            st.error(f"Akun tidak disimpan: {e}")
        else:
            common.flash("success", f"Akun {name.strip()} disimpan.")
            st.rerun()

others = [u for u in people if u.name != user.name]
if others:
    st.subheader("Nonaktifkan / aktifkan akun")
    c = st.columns([3, 1], vertical_alignment="bottom")
    who = c[0].selectbox("Akun", [u.name for u in others], key="toggle_user")
    target = next(u for u in others if u.name == who)
    if c[1].button("Nonaktifkan" if target.active else "Aktifkan", key="toggle_btn"):
        accounts.set_active(store, who, not target.active, user.name)
        st.rerun()
    st.caption("Akun yang dinonaktifkan langsung keluar dari semua sesi yang terbuka.")
    c = st.columns([3, 1], vertical_alignment="bottom")
    locked = c[0].selectbox("Buka kunci akun (setelah terlalu banyak percobaan masuk gagal)", [u.name for u in others],
                            key="unlock_user")
    if c[1].button("Buka kunci", key="unlock_btn"):
        accounts.unlock(store, locked, user.name)
        common.flash("success", f"Akun {locked} bisa mencoba masuk lagi.")
        st.rerun()
