"""Rules on a record's values -> issues with messages in Bahasa Indonesia.

Values are in export form (dates ``YYYY-MM-DD``, times ``HH:MM``, digits as strings).
Blocking issues stop "Setujui formulir" until a person fixes or confirms the value.
The rules ask for fields by *role* (what the form YAML says a field means: ``nik``, ``birth_date``…),
never by a field's name; which fields are required comes from the YAML too (``required: true``), and
the kabupaten, its villages and the opening hours from ``forms/site.yaml``.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from pipeline import forms, regions
from pipeline.errors import UnknownForm
from pipeline.form_schema import ROLES
from pipeline.models import FormDefinition, Issue


def parse_date(text: str) -> date | None:
    """``YYYY-MM-DD`` -> date, or None if it is not a real calendar date."""
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        return None


def nik_birth(nik: str) -> tuple[date | None, str]:
    """Birth date and sex encoded in a NIK (digits 7-12 = DDMMYY, women +40 on the day)."""
    day, month, yy = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    sex = "P" if day > 40 else "L"
    day -= 40 if day > 40 else 0
    today = date.today()
    year = 2000 + yy if 2000 + yy <= today.year else 1900 + yy
    try:
        return date(year, month, day), sex
    except ValueError:
        return None, sex


def check_nik(nik: str, birth_date: str, sex: str) -> list[Issue]:
    """Structure of a NIK and agreement with birth date and sex."""
    if not nik:
        return []
    if not re.fullmatch(r"\d{16}", nik):
        return [Issue("nik", "nik_length", f"NIK harus 16 angka (terbaca {len(nik)} angka).")]
    out = []
    if not regions.kecamatan_exists(nik[:6]):
        out.append(Issue("nik", "nik_region", f"Kode wilayah NIK {nik[:6]} tidak ada di daftar Kemendagri."))
    born, nik_sex = nik_birth(nik)
    if born is None:
        out.append(Issue("nik", "nik_date", "Tanggal lahir di dalam NIK (angka ke-7 s.d. 12) bukan tanggal yang ada."))
        return out
    bd = parse_date(birth_date)
    if bd is not None and (bd.day, bd.month, bd.year % 100) != (born.day, born.month, born.year % 100):
        out.append(Issue("nik", "nik_birth_date", f"NIK menunjukkan lahir {born:%d-%m-%y}, tetapi tanggal lahir "
                         f"tertulis {bd:%d-%m-%Y}."))
    if sex in ("L", "P") and sex != nik_sex:
        out.append(Issue("nik", "nik_sex", f"NIK menunjukkan jenis kelamin {nik_sex}, tetapi yang dicentang {sex}."))
    return out


def check_dates(values: dict[str, str], today: date) -> list[Issue]:
    """Real dates; birth not in the future; visit date not in the future nor over a year old."""
    out = []
    for name in ("visit_date", "birth_date"):
        v = values.get(name, "")
        if v and parse_date(v) is None:
            out.append(Issue(name, "date_invalid", f"Tanggal {v} tidak ada di kalender."))
    bd, vd = parse_date(values.get("birth_date", "")), parse_date(values.get("visit_date", ""))
    if bd and bd > today:
        out.append(Issue("birth_date", "birth_future", "Tanggal lahir ada di masa depan."))
    if bd and today.year - bd.year > 110:
        out.append(Issue("birth_date", "birth_too_old", "Umur lebih dari 110 tahun; periksa tahun lahir."))
    if vd and vd > today:
        out.append(Issue("visit_date", "visit_future", "Tanggal kunjungan ada di masa depan."))
    if vd and vd < today - timedelta(days=366):
        out.append(Issue("visit_date", "visit_old", "Tanggal kunjungan lebih dari setahun yang lalu.", blocking=False))
    if bd and vd and bd > vd:
        out.append(Issue("birth_date", "birth_after_visit", "Tanggal lahir sesudah tanggal kunjungan."))
    return out


def check_formats(values: dict[str, str], hours: tuple[str, str] | None = None) -> list[Issue]:
    """BPJS, phone, time (within the site's opening hours), RT/RW and queue number formats."""
    start, end = hours or forms.opening_hours()
    out = []
    bpjs, phone, t = values.get("bpjs_no", ""), values.get("phone", ""), values.get("arrival_time", "")
    if bpjs and not re.fullmatch(r"\d{13}", bpjs):
        out.append(Issue("bpjs_no", "bpjs_length", f"Nomor BPJS harus 13 angka (terbaca {len(bpjs)})."))
    if values.get("payment") == "bpjs" and "bpjs_no" in values and not bpjs:
        out.append(Issue("bpjs_no", "bpjs_missing", "Cara bayar BPJS tetapi nomor kartu BPJS kosong.", blocking=False))
    if phone and not re.fullmatch(r"08\d{8,11}", phone):
        out.append(Issue("phone", "phone_format", "Nomor HP harus diawali 08 dan 10-13 angka."))
    if t:
        m = re.fullmatch(r"(\d\d):(\d\d)", t)
        if not m or int(m.group(2)) > 59 or not start <= t <= end:
            out.append(Issue("arrival_time", "time_range", f"Jam datang {t} di luar jam layanan {start}-{end}."))
    for name in ("rt", "rw"):
        v = values.get(name, "")
        if v and (not v.isdigit() or int(v) == 0):
            out.append(Issue(name, "rt_rw", f"{name.upper()} harus angka 1-999."))
    q = values.get("queue_no", "")
    if q and (not q.isdigit() or int(q) == 0):
        out.append(Issue("queue_no", "queue_no", "Nomor antrean harus angka lebih dari 0."))
    return out


def check_village(values: dict[str, str], site: dict | None = None) -> list[Issue]:
    """The village should be a desa/kelurahan of the site's kabupaten (``site.yaml``).

    A desa of another kabupaten (a patient from across the border) is only a warning; a name
    that is no desa anywhere must be corrected (or approved by an admin with a note).
    """
    site = site or forms.load_site()
    v = values.get("village", "")
    if not v or regions.canonical_village(v, forms.kabupaten_code(site)) is not None:
        return []
    elsewhere = regions.kabupaten_of_village(v)
    if elsewhere:
        return [Issue("village", "village_elsewhere",
                      f"Desa '{v}' ada di {elsewhere}, bukan di {site['kabupaten']}: pastikan benar.", blocking=False)]
    return [Issue("village", "village_unknown", f"Desa '{v}' tidak dikenal di {site['kabupaten']}.")]


def field_ok(role: str, value: str, today: date | None = None) -> bool:
    """Whether a value on its own breaks no blocking rule of a field with this role (dates, times, formats)."""
    values = {role: value}
    issues = check_dates(values, today or date.today()) + check_formats(values)
    return not any(i.blocking and i.field == role for i in issues)


def _form(form_id: str) -> FormDefinition | None:
    try:
        return forms.load(form_id)
    except UnknownForm:
        return None


def validate_record(form_id: str, values: dict[str, str], today: date | None = None) -> list[Issue]:
    """Every rule for a record of ``form_id`` (``values`` by field name; issues name the field).

    The fields' roles come from the form's YAML; for a form that is not defined, a field whose name
    is a role counts as that role.
    """
    today = today or date.today()
    form = _form(form_id)
    if form is not None:
        role_of = {f.name: f.role for f in form.fields if f.role}
        required = list(dict.fromkeys(f.name for f in form.fields if f.required))
    else:
        role_of, required = {n: n for n in values if n in ROLES}, []
    by_role = {role_of[n]: v for n, v in values.items() if n in role_of}
    name_of = {r: n for n, r in role_of.items()}
    out = [Issue(n, "required", "Wajib diisi.") for n in required if n in values and not values[n]]
    found = check_dates(by_role, today) + check_formats(by_role) + check_village(by_role)
    found += check_nik(by_role.get("nik", ""), by_role.get("birth_date", ""), by_role.get("sex", ""))
    return out + [Issue(name_of.get(i.field, i.field), i.rule, i.message, i.blocking) for i in found]
