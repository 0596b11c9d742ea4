"""Files -> page images: discovery, content hashes, page counts and decoding of PDF/TIFF/PNG/JPEG.

Pixel caps are checked before anything is decoded (decompression bombs). A file
that cannot be read at all raises :class:`PageProblem` with a plain reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from pipeline._exec import poppler
from pipeline.errors import BadInput, PageProblem

PDF_DPI = 200
MAX_PIXELS = 80_000_000
"""Largest image we decode (e.g. 10,000 x 8,000 px); a phone photo is ~12-50 Mpx."""
IMAGE_EXT = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
SCAN_EXT = IMAGE_EXT | {".pdf"}
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


@dataclass(frozen=True)
class SourceFile:
    """A file given to ingest, with its content hash."""

    path: Path
    sha256: str
    size: int


def discover(paths: list[Path]) -> list[Path]:
    """Expand folders (recursively, sorted) into scan files; explicit files are kept whatever their name."""
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SCAN_EXT
                            and not f.name.startswith("."))
        elif p.is_file():
            found.append(p)
        else:
            raise BadInput(f"no such file or folder: {p}")
    return found


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sniff(path: Path) -> str:
    """``pdf``, ``tiff``, ``png``, ``jpeg`` by content (not by name); raises PageProblem otherwise."""
    with path.open("rb") as f:
        head = f.read(8)
    if not head:
        raise PageProblem("empty_file", "the file is empty (0 bytes); scan or copy it again")
    if head.startswith(b"%PDF"):
        return "pdf"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head.startswith(b"\x89PNG"):
        return "png"
    if head.startswith(b"\xff\xd8"):
        return "jpeg"
    raise PageProblem("not_a_scan", "this is not a PDF, TIFF, PNG or JPEG file")


def page_count(path: Path) -> int:
    """Number of pages (PDF pages, TIFF frames; 1 for PNG/JPEG)."""
    kind = sniff(path)
    if kind == "pdf":
        return int(poppler.pdf_info(path)["Pages"])
    try:
        with Image.open(path) as im:
            _check_pixels(im.size)
            return int(getattr(im, "n_frames", 1))
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise PageProblem("image_unreadable", f"the image file is damaged or incomplete ({e})") from e


def _check_pixels(size: tuple[int, int]) -> None:
    w, h = size
    if w * h > MAX_PIXELS:
        raise PageProblem("image_too_large", f"the image is {w}x{h} pixels, more than a scan can be "
                                             f"({MAX_PIXELS // 1_000_000} Mpx); it was not opened")


def load_page(path: Path, page_no: int) -> np.ndarray:
    """Decode page ``page_no`` (1-based) as a grey uint8 image."""
    kind = sniff(path)
    if kind == "pdf":
        return _pdf_page(path, page_no)
    try:
        with Image.open(path) as im:
            _check_pixels(im.size)
            if page_no > 1:
                im.seek(page_no - 1)
            im.load()
            return _to_grey(im)
    except PageProblem:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, EOFError, Image.DecompressionBombError) as e:
        raise PageProblem("image_unreadable", f"the image is damaged or incomplete ({e})") from e


def _to_grey(im: Image.Image) -> np.ndarray:
    if im.mode in ("1", "L", "I;16", "I"):
        arr = np.asarray(im.convert("L"))
    else:
        arr = cv2.cvtColor(np.asarray(im.convert("RGB")), cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(arr)


def _pdf_page(path: Path, page_no: int) -> np.ndarray:
    data = poppler.single_jpeg(path, page_no)
    if data is not None:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
        if img is not None and img.size <= MAX_PIXELS:
            return img
    info = poppler.pdf_info(path)
    w_pt, h_pt = poppler.page_size_pt(info)
    dpi = PDF_DPI
    while (w_pt / 72 * dpi) * (h_pt / 72 * dpi) > MAX_PIXELS and dpi > 20:
        dpi //= 2
    return poppler.rasterise(path, page_no, dpi)
