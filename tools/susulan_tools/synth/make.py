"""Sample scans with exact ground truth: plan pages and files, fill, age, write scans and ``truth.jsonl``.

Serials: page ``i`` (0-based) made with seed ``s`` gets serial ``s * 100000 + i + 1``, so
runs with different seeds never share a serial (up to 99,999 pages per run, seeds
0-9999); ``page_id`` is ``f"{form_id}-{serial:06d}"``.

Files written to the output folder (one stack scanned in order, so queue numbers rise
through the files in plan order):

- ``feeder-NNN.pdf``: sheet-feeder scans, up to 10 pages, each page one grey JPEG at
  200 dpi, exactly as scanners write them; a PDF of 5 or more pages has one page fed
  upside down.
- ``bw-NNN.tif``: black-and-white feeder scans, multi-page TIFF G4 (up to 30 pages).
- ``phone-NNN.jpg``: one phone photo each; some are taken sideways.
- ``truth.jsonl``: one line per record (see :meth:`SamplePage.truth`).

In-process use (benchmarks, tests): :func:`iter_pages` yields :class:`SamplePage` with
``.filled.image`` (unaged RGB page), ``.aged.image`` (as decoded from the file) and
``.truth()``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pipeline import forms
from pipeline.errors import BadInput
from susulan_tools import datasets
from susulan_tools.synth import aging, fill, people

FORM_IDS = ("pendaftaran", "antrean")
KINDS = aging.KINDS
KIND_SHARE = {"feeder": 0.6, "bw": 0.2, "phone": 0.2}
SERIAL_BLOCK = 100_000
MAX_PAGES = SERIAL_BLOCK - 1
MAX_SEED = 9999
BW_PER_FILE = 30
CHUNK = 8
OURS = re.compile(r"^(feeder-\d+\.pdf|bw-\d+\.tif|phone-\d+\.jpg|truth\.jsonl(\.part)?)$")


@dataclass(frozen=True)
class PagePlan:
    """Where one sample page goes and how it is turned."""

    index: int
    form_id: str
    serial: int
    kind: str
    file: str
    page: int
    pages_in_file: int
    orientation: int


@dataclass
class SamplePage:
    """One generated page: the plan, the unaged filled page and the aged scan."""

    plan: PagePlan
    filled: fill.FilledPage
    aged: aging.Aged

    @property
    def page_id(self) -> str:
        """``<form_id>-<serial:06d>``."""
        return self.filled.page_id

    def truth(self) -> list[dict[str, Any]]:
        """Truth lines: one per filled record, ``fields`` in export form (page-level fields repeated)."""
        fp, p = self.filled, self.plan
        names = fp.form.field_names()
        return [{"page_id": fp.page_id, "form_id": p.form_id, "version": fp.form.version, "serial": p.serial,
                 "record": r, "fields": {n: values.get(n, "") for n in names},
                 "source": {"file": p.file, "page": p.page}, "orientation": p.orientation, "kind": p.kind,
                 "detail": fp.detail.get(r, {})}
                for r, values in sorted(fp.records.items())]


def serial_for(seed: int, index: int) -> int:
    """Serial of page ``index`` (0-based) of the run with ``seed``."""
    return seed * SERIAL_BLOCK + index + 1


def check_args(n: int, seed: int, split: str, kinds: Sequence[str], antrean_share: float) -> None:
    """Raise :class:`BadInput` with one clear line for arguments we cannot use."""
    if not 1 <= n <= MAX_PAGES:
        raise BadInput(f"--pages must be between 1 and {MAX_PAGES}, not {n}")
    if not 0 <= seed <= MAX_SEED:
        raise BadInput(f"--seed must be between 0 and {MAX_SEED}, not {seed}")
    if split not in datasets.SPLITS:
        raise BadInput(f"--split must be one of {', '.join(datasets.SPLITS)}, not {split!r}")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise BadInput(f"--kinds must be some of {', '.join(KINDS)} (got {', '.join(kinds) or 'nothing'})")
    if not 0 <= antrean_share <= 1:
        raise BadInput(f"--antrean-share must be between 0 and 1, not {antrean_share}")


def _kind_counts(n: int, kinds: Sequence[str]) -> dict[str, int]:
    chosen = [k for k in KINDS if k in kinds]
    total = sum(KIND_SHARE[k] for k in chosen)
    counts = {k: int(n * KIND_SHARE[k] / total) for k in chosen}
    for k in chosen:
        if counts[k] == 0 and n >= len(chosen):
            counts[k] = 1
    while sum(counts.values()) > n:
        counts[max(counts, key=lambda k: counts[k])] -= 1
    counts[chosen[0]] += n - sum(counts.values())
    return counts


def _blocks(rng: np.random.Generator, counts: dict[str, int]) -> list[tuple[str, int]]:
    """Files as ``(kind, pages)`` in scanning order."""
    blocks: list[tuple[str, int]] = []
    left = counts.get("feeder", 0)
    while left:
        size = min(left, int(rng.integers(5, 11)))
        size = left if left - size < 3 and left <= 10 else size
        blocks.append(("feeder", size))
        left -= size
    left = counts.get("bw", 0)
    while left:
        blocks.append(("bw", min(left, BW_PER_FILE)))
        left -= blocks[-1][1]
    blocks += [("phone", 1)] * counts.get("phone", 0)
    return [blocks[i] for i in rng.permutation(len(blocks))]


def plan_pages(n: int, seed: int = 0, kinds: Sequence[str] = KINDS, antrean_share: float = 1 / 3) -> list[PagePlan]:
    """Decide each page's form, serial, output kind, file, page in file and orientation."""
    rng = np.random.default_rng([seed, 1])
    n_ant = round(n * antrean_share)
    form_ids = [FORM_IDS[1]] * n_ant + [FORM_IDS[0]] * (n - n_ant)
    form_ids = [form_ids[i] for i in rng.permutation(n)]
    plans: list[PagePlan] = []
    numbers = dict.fromkeys(KINDS, 0)
    ext = {"feeder": "pdf", "bw": "tif", "phone": "jpg"}
    for kind, size in _blocks(rng, _kind_counts(n, kinds)):
        numbers[kind] += 1
        name = f"{kind}-{numbers[kind]:03d}.{ext[kind]}"
        flipped = int(rng.integers(size)) if size >= 5 else -1
        for k in range(size):
            turn = 180 if k == flipped else 0
            if kind == "phone" and rng.random() < 0.15:
                turn = int(rng.choice([90, 270]))
            i = len(plans)
            plans.append(PagePlan(i, form_ids[i], serial_for(seed, i), kind, name, k + 1, size, turn))
    return plans


