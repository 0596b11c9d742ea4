"""The overview's spot-check panel: how often auto values are really wrong, from values people checked at random."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pipeline.learn import spotcheck
from pipeline.store import Store

KIND_LABEL = {"digits": "Angka", "date": "Tanggal", "time": "Jam", "letters": "Huruf",
              "lexicon": "Desa (daftar resmi)", "identity": "Identitas (cocok data pasien ERM)", "choice": "Centang",
              "text": "Tulisan bebas"}


def show(store: Store) -> None:
    """One line for all auto values, a table per field kind behind it."""
    est = spotcheck.estimates(store)
    overall = est.get("all")
    if overall is None:
        return
    if not overall.checked:
        st.caption(f"{overall.pending} nilai otomatis dipilih acak untuk diperiksa petugas; perkiraan salah di "
                   "nilai otomatis muncul setelah nilai itu diperiksa.")
        return
    text = spotcheck.headline(overall)
    line = (f"**{text[0].upper() + text[1:]}** — dari {overall.checked} nilai otomatis yang dipilih acak dan "
            f"diperiksa petugas, {overall.wrong} salah (batas atas 95 %).")
    if overall.upper > spotcheck.TARGET:
        st.warning(line, icon=":material/fact_check:")
    else:
        st.success(line, icon=":material/fact_check:")
    with st.expander("Perkiraan salah per jenis isian"):
        st.dataframe(pd.DataFrame([{
            "Jenis isian": KIND_LABEL.get(k, k), "Dicek acak": e.checked, "Salah": e.wrong,
            "Menunggu dicek": e.pending, "Perkiraan salah": spotcheck.percent(e.rate) if e.checked else "-",
            "Batas atas (95 %)": spotcheck.percent(e.upper) if e.checked else "-",
            "Sasaran": f"≤ {spotcheck.percent(spotcheck.TARGET)}"} for k, e in est.items() if k != "all"]),
            hide_index=True, width="stretch")
        st.caption("Nilai otomatis yang dicek acak tampil seperti nilai lain yang perlu dicek. Bila batas atas suatu "
                   "jenis melewati sasaran dan ada yang salah, ambang yakin jenis itu diperketat untuk batch yang "
                   "belum selesai diperiksa.")
