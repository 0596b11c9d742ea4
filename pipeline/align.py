"""Markers + QR corners -> homography onto the form template, residual check, orientation, warp.

The template image has ``PX_PER_MM`` pixels per millimetre, origin at the page's
top-left; every later stage (crops, snippets) works in that frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.errors import PageProblem
from pipeline.identify import Found
from pipeline.models import Box, FormDefinition

PX_PER_MM = 8.0
MAX_RESIDUAL_MM = 1.2
MIN_ANCHOR_AREA = 0.12
"""Anchors (markers, QR) must span at least this share of the page, else alignment would extrapolate."""


@dataclass(frozen=True)
class Alignment:
    """Image -> template homography, its residual (mm), page orientation (deg) and anchors used."""

    matrix: np.ndarray
    residual_mm: float
    orientation: int
    anchors: tuple[str, ...]


def _corners(box: Box) -> np.ndarray:
    x, y, w, h = box
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float64) * PX_PER_MM


def _anchor_points(form: FormDefinition, found: Found) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    src, dst, names = [], [], []
    for marker_id, box in zip(form.marker_ids, form.marker_boxes):
        if marker_id in found.markers:
            src.append(found.markers[marker_id])
            dst.append(_corners(box))
            names.append(f"marker{marker_id}")
    if found.qr_corners is not None:
        src.append(found.qr_corners)
        dst.append(_corners(form.qr_box))
        names.append("qr")
    return src, dst, names


def _span_ok(dst: list[np.ndarray], form: FormDefinition) -> bool:
    centres = np.array([d.mean(axis=0) for d in dst], np.float32)
    if len(centres) < 3:
        return False
    area = cv2.contourArea(cv2.convexHull(centres))
    page = form.page_mm[0] * form.page_mm[1] * PX_PER_MM**2
    return area / page >= MIN_ANCHOR_AREA


def align(form: FormDefinition, found: Found) -> Alignment:
    """Fit the homography from detected anchors; raises PageProblem when it cannot be trusted."""
    src, dst, names = _anchor_points(form, found)
    if not src or not _span_ok(dst, form):
        raise PageProblem("too_few_markers", f"only {len(names)} of the corner squares / QR code could be seen "
                          "(a corner is torn, folded or outside the photo); rescan the whole page")
    s, d = np.concatenate(src), np.concatenate(dst)
    matrix, inliers = cv2.findHomography(s, d, cv2.RANSAC, 2.0 * PX_PER_MM)
    if matrix is None:
        raise PageProblem("alignment_failed", "the corner squares do not fit the form; rescan the page flat")
    mask = inliers.ravel().astype(bool)
    proj = cv2.perspectiveTransform(s[mask].reshape(-1, 1, 2), matrix).reshape(-1, 2)
    residual = float(np.sqrt(np.mean(np.sum((proj - d[mask]) ** 2, axis=1)))) / PX_PER_MM
    if residual > MAX_RESIDUAL_MM or mask.sum() < 8:
        raise PageProblem("alignment_failed", f"the page is bent or distorted ({residual:.1f} mm off after "
                          "alignment); flatten it and rescan")
    return Alignment(matrix, residual, _orientation(matrix), tuple(names))


def _orientation(matrix: np.ndarray) -> int:
    """Rotation (0/90/180/270, clockwise) of the page as it lay in the scan."""
    inv = np.linalg.inv(matrix)
    pts = cv2.perspectiveTransform(np.array([[[0, 0]], [[100, 0]]], np.float64), inv).reshape(2, 2)
    angle = math.degrees(math.atan2(pts[1, 1] - pts[0, 1], pts[1, 0] - pts[0, 0]))
    return int(round(angle / 90.0)) * 90 % 360


def warp(grey: np.ndarray, form: FormDefinition, alignment: Alignment) -> np.ndarray:
    """The page resampled into the template frame (``PX_PER_MM``), white outside the scan."""
    size = (round(form.page_mm[0] * PX_PER_MM), round(form.page_mm[1] * PX_PER_MM))
    return cv2.warpPerspective(grey, alignment.matrix, size, flags=cv2.INTER_LINEAR, borderValue=255)


def mm_to_px(box: Box, pad_mm: float = 0.0) -> tuple[int, int, int, int]:
    """A box in mm -> ``(x, y, w, h)`` integer pixels of the template frame, padded on every side."""
    x, y, w, h = box
    return (round((x - pad_mm) * PX_PER_MM), round((y - pad_mm) * PX_PER_MM),
            round((w + 2 * pad_mm) * PX_PER_MM), round((h + 2 * pad_mm) * PX_PER_MM))
