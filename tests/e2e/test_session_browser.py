"""Login sessions in a real browser against the real server: a reload keeps the login, a disabled account is
logged out at once, page images and downloads need a live session, logging out ends it."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.store import Store
from pipeline.store import users as accounts
from susulan_tools.review_bench import CHROMIUM, CHROMIUM_ARGS, RUNNING, log_in, served

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PASSWORD = "tiga-kata-acak"


def susulan(*args: str, ok: tuple[int, ...] = (0,)) -> None:
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode in ok, f"susulan {' '.join(args)} -> {proc.returncode}\n{proc.stderr}"


@dataclass
class Server:
    url: str
    data: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (make test installs it)")
    base = tmp_path_factory.mktemp("session")
    data = base / "data"
    susulan("forms", "print", "--form", "pendaftaran", "--count", "1", "--out", str(base / "f.pdf"),
            "--data-dir", str(data))
    susulan("ingest", str(base / "f.pdf"), "--data-dir", str(data), "--jobs", "1", ok=(0, 4))
    (base / "pw").write_text(PASSWORD + "\n")
    for name, role in (("ani", "reviewer"), ("budi", "admin")):
        susulan("users", "add", name, "--role", role, "--password-file", str(base / "pw"), "--data-dir", str(data))
    with served(data, log=base / "server.log") as url:
        yield Server(url, data)


def status_without_cookie(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def session_cookie(context) -> dict:  # noqa: ANN001
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [c for c in context.cookies() if c["name"] == accounts.COOKIE]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError("no session cookie was set")


def test_reload_keeps_login_media_needs_session_logout_ends_it(server: Server) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        page = context.new_page()
        page.set_default_timeout(30000)
        log_in(page, server.url, "ani", PASSWORD)
        cookie = session_cookie(context)
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert cookie["expires"] > time.time() + 11 * 3600  # about a working day
        page.reload()
        page.get_by_text("Masuk sebagai ani").wait_for()  # the reload kept the login
        assert page.get_by_label("Kata sandi").count() == 0
        page.get_by_role("link", name="Ekspor data").click()
        page.get_by_text("Semua (termasuk yang belum diperiksa)").click()
        page.get_by_text("Baris yang belum diperiksa bisa berisi salah baca").wait_for()
        page.locator(RUNNING).wait_for(state="detached")  # the rerun is over: the button is the new one
        with page.expect_download() as download:  # the CSV with NIKs is served under /media/
            page.get_by_role("button", name="Unduh CSV").click()
        media = download.value.url
        assert "/media/" in media
        assert page.request.get(media).status == 200  # the browser, with its cookie
        assert status_without_cookie(media) == 403  # anyone else on the network
        page.get_by_role("button", name="Keluar").click()
        page.get_by_label("Kata sandi").wait_for()
        page.reload()
        page.get_by_label("Kata sandi").wait_for()  # logged out stays logged out
        time.sleep(6)  # past the server's 5 s memory of live cookies
        stale = urllib.request.Request(media, headers={"Cookie": f"{accounts.COOKIE}={cookie['value']}"})
        assert status_without_cookie(stale) == 403  # the old cookie is worth nothing now
        browser.close()


def test_disabled_account_is_logged_out_of_an_open_session(server: Server) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.set_default_timeout(30000)
        log_in(page, server.url, "ani", PASSWORD)
        with Store.open(server.data) as store:
            accounts.set_active(store, "ani", False, "budi")
        try:
            page.get_by_role("link", name="Riwayat perubahan").click()  # any rerun
            page.get_by_label("Kata sandi").wait_for()
            assert page.get_by_text("Masuk sebagai ani").count() == 0
            page.reload()
            page.get_by_label("Kata sandi").wait_for()
            page.get_by_label("Nama pengguna").fill("ani")
            page.get_by_label("Kata sandi").fill(PASSWORD)
            page.keyboard.press("Enter")
            page.get_by_text("kata sandi salah").wait_for()
        finally:
            with Store.open(server.data) as store:
                accounts.set_active(store, "ani", True, "budi")
        browser.close()
