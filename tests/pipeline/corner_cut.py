"""Scans with one corner cut off: a generated set, and how many of its pages are read.

Each aged sample page (``susulan samples make``) is cut along a slanted line near one
side, as a scan shifted on the glass would be: the corner marker on that side is lost
entirely and the other marker on the same side is cut through (only part of it left),
so the anchors that remain lie along the opposite side. Run as a benchmark::

    python -m tests.pipeline.corner_cut --pages 60 --seed 11

It prints how many pages were read (target: all) and how many values agree with the
truth where the page was read, uncut against cut.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipeline import align, forms, identify, ingest
from pipeline.errors import PageProblem
from pipeline.process import read_page

SIDES = ("left", "right", "top", "bottom")


def cut_corner(grey: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """The page with one side's corner cut off through its two markers (white outside the cut)."""
    markers = identify.find_markers(grey)
    if len(markers) < 4:
        raise ValueError("the uncut page should show its four markers")
    centres = {i: c.mean(axis=0) for i, c in markers.items()}
    boxes = {i: (c[:, 0].min(), c[:, 0].max(), c[:, 1].min(), c[:, 1].max()) for i, c in markers.items()}
    side = SIDES[int(rng.integers(4))]
    axis = 0 if side in ("left", "right") else 1
    sign = -1 if side in ("left", "top") else 1
    ordered = sorted(centres, key=lambda i: sign * centres[i][axis])[-2:]  # the two markers nearest that side
    lost, partial = ordered if rng.random() < 0.5 else ordered[::-1]
    lo, hi = (0, 1) if axis == 0 else (2, 3)
    # the cut passes just inside the lost marker and through the middle of the partial one
    at_lost = boxes[lost][hi] + 3 if sign < 0 else boxes[lost][lo] - 3
    at_partial = (boxes[partial][lo] + boxes[partial][hi]) / 2
    h, w = grey.shape
    out = grey.copy()
    along = np.arange(h if axis == 0 else w, dtype=np.float64)
    a, b = centres[lost][1 - axis], centres[partial][1 - axis]
    line = at_lost + (along - a) * (at_partial - at_lost) / (b - a)
    for k, edge in enumerate(line):
        e = int(round(edge))
        if axis == 0:
            if sign < 0:
                out[k, :max(e, 0)] = 255
            else:
                out[k, min(max(e, 0), w):] = 255
        else:
            if sign < 0:
                out[:max(e, 0), k] = 255
            else:
                out[min(max(e, 0), h):, k] = 255
    return out, side


def alignment_error_mm(whole: np.ndarray, cut: np.ndarray, form_id: str, version: int) -> float:
    """Largest distance (mm, over a 10 mm grid of the form) between the cut page's fit and the whole page's.

    Cutting moves no pixel, so the whole page's fit (four markers and the QR code) is the
    reference; an error under :data:`pipeline.align.MAX_RESIDUAL_MM` reads the same cells.
    """
    form = forms.load(form_id, version)
    ref = align.align(form, identify.find(whole)).matrix
    got = align.align(form, identify.find(cut), cut).matrix
    w, h = form.page_mm
    grid = np.array([[x, y] for x in np.arange(5, w, 10) for y in np.arange(5, h, 10)], np.float64) * align.PX_PER_MM
    on_image = cv2.perspectiveTransform(grid.reshape(-1, 1, 2), np.linalg.inv(ref))
    back = cv2.perspectiveTransform(on_image, got).reshape(-1, 2)
    return float(np.max(np.linalg.norm(back - grid, axis=1))) / align.PX_PER_MM


@dataclass
class Tally:
    pages: int = 0
    read_uncut: int = 0
    read_cut: int = 0
    without_serial: int = 0
    errors_mm: list | None = None
    values: int = 0
    same_as_uncut: int = 0
    reasons: dict | None = None


def measure(pages: int, seed: int, work: Path) -> Tally:
    scans = work / "scans"
    subprocess.run([sys.executable, "-m", "pipeline", "samples", "make", "--out", str(scans), "--pages", str(pages),
                    "--seed", str(seed), "--kinds", "feeder", "--antrean-share", "1"], check=True,
                   capture_output=True)
    rng = np.random.default_rng(seed)
    tally = Tally(reasons={}, errors_mm=[])
    for f in sorted(scans.glob("*.pdf")):
        for n in range(1, ingest.page_count(f) + 1):
            grey = ingest.load_page(f, n)
            tally.pages += 1
            whole = read_page(grey)
            tally.read_uncut += whole.status == "done"
            cut, _ = cut_corner(grey, rng)
            try:
                got = read_page(cut)
            except PageProblem as e:
                tally.reasons[e.reason] = tally.reasons.get(e.reason, 0) + 1
                continue
            tally.read_cut += got.status == "done"
            tally.without_serial += got.status == "done" and got.reason == "serial_unreadable"
            if got.status != "done":
                tally.reasons[got.reason] = tally.reasons.get(got.reason, 0) + 1
                continue
            tally.errors_mm.append(round(alignment_error_mm(grey, cut, whole.ident.form_id, whole.ident.version), 2))
            before = {(r.record, r.name): r.value for r in whole.readings}
            for r in got.readings:
                if (r.record, r.name) in before:
                    tally.values += 1
                    tally.same_as_uncut += before[(r.record, r.name)] == r.value
    return tally


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=60)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = measure(args.pages, args.seed, Path(tmp))
    print(f"{t.pages} aged queue sheets with one corner cut off: read {t.read_cut}/{t.pages} "
          f"({100 * t.read_cut / max(t.pages, 1):.1f} %; {t.without_serial} of them without their serial, the cut "
          f"took the QR code and the printed number); uncut {t.read_uncut}/{t.pages}; "
          f"values equal to the uncut reading {t.same_as_uncut}/{t.values} "
          f"({100 * t.same_as_uncut / max(t.values, 1):.1f} %; cells lost with the cut corner differ); "
          f"fit error against the whole page: max {max(t.errors_mm, default=0):.2f} mm, "
          f"median {float(np.median(t.errors_mm)) if t.errors_mm else 0:.2f} mm; refused: {t.reasons}")
    print(json.dumps(t.__dict__))


if __name__ == "__main__":
    main()
