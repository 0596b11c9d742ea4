"""Per-form review: one sheet at a time, every value beside its whole snippet, uncertain ones in the Enter flow.

The sheet is drawn by the review component (``sheet_ui``); this page keeps the worst-first
queue, answers the person's actions through the store, and sends the next two sheets along
with the current one so that approving shows the next at once.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from pipeline.store import review as rv
from pipeline.store import sheets
from review_app import common, logic, screen, sheet_ui

STATES = {"Belum diperiksa": "open", "Ditandai untuk supervisor": "flagged", "Sudah disetujui": "done",
          "Bukan pasien": "void"}
ALL = "(semua jenis)"
KEY = "sheet"

user = common.require_user()
store = common.store()


# --- queue ---------------------------------------------------------------------------------------


def wanted() -> tuple[str, ...]:
    """Record states the chosen queue shows."""
    return sheets.STATE_GROUPS[STATES[st.session_state["rq_key"][1]]]


def load_queue(form_sel: str, state_sel: str) -> None:
    """Snapshot the worst-first queue so positions stay stable while people work through it."""
    items = sheets.queue(store, sheets.STATE_GROUPS[STATES[state_sel]], None if form_sel == ALL else form_sel)
    st.session_state["rq_key"] = (form_sel, state_sel)
    st.session_state["rq_items"] = [(i.page_id, i.page_key, i.n_look, i.n_blocking) for i in items]
    st.session_state["rq_pos"] = 0


def next_open(start: int) -> int:
    """First position at or after ``start`` whose sheet is still in the queue's states."""
    items = st.session_state["rq_items"]
    for pos in range(start, len(items)):
        if sheets.sheet_in(store, items[pos][0], wanted()):
            return pos
    return len(items)


def position_of(page_id: int | None) -> int:
    """Queue position of a sheet (the current position if it is not in the queue)."""
    for pos, item in enumerate(st.session_state["rq_items"]):
        if item[0] == page_id:
            return pos
    return st.session_state["rq_pos"]


# --- the person's actions ------------------------------------------------------------------------


def on_action() -> None:
    """Component callback: save, approve, flag, skip or go back, and say what happened."""
    a = sheet_ui.action(KEY)
    if not a:
        return
    feedback: dict[str, Any] = {"ack": a.get("id"), "failed": False, "messages": [], "settled": []}
    st.session_state["rq_feedback"] = feedback
    pos = position_of(a.get("page"))
    kind = a.get("kind")
    if kind == "skip":
        st.session_state["rq_pos"] = next_open(pos + 1)
        return
    if kind == "back":
        st.session_state["rq_pos"] = max(pos - 1, 0)
        return
    if kind == "reopen":
        n = sheets.reopen(store, int(a["page"]), user.name)
        feedback["messages"].append({"kind": "info", "text": f"{n} formulir dibuka lagi untuk diperiksa."})
        return
    if kind not in ("approve", "save", "flag", "override"):
        return
    sh = sheets.sheet(store, int(a["page"]))
    metas = common.field_meta(sh["page"]["form_id"], sh["page"]["version"])
    fields = {f["id"]: {**f, "options": {*(metas[f["name"]].options if f["name"] in metas else ()), ""}}
              for f in sh["fields"]}
    note = (a.get("note") or "").strip()
    if kind == "override" and not note:
        fail(feedback, "Tulis alasan di kolom catatan sebelum menyetujui walau ada masalah.")
        return
    seen = {int(k): int(v) for k, v in (a.get("records") or {}).items()}
    void = {int(r) for r in a.get("void") or () if int(r) in seen}
    gone = {r["record_no"] for r in sh["records"] if r["id"] in void}  # a row that is no patient: its values untouched
    edits, look = ({k: v for k, v in (a.get(part) or {}).items() if fields.get(int(k), {}).get("record_no") not in gone}
                   for part in ("edits", "look"))
    changes, errors = logic.plan_action(fields, edits, look, confirm=kind in ("approve", "override"))
    if errors:
        for fid, text in errors.items():
            feedback["messages"].append({"kind": "error", "field": fid, "text": f"Belum disimpan: {text}"})
        fail(feedback, "Ada isian yang belum bisa disimpan (lihat tanda merah di sampingnya).")
        return
    out = sheets.act(store, "flag" if kind == "flag" else "save" if kind == "save" else "approve", changes, seen,
                     user.name, note if kind in ("flag", "override") else "", void)
    feedback["settled"] = [*out.saved, *(int(k) for k in (a.get("edits") or {}) if int(k) not in
                                        {c.field_id for c in changes}), *(f"r{r}" for r in out.void)]
    report(feedback, out, sh, fields, kind, pos, sum(1 for c in changes if c.value is not None))
    if kind in ("approve", "override") and not feedback["failed"]:
        common.learn_in_background(store)


