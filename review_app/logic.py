"""Pure correction logic of the review app (no Streamlit): input parsing, display, change planning.

Stored values are in export form (dates ``YYYY-MM-DD``, times ``HH:MM``); staff see and
type dates as ``DD-MM-YYYY``. Widgets cannot be driven in every test, so every decision
the screens make is a function here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from pipeline.store.review import Change, Clash

STATUS_LABEL = {
    "auto": "yakin (otomatis)",
    "review": "perlu diperiksa",
    "corrected": "diperbaiki petugas",
    "confirmed": "sudah diperiksa",
}
STATE_LABEL = {
    "review": "Belum diperiksa",
    "approved": "Disetujui",
    "flagged": "Ditandai untuk supervisor",
    "exported": "Sudah diekspor",
}
ACTION_LABEL = {
    "set": "mengubah nilai",
    "confirm": "membenarkan nilai",
    "state": "mengubah status formulir",
    "page_discard": "membuang halaman",
    "page_retry": "membaca ulang halaman",
    "file_discard": "membuang berkas",
    "user_add": "membuat akun",
    "user_reset": "mengganti kata sandi akun",
    "user_disable": "menonaktifkan akun",
    "user_enable": "mengaktifkan akun",
}
REASON_LABEL = {
    "alignment_failed": "Lembar tidak bisa diluruskan (tanda sudut tidak terbaca dengan baik)",
    "blank_page": "Halaman kosong",
    "empty_file": "Berkas kosong",
    "image_too_large": "Gambar terlalu besar",
    "image_unreadable": "Gambar rusak / tidak bisa dibuka",
    "layout_changed": "Lembar dicetak dengan tata letak lain (mis. daftar poli berubah)",
    "not_a_form": "Bukan formulir Susulan",
    "not_a_scan": "Bukan berkas pindaian (PDF/TIFF/JPEG/PNG)",
    "pdf_encrypted": "PDF terkunci kata sandi",
    "pdf_unreadable": "PDF rusak / tidak bisa dibuka",
    "rasterise_failed": "PDF tidak bisa diubah menjadi gambar",
    "too_few_markers": "Tanda sudut lembar kurang (lembar terpotong atau terlipat?)",
    "unknown_form_version": "Versi formulir tidak dikenal",
    "worker_crash": "Pembacaan halaman ini gagal dua kali",
    "same_sheet_rescanned": "Lembar yang sama dipindai dua kali (tidak dihitung lagi)",
    "serial_unreadable": "Nomor lembar tidak terbaca",
}
PAGE_STATUS_LABEL = {"problem": "Bermasalah", "duplicate": "Pindaian ganda", "pending": "Menunggu dibaca",
                     "discarded": "Dibuang", "done": "Terbaca"}
EMPTY_CHOICE = ""
EMPTY_LABEL = "(kosong)"
_DATE_INPUT = re.compile(r"(\d{1,2})[-/. ]?(\d{1,2})[-/. ]?(\d{4})")
_TIME_INPUT = re.compile(r"(\d{1,2})[:. ]?(\d{2})")


class InputError(ValueError):
    """What a person typed cannot be stored; the message is for them (Bahasa Indonesia)."""


@dataclass(frozen=True)
class Seen:
    """A field as it was shown to the person: what their change is based on."""

    field_id: int
    version: int
    value: str
    status: str
    kind: str
    name: str = ""


# --- values ------------------------------------------------------------------------------------


def to_display(kind: str, value: str) -> str:
    """Stored value -> what the person sees and edits (dates as ``DD-MM-YYYY``)."""
    if kind == "date" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value or ""):
        y, m, d = value.split("-")
        return f"{d}-{m}-{y}"
    return value or ""


def parse_input(kind: str, text: str) -> str:
    """What a person typed -> stored form; raises :class:`InputError` with a message for them."""
    text = (text or "").strip()
    if not text:
        return ""
    if kind == "digits":
        digits = re.sub(r"[\s.\-/]", "", text)
        if not digits.isdigit():
            raise InputError(f"Hanya angka yang boleh diisi (tertulis '{text}').")
        return digits
    if kind == "date":
        iso = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text)
        m = _DATE_INPUT.fullmatch(text)
        if iso:
            y, mo, d = (int(g) for g in iso.groups())
        elif m:
            d, mo, y = (int(g) for g in m.groups())
        else:
            raise InputError(f"Tulis tanggal sebagai tgl-bln-tahun, mis. 17-08-1985 (tertulis '{text}').")
        try:
            return date(y, mo, d).isoformat()
        except ValueError as e:
            raise InputError(f"Tanggal {d:02d}-{mo:02d}-{y} tidak ada di kalender.") from e
    if kind == "time":
        m = _TIME_INPUT.fullmatch(text)
        if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
            raise InputError(f"Tulis jam sebagai jam:menit, mis. 07:45 (tertulis '{text}').")
        return f"{int(m.group(1)):02d}:{m.group(2)}"
    if kind == "letters":
        return re.sub(r"\s+", " ", text.upper())
    return re.sub(r"\s+", " ", text)


def confidence_text(confidence: float) -> str:
    """``87%`` style."""
    return f"{round(float(confidence) * 100):d}%"


def option_label(options: Mapping[str, str], value: str) -> str:
    """Label of a choice value (``(kosong)`` for no tick)."""
    if not value:
        return EMPTY_LABEL
    return options.get(value, value)


def shown_value(kind: str, value: str, options: Mapping[str, str] | None = None) -> str:
    """A value as staff read it in lists: option labels for choices, ``DD-MM-YYYY`` for dates."""
    if kind == "choice":
        return option_label(options or {}, value)
    return to_display(kind, value) or EMPTY_LABEL


def machine_note(kind: str, machine_value: str, detail: Mapping[str, Any]) -> str:
    """Why the machine's value differs from what the cells alone said (empty if it does not)."""
    notes = []
    first = detail.get("consensus", {})
    if first and first.get("read") != machine_value:
        notes.append(f"terbaca {shown_value(kind, first.get('read', ''))}, diubah mesin: {first.get('why', '')}")
    if kind != "choice" and detail.get("note"):
        notes.append(str(detail["note"]))
    if detail.get("read") and detail["read"] != machine_value:
        notes.append(f"tertulis {detail['read']}, disamakan dengan nama resmi")
    return "; ".join(notes)


