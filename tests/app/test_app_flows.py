"""The review app's flows with Streamlit's AppTest on a temporary store (no browser)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from conftest import APP, PASSWORD, Factory, queue_row
from PIL import Image
from streamlit.testing.v1 import AppTest

from pipeline.store import Store

TIMEOUT = 60


def logged_in(name: str = "ani") -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    at.text_input(key="login_name").set_value(name)
    at.text_input(key="login_password").set_value(PASSWORD)
    button(at, "Masuk").click()
    at.run()
    assert not at.exception, at.exception
    return at


def button(at: AppTest, label: str):  # noqa: ANN201 (streamlit testing element)
    return next(b for b in at.button if b.label.startswith(label))


def open_page(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("success", "error", "warning", "info", "markdown", "caption")
             for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def test_login_refuses_wrong_password_then_shows_overview(app_env: Path) -> None:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    at.text_input(key="login_name").set_value("ani")
    at.text_input(key="login_password").set_value("salah")
    button(at, "Masuk").click()
    at.run()
    assert "salah" in at.error[0].value and "user" not in at.session_state
    at = logged_in("ani")
    assert at.title[0].value == "Ringkasan"
    assert [m.label for m in at.metric][:2] == ["Halaman terbaca", "Formulir"]


def test_edit_values_and_approve_a_form(app_env: Path, factory: Factory) -> None:
    rid = factory.pendaftaran(unsure={"name": ("SITI AMlNAH", 0.6), "sex": ("L", 0.4)})
    at = open_page(logged_in("ani"), "record")
    assert "NIK menunjukkan jenis kelamin" in texts(at)
    name = next(t for t in at.text_input if "Nama lengkap" in t.label)
    assert name.value == "SITI AMlNAH"
    name.set_value("siti aminah")
    next(r for r in at.radio if "Jenis kelamin" in r.label).set_value("P")
    button(at, "Setujui formulir").click()
    at.run()
    assert not at.exception, at.exception
    assert "Formulir disetujui" in texts(at) and "Selesai" in texts(at)
    with Store.open(app_env) as store:
        assert store.record(rid)["state"] == "approved"
        values = {f["name"]: (f["final_value"], f["status"]) for f in store.record_fields(rid)}
        assert values["name"] == ("SITI AMINAH", "corrected") and values["sex"] == ("P", "corrected")
        assert store.issues(rid) == []
        assert [(h["user"], h["action"], h["field"]) for h in store.history(rid)] == [
            ("ani", "set", "name"), ("ani", "set", "sex"), ("ani", "state", "")]


def test_approve_is_refused_while_a_blocking_rule_fails(app_env: Path, factory: Factory) -> None:
    rid = factory.pendaftaran(unsure={"sex": ("L", 0.4)})
    at = open_page(logged_in("ani"), "record")
    button(at, "Setujui formulir").click()
    at.run()
    assert "belum bisa disetujui" in texts(at)
    assert not [b for b in at.button if b.label.startswith("Setujui walau")]  # admins only
    with Store.open(app_env) as store:
        assert store.record(rid)["state"] == "review"
    # flag it for the supervisor instead, with a note
    at.text_input(key=next(k for k in at.session_state if str(k).startswith("note"))).set_value("NIK atau centang?")
    button(at, "Tandai").click()
    at.run()
    with Store.open(app_env) as store:
        rec = store.record(rid)
        assert (rec["state"], rec["flagged"]) == ("flagged", "NIK atau centang?")


def test_per_field_accept_all(app_env: Path, factory: Factory) -> None:
    rows = factory.antrean([queue_row(name="SITI ROMLAH"), queue_row(queue_no="002", name="MOH ALI")],
                           unsure={(0, "name"): ("SITI R0MLAH", 0.5), (1, "name"): ("MOH ALI", 0.7)})
    at = open_page(logged_in("ani"), "field")
    assert at.selectbox(key="fg_name").value == "name"
    button(at, "Terima semua").click()
    at.run()
    assert not at.exception, at.exception
    assert "2 nilai disimpan" in texts(at)
    with Store.open(app_env) as store:
        names = [next(f for f in store.record_fields(r) if f["name"] == "name") for r in rows]
        assert [(f["status"], f["changed_by"]) for f in names] == [("confirmed", "ani")] * 2
    assert "Tidak ada nilai lagi" in texts(at)


def test_conflict_between_two_sessions(app_env: Path, factory: Factory) -> None:
    rid = factory.pendaftaran(unsure={"name": ("SITI AMlNAH", 0.6)})
    ani = open_page(logged_in("ani"), "record")
    budi = open_page(logged_in("budi"), "record")
    next(t for t in ani.text_input if "Nama lengkap" in t.label).set_value("SITI AMINAH")
    button(ani, "Simpan saja").click()
    ani.run()
    assert "1 perubahan disimpan" in texts(ani)
    next(t for t in budi.text_input if "Nama lengkap" in t.label).set_value("SITI AMINA")
    button(budi, "Simpan saja").click()
    budi.run()
    warning = budi.warning[0].value
    assert "baru saja diubah oleh **ani**" in warning and "SITI AMINAH" in warning and "SITI AMINA)" in warning
    assert next(t for t in budi.text_input if "Nama lengkap" in t.label).value == "SITI AMINAH"
    with Store.open(app_env) as store:
        assert next(f for f in store.record_fields(rid) if f["name"] == "name")["final_value"] == "SITI AMINAH"


def test_accept_confident_button(app_env: Path, factory: Factory) -> None:
    factory.pendaftaran()
    factory.pendaftaran(unsure={"name": ("SITI AMlNAH", 0.6)})
    at = logged_in("budi")
    button(at, "Terima yang yakin").click()
    at.run()
    assert "1 formulir disetujui otomatis. 1 formulir masih perlu diperiksa" in at.success[0].value


@pytest.mark.slow
def test_upload_unreadable_page_then_discard(app_env: Path) -> None:
    png = io.BytesIO()
    Image.new("L", (400, 560), 255).save(png, "PNG")
    at = open_page(logged_in("ani"), "upload")
    at.file_uploader(key="upload_files").set_value(("kosong.png", png.getvalue(), "image/png"))
    button(at, "Baca berkas").click()
    at.run(timeout=120)
    assert not at.exception, at.exception
    assert "1 halaman perlu perhatian (1 halaman kosong)" in texts(at)
    assert "kosong.png" in texts(at)
    button(at, "Buang").click()
    at.run()
    assert "Tidak ada. Semua halaman terbaca." in texts(at)


def test_other_pages_render(app_env: Path, factory: Factory) -> None:
    rid = factory.pendaftaran()
    with Store.open(app_env) as store:
        from pipeline.store import review as rv

        rv.approve(store, rid, "ani")
    at = logged_in("budi")
    assert "1 dari 1 formulir sudah disetujui" in at.get("progress")[0].proto.text
    open_page(at, "export")
    assert "**1** formulir akan diekspor" in texts(at)
    open_page(at, "history")
    assert "Riwayat perubahan" in at.title[0].value
    open_page(at, "users")
    at.text_input(key="nu_name").set_value("cici")
    at.text_input(key="nu_pw1").set_value("panjang-sekali")
    at.text_input(key="nu_pw2").set_value("panjang-sekali")
    button(at, "Simpan akun").click()
    at.run()
    assert "Akun cici disimpan" in texts(at)


@pytest.mark.slow
def test_overview_and_first_record_with_500_pages(app_env: Path, factory: Factory) -> None:
    factory.bulk(400, "pendaftaran")
    factory.bulk(100, "antrean")
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    at.text_input(key="login_name").set_value("ani")
    at.text_input(key="login_password").set_value(PASSWORD)
    button(at, "Masuk").click()
    start = time.perf_counter()
    at.run()
    first = time.perf_counter() - start
    assert at.metric[0].value == "500"
    start = time.perf_counter()
    open_page(at, "record")
    review = time.perf_counter() - start
    print(f"500 pages: overview {first:.2f} s, first record {review:.2f} s")  # a figure, not a pass mark
    assert not at.exception
    assert "### pendaftaran-" in texts(at) or "### antrean-" in texts(at)


def test_skip_back_and_admin_override(app_env: Path, factory: Factory) -> None:
    worst = factory.pendaftaran(unsure={"sex": ("L", 0.4)})
    factory.pendaftaran(unsure={"name": ("SITI AMlNAH", 0.6)})
    at = open_page(logged_in("budi"), "record")
    assert "### pendaftaran-000001" in texts(at)
    button(at, "Lewati").click()
    at.run()
    assert "### pendaftaran-000002" in texts(at)
    button(at, "Kembali").click()
    at.run()
    assert "### pendaftaran-000001" in texts(at)
    note = next(k for k in at.session_state if str(k).startswith("note"))
    at.text_input(key=note).set_value("sudah dicek dengan KTP asli")
    button(at, "Setujui walau ada masalah").click()
    at.run()
    with Store.open(app_env) as store:
        assert store.record(worst)["state"] == "approved"
        assert store.history(worst)[-1]["note"] == "disetujui walau ada masalah: sudah dicek dengan KTP asli"
    assert "### pendaftaran-000002" in texts(at)
