"""Per-field review: one field across many forms as a grid of snippets; accept the right ones in one go."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pipeline.store import review as rv
from review_app import common, logic

PAGE_SIZE = 40
FILTERS = {"Perlu diperiksa": ("review",), "Semua yang belum dilihat petugas": ("auto", "review")}

user = common.require_user()
store = common.store()


def grid_frame(rows: list[dict], meta: common.FieldMeta, form_id: str) -> pd.DataFrame:
    """The grid as shown: snippet, where it is from, machine reading, confidence, editable value, skip box."""
    uris = common.snippet_uris([r["field_id"] for r in rows])
    return pd.DataFrame([{
        "Gambar": uris.get(r["field_id"], ""),
        "Lembar": r["page_key"] + common.row_label(form_id, r["form_version"], r["record_no"]),
        "Terbaca": logic.shown_value(r["kind"], r["machine_value"], meta.options),
        "Yakin": round(float(r["confidence"]) * 100),
        "Nilai": logic.option_label(meta.options, r["final_value"]) if r["kind"] == "choice"
        else logic.to_display(r["kind"], r["final_value"]),
        "Lewati": False,
        "Masalah": " ".join(r["messages"]),
    } for r in rows])


def accept(rows: list[dict], editor_key: str, options: dict[str, str]) -> None:
    """Button callback: save edited values, confirm every other row not skipped."""
    edited = st.session_state.get(editor_key, {}).get("edited_rows", {})
    changes, errors = logic.plan_grid(rows, {int(k): v for k, v in edited.items()}, options)
    applied = rv.apply_changes(store, changes, user.name)
    fixed = sum(1 for ch in changes if ch.value is not None and ch.field_id in applied.saved)
    common.flash("success", f"{len(applied.saved)} nilai disimpan ({fixed} diperbaiki, "
                            f"{len(applied.saved) - fixed} dibenarkan).")
    for e in errors:
        common.flash("error", f"Tidak disimpan — {e}")
    if applied.conflicts:
        common.flash("warning", f"{len(applied.conflicts)} nilai baru saja diubah petugas lain dan tidak ditimpa; "
                                "nilai terbaru sudah ditampilkan.")
    st.session_state["fg_gen"] = st.session_state.get("fg_gen", 0) + 1


st.title("Periksa per kolom")
st.write("Satu isian dari banyak formulir sekaligus. Perbaiki yang salah langsung di kolom **Nilai**, centang "
         "**Lewati** untuk yang masih ragu, lalu tekan **Terima semua**: yang lain dibenarkan sekaligus.")
forms_present = [r["form_id"] for r in store.q(
    "SELECT DISTINCT p.form_id FROM records r JOIN pages p ON p.id = r.page_id ORDER BY p.form_id")]
if not forms_present:
    st.info("Belum ada formulir. Buka **Unggah pindaian** untuk memasukkan hasil scan.")
    st.stop()
titles = common.form_titles()
c = st.columns([2, 3, 2])
form_id = c[0].selectbox("Jenis formulir", forms_present, format_func=lambda f: titles.get(f, f), key="fg_form")
version = store.q("SELECT MAX(version) AS v FROM pages WHERE form_id=?", (form_id,))[0]["v"]
metas = common.field_meta(form_id, version)
names = rv.field_names(store, form_id)
if not names:
    st.success("Tidak ada nilai yang menunggu di formulir jenis ini.")
    st.stop()
default = max(range(len(names)), key=lambda i: names[i]["n_review"])
name = c[1].selectbox("Isian", [n["name"] for n in names], index=default, key="fg_name",
                      format_func=lambda n: next(f"{common.meta_of(form_id, version, n).label} "
                                                 f"({x['n_review']} perlu diperiksa)" for x in names
                                                 if x["name"] == n))
filt = c[2].radio("Tampilkan", list(FILTERS), key="fg_filter")
common.show_flash()

meta = common.meta_of(form_id, version, name)
gen = st.session_state.get("fg_gen", 0)
total = rv.field_grid(store, form_id, name, FILTERS[filt], limit=0)[1]
if total == 0:
    st.success("Tidak ada nilai lagi untuk isian ini. Pilih isian lain.")
    st.stop()
pages = (total + PAGE_SIZE - 1) // PAGE_SIZE
page = st.number_input(f"Halaman daftar (dari {pages})", 1, pages, 1, key="fg_page") if pages > 1 else 1
rows, total = rv.field_grid(store, form_id, name, FILTERS[filt], limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
st.caption(f"{total} nilai · yang paling tidak yakin di atas · menampilkan {len(rows)}")
kind = rows[0]["kind"] if rows else "text"
value_col = (st.column_config.SelectboxColumn("Nilai", options=[*meta.options.values(), logic.EMPTY_LABEL],
                                              required=True, width="medium") if kind == "choice"
             else st.column_config.TextColumn("Nilai", width="medium",
                                              help="Tanggal: tgl-bln-tahun" if kind == "date" else None))
editor_key = f"grid-{form_id}-{name}-{filt}-{page}-{gen}"
st.data_editor(
    grid_frame(rows, meta, form_id), key=editor_key, hide_index=True, width="stretch", row_height=64,
    disabled=["Gambar", "Lembar", "Terbaca", "Yakin", "Masalah"], num_rows="fixed",
    column_config={
        "Gambar": st.column_config.ImageColumn("Gambar", width="medium"),
        "Yakin": st.column_config.ProgressColumn("Yakin", min_value=0, max_value=100, format="%d%%", width="small"),
        "Nilai": value_col,
        "Lewati": st.column_config.CheckboxColumn("Lewati", help="Centang bila masih ragu: nilai ini tidak "
                                                  "dibenarkan dan tetap di antrean.", width="small"),
        "Masalah": st.column_config.TextColumn("Masalah", width="large"),
    })
st.button(f"Terima semua ({len(rows)} baris ini, kecuali yang dilewati)", type="primary", key="fg_accept",
          icon=":material/done_all:", on_click=accept, args=(rows, editor_key, meta.options))
