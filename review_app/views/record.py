"""Per-form review: the page with field boxes, each snippet beside its editable value, worst records first.

Keyboard: Enter accepts a value and jumps to the next one that needs a look; Enter on the
last one approves the form and opens the next. Digits pick a tick-box option, Alt+T flags
for a supervisor, Alt+L skips, Alt+B goes back (see ``keys.js_for``).
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from pipeline.store import Conflict
from pipeline.store import review as rv
from review_app import common, keys, logic

STATES = {"Belum diperiksa": ("review",), "Ditandai untuk supervisor": ("flagged",),
          "Sudah disetujui": ("approved", "exported")}
ALL = "(semua jenis)"

user = common.require_user()
store = common.store()


# --- queue navigation ----------------------------------------------------------------------------


def load_queue(form_sel: str, state_sel: str) -> None:
    """Snapshot the worst-first queue so positions stay stable while people work through it."""
    items = rv.queue(store, STATES[state_sel], None if form_sel == ALL else form_sel)
    st.session_state["rq_key"] = (form_sel, state_sel)
    st.session_state["rq_items"] = [(i.record_id, i.page_key + common.row_label(i.form_id, None, i.record_no),
                                     i.n_review, i.n_blocking) for i in items]
    st.session_state["rq_pos"] = 0


def next_open(start: int) -> int:
    """First position at or after ``start`` whose record is still in the queue's state."""
    items = st.session_state["rq_items"]
    wanted = STATES[st.session_state["rq_key"][1]]
    for pos in range(start, len(items)):
        rows = store.q("SELECT state FROM records WHERE id=?", (items[pos][0],))
        if rows and rows[0]["state"] in wanted:
            return pos
    return len(items)


def go(delta: int) -> None:
    """Move in the queue: forward skips records others already finished, back shows any."""
    pos = st.session_state["rq_pos"]
    st.session_state["rq_pos"] = next_open(pos + 1) if delta > 0 else max(pos - 1, 0)


def jump(target_key: str) -> None:
    """Open the queue entry chosen in the jump list."""
    st.session_state["rq_pos"] = st.session_state[target_key]


# --- saving --------------------------------------------------------------------------------------


def act(action: str, rid: int, rec_version: int, seen: list[logic.Seen], widget_keys: dict[int, str],
        note_key: str, labels: dict[int, tuple[str, str, dict[str, str]]]) -> None:
    """Form callback: save edits, then approve / flag / just save, reporting conflicts and rules."""
    submitted = {s.field_id: st.session_state.get(widget_keys[s.field_id]) for s in seen}
    note = (st.session_state.get(note_key) or "").strip()
    if action == "flag" and not note:
        note = "perlu dicek supervisor"
    if action == "override" and not note:
        common.flash("error", "Tulis alasan di kolom catatan sebelum menyetujui walau ada masalah.")
        return
    try:
        changes = logic.plan_record(seen, submitted, confirm_rest=action in ("approve", "override"))
    except logic.InputError as e:
        common.flash("error", f"Belum disimpan: {e}")
        return
    applied = rv.apply_changes(store, changes, user.name)
    for clash in applied.conflicts:
        label, kind, options = labels[clash.field_id]
        common.flash("warning", logic.conflict_text(clash, label, kind, options))
    if applied.conflicts:
        return
    expected = logic.expected_record_version(rec_version, len(applied.saved))
    try:
        if action == "save":
            common.flash("success", f"{len(applied.saved)} perubahan disimpan." if applied.saved
                         else "Tidak ada perubahan.")
            return
        if action == "flag":
            rv.flag(store, rid, user.name, note, expected)
            common.flash("info", "Formulir ditandai untuk supervisor.")
        else:
            rv.approve(store, rid, user.name, expected, override_note=note if action == "override" else "")
            common.flash("success", "Formulir disetujui." + (f" {len(applied.saved)} nilai diperbaiki/dibenarkan."
                                                              if applied.saved else ""))
    except rv.Blocked as e:
        common.flash("error", f"{e} Perbaiki nilainya lalu tekan Enter lagi, atau tandai untuk supervisor.")
        return
    except Conflict:
        common.flash("warning", "Formulir ini baru saja diubah petugas lain. Nilai terbaru sudah ditampilkan; "
                                "periksa lagi lalu simpan.")
        return
    go(+1)


