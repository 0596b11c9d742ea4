"""``susulan users``, ``susulan approve --confident`` and ``susulan review`` (server start stubbed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import Factory

from pipeline.cli import main
from pipeline.commands import review as cmd
from pipeline.store import Store
from pipeline.store.users import verify


def test_users_add_from_file_never_echoes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = tmp_path / "pw"
    secret.write_text("sangat-rahasia\n")
    data = tmp_path / "data"
    assert main(["users", "add", "eka", "--role", "admin", "--password-file", str(secret), "--data-dir",
                 str(data)]) == 0
    out = capsys.readouterr()
    assert "sangat-rahasia" not in out.out + out.err and "account eka (admin) saved" in out.err
    with Store.open(data) as store:
        assert verify(store, "eka", "sangat-rahasia").is_admin
    assert main(["users", "add", "eka", "--role", "admin", "--password-file", str(secret), "--data-dir",
                 str(data)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["users", "add", "bad name", "--role", "reviewer", "--password-file", str(secret),
                 "--data-dir", str(data)]) == 1
    assert main(["users", "list", "--data-dir", str(data)]) == 0
    assert capsys.readouterr().out.startswith("eka\tadmin\tactive")


def test_approve_confident(data_dir: Path, factory: Factory, capsys: pytest.CaptureFixture[str]) -> None:
    factory.pendaftaran()
    factory.pendaftaran(unsure={"name": ("SITI AMlNAH", 0.6)})
    assert main(["approve", "--data-dir", str(data_dir)]) == 1
    assert "--confident" in capsys.readouterr().err
    assert main(["approve", "--confident", "--user", "nobody", "--data-dir", str(data_dir)]) == 1
    assert main(["approve", "--confident", "--user", "budi", "--data-dir", str(data_dir)]) == 0
    assert capsys.readouterr().out == "approved 1 record(s); 1 still need a person\n"


def test_review_needs_an_account(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["review", "--data-dir", str(tmp_path / "empty")]) == 1
    assert "susulan users add" in capsys.readouterr().err


def test_review_starts_streamlit_privately(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[list[str]] = []
    from streamlit.web import cli as stcli

    monkeypatch.setattr(stcli.main, "main", lambda args, **kw: calls.append(args))
    monkeypatch.setenv(cmd.DATA_ENV, "placeholder")  # restored after the test
    assert main(["review", "--data-dir", str(data_dir), "--port", "9123"]) == 0
    args = calls[0]
    assert args[:2] == ["run", str(cmd.APP)] and Path(args[1]).exists()
    flags = dict(zip(args[2::2], args[3::2]))
    assert flags["--server.address"] == "127.0.0.1" and flags["--server.port"] == "9123"
    assert flags["--browser.gatherUsageStats"] == "false" and flags["--server.enableXsrfProtection"] == "true"
    assert os.environ[cmd.DATA_ENV] == str(data_dir.resolve())
    assert "warning" not in capsys.readouterr().err
    assert main(["review", "--data-dir", str(data_dir), "--host", "0.0.0.0"]) == 0
    assert "warning: serving on 0.0.0.0" in capsys.readouterr().err


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                                ("0.0.0.0", False), ("192.168.1.5", False), ("pc-pendaftaran", False)])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert cmd.is_loopback(host) is loopback