def reason_text(reason: str, message: str = "") -> str:
    """Plain Indonesian for a page problem reason (the technical message kept as a hint)."""
    label = REASON_LABEL.get(reason, reason.replace("_", " ") or "Tidak diketahui")
    return f"{label}. ({message})" if message else label


# --- planning changes --------------------------------------------------------------------------


def plan_record(seen: Iterable[Seen], submitted: Mapping[int, str], confirm_rest: bool) -> list[Change]:
    """Changes for one record: new values where the person typed something else.

    With ``confirm_rest`` (approving), values still marked ``review`` are confirmed as they are.
    ``submitted`` holds what the person typed per field id; raises :class:`InputError` listing
    every value that cannot be stored (nothing is planned then).
    """
    changes: list[Change] = []
    errors: list[str] = []
    for s in seen:
        raw = submitted.get(s.field_id)
        try:
            new = s.value if raw is None else (raw if s.kind == "choice" else parse_input(s.kind, raw))
        except InputError as e:
            errors.append(f"{s.name}: {e}" if s.name else str(e))
            continue
        if new != s.value:
            changes.append(Change(s.field_id, s.version, new))
        elif confirm_rest and s.status == "review":
            changes.append(Change(s.field_id, s.version, None))
    if errors:
        raise InputError(" ".join(errors))
    return changes


def plan_grid(rows: list[dict[str, Any]], edited_rows: Mapping[int, Mapping[str, Any]],
              options: Mapping[str, str] | None = None, value_col: str = "Nilai",
              skip_col: str = "Lewati") -> tuple[list[Change], list[str]]:
    """Changes for the per-field grid: edited values are saved, every other row not skipped is confirmed.

    ``rows`` are the grid rows as loaded (``field_id``, ``version``, ``final_value``, ``kind``,
    ``status``, ``page_key``); ``edited_rows`` is Streamlit's ``{row index: {column: value}}``.
    Returns the changes and one message per value that could not be used (that row is left alone).
    """
    by_label = {label: value for value, label in (options or {}).items()}
    by_label[EMPTY_LABEL] = EMPTY_CHOICE
    changes: list[Change] = []
    errors: list[str] = []
    for i, row in enumerate(rows):
        edits = edited_rows.get(i, {})
        if edits.get(skip_col):
            continue
        new = row["final_value"]
        if value_col in edits:
            raw = edits[value_col]
            raw = "" if raw is None else str(raw)
            try:
                new = by_label.get(raw, raw) if row["kind"] == "choice" else parse_input(row["kind"], raw)
            except InputError as e:
                errors.append(f"{row.get('page_key', '')}: {e}")
                continue
        if new != row["final_value"]:
            changes.append(Change(row["field_id"], row["version"], new))
        elif row["status"] in ("auto", "review"):
            changes.append(Change(row["field_id"], row["version"], None))
    return changes, errors


def expected_record_version(seen_version: int, saved: int) -> int:
    """A record's version after this person's own ``saved`` field changes (each adds one)."""
    return seen_version + saved


def conflict_text(clash: Clash, label: str, kind: str, options: Mapping[str, str] | None = None) -> str:
    """Tell the second saver who changed the value first and what it is now."""
    cur = clash.current
    now_value = shown_value(kind, cur.get("value") or "", options)
    mine = EMPTY_LABEL if clash.mine is None else shown_value(kind, clash.mine, options)
    who = cur.get("by") or "petugas lain"
    when = (cur.get("at") or "").replace("T", " ")[:16]
    return (f"**{label}** baru saja diubah oleh **{who}** ({when} UTC). Nilai sekarang: **{now_value}**. "
            f"Isian Anda ({mine}) belum disimpan — periksa lagi, lalu simpan.")


def ingest_text(files_new: int, files_known: int, pages_done: int, records: int, duplicates: int,
                problems: Mapping[str, int], file_problems: list[tuple[str, str]]) -> str:
    """The result of an upload in plain Indonesian."""
    parts = [f"{pages_done} halaman terbaca menjadi {records} formulir dari {files_new} berkas baru."]
    if files_known:
        parts.append(f"{files_known} berkas sudah pernah diunggah dan dilewati.")
    if duplicates:
        parts.append(f"{duplicates} halaman adalah pindaian ulang lembar yang sama dan tidak dihitung lagi.")
    if problems:
        detail = ", ".join(f"{n} {REASON_LABEL.get(r, r).lower()}" for r, n in problems.items())
        parts.append(f"{sum(problems.values())} halaman perlu perhatian ({detail}).")
    for name, msg in file_problems:
        parts.append(f"Berkas {name} tidak bisa dibuka: {msg}.")
    return " ".join(parts)
