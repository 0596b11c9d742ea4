"""CLI of the forms kit: exact outputs and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli import main


def test_forms_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["forms", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in out] == ["antrean", "pendaftaran"]


def test_forms_layout_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["forms", "layout", "--form", "pendaftaran"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [f["form_id"] for f in data["forms"]] == ["pendaftaran"]
    assert data["forms"][0]["page_mm"] == [210.0, 297.0]


def test_print_assigns_unique_serials_and_continues(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dd = tmp_path / "data"
    assert main(["forms", "print", "--form", "antrean", "--count", "3", "--out", str(tmp_path / "a.pdf"),
                 "--data-dir", str(dd)]) == 0
    first = capsys.readouterr()
    assert first.out.split() == ["antrean-000001", "antrean-000002", "antrean-000003"]
    assert "wrote 3 page(s)" in first.err
    assert main(["forms", "print", "--form", "antrean", "--count", "2", "--out", str(tmp_path / "b.pdf"),
                 "--data-dir", str(dd)]) == 0
    assert capsys.readouterr().out.split() == ["antrean-000004", "antrean-000005"]
    assert main(["forms", "print", "--form", "antrean", "--count", "1", "--start-serial", "500",
                 "--out", str(tmp_path / "c.pdf"), "--data-dir", str(dd)]) == 0
    assert capsys.readouterr().out.split() == ["antrean-000500"]
    assert (tmp_path / "a.pdf").read_bytes()[:4] == b"%PDF"


@pytest.mark.parametrize("args, message", [
    (["forms", "print", "--form", "nope", "--count", "1", "--out", "x.pdf"], "unknown form 'nope'"),
    (["forms", "print", "--form", "antrean", "--count", "0", "--out", "x.pdf"], "--count must be"),
    (["forms", "print", "--form", "antrean", "--count", "1", "--out", "/no/such/dir/x.pdf"], "folder does not exist"),
    (["forms", "layout", "--form", "pendaftaran", "--version", "7"], "has no version 7"),
])
def test_bad_arguments_one_line_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch, args: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(args) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_usage_error_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["forms", "print", "--count", "x"])
    assert e.value.code == 2


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    import pipeline.commands  # noqa: F401  (registers every command group)
    from pipeline.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        assert p.description or p.format_help(), name
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0
