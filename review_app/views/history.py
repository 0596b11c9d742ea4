"""Audit: every change by every person (who, when, old -> new), newest first."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pipeline.store import review as rv
from review_app import common, logic

user = common.require_user()
store = common.store()
st.title("Riwayat perubahan")
st.write("Semua perubahan tercatat: siapa, kapan, nilai lama dan baru. Tidak ada yang ditimpa diam-diam.")

rows = rv.recent_changes(store, limit=1000)
people = sorted({r["user"] for r in rows})
c = st.columns([2, 3])
who = c[0].selectbox("Petugas", ["(semua)", *people], key="hist_user")
find = c[1].text_input("Cari nomor lembar", key="hist_find", placeholder="mis. pendaftaran-000123")
shown = [r for r in rows if (who == "(semua)" or r["user"] == who) and (not find or find in (r["page_key"] or ""))]


def _value(r: dict, v: str | None) -> str:
    if v is None:
        return ""
    if r["action"] == "state":
        return logic.STATE_LABEL.get(v, v)
    if r["action"] in ("set", "confirm") and r["form_id"]:
        m = common.meta_of(r["form_id"], None, r["field"])
        return logic.shown_value(m.kind, v, m.options)
    return v


def _field(r: dict) -> str:
    if r["action"] in ("set", "confirm") and r["form_id"]:
        return common.meta_of(r["form_id"], None, r["field"]).label
    return r["field"]


if not shown:
    st.caption("Belum ada perubahan.")
else:
    st.dataframe(pd.DataFrame([{
        "Waktu (WIB)": logic.wib(r["at"], seconds=True), "Petugas": r["user"],
        "Aksi": logic.ACTION_LABEL.get(r["action"], r["action"]),
        "Lembar": (r["page_key"] or "") + common.row_label(r["form_id"] or "", None, r["record_no"]),
        "Isian": _field(r), "Lama": _value(r, r["old"]), "Baru": _value(r, r["new"]), "Catatan": r["note"],
    } for r in shown]), hide_index=True, width="stretch")
    st.caption(f"{len(shown)} perubahan terakhir ditampilkan.")
