"""The review screens in a real browser: keys, the per-field batch, edits never lost, conflicts, no markup injection.

Each test makes a small store with hand-drawn pages (``tests/app/conftest.py``), starts
``susulan review`` on it as a process and drives Debian's Chromium at 1366×768.
"""

from __future__ import annotations

import http.server
import importlib.util
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.store import Store
from pipeline.store import review as rv
from susulan_tools.review_bench import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, log_in, served

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
_spec = importlib.util.spec_from_file_location("app_factory",
                                               Path(__file__).resolve().parents[1] / "app" / "conftest.py")
factory_mod = sys.modules.setdefault("app_factory", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(factory_mod)  # type: ignore[union-attr]
Factory, queue_row, PASSWORD = factory_mod.Factory, factory_mod.queue_row, factory_mod.PASSWORD
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (make test installs it)")
    d = tmp_path / "data"
    with Store.open(d) as store:
        factory_mod.add_user(store, "ani", PASSWORD, "reviewer")
        factory_mod.add_user(store, "budi", PASSWORD, "admin")
    return d


@pytest.fixture
def browser() -> Iterator:  # noqa: ANN401
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def login(browser, url: str, name: str = "ani"):  # noqa: ANN001, ANN201 (playwright objects)
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(30000)
    log_in(page, url, name, PASSWORD)
    return page


def open_forms(page) -> None:  # noqa: ANN001
    page.get_by_role("link", name="Periksa per formulir").click()
    page.wait_for_function("() => window.__susulan && window.__susulan.ready")


def field_id(store: Store, rid: int, name: str) -> int:
    return next(f["id"] for f in store.record_fields(rid) if f["name"] == name)


def focused(page) -> str | None:  # noqa: ANN001
    return page.evaluate("() => { const e = document.activeElement; const h = e && e.closest('[data-field-id]');"
                         " return h ? h.dataset.fieldId : (e && e.dataset && e.dataset.action) || null; }")


def acked(page) -> None:  # noqa: ANN001
    """Wait until the server confirmed every action sent."""
    page.wait_for_function("() => (window.__susulanLog || []).length"
                           " && window.__susulanLog.every((x) => x.acked !== null)")


def values(data: Path, rid: int) -> dict[str, tuple[str, str, str]]:
    with Store.open(data) as store:
        return {f["name"]: (f["final_value"], f["status"], f["changed_by"]) for f in store.record_fields(rid)}


def test_enter_flow_suggestion_key_tick_digit_and_the_next_form_at_once(data: Path, browser) -> None:  # noqa: ANN001
    with Store.open(data) as store:
        f = Factory(store)
        first = f.pendaftaran(unsure={"nik": ("3529054708850013", 0.6), "name": ("SITI AMlNAH", 0.6),
                                      "payment": ("umum", 0.4)})
        second = f.pendaftaran(unsure={"name": ("BUDI", 0.7)}, name="BUDI")
        ids = {n: field_id(store, first, n) for n in ("nik", "name", "payment")}
    with served(data) as url:
        page = login(browser, url)
        open_forms(page)
        assert focused(page) == str(ids["nik"])  # the first value to check, in the order of the paper
        assert page.locator(f'[data-field-id="{ids["nik"]}"] [data-suggestion]').first.inner_text() == \
            "Alt+1 3529054708850003"
        page.keyboard.press("Alt+1")  # the other reading: the one uncertain digit fixed, and on to the next
        assert focused(page) == str(ids["name"])
        page.keyboard.type("siti aminah")
        page.keyboard.press("Enter")
        assert focused(page) == str(ids["payment"])
        page.keyboard.press("1")  # tick box 1 (BPJS), and on
        assert focused(page) == "approve"  # the approve button where the eye ends
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "review-keys-before-approve.png"))
        page.keyboard.press("Enter")
        with Store.open(data) as store:  # the next form is on screen at once, from what came with this one
            assert page.evaluate("window.__susulan.records") == [second]
            wanted = str(field_id(store, second, "name"))
        # the focus moves in the next animation frame after the sheet is drawn
        page.wait_for_function(f"() => document.activeElement?.closest('[data-field-id=\"{wanted}\"]')",
                               timeout=2000)
        assert focused(page) == wanted
        acked(page)
    v = values(data, first)
    assert v["nik"] == ("3529054708850003", "corrected", "ani") and v["name"] == ("SITI AMINAH", "corrected", "ani")
    assert v["payment"] == ("bpjs", "corrected", "ani") and v["birth_date"][1] == "auto"
    with Store.open(data) as store:
        assert store.record(first)["state"] == "approved" and store.issues(first) == []
        assert [(h["user"], h["action"]) for h in store.history(first)][-1] == ("ani", "state")


