"""Handwriting sources in ``susulan_tools/data`` (not in the runtime) and their fixed train / calib / test splits.

The splits are a contract: training uses only ``train``; confidence thresholds are
chosen only on ``calib``; benchmarks, tests and demo samples use only ``test``.

- Digits: ``mnist-digits-5000.png`` (50 rows x 100 columns of 20x20 px cells, dark on
  white; rows 5d..5d+4 hold digit d). Columns 0-69 train, 70-84 calib, 85-99 test.
- Capitals: handwriting fonts (SIL OFL, from Fontsource), split by font so that test
  hands are never seen in training.
"""

from __future__ import annotations

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
