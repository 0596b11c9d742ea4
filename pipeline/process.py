"""One page, start to finish, in a worker process: decode -> identify -> align -> read.

Reads top to bottom like a recipe. A bad page becomes a ``PageResult`` with status
``problem`` and a plain reason; nothing here writes to the store.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import cv2
import numpy as np

from pipeline import align, extract, forms, identify, ingest, template
from pipeline._exec import tesseract
from pipeline.accept import Policy
from pipeline.errors import PageProblem, UnknownForm
from pipeline.models import FormDefinition, PageId, PageResult
from pipeline.recognize import icr, read

JPEG_QUALITY = 75


def process_file_page(path: Path, page_no: int, policy: Policy | None = None,
                      model: Path = icr.MODEL_PATH) -> PageResult:
    """Worker entry point: decode page ``page_no`` of ``path`` and read it under the acceptance ``policy``.

    ``model``: the classifier weights (the shipped ones, or the data dir's clinic adaptation).
    """
    start = time.process_time()
    try:
        grey = ingest.load_page(path, page_no)
        result = read_page(grey, policy, model)
    except PageProblem as e:
        result = PageResult("problem", e.reason, e.message)
    return PageResult(**{**result.__dict__, "seconds": time.process_time() - start})


def read_page(grey: np.ndarray, policy: Policy | None = None, model: Path = icr.MODEL_PATH) -> PageResult:
    """Identify, align and read a decoded grey page image (``policy``: the shipped acceptance policy if None)."""
    if _is_blank(grey):
        raise PageProblem("blank_page", "the page is blank (nothing written or printed on it)")
    found = identify.find(grey)
    form, ident, how = _resolve_form(found)
    alignment = align.align(form, found, grey)
    page = extract.normalise(align.warp(grey, form, alignment))
    reason = ""
    if ident is None:
        ident = _serial_from_print(page, form)
        how += "+printed serial" if ident.serial else ""
        reason = "" if ident.serial else "serial_unreadable"
    recognised = read.read_form(page, template.drop_print(page, form), form, policy, model)
    ok, jpeg = cv2.imencode(".jpg", page, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return PageResult(
        status="done", reason=reason,
        message="QR code unreadable and printed serial unreadable; page kept without its serial" if reason else "",
        ident=ident, identified_by=how, orientation=alignment.orientation,
        residual_mm=round(alignment.residual_mm, 3), image_jpeg=jpeg.tobytes() if ok else None,
        readings=recognised.readings, images=recognised.images, records=recognised.records,
        issues=recognised.issues, signature=recognised.signature.tobytes(), model=icr.model_version(model),
    )


def _is_blank(grey: np.ndarray) -> bool:
    small = cv2.resize(grey, (200, 280), interpolation=cv2.INTER_AREA)
    paper = float(np.percentile(small, 90))
    dark = np.count_nonzero(small < paper * 0.6) / small.size
    return bool(dark < 0.0015)


def _resolve_form(found: identify.Found) -> tuple[FormDefinition, PageId | None, str]:
    ident = found.page_id()
    if ident is not None:
        try:
            form = forms.load(ident.form_id, ident.version)
        except UnknownForm as e:
            raise PageProblem("unknown_form_version", f"{e}; this page was printed by a newer or different "
                              "Susulan installation: add that form version to forms/") from e
        if ident.fingerprint and ident.fingerprint != form.fingerprint:
            raise PageProblem("layout_changed", f"{ident.form_id} v{ident.version} was printed with a different "
                              "layout (e.g. another poli list); restore that forms/ version to read it")
        return form, ident, "qr"
    if not found.markers:
        raise PageProblem("not_a_form", "no Susulan form on this page (no corner squares or QR code found)")
    try:
        return forms.by_marker_ids(set(found.markers)), None, "markers"
    except UnknownForm as e:
        raise PageProblem("not_a_form", "the corner squares do not belong to any known form") from e


def _serial_from_print(page: np.ndarray, form: FormDefinition) -> PageId:
    """Fallback when the QR code is damaged: read the printed "No. lembar 000123" with Tesseract."""
    x, y = form.serial_at
    img = extract.crop(page, (x - 14, y - 3.5, 28, 5))
    text = tesseract.read_line(img, lang="eng", whitelist="0123456789Nolembar. ")
    m = re.search(r"(\d{6})", text.replace(" ", ""))
    return PageId(form.form_id, form.version, int(m.group(1)) if m else 0, form.fingerprint)