def test_typed_values_survive_skip_back_other_pages_and_reload(data: Path, browser) -> None:  # noqa: ANN001
    with Store.open(data) as store:
        f = Factory(store)
        first = f.pendaftaran(unsure={"name": ("SITI AMlNAH", 0.6), "address": ("DUSUN KRAJEN", 0.5)})
        f.pendaftaran(unsure={"name": ("BUDI", 0.7)}, name="BUDI")
        name, address = field_id(store, first, "name"), field_id(store, first, "address")
    with served(data) as url:
        page = login(browser, url)
        open_forms(page)
        assert focused(page) == str(name)
        page.keyboard.type("SITI AMINAH")  # typed, not confirmed with Enter
        page.keyboard.press("Alt+L")  # skip to the next form
        page.wait_for_function(f"() => window.__susulan.records[0] !== {first}")
        page.keyboard.press("Alt+B")  # and back
        page.wait_for_function(f"() => window.__susulan.records[0] === {first}")
        box = page.locator(f'[data-field-id="{name}"]')
        assert box.locator("input").input_value() == "SITI AMINAH" and "dirty" in box.get_attribute("class")
        page.locator(f'[data-field-id="{address}"] input').fill("DUSUN KRAJAN")
        page.get_by_role("link", name="Riwayat perubahan").click()  # away through the navigation
        page.get_by_role("heading", name="Riwayat perubahan").wait_for()
        open_forms(page)
        assert page.locator(f'[data-field-id="{address}"] input').input_value() == "DUSUN KRAJAN"
        page.reload()  # a reload keeps the login (session cookie) and the typed values
        page.wait_for_function("() => window.__susulan && window.__susulan.ready")
        assert not page.get_by_label("Nama pengguna").count()
        assert page.locator(f'[data-field-id="{name}"] input').input_value() == "SITI AMINAH"
        assert values(data, first)["name"][1] == "review"  # kept in the browser, not saved behind the person's back
        page.locator('[data-action="approve"]').click()
        acked(page)
    v = values(data, first)
    assert v["name"] == ("SITI AMINAH", "corrected", "ani") and v["address"] == ("DUSUN KRAJAN", "corrected", "ani")


def form_with_unsure_name(data: Path) -> tuple[int, int]:
    """A registration form whose name was read ``SITI AMlNAH`` at 0.6: its record id and the name's field id."""
    with Store.open(data) as store:
        rid = Factory(store).pendaftaran(unsure={"name": ("SITI AMlNAH", 0.6)})
        return rid, field_id(store, rid, "name")


def test_typed_values_are_forgotten_at_logout(data: Path, browser) -> None:  # noqa: ANN001
    rid, name = form_with_unsure_name(data)
    with served(data) as url:
        page = login(browser, url, "ani")
        open_forms(page)
        page.keyboard.type("SITI AMINAH")  # typed, not saved
        page.get_by_role("button", name="Keluar").click()
        page.get_by_label("Nama pengguna").fill("budi")
        page.get_by_label("Kata sandi").fill(PASSWORD)
        page.keyboard.press("Enter")
        open_forms(page)
        assert page.locator(f'[data-field-id="{name}"] input').input_value() == "SITI AMlNAH"  # not ani's draft
        assert page.evaluate("() => Object.keys(sessionStorage).filter((k) => k.startsWith('susulan-drafts:ani'))"
                             ".length") == 0


