"""Rules on a record's values -> issues with messages in Bahasa Indonesia.

Values are in export form (dates ``YYYY-MM-DD``, times ``HH:MM``, digits as strings).
Blocking issues stop "Setujui formulir" until a person fixes or confirms the value.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from pipeline import regions
from pipeline.models import Issue

REQUIRED = {
    "pendaftaran": ("visit_date", "name", "sex", "birth_date", "visit_type", "poli", "payment"),
    "antrean": ("visit_date", "name", "visit_type", "poli", "payment"),
}


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


def check_formats(values: dict[str, str]) -> list[Issue]:
    """BPJS, phone, time, RT/RW and queue number formats."""
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
        if not m or int(m.group(2)) > 59 or not 6 <= int(m.group(1)) <= 18 or t > "18:00":
            out.append(Issue("arrival_time", "time_range", f"Jam datang {t} di luar jam layanan 06:00-18:00."))
    for name in ("rt", "rw"):
        v = values.get(name, "")
        if v and (not v.isdigit() or int(v) == 0):
            out.append(Issue(name, "rt_rw", f"{name.upper()} harus angka 1-999."))
    q = values.get("queue_no", "")
    if q and (not q.isdigit() or int(q) == 0):
        out.append(Issue("queue_no", "queue_no", "Nomor antrean harus angka lebih dari 0."))
    return out


def check_village(values: dict[str, str]) -> list[Issue]:
    """The village must be a desa/kelurahan of Kabupaten Sumenep."""
    v = values.get("village", "")
    if v and regions.canonical_village(v) is None:
        return [Issue("village", "village_unknown", f"Desa '{v}' tidak dikenal di Kabupaten Sumenep.")]
    return []


def field_ok(name: str, value: str, today: date | None = None) -> bool:
    """Whether a value on its own breaks no blocking rule of its field (dates, times, formats)."""
    values = {name: value}
    issues = check_dates(values, today or date.today()) + check_formats(values)
    return not any(i.blocking and i.field == name for i in issues)


def validate_record(form_id: str, values: dict[str, str], today: date | None = None) -> list[Issue]:
    """Every rule for a record of ``form_id``."""
    today = today or date.today()
    out = [Issue(n, "required", "Wajib diisi.") for n in REQUIRED.get(form_id, ()) if n in values and not values[n]]
    out += check_dates(values, today)
    out += check_formats(values)
    out += check_village(values)
    out += check_nik(values.get("nik", ""), values.get("birth_date", ""), values.get("sex", ""))
    return out
