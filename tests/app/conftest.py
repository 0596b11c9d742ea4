"""A temporary store filled with hand-made pages (no recognition): the review app's test data.

Pages are drawn with Pillow in the template frame (8 px/mm): printed boxes with the
"handwritten" value inside, so snippets and the page image look like the real thing.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from pipeline import forms, validate
from pipeline.models import FieldDef, FieldImage, FormDefinition, Issue, PageId, PageResult, Reading
from pipeline.store import Store
from pipeline.store.users import add_user

PX = 8
PAD = 1.0
APP = Path(__file__).resolve().parents[2] / "review_app" / "app.py"
PASSWORD = "rahasia-123"


def person(**changes: str) -> dict[str, str]:
    """A consistent invented patient (NIK agrees with birth date and sex); values in export form."""
    visit = (date.today() - timedelta(days=3)).isoformat()
    values = {
        "visit_date": visit, "queue_no": "012", "arrival_time": "08:15", "visit_type": "baru", "rm_no": "",
        "nik": "3529054708850003", "bpjs_no": "0001234567890", "name": "SITI AMINAH", "sex": "P",
        "birth_date": "1985-08-07", "address": "DUSUN KRAJAN", "rt": "002", "rw": "001", "village": "KAPEDI",
        "phone": "081234567890", "poli": "umum", "payment": "bpjs", "complaint": "DEMAM TIGA HARI",
    }
    values.update(changes)
    return values


def queue_row(**changes: str) -> dict[str, str]:
    """One filled row of the queue sheet."""
    values = {"queue_no": "001", "arrival_time": "07:40", "name": "MOH HOLILI", "rm_no": "00012345",
              "visit_type": "lama", "poli": "umum", "payment": "umum"}
    values.update(changes)
    return values


def _px(box: tuple[float, float, float, float], pad: float = 0.0) -> tuple[int, int, int, int]:
    x, y, w, h = box
    return round((x - pad) * PX), round((y - pad) * PX), round((w + 2 * pad) * PX), round((h + 2 * pad) * PX)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


def _draw_field(draw: ImageDraw.ImageDraw, f: FieldDef, value: str) -> None:
    font = _font(40)
    if f.kind == "choice":
        for o in f.options:
            x, y, w, h = _px(o.box)
            draw.rectangle((x, y, x + w, y + h), outline=90, width=3)
            draw.text((x + w + 8, y), o.label, fill=60, font=_font(28))
            if o.value == value:
                draw.line((x + 6, y + 6, x + w - 6, y + h - 6), fill=20, width=6)
                draw.line((x + w - 6, y + 6, x + 6, y + h - 6), fill=20, width=6)
        return
    text = value.replace(":", "")
    if f.kind == "date" and len(value) == 10:
        text = value[8:10] + value[5:7] + value[0:4]
    if f.cells:
        for i, c in enumerate(f.cells):
            x, y, w, h = _px(c)
            draw.rectangle((x, y, x + w, y + h), outline=150, width=2)
            draw.text((x + w // 4, y + h // 6), text[i] if i < len(text) else " ", fill=25, font=font)
    else:
        x, y, w, h = _px(f.box)
        draw.rectangle((x, y, x + w, y + h), outline=150, width=2)
        draw.text((x + 10, y + 10), value, fill=25, font=font)


def _page_image(form: FormDefinition, values: dict[str | None, dict[str, str]],
                fields: list[FieldDef]) -> Image.Image:
    w, h = round(form.page_mm[0] * PX), round(form.page_mm[1] * PX)
    page = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(page)
    draw.text((w // 3, 60), form.title, fill=0, font=_font(48))
    for f in fields:
        key = None if f.record is None or form.records_per_page == 1 else f.record
        draw.text((round((f.box[0] - 44) * PX), round(f.box[1] * PX)), f.label, fill=40, font=_font(26))
        _draw_field(draw, f, values.get(key, {}).get(f.name, ""))
    return page


def _snippet(page: Image.Image, f: FieldDef) -> FieldImage:
    x, y, w, h = _px(f.box, PAD)
    crop = page.crop((x, y, x + w, y + h))
    buf = io.BytesIO()
    crop.save(buf, "PNG")
    parts = f.cells or tuple(o.box for o in f.options) or (f.box,)
    cells = tuple((b[0] - x, b[1] - y, b[2], b[3]) for b in (_px(p) for p in parts))
    return FieldImage(f.name, f.record, buf.getvalue(), cells, _px(f.box))


@dataclass
class Factory:
    """Adds hand-made recognised pages to a store, as the ingest would."""

    store: Store
    serial: int = 0
    pages: list[int] = field(default_factory=list)

    def _page_row(self, name: str) -> int:
        batch = self.store.start_batch("tests", "tests")
        sha = hashlib.sha256(f"{name}-{len(self.pages)}".encode()).hexdigest()
        file_id = self.store.add_file(sha, name, f"originals/{sha}.pdf", 1, batch)
        self.store.set_file(file_id, status="ok")
        page_id = self.store.ensure_pages(file_id, 1)[0]["id"]
        self.store.finish_batch(batch)
        return page_id

    def _save(self, form: FormDefinition, rows: dict[int, dict[str, str]], shared: dict[str, str],
              unsure: dict[tuple[int | None, str], tuple[str, float]]) -> list[int]:
        self.serial += 1
        records = tuple(sorted(rows))
        fields = [f for f in form.fields if f.record is None or f.record in records]
        values: dict[int | None, dict[str, str]] = {None: shared, **rows}
        if form.records_per_page == 1:
            values = {None: rows[0], 0: rows[0]}
        page = _page_image(form, values, fields)
        readings, images = [], []
        for f in fields:
            rec = 0 if form.records_per_page == 1 else f.record
            truth = values[None if f.record is None else rec].get(f.name, "")
            machine, conf = unsure.get((rec, f.name), (truth, 0.99))
            status = "review" if (rec, f.name) in unsure else "auto"
            topk = ((machine, conf), (truth, round(1 - conf, 2))) if machine != truth else ((machine, conf),)
            readings.append(Reading(f.name, rec, f.kind, machine, conf, status, "test", topk))
            im = _snippet(page, f)
            images.append(FieldImage(im.name, rec, im.png, im.cells_px, im.box_px))
        issues = []
        for r in records:
            vals = {rd.name: rd.value for rd in readings if rd.record in (r, None)}
            issues += [(r, i) for i in validate.validate_record(form.form_id, vals)]
        buf = io.BytesIO()
        page.save(buf, "JPEG", quality=70)
        result = PageResult("done", identified_by="qr", readings=tuple(readings), images=tuple(images),
                            records=records, issues=tuple(issues), image_jpeg=buf.getvalue())
        return self._store(form, result)

    def _store(self, form: FormDefinition, result: PageResult) -> list[int]:
        ident = PageId(form.form_id, form.version, self.serial, form.fingerprint)
        page_id = self._page_row(f"scan-{form.form_id}-{self.serial}.pdf")
        rel = Path("pages") / f"{page_id}.jpg"
        (self.store.data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (self.store.data_dir / rel).write_bytes(result.image_jpeg or b"")
        stored = PageResult(**{**result.__dict__, "ident": ident, "image_jpeg": None})
        self.store.save_page(page_id, stored, ident.page_id, str(rel))
        self.pages.append(page_id)
        return self.store.records_of_page(page_id)

    def bulk(self, pages: int, form_id: str = "pendaftaran") -> None:
        """Many pages fast: one drawn page (with two values to review) stored ``pages`` times."""
        first = self.pendaftaran(unsure={"name": ("SITI AMlNAH", 0.6), "sex": ("L", 0.4)}) \
            if form_id == "pendaftaran" else self.antrean([queue_row(queue_no=f"{i + 1:03d}") for i in range(12)],
                                                          unsure={(3, "name"): ("MOH H0LILI", 0.5)})[0]
        page_id = self.store.record(first)["page_id"]
        form = forms.load(form_id)
        rows = self.store.db.q("SELECT * FROM fields WHERE page_id=? ORDER BY id", (page_id,))
        readings = tuple(Reading(r["name"], r["record_no"], r["kind"], r["machine_value"], r["confidence"],
                                 r["status"], r["engine"]) for r in rows)
        images = tuple(FieldImage(r["name"], r["record_no"], r["crop"], (), tuple(json.loads(r["box"])))
                       for r in rows)
        records = tuple(sorted({r["record_no"] for r in rows if r["record_no"] is not None}))
        issues = tuple((self.store.db.q("SELECT record_no FROM records WHERE id=?", (i["record_id"],))[0][0],
                        Issue(i["field"], i["rule"], i["message"], bool(i["blocking"])))
                       for i in self.store.db.q("SELECT * FROM issues WHERE record_id IN "
                                             "(SELECT id FROM records WHERE page_id=?)", (page_id,)))
        jpeg = (self.store.data_dir / self.store.page(page_id)["image_path"]).read_bytes()
        result = PageResult("done", identified_by="qr", readings=readings, images=images, records=records,
                            issues=issues, image_jpeg=jpeg)
        for _ in range(pages - 1):
            self.serial += 1
            self._store(form, result)

    def pendaftaran(self, unsure: dict[str, tuple[str, float]] | None = None, **values: str) -> int:
        """One registration sheet; ``unsure`` = {field: (machine value, confidence)} sent to review."""
        form = forms.load("pendaftaran")
        return self._save(form, {0: person(**values)}, {},
                          {(0, k): v for k, v in (unsure or {}).items()})[0]

    def antrean(self, rows: list[dict[str, str]], visit_date: str | None = None,
                unsure: dict[tuple[int | None, str], tuple[str, float]] | None = None) -> list[int]:
        """One queue sheet with ``rows`` filled from the top; ``unsure`` keyed by (row or None, field)."""
        form = forms.load("antrean")
        shared = {"visit_date": visit_date or (date.today() - timedelta(days=2)).isoformat()}
        return self._save(form, dict(enumerate(rows)), shared, unsure or {})

    def problem_page(self, reason: str = "not_a_form", message: str = "no markers found") -> int:
        """A page the pipeline could not read."""
        page_id = self._page_row(f"rusak-{len(self.pages)}.jpg")
        self.store.mark_page(page_id, "problem", reason, message)
        self.pages.append(page_id)
        return page_id


@pytest.fixture
def data_dir(tmp_path: Path, db: str | None) -> Path:
    """An empty data directory with two accounts: ``ani`` (reviewer) and ``budi`` (admin)."""
    d = tmp_path / "data"
    with Store.open(d) as store:
        add_user(store, "ani", PASSWORD, "reviewer")
        add_user(store, "budi", PASSWORD, "admin")
    return d


@pytest.fixture
def factory(data_dir: Path) -> Iterator[Factory]:
    """A :class:`Factory` on the test data directory."""
    with Store.open(data_dir) as store:
        yield Factory(store)


@pytest.fixture
def app_env(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the app at the test data directory."""
    monkeypatch.setenv("SUSULAN_DATA_DIR", str(data_dir))
    return data_dir