def test_a_conflict_is_shown_beside_the_field(data: Path, browser) -> None:  # noqa: ANN001
    rid, name = form_with_unsure_name(data)
    with served(data) as url:
        ani, budi = login(browser, url, "ani"), login(browser, url, "budi")
        open_forms(ani)
        open_forms(budi)
        budi.keyboard.type("SITI AMINAH")
        budi.keyboard.press("Alt+S")  # save only
        acked(budi)
        ani.keyboard.type("SITI AMINA")
        ani.keyboard.press("Enter")
        ani.keyboard.press("Enter")  # approve: refused, the newer value is named beside the field
        box = ani.locator(f'[data-field-id="{name}"] .sus-conflict')
        box.wait_for()
        assert "baru saja diubah oleh budi" in box.inner_text() and "SITI AMINAH" in box.inner_text()
        assert ani.locator(f'[data-field-id="{name}"] input').input_value() == "SITI AMINA"  # kept for a look
        assert focused(ani) == str(name)  # the focus is beside the message
        ani.screenshot(path=str(ARTIFACTS / "review-conflict.png"))
    with Store.open(data) as store:
        assert store.record(rid)["state"] == "review"
        assert values(data, rid)["name"] == ("SITI AMINAH", "corrected", "budi")


def test_a_value_the_machine_read_again_while_the_form_was_open_is_shown_beside_the_field(
        data: Path, browser) -> None:  # noqa: ANN001
    rid, name = form_with_unsure_name(data)
    with served(data) as url:
        ani = login(browser, url, "ani")
        open_forms(ani)
        ani.keyboard.type("SITI AMINA")
        with Store.open(data) as store:  # a background re-read after learning (pipeline.reread) changes it
            row = store.field(name)
            assert store.revise_machine(name, row["version"], "SITI AMINAH", 0.97, "review", None,
                                        "dibaca ulang dengan model icr-test")
        ani.keyboard.press("Enter")
        ani.keyboard.press("Enter")  # approve: refused, the machine's newer reading named beside the field
        box = ani.locator(f'[data-field-id="{name}"] .sus-conflict')
        box.wait_for()
        assert "diubah oleh mesin" in box.inner_text() and "SITI AMINAH" in box.inner_text()
        assert ani.locator(f'[data-field-id="{name}"] input').input_value() == "SITI AMINA"  # kept for a look
        ani.screenshot(path=str(ARTIFACTS / "review-conflict-machine.png"))
    with Store.open(data) as store:
        assert store.record(rid)["state"] == "review"
        assert values(data, rid)["name"][:2] == ("SITI AMINAH", "review")


def test_grid_confirms_exactly_the_rows_on_the_screen(data: Path, browser) -> None:  # noqa: ANN001
    with Store.open(data) as store:
        f = Factory(store)
        rows = []
        for sheet in range(3):
            wrong = {(0, "name"): ("MOH H0LILI", 0.5)} if sheet == 0 else {}
            rows += f.antrean([queue_row(queue_no=f"{sheet * 10 + i + 1:03d}", name="MOH HOLILI") for i in range(10)],
                              unsure={(i, "name"): ("MOH HOLILI", 0.6 + sheet / 1000 + i / 100) for i in range(10)}
                              | wrong)
    with served(data) as url:
        page = login(browser, url)
        page.get_by_role("link", name="Periksa per kolom").click()
        page.wait_for_function("() => window.__susulan && window.__susulan.ready")
        shown = page.locator(".sus-line[data-field-id]")
        n = shown.count()
        assert 3 <= n < 30  # a batch sized to the screen, every snippet whole
        button = page.locator('[data-action="approve"]')
        assert button.inner_text().startswith(f"Benar semua yang tampil ({n})")
        page.keyboard.type("MOH HOLILI")  # the first row (least sure) was misread
        for _ in range(n):
            page.keyboard.press("Enter")
        assert focused(page) == "approve"
        page.screenshot(path=str(ARTIFACTS / "review-grid.png"))
        ids = [int(x) for x in shown.evaluate_all("els => els.map((e) => e.dataset.fieldId)")]
        page.keyboard.press("Enter")
        acked(page)
    with Store.open(data) as store:
        done = store.q("SELECT id, status, changed_by, final_value FROM fields WHERE name = 'name' "
                       "AND status IN ('confirmed', 'corrected')")
        assert sorted(r["id"] for r in done) == sorted(ids)
        assert {(r["changed_by"], r["final_value"]) for r in done} == {("ani", "MOH HOLILI")}
        assert [r["status"] for r in done].count("corrected") == 1
        audit = store.q("SELECT user, action FROM audit WHERE action IN ('set', 'confirm')")
        assert len(audit) == n and {a["user"] for a in audit} == {"ani"}


