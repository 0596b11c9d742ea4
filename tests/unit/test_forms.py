"""Form definitions: contract field names/kinds, geometry checks, layout JSON, QR payloads."""

from __future__ import annotations

import copy

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from pipeline import forms
from pipeline.errors import BadInput, UnknownForm
from pipeline.models import PageId

REGISTRATION = {
    "visit_date": ("date", 8), "queue_no": ("digits", 3), "arrival_time": ("time", 4), "visit_type": ("choice", 2),
    "rm_no": ("digits", 8), "nik": ("digits", 16), "bpjs_no": ("digits", 13), "name": ("letters", 24),
    "sex": ("choice", 2), "birth_date": ("date", 8), "address": ("letters", 24), "rt": ("digits", 3),
    "rw": ("digits", 3), "village": ("letters", None), "phone": ("digits", 13), "poli": ("choice", 5),
    "payment": ("choice", 2), "complaint": ("text", None),
}


def test_registration_has_the_contract_fields() -> None:
    form = forms.load("pendaftaran")
    got = {f.name: f for f in form.fields}
    assert set(got) == set(REGISTRATION)
    for name, (kind, n) in REGISTRATION.items():
        assert got[name].kind == kind
        if n and kind == "choice":
            assert len(got[name].options) >= n
        elif n:
            assert len(got[name].cells) >= n
    assert [o.value for o in got["sex"].options] == ["L", "P"]
    assert {"umum", "gigi", "kia", "mtbs", "lansia"} <= {o.value for o in got["poli"].options}


def test_queue_sheet_has_page_date_and_at_least_12_rows() -> None:
    form = forms.load("antrean")
    assert form.records_per_page >= 12
    assert [f.name for f in form.page_fields()] == ["visit_date"]
    for r in range(form.records_per_page):
        names = {f.name for f in form.record_fields(r)}
        assert names == {"queue_no", "arrival_time", "name", "rm_no", "visit_type", "poli", "payment"}


def test_layout_json_shape() -> None:
    for form in forms.load_all():
        d = forms.layout_dict(form)
        assert {"form_id", "version", "page_mm", "records_per_page", "fields"} <= set(d)
        for f in d["fields"]:
            assert f["kind"] in ("digits", "date", "time", "letters", "choice", "text")
            key = {"choice": "options", "text": "box"}.get(f["kind"], "cells")
            assert key in f and f[key]


def test_overlapping_fields_are_rejected() -> None:
    raw = yaml.safe_load((forms.forms_dir() / "pendaftaran" / "v1.yaml").read_text())
    bad = copy.deepcopy(raw)
    bad["fields"][1]["at"] = bad["fields"][0]["at"]
    with pytest.raises(BadInput, match="overlaps"):
        forms.build(bad, forms.load_site())


def test_unknown_form_and_version() -> None:
    with pytest.raises(UnknownForm):
        forms.load("nope")
    with pytest.raises(UnknownForm):
        forms.load("pendaftaran", 99)


def test_fingerprint_changes_with_the_poli_list() -> None:
    raw = yaml.safe_load((forms.forms_dir() / "pendaftaran" / "v1.yaml").read_text())
    site = forms.load_site()
    other = {**site, "poli": site["poli"][:4]}
    assert forms.build(raw, site).fingerprint != forms.build(raw, other).fingerprint


@given(st.sampled_from(["pendaftaran", "antrean"]), st.integers(1, 10**6 - 1), st.integers(1, 9))
def test_qr_payload_round_trips(form_id: str, serial: int, version: int) -> None:
    pid = PageId(form_id, version, serial, "abcd1234")
    assert PageId.parse(pid.qr_text()) == pid
    assert pid.page_id == f"{form_id}-{serial:06d}"


def test_foreign_qr_is_rejected() -> None:
    with pytest.raises(ValueError):
        PageId.parse("https://example.org")
