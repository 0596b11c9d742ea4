"""Files -> page images: discovery, content hashes, page counts and decoding of PDF/TIFF/PNG/JPEG/WEBP/HEIC.

Files are recognised by their content, not their name (``scan.jpg.download`` is a
JPEG). Pixel caps are checked before anything is decoded (decompression bombs),
also for an image wrapped in a PDF. A file that cannot be read at all raises
:class:`PageProblem` with a plain reason; nothing here raises anything else for a
damaged file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from pipeline._exec import poppler
from pipeline.errors import BadInput, PageProblem

try:  # HEIC/HEIF, the usual phone-camera format
    from pillow_heif import register_heif_opener
except ImportError:  # pragma: no cover - a dependency; without it HEIC files get a plain reason
    HEIF = False
else:
    register_heif_opener()
    HEIF = True

PDF_DPI = 200
MAX_PIXELS = 80_000_000
"""Largest image we decode (e.g. 10,000 x 8,000 px); a phone photo is ~12-50 Mpx."""
IMAGE_EXT = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".heic", ".heif"}
SCAN_EXT = IMAGE_EXT | {".pdf"}
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
KINDS = ("pdf", "tiff", "png", "jpeg", "webp", "heic")


@dataclass(frozen=True)
class SourceFile:
    """A file given to ingest, with its content hash."""

    path: Path
    sha256: str
    size: int


@dataclass
class Found:
    """What :func:`discover` found: files to ingest, and folder entries left out with the reason why."""

    files: list[Path] = field(default_factory=list)
    left_out: list[tuple[Path, str]] = field(default_factory=list)


def discover(paths: list[Path]) -> Found:
    """Expand folders (recursively, sorted) into files; explicit files are kept whatever they are.

    In a folder, every file is ingested (and so kept with a state and a reason) except
    hidden files and folders, and plain text files, which cannot be scans; those are
    listed in ``left_out``.
    """
    found = Found()
    for p in paths:
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p).parts
                if any(part.startswith(".") for part in rel) or not f.is_file():
                    continue
                if is_text(f):
                    found.left_out.append((f, "a text file, not a scan"))
                else:
                    found.files.append(f)
        elif p.is_file():
            found.files.append(p)
        elif p.exists():
            raise BadInput(f"not a file or folder: {p}")
        else:
            raise BadInput(f"no such file or folder: {p}")
    return found


def is_text(path: Path) -> bool:
    """Whether a file is plain text (no NUL byte, valid UTF-8 in its first 8 KB): never a scan."""
    try:
        with path.open("rb") as f:
            head = f.read(8192)
    except OSError:
        return False
    if not head or b"\x00" in head or sniff_bytes(head):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start > len(head) - 4  # a multi-byte character cut at the end of the sample
    return True


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sniff_bytes(head: bytes) -> str:
    """The scan kind of a file from its first bytes, or ``""``."""
    if head.startswith(b"%PDF"):
        return "pdf"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head.startswith(b"\x89PNG"):
        return "png"
    if head.startswith(b"\xff\xd8"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
        return "heic"
    return ""


def sniff(path: Path) -> str:
    """One of :data:`KINDS` by content (not by name); raises PageProblem otherwise."""
    with path.open("rb") as f:
        head = f.read(16)
    if not head:
        raise PageProblem("empty_file", "the file is empty (0 bytes); scan or copy it again")
    kind = sniff_bytes(head)
    if not kind:
        raise PageProblem("not_a_scan", "this is not a PDF, TIFF, PNG, JPEG, WEBP or HEIC file")
    if kind == "heic" and not HEIF:
        raise PageProblem("image_unreadable", "HEIC photos need the pillow-heif package (pip install pillow-heif)")
    return kind


def page_count(path: Path) -> int:
    """Number of pages (PDF pages, TIFF frames; 1 for the other images)."""
    kind = sniff(path)
    if kind == "pdf":
        return int(poppler.pdf_info(path)["Pages"])
    with _opened(path) as im:
        return int(getattr(im, "n_frames", 1))


class _opened:
    """``Image.open`` with the pixel cap checked before decoding and every decoder error made a PageProblem.

    Pillow's decoders raise many kinds of exception on damaged files (``OSError``,
    ``SyntaxError``, ``TypeError: Missing dimensions`` on a cut multi-page TIFF,
    ``struct.error``...); at this boundary each one means "damaged", never a crash.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.im: Image.Image | None = None

    def __enter__(self) -> Image.Image:
        try:
            self.im = Image.open(self.path)
        except Image.DecompressionBombError as e:
            raise PageProblem("image_too_large", f"the image is larger than a scan can be ({e}); "
                                                 "it was not opened") from e
        except Exception as e:  # noqa: BLE001 (see the class docstring)
            raise _damaged(e) from e
        _check_pixels(self.im.size)
        return self.im

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: object) -> None:
        if self.im is not None:
            self.im.close()
        if exc is None or isinstance(exc, PageProblem) or not isinstance(exc, Exception):
            return
        if isinstance(exc, Image.DecompressionBombError):
            raise PageProblem("image_too_large", f"the image is larger than a scan can be ({exc})") from exc
        raise _damaged(exc) from exc


def _damaged(e: BaseException) -> PageProblem:
    return PageProblem("image_unreadable", f"the image file is damaged or incomplete ({type(e).__name__}: {e})")


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
    with _opened(path) as im:
        if page_no > 1:
            im.seek(page_no - 1)
            _check_pixels(im.size)
        im.load()
        return _to_grey(im)


def _to_grey(im: Image.Image) -> np.ndarray:
    """8-bit grey; 16-bit and 32-bit greys are scaled down from their bit depth, never clipped."""
    if im.mode.startswith("I;16") or im.mode in ("I", "F"):
        deep = np.asarray(im).astype(np.float64)
        top = float(deep.max()) if deep.size else 0.0
        full = next((2.0**b - 1 for b in (8, 10, 12, 14, 16) if top <= 2.0**b - 1), max(top, 1.0))
        return np.ascontiguousarray(np.clip(np.rint(deep * (255.0 / full)), 0, 255).astype(np.uint8))
    if im.mode in ("1", "L"):
        arr = np.asarray(im.convert("L"))
    else:
        arr = cv2.cvtColor(np.asarray(im.convert("RGB")), cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(arr)


def _pdf_page(path: Path, page_no: int) -> np.ndarray:
    for w, h in poppler.image_sizes(path, page_no):
        _check_pixels((w, h))  # poppler would decode an embedded image whole, whatever the render size
    data = poppler.single_jpeg(path, page_no)
    if data is not None:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
        if img is not None:
            return img
    info = poppler.pdf_info(path)
    w_pt, h_pt = poppler.page_size_pt(info)
    dpi = PDF_DPI
    while (w_pt / 72 * dpi) * (h_pt / 72 * dpi) > MAX_PIXELS and dpi > 20:
        dpi //= 2
    return poppler.rasterise(path, page_no, dpi)