def test_a_queue_sheet_is_one_screen_and_one_approval(data: Path, browser) -> None:  # noqa: ANN001
    with Store.open(data) as store:
        rows = Factory(store).antrean([queue_row(queue_no=f"{i + 1:03d}") for i in range(12)],
                                      unsure={(3, "name"): ("MOH H0LILI", 0.5), (7, "arrival_time"): ("07:48", 0.6)})
    with served(data) as url:
        page = login(browser, url)
        open_forms(page)
        assert sorted(page.evaluate("window.__susulan.records")) == sorted(rows)
        page.keyboard.type("MOH HOLILI")
        page.keyboard.press("Enter")
        page.keyboard.press("Enter")  # 07:48 is right
        page.screenshot(path=str(ARTIFACTS / "review-queue-sheet.png"))
        page.keyboard.press("Enter")
        page.get_by_text("tidak ada formulir lagi").wait_for()
        acked(page)
    with Store.open(data) as store:
        assert {store.record(r)["state"] for r in rows} == {"approved"}


def test_alt_x_takes_a_crossed_out_row_and_a_spoilt_form_out_of_the_work(data: Path, browser) -> None:  # noqa: ANN001
    with Store.open(data) as store:
        f = Factory(store)
        rows = f.antrean([queue_row(queue_no=f"{i + 1:03d}") for i in range(4)],
                         unsure={(1, "name"): ("XKXXKX", 0.3), (3, "arrival_time"): ("07:48", 0.6)})
        form = f.pendaftaran(unsure={"name": ("XXXX", 0.3)}, name="XXXX")
        crossed, spoilt = field_id(store, rows[1], "name"), field_id(store, form, "name")
        late = next(x["id"] for x in store.record_fields(rows[3]) if x["name"] == "arrival_time"
                    and x["record_no"] == 3)
    with served(data) as url:
        page = login(browser, url)
        open_forms(page)
        assert focused(page) == str(crossed)
        page.keyboard.press("Alt+X")  # this row is no patient: its values leave the Enter flow
        assert focused(page) == str(late)
        assert page.locator(f'tr[data-record-id="{rows[1]}"]').get_attribute("class") == "sus-void"
        page.get_by_text("1 baris ditandai bukan pasien").wait_for()
        page.keyboard.press("Enter")  # 07:48 is right
        assert focused(page) == "approve"
        page.screenshot(path=str(ARTIFACTS / "review-void-row.png"))
        page.keyboard.press("Enter")
        page.wait_for_function(f"() => document.activeElement?.closest('[data-field-id=\"{spoilt}\"]')")
        page.keyboard.press("Alt+X")
        page.keyboard.press("Alt+X")  # changed their mind: it is a patient after all
        assert focused(page) == str(spoilt)
        page.keyboard.press("Alt+X")
        assert focused(page) == "approve"
        page.screenshot(path=str(ARTIFACTS / "review-void-form.png"))
        page.keyboard.press("Enter")
        page.get_by_text("tidak ada formulir lagi").wait_for()
        acked(page)
    with Store.open(data) as store:
        assert [store.record(r)["state"] for r in rows] == ["approved", "void", "approved", "approved"]
        assert store.record(form)["state"] == "void"
        assert {(x["final_value"], x["status"]) for x in store.record_fields(rows[1]) if x["id"] == crossed} == \
            {("XKXXKX", "review")}  # nothing confirmed in a row that is no patient
        assert [(h["user"], h["new"]) for h in store.history(form) if h["action"] == "state"] == [("ani", "void")]


