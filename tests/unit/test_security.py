"""Accounts (password rule, lockout, audit, timing), person-set values and spreadsheet cells, on a real store."""

from __future__ import annotations

import statistics
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from pipeline.errors import BadInput
from pipeline.export import rows
from pipeline.sanitize import cell, person_value
from pipeline.store import Store
from pipeline.store import users as accounts

PASSWORD = "tiga-kata-acak"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "data")
    accounts.add_user(s, "ani", PASSWORD, "reviewer")
    return s


@pytest.mark.parametrize("password", ["123456", "rahasia", "1234567890", "puskesmas123", "aaaaaaaaaaaa",
                                      "ababababab"])
def test_weak_passwords_are_refused(store: Store, password: str) -> None:
    with pytest.raises(BadInput):
        accounts.add_user(store, "budi", password, "admin")
    assert accounts.password_problem(password)


def test_a_sensible_password_is_taken() -> None:
    assert accounts.password_problem("kopi-pagi-bluto") == ""


@pytest.mark.slow
def test_lockout_after_five_failures_even_with_the_right_password(store: Store) -> None:
    for _ in range(accounts.LOCK_AFTER):
        with pytest.raises(accounts.LoginFailed) as e:
            accounts.verify(store, "ani", "salah-sekali", "10.0.0.7")
        assert not isinstance(e.value, accounts.LoginLocked)
    with pytest.raises(accounts.LoginLocked, match="Coba lagi dalam"):
        accounts.verify(store, "ani", PASSWORD, "10.0.0.8")
    failed = store.q("SELECT \"user\", action, field, note FROM audit WHERE action LIKE 'login%' ORDER BY id")
    assert [r["action"] for r in failed] == ["login_failed"] * accounts.LOCK_AFTER + ["login_locked"]
    assert "10.0.0.7" in failed[0]["note"]
    accounts.unlock(store, "ani", "budi")
    assert accounts.verify(store, "ani", PASSWORD, "10.0.0.8").name == "ani"


@pytest.mark.slow
def test_one_address_guessing_many_names_is_locked(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts, "FAIL_SECONDS", 0.0)
    for i in range(accounts.ADDRESS_LOCK_AFTER):
        with pytest.raises(accounts.LoginFailed):
            accounts.verify(store, f"tebak{i}", "salah-sekali", "10.0.0.9")
    with pytest.raises(accounts.LoginLocked):
        accounts.verify(store, "ani", PASSWORD, "10.0.0.9")
    assert accounts.verify(store, "ani", PASSWORD, "10.0.0.10").name == "ani"  # other machines still work


@pytest.mark.slow
def test_unknown_and_known_names_are_refused_in_the_same_time(store: Store) -> None:
    def took(name: str) -> float:
        start = time.perf_counter()
        with pytest.raises(accounts.LoginFailed):
            accounts.verify(store, name, "salah-sekali")
        return time.perf_counter() - start

    unknown = statistics.median(took(f"siapa{i}") for i in range(3))
    known = statistics.median(took("ani") for _ in range(3))
    assert abs(unknown - known) < 0.1 * max(unknown, known)
    assert min(unknown, known) >= accounts.FAIL_SECONDS


def test_sessions_end_on_logout_disable_and_password_reset(store: Store) -> None:
    ani = accounts.get_user(store, "ani")
    token, handoff = accounts.open_session(store, ani, "10.0.0.7")
    assert accounts.session_user(store, token) == ani
    cookie, seconds = accounts.take_handoff(store, handoff)
    assert accounts.take_handoff(store, handoff) is None  # one use only
    assert accounts.session_user(store, cookie) == ani and seconds > 11 * 3600
    accounts.close_session(store, token)
    assert accounts.session_user(store, token) is None and accounts.session_user(store, cookie) is None
    token, _ = accounts.open_session(store, ani)
    accounts.set_active(store, "ani", False, "budi")
    assert accounts.session_user(store, token) is None
    accounts.set_active(store, "ani", True, "budi")
    token, _ = accounts.open_session(store, ani)
    accounts.add_user(store, "ani", "kata-sandi-baru", "reviewer", replace=True, by="budi")
    assert accounts.session_user(store, token) is None
    assert store.q("SELECT COUNT(*) AS n FROM sessions WHERE token_hash = ?", (token,))[0]["n"] == 0  # hashed


