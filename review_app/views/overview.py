"""Overview: what has been read, what still needs a person, per form type and per day."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pipeline.store import review as rv
from review_app import common, logic, spot_panel

user = common.require_user()
store = common.store()
st.title("Ringkasan")
common.show_flash()

t = rv.totals(store)
c = st.columns(5)
c[0].metric("Formulir terbaca", t["pages"], help="Lembar yang terbaca (satu lembar antrean berisi banyak baris).")
c[1].metric("Pasien (baris)", t["records"], help="Satu formulir pendaftaran = satu pasien; satu lembar antrean = "
            "satu pasien per baris.")
c[2].metric("Pasien belum diperiksa", t["open"])
c[3].metric("Nilai perlu dicek", t["values_to_review"])
c[4].metric("Halaman bermasalah", t["problem_pages"] + t["problem_files"])
spot_panel.show(store)

if t["records"] == 0:
    st.info("Belum ada formulir. Buka **Unggah pindaian** untuk memasukkan hasil scan.")
else:
    st.progress(t["approved"] / max(t["records"], 1),
                text=f"{t['approved']} dari {t['records']} pasien (baris) sudah disetujui"
                     + (f" · {t['flagged']} ditandai untuk supervisor" if t["flagged"] else "")
                     + (f" · {t['void']} baris bukan pasien (dicoret/kosong)" if t["void"] else ""))
    left, right = st.columns([3, 2])
    left.write("Periksa di **Periksa per formulir**: setiap nilai tampil di samping potongan gambarnya, yang paling "
               "meragukan lebih dulu. Pasien yang tidak punya nilai perlu dicek dan tidak melanggar aturan boleh "
               "disetujui sekaligus dengan tombol di samping.")
    if right.button("Setujui yang tidak perlu dicek", icon=":material/done_all:", key="approve_confident",
                    help="Menyetujui setiap pasien (baris) yang tidak punya nilai perlu dicek dan tidak melanggar "
                         "aturan. Nilai yang dipilih acak untuk pemeriksaan sampel tetap menunggu petugas."):
        with st.spinner("Memeriksa aturan…"):
            approved, remaining = rv.approve_confident(store, user.name)
        common.flash("success", f"{approved} pasien disetujui tanpa pemeriksaan per nilai. {remaining} pasien "
                                "masih perlu diperiksa petugas.")
        st.rerun()

    titles = common.form_titles()
    rows = rv.per_form_day(store)
    st.subheader("Per jenis formulir dan tanggal kunjungan")
    frame = pd.DataFrame([{
        "Jenis formulir": titles.get(r["form_id"], r["form_id"]),
        "Tanggal kunjungan": logic.to_display("date", r["day"]) or "(tidak terbaca)",
        "Formulir (lembar)": r["pages"], "Pasien (baris)": r["records"], "Belum diperiksa": r["open"],
        "Ditandai": r["flagged"], "Disetujui": r["approved"], "Nilai perlu dicek": r["values_to_review"],
        "Ada masalah aturan": r["with_problems"]} for r in rows])
    st.dataframe(frame, hide_index=True, width="stretch")

problems = store.problem_pages()
files = rv.problem_files(store)
st.subheader("Halaman yang tidak bisa dibaca")
if not problems and not files:
    st.caption("Tidak ada. Semua halaman terbaca.")
else:
    st.dataframe(pd.DataFrame(
        [{"Berkas": f["name"], "Halaman": "semua", "Status": "Tidak bisa dibuka",
          "Alasan": logic.reason_text(f["reason"])} for f in files]
        + [{"Berkas": p["file_name"], "Halaman": str(p["page_no"]),
            "Status": logic.PAGE_STATUS_LABEL.get(p["status"], p["status"]),
            "Alasan": logic.reason_text(p["reason"])} for p in problems]), hide_index=True, width="stretch")
    st.page_link("views/upload.py",
                 label="Coba baca lagi atau buang di halaman Unggah pindaian", icon=":material/upload_file:")

batches = rv.batches(store)
if batches:
    with st.expander(f"Riwayat unggahan ({len(batches)})"):
        st.dataframe(pd.DataFrame([{
            "Mulai (WIB)": logic.wib(b["started_at"]), "Oleh": b["user"] or "-",
            "Sumber": b["source"], "Berkas": b["files"], "Halaman": b["pages"], "Terbaca": b["done"] or 0,
            "Bermasalah": b["problems"] or 0} for b in batches]), hide_index=True, width="stretch")
