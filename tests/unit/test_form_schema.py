"""The form YAML schema: unknown keys refused, meaning (roles) declared there and used by the rules."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pipeline import forms
from pipeline.errors import BadInput
from pipeline.validate import validate_record

PRINTED = {("pendaftaran", 1): "b0feecb4", ("antrean", 1): "5d454ad1"}
"""Fingerprints of the form versions already printed and in use: they must never change."""


def raw(form_id: str) -> dict:
    return yaml.safe_load((forms.CHECKOUT_FORMS / form_id / "v1.yaml").read_text(encoding="utf-8"))


def test_printed_forms_keep_their_fingerprints() -> None:
    assert {(f.form_id, f.version): f.fingerprint for f in forms.load_all()} == PRINTED


def test_meaning_is_not_layout() -> None:
    plain = copy.deepcopy(raw("pendaftaran"))
    for f in plain["fields"]:
        for key in ("role", "required", "lexicon", "batch"):
            f.pop(key, None)
    site = forms.load_site()
    assert forms.build(plain, site).fingerprint == forms.build(raw("pendaftaran"), site).fingerprint == \
        PRINTED[("pendaftaran", 1)]


@pytest.mark.parametrize("where, change", [
    ("top level", lambda r: r.update(colour="red")),
    ("field", lambda r: r["fields"][0].update(rol="nik")),
    ("field role", lambda r: r["fields"][0].update(role="tanggal")),
    ("form kind", lambda r: r.update(kind="survey")),
    ("two fields, one role", lambda r: r["fields"][1].update(role="visit_date")),
])
def test_unknown_keys_and_values_are_refused(where: str, change) -> None:
    bad = copy.deepcopy(raw("pendaftaran"))
    change(bad)
    with pytest.raises(BadInput, match="invalid"):
        forms.build(bad, forms.load_site())


def test_every_field_of_the_shipped_forms_has_a_role() -> None:
    for form in forms.load_all():
        assert all(f.role for f in form.fields), form.form_id
        assert form.kind in ("registration", "queue")


@pytest.fixture
def other_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of forms/ where the NIK field is called ``nomor_ktp`` and the site opens 07:00-14:00."""
    root = tmp_path / "forms"
    shutil.copytree(forms.CHECKOUT_FORMS, root)
    path = root / "pendaftaran" / "v1.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("{name: nik,", "{name: nomor_ktp,"), encoding="utf-8")
    site = yaml.safe_load((root / "site.yaml").read_text(encoding="utf-8"))
    site.update(opening_hours=["07:00", "14:00"], kabupaten="Kabupaten Contoh")
    (root / "site.yaml").write_text(yaml.safe_dump(site), encoding="utf-8")
    monkeypatch.setenv("SUSULAN_FORMS_DIR", str(root))
    yield root
    monkeypatch.delenv("SUSULAN_FORMS_DIR")
    forms._load_cached.cache_clear()
    forms._site_cached.cache_clear()


def test_rules_follow_roles_and_site(other_site: Path) -> None:
    values = {"visit_date": "2026-11-20", "name": "SITI AMINAH", "sex": "L", "birth_date": "1990-07-05",
              "visit_type": "baru", "poli": "umum", "payment": "umum", "nomor_ktp": "3529054507900001",
              "arrival_time": "15:10", "village": "ATLANTIS"}
    issues = {i.rule: i for i in validate_record("pendaftaran", values)}
    assert issues["nik_sex"].field == "nomor_ktp"  # the field that has the role nik, whatever its name
    assert "07:00-14:00" in issues["time_range"].message
    assert "Kabupaten Contoh" in issues["village_unknown"].message


def test_site_schema_refuses_unknown_keys(tmp_path: Path) -> None:
    root = tmp_path / "forms"
    shutil.copytree(forms.CHECKOUT_FORMS, root)
    with (root / "site.yaml").open("a", encoding="utf-8") as f:
        f.write("jam_buka: pagi\n")
    with pytest.raises(BadInput, match="jam_buka: unknown key"):
        forms.load_site(root)