def test_flag_with_alt_t_and_an_admin_approves_despite_a_failing_rule(data: Path, browser) -> None:  # noqa: ANN001
    with Store.open(data) as store:
        f = Factory(store)
        flagged = f.pendaftaran(unsure={"sex": ("L", 0.3)})  # the NIK says P: a blocking rule
        overridden = f.pendaftaran(unsure={"sex": ("L", 0.4)}, name="BUDI")
    with served(data) as url:
        page = login(browser, url, "budi")
        open_forms(page)
        assert page.evaluate("window.__susulan.records") == [flagged]
        page.locator(".sus-note-input").fill("KTP asli tidak dibawa")
        page.keyboard.press("Alt+T")
        page.wait_for_function(f"() => window.__susulan.records[0] === {overridden}")
        page.locator('[data-action="approve"]').click()
        page.get_by_text("Belum bisa disetujui").wait_for()  # refused, the rule named beside the field
        page.locator(".sus-note-input").fill("jenis kelamin dicek langsung dengan pasien")
        page.locator('[data-action="override"]').click()
        page.get_by_text("tidak ada formulir lagi").wait_for()
    with Store.open(data) as store:
        assert (store.record(flagged)["state"], store.record(flagged)["flagged"]) == ("flagged",
                                                                                      "KTP asli tidak dibawa")
        assert store.record(overridden)["state"] == "approved"
        assert store.history(overridden)[-1]["note"] == ("disetujui walau ada masalah: jenis kelamin dicek langsung "
                                                         "dengan pasien")


class _Tracker(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        _Tracker.hits.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_markdown_from_scans_and_people_is_shown_as_text(data: Path, browser) -> None:  # noqa: ANN001
    tracker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Tracker)
    threading.Thread(target=tracker.serve_forever, daemon=True).start()
    evil = f"http://127.0.0.1:{tracker.server_address[1]}"
    village = f"![x]({evil}/village.png)"
    with Store.open(data) as store:
        f = Factory(store)
        rid = f.pendaftaran(unsure={"village": (village, 0.3), "name": (f"[klik]({evil}/name)", 0.4)})
        other = f.pendaftaran()
        rv.flag(store, other, "budi", f"**tebal** ![y]({evil}/note.png) <img src={evil}/html.png>")
        f.problem_page(message=f"![z]({evil}/message.png)")
        bad = store.add_file("0" * 64, f"![f]({evil}/file.png).pdf", "originals/x.pdf", 1,
                             store.start_batch("tests", "tests"))
        store.set_file(bad, status="problem", reason="pdf_unreadable", message=f"[m]({evil}/m)")
    _Tracker.hits.clear()
    try:
        with served(data) as url:
            page = login(browser, url, "budi")
            page.get_by_text("Halaman yang tidak bisa dibaca").wait_for()
            for link in ("Periksa per formulir", "Periksa per kolom", "Riwayat perubahan", "Unggah pindaian",
                         "Ringkasan"):
                page.get_by_role("link", name=link).click()
                page.wait_for_timeout(1500)
                bad = page.locator(f'img[src^="{evil}"], a[href^="{evil}"]')
                assert not bad.count(), (link, bad.evaluate_all("els => els.map((e) => e.parentElement.outerHTML)"))
            page.get_by_role("link", name="Periksa per formulir").click()
            page.wait_for_function("() => window.__susulan && window.__susulan.ready")
            text = page.locator(".sus").inner_text()
            assert village in text and f"Desa '{village}' tidak dikenal" in text  # the value and the rule message
            page.get_by_role("link", name="Unggah pindaian").click()
            page.get_by_text(f"![f]({evil}/file.png).pdf", exact=False).wait_for()
            page.wait_for_timeout(500)
    finally:
        tracker.shutdown()
    assert _Tracker.hits == []  # no browser ever fetched anything from the scan's or a person's text
    assert rid
