"""A synthetic clinic for learning tests: one writer with fixed glyphs, fields read by the real classifier.

Each page holds one registration record whose digit fields are written by the same
writer: one real MNIST digit (TEST split) per character, slightly jittered. The field
snippets look like the pipeline's (grey comb cells at 8 px/mm, 1 mm margin), the
machine reading comes from :func:`pipeline.recognize.icr.read_cells` on the cells cut
back out of the snippet, and pages are stored with :meth:`Store.save_page`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from pipeline import forms
from pipeline.learn.labels import cut_cells
from pipeline.models import FieldImage, PageId, PageResult
from pipeline.recognize import boxed, icr
from pipeline.store import Store
from susulan_tools import datasets

PX = 8
FIELDS = ("nik", "phone")


def writer_glyphs(odd: str = "47") -> dict[str, np.ndarray]:
    """A writer's digits: per digit the TEST-split MNIST sample the shipped model finds most like it,
    except the digits in ``odd``, written the way it finds least like them (it misreads them)."""
    images, labels = datasets.mnist_digits("test")
    out = {}
    for d in range(10):
        idx = np.flatnonzero(labels == d)
        cells = [cell_crop(images[i]) for i in idx]
        p, chars = icr.probabilities(icr.preprocess_batch(cells), "digits")
        mine = p[:, chars.index(str(d))]
        out[str(d)] = images[idx[int(np.argmin(mine) if str(d) in odd else np.argmax(mine))]]
    return out


def cell_crop(glyph: np.ndarray, w: int = 48, h: int = 64, jitter: tuple[int, int] = (0, 0)) -> np.ndarray:
    """One comb cell with 1 mm margin (grey uint8): border lines and the glyph in the middle."""
    crop = np.full((h + 2 * PX, w + 2 * PX), 255, np.uint8)
    cv2.rectangle(crop, (PX, PX), (PX + w, PX + h), 140, 2)
    ink = cv2.resize(255 - glyph, (34, 42), interpolation=cv2.INTER_LINEAR)
    y, x = PX + (h - 42) // 2 + jitter[1], PX + (w - 34) // 2 + jitter[0]
    region = crop[y:y + 42, x:x + 34].astype(np.int16)
    crop[y:y + 42, x:x + 34] = np.clip(region - ink.astype(np.int16), 20, 255).astype(np.uint8)
    return crop


def snippet(glyphs_: dict[str, np.ndarray], value: str, n: int, rng: np.random.Generator) -> FieldImage:
    """A field snippet (PNG) of ``n`` cells with ``value`` written from the first cell."""
    w, h = 48, 64
    img = np.full((h + 2 * PX, n * w + 2 * PX), 255, np.uint8)
    cells = []
    for i in range(n):
        x = PX + i * w
        cells.append((x, PX, w, h))
        if i < len(value):
            one = cell_crop(glyphs_[value[i]], w, h, (int(rng.integers(-2, 3)), int(rng.integers(-2, 3))))
            img[:, x - PX:x + w + PX] = np.minimum(img[:, x - PX:x + w + PX], one)
        else:
            cv2.rectangle(img, (x, PX), (x + w, PX + h), 140, 2)
    ok, png = cv2.imencode(".png", img)
    return FieldImage("", 0, png.tobytes(), tuple(cells), (0, 0, img.shape[1], img.shape[0]))


@dataclass
class Clinic:
    """Adds pages written by one writer to a store; remembers the truth per field id."""

    store: Store
    glyphs: dict[str, np.ndarray]
    truth: dict[int, str]
    model: Path = icr.MODEL_PATH

    def add_pages(self, count: int, seed: int) -> list[int]:
        """Read ``count`` new pages into the store as one ingest batch; returns their page ids."""
        form = forms.load("pendaftaran")
        defs = {f.name: f for f in form.fields}
        rng = np.random.default_rng(seed)
        batch = self.store.start_batch("tests", "tests")
        pages = []
        for k in range(count):
            values = {name: "".join(str(d) for d in rng.integers(0, 10, len(defs[name].cells))) for name in FIELDS}
            snips = {name: snippet(self.glyphs, values[name], len(defs[name].cells), rng) for name in FIELDS}
            cells = icr.read_cells([c for name in FIELDS for c in cut_cells(snips[name].png,
                                                                            list(snips[name].cells_px))], "digits",
                                   model=self.model)
            readings, images, i = [], [], 0
            for name in FIELDS:
                n = len(defs[name].cells)
                readings.append(boxed.reading(defs[name], cells[i:i + n]))
                images.append(FieldImage(name, 0, snips[name].png, snips[name].cells_px, snips[name].box_px))
                i += n
            pages.append(self._save(batch, seed * 1000 + k, readings, images))
            for row in self.store.record_fields(self.store.records_of_page(pages[-1])[0]):
                self.truth[row["id"]] = values[row["name"]]
        self.store.finish_batch(batch)
        return pages

    def _save(self, batch: int, serial: int, readings: list, images: list) -> int:
        sha = hashlib.sha256(f"clinic-{serial}".encode()).hexdigest()
        file_id = self.store.add_file(sha, f"{serial}.png", f"originals/{sha}.png", 1, batch)
        page_id = self.store.ensure_pages(file_id, 1)[0]["id"]
        result = PageResult("done", ident=PageId("pendaftaran", 1, serial), records=(0,),
                            readings=tuple(replace(r, record=0) for r in readings), images=tuple(images),
                            model=icr.model_version(self.model))
        self.store.save_page(page_id, result, f"pendaftaran-{serial:06d}", None)
        return page_id

    def review_all(self, user: str = "perawat") -> int:
        """A person corrects every wrong value and confirms every right one; returns how many were wrong."""
        wrong = 0
        for field_id, value in self.truth.items():
            row = self.store.field(field_id)
            if row["status"] in ("confirmed", "corrected"):
                continue
            if row["final_value"] != value:
                self.store.set_value(field_id, value, user, row["version"])
                wrong += 1
            else:
                self.store.confirm(field_id, user, row["version"])
        return wrong
