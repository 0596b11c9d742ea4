"""The "Impor ke ERM" page in a real headless Chromium against ``susulan review``: "data kurang" rows shown,
one completed by typing what the paper lacked. Screenshots land in ``test-artifacts/``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.erm import api
from pipeline.store import Store, audit
from susulan_tools.review_bench import CHROMIUM, CHROMIUM_ARGS, log_in, served

from .conftest import build_world

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "kata-sandi-uji-erm"


def test_plan_screen_lists_data_kurang_and_a_clerk_completes_one(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    world = build_world(tmp_path)
    with Store.open(world.data_dir) as store:
        api.confirm_plan(store, "budi")  # so the page offers the import files
    (tmp_path / "pw").write_text(PASSWORD + "\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pipeline.cli", "users", "add", "budi", "--role", "admin",
                    "--password-file", str(tmp_path / "pw"), "--data-dir", str(world.data_dir)], check=True,
                   capture_output=True, timeout=120)
    ARTIFACTS.mkdir(exist_ok=True)
    with served(world.data_dir, log=tmp_path / "server.log") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 3600})  # the whole page, no inner scroll
        page.set_default_timeout(30000)
        log_in(page, url, "budi", PASSWORD)
        page.get_by_role("link", name="Impor ke ERM").click()
        page.get_by_text("Data kurang (3)").wait_for()
        rid = world.ids["name_only"]
        card = page.locator(f".st-key-erm_incomplete_{rid}")
        assert "NIK (SATUSEHAT)" in card.inner_text() and "desa (kode wilayah) (SATUSEHAT)" in card.inner_text()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "erm-data-kurang.png"), full_page=True)

        for label, value in (("NIK", "3529056607800004"), ("Jenis kelamin", "P"),
                             ("Tanggal lahir", "26-07-1980"), ("Desa (kode wilayah)", "Lobuk")):
            card.get_by_label(label).fill(value)
        card.get_by_role("button", name="Simpan").click()
        page.get_by_text("data dilengkapi").wait_for()
        page.get_by_text("Data kurang (2)").wait_for()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "erm-data-kurang-completed.png"), full_page=True)
        with page.expect_download() as got:
            page.get_by_role("button", name="Unduh berkas impor (CSV)").click()
        csv_rows = Path(got.value.path()).read_text(encoding="utf-8-sig").splitlines()
        page.wait_for_timeout(1000)
        browser.close()
    with Store.open(world.data_dir) as store:
        row = next(r for r in api.plan_rows(store) if r["record_id"] == rid)
        added = {a["field"]: a["new"] for a in store.history(rid) if a["action"] == "add"}
        downloads = [(a["user"], a["field"], a["new"], a["note"]) for a in audit.recent(store.db)
                     if a["action"] == "export"]
    assert len(csv_rows) == 1 + 8 and downloads == [("budi", "download erm import file", "8", "csv")]
    assert row["action"] == "insert" and added == {"nik": "3529056607800004", "sex": "P",
                                                   "birth_date": "1980-07-26", "village": "LOBUK"}