def fail(feedback: dict[str, Any], text: str) -> None:
    """The action did not go through: the sheet stays on screen with the message."""
    feedback["failed"] = True
    feedback["messages"].append({"kind": "error", "text": text})


def report(feedback: dict[str, Any], out: sheets.SheetOutcome, sh: dict[str, Any], fields: dict[int, dict],
           kind: str, pos: int, typed: int) -> None:
    """Messages beside the fields (conflicts, failing rules), and the queue moved on when all went through."""
    for clash in out.conflicts:
        f = fields[clash.field_id]
        meta = common.meta_of(sh["page"]["form_id"], sh["page"]["version"], f["name"], f["kind"])
        feedback["messages"].append({"kind": "warning", "field": clash.field_id,
                                     "text": logic.conflict_text(clash, meta.label, f["kind"], meta.options)})
    if out.conflicts:
        fail(feedback, "Sebagian nilai baru saja diubah petugas lain; isian Anda belum disimpan.")
        return
    rows = {r["id"]: r["record_no"] for r in sh["records"]}
    for rid, issues in out.blocked.items():
        for i in issues:
            fid = next((f["id"] for f in sh["fields"] if f["name"] == i.field
                        and f["record_no"] in (rows.get(rid), None)), None)
            feedback["messages"].append({"kind": "error", "field": fid, "text": i.message})
    if out.blocked:
        fail(feedback, "Belum bisa disetujui: perbaiki nilai yang bertanda merah lalu tekan Enter, atau tandai "
                       "untuk supervisor (Alt+T).")
    if out.stale:
        fail(feedback, "Formulir ini baru saja diubah petugas lain. Nilai terbaru sudah ditampilkan; periksa lagi.")
    if feedback["failed"]:
        return
    void = f"{len(out.void)} baris ditandai bukan pasien." if out.void else ""
    if kind == "save":
        saved = f"{typed} nilai disimpan." if typed else ""
        feedback["messages"].append({"kind": "success", "text": " ".join(t for t in (saved, void) if t)
                                     or "Tidak ada perubahan."})
        return
    done = "ditandai untuk supervisor" if kind == "flag" else "disetujui"
    fixed = f" ({typed} nilai diperbaiki)" if typed else ""
    text = f"{sh['page']['page_key']} {done}{fixed}." if out.done else ""
    feedback["messages"].append({"kind": "success", "text": " ".join(t for t in (text, void) if t)})
    st.session_state["rq_pos"] = next_open(pos + 1)


# --- drawing -------------------------------------------------------------------------------------


def view(pos: int) -> dict[str, Any] | None:
    """The sheet at queue position ``pos``, ready for the component."""
    items = st.session_state["rq_items"]
    if pos >= len(items):
        return None
    sh = sheets.sheet(store, items[pos][0])
    page = sh["page"]
    metas = common.field_meta(page["form_id"], page["version"])
    pngs, uris = common.page_snippets(common.data_dir_key(), page["id"], tuple(f["id"] for f in sh["fields"]))
    out = screen.sheet(sh, metas, pngs, uris, title=common.form_titles().get(page["form_id"], page["form_id"] or ""),
                       rows_per_page=common.rows_per_page(page["form_id"], page["version"]))
    out.update({"position": f"Formulir {pos + 1} dari {len(items)} di antrean (yang paling meragukan lebih dulu)",
                "can_back": pos > 0, "admin": user.is_admin, "can_reopen": True})
    out["_history"] = (sh["history"], page["form_id"], page["version"])
    return out


