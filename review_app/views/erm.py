"""Impor ke ERM: load the ERM's exports, settle unsure patients, conflicts and "data kurang", confirm, download.

A page only: everything it shows and does goes through ``pipeline.erm.api`` (decisions and completed
values are audited there), and every reason arrives as a code that :mod:`pipeline.erm.reasons` turns
into Indonesian. The plan is recomputed only when the store changes (``api.plan_fingerprint``) or when
someone presses "Hitung ulang". Pushing to SATUSEHAT or another FHIR server stays a command-line
action for the admin (``susulan erm push``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from pipeline.erm import api
from pipeline.erm.master import LoadError
from pipeline.erm.reasons import gap_text
from pipeline.errors import SusulanError
from pipeline.export import rows as export_rows
from pipeline.store import Store
from review_app import common, logic
from review_app.common import md
from review_app.erm_text import flags_text, head, input_label, paper_label, person_md, tgl

LIMIT = 20  # decisions shown at once (each has buttons; the rest follow once these are settled)
ACTION_LABEL = {"insert": "Tambah", "skip": "Lewati", "conflict": "Konflik", "incomplete": "Data kurang"}
PATIENT_LABEL = {"linked": "Pasien lama", "new": "Pasien baru", "ambiguous": "Belum pasti"}
LEDGER_LABEL = {"accepted": "Diterima", "rejected": "Ditolak", "sending": "Terkirim, menunggu jawaban",
                "failed": "Belum pasti, dicek lagi", "pending": "Belum dikirim", "refused": "Tidak dikirim"}
KIND_LABEL = {"patients": "Data pasien ERM", "visits": "Kunjungan yang sudah ada di ERM",
              "pcare": "Pendaftaran yang sudah ada di P-Care"}
HINT = {"nik": "16 angka", "bpjs_no": "13 angka", "birth_date": "dd-mm-yyyy", "visit_date": "dd-mm-yyyy",
        "arrival_time": "jj:mm", "sex": "L atau P", "village": "nama desa", "poli": "umum, gigi, kia, …"}
DOWNLOADS = (("csv", "Unduh berkas impor (CSV)", "impor-erm.csv", "text/csv"),
             ("xlsx", "Unduh berkas impor (XLSX)", "impor-erm.xlsx",
              "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
             ("fhir", "Unduh FHIR Bundle (JSON)", "erm-bundle.json", "application/fhir+json"))
PUSH_COMMAND = ("susulan erm push --target satusehat --fhir-url https://api-satusehat.kemkes.go.id/fhir-r4/v1 "
                "--data-dir {data}")

user = common.require_user()
store = common.store()


# --- data (cached per store change) ------------------------------------------------------------------


@st.cache_data(max_entries=4, show_spinner="Menghitung rencana impor…")
def plan_view(data_dir_key: str, fp: str) -> dict[str, Any]:
    """The current plan and everything the page shows of it (recomputed only when ``fp`` changes)."""
    with Store.open(Path(data_dir_key)) as s:
        plan = api.current_plan(s)
        return {"plan": plan, "digest": api.plan_digest(plan), "counts": api.counts(plan),
                "rows": api.plan_rows(s, plan), "ambiguous": api.ambiguous(s, plan),
                "conflicts": api.conflicts(s, plan), "incomplete": api.incomplete(s, plan)}


@st.cache_data(max_entries=4, show_spinner="Menyiapkan berkas impor…")
def confirmed_files(data_dir_key: str, plan_id: int, fp: str) -> dict[str, Any]:
    """Import files of the confirmed plan, made as ``susulan erm export`` makes them, and what was left out."""
    with Store.open(Path(data_dir_key)) as s:
        out = api.import_files(s)
        out["differs"] = api.differs_from_confirmed(s, plan_view(data_dir_key, fp)["plan"])
    return out


# --- actions ---------------------------------------------------------------------------------------


def audit_download(what: str, count: int) -> None:
    """A download of patient data leaving the store: audited when the user clicks it."""
    with Store.open(common.data_dir()) as s:
        export_rows.audit_export(s, user.name, "download erm import file", count, what)


def load_file(kind: str, f: Any, skip_bad_rows: bool) -> None:
    """Load an uploaded file with the same loader as ``susulan erm load-patients|load-visits|load-pcare``."""
    folder = common.data_dir() / "erm-uploads" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (re.sub(r"[^A-Za-z0-9._-]+", "_", Path(f.name).name) or "erm.csv")
    path.write_bytes(f.getvalue())
    try:
        report = api.load_file(store, kind, path, user.name, skip_bad_rows)
    except SusulanError as e:
        text = e.text("id") if isinstance(e, LoadError) else str(e)
        common.flash("error", f"Berkas **{md(f.name)}** tidak dimuat:  \n" + "  \n".join(
            f"· {md(line.strip())}" for line in text.splitlines()))
        return
    lines = report.lines("id")
    text = f"{report.rows} baris dimuat dari **{md(f.name)}** (menggantikan muatan sebelumnya)."
    if report.skipped:
        text += f" {len(report.skipped)} baris dilewati."
    if lines:
        text += "  \n" + "  \n".join(f"· {md(s)}" for s in lines[:10])
        if len(lines) > 10:
            text += f"  \n· … dan {len(lines) - 10} catatan lagi"
    if kind == "patients" and common.learn_in_background(store):
        text += ("  \nNama-nama pasien ini dipakai untuk membaca nama tulisan tangan: formulir yang belum "
                 "selesai diperiksa dibaca ulang di latar belakang (beberapa menit).")
    common.flash("warning" if lines else "success", text)


def act(fn: Any, record_id: int, choice: Any, note_key: str, done: str) -> None:
    """Store a decision or completed values through the api (audited) and report it."""
    try:
        if fn is api.complete_record:
            fn(store, record_id, choice, user.name)
        else:
            fn(store, record_id, choice, user.name, (st.session_state.get(note_key) or "") if note_key else "")
    except api.IncompleteValues as e:
        common.flash("error", "Belum tersimpan:  \n" + "  \n".join(f"· {md(p.text('id'))}" for p in e.problems))
    except SusulanError as e:
        common.flash("error", f"Tidak tersimpan: {md(str(e))}")
    else:
        common.flash("success", done)
    st.rerun()


# --- page -------------------------------------------------------------------------------------------

st.title("Impor ke ERM")
st.write("Di sini formulir yang sudah disetujui dicocokkan dengan data ERM, supaya tidak ada pasien atau "
         "kunjungan yang tercatat dua kali. Urutannya: muat data dari ERM, putuskan yang belum pasti, lengkapi "
         "data yang kurang, konfirmasi rencana, lalu unduh berkas impor.")
top = st.columns([5, 1], vertical_alignment="bottom")
if top[1].button("Hitung ulang", icon=":material/refresh:", key="erm_recompute",
                 help="Hitung ulang rencana (biasanya otomatis setiap ada perubahan)."):
    plan_view.clear()
    confirmed_files.clear()
common.show_flash()

fp = api.plan_fingerprint(store)
loads = {f["kind"]: f for f in api.loaded_files(store)}

# 1. files from the ERM (and P-Care)
st.subheader("1. Data dari ERM")
for kind, label in KIND_LABEL.items():
    f = loads.get(kind)
    if f:
        st.markdown(f"**{label}**: {md(Path(f['file']).name)}, {f['rows']} baris"
                    + (f" ({f['skipped']} dilewati)" if f["skipped"] else "")
                    + f", dimuat {logic.wib(f['loaded_at'])}"
                    + (f" oleh {md(f['user'])}" if f["user"] else ""))
    else:
        st.markdown(f"**{label}**: belum dimuat.")
if "patients" not in loads:
    st.warning("Tanpa data pasien dari ERM, setiap formulir dianggap pasien baru dan pasien lama bisa tercatat "
               "dua kali. Muat data pasien ERM dulu.")
if user.is_admin:
    st.caption("Ekspor dari ERM (dan daftar pendaftaran P-Care) dalam bentuk CSV, XLSX atau JSON. Memuat berkas baru "
               "menggantikan muatan sebelumnya; berkas dengan baris bermasalah tidak dimuat sama sekali, kecuali "
               "dicentang \"lewati baris bermasalah\".")
    c: Sequence[Any] = st.columns(3)  # reused below with other column counts
    for col, kind, short in ((c[0], "patients", "data pasien"), (c[1], "visits", "kunjungan"),
                             (c[2], "pcare", "pendaftaran P-Care")):
        with col, st.form(f"erm_load_{kind}", clear_on_submit=True):
            upload = st.file_uploader(KIND_LABEL[kind], type=["csv", "xlsx"] + (["json"] if kind == "pcare" else []),
                                      key=f"erm_file_{kind}")
            skip = st.checkbox("Lewati baris bermasalah", key=f"erm_skip_bad_{kind}")
            if st.form_submit_button(f"Muat {short}", icon=":material/upload_file:"):
                if upload is None:
                    common.flash("warning", "Pilih atau seret berkas dulu.")
                else:
                    with st.spinner(f"Memuat {short}…"):
                        load_file(kind, upload, skip)
                st.rerun()
else:
    st.caption("Data dari ERM dimuat oleh admin.")

# 2. the plan
view = plan_view(common.data_dir_key(), fp)
shown_plan = st.session_state.get("erm_shown_plan")  # what the user saw before this click
st.session_state["erm_shown_plan"] = view["digest"]
counts, rows = view["counts"], view["rows"]
pending = len(view["ambiguous"]) + len(view["conflicts"])
st.subheader("2. Rencana impor")
if not rows:
    st.info("Belum ada formulir yang disetujui. Setujui formulir di **Periksa per formulir** dulu.")
c = st.columns(5)
c[0].metric("Tambah ke ERM", counts["insert"], help="Kunjungan yang belum ada di ERM dan akan ditambahkan.")
c[1].metric("Lewati (sudah ada di ERM)", counts["skip"],
            help="ERM sudah punya kunjungan ini, atau kunjungan yang sama tertulis dua kali di kertas.")
c[2].metric("Konflik", counts["conflict"], help="Belum bisa ditambahkan: perlu keputusan petugas.")
c[3].metric("Data kurang", counts["incomplete"],
            help="Kurang data yang diperlukan ERM, SATUSEHAT atau P-Care: lengkapi di langkah 3 atau lewati.")
c[4].metric("Perlu keputusan", pending, help="Pasien belum pasti dan konflik yang bisa diputuskan di bawah.")
if rows:
    st.caption(f"Dari {counts['records']} formulir yang sudah disetujui: {counts.get('patients_linked', 0)} "
               f"pasien lama, {counts.get('patients_new', 0)} pasien baru, {counts.get('patients_ambiguous', 0)} "
               "pasien belum pasti.")
    choice = st.radio("Tampilkan", ["Semua", *ACTION_LABEL.values()], horizontal=True, key="erm_filter",
                      label_visibility="collapsed")
    wanted = [a for a, label in ACTION_LABEL.items() if label == choice]
    st.dataframe(pd.DataFrame([{
        "Formulir": paper_label(r), "Tgl kunjungan": tgl(r["visit_date"]), "Nama": r["name"], "Poli": r["poli"],
        "Rencana": ACTION_LABEL.get(r["action"], r["action"]),
        "Pasien": PATIENT_LABEL.get(r["patient"], r["patient"]), "No. RM": r["rm_no"],
        "Skor": "" if r["patient"] == "new" else f"{r['score']:.0f}", "Alasan": r["reason"],
        "Kurang": ", ".join(gap_text(g) for g in r["gaps"]),
        "Beda kertas dan ERM": flags_text(r["flags"]),
        "Diputuskan oleh": r["decided_by"], "Pengiriman": r["ledger"],
    } for r in rows if not wanted or r["action"] in wanted]), hide_index=True, width="stretch", key="erm_plan_table",
        column_config={"Alasan": st.column_config.TextColumn("Alasan", width="large"),
                       "Skor": st.column_config.TextColumn("Skor", help="Kemiripan dengan pasien ERM (0-100)")})

# 3. decisions and "data kurang"
by_id = {r["record_id"]: r for r in rows}
st.subheader("3. Perlu keputusan")
if not pending and not view["incomplete"]:
    st.caption("Tidak ada. Semua pasien dan kunjungan sudah jelas.")
for a in view["ambiguous"][:LIMIT]:
    rid, r = a["record_id"], by_id[a["record_id"]]
    with st.container(border=True):
        st.markdown(f"{head(r)}  \nPasien belum pasti: {md(a['reason'])}. Siapa pasien di formulir ini?")
        cols = st.columns(len(a["candidates"]) + 1)
        with cols[0]:
            st.markdown("**Tertulis di kertas**")
            st.markdown(person_md(a["paper"]))
        for n, (col, cand) in enumerate(zip(cols[1:], a["candidates"], strict=True), start=1):
            with col:
                st.markdown(f"**Di ERM, kandidat {n}** · skor {cand['score']:.0f}")
                st.caption(cand["reason"])
                st.markdown(person_md(cand, a["paper"]))
                if st.button("Pasien ini", key=f"erm_pick_{rid}_{cand['key']}", icon=":material/person_check:"):
                    act(api.decide_match, rid, cand["key"], f"erm_note_{rid}",
                        f"{paper_label(r)}: pasien ERM {md(cand['name'])} (No. RM {cand['rm_no'] or '–'}).")
        c = st.columns([3, 1], vertical_alignment="bottom")
        c[0].text_input("Catatan (boleh kosong)", key=f"erm_note_{rid}")
        if c[1].button("Pasien baru", key=f"erm_new_{rid}", icon=":material/person_add:",
                       help="Bukan salah satu kandidat: buat pasien baru di ERM."):
            act(api.decide_match, rid, "new", f"erm_note_{rid}", f"{paper_label(r)}: pasien baru.")
for r in view["conflicts"][:LIMIT]:
    rid = r["record_id"]
    with st.container(border=True):
        st.markdown(f"{head(r)}  \nKonflik: {md(r['reason'])}")
        c = st.columns([3, 1, 1], vertical_alignment="bottom")
        c[0].text_input("Catatan (boleh kosong)", key=f"erm_cnote_{rid}")
        if c[1].button("Tetap tambahkan", key=f"erm_insert_{rid}", icon=":material/add:",
                       help="Kunjungan ini memang belum ada di ERM: tambahkan."):
            act(api.decide_action, rid, "insert", f"erm_cnote_{rid}", f"{paper_label(r)}: tetap ditambahkan.")
        if c[2].button("Lewati", key=f"erm_skip_{rid}", icon=":material/block:",
                       help="ERM sudah punya kunjungan ini: jangan ditambahkan."):
            act(api.decide_action, rid, "skip", f"erm_cnote_{rid}", f"{paper_label(r)}: dilewati.")
if pending > LIMIT * 2 or len(view["ambiguous"]) > LIMIT or len(view["conflicts"]) > LIMIT:
    st.caption("Yang lain muncul setelah yang di atas diputuskan.")
if view["incomplete"]:
    st.markdown(f"**Data kurang ({len(view['incomplete'])})**: kunjungan ini tidak akan diimpor atau dikirim "
                "sebelum datanya lengkap. Isi yang kurang dari KTP, kartu BPJS atau buku register, atau lewati.")
for r in view["incomplete"][:LIMIT]:
    rid = r["record_id"]
    with st.container(border=True, key=f"erm_incomplete_{rid}"):
        st.markdown(f"{head(r)}  \nKurang: {md(', '.join(gap_text(g) for g in r['gaps']))}")
        with st.form(f"erm_complete_{rid}", border=False):
            cols = st.columns(max(len(r["fields"]), 1) + 2, vertical_alignment="bottom")
            typed = {f: cols[i].text_input(input_label(f), key=f"erm_fill_{rid}_{f}",
                                           placeholder=HINT.get(f, "")) for i, f in enumerate(r["fields"])}
            if r["settings_only"]:
                cols[0].caption("Yang kurang adalah pengaturan (forms/erm/erm.yaml), bukan isian formulir.")
            saved = cols[-2].form_submit_button("Simpan", icon=":material/save:", disabled=r["settings_only"])
            skipped = cols[-1].form_submit_button("Lewati", icon=":material/block:",
                                                  help="Jangan impor kunjungan ini.")
        if saved:
            act(api.complete_record, rid, typed, "", f"{paper_label(r)}: data dilengkapi.")
        if skipped:
            act(api.decide_action, rid, "skip", "", f"{paper_label(r)}: dilewati (data kurang).")
decided = [r for r in rows if r["decided_by"]]
if decided:
    with st.expander(f"Keputusan yang sudah dibuat ({len(decided)})"):
        for r in decided:
            c = st.columns([5, 1], vertical_alignment="center")
            who = f"No. RM {r['rm_no']}" if r["rm_no"] else PATIENT_LABEL.get(r["patient"], r["patient"]).lower()
            c[0].markdown(f"**{paper_label(r)}** · {md(r['name'])}: {who}, "
                          f"{ACTION_LABEL.get(r['action'], r['action']).lower()} · oleh {md(r['decided_by'])}")
            if c[1].button("Batalkan", key=f"erm_clear_{r['record_id']}",
                           help="Lupakan keputusan ini; formulir dicocokkan otomatis lagi."):
                api.clear_decision(store, r["record_id"], user.name)
                common.flash("info", f"Keputusan untuk {paper_label(r)} dibatalkan.")
                st.rerun()

# 4. confirm and download
st.subheader("4. Konfirmasi dan unduh")
why_not = ("Hanya admin yang bisa mengonfirmasi rencana." if not user.is_admin else
           "Belum ada formulir yang disetujui." if not rows else
           "Muat data pasien ERM dulu." if "patients" not in loads else
           f"Masih ada {pending} keputusan (lihat langkah 3)." if pending else "")
st.write("Setelah dikonfirmasi, berkas impor dan pengiriman hanya memakai rencana ini. Formulir yang diubah "
         "sesudahnya tidak ikut sampai rencana dikonfirmasi lagi. Kunjungan dengan data kurang tidak ikut.")
if st.button("Konfirmasi rencana", icon=":material/task_alt:", type="primary", disabled=bool(why_not),
             key="erm_confirm"):
    if shown_plan != view["digest"]:
        common.flash("warning", "Rencana baru saja berubah (mungkin oleh petugas lain). Periksa lagi, lalu tekan "
                                "**Konfirmasi rencana** sekali lagi.")
    else:
        try:
            plan_id = api.confirm_plan(store, user.name, view["plan"])
        except SusulanError as e:
            common.flash("error", f"Rencana tidak bisa dikonfirmasi: {md(str(e))}")
        else:
            common.flash("success", f"Rencana #{plan_id} dikonfirmasi: {counts['insert']} kunjungan siap "
                                    "ditambahkan ke ERM.")
    st.rerun()
if why_not:
    st.caption(why_not)
confirmed = api.confirmed_plan(store)
if confirmed is None:
    st.caption("Belum ada rencana yang dikonfirmasi.")
else:
    files = confirmed_files(common.data_dir_key(), int(confirmed["id"]), fp)
    at = confirmed["confirmed_at"]
    st.markdown(f"Rencana terakhir: **#{confirmed['id']}**, dikonfirmasi oleh **{md(confirmed['confirmed_by'])}** "
                f"pada {logic.wib(at)}. **{files['count']}** kunjungan siap diimpor.")
    if files["differs"]:
        st.warning("Rencana sekarang berbeda dengan rencana yang dikonfirmasi (ada formulir atau keputusan baru). "
                   "Konfirmasi lagi supaya ikut diimpor.")
    for label, lines in (("tidak ikut karena berubah sejak konfirmasi", files["refused"]),
                         ("tidak ikut di FHIR karena datanya tidak sah", files["invalid"])):
        if lines:
            st.warning(f"{len(lines)} kunjungan {label}:  \n" + "  \n".join(f"· {md(s)}" for s in lines[:10]))
    c = st.columns(3)
    for col, (fmt, label, name, mime) in zip(c, DOWNLOADS, strict=True):
        col.download_button(label, data=files[fmt], file_name=name, mime=mime, icon=":material/download:",
                            on_click=audit_download, args=(fmt, files["count"]), disabled=files["count"] == 0,
                            key=f"erm_dl_{fmt}")
    st.markdown("**BPJS P-Care** (pendaftaran kunjungan BPJS yang belum ada di P-Care; diketik di P-Care atau "
                "dikirim oleh sistem yang terhubung ke P-Care)")
    if files.get("pcare_missing"):
        st.caption("Muat dulu daftar pendaftaran P-Care pada hari-hari gangguan (langkah 1), supaya kunjungan "
                   "yang sudah terdaftar tidak didaftarkan dua kali.")
    else:
        st.caption(f"{files['pcare_count']} pendaftaran belum ada di P-Care; {len(files['pcare_registered'])} "
                   "sudah terdaftar.")
        c = st.columns(3)
        c[0].download_button("Unduh daftar P-Care (CSV)", data=files["pcare_csv"], file_name="pcare-pendaftaran.csv",
                             mime="text/csv", icon=":material/download:", on_click=audit_download,
                             args=("pcare csv", files["pcare_count"]), key="erm_dl_pcare_csv",
                             disabled=files["pcare_count"] == 0)
        c[1].download_button("Unduh payload P-Care (JSON lines)", data=files["pcare"],
                             file_name="pcare-pendaftaran.jsonl", mime="application/jsonl", on_click=audit_download,
                             args=("pcare jsonl", files["pcare_count"]),
                             icon=":material/download:", key="erm_dl_pcare", disabled=files["pcare_count"] == 0)

# 5. the ledger
st.subheader("5. Catatan pengiriman")
st.info("Pengiriman ke SATUSEHAT atau server ERM tidak dilakukan dari halaman ini. Admin menjalankan perintah berikut "
        "di komputer server Susulan; yang sudah diterima tidak akan pernah dikirim dua kali, dan pengiriman yang "
        "terputus bisa diulang dengan perintah yang sama.")
st.code(PUSH_COMMAND.format(data=common.data_dir()), language="bash")
ledger = api.ledger_rows(store)
targets = sorted({e["target"] for e in ledger})
target = st.selectbox("Server", targets, key="erm_target") if len(targets) > 1 else None
ledger_counts = api.ledger_counts(store, target)
c = st.columns(len(LEDGER_LABEL))
for col, (status, label) in zip(c, LEDGER_LABEL.items(), strict=True):
    col.metric(label, ledger_counts.get(status, 0))
if not ledger:
    st.caption("Belum ada yang dikirim.")
else:
    st.dataframe(pd.DataFrame([{
        "Formulir": paper_label(e), "Status": LEDGER_LABEL.get(e["status"], e["status"]),
        "Id di server": e["encounter_ref"] or e["patient_ref"], "Pasien di server": e["patient_ref"],
        "Pesan server": e["message"], "Percobaan": e["attempts"],
        "Terakhir": f"{tgl(e['updated_at'][:10])} {e['updated_at'][11:16]}", "Server": e["target"],
    } for e in ledger if target is None or e["target"] == target]), hide_index=True, width="stretch",
        key="erm_ledger_table")
