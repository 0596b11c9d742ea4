"""Wrappers for poppler's ``pdfinfo``, ``pdftoppm`` and ``pdfimages``, with timeouts."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np

from pipeline.errors import MissingDependency, PageProblem

TIMEOUT_S = 60


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise MissingDependency(f"{name} is not installed; install poppler-utils (apt-get install poppler-utils)")
    return path


def pdf_info(path: Path) -> dict[str, str]:
    """``pdfinfo`` as a dict; raises :class:`PageProblem` for encrypted, corrupt or truncated PDFs."""
    try:
        proc = subprocess.run([_tool("pdfinfo"), str(path)], capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        raise PageProblem("pdf_unreadable", "reading the PDF took too long; the file may be damaged") from e
    err = proc.stderr.strip()
    if proc.returncode != 0:
        if "password" in err.lower() or "encrypt" in err.lower():
            raise PageProblem("pdf_encrypted", "the PDF is protected with a password; save it again without one")
        detail = err.splitlines()[-1] if err else "no details"
        raise PageProblem("pdf_unreadable", f"the PDF is damaged or incomplete ({detail})")
    info = {}
    for line in proc.stdout.splitlines():
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    if int(info.get("Pages", "0") or 0) < 1:
        raise PageProblem("pdf_unreadable", "the PDF has no pages")
    return info


def page_size_pt(info: dict[str, str]) -> tuple[float, float]:
    """Page size in points from ``pdfinfo`` output (first page)."""
    m = re.match(r"([\d.]+) x ([\d.]+)", info.get("Page size", ""))
    return (float(m.group(1)), float(m.group(2))) if m else (595.0, 842.0)


def _image_list(path: Path, page: int) -> list[list[str]]:
    """Rows of ``pdfimages -list`` for one page (page, num, type, width, height, color, comp, bpc, enc, ...)."""
    try:
        proc = subprocess.run([_tool("pdfimages"), "-list", "-f", str(page), "-l", str(page), str(path)],
                              capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        raise PageProblem("pdf_unreadable", "listing the PDF's images took too long; the file may be damaged") from e
    if proc.returncode != 0:
        return []
    return [r.split() for r in proc.stdout.splitlines()[2:] if len(r.split()) >= 9]


def image_sizes(path: Path, page: int) -> list[tuple[int, int]]:
    """Pixel sizes ``(width, height)`` of the images embedded in one page (read from the PDF, nothing decoded)."""
    out = []
    for row in _image_list(path, page):
        try:
            out.append((int(row[3]), int(row[4])))
        except ValueError:
            continue
    return out


def single_jpeg(path: Path, page: int) -> bytes | None:
    """The page's image if the page is exactly one embedded JPEG (a scanner PDF), else None."""
    rows = _image_list(path, page)
    if len(rows) != 1 or rows[0][2] != "image" or rows[0][8] != "jpeg":
        return None
    with tempfile.TemporaryDirectory(prefix="susulan-img-") as tmp:
        try:
            extracted = subprocess.run([_tool("pdfimages"), "-j", "-f", str(page), "-l", str(page), str(path),
                                        str(Path(tmp) / "img")], capture_output=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return None
        found = sorted(Path(tmp).glob("img-*.jpg"))
        data = found[0].read_bytes() if extracted.returncode == 0 and len(found) == 1 else b""
    return data if data[:2] == b"\xff\xd8" else None


def rasterise(path: Path, page: int, dpi: int) -> np.ndarray:
    """Render one PDF page to a grey uint8 image with ``pdftoppm``."""
    cmd = [_tool("pdftoppm"), "-f", str(page), "-l", str(page), "-r", str(dpi), "-gray", str(path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        raise PageProblem("rasterise_failed", f"poppler took longer than {TIMEOUT_S} s on this page") from e
    if proc.returncode != 0 or not proc.stdout:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        detail = msg[-1] if msg else f"exit code {proc.returncode}"
        raise PageProblem("rasterise_failed", f"poppler could not render this page ({detail})")
    img = cv2.imdecode(np.frombuffer(proc.stdout, np.uint8), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise PageProblem("rasterise_failed", "poppler returned an image that could not be decoded")
    return img