def page_values(seed: int, plans: Sequence[PagePlan], first: date | None = None) -> list[dict[int, dict[str, str]]]:
    """Export values per page and record: one day's queue (1..150) runs through the stack in order.

    A queue sheet gets 6-15 consecutive queue numbers; a registration form gets the next
    number (some numbers in between went to patients not in this stack). When a day is
    full, the next working day starts. ``first``: the first visit day (default: one drawn from the seed
    between 2025-10-30 and 2026-09-30; the other values are the same either way).
    """
    rng = np.random.default_rng([seed, 2])
    slots: list[tuple[int, int, int, int]] = []
    day, q = 0, 0
    for p in plans:
        rows = int(rng.integers(6, 16)) if p.form_id == "antrean" else 1
        q += 0 if p.form_id == "antrean" else int(rng.integers(0, 3))
        if q + rows > people.MAX_QUEUE:
            day, q = day + 1, 0
        for r in range(rows):
            q += 1
            slots.append((p.index, r, day, q))
    sizes = [max(s[3] for s in slots if s[2] == d) for d in range(day + 1)]
    drawn = people.first_day(rng)
    date = drawn if first is None else (first if first.weekday() != 6 else people.next_working_day(first))
    visits = []
    for size in sizes:
        visits.append(people.make_day(rng, date, size))
        date = people.next_working_day(date)
    out: list[dict[int, dict[str, str]]] = [{} for _ in plans]
    for index, r, d, qn in slots:
        v = visits[d][qn - 1]
        ant = plans[index].form_id == "antrean"
        out[index][r] = people.antrean_values(v) if ant else people.pendaftaran_values(v)
    return out