def reopen(rid: int) -> None:
    """Put an approved or flagged record back into review."""
    rv.reopen(store, rid, user.name)
    common.flash("info", "Formulir dibuka lagi untuk diperiksa.")


# --- drawing -------------------------------------------------------------------------------------


def field_widget(f: dict, meta: common.FieldMeta, tag: str, key: str, disabled: bool) -> None:
    """The editable value of one field (radio for tick boxes, text otherwise)."""
    label = f"{tag}. {meta.label}" if tag else meta.label
    if f["kind"] == "choice":
        values = list(meta.options) + [logic.EMPTY_CHOICE]
        if f["final_value"] not in values:
            values.insert(0, f["final_value"])
        numbered = {v: f"{(i + 1) % len(values) if v == logic.EMPTY_CHOICE else i + 1} {meta.options.get(v, v)}"
                    for i, v in enumerate(values)}
        numbered[logic.EMPTY_CHOICE] = f"0 {logic.EMPTY_LABEL}"
        st.radio(label, values, index=values.index(f["final_value"]), key=key, horizontal=True,
                 format_func=numbered.get, disabled=disabled)
    else:
        st.text_input(label, value=logic.to_display(f["kind"], f["final_value"]), key=key, disabled=disabled,
                      placeholder="kosong", help="Tanggal: tgl-bln-tahun" if f["kind"] == "date" else None)


def field_caption(f: dict, meta: common.FieldMeta, issues: list[dict]) -> None:
    """Machine reading, confidence, status and rule messages under a value."""
    parts = [f"Terbaca mesin: **{logic.shown_value(f['kind'], f['machine_value'], meta.options)}**",
             f"yakin {logic.confidence_text(f['confidence'])}", logic.STATUS_LABEL.get(f["status"], f["status"])]
    alts = [a[0] for a in json.loads(f["topk"] or "[]")[1:3] if a and a[0] != f["machine_value"]]
    if alts and f["kind"] != "choice":
        parts.append("kemungkinan lain: " + ", ".join(logic.shown_value(f["kind"], a) for a in alts))
    if f["changed_by"]:
        parts.append(f"oleh {f['changed_by']}")
    note = logic.machine_note(f["kind"], f["machine_value"], json.loads(f.get("detail") or "{}"))
    if note:
        parts.append(note)
    st.caption(" · ".join(parts))
    for i in issues:
        st.markdown(f":red[:material/error: {i['message']}]" if i["blocking"]
                    else f":orange[:material/warning: {i['message']}]")


def png_width(png: bytes) -> int:
    """Pixel width from a PNG header (0 if not a PNG)."""
    return int.from_bytes(png[16:20], "big") if png[:8] == b"\x89PNG\r\n\x1a\n" else 0


def field_row(f: dict, meta: common.FieldMeta, tag: str, key: str, png: bytes, issues: list[dict],
              disabled: bool) -> None:
    """Snippet on the left, value and reading on the right."""
    left, right = st.columns([5, 4], vertical_alignment="center")
    with left:
        if png:
            st.image(png, width=max(60, min(int(png_width(png) * 0.62), 520)))
        else:
            st.caption("(tidak ada potongan gambar)")
    with right:
        field_widget(f, meta, tag, key, disabled)
        field_caption(f, meta, issues)


def history_table(history: list[dict], metas: dict[str, common.FieldMeta]) -> pd.DataFrame:
    """A record's audit rows for people."""
    out = []
    for h in history:
        m = metas.get(h["field"])
        kind = m.kind if m else "text"
        shown = (lambda v, m=m, kind=kind: "" if v is None else logic.shown_value(kind, v, m.options if m else {})) \
            if h["action"] in ("set", "confirm") else (lambda v: logic.STATE_LABEL.get(v or "", v or ""))
        out.append({"Waktu (UTC)": h["at"].replace("T", " ")[:19], "Petugas": h["user"],
                    "Aksi": logic.ACTION_LABEL.get(h["action"], h["action"]),
                    "Isian": m.label if m else h["field"], "Lama": shown(h["old"]), "Baru": shown(h["new"]),
                    "Catatan": h["note"]})
    return pd.DataFrame(out)


