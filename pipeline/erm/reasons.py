"""Reason codes of the ERM import and their text: English for the terminal, Bahasa Indonesia for staff.

Loaders, the planner, requirement checks and the push return :class:`Reason` values (a code and its
parameters); whoever shows them picks the language here. Nothing matches on message text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FIELD_ID = {"visit_date": "tanggal kunjungan", "name": "nama", "nik": "NIK", "sex": "jenis kelamin",
            "birth_date": "tanggal lahir", "village": "desa (kode wilayah)", "arrival_time": "jam datang",
            "bpjs_no": "No. BPJS", "poli": "poli", "rm_no": "No. RM", "reg_no": "No. registrasi",
            "no_kartu": "No. Kartu", "tgl_daftar": "tanggal daftar", "kd_poli": "kode poli",
            "registration": "pendaftaran (kartu, tanggal, poli)", "no_urut": "No. urut"}
FIELD_EN = {"visit_date": "visit date", "birth_date": "birth date", "rm_no": "No. RM", "bpjs_no": "BPJS number",
            "arrival_time": "arrival time", "reg_no": "registration number", "no_kartu": "card number",
            "tgl_daftar": "registration date", "kd_poli": "kdPoli", "registration": "registration (card, date, poli)",
            "no_urut": "noUrut"}
TARGET_ID = {"satusehat": "SATUSEHAT", "pcare": "P-Care", "erm": "ERM"}

ID: dict[str, str] = {
    # plan
    "twin_of_form": "kunjungan yang sama dengan {key} (tanggal dan no. antrean sama)",
    "form_not_imported": "formulir {form} tidak diimpor ke ERM",
    "patient_unsure": "pasien belum pasti ({n} kandidat): {why}",
    "no_poli": "poli kosong",
    "in_erm": "sudah ada di ERM (file kunjungan baris {row}{reg})",
    "paper_duplicate": "kunjungan yang sama dengan {key} di kertas",
    "erm_other_poli": "ERM sudah punya kunjungan pasien ini hari itu di poli {polis}; kertas: {poli}",
    "no_location": "poli {poli} tidak punya Location id di forms/erm/erm.yaml",
    "insert_new": "pasien baru; {why}",
    "insert_known": "pasien lama {who}; {why}",
    "incomplete": "data kurang: {gaps}",
    "decided": "diputuskan oleh {user}: {reason}",
    "skipped_incomplete": "dilewati oleh {user} (data kurang: {gaps})",
    "village_elsewhere": "Desa {village} ditemukan di Kec. {kecamatan}, bukan di kecamatan pasien: periksa",
    # gaps
    "gap": "{field} ({target})",
    "gap_setting": "{what} ({target}, atur di forms/erm/erm.yaml)",
    "setting_duration": "lama layanan poli {detail}",
    "setting_practitioner": "dokter/petugas poli {detail}",
    "setting_kd_poli": "kode poli P-Care untuk {detail}",
    "setting_provider_code": "kode provider P-Care",
    # stale confirmed rows
    "record_gone": "formulir tidak ada lagi (halaman dibaca ulang?)",
    "not_approved": "formulir tidak lagi berstatus disetujui",
    "changed_after_confirm": "formulir diubah setelah rencana dikonfirmasi (konfirmasi ulang)",
    # loads
    "missing_required": "baris {row}: kolom {fields} kosong, baris dilewati",
    "bad_date": "baris {row}: {field} '{value}' bukan tanggal yang dikenal",
    "nik_as_number": "baris {row}: NIK tersimpan sebagai angka di Excel (digit hilang)",
    "bad_nik": "baris {row}: NIK '{value}' tidak sah (16 angka), NIK diabaikan",
    "bad_card": "baris {row}: No. Kartu '{value}' tidak sah (13 angka)",
    "no_identifier": "baris {row}: tidak ada No. RM, NIK, maupun No. BPJS",
    "visit_unmatchable": "baris {row}: kunjungan tanpa No. RM, NIK, atau nama",
    "unknown_poli": "baris {row}: nama poli '{value}' tidak dikenal",
    "no_column": "tidak ada kolom {field} di berkas",
    "duplicate": "{field} {value} muncul lebih dari sekali (baris {rows}); formulir yang cocok harus diputuskan "
                 "petugas",
    "encoding": "berkas dibaca sebagai {encoding}",
    "missing_columns": "tidak ada kolom untuk {fields}; kolom di berkas: {found}",
    "unreadable": "berkas tidak bisa dibaca: {why}",
    "not_a_table": "berkas harus .csv, .xlsx atau .json",
    "empty_file": "berkas kosong (tidak ada baris data)",
    "bad_rows": "{n} baris bermasalah; tidak ada yang dimuat",
    # completing "data kurang"
    "invalid_value": "{field} '{value}' tidak sah: {why}",
    "why_nik": "16 angka, tanggal lahir di dalamnya masuk akal",
    "why_bpjs_no": "13 angka",
    "why_date": "tulis dd-mm-yyyy",
    "why_time": "tulis jj:mm",
    "why_sex": "L atau P",
    "why_village": "tidak ada di daftar desa Kemendagri",
    "why_poli": "bukan poli Puskesmas ini",
    "why_empty": "kosong",
}

EN: dict[str, str] = {
    "twin_of_form": "same visit as {key} (same date and queue number)",
    "form_not_imported": "form {form} is not imported into the ERM",
    "patient_unsure": "patient not settled ({n} candidates): {why}",
    "no_poli": "no poli",
    "in_erm": "already in the ERM (visits file row {row}{reg})",
    "paper_duplicate": "same visit as {key} on paper",
    "erm_other_poli": "the ERM has this patient that day at poli {polis}; paper: {poli}",
    "no_location": "poli {poli} has no Location id in forms/erm/erm.yaml",
    "insert_new": "new patient; {why}",
    "insert_known": "known patient {who}; {why}",
    "incomplete": "missing data: {gaps}",
    "decided": "decided by {user}: {reason}",
    "skipped_incomplete": "skipped by {user} (missing data: {gaps})",
    "village_elsewhere": "village {village} found in kecamatan {kecamatan}, not the patient's: check",
    "gap": "{field} ({target})",
    "gap_setting": "{what} ({target}, set it in forms/erm/erm.yaml)",
    "setting_duration": "durations of poli {detail}",
    "setting_practitioner": "practitioner of poli {detail}",
    "setting_kd_poli": "P-Care kdPoli of {detail}",
    "setting_provider_code": "P-Care provider code",
    "record_gone": "record no longer exists (page re-read?); plan again",
    "not_approved": "record is not approved any more: it will not be sent",
    "changed_after_confirm": "record was changed after the plan was confirmed; run 'susulan erm plan --confirm' "
                             "again",
    "missing_required": "row {row}: no {fields}",
    "bad_date": "row {row}: {field} '{value}' is not a date (formats tried: {formats})",
    "nik_as_number": "row {row}: NIK stored as a number in the spreadsheet (digits lost)",
    "bad_nik": "row {row}: NIK '{value}' is not a valid 16-digit NIK; ignored",
    "bad_card": "row {row}: card number '{value}' is not 13 digits",
    "no_identifier": "row {row}: no No. RM, NIK or BPJS number",
    "visit_unmatchable": "row {row}: visit without No. RM, NIK or name cannot be matched",
    "unknown_poli": "row {row}: poli '{value}' not in the profile's code list",
    "no_column": "no column for {field}",
    "duplicate": "{field} {value} appears more than once (rows {rows}); records matching it need a person",
    "encoding": "read as {encoding}",
    "missing_columns": "no column for {fields}; the file has: {found} (add the header to the profile's columns)",
    "unreadable": "cannot read the file: {why}",
    "not_a_table": "expected a .csv, .xlsx or .json file",
    "empty_file": "the file has no data rows",
    "bad_rows": "{n} row(s) with problems; nothing was loaded (fix them, or load with --skip-bad-rows)",
    "invalid_value": "{field} '{value}' is not valid: {why}",
    "why_nik": "16 digits with a plausible birth date",
    "why_bpjs_no": "13 digits",
    "why_date": "write dd-mm-yyyy",
    "why_time": "write hh:mm",
    "why_sex": "L or P",
    "why_village": "not in the Kemendagri village list",
    "why_poli": "not a poli of this Puskesmas",
    "why_empty": "empty",
}


@dataclass(frozen=True)
class Reason:
    """A reason code and its parameters."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)

    def text(self, lang: str = "id") -> str:
        """The reason in ``id`` (Bahasa Indonesia, for staff) or ``en`` (the terminal)."""
        return render(self.code, self.params, lang)

    def data(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"code": self.code, "params": self.params}


