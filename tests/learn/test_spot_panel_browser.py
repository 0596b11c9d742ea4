"""The spot-check estimate on the overview, in the real app served by ``susulan review``, seen by Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.learn import spotcheck
from pipeline.store import Store
from pipeline.store import spotchecks as repo
from pipeline.store.users import add_user
from susulan_tools.review_bench import CHROMIUM, CHROMIUM_ARGS, log_in, served
from tests.learn.clinic import Clinic, writer_glyphs

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "kata-sandi-uji"


def test_overview_shows_the_spot_check_estimate(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    data = tmp_path / "data"
    with Store.open(data) as store:
        Clinic(store, writer_glyphs(""), {}).add_pages(15, seed=5)
        assert spotcheck.sample(store, seed=1) == 20
        for i, c in enumerate(repo.checks(store)):
            f = store.field(c["field_id"])
            if i == 0:
                store.set_value(f["id"], "1" * len(f["final_value"]), "ani", f["version"])
            else:
                store.confirm(f["id"], "ani", f["version"])
        add_user(store, "ani", PASSWORD, "reviewer")
        want = spotcheck.headline(spotcheck.estimates(store)["all"])
    assert want == "perkiraan salah di nilai otomatis: 5,0 % (≤ 22 %)"
    with served(data, log=tmp_path / "server.log") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.set_default_timeout(30000)
        log_in(page, url, "ani", PASSWORD)
        page.get_by_role("heading", name="Ringkasan").wait_for()
        page.get_by_text("Perkiraan salah di nilai otomatis: 5,0 % (≤ 22 %)").wait_for()
        text = " ".join(page.locator("body").inner_text().split())
        assert "dari 20 nilai otomatis yang dipilih acak dan diperiksa petugas, 1 salah" in text
        page.get_by_text("Perkiraan salah per jenis isian").click()
        page.locator('[data-testid="stExpander"] [data-testid="stDataFrame"]').first.wait_for()
        page.locator("th", has_text="Batas atas (95 %)").first.wait_for(state="attached")  # grid on a canvas
        page.wait_for_timeout(500)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "review-spot-checks.png"), full_page=True)
        browser.close()