def show_record(rid: int) -> None:
    """Everything about one record, and the form to check it."""
    d = rv.record_detail(store, rid)
    rec, fields, issues = d["record"], d["fields"], d["issues"]
    metas = common.field_meta(rec["form_id"], rec["form_version"])
    by_field: dict[str, list[dict]] = {}
    for i in issues:
        by_field.setdefault(i["field"], []).append(i)
    eyes = [f for f in fields if f["status"] == "review" or f["name"] in by_field]
    rest = [f for f in fields if f not in eyes]
    tags = {f["id"]: str(n + 1) for n, f in enumerate(eyes)}
    locked = rec["state"] in ("approved", "exported")
    title = common.form_titles().get(rec["form_id"], rec["form_id"])
    row = common.row_label(rec["form_id"], rec["form_version"], rec["record_no"])
    st.markdown(f"### {rec['page_key']}{row}\n{title} · status: **{logic.STATE_LABEL.get(rec['state'])}**"
                + (f" · catatan: _{rec['flagged']}_" if rec["state"] == "flagged" and rec["flagged"] else ""))
    for i in by_field.get("", []):
        st.warning(i["message"])

    band = any(f["record_no"] is None for f in fields)  # a row of a multi-row sheet: show the page wide
    page_col, form_col = (st.container(), st.container()) if band else st.columns([5, 6], gap="medium")
    with page_col:
        marks = []
        for f in fields:
            box = common.box_of(f)
            if box:
                colour = "problem" if any(i["blocking"] for i in by_field.get(f["name"], [])) else \
                    "review" if f in eyes else "ok"
                marks.append((*box, colour, tags.get(f["id"], "")))
        if rec["image_path"]:
            st.image(common.page_picture(common.data_dir_key(), rec["image_path"], tuple(marks), band),
                     caption=f"{rec['file_name']}, halaman {rec['page_no']} · kotak oranye/merah = perlu dicek")
        else:
            st.caption("Gambar halaman tidak tersimpan.")
    pngs = common.snippets(common.data_dir_key(), tuple(f["id"] for f in fields))
    widget_keys = {f["id"]: f"f{f['id']}v{f['version']}" for f in fields}
    seen = [logic.Seen(f["id"], f["version"], f["final_value"], f["status"], f["kind"],
                       common.meta_of(rec["form_id"], rec["form_version"], f["name"], f["kind"]).label)
            for f in fields]
    labels = {f["id"]: (s.name, f["kind"], common.meta_of(rec["form_id"], rec["form_version"], f["name"]).options)
              for f, s in zip(fields, seen)}
    note_key = f"note{rid}v{rec['version']}"
    args = (rid, rec["version"], seen, widget_keys, note_key, labels)
    stop = [i for i in issues if i["blocking"]]
    with form_col:
        if locked:
            st.button("Buka lagi untuk diperiksa", icon=":material/undo:", key=f"reopen{rid}", on_click=reopen,
                      args=(rid,))
        with st.form(f"rec{rid}", border=False):
            b = st.columns([4, 3, 4])
            b[0].form_submit_button("Setujui formulir", icon=":material/check:", type="primary", key="act_approve",
                                    disabled=locked, on_click=act, args=("approve", *args), width="stretch",
                                    help="Menyimpan perubahan, membenarkan nilai lainnya, lalu menyetujui formulir "
                                         "bila tidak ada masalah merah. Tombol Enter di isian terakhir.")
            b[1].form_submit_button("Simpan saja", key="act_save", disabled=locked, on_click=act,
                                    args=("save", *args), width="stretch")
            b[2].form_submit_button("Tandai", icon=":material/flag:", key="act_flag", disabled=locked,
                                    on_click=act, args=("flag", *args), width="stretch", shortcut="Alt+T",
                                    help="Tandai untuk supervisor (tulis catatan di bawah)")
            if stop:
                st.caption(":material/error: Formulir baru bisa disetujui bila tidak ada masalah merah. "
                           "Perbaiki nilainya, lalu tekan Enter.")
            if not eyes:
                st.success("Semua nilai terbaca yakin. Periksa sekilas, lalu tekan **Setujui formulir**.")
            for f in eyes:
                field_row(f, metas.get(f["name"]) or common.FieldMeta(f["name"], f["kind"], {}), tags[f["id"]],
                          widget_keys[f["id"]], pngs.get(f["id"], b""), by_field.get(f["name"], []), locked)
            with st.expander(f"Nilai lain yang terbaca yakin ({len(rest)})", expanded=not eyes):
                for f in rest:
                    field_row(f, metas.get(f["name"]) or common.FieldMeta(f["name"], f["kind"], {}), "",
                              widget_keys[f["id"]], pngs.get(f["id"], b""), [], locked)
            st.text_input("Catatan (untuk supervisor, atau alasan bila admin menyetujui walau ada masalah)",
                          key=note_key, disabled=locked)
            if user.is_admin and stop and not locked:
                st.form_submit_button("Setujui walau ada masalah (admin)", key="act_override", on_click=act,
                                      args=("override", *args))
    keys.install([widget_keys[f["id"]] for f in eyes + rest], [widget_keys[f["id"]] for f in eyes], rid, note_key)
    with st.expander(f"Riwayat perubahan formulir ini ({len(d['history'])})"):
        if d["history"]:
            st.dataframe(history_table(d["history"], metas), hide_index=True, width="stretch")
        else:
            st.caption("Belum ada perubahan.")


