"""Benchmark: crossed-out queue-sheet rows and registration forms, found through the whole pipeline.

Each generated sheet gets one hand-drawn strike before it is aged (feeder, B/W or phone): a
slightly sloping line along one filled queue-sheet row, or a long slanted line over a
registration form. The aged scan is identified, aligned and read; the figure is how often the
struck row or form was held as crossed out, and how many other rows were (false hits).

    python -m susulan_tools.crossed_bench [--pages 60] [--seed 4321]
"""

from __future__ import annotations

import argparse
from collections import Counter

import cv2
import numpy as np

from pipeline.models import STRUCK_RULE
from pipeline.process import read_page
from susulan_tools.synth import aging, make

INK = (20, 30, 120)
"""A dark blue ballpoint."""


def strike(rng: np.random.Generator, sp: make.SamplePage) -> tuple[np.ndarray, int]:
    """The unaged page with one strike drawn on it, and the record it strikes."""
    fp = sp.filled
    img, form = fp.image.copy(), fp.form

    def px(mm: float) -> int:
        return int(round(mm * fp.dpi / 25.4))

    width = max(2, px(0.4))
    if form.records_per_page > 1:
        target = int(rng.choice(sorted(fp.records)))
        cells = [c for f in form.record_fields(target) for c in f.cells]
        x0, y = cells[0][0] - 3, cells[0][1] + cells[0][3] / 2
        x1, rise = max(c[0] + c[2] for c in cells) + 20, rng.uniform(-2.5, 2.5)
        cv2.line(img, (px(x0), px(y - rise / 2)), (px(x1), px(y + rise / 2)), INK, width)
        return img, target
    x0, y0, x1, y1 = 25.0, 60 + rng.uniform(0, 20), 190.0, 250 - rng.uniform(0, 20)
    if rng.random() < 0.5:
        x0, x1 = x1, x0
    cv2.line(img, (px(x0), px(y0)), (px(x1), px(y1)), INK, width)
    return img, 0


def run(pages: int = 60, seed: int = 4321) -> Counter:
    """Counts per (form, scan kind, found / missed) and false hits per form."""
    rng = np.random.default_rng([seed, 9])
    out: Counter = Counter()
    for sp in make.iter_pages(pages, seed=seed, antrean_share=0.5):
        img, target = strike(rng, sp)
        aged = aging.age(np.random.default_rng([seed, 7, sp.plan.serial]), img, sp.plan.kind, sp.plan.orientation,
                         sp.filled.dpi)
        grey = aged.image if aged.image.ndim == 2 else cv2.cvtColor(aged.image, cv2.COLOR_RGB2GRAY)
        struck = {r for r, i in read_page(grey).issues if i.rule == STRUCK_RULE}
        form = sp.filled.form.form_id
        out[(form, sp.plan.kind, "found" if target in struck else "missed")] += 1
        out[(form, "-", "other rows held as crossed out")] += len(struck - {target})
    return out


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=60)
    ap.add_argument("--seed", type=int, default=4321)
    args = ap.parse_args(argv)
    counts = run(args.pages, args.seed)
    print("| form | scan | outcome | sheets |\n|---|---|---|---|")
    for (form, kind, what), n in sorted(counts.items()):
        print(f"| {form} | {kind} | {what} | {n} |")


if __name__ == "__main__":
    main()
