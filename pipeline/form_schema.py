"""The schema of ``forms/<form_id>/v<N>.yaml`` and ``forms/site.yaml``: unknown keys are refused.

Geometry stays in :mod:`pipeline.forms`; this module only says what a definition may contain,
including what each field *means* (``role``), so that rules, readers and the ERM planner ask for
"the NIK" rather than for a field called ``nik``. Roles, rules, lexicons and batch hints are not
layout: they never enter a form's fingerprint, so sheets already printed stay readable.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.errors import BadInput

ROLES = ("visit_date", "queue_no", "arrival_time", "visit_type", "rm_no", "nik", "bpjs_no", "name", "sex",
         "birth_date", "address", "rt", "rw", "village", "phone", "poli", "payment", "complaint")
"""What a field can mean; rules and readers look fields up by role."""
Role = Literal["visit_date", "queue_no", "arrival_time", "visit_type", "rm_no", "nik", "bpjs_no", "name", "sex",
               "birth_date", "address", "rt", "rw", "village", "phone", "poli", "payment", "complaint"]
Kind = Literal["date", "time", "digits", "letters", "choice", "text"]
Lexicon = Literal["villages"]
"""``villages``: the desa/kelurahan of the site's kabupaten (Kemendagri list)."""
BatchHint = Literal["same_day", "ascending"]
"""``same_day``: sheets scanned together were mostly written on one day; ``ascending``: the value
grows down the rows of one sheet (queue numbers, arrival times)."""
FormKind = Literal["registration", "queue"]

Pair = tuple[float, float]
Box = tuple[float, float, float, float]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OptionSpec(_Strict):
    """One tick box of a choice field."""

    value: str
    label: str | None = None


class FromSite(_Strict):
    """Options taken from a list in ``site.yaml`` (e.g. the poli list)."""

    from_site: str


class FieldSpec(_Strict):
    """One field: geometry (mm from the page's top-left) and meaning."""

    name: str
    kind: Kind
    role: Role | None = None
    required: bool = False
    lexicon: Lexicon | None = None
    batch: BatchHint | None = None
    label: str = ""
    label_x: float | None = None
    hint: str = ""
    at: Pair | None = None
    box: Box | float | None = None  # text: the writing area; choice: tick-box size
    count: int | None = None
    cell: Pair | None = None
    groups: tuple[int, ...] | None = None
    pitch: Pair | None = None
    per_row: int | None = None
    row_pitch: float | None = None
    options: list[OptionSpec] | FromSite | None = None
    option_labels: Literal["right", "above"] | None = None

    @model_validator(mode="after")
    def _placed(self) -> FieldSpec:
        if self.kind == "text" and not isinstance(self.box, tuple):
            raise ValueError(f"text field {self.name!r} needs box: [x, y, w, h]")
        if self.kind != "text" and self.at is None:
            raise ValueError(f"field {self.name!r} needs at: [x, y]")
        if self.kind == "choice" and self.options is None:
            raise ValueError(f"choice field {self.name!r} needs options")
        return self


class MarkerSpec(_Strict):
    """The four ArUco corner markers."""

    ids: tuple[int, int, int, int]
    size: float
    margin: float


class QrSpec(_Strict):
    """Where the QR code is printed."""

    box: Box


class RecordsSpec(_Strict):
    """How many records a page holds and how far apart their rows are."""

    count: int = Field(default=1, ge=1)
    pitch: Pair = (0.0, 0.0)


class FormSpec(_Strict):
    """A whole form version."""

    form_id: str
    version: int = Field(ge=1)
    kind: FormKind
    title: str | None = None
    page_mm: Pair
    markers: MarkerSpec
    qr: QrSpec
    serial_at: Pair
    records: RecordsSpec = RecordsSpec()
    cell: Pair | None = None
    label_x: float | None = None
    decor: list[dict[str, Any]] = []
    fields: list[FieldSpec] = []
    record_fields: list[FieldSpec] = []

    @model_validator(mode="after")
    def _unique(self) -> FormSpec:
        for what, get in (("name", lambda f: f.name), ("role", lambda f: f.role)):
            seen = [get(f) for f in [*self.fields, *self.record_fields] if get(f)]
            twice = sorted({v for v in seen if seen.count(v) > 1})
            if twice:
                raise ValueError(f"field {what} used more than once: {', '.join(twice)}")
        return self


class SiteSpec(_Strict):
    """Per-Puskesmas settings (``forms/site.yaml``)."""

    puskesmas: str
    kabupaten: str
    kecamatan: str = ""
    kecamatan_code: str
    opening_hours: tuple[str, str] = ("06:00", "18:00")
    poli: list[OptionSpec]

    @model_validator(mode="after")
    def _hours(self) -> SiteSpec:
        start, end = self.opening_hours
        for t in (start, end):
            if len(t) != 5 or t[2] != ":" or not (t[:2] + t[3:]).isdigit():
                raise ValueError(f"opening_hours: {t!r} is not HH:MM")
        if start >= end:
            raise ValueError("opening_hours: the first time must come before the second")
        return self


def _message(e: ValidationError) -> str:
    parts = []
    for err in e.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"])
        what = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{where}: {what}" if where else what)
    return "; ".join(parts)


def check_form(raw: Any, source: str) -> FormSpec:
    """Validate a parsed form YAML; raises :class:`BadInput` naming the first problems."""
    try:
        return FormSpec.model_validate(raw)
    except ValidationError as e:
        raise BadInput(f"form definition {source} is invalid: {_message(e)}") from e


def check_site(raw: Any, source: str) -> SiteSpec:
    """Validate a parsed ``site.yaml``; raises :class:`BadInput` naming the first problems."""
    try:
        return SiteSpec.model_validate(raw)
    except ValidationError as e:
        raise BadInput(f"site settings {source} are invalid: {_message(e)}") from e
