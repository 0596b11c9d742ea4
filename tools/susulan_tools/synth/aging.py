"""Scanner and phone degradations of a filled page, the way Puskesmas scans really look.

Input is the unaged page: RGB uint8 at ``dpi`` (default 200), origin top-left.
Three kinds of output:

- ``feeder``: sheet-feeder scan, 200 dpi grey, small skew (up to 1.5 degrees), shift,
  scale 0.98-1.02, paper tone, slight blur, sensor noise, sometimes a streak from a
  dirty glass or dust, stored as JPEG (quality 55-85) inside a PDF.
- ``bw``: the same scanner set to black and white: thresholded, stored losslessly
  (TIFF G4).
- ``phone``: a photo of the sheet on a table: perspective, page filling 70-90% of a
  4:3 frame (long side ``phone_long_side`` px), surface around it, uneven light and
  shadow, colour cast, defocus, noise, JPEG quality 70-90.

``orientation`` is how far the page content is turned *clockwise* in the output
image (0, 90, 180 or 270); turning the image back counter-clockwise by that much makes
the page upright. Small skew is not counted in it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

KINDS = ("feeder", "bw", "phone")
PHONE_LONG_SIDE = 2592
_TURN = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


@dataclass(frozen=True)
class Aged:
    """An aged page exactly as a reader decodes it from the output file."""

    image: np.ndarray
    kind: str
    orientation: int
    encoded: bytes = b""
    quality: int = 0


def turn(img: np.ndarray, orientation: int) -> np.ndarray:
    """Turn an image clockwise by 0, 90, 180 or 270 degrees."""
    if orientation % 360 == 0:
        return img
    if orientation % 360 not in _TURN:
        raise ValueError(f"orientation must be a multiple of 90, not {orientation}")
    return cv2.rotate(img, _TURN[orientation % 360])


def _noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(sigma)


def _scanner_geometry(rng: np.random.Generator, grey: np.ndarray, dpi: int) -> np.ndarray:
    """Skew, shift and scale as a sheet feeder does; the backing shows where the page moved away."""
    h, w = grey.shape
    m: np.ndarray = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-1.5, 1.5), rng.uniform(0.98, 1.02))
    m[:, 2] += rng.uniform(-3, 3, 2) * dpi / 25.4
    backing = int(rng.uniform(232, 252)) if rng.random() < 0.7 else int(rng.uniform(110, 190))
    return cv2.warpAffine(grey, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=backing)


def _scanner_tone(rng: np.random.Generator, grey: np.ndarray) -> np.ndarray:
    """Paper white and ink black as a scanner records them, as float32."""
    white, black = rng.uniform(225, 250), rng.uniform(10, 45)
    return grey.astype(np.float32) * np.float32((white - black) / 255) + np.float32(black)


def _dirt(rng: np.random.Generator, img: np.ndarray) -> None:
    """A vertical streak from dirty feeder glass and a few dust specks, in place (float32)."""
    h, w = img.shape[:2]
    if rng.random() < 0.2:
        x = int(rng.integers(0, w - 3))
        img[:, x:x + int(rng.integers(1, 4))] -= rng.uniform(25, 70)
    for _ in range(int(rng.integers(0, 25))):
        cv2.circle(img, (int(rng.integers(w)), int(rng.integers(h))), int(rng.integers(1, 3)),
                   float(rng.uniform(20, 120)), -1)


def feeder_scan(rng: np.random.Generator, page: np.ndarray, dpi: int = 200) -> np.ndarray:
    """A grey sheet-feeder scan of ``page`` (before JPEG), same pixel size."""
    grey = _scanner_geometry(rng, cv2.cvtColor(page, cv2.COLOR_RGB2GRAY), dpi)
    img = _scanner_tone(rng, grey)
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.45, 0.95))
    _dirt(rng, img)
    img += _noise(rng, img.shape, rng.uniform(1.5, 4.0))
    return np.clip(img, 0, 255).astype(np.uint8)


def bw_scan(rng: np.random.Generator, page: np.ndarray, dpi: int = 200) -> np.ndarray:
    """A black-and-white scan: uint8 0 (ink) / 255 (paper), same pixel size."""
    grey = _scanner_geometry(rng, cv2.cvtColor(page, cv2.COLOR_RGB2GRAY), dpi)
    img = cv2.GaussianBlur(grey.astype(np.float32), (0, 0), rng.uniform(0.4, 0.75))
    img += _noise(rng, img.shape, rng.uniform(4, 10))
    if rng.random() < 0.3:
        _dirt(rng, img)
    return np.where(img < rng.uniform(165, 200), 0, 255).astype(np.uint8)


def _background(rng: np.random.Generator, h: int, w: int, quad: np.ndarray) -> np.ndarray:
    """A table, desk or cloth surface with the sheet's soft shadow on it, RGB uint8 at full size."""
    sh, sw = max(8, h // 8), max(8, w // 8)
    base = np.array([(125, 85, 55), (160, 120, 80), (185, 185, 180), (60, 60, 75), (95, 110, 90)][
        int(rng.integers(5))], np.float32) * rng.uniform(0.8, 1.15)
    wood = rng.random() < 0.5
    small = rng.standard_normal((max(2, h // 64), 8 if wood else max(2, w // 64)), dtype=np.float32)
    low = cv2.resize(small, (sw, sh), interpolation=cv2.INTER_CUBIC) * rng.uniform(6, 20)
    shadow = np.zeros((sh, sw), np.float32)
    cv2.fillConvexPoly(shadow, np.round((quad + rng.uniform(4, 16, 2)) * sw / w).astype(np.int32), 1.0)
    shade = 1 - 0.35 * cv2.GaussianBlur(shadow, (0, 0), 3)
    bg = (base[None, None, :] + low[..., None]) * shade[..., None]
    return cv2.resize(np.clip(bg, 0, 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)


def _lighting(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Multiplicative light field: gradient, optional soft shadow and vignette, full size float32."""
    sh, sw = max(8, h // 16), max(8, w // 16)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    yy, xx = yy / sh - 0.5, xx / sw - 0.5
    a = rng.uniform(0, 2 * np.pi)
    along = xx * np.cos(a) + yy * np.sin(a)
    light = 1.0 - rng.uniform(0.15, 0.5) * (along + 0.5)
    if rng.random() < 0.5:
        b, c = rng.uniform(0, 2 * np.pi), rng.uniform(0.15, 0.45)
        edge = (xx * np.cos(b) + yy * np.sin(b) - c) / rng.uniform(0.02, 0.08)
        light *= 1.0 - rng.uniform(0.15, 0.4) / (1.0 + np.exp(-edge))
    light *= 1.0 - rng.uniform(0.1, 0.35) * (xx ** 2 + yy ** 2) * 2
    return cv2.resize(light.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def _page_quad(rng: np.random.Generator, pw: int, ph: int, fw: int, fh: int) -> np.ndarray:
    """Where the page's four corners land in the photo frame (perspective, tilt, off-centre)."""
    s = min(fw / pw, fh / ph) * rng.uniform(0.72, 0.9)
    cw, ch = pw * s, ph * s
    cx = fw / 2 + rng.uniform(-0.6, 0.6) * (fw - cw) / 2
    cy = fh / 2 + rng.uniform(-0.6, 0.6) * (fh - ch) / 2
    quad = np.array([[-cw / 2, -ch / 2], [cw / 2, -ch / 2], [cw / 2, ch / 2], [-cw / 2, ch / 2]], np.float32)
    side = int(rng.integers(4))
    k = rng.uniform(0.0, 0.07)
    near = [(0, 1), (1, 2), (2, 3), (3, 0)][side]
    for i in near:
        quad[i] -= quad[i] * np.float32(k)
    a = np.deg2rad(rng.uniform(-4, 4))
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], np.float32)
    quad = quad @ rot.T + np.array([cx, cy], np.float32)
    return quad + rng.uniform(-0.012, 0.012, (4, 2)).astype(np.float32) * np.float32(max(fw, fh))


def _camera(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Uneven light, colour cast, exposure, defocus and sensor noise on a uint8 RGB frame."""
    h, w = img.shape[:2]
    light = _lighting(rng, h, w)
    cast = np.array([(1.06, 1.0, 0.86), (0.93, 1.0, 1.08), (0.96, 1.03, 0.95), (1.0, 1.0, 1.0)][
        int(rng.integers(4))]) * rng.uniform(0.82, 1.05)
    chans = [cv2.multiply(c, light, scale=float(k), dtype=cv2.CV_8U) for c, k in zip(cv2.split(img), cast)]
    img = cv2.GaussianBlur(cv2.merge(chans), (0, 0), rng.uniform(0.6, 1.5))
    small = rng.standard_normal((h // 2, w // 2, 3), dtype=np.float32) * np.float32(rng.uniform(2, 6))
    noise = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.add(img, noise, dtype=cv2.CV_8U)


def phone_photo(rng: np.random.Generator, page: np.ndarray, long_side: int = PHONE_LONG_SIDE) -> np.ndarray:
    """A phone photo of ``page`` lying on a surface (RGB uint8, before JPEG); the frame follows the page's shape."""
    ph, pw = page.shape[:2]
    fw, fh = (long_side, long_side * 3 // 4) if pw > ph else (long_side * 3 // 4, long_side)
    quad = _page_quad(rng, pw, ph, fw, fh)
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    hom = cv2.getPerspectiveTransform(src, quad)
    img = cv2.warpPerspective(page, hom, (fw, fh), dst=_background(rng, fh, fw, quad), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_TRANSPARENT)
    return _camera(rng, img)


def encode_jpeg(img: np.ndarray, quality: int) -> bytes:
    """JPEG bytes of a grey or RGB uint8 image."""
    bgr = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def decode_jpeg(data: bytes, grey: bool) -> np.ndarray:
    """A JPEG as a reader sees it: grey uint8 or RGB uint8."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR)
    assert img is not None, "not a JPEG"
    return img if grey else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def age(rng: np.random.Generator, page: np.ndarray, kind: str, orientation: int = 0, dpi: int = 200,
        phone_long_side: int = PHONE_LONG_SIDE) -> Aged:
    """Age an unaged RGB ``page`` as ``kind`` with the page turned ``orientation`` degrees clockwise."""
    if kind == "feeder":
        q = int(rng.integers(55, 86))
        data = encode_jpeg(turn(feeder_scan(rng, page, dpi), orientation), q)
        return Aged(decode_jpeg(data, grey=True), kind, orientation, data, q)
    if kind == "bw":
        return Aged(turn(bw_scan(rng, page, dpi), orientation), kind, orientation)
    if kind == "phone":
        q = int(rng.integers(70, 91))
        data = encode_jpeg(phone_photo(rng, turn(page, orientation), phone_long_side), q)
        return Aged(decode_jpeg(data, grey=False), kind, orientation, data, q)
    raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
