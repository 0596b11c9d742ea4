"""The review app's flows with Streamlit's AppTest on a temporary store (no browser)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from conftest import APP, PASSWORD, Factory
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
    """Every message and text, as shown (markdown escapes and invisible joiners taken out)."""
    parts = [e.value for kind in ("success", "error", "warning", "info", "markdown", "caption")
             for e in getattr(at, kind)] + [h.proto.body for h in at.get("html")]
    return "\n".join(str(p) for p in parts).replace("\\", "").replace("\u2060", "")


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
    assert [m.label for m in at.metric][:2] == ["Formulir terbaca", "Pasien (baris)"]  # sheets, then records


def test_accept_confident_button(app_env: Path, factory: Factory) -> None:
    factory.pendaftaran()
    factory.pendaftaran(unsure={"name": ("SITI AMlNAH", 0.6)})
    at = logged_in("budi")
    button(at, "Setujui yang tidak perlu dicek").click()
    at.run()
    assert "1 pasien disetujui tanpa pemeriksaan per nilai. 1 pasien masih perlu diperiksa" in at.success[0].value


@pytest.mark.slow
def test_upload_unreadable_page_then_discard(app_env: Path) -> None:
    png = io.BytesIO()
    Image.new("L", (400, 560), 255).save(png, "PNG")
    at = open_page(logged_in("ani"), "upload")
    at.file_uploader(key="upload_files").set_value(("kosong.png", png.getvalue(), "image/png"))
    button(at, "Baca berkas").click()
    at.run(timeout=120)
    assert not at.exception, at.exception
    assert "Sedang dibaca: 1 unggahan" in texts(at)  # read by its own process, not by the web server
    deadline = time.monotonic() + 120
    while "1 halaman perlu perhatian (1 halaman kosong)" not in texts(at) and time.monotonic() < deadline:
        time.sleep(1)
        at.run(timeout=60)
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
    assert "1 dari 1 pasien (baris) sudah disetujui" in at.get("progress")[0].proto.text
    open_page(at, "export")
    assert "**1** pasien akan diekspor" in texts(at)
    open_page(at, "history")
    assert "Riwayat perubahan" in at.title[0].value
    assert list(at.dataframe[0].value.columns)[0] == "Waktu (WIB)"
    assert at.dataframe[0].value.iloc[0, 0].endswith(" WIB")
    open_page(at, "record")  # drawn by the review component (driven in tests/e2e)
    open_page(at, "field")
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
    print(f"500 pages: overview {first:.2f} s, first sheet {review:.2f} s")  # a figure, not a pass mark
    assert not at.exception
    assert at.selectbox(key="rq_jump0").options[0].startswith("1. pendaftaran-")  # 500 sheets, worst first
    assert len(at.selectbox(key="rq_jump0").options) == 500

