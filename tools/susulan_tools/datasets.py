"""Handwriting sources in ``susulan_tools/data`` (not in the runtime) and their fixed train / calib / test splits.

The splits are a contract: training uses only ``train``; confidence thresholds are
chosen only on ``calib``; benchmarks, tests and demo samples use only ``test``.

- Digits: ``mnist-digits-5000.png`` (50 rows x 100 columns of 20x20 px cells, dark on
  white; rows 5d..5d+4 hold digit d). Columns 0-69 train, 70-84 calib, 85-99 test.
- Real pen strokes: ``unipen-strokes.npz`` (UNIPEN train_r01_v07, CC BY 4.0: "UNIPEN
  consortium, train_r01_v07", doi 10.5281/zenodo.1195803), 14,511 capitals and 6,327
  digits, split **by site** (groups of writers) so that calib and test writers are never
  seen in training; a site is in the same split for digits and capitals (``gmd`` has
  digits only, ``kai`` capitals only). See :data:`UNIPEN_SITES`.
- Capitals and extra digit styles: handwriting fonts (SIL OFL, from Fontsource), split by
  font so that test hands are never seen in training.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

DATA = Path(__file__).resolve().parent / "data"
SPLITS = ("train", "calib", "test")
_COLUMNS = {"train": range(0, 70), "calib": range(70, 85), "test": range(85, 100)}
FONTS = {
    "train": ["caveat", "indie-flower", "shadows-into-light", "covered-by-your-grace", "reenie-beanie",
              "gloria-hallelujah", "nanum-pen-script", "neucha", "amatic-sc", "permanent-marker",
              "sue-ellen-francisco"],
    "calib": ["annie-use-your-telescope", "the-girl-next-door", "handlee"],
    "test": ["kalam", "patrick-hand", "architects-daughter", "coming-soon"],
}


UNIPEN_SITES = {"train": ("apb", "ibm", "app"), "calib": ("apa",), "test": ("gmd", "kai", "imp")}
"""UNIPEN contributing sites per split. Digits: train 4,343, calib 690, test 1,294 (gmd 1,037 + imp 257);
capitals: train 9,688, calib 2,222, test 2,601 (kai 1,960 + imp 641)."""
UNIPEN_SETS = {"digits": "digits", "letters": "capitals"}
STRAY_GAP = 0.12
"""A stroke whose box is this far (share of the sample's size) from all other strokes is a stray."""


@dataclass(frozen=True)
class Strokes:
    """Pen samples of one split: ``samples[i]`` is a list of ``(n, 2)`` float32 point arrays (0-1000 box, y down)."""

    samples: tuple[tuple[np.ndarray, ...], ...]
    labels: np.ndarray
    sites: np.ndarray
    index: np.ndarray
    """Position of each sample in the npz set (to name excluded samples)."""


def _check(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")


@lru_cache(maxsize=3)
def mnist_digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)``: uint8 ``(N, 20, 20)`` ink-dark-on-white cells and their digits."""
    _check(split)
    sheet = cv2.imread(str(DATA / "mnist-digits-5000.png"), cv2.IMREAD_GRAYSCALE)
    if sheet is None:
        raise FileNotFoundError(DATA / "mnist-digits-5000.png")
    images, labels = [], []
    for row in range(50):
        for col in _COLUMNS[split]:
            images.append(sheet[row * 20:(row + 1) * 20, col * 20:(col + 1) * 20])
            labels.append(row // 5)
    return np.stack(images), np.array(labels, dtype=np.int64)


def font_paths(split: str) -> list[Path]:
    """Handwriting font files of a split."""
    _check(split)
    return [DATA / "fonts" / f"{name}.woff" for name in FONTS[split]]


def drop_strays(strokes: list[np.ndarray]) -> list[np.ndarray]:
    """Drop strokes standing apart from the rest (segmentation remnants of a neighbouring character).

    A stroke is dropped when its bounding box, grown by :data:`STRAY_GAP` of the sample's
    size, meets no other stroke's box and it holds less than a third of the ink points.
    """
    if len(strokes) < 2:
        return strokes
    boxes = np.array([[s[:, 0].min(), s[:, 1].min(), s[:, 0].max(), s[:, 1].max()] for s in strokes], np.float32)
    size = max(float(boxes[:, 2].max() - boxes[:, 0].min()), float(boxes[:, 3].max() - boxes[:, 1].min()), 1.0)
    grow = STRAY_GAP * size
    total = sum(len(s) for s in strokes)
    keep = []
    for i, b in enumerate(boxes):
        others = np.delete(boxes, i, axis=0)
        touches = ((others[:, 0] <= b[2] + grow) & (others[:, 2] >= b[0] - grow) &
                   (others[:, 1] <= b[3] + grow) & (others[:, 3] >= b[1] - grow)).any()
        if touches or len(strokes[i]) >= total / 3:
            keep.append(strokes[i])
    return keep or strokes


@lru_cache(maxsize=6)
def unipen(kind: str, split: str) -> Strokes:
    """Real pen samples of ``kind`` (``"digits"`` or ``"letters"``) written at the sites of ``split``.

    Stray strokes are dropped (:func:`drop_strays`). Every sample is kept (training leaves
    out those listed by :func:`excluded`), so positions stay the same whatever that list.
    """
    _check(split)
    name = UNIPEN_SETS[kind]
    with np.load(DATA / "unipen-strokes.npz") as z:
        points = z[f"{name}_points"].astype(np.float32)
        stroke_ends, sample_ends = z[f"{name}_stroke_ends"], z[f"{name}_sample_ends"]
        labels, sites = z[f"{name}_labels"], z[f"{name}_sites"]
    chosen = [int(i) for i in np.flatnonzero(np.isin(sites, UNIPEN_SITES[split]))]
    samples = []
    for i in chosen:
        strokes = [points[stroke_ends[k]:stroke_ends[k + 1]] for k in range(sample_ends[i], sample_ends[i + 1])]
        samples.append(tuple(drop_strays([s for s in strokes if len(s)])))
    idx = np.array(chosen, np.int64)
    return Strokes(tuple(samples), labels[idx], sites[idx], idx)


def excluded() -> dict[str, set[int]]:
    """UNIPEN samples left out of training (``unipen-excluded.txt``: ``<set> <npz index> ...`` lines), per set."""
    path = DATA / "unipen-excluded.txt"
    out: dict[str, set[int]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and not line.startswith("#"):
                out.setdefault(parts[0], set()).add(int(parts[1]))
    return out


WRITER_WINDOW = 400
"""Consecutive samples of a site that one fixed writer draws from (UNIPEN files keep a writer's samples together)."""
WRITER_PER_CHAR = 3


def _subset(s: Strokes, keep: list[int]) -> Strokes:
    idx = np.array(keep, np.int64)
    return Strokes(tuple(s.samples[i] for i in keep), s.labels[idx], s.sites[idx], s.index[idx])


@lru_cache(maxsize=8)
def writer(kind: str, split: str, ident: int) -> Strokes:
    """One fixed "writer" of ``split``: at most :data:`WRITER_PER_CHAR` samples per character from one site.

    The site and a window of :data:`WRITER_WINDOW` consecutive samples of it are chosen by
    ``ident``, so the same ident always gives the same hand (samples never seen in
    training when ``split`` is ``test``). A character missing from the window is taken from
    the nearest samples of that site.
    """
    pool = unipen(kind, split)
    rng = np.random.default_rng([ident, 7])
    sites = sorted(set(pool.sites.tolist()))
    site = sites[ident % len(sites)]
    mine = np.flatnonzero(pool.sites == site)
    start = int(rng.integers(max(1, len(mine) - WRITER_WINDOW)))
    keep: list[int] = []
    for ch in sorted(set(pool.labels[mine].tolist())):
        of_ch = mine[pool.labels[mine] == ch]
        order = of_ch[np.argsort(np.abs(of_ch - mine[start]))]
        keep += [int(i) for i in order[:WRITER_PER_CHAR]]
    return _subset(pool, sorted(keep))
