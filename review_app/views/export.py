"""Export: download reviewed rows as CSV or XLSX (and ERM import files once they exist)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import streamlit as st

from pipeline.errors import SusulanError
from pipeline.export import rows
from pipeline.store import Store
from pipeline.store import review as rv
from review_app import common

STAGES = {"Hanya yang sudah disetujui": "reviewed", "Semua (termasuk yang belum diperiksa)": "recognized"}
FORMATS = {"CSV (Excel)": ("csv", "text/csv"),
           "XLSX (Excel)": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}

user = common.require_user()
store = common.store()


def build(stage: str, form_id: str | None, fmt: str, by: str) -> bytes:
    """The export file's bytes (made when the button is pressed; the download is audited)."""
    with Store.open(common.data_dir()) as s, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"susulan.{fmt}"
        data = rows.rows(s, stage, form_id)
        rows.write(data, out, fmt)
        rows.audit_export(s, by, f"download {stage}" + (f" {form_id}" if form_id else ""), len(data), fmt)
        return out.read_bytes()


st.title("Ekspor data")
forms_present = rv.forms_present(store)
titles = common.form_titles()
c: Sequence[Any] = st.columns(3)  # reused below with two columns
stage_label = c[0].radio("Baris", list(STAGES), key="ex_stage")
form_sel = c[1].selectbox("Jenis formulir", ["(semua)", *forms_present],
                          format_func=lambda f: titles.get(f, f), key="ex_form")
fmt_label = c[2].radio("Format", list(FORMATS), key="ex_format")
stage, fmt = STAGES[stage_label], FORMATS[fmt_label]
form_id = None if form_sel == "(semua)" else form_sel
states = ("approved", "exported") if stage == "reviewed" else ("review", "approved", "flagged", "exported")
count = rv.count_records(store, states, form_id)
st.write(f"**{count}** pasien akan diekspor, satu baris per pasien.")
if stage == "recognized":
    st.warning("Baris yang belum diperiksa bisa berisi salah baca. Kolom *needs_review* menyebut nilai yang "
               "belum dicek.")
st.download_button(f"Unduh {fmt[0].upper()}", icon=":material/download:",
                   data=lambda: build(stage, form_id, fmt[0], user.name),
                   file_name=f"susulan-{stage}{'-' + form_id if form_id else ''}.{fmt[0]}", mime=fmt[1],
                   type="primary", disabled=count == 0, key="ex_download")

st.subheader("Berkas impor ERM")


def erm_inserts() -> int:
    """How many visits of the confirmed ERM plan are still to be inserted (``susulan erm plan --confirm``)."""
    from pipeline.erm import plan as planning

    return len(planning.confirmed_rows(store).keep)


def erm_file(fmt: str, by: str, count: int) -> bytes:
    """The ERM import file in the configured profile (the same bytes as ``susulan erm export``), audited."""
    from pipeline.erm import api

    with Store.open(common.data_dir()) as s:
        data = api.import_file(s, fmt)
        rows.audit_export(s, by, "download erm import file", count, fmt)
    return data


NO_PLAN = ("Belum ada rencana impor ERM yang dikonfirmasi. Admin membuatnya di halaman Impor ke ERM setelah data "
           "pasien ERM dimuat.")
try:
    inserts = erm_inserts()
except SusulanError:
    st.caption(NO_PLAN)
except (ImportError, AttributeError, KeyError) as e:
    st.caption(f"Berkas impor ERM belum bisa dibuat di sini ({type(e).__name__}).")
else:
    if not inserts:
        st.caption(NO_PLAN)
    else:
        st.write(f"**{inserts}** kunjungan siap diimpor ke ERM.")
        c = st.columns(2)
        for col, ext in zip(c, ("csv", "xlsx")):
            col.download_button(f"Unduh berkas impor ERM ({ext.upper()})", icon=":material/download:",
                                data=partial(erm_file, ext, user.name, inserts), file_name=f"impor-erm.{ext}",
                                key=f"erm-{ext}")
