"""Ink masks of handwritten glyphs and ticks (float32, 1 = ink), and pasting them onto a page.

Sizes are in pixels of the image they will be pasted into. Digits and capitals come from
real handwriting: UNIPEN pen strokes drawn as ballpoint ink (:func:`pen_mask`) and MNIST
digits; handwriting fonts add styles and write free text. Splits: see
:mod:`susulan_tools.datasets`. Used by the sample maker and by classifier training.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import cast

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from susulan_tools import datasets

PENS = {"black": (25, 25, 30), "blue": (30, 45, 150), "blue_light": (60, 80, 170)}
TICK_STYLES = ("check", "cross", "filled", "circle", "slash")


def _crop(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask > 0.15)
    if len(xs) == 0:
        return mask
    return mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def _shape(mask: np.ndarray, rng: np.random.Generator, height: float, slant: float = 0.25,
           stroke: tuple[int, int] = (-1, 1), aspect: tuple[float, float] = (0.85, 1.15)) -> np.ndarray:
    """Crop, slant, thicken/thin and scale a glyph mask to ``height`` px."""
    m = _crop(mask)
    big = cv2.resize(m, None, fx=3, fy=3, interpolation=cv2.INTER_LINEAR)
    h, w = big.shape
    shear = rng.uniform(-slant, slant)
    pad = int(abs(shear) * h) + 4
    big = cv2.copyMakeBorder(big, 4, 4, pad, pad, cv2.BORDER_CONSTANT, value=0)
    mat = np.array([[1, shear, -shear * big.shape[0] / 2], [0, 1, 0]], np.float32)
    big = cv2.warpAffine(big, mat, (big.shape[1], big.shape[0]))
    k = int(rng.integers(stroke[0], stroke[1] + 1))
    if k:
        kernel = np.ones((abs(k) * 2 + 1, abs(k) * 2 + 1), np.uint8)
        big = cv2.dilate(big, kernel) if k > 0 else cv2.erode(big, kernel)
    big = _crop(big)
    scale = height / max(big.shape[0], 1)
    fx = scale * rng.uniform(*aspect)
    out = cv2.resize(big, (max(1, round(big.shape[1] * fx)), max(1, round(height))), interpolation=cv2.INTER_AREA)
    return np.clip(out, 0, 1).astype(np.float32)


def digit_mask(rng: np.random.Generator, digit: int, split: str, height: float,
               pool: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """A real handwritten digit (MNIST ``split``, or ``pool`` = (20x20 images, labels)) as an ink mask."""
    images, labels = pool or datasets.mnist_digits(split)
    idx = rng.choice(np.flatnonzero(labels == digit))
    ink = (255 - images[idx].astype(np.float32)) / 255.0
    return _shape(ink, rng, height, slant=0.15, stroke=(0, 1), aspect=(0.9, 1.2))


def pen_mask(rng: np.random.Generator, strokes: tuple[np.ndarray, ...], height: float, width_px: float,
             slant: float = 0.0, wobble: float = 0.6, skips: float = 0.3) -> np.ndarray:
    """Pen strokes (points in a 0-1000 box, y down) drawn as ballpoint ink ``height`` px tall.

    ``width_px`` is the line width; ``slant`` a shear (x += slant * height above the
    baseline); ``wobble`` px of smooth hand tremor (tablet strokes are smoother than pen on
    paper); ``skips``: chance that the ballpoint skips (light spots along a stroke).
    Strokes are drawn 4x larger, anti-aliased, and scaled down; each stroke gets its own
    pressure (ink density 0.7-1).
    """
    pts = np.concatenate(strokes)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    span = max(float(hi[1] - lo[1]), float(hi[0] - lo[0]) * 0.25, 1.0)
    scale = height / span * rng.uniform(0.95, 1.05)
    sx = scale * rng.uniform(0.88, 1.12)
    angle = np.deg2rad(rng.uniform(-4, 4))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    up = 4
    pad = width_px + abs(slant) * height + 4
    out_h = int(np.ceil((hi[1] - lo[1]) * scale + 2 * pad))
    out_w = int(np.ceil((hi[0] - lo[0]) * sx + abs(slant) * height + 2 * pad + height * 0.2))
    canvas = np.zeros((out_h * up, out_w * up), np.float32)
    thick = max(1, round(width_px * up))
    glyph_h = float(hi[1] - lo[1]) * scale
    centre = (hi - lo) * np.array([sx, scale], np.float32) / 2
    for s in strokes:
        p = (s - lo) * np.array([sx, scale], np.float32)
        p = (p - centre) @ rot.T + centre
        p[:, 0] += slant * (glyph_h - p[:, 1])
        if wobble > 0 and len(p) > 3:
            t = np.linspace(0, 1, len(p), dtype=np.float32)
            knots = rng.normal(0, wobble, (2, 5)).astype(np.float32)
            p[:, 0] += np.interp(t, np.linspace(0, 1, 5), knots[0])
            p[:, 1] += np.interp(t, np.linspace(0, 1, 5), knots[1])
        p = ((p + pad) * up).round().astype(np.int32)
        layer = np.zeros_like(canvas)
        if len(p) == 1:
            cv2.circle(layer, tuple(int(v) for v in p[0]), thick // 2 + 1, 1.0, -1, cv2.LINE_AA)
        else:
            cv2.polylines(layer, [p.reshape(-1, 1, 2)], False, 1.0, thick, cv2.LINE_AA)
        np.maximum(canvas, layer * rng.uniform(0.7, 1.0), out=canvas)
    on = np.argwhere(canvas > 0.5)
    if rng.random() < skips and len(on):
        spots = np.zeros_like(canvas)
        for _ in range(int(rng.integers(1, 4))):
            cy, cx = on[int(rng.integers(len(on)))]
            cv2.circle(spots, (int(cx), int(cy)), max(1, int(thick * rng.uniform(0.4, 0.9))), 1.0, -1)
        canvas *= 1 - spots * rng.uniform(0.4, 0.8)
    small = cv2.resize(canvas, (out_w, out_h), interpolation=cv2.INTER_AREA)
    return _crop(np.clip(small, 0, 1))


def unipen_mask(rng: np.random.Generator, ch: str, kind: str, split: str, height: float, width_px: float,
                slant: float = 0.0, pool: datasets.Strokes | None = None) -> np.ndarray:
    """A real pen-written digit or capital (UNIPEN sites of ``split``, or ``pool``) as ballpoint ink."""
    source = pool if pool is not None and (pool.labels == ch).any() else datasets.unipen(kind, split)
    idx = int(rng.choice(np.flatnonzero(source.labels == ch)))
    return pen_mask(rng, source.samples[idx], height, width_px, slant)


@lru_cache(maxsize=64)
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


def _render_text(text: str, font_path: Path, size: int = 64) -> np.ndarray:
    font = _font(font_path, size)
    left, top, right, bottom = cast("tuple[int, int, int, int]", font.getbbox(text))  # ints at stroke_width 0
    img = Image.new("L", (right - left + 20, bottom - top + 20), 0)
    ImageDraw.Draw(img).text((10 - left, 10 - top), text, fill=255, font=font)
    return np.asarray(img, dtype=np.float32) / 255.0


def letter_mask(rng: np.random.Generator, ch: str, split: str, height: float,
                font: Path | None = None) -> np.ndarray:
    """A capital letter (or digit) in a handwriting font of ``split``, ``height`` px tall."""
    path = font or rng.choice(datasets.font_paths(split))
    return _shape(_render_text(ch, path), rng, height, slant=0.2, stroke=(-1, 2))


def text_mask(rng: np.random.Generator, text: str, split: str, height: float,
              font: Path | None = None) -> np.ndarray:
    """A line of free handwriting; ``height`` is the x-height-to-descender size in px."""
    path = font or rng.choice(datasets.font_paths(split))
    return _shape(_render_text(text, path), rng, height, slant=0.12, stroke=(0, 1), aspect=(0.95, 1.05))


def tick_mask(rng: np.random.Generator, size: int, style: str) -> np.ndarray:
    """A tick mark filling roughly a ``size`` px square box: check, cross, filled, circle or slash."""
    canvas = np.zeros((size * 2, size * 2), np.float32)
    s = size
    o = s // 2
    t = max(2, round(s * rng.uniform(0.08, 0.14)))

    def p(x: float, y: float) -> tuple[int, int]:
        j = s * 0.06
        return (round(o + x * s + rng.uniform(-j, j)), round(o + y * s + rng.uniform(-j, j)))

    if style == "check":
        pts = [p(0.15, 0.55), p(0.4, 0.85), p(0.95, 0.05)]
        cv2.polylines(canvas, [np.array(pts, np.int32)], False, 1.0, t, cv2.LINE_AA)
    elif style == "cross":
        cv2.line(canvas, p(0.1, 0.1), p(0.9, 0.9), 1.0, t, cv2.LINE_AA)
        cv2.line(canvas, p(0.9, 0.1), p(0.1, 0.9), 1.0, t, cv2.LINE_AA)
    elif style == "filled":
        quad = np.array([p(0.08, 0.1), p(0.92, 0.08), p(0.9, 0.92), p(0.1, 0.9)], np.int32)
        cv2.fillPoly(canvas, [quad], 1.0, cv2.LINE_AA)
    elif style == "circle":
        cv2.ellipse(canvas, p(0.5, 0.5), (round(s * 0.42), round(s * 0.38)), rng.uniform(0, 180), 20, 380, 1.0, t,
                    cv2.LINE_AA)
    elif style == "slash":
        cv2.line(canvas, p(0.15, 0.9), p(0.85, 0.1), 1.0, t, cv2.LINE_AA)
    else:
        raise ValueError(f"unknown tick style {style!r}")
    return canvas


def paste_ink(page: np.ndarray, mask: np.ndarray, x: int, y: int, pen: tuple[int, int, int],
              strength: float = 0.92) -> None:
    """Darken ``page`` (H x W x 3 uint8, RGB) with ``mask`` at top-left ``(x, y)``, in place."""
    h, w = mask.shape
    H, W = page.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x0 >= x1 or y0 >= y1:
        return
    m = mask[y0 - y:y1 - y, x0 - x:x1 - x, None] * strength
    region = page[y0:y1, x0:x1].astype(np.float32)
    ink = np.array(pen, np.float32)
    page[y0:y1, x0:x1] = np.clip(region * (1 - m) + ink * m, 0, 255).astype(np.uint8)
