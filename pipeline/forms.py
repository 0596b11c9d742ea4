"""Form definitions: ``forms/<form_id>/v<N>.yaml`` -> validated :class:`FormDefinition`.

All geometry is in millimetres from the page's top-left corner. Grids of comb
boxes are generated from an origin, a cell size and a count (groups add a gap,
e.g. ``DD MM YYYY``), so the YAML stays short and declarative.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import BadInput, UnknownForm
from pipeline.form_schema import check_form, check_site
from pipeline.models import FIELD_KINDS, Box, FieldDef, FormDefinition, Option

CHECKOUT_FORMS = Path(__file__).resolve().parent.parent / "forms"
"""The source of truth: the top-level ``forms/`` of the checkout."""
GROUP_GAP_MM = 3.0
DEFAULT_GROUPS = {"date": (2, 2, 4), "time": (2, 2)}
DEFAULT_COUNTS = {"date": 8, "time": 4}


def forms_dir() -> Path:
    """Folder holding ``site.yaml`` and one folder per form.

    ``$SUSULAN_FORMS_DIR`` if set; else the copy an installed wheel carries (``pipeline/forms_data``,
    found through ``importlib.resources``); else the checkout's top-level ``forms/``.
    """
    if os.environ.get("SUSULAN_FORMS_DIR"):
        return Path(os.environ["SUSULAN_FORMS_DIR"])
    packaged = Path(str(resources.files("pipeline") / "forms_data"))
    return packaged if packaged.is_dir() else CHECKOUT_FORMS


def load_site(root: Path | None = None) -> dict[str, Any]:
    """Per-Puskesmas settings from ``forms/site.yaml`` (name, kabupaten, kecamatan, opening hours, poli list)."""
    return dict(_site_cached(str(root or forms_dir())))


@lru_cache(maxsize=8)
def _site_cached(root: str) -> dict[str, Any]:
    path = Path(root) / "site.yaml"
    if not path.exists():
        raise BadInput(f"site settings not found: {path}")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    check_site(raw, str(path))
    return raw


def opening_hours(root: Path | None = None) -> tuple[str, str]:
    """The site's opening hours, ``("HH:MM", "HH:MM")``."""
    start, end = load_site(root).get("opening_hours", ("06:00", "18:00"))
    return str(start), str(end)


def kabupaten_code(site: dict[str, Any]) -> str:
    """Kemendagri code of the site's kabupaten (``35.29`` from kecamatan ``35.29.05``)."""
    return ".".join(str(site["kecamatan_code"]).split(".")[:2])


def available(root: Path | None = None) -> list[tuple[str, int]]:
    """All ``(form_id, version)`` pairs defined, sorted."""
    base = root or forms_dir()
    found = []
    for path in sorted(base.glob("*/v*.yaml")):
        try:
            found.append((path.parent.name, int(path.stem[1:])))
        except ValueError:
            continue
    return sorted(found)


def latest_version(form_id: str, root: Path | None = None) -> int:
    """Highest version defined for ``form_id``."""
    versions = [v for f, v in available(root) if f == form_id]
    if not versions:
        known = ", ".join(sorted({f for f, _ in available(root)})) or "none"
        raise UnknownForm(f"unknown form {form_id!r} (known forms: {known})")
    return max(versions)


@lru_cache(maxsize=32)
def _load_cached(form_id: str, version: int, root: str) -> FormDefinition:
    base = Path(root)
    path = base / form_id / f"v{version}.yaml"
    if not path.exists():
        raise UnknownForm(f"form {form_id!r} has no version {version} (no file {path})")
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return build(raw, load_site(base), str(path))


def load(form_id: str, version: int | None = None, root: Path | None = None) -> FormDefinition:
    """Load and validate one form definition (latest version if ``version`` is None)."""
    base = root or forms_dir()
    if version is None:
        version = latest_version(form_id, base)
    return _load_cached(form_id, version, str(base))


def load_all(root: Path | None = None) -> list[FormDefinition]:
    """Every form and version defined."""
    return [load(f, v, root) for f, v in available(root)]


def _options(spec: Any, site: dict[str, Any]) -> list[dict[str, str]]:
    if isinstance(spec, dict) and "from_site" in spec:
        key = spec["from_site"]
        if key not in site:
            raise BadInput(f"site.yaml has no list {key!r}")
        spec = site[key]
    return [{"value": str(o["value"]), "label": str(o.get("label", o["value"]))} for o in spec]