def history_table(history: list[dict], form_id: str, version: int | None) -> pd.DataFrame:
    """A sheet's audit rows for people (times in WIB)."""
    out = []
    for h in history:
        m = common.meta_of(form_id, version, h["field"]) if h["field"] else None
        if h["action"] in ("set", "confirm"):
            def shown(v: str | None, m: Any = m) -> str:
                return "" if v is None else logic.shown_value(m.kind, v, m.options)
        else:
            def shown(v: str | None, m: Any = m) -> str:
                return logic.STATE_LABEL.get(v or "", v or "")
        out.append({"Waktu (WIB)": logic.wib(h["at"], seconds=True), "Petugas": h["user"],
                    "Baris": (h["record_no"] or 0) + 1, "Aksi": logic.ACTION_LABEL.get(h["action"], h["action"]),
                    "Isian": m.label if m else "", "Lama": shown(h["old"]), "Baru": shown(h["new"]),
                    "Catatan": h["note"]})
    return pd.DataFrame(out)


titles = common.form_titles()
c = st.columns([3, 3, 4, 2], vertical_alignment="center")
form_sel = c[0].selectbox("Jenis formulir", [ALL, *rv.forms_present(store)], label_visibility="collapsed",
                          format_func=lambda f: titles.get(f, f), key="rq_form")
state_sel = c[1].selectbox("Tampilkan", list(STATES), key="rq_state", label_visibility="collapsed")
jump = c[2].container()
reload = c[3].button("Muat ulang antrean", icon=":material/refresh:", key="rq_reload")
if reload or st.session_state.get("rq_key") != (form_sel, state_sel):
    load_queue(form_sel, state_sel)

items = st.session_state["rq_items"]
pos = st.session_state["rq_pos"]
feedback = st.session_state.pop("rq_feedback", {})
current = view(pos)
if current is None:
    done_text = (f"Selesai: tidak ada formulir lagi di antrean ini ({len(items)} formulir dilalui)." if items
                 else "Tidak ada formulir di antrean ini.")
    sheet_ui.mount(KEY, {"current": None, "done_text": done_text, "user": user.name, **feedback}, on_action)
    st.button("Periksa lagi dari awal", icon=":material/refresh:", key="rq_restart", on_click=load_queue,
              args=(form_sel, state_sel))
    st.page_link("views/overview.py", label="Kembali ke Ringkasan", icon=":material/dashboard:")
    st.page_link("views/export.py", label="Ekspor data yang sudah disetujui", icon=":material/download:")
    st.stop()

history, form_id, form_version = current.pop("_history")
ahead = []  # the next two sheets, shown at once when this one is approved
at = pos
for _ in range(2):
    at = next_open(at + 1)
    upcoming = view(at)
    if upcoming is None:
        break
    upcoming.pop("_history")
    ahead.append(upcoming)
sheet_ui.mount(KEY, {"current": current, "ahead": ahead, "user": user.name, **feedback}, on_action)

jump.selectbox("Loncat ke formulir", range(len(items)), index=min(pos, len(items) - 1), key=f"rq_jump{pos}",
               on_change=lambda k=f"rq_jump{pos}": st.session_state.update(rq_pos=st.session_state[k]),
               format_func=lambda i: f"{i + 1}. {items[i][1]}" + (f" · {items[i][2]} perlu dicek" if items[i][2]
                                                                  else "") + (" · ada masalah" if items[i][3] else ""),
               label_visibility="collapsed")
with st.expander(f"Riwayat perubahan formulir ini ({len(history)})"):
    if history:
        st.dataframe(history_table(history, form_id, form_version), hide_index=True, width="stretch")
    else:
        st.caption("Belum ada perubahan.")
if st.toggle("Tampilkan seluruh halaman", key="rq_page"):
    sh_page = sheets.sheet(store, items[pos][0])["page"]
    if sh_page["image_path"]:
        st.image(common.page_picture(common.data_dir_key(), sh_page["image_path"], (), False),
                 caption=f"{sh_page['file_name']}, halaman {sh_page['page_no']}")