def iter_pages(n: int, seed: int = 0, split: str = "test", kinds: Sequence[str] = KINDS,
               antrean_share: float = 1 / 3, dpi: int = fill.DPI,
               phone_long_side: int = aging.PHONE_LONG_SIDE, writer: int | None = None,
               first_day: date | None = None) -> Iterator[SamplePage]:
    """Generate ``n`` sample pages in plan order (rasterised in chunks; memory stays small).

    ``writer``: every page written by that one fixed writer (see :mod:`susulan_tools.synth.fill`);
    ``first_day``: the batch's first visit day (see :func:`page_values`).
    """
    check_args(n, seed, split, kinds, antrean_share)
    plans = plan_pages(n, seed, kinds, antrean_share)
    values = page_values(seed, plans, first_day)
    defs = {f: forms.load(f) for f in FORM_IDS}
    for start in range(0, n, CHUNK):
        chunk = plans[start:start + CHUNK]
        filled = fill.filled_pages(seed, [(defs[p.form_id], p.serial, values[p.index]) for p in chunk], split, dpi,
                                   writer)
        for p, fp in zip(chunk, filled):
            rng = np.random.default_rng([seed, 4, p.serial])
            yield SamplePage(p, fp, aging.age(rng, fp.image, p.kind, p.orientation, dpi, phone_long_side))


def scanner_pdf(pages: Sequence[tuple[bytes, int, int, bool]], dpi: int = fill.DPI) -> bytes:
    """A PDF like a scanner writes: one JPEG ``(data, width, height, grey)`` per page, page size from ``dpi``."""
    kids = " ".join(f"{3 + 3 * i} 0 R" for i in range(len(pages)))
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode()]
    for i, (data, w, h, grey) in enumerate(pages):
        pw, ph = w * 72 / dpi, h * 72 / dpi
        draw = f"q {pw:.2f} 0 0 {ph:.2f} 0 0 cm /Im0 Do Q".encode()
        objs.append((f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {pw:.2f} {ph:.2f}] "
                     f"/Resources << /XObject << /Im0 {5 + 3 * i} 0 R >> >> /Contents {4 + 3 * i} 0 R >>").encode())
        objs.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(draw), draw))
        cs = "/DeviceGray" if grey else "/DeviceRGB"
        objs.append((f"<< /Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace {cs} "
                     f"/BitsPerComponent 8 /Filter /DCTDecode /Length {len(data)} >>\nstream\n").encode()
                    + data + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for k, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (k, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def _prepare(out: Path) -> None:
    """Create ``out``, or clear a folder this command made before; refuse anything else."""
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out must be a folder, but {out} is a file")
    if out.exists():
        others = sorted(p.name for p in out.iterdir() if not OURS.match(p.name))
        if others:
            raise BadInput(f"folder {out} already holds other files (e.g. {others[0]}); choose an empty or new folder")
        for p in out.iterdir():
            p.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _save(path: Path, kind: str, parts: list[aging.Aged], dpi: int) -> None:
    if kind == "feeder":
        path.write_bytes(scanner_pdf([(a.encoded, a.image.shape[1], a.image.shape[0], a.image.ndim == 2)
                                      for a in parts], dpi))
    elif kind == "phone":
        path.write_bytes(parts[0].encoded)
    else:
        images = [Image.fromarray(a.image).convert("1") for a in parts]
        images[0].save(path, format="TIFF", save_all=True, append_images=images[1:], compression="group4",
                       dpi=(dpi, dpi))


def write_samples(out: Path, n: int, seed: int = 0, split: str = "test", kinds: Sequence[str] = KINDS,
                  antrean_share: float = 1 / 3, phone_long_side: int = aging.PHONE_LONG_SIDE,
                  writer: int | None = None, first_day: date | None = None) -> dict[str, Any]:
    """Write ``n`` aged sample pages and ``truth.jsonl`` to folder ``out``; returns a summary."""
    check_args(n, seed, split, kinds, antrean_share)
    t0 = time.monotonic()
    _prepare(out)
    files: list[str] = []
    parts: list[aging.Aged] = []
    records = 0
    part = out / "truth.jsonl.part"
    with open(part, "w", encoding="utf-8") as fh:
        for sp in iter_pages(n, seed, split, kinds, antrean_share, phone_long_side=phone_long_side, writer=writer,
                             first_day=first_day):
            for line in sp.truth():
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")
                records += 1
            parts.append(sp.aged)
            if sp.plan.page == sp.plan.pages_in_file:
                _save(out / sp.plan.file, sp.plan.kind, parts, sp.filled.dpi)
                files.append(sp.plan.file)
                parts = []
    part.replace(out / "truth.jsonl")
    return {"pages": n, "records": records, "files": files, "seconds": round(time.monotonic() - t0, 1)}


def read_truth(path: Path) -> list[dict[str, Any]]:
    """The lines of a ``truth.jsonl``."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