def _cells(at: list[float], count: int, cell: list[float], groups: tuple[int, ...]) -> list[Box]:
    x, y = float(at[0]), float(at[1])
    w, h = float(cell[0]), float(cell[1])
    boxes: list[Box] = []
    for size in groups or (count,):
        for _ in range(size):
            boxes.append((round(x, 3), y, w, h))
            x += w
        x += GROUP_GAP_MM
    return boxes


def _bbox(boxes: list[Box]) -> Box:
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    return (x0, y0, round(x1 - x0, 3), round(y1 - y0, 3))


def _field(raw: dict[str, Any], form: dict[str, Any], site: dict[str, Any], record: int | None,
           shift: tuple[float, float]) -> FieldDef:
    name, kind = raw["name"], raw["kind"]
    if kind not in FIELD_KINDS:
        raise BadInput(f"field {name!r}: unknown kind {kind!r} (one of {', '.join(FIELD_KINDS)})")
    dx, dy = shift
    label = str(raw.get("label", ""))
    top = raw["box"][1] if kind == "text" else raw["at"][1]
    cell_h = float(raw.get("cell", form.get("cell", [6, 8]))[1]) if kind != "choice" else float(raw.get("box", 6))
    deco: dict[str, Any] = {
        "label": label,
        "label_at": (float(raw.get("label_x", form.get("label_x", 12))), top + dy + min(cell_h, 8) / 2 + 1.3),
        "hint": str(raw.get("hint", "")),
    }
    if kind == "text":
        x, y, w, h = raw["box"]
        box = (x + dx, y + dy, float(w), float(h))
        return FieldDef(name, kind, record, box, **deco, **_meaning(raw))
    at = [raw["at"][0] + dx, raw["at"][1] + dy]
    if kind == "choice":
        size = float(raw.get("box", 6))
        px, py = raw.get("pitch", [30, 0])
        per_row = int(raw.get("per_row", 99))
        row_pitch = float(raw.get("row_pitch", size + 3))
        options = []
        for i, opt in enumerate(_options(raw["options"], site)):
            r, c = divmod(i, per_row)
            ox = at[0] + c * px
            oy = at[1] + c * py + r * row_pitch
            options.append(Option(opt["value"], opt["label"], (round(ox, 3), round(oy, 3), size, size)))
        return FieldDef(name, kind, record, _bbox([o.box for o in options]), options=tuple(options),
                        option_labels=str(raw.get("option_labels", "right")), **deco, **_meaning(raw))
    groups = tuple(raw.get("groups", DEFAULT_GROUPS.get(kind, ())))
    count = int(raw.get("count", DEFAULT_COUNTS.get(kind, sum(groups) or 1)))
    if groups and sum(groups) != count:
        raise BadInput(f"field {name!r}: groups {groups} do not add up to count {count}")
    cells = _cells(at, count, raw.get("cell", form.get("cell", [6, 8])), groups)
    return FieldDef(name, kind, record, _bbox(cells), cells=tuple(cells), groups=groups, **deco, **_meaning(raw))


def _meaning(raw: dict[str, Any]) -> dict[str, Any]:
    """What a field means (role, required, lexicon, batch hint): not layout, never in the fingerprint."""
    return {"role": str(raw.get("role") or ""), "required": bool(raw.get("required", False)),
            "lexicon": str(raw.get("lexicon") or ""), "batch": str(raw.get("batch") or "")}