# --- page ----------------------------------------------------------------------------------------

st.title("Periksa per formulir")
forms_present = [r["form_id"] for r in store.q(
    "SELECT DISTINCT p.form_id FROM records r JOIN pages p ON p.id = r.page_id ORDER BY p.form_id")]
titles = common.form_titles()
c = st.columns([3, 3, 2], vertical_alignment="bottom")
form_sel = c[0].selectbox("Jenis formulir", [ALL, *forms_present], format_func=lambda f: titles.get(f, f),
                          key="rq_form")
state_sel = c[1].selectbox("Tampilkan", list(STATES), key="rq_state")
reload = c[2].button("Muat ulang antrean", icon=":material/refresh:", key="rq_reload")
if reload or st.session_state.get("rq_key") != (form_sel, state_sel):
    load_queue(form_sel, state_sel)
common.show_flash()

items = st.session_state["rq_items"]
pos = st.session_state["rq_pos"]
if pos >= len(items):
    if items:
        st.success(f"Selesai: tidak ada formulir lagi di antrean ini ({len(items)} formulir dilalui).")
    else:
        st.info("Tidak ada formulir di antrean ini.")
    st.button("Periksa lagi dari awal", icon=":material/refresh:", key="rq_restart", on_click=load_queue,
              args=(form_sel, state_sel))
    st.page_link("views/overview.py", label="Kembali ke Ringkasan", icon=":material/dashboard:")
    st.page_link("views/export.py", label="Ekspor data yang sudah disetujui", icon=":material/download:")
    keys.clear()
    st.stop()

nav = st.container(horizontal=True, vertical_alignment="center")
nav.button("Kembali", icon=":material/arrow_back:", key="rq_prev", on_click=go, args=(-1,), disabled=pos == 0,
           shortcut="Alt+B")
nav.button("Lewati", icon=":material/arrow_forward:", key="rq_next", on_click=go, args=(+1,), shortcut="Alt+L")
nav.selectbox("Loncat ke", range(len(items)), index=pos, key=f"rq_jump{pos}", on_change=jump,
              args=(f"rq_jump{pos}",), label_visibility="collapsed", width=360,
              format_func=lambda i: f"{i + 1}. {items[i][1]}" + (f" · {items[i][2]} perlu dicek" if items[i][2] else "")
              + (" · ada masalah" if items[i][3] else ""))
st.progress((pos + 1) / len(items), text=f"Formulir {pos + 1} dari {len(items)} di antrean (yang paling meragukan "
                                         "lebih dulu)")
st.html("<style>[data-testid='InputInstructions'] {display: none;}</style>")  # Enter moves on, not "submit form"
st.caption(":material/keyboard: **Enter**: nilai benar, lanjut ke isian berikutnya — di isian terakhir Enter "
           "menyetujui formulir · **1–9**: pilih kotak centang (0 = kosong) · **Alt+T**: tandai untuk supervisor · "
           "**Alt+L**: lewati · **Alt+B**: kembali")
show_record(items[pos][0])