@pytest.mark.parametrize("typed, kind, stored", [
    ("0812345678²", "digits", "08123456782"), ("①②③", "digits", "123"), ("０１２", "digits", "012"),
    ("SITI\u202eHANIMA", "letters", "SITIHANIMA"), ("  KAPEDI\u200b ", "letters", "KAPEDI"),
    ("2025-10-30", "date", "2025-10-30"),
])
def test_person_values_are_normalised(typed: str, kind: str, stored: str) -> None:
    assert person_value(typed, kind) == stored


@pytest.mark.parametrize("typed, kind", [("12a", "digits"), ("٣٤", "digits"), ("x" * 201, "text")])
def test_person_values_that_cannot_be_valid_are_refused(typed: str, kind: str) -> None:
    with pytest.raises(BadInput):
        person_value(typed, kind)


def test_superscript_digit_through_the_store_is_saved_as_ascii(tmp_path: Path) -> None:
    from tests.app.conftest import Factory

    s = Store(tmp_path / "d")
    factory = Factory(s)
    rid = factory.pendaftaran()
    rt = next(f for f in s.record_fields(rid) if f["name"] == "rt")
    s.set_value(rt["id"], "00²", "ani", rt["version"])
    assert s.field(rt["id"])["final_value"] == "002"
    from pipeline.store import review as rv

    assert rv.approve_confident(s, "ani")[0] >= 0  # validation and approval run without a crash


@pytest.mark.parametrize("value, safe", [
    ("=HYPERLINK(\"http://x\",\"klik\")", "'=HYPERLINK(\"http://x\",\"klik\")"), ("+1+1", "'+1+1"),
    ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=1+1", "'=1+1"), ("-12", "-12"), ("+6281234567", "+6281234567"),
    ("SITI AMINAH", "SITI AMINAH"), ("ab\u202ecd", "abcd"),
])
def test_cells_are_neutralised(value: str, safe: str) -> None:
    assert cell(value) == safe


def test_csv_and_xlsx_cells_never_run(tmp_path: Path) -> None:
    frame = pd.DataFrame({"name": ["=1+1", "@A1", "+6281234567", "SITI\u202e"], "rt": ["-2+3", "002", "", "x"]})
    rows.write_table(frame, tmp_path / "t.csv", "csv")
    text = (tmp_path / "t.csv").read_text(encoding="utf-8-sig")
    assert "'=1+1" in text and "'@A1" in text and "'-2+3" in text and "+6281234567" in text
    assert "\u202e" not in text
    rows.write_table(frame, tmp_path / "t.xlsx", "xlsx")
    sheet = load_workbook(tmp_path / "t.xlsx").active
    assert [c.value for c in sheet["A"]] == ["name", "=1+1", "@A1", "+6281234567", "SITI"]
    assert all(c.data_type == "s" for col in ("A", "B") for c in sheet[col] if c.value is not None)
    with zipfile.ZipFile(tmp_path / "t.xlsx") as z:
        assert "<f>" not in z.read("xl/worksheets/sheet1.xml").decode()


def test_exports_are_audited_and_spreadsheet_safe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.cli import main
    from tests.app.conftest import Factory

    data = tmp_path / "d"
    with Store.open(data) as s:
        rid = Factory(s).pendaftaran()
        name = next(f for f in s.record_fields(rid) if f["name"] == "name")
        s.set_value(name["id"], "=HYPERLINK(\"http://x\")", "ani", name["version"])
    assert main(["export", "--format", "xlsx", "--out", str(tmp_path / "e.xlsx"), "--data-dir", str(data)]) == 0
    sheet = load_workbook(tmp_path / "e.xlsx").active
    values = [c for row in sheet.iter_rows() for c in row if c.value == "=HYPERLINK(\"http://x\")"]
    assert values and all(c.data_type == "s" for c in values)
    with Store.open(data) as s:
        [row] = s.q("SELECT \"user\", action, field, new, note FROM audit WHERE action = 'export'")
    assert row["user"].startswith("cli:") and row["new"] == "1" and row["note"] == "xlsx"


def test_lan_serving_names_usable_addresses_and_advises_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.commands import review

    monkeypatch.setattr(review, "lan_addresses", lambda: ["192.168.1.20"])
    text = review.serving_text("0.0.0.0", 8501, Path("/data"))
    assert "http://192.168.1.20:8501" in text and "http://0.0.0.0" not in text
    assert "TLS" in text and "docs/security.md" in text
    assert "http://localhost:8501" in review.serving_text("127.0.0.1", 8501, Path("/data"))
