"""Per-field review: one field across many sheets; the rows that fit on the screen are checked as one batch.

Every row shows its whole snippet at the size of the per-form screen. "Benar semua yang
tampil" saves what was typed and confirms exactly the rows on the screen, each recorded
as confirmed by the person; rows below the fold wait for the next batch.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from pipeline.store import review as rv
from pipeline.store import sheets
from review_app import common, logic, screen, sheet_ui

FETCH = 40  # rows sent to the screen at most; it keeps those that fit
FILTERS = {"Perlu diperiksa": True, "Semua yang belum dilihat petugas": False}
KEY = "grid"

user = common.require_user()
store = common.store()


def on_action() -> None:
    """Component callback: save typed values and confirm the rows that were on the screen."""
    a = sheet_ui.action(KEY)
    if not a or a.get("kind") != "confirm":
        return
    feedback: dict[str, Any] = {"ack": a.get("id"), "failed": False, "messages": [], "settled": []}
    st.session_state["fg_feedback"] = feedback
    shown = [int(k) for k in {**(a.get("edits") or {}), **(a.get("look") or {})}]
    rows = {r["id"]: r for r in sheets.column_rows(store, shown)}
    form_id = st.session_state.get("fg_form", "")
    fields = {fid: {**r, "options": {*common.meta_of(form_id, r["form_version"], r["name"]).options, ""}}
              for fid, r in rows.items()}
    changes, errors = logic.plan_action(fields, a.get("edits") or {}, a.get("look") or {}, confirm=True)
    if errors:
        feedback["failed"] = True
        for fid, text in errors.items():
            feedback["messages"].append({"kind": "error", "field": fid, "text": f"Belum disimpan: {text}"})
        return
    applied = rv.apply_changes(store, changes, user.name)
    feedback["settled"] = applied.saved
    fixed = sum(1 for c in changes if c.value is not None and c.field_id in applied.saved)
    feedback["messages"].append({"kind": "success", "text": f"{len(applied.saved)} nilai diperiksa: {fixed} "
                                 f"diperbaiki, {len(applied.saved) - fixed} dibenarkan."})
    for clash in applied.conflicts:
        r = fields[clash.field_id]
        meta = common.meta_of(form_id, r["form_version"], r["name"], r["kind"])
        feedback["messages"].append({"kind": "warning", "field": clash.field_id,
                                     "text": logic.conflict_text(clash, meta.label, r["kind"], meta.options)})
    feedback["failed"] = bool(applied.conflicts)


forms_present = rv.forms_present(store)
if not forms_present:
    st.info("Belum ada formulir. Buka Unggah pindaian untuk memasukkan hasil scan.")
    st.stop()
titles = common.form_titles()
c = st.columns([2, 3, 2], vertical_alignment="center")
form_id = c[0].selectbox("Jenis formulir", forms_present, format_func=lambda f: titles.get(f, f), key="fg_form",
                         label_visibility="collapsed")
version = rv.latest_version(store, form_id)
names = sheets.field_names(store, form_id)
if not names:
    st.success("Tidak ada nilai yang menunggu di formulir jenis ini.")
    st.stop()
counts = {n["name"]: int(n["n_look"] or 0) for n in names}
default = max(range(len(names)), key=lambda i: counts[names[i]["name"]])
name = c[1].selectbox("Isian", list(counts), index=default, key="fg_name", label_visibility="collapsed",
                      format_func=lambda n: f"{common.meta_of(form_id, version, n).label} "
                                            f"({counts[n]} perlu diperiksa)")
filt = c[2].radio("Tampilkan", list(FILTERS), key="fg_filter", label_visibility="collapsed")

meta = common.meta_of(form_id, version, name)
rows = sheets.column(store, form_id, name, only_look=FILTERS[filt], limit=FETCH)
feedback = st.session_state.pop("fg_feedback", {})
if not rows:
    st.success("Tidak ada nilai lagi untuk isian ini. Pilih isian lain.")
pngs = common.snippets(common.data_dir_key(), tuple(r["id"] for r in rows)) if rows else {}
uris = common.snippet_uris([r["id"] for r in rows]) if rows else {}


def label(r: dict[str, Any]) -> str:
    """Where a row comes from: the sheet, and the row on a queue sheet."""
    return r["page_key"] + common.row_label(form_id, r["form_version"], r["record_no"])


view = screen.column(rows, meta, pngs, uris, row_label=label) if rows else None
sheet_ui.mount(KEY, {"current": view, "done_text": "", "user": user.name, **feedback}, on_action)