def build(raw: dict[str, Any], site: dict[str, Any], source: str = "") -> FormDefinition:
    """Check a parsed YAML form against the schema, resolve it into absolute geometry and validate that."""
    check_form(raw, source or "(in memory)")
    try:
        page_w, page_h = (float(v) for v in raw["page_mm"])
        m = raw["markers"]
        size, margin = float(m["size"]), float(m["margin"])
        marker_boxes = (
            (margin, margin, size, size),
            (page_w - margin - size, margin, size, size),
            (page_w - margin - size, page_h - margin - size, size, size),
            (margin, page_h - margin - size, size, size),
        )
        fields = [_field(f, raw, site, None, (0, 0)) for f in raw.get("fields", [])]
        rec = raw.get("records", {"count": 1})
        count = int(rec.get("count", 1))
        pdx, pdy = rec.get("pitch", [0, 0])
        for i in range(count if raw.get("record_fields") else 0):
            fields += [_field(f, raw, site, i, (i * pdx, i * pdy)) for f in raw["record_fields"]]
        form = FormDefinition(
            form_id=str(raw["form_id"]),
            version=int(raw["version"]),
            kind=str(raw["kind"]),
            title=str(raw.get("title", raw["form_id"])),
            page_mm=(page_w, page_h),
            marker_ids=tuple(int(i) for i in m["ids"]),  # type: ignore[arg-type]
            marker_boxes=marker_boxes,
            qr_box=tuple(float(v) for v in raw["qr"]["box"]),  # type: ignore[arg-type]
            serial_at=tuple(float(v) for v in raw["serial_at"]),  # type: ignore[arg-type]
            records_per_page=count,
            fields=tuple(fields),
            decor=tuple(raw.get("decor", ())),
            site=dict(site),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise BadInput(f"form definition {raw.get('form_id', '?')!r} is invalid: {e!r}") from e
    _check_geometry(form)
    fp = hashlib.sha1(json.dumps(layout_dict(form), sort_keys=True).encode()).hexdigest()[:8]
    return FormDefinition(**{**form.__dict__, "fingerprint": fp})


def _boxes_of(f: FieldDef) -> list[Box]:
    if f.kind == "text":
        return [f.box]
    if f.kind == "choice":
        return [o.box for o in f.options]
    return list(f.cells)


def _overlap(a: Box, b: Box) -> bool:
    eps = 1e-6
    return (a[0] < b[0] + b[2] - eps and b[0] < a[0] + a[2] - eps
            and a[1] < b[1] + b[3] - eps and b[1] < a[1] + a[3] - eps)


def _check_geometry(form: FormDefinition) -> None:
    """Every box inside the page, clear of markers and QR, and no two fields overlapping."""
    w, h = form.page_mm
    reserved = [("marker", b) for b in form.marker_boxes] + [("QR code", form.qr_box)]
    placed: list[tuple[str, Box]] = []
    for f in form.fields:
        for b in _boxes_of(f):
            if b[0] < 0 or b[1] < 0 or b[0] + b[2] > w or b[1] + b[3] > h:
                raise BadInput(f"form {form.form_id}: field {f.key} lies outside the page")
            for what, r in reserved + placed:
                if _overlap(b, r) and what != f.key:
                    raise BadInput(f"form {form.form_id}: field {f.key} overlaps {what}; move it in the YAML")
        placed += [(f.key, b) for b in _boxes_of(f)]


def _r(box: Box) -> list[float]:
    return [round(v, 3) for v in box]


def field_layout(f: FieldDef) -> dict[str, Any]:
    """One field as in ``forms layout`` JSON."""
    out: dict[str, Any] = {"name": f.name, "record": f.record, "kind": f.kind, "label": f.label, "box": _r(f.box)}
    if f.kind == "choice":
        out["options"] = [{"value": o.value, "label": o.label, "box": _r(o.box)} for o in f.options]
    elif f.kind != "text":
        out["cells"] = [_r(c) for c in f.cells]
    return out


def layout_dict(form: FormDefinition) -> dict[str, Any]:
    """The form as the ``forms layout`` JSON object (mm, top-left origin)."""
    return {
        "form_id": form.form_id,
        "version": form.version,
        "title": form.title,
        "page_mm": list(form.page_mm),
        "records_per_page": form.records_per_page,
        "markers": [{"id": i, "box": _r(b)} for i, b in zip(form.marker_ids, form.marker_boxes)],
        "qr": _r(form.qr_box),
        "fields": [field_layout(f) for f in form.fields],
    }


def values_by_role(form_id: str, values: dict[str, str]) -> dict[str, str]:
    """A record's values keyed by role instead of field name (names without a role kept as they are)."""
    try:
        roles = {f.name: f.role for f in load(form_id).fields if f.role}
    except UnknownForm:
        return dict(values)
    return {roles.get(k, k): v for k, v in values.items()}


def accept_kinds(root: Path | None = None) -> dict[tuple[str, str], str]:
    """``(form_id, field name) -> acceptance kind`` (:attr:`FieldDef.accept_kind`) over every form defined."""
    return {(f.form_id, fd.name): fd.accept_kind for f in load_all(root) for fd in f.fields}


def by_marker_ids(ids: set[int], root: Path | None = None) -> FormDefinition:
    """The form whose corner markers best match ``ids`` (fallback when the QR is unreadable)."""
    candidates = [f for f in load_all(root) if ids & set(f.marker_ids)]
    if not candidates:
        raise UnknownForm(f"no form uses corner markers {sorted(ids)}")
    return max(candidates, key=lambda f: (len(ids & set(f.marker_ids)), f.version))
