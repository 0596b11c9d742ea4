"""Markers + QR corners -> homography onto the form template, residual check, orientation, warp.

The template image has ``PX_PER_MM`` pixels per millimetre, origin at the page's
top-left; every later stage (crops, snippets) works in that frame.

When the anchors seen do not span the page (a corner cut off, another marker at the
edge, so the rest lie along one side), the anchors give a rough fit that the printed
structure itself then refines: the page is aligned to the rendered blank form (section
rules, comb-box grid, labels) by enhanced correlation (ECC), coarse to fine, and kept
only when the print matches well and the anchors still fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline import template
from pipeline.errors import PageProblem
from pipeline.identify import Found
from pipeline.models import PX_PER_MM, Box, FormDefinition

MAX_RESIDUAL_MM = 1.2
MIN_ANCHOR_AREA = 0.12
"""Anchors (markers, QR) must span at least this share of the page, else alignment would extrapolate."""
MIN_PRINT_MATCH = 0.45
"""Least ECC correlation between the page and the blank form's print for a structure-refined fit."""
MIN_PRINT_AGREEMENT = 0.8
"""Least :func:`print_agreement` of a structure-refined fit (right: about 1.0; 1.5 mm off: about 0.75)."""
ECC_STEPS = ((0.25, cv2.MOTION_AFFINE), (0.5, cv2.MOTION_HOMOGRAPHY))
"""Scales (of :data:`PX_PER_MM`) and motions of the coarse-to-fine refinement on printed structure."""


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


def align(form: FormDefinition, found: Found, grey: np.ndarray | None = None) -> Alignment:
    """Fit the homography from detected anchors; raises PageProblem when it cannot be trusted.

    With ``grey`` (the page image), anchors that do not span the page are completed by the
    printed structure (:func:`_fit_on_print`).
    """
    src, dst, names = _anchor_points(form, found)
    if src and not _span_ok(dst, form) and grey is not None:
        fitted = _fit_on_print(grey, form, np.concatenate(src), np.concatenate(dst))
        if fitted is not None:
            matrix, residual = fitted
            return Alignment(matrix, residual, _orientation(matrix), (*names, "print"))
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


def _fit_on_print(grey: np.ndarray, form: FormDefinition, s: np.ndarray, d: np.ndarray
                  ) -> tuple[np.ndarray, float] | None:
    """Image -> template homography from a few anchors refined on the printed form; None if it does not fit.

    The anchors (``s`` image px -> ``d`` template px) give a similarity transform, then
    ECC aligns the page to the rendered blank form on the printed area only (handwriting
    does not pull it), first affine at 2 px/mm, then projective at 4 px/mm. Of the two
    fits (refined, and the anchors' similarity alone, which is right for a flat feeder scan
    when ECC is pulled off by a large missing part), the one whose print agrees best with
    the form is kept, if the anchors fit it within :data:`MAX_RESIDUAL_MM` and its print
    agrees across the page (:func:`print_agreement`).
    """
    rough, _ = cv2.estimateAffinePartial2D(s, d)
    if rough is None:
        return None
    similarity = np.vstack([rough, [0.0, 0.0, 1.0]])
    best: tuple[float, np.ndarray, float] | None = None
    for matrix in (_refine_on_print(grey, form, similarity), similarity):
        if matrix is None:
            continue
        proj = cv2.perspectiveTransform(s.reshape(-1, 1, 2), matrix).reshape(-1, 2)
        residual = float(np.sqrt(np.mean(np.sum((proj - d) ** 2, axis=1)))) / PX_PER_MM
        agreement = print_agreement(grey, form, matrix)
        if residual <= MAX_RESIDUAL_MM and agreement >= MIN_PRINT_AGREEMENT and (best is None or agreement > best[0]):
            best = (agreement, matrix, residual)
    return None if best is None else (best[1], best[2])


def _refine_on_print(grey: np.ndarray, form: FormDefinition, matrix: np.ndarray) -> np.ndarray | None:
    """``matrix`` refined by ECC against the blank form's print; None if ECC fails or matches poorly."""
    blank = template.blank(form)
    printed = cv2.dilate(template.printed_mask(form).astype(np.uint8), np.ones((9, 9), np.uint8))
    match = 0.0
    for scale, motion in ECC_STEPS:
        size = (round(blank.shape[1] * scale), round(blank.shape[0] * scale))
        to_scale = np.diag([scale, scale, 1.0])
        target = cv2.resize(blank, size, interpolation=cv2.INTER_AREA).astype(np.float32)
        mask = cv2.resize(printed, size, interpolation=cv2.INTER_NEAREST)
        seen = cv2.warpPerspective(grey, to_scale @ matrix, size, flags=cv2.INTER_AREA, borderValue=255)
        start = np.eye(3 if motion == cv2.MOTION_HOMOGRAPHY else 2, 3, dtype=np.float32)
        try:
            match, found = cv2.findTransformECC(target, seen.astype(np.float32), start, motion,
                                                (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-5),
                                                mask, 5)
        except cv2.error:
            return None
        warp = np.asarray(found, np.float64)
        full = warp if warp.shape[0] == 3 else np.vstack([warp, [0.0, 0.0, 1.0]])
        matrix = np.linalg.inv(to_scale) @ np.linalg.inv(full) @ to_scale @ matrix
    return matrix if match >= MIN_PRINT_MATCH else None


def print_agreement(grey: np.ndarray, form: FormDefinition, matrix: np.ndarray, tiles: int = 6) -> float:
    """How much of the blank form's print is dark on the aligned page, across the page (0..1).

    The page is cut into ``tiles`` x ``tiles``; in each tile that holds print, the share of
    print pixels that are dark in the page within 0.5 mm, counting only print with some ink
    within 5 mm (a cut-off corner is blank: missing, not wrong); the result is the lowest
    quartile over the tiles, and 0 when fewer than half of them are there. A right fit
    scores about 1.0, one 1 mm off about 0.83, 2.5 mm off about 0.65.
    """
    scale = 0.25
    blank = template.blank(form)
    size = (round(blank.shape[1] * scale), round(blank.shape[0] * scale))
    printed = cv2.resize(blank, size, interpolation=cv2.INTER_AREA) < 160
    page = cv2.warpPerspective(grey, np.diag([scale, scale, 1.0]) @ matrix, size, flags=cv2.INTER_AREA,
                               borderValue=255)
    dark = (page < float(np.percentile(page, 95)) * 0.75).astype(np.uint8)
    near = cv2.dilate(dark, np.ones((3, 3), np.uint8)).astype(bool)
    seen = cv2.dilate(dark, np.ones((11, 11), np.uint8)).astype(bool) & printed  # print where the page is there
    scores, with_print = [], 0
    for ys in np.array_split(np.arange(size[1]), tiles):
        for xs in np.array_split(np.arange(size[0]), tiles):
            tile = (slice(ys[0], ys[-1] + 1), slice(xs[0], xs[-1] + 1))
            if int(printed[tile].sum()) < 40:
                continue
            with_print += 1
            n = int(seen[tile].sum())
            if n < 40:  # nothing within 5 mm of the print: the part of the page that is missing
                continue
            scores.append(float((seen[tile] & near[tile]).sum()) / n)
    if not scores or len(scores) * 2 < with_print:
        return 0.0
    return float(np.percentile(scores, 25))


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
