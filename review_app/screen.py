"""What the review component draws: store rows -> plain, JSON-ready dicts (no Streamlit here).

Snippets are stored at 8 px/mm with 1 mm around the field. Each is shown whole (never
cropped), scaled so that a comb cell is 40 px tall for digits, dates and times (a
handwritten digit then stands about 26-32 px tall) and 32 px for capitals. Under a comb
the value is drawn one character per printed cell (``strip``), so that the eye compares
each written character with the one read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pipeline.models import STRUCK_RULE
from pipeline.validate import nik_birth
from review_app import logic

CELL_PX = {"digits": 40, "date": 40, "time": 40, "letters": 32, "choice": 20}
"""Height on screen of one printed cell (or tick box), per field kind."""
SMALL_CELL_PX = 60
"""Digit cells under 7.5 mm (the queue sheet's 7 mm) are drawn 10 % larger."""
TEXT_SCALE = 0.62
"""Free-text boxes have no cells: shown at this share of 8 px/mm."""
MAX_WIDTH = 760
"""No snippet is drawn wider than this (px); a wider one is scaled down whole."""
SAME_LINE_PX = 24
"""Fields whose boxes start within this many page pixels (3 mm) of each other share a line on paper."""


class Meta(Protocol):
    """How a field is named and offered (``common.FieldMeta``)."""

    @property
    def label(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def options(self) -> dict[str, str]: ...
    @property
    def role(self) -> str: ...


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG header ((0, 0) if not a PNG)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        return 0, 0
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def _cells(f: Mapping[str, Any]) -> list[list[int]]:
    try:
        return [list(c) for c in json.loads(f.get("cells") or "[]") if len(c) == 4]
    except ValueError:
        return []


def scale_for(kind: str, cells: Sequence[Sequence[int]], width: int) -> float:
    """Display scale of a snippet: cells of :data:`CELL_PX` height, never wider than :data:`MAX_WIDTH`."""
    target = CELL_PX.get(kind)
    if target and kind in ("digits", "date", "time") and cells and cells[0][3] < SMALL_CELL_PX:
        target = round(target * 1.1)  # handwriting in small boxes is small: draw those boxes larger
    scale = target / cells[0][3] if target and cells and cells[0][3] > 0 else TEXT_SCALE
    if width and width * scale > MAX_WIDTH:
        scale = MAX_WIDTH / width
    return scale


def strip(kind: str, cells: Sequence[Sequence[int]], detail: Mapping[str, Any], scale: float) -> dict[str, Any]:
    """Where the value's characters go under the snippet: cell centres (px on screen) and inked cells.

    ``ink`` lists the cells the machine found written in; a value that fills exactly those is
    drawn there, any other value from the first cell on.
    """
    if kind in ("choice", "text") or not cells:
        return {}
    reads = detail.get("cells") or []
    ink = [i for i, c in enumerate(reads) if c and c[0] and str(c[0][0]).strip()]
    return {"x": [round((c[0] + c[2] / 2) * scale, 1) for c in cells], "ink": ink}


def alternatives(kind: str, topk: str, current: str, detail: Mapping[str, Any] | None = None) -> list[str]:
    """Up to three other readings, as staff type them (the keys Alt+1..3 take them).

    First the reader's next best whole values, then single-cell changes: one printed cell
    read as its second or third candidate, the likeliest first (on the 500-page benchmark set
    this puts the truth among the three for 58 % of wrong values to check, against 47 % for
    whole values alone).
    """
    if kind in ("choice", "text"):
        return []
    try:
        listed = [str(a[0]) for a in json.loads(topk or "[]") if a]
    except (ValueError, TypeError, IndexError):
        listed = []
    out: list[str] = []
    for value in [*listed, *_one_cell_changes(kind, current, (detail or {}).get("cells") or [])]:
        shown = logic.to_display(kind, value)
        if value != current and shown and shown not in out:
            out.append(shown)
    return out[:3]


def _one_cell_changes(kind: str, current: str, cells: list) -> list[str]:
    """Values that differ from the machine's cell reading in one cell, likeliest first."""
    try:
        chars = [str(c[0][0]) if c else " " for c in cells]
        options = [(float(cand[1]), i, str(cand[0])) for i, c in enumerate(cells) for cand in (c or [])[1:3]]
    except (TypeError, IndexError, ValueError):
        return []
    out = []
    for _, i, char in sorted(options, key=lambda o: -o[0]):
        if kind != "letters" and not char.strip():
            continue
        value = _from_cells(kind, [*chars[:i], char, *chars[i + 1:]])
        if value and value != current:
            out.append(value)
    return out


def _from_cells(kind: str, chars: list[str]) -> str:
    """A stored value from one character per printed cell ('' if the cells cannot make one)."""
    text = "".join(chars)
    digits = text.replace(" ", "")
    if kind == "date":
        return f"{digits[4:8]}-{digits[2:4]}-{digits[0:2]}" if len(digits) == 8 else ""
    if kind == "time":
        return f"{digits[:2]}:{digits[2:]}" if len(digits) == 4 else ""
    if kind == "digits":
        return text.strip() if " " not in text.strip() else ""
    return " ".join(text.split())


def implied(fields: list[Mapping[str, Any]], metas: Mapping[str, Meta]) -> dict[int, str]:
    """Values a record's other fields imply, offered first among the other readings: the birth date in the NIK.

    On the 500-page benchmark set the NIK held the right birth date for 18 of 31 wrong birth dates.
    """
    by_role = {getattr(metas.get(f["name"]), "role", ""): f for f in fields}
    nik, birth = by_role.get("nik"), by_role.get("birth_date")
    if not nik or not birth or not re.fullmatch(r"\d{16}", nik["final_value"] or ""):
        return {}
    born, _ = nik_birth(nik["final_value"])
    return {birth["id"]: born.isoformat()} if born and born.isoformat() != birth["final_value"] else {}


def cell(f: Mapping[str, Any], meta: Meta, png: bytes, uri: str, *, ask: bool, tag: int, issues: list[dict],
         locked: bool, message: str = "", hint: str = "") -> dict[str, Any]:
    """One value as the component draws it (every string is text, never markup)."""
    kind = f["kind"]
    cells = _cells(f)
    w, h = png_size(png)
    scale = scale_for(kind, cells, w)
    detail = json.loads(f.get("detail") or "{}")
    out: dict[str, Any] = {
        "id": f["id"], "v": f["version"], "name": f["name"], "label": meta.label, "kind": kind,
        "value": f["final_value"] if kind == "choice" else logic.to_display(kind, f["final_value"]),
        "machine": f["machine_value"] if kind == "choice" else logic.to_display(kind, f["machine_value"]),
        "ask": ask, "n": tag, "img": uri, "w": round(w * scale), "h": round(h * scale),
        "strip": strip(kind, cells, detail, scale),
        "alts": _first(logic.to_display(kind, hint) if hint else "",
                       alternatives(kind, f["topk"], f["final_value"], detail)),
        "issues": [{"t": i["message"], "b": bool(i["blocking"])} for i in issues],
        "note": logic.machine_note(kind, f["machine_value"], detail),
        "by": f"diubah {f['changed_by']}" if f.get("status") == "corrected" and f.get("changed_by") else "",
        "locked": locked, "msg": message,
    }
    if kind == "choice":
        out["opts"] = [{"v": v, "l": label} for v, label in meta.options.items()]
        if f["final_value"] and f["final_value"] not in meta.options:
            out["opts"].insert(0, {"v": f["final_value"], "l": f["final_value"]})
    return out


def _first(value: str, alts: list[str]) -> list[str]:
    return ([value] + [a for a in alts if a != value])[:3] if value else alts


def _field_issues(issues: Mapping[int, list[dict]], record_ids: list[int], name: str) -> list[dict]:
    seen: set[str] = set()
    out = []
    for rid in record_ids:
        for i in issues.get(rid, []):
            if i["field"] == name and i["message"] not in seen:
                seen.add(i["message"])
                out.append(i)
    return out


def stamp(sh: Mapping[str, Any]) -> str:
    """Changes whenever a value, a record's version or its state changes."""
    return ";".join([f"{f['id']}:{f['version']}" for f in sh["fields"]]
                    + [f"r{r['id']}:{r['version']}:{r['state']}" for r in sh["records"]])


def sheet(sh: Mapping[str, Any], metas: Mapping[str, Meta], pngs: Mapping[int, bytes], uris: Mapping[int, str], *,
          title: str, rows_per_page: int, messages: Mapping[int, str] | None = None) -> dict[str, Any]:
    """A whole sheet for the per-form screen: fields in the order of the paper, uncertain ones numbered.

    A one-record form is drawn as lines (label, snippet, value); a queue sheet as a table with
    a row per record and the page-level fields (its date) above.
    """
    page, records = sh["page"], sh["records"]
    messages = messages or {}
    open_ids = [r["id"] for r in records if r["state"] in ("review", "flagged")]
    by_record = {r["record_no"]: r for r in records}
    order = {name: i for i, name in enumerate(metas)}
    fields = sorted(sh["fields"], key=lambda f: (-1 if f["record_no"] is None else f["record_no"],
                                                 order.get(f["name"], len(order)), f["id"]))
    hints: dict[int, str] = {}
    for r in records:
        hints.update(implied([f for f in fields if f["record_no"] in (r["record_no"], None)], metas))
    tag = 0
    drawn = []
    for f in fields:
        rec = by_record.get(f["record_no"])
        ids = [r["id"] for r in records] if f["record_no"] is None else [rec["id"]] if rec else []
        is_open = any(i in open_ids for i in ids)
        issues = _field_issues(sh["issues"], [i for i in ids if i in open_ids], f["name"])
        ask = is_open and (bool(f["look"]) or bool(issues))
        tag += ask
        meta = metas.get(f["name"]) or _Plain(f["name"], f["kind"])
        drawn.append((f, cell(f, meta, pngs.get(f["id"], b""), uris.get(f["id"], ""), ask=ask,
                              tag=tag if ask else 0, issues=issues, locked=not is_open,
                              message=messages.get(f["id"], ""), hint=hints.get(f["id"], ""))))
    blocking = sum(1 for rid in open_ids for i in sh["issues"].get(rid, []) if i["blocking"])
    record_blocking = sum(1 for rid in open_ids for i in sh["issues"].get(rid, []) if i["blocking"] and not i["field"])
    out: dict[str, Any] = {
        "key": f"p{page['id']}", "page_id": page["id"], "page_key": page["page_key"], "title": title,
        "source": f"{page['file_name']}, halaman {page['page_no']}", "stamp": stamp(sh),
        "records": {str(r["id"]): r["version"] for r in records if r["id"] in open_ids},
        "locked": not open_ids, "blocking": blocking, "record_blocking": record_blocking,
        "state": _sheet_state(records), "record_issues": [
            i["message"] for rid in open_ids for i in sh["issues"].get(rid, []) if not i["field"]],
        "layout": "table" if rows_per_page > 1 else "lines",
        "struck": [rid for rid in open_ids if any(i["rule"] == STRUCK_RULE for i in sh["issues"].get(rid, []))],
    }
    if rows_per_page > 1:
        out["shared"] = [c for f, c in drawn if f["record_no"] is None]
        out["columns"] = [{"name": n, "label": m.label} for n, m in metas.items()
                          if any(f["name"] == n and f["record_no"] is not None for f, _ in drawn)]
        out["rows"] = [{"id": r["id"], "no": r["record_no"] + 1, "state": logic.STATE_LABEL.get(r["state"], ""),
                        "open": r["id"] in open_ids,
                        "cells": {c["name"]: c for f, c in drawn if f["record_no"] == r["record_no"]}}
                       for r in records]
    else:
        out["cells"] = paper_lines([c for _, c in drawn], [f for f, _ in drawn])
    return out


def paper_lines(cells: list[dict[str, Any]], fields: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Number the lines of the paper: fields printed side by side (same top edge) share a ``line``."""
    line, top = 0, None
    for c, f in zip(cells, fields):
        try:
            y = json.loads(f.get("box") or "[]")[1]
        except (ValueError, IndexError, TypeError):
            y = None
        if top is None or y is None or abs(y - top) > SAME_LINE_PX:
            line += 1
            top = y
        c["line"] = line
    return cells


def _sheet_state(records: list[Mapping[str, Any]]) -> str:
    states = {r["state"] for r in records}
    notes = sorted({r["flagged"] for r in records if r["state"] == "flagged" and r.get("flagged")})
    if len(states) == 1:
        state = logic.STATE_LABEL.get(states.pop(), "")
        return f"{state}: {'; '.join(notes)}" if notes else state
    done = sum(r["state"] in ("approved", "exported") for r in records)
    void = sum(r["state"] == "void" for r in records)
    return f"{done} dari {len(records) - void} baris disetujui" + (f", {void} bukan pasien" if void else "")


class _Plain:
    """Meta of a field the form no longer defines."""

    def __init__(self, name: str, kind: str) -> None:
        self.options: dict[str, str] = {}
        self.label, self.kind, self.role = name, kind, ""


def column(rows: Sequence[Mapping[str, Any]], meta: Meta, pngs: Mapping[int, bytes], uris: Mapping[int, str], *,
           row_label: Any, messages: Mapping[int, str] | None = None) -> dict[str, Any]:
    """One field across sheets for the per-field grid: every row is to be checked; the screen shows a batch."""
    messages = messages or {}
    cells = []
    for n, r in enumerate(rows, 1):
        c = cell(r, meta, pngs.get(r["id"], b""), uris.get(r["id"], ""), ask=True, tag=n, issues=r["issues"],
                 locked=False, message=messages.get(r["id"], ""))
        c["label"] = row_label(r)
        cells.append(c)
    return {"key": "grid:" + ",".join(str(r["id"]) for r in rows), "layout": "lines", "grid": True,
            "title": meta.label, "cells": cells, "stamp": ";".join(f"{r['id']}:{r['version']}" for r in rows),
            "records": {}, "locked": False, "blocking": 0, "record_issues": []}
