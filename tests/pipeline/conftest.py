"""Real printed forms, rasterised by poppler, with ticks drawn on them: inputs for pipeline tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline import forms, render
from susulan_tools.synth import glyphs

DPI = 200
PX = DPI / 25.4


def printed(tmp_path: Path, form_id: str, serial: int, version: int | None = None) -> np.ndarray:
    """A blank printed page (RGB, 200 dpi) rasterised from the real PDF."""
    form = forms.load(form_id, version)
    pdf = tmp_path / f"blank-{form_id}-{serial}.pdf"
    render.write_pdf(pdf, [(form, serial)])
    root = tmp_path / f"blank-{form_id}-{serial}"
    subprocess.run(["pdftoppm", "-r", str(DPI), "-png", "-singlefile", str(pdf), str(root)], check=True)
    img = cv2.imread(str(root) + ".png")[:, :, ::-1].copy()
    return img


def tick(img: np.ndarray, form_id: str, choices: dict[str, str], seed: int = 0, record: int | None = None) -> None:
    """Tick the given option of each choice field (in place)."""
    form = forms.load(form_id)
    rng = np.random.default_rng(seed)
    for f in form.fields:
        if f.kind == "choice" and f.name in choices and f.record == record:
            o = next(o for o in f.options if o.value == choices[f.name])
            size = round(o.box[2] * PX)
            m = glyphs.tick_mask(rng, size, "check")
            glyphs.paste_ink(img, m, round(o.box[0] * PX) - size // 2, round(o.box[1] * PX) - size // 2,
                             glyphs.PENS["blue"])


def save_jpeg(img: np.ndarray, path: Path, quality: int = 85) -> Path:
    """Write an RGB image as JPEG."""
    cv2.imwrite(str(path), img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    return path


def save_pdf(images: list[np.ndarray], path: Path) -> Path:
    """A scanner-style PDF: one JPEG image per page."""
    from PIL import Image

    pages = [Image.fromarray(i) for i in images]
    pages[0].save(path, save_all=True, append_images=pages[1:], resolution=DPI, quality=85)
    return path


@pytest.fixture
def db(backend: str | None) -> str | None:
    """Pipeline tests run on SQLite and on PostgreSQL."""
    return backend


@pytest.fixture
def data_dir(tmp_path: Path, db: str | None) -> Path:
    """An empty data directory (its store in the backend of this run)."""
    return tmp_path / "data"
