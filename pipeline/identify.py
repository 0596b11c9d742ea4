"""Find what is printed on a page image: corner markers (ArUco) and the QR code (form id, version, serial).

Coordinates returned are pixels of the image given. Detection runs on a copy scaled
to at most ``DETECT_SIDE`` px, which is faster and more robust on large phone photos.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import zxingcpp

from pipeline.models import PageId

DETECT_SIDE = 2000
_DICT = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)


@dataclass(frozen=True)
class Found:
    """Markers (id -> 4x2 corners, clockwise from the marker's top-left) and the QR payload/corners."""

    markers: dict[int, np.ndarray]
    qr_text: str | None
    qr_corners: np.ndarray | None

    def page_id(self) -> PageId | None:
        """The parsed QR payload, or None if no Susulan QR code was read."""
        if not self.qr_text:
            return None
        try:
            return PageId.parse(self.qr_text)
        except ValueError:
            return None


def _detector() -> cv2.aruco.ArucoDetector:
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    params.minMarkerPerimeterRate = 0.05  # markers are 14 mm; skip the many small comb boxes
    return cv2.aruco.ArucoDetector(_DICT, params)


_DETECTOR = _detector()


def find_markers(grey: np.ndarray) -> dict[int, np.ndarray]:
    """ArUco markers in ``grey``; with several of the same id, the largest wins."""
    scale = min(1.0, DETECT_SIDE / max(grey.shape))
    small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else grey
    corners, ids, _ = _DETECTOR.detectMarkers(small)
    if ids is None:
        eq = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8)).apply(small)
        corners, ids, _ = _DETECTOR.detectMarkers(eq)
    found: dict[int, np.ndarray] = {}
    for c, i in zip(corners or (), ids.ravel() if ids is not None else ()):
        pts = c.reshape(4, 2).astype(np.float64) / scale
        if int(i) not in found or cv2.contourArea(pts.astype(np.float32)) > cv2.contourArea(
                found[int(i)].astype(np.float32)):
            found[int(i)] = pts
    return found


def find_qr(grey: np.ndarray) -> tuple[str | None, np.ndarray | None]:
    """Text and corners (TL, TR, BR, BL in symbol orientation) of the first Susulan QR code."""
    for img, scale in _qr_attempts(grey):
        qr_only = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
        for r in zxingcpp.read_barcodes(img, formats=qr_only, try_rotate=True):
            if r.text.startswith("SUSULAN|"):
                p = r.position
                pts = np.array([[p.top_left.x, p.top_left.y], [p.top_right.x, p.top_right.y],
                                [p.bottom_right.x, p.bottom_right.y], [p.bottom_left.x, p.bottom_left.y]],
                               np.float64) / scale
                return r.text, pts
    return None, None


def _qr_attempts(grey: np.ndarray) -> list[tuple[np.ndarray, float]]:
    scale = min(1.0, DETECT_SIDE / max(grey.shape))
    small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else grey
    return [(small, scale), (grey, 1.0)] if scale < 1 else [(grey, 1.0)]


def find(grey: np.ndarray) -> Found:
    """Markers and QR code of a page image."""
    markers = find_markers(grey)
    text, corners = find_qr(grey)
    return Found(markers, text, corners)
