"""Pure pieces of the ERM import: token caching, patient ids from SATUSEHAT's answers, duty rosters, times,
villages, request shapes, reason texts."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from pipeline.erm import address, requirements
from pipeline.erm.auth import AuthFailed, ClientCredentials, read_secret
from pipeline.erm.client import Answer
from pipeline.erm.reasons import Reason, gap_text
from pipeline.erm.satusehat import created_id
from pipeline.erm.settings import Duration, Duty
from pipeline.erm.settings import load as load_settings
from pipeline.errors import BadInput
from pipeline.export import fhir


class _Token:
    def __init__(self, status: int, body: dict) -> None:
        self.status_code, self._body = status, body

    def json(self) -> dict:
        return self._body


class _Session:
    def __init__(self, answers: list[_Token]) -> None:
        self.answers, self.calls = answers, []

    def post(self, url: str, **kw: object) -> _Token:
        self.calls.append((url, kw))
        return self.answers.pop(0)


def test_client_credentials_are_cached_renewed_before_expiry_and_never_shown():
    now = [1000.0]
    session = _Session([_Token(200, {"access_token": "A", "expires_in": "14399"}),
                        _Token(200, {"access_token": "B", "expires_in": 14399})])
    cc = ClientCredentials("https://auth.example/oauth2/v1/accesstoken", "pkm", "s3cr3t-value", refresh_s=300,
                           clock=lambda: now[0], session=session)  # type: ignore[arg-type]
    assert cc.header() == "Bearer A" and cc.header() == "Bearer A" and cc.fetched == 1
    url, kw = session.calls[0]
    assert kw["params"] == {"grant_type": "client_credentials"}  # SATUSEHAT: grant type in the query ...
    assert kw["data"]["client_id"] == "pkm" and kw["data"]["client_secret"] == "s3cr3t-value"  # ... form body
    now[0] += 14399 - 301
    assert cc.header() == "Bearer A"
    now[0] += 2  # within 300 s of expiry: fetched again before it runs out
    assert cc.header() == "Bearer B" and cc.fetched == 2
    assert "s3cr3t" not in repr(cc)


def test_a_refused_client_secret_is_one_line_without_the_secret():
    session = _Session([_Token(401, {"error": "invalid_client", "error_description": "Invalid client credentials"})])
    cc = ClientCredentials("https://auth.example/token", "pkm", "s3cr3t-value", session=session)  # type: ignore
    with pytest.raises(AuthFailed) as e:
        cc.header()
    assert "HTTP 401 (Invalid client credentials)" in str(e.value) and "s3cr3t" not in str(e.value)


def test_secret_comes_from_a_file_or_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("X_SECRET", raising=False)
    with pytest.raises(BadInput, match="set the environment variable X_SECRET"):
        read_secret(None, "X_SECRET")
    monkeypatch.setenv("X_SECRET", "dari-env")
    assert read_secret(None, "X_SECRET") == "dari-env"
    (tmp_path / "s").write_text("dari-berkas\n", encoding="utf-8")
    assert read_secret(str(tmp_path / "s"), "X_SECRET") == "dari-berkas"
    (tmp_path / "empty").write_text("", encoding="utf-8")
    with pytest.raises(BadInput, match="the file is empty"):
        read_secret(str(tmp_path / "empty"), "X_SECRET")


def test_patient_id_from_a_fhir_patient_satusehat_index_answer_or_location():
    assert created_id(Answer(201, {"resourceType": "Patient", "id": "abc"})) == "abc"
    assert created_id(Answer(201, {"success": True, "data": {"patient_id": "P02478375538"}})) == "P02478375538"
    assert created_id(Answer(201, {}, {"location": "https://x/fhir/Patient/P1/_history/1"})) == "P1"
    assert created_id(Answer(200, {"success": False, "data": {"patient_id": "P9"}})) == ""
    assert created_id(Answer(200, {}, {"content-type": "text/html"}, "<html>")) == ""


def test_duty_roster_prefers_dates_then_weekdays_then_every_day():
    st = replace(load_settings(), duties=(Duty("umum", "1", "every day"), Duty("umum", "2", "thursdays", (3,)),
                                          Duty("umum", "3", "that date", (), ("2025-10-30",))))
    assert st.duty("umum", date(2025, 10, 30)).name == "that date"  # a Thursday with its own entry
    assert st.duty("umum", date(2025, 11, 6)).name == "thursdays"
    assert st.duty("umum", date(2025, 11, 7)).name == "every day"
    assert st.duty("gigi", date(2025, 11, 7)) is None


def test_finished_encounter_times_are_utc_from_arrival_and_poli_durations():
    st = replace(load_settings(), durations={"default": Duration(30, 15), "gigi": Duration(10, 40)})
    assert fhir.visit_times({"visit_date": "2025-10-30", "arrival_time": "07:45", "poli": "gigi"}, st) == \
        ("2025-10-30T00:45:00+00:00", "2025-10-30T00:55:00+00:00", "2025-10-30T01:35:00+00:00")
    with pytest.raises(ValueError, match="no arrival time"):
        fhir.visit_times({"visit_date": "2025-10-30", "poli": "gigi"}, st)
    with pytest.raises(ValueError, match="no durations"):
        fhir.visit_times({"visit_date": "2025-10-30", "arrival_time": "07:45", "poli": "gigi"},
                         replace(st, durations={}))


def test_satusehat_encounter_and_patient_request_shapes():
    st = load_settings()
    row = {"visit_key": "pendaftaran-000001-0", "patient": {"name": "SITI AMINAH"},
           "visit": {"visit_date": "2025-10-30", "arrival_time": "08:00", "poli": "umum", "complaint": "DEMAM"}}
    enc, cond = fhir.satusehat_encounter(row, "P0001", Duty("umum", "3529051505800001", "dr. A"), "N1", st,
                                         reg_no="REG-77")
    assert fhir.validation_errors(enc) == []
    assert enc["identifier"] == [{"system": "http://sys-ids.kemkes.go.id/encounter/100000001", "value": "REG-77"}]
    assert cond == "identifier=http%3A%2F%2Fsys-ids.kemkes.go.id%2Fencounter%2F100000001%7CREG-77"
    assert enc["subject"]["reference"] == "Patient/P0001" and enc["status"] == "finished"
    assert enc["participant"][0]["individual"] == {"reference": "Practitioner/N1", "display": "dr. A"}
    assert enc["participant"][0]["type"][0]["coding"][0]["code"] == "ATND"
    assert [h["status"] for h in enc["statusHistory"]] == ["arrived", "in-progress", "finished"]
    patient = fhir.satusehat_patient({"nik": "3529055403190001", "name": "NAYLA", "sex": "P",
                                      "birth_date": "2019-03-14", "address": "Dusun Laok", "village": "LOBOK",
                                      "rt": "02", "rw": "1"}, st)
    assert fhir.validation_errors(patient) == []
    assert patient["identifier"] == [{"use": "official", "system": fhir.NIK_SYSTEM, "value": "3529055403190001"}]
    assert patient["address"][0]["line"] == ["Dusun Laok"]
    codes = {x["url"]: x["valueCode"] for x in patient["address"][0]["extension"][0]["extension"]}
    assert codes == {"province": "35", "city": "3529", "district": "352905", "village": "3529052009", "rt": "2",
                     "rw": "1"}


def test_village_in_own_kecamatan_first_codes_from_the_village_found():
    assert address.find_village("Ds. Lobok", "35.29.05").code == "35.29.05.2009"
    far = address.find_village("BANBARU", "35.29.05")
    assert far.elsewhere and far.codes()[2] == ("district", "352908")  # not the Puskesmas' 352905
    assert address.find_village("AENG BARU", "35.29.05") is None  # no near-miss in another kecamatan
    # a patient whose NIK says Rubaru: Rubaru's villages first
    assert address.home_kecamatan({"nik": "3529150101900001"}, "35.29.05") == "35.29.15"
    out = address.fhir_address({"address": "JL. RAYA AENG BARU 3", "village": "AENG BARU"}, "35.29.05")
    assert out == {"use": "home", "country": "ID", "line": ["JL. RAYA AENG BARU 3"]}  # never rewritten


def test_gaps_per_target_and_their_indonesian_text():
    st = load_settings()
    visit = {"visit_date": "2025-10-30", "arrival_time": "", "poli": "gigi", "payment": "bpjs"}
    gaps = requirements.gaps({"name": "X"}, {}, visit, True, st)
    assert [g.code() for g in gaps] == ["satusehat:nik", "satusehat:birth_date", "satusehat:sex",
                                        "satusehat:village", "satusehat:arrival_time", "pcare:bpjs_no"]
    assert gap_text("satusehat:nik") == "NIK (SATUSEHAT)"
    assert gap_text("satusehat:practitioner:gigi/2025-10-30") == \
        "dokter/petugas poli gigi/2025-10-30 (SATUSEHAT, atur di forms/erm/erm.yaml)"
    assert Reason("incomplete", {"gaps": ["pcare:bpjs_no"]}).text("en") == "missing data: BPJS number (P-Care)"
