"""Pure correction logic of the review app (no Streamlit): input parsing, display, change planning.

Stored values are in export form (dates ``YYYY-MM-DD``, times ``HH:MM``); staff see and
type dates as ``DD-MM-YYYY``. Widgets cannot be driven in every test, so every decision
the screens make is a function here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pipeline.models import CONSENSUS_KEY
from pipeline.store.review import Change, Clash
from pipeline.values import InputError, parse_input, to_display

STATE_LABEL = {
    "review": "Belum diperiksa",
    "approved": "Disetujui",
    "flagged": "Ditandai untuk supervisor",
    "exported": "Sudah diekspor",
    "void": "Bukan pasien",
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
EMPTY_LABEL = "(tidak dicentang)"
"""A tick-box field with no box ticked (never a grey word that could pass for a value)."""
EMPTY_TEXT = "(tidak diisi)"
"""An empty written field, in lists and history."""
WIB = ZoneInfo("Asia/Jakarta")


# --- values ------------------------------------------------------------------------------------


def wib(stamp: str | None, seconds: bool = False) -> str:
    """A stored UTC time (ISO 8601) as staff read it: ``30-11-2026 16:05 WIB``."""
    if not stamp:
        return ""
    try:
        t = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    t = (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(WIB)
    return t.strftime("%d-%m-%Y %H:%M:%S WIB" if seconds else "%d-%m-%Y %H:%M WIB")


def option_label(options: Mapping[str, str], value: str) -> str:
    """Label of a choice value (:data:`EMPTY_LABEL` for no tick)."""
    if not value:
        return EMPTY_LABEL
    return options.get(value, value)


def shown_value(kind: str, value: str, options: Mapping[str, str] | None = None) -> str:
    """A value as staff read it in lists: option labels for choices, ``DD-MM-YYYY`` for dates."""
    if kind == "choice":
        return option_label(options or {}, value)
    return to_display(kind, value) or EMPTY_TEXT


def machine_note(kind: str, machine_value: str, detail: Mapping[str, Any]) -> str:
    """Why the machine's value differs from what the cells alone said (empty if it does not)."""
    notes = []
    first = detail.get(CONSENSUS_KEY, {})
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


def plan_action(fields: Mapping[int, Mapping[str, Any]], edits: Mapping[Any, Mapping[str, Any]],
                look: Mapping[Any, Any], confirm: bool) -> tuple[list[Change], dict[int, str]]:
    """Changes from what a person did on a screen, each based on the version they saw.

    ``fields`` maps field id -> ``kind``, ``final_value``, ``options`` (allowed tick-box values);
    ``edits`` maps field id -> ``{"v": version seen, "value": as typed or picked}``; ``look`` maps
    the ids of the values they were asked to check -> version seen. Typed values become new
    values; with ``confirm``, asked values left as they were are confirmed. Returns the changes
    and a message per value that cannot be stored (nothing should be applied then).
    """
    changes: list[Change] = []
    errors: dict[int, str] = {}
    for key, edit in edits.items():
        fid = int(key)
        f = fields.get(fid)
        if f is None:
            continue
        raw = str(edit.get("value") or "")
        try:
            if f["kind"] == "choice":
                if raw not in f.get("options", ()):
                    raise InputError(f"Pilihan '{raw}' tidak ada di formulir ini.")
                new = raw
            else:
                new = parse_input(f["kind"], raw)
        except InputError as e:
            errors[fid] = str(e)
            continue
        if new != f["final_value"]:
            changes.append(Change(fid, int(edit.get("v", 0)), new))
        elif confirm:
            changes.append(Change(fid, int(edit.get("v", 0)), None))
    if confirm:
        for key, version in look.items():
            fid = int(key)
            if fid in fields and str(key) not in {str(k) for k in edits}:
                changes.append(Change(fid, int(version), None))
    return changes, errors


def conflict_text(clash: Clash, label: str, kind: str, options: Mapping[str, str] | None = None) -> str:
    """Tell the second saver who changed the value first and what it is now."""
    cur = clash.current
    now_value = shown_value(kind, cur.get("value") or "", options)
    mine = EMPTY_LABEL if clash.mine is None else shown_value(kind, clash.mine, options)
    if cur.get("by"):
        who = f"{cur['by']} ({wib(cur.get('at'))})"
    elif cur.get("status") in ("auto", "review"):  # no person: the machine read it again or checked it anew
        who = "mesin (dibaca ulang atau dicocokkan lagi)"
    else:
        who = "petugas lain"
    return (f"{label} baru saja diubah oleh {who}. Nilai sekarang: {now_value}. "
            f"Isian Anda ({mine}) belum disimpan — periksa lagi, lalu simpan.")


def ingest_text(files_new: int, files_known: int, pages_done: int, records: int, duplicates: int,
                problems: Mapping[str, int], file_problems: list[tuple[str, str]]) -> str:
    """The result of an upload in plain Indonesian."""
    parts = [f"{pages_done} halaman terbaca dari {files_new} berkas baru: {records} pasien (baris)."]
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