def render(code: str, params: dict[str, Any], lang: str = "id") -> str:
    """Fill the text of ``code``; unknown codes come back as the code and its parameters."""
    table = ID if lang == "id" else EN
    values = {k: _value(k, v, lang) for k, v in params.items()}
    try:
        return table[code].format(**values)
    except (KeyError, IndexError):
        return f"{code} {params}" if params else code


def field_name(name: str, lang: str = "id") -> str:
    """A field's name for people."""
    return (FIELD_ID if lang == "id" else FIELD_EN).get(name, name.replace("_", " "))


def gap_text(code: str, lang: str = "id") -> str:
    """One gap (``satusehat:nik``, ``pcare:kd_poli:gigi``) for people."""
    target, _, rest = code.partition(":")
    name, _, detail = rest.partition(":")
    shown = TARGET_ID.get(target, target)
    if f"setting_{name}" in ID:
        return render("gap_setting", {"what": render(f"setting_{name}", {"detail": detail}, lang),
                                      "target": shown}, lang)
    return render("gap", {"field": field_name(name, lang), "target": shown}, lang)


def _value(key: str, value: Any, lang: str) -> str:
    if key == "gaps" and isinstance(value, list | tuple):
        return ", ".join(gap_text(str(g), lang) for g in value)
    if key in ("fields", "field") and isinstance(value, list | tuple):
        return ", ".join(field_name(str(f), lang) for f in value)
    if key == "field":
        return field_name(str(value), lang)
    if key == "why" and isinstance(value, str) and value.startswith("why_"):
        return render(value, {}, lang)
    if key == "reason" and isinstance(value, dict):
        return render(str(value.get("code", "")), dict(value.get("params") or {}), lang)
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)
