"""Small frozen dataclasses passed between the stages of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field

PX_PER_MM = 8.0
"""Pixels per millimetre of the template frame: pages are warped into it, and crops and snippets are cut from it."""

Box = tuple[float, float, float, float]
"""A rectangle ``(x, y, w, h)`` in millimetres from the page's top-left corner."""

FIELD_KINDS = ("digits", "date", "time", "letters", "choice", "text")
BOXED_KINDS = ("digits", "date", "time", "letters")
HEADS = {"digits": ("digits", "date", "time"), "letters": ("letters",)}
"""The comb-box classifier's two heads and the field kinds each reads."""
HEAD_OF = {kind: head for head, kinds in HEADS.items() for kind in kinds}
"""Field kind -> the classifier head that reads its cells."""
LEXICON_KIND = "lexicon"
"""Acceptance kind of a letters field read against a closed list (a village: its confidence is the posterior of the
desa name among the official ones, :mod:`pipeline.recognize.village`): calibrated apart from open letters (names,
addresses), which are far less sure at the same confidence."""
IDENTITY_KIND = "identity"
"""Acceptance kind of a value (NIK, No. RM, BPJS number, name, address, village) decided against exactly one
patient of the ERM's master (``pipeline.learn.identity``): the master is evidence the cells alone do not
have, so it is calibrated apart (on calib pages with a master loaded)."""
CONSENSUS_KEY = "consensus"
"""Key in a value's ``detail`` under which batch consistency keeps the reading it revised."""
STRUCK_RULE = "struck_through"
"""Rule of the (non-blocking) issue a crossed-out queue-sheet row or registration form gets when it is read."""
MASTER_KEY = "erm_check"
"""Key in a value's ``detail`` under which the check against the ERM's master keeps the reading it revised."""


def first_reading(detail: dict, value: str, confidence: float) -> tuple[str, float]:
    """A stored machine value as its cells first read it, before batch consistency or the ERM's master decided it.

    Batch consistency runs first, so its kept reading is the cells' own when both revised the value.
    """
    first: dict = next((detail[k] for k in (CONSENSUS_KEY, MASTER_KEY) if k in detail), {})
    return str(first.get("read", value)), float(first.get("confidence", confidence))


@dataclass(frozen=True)
class Option:
    """One tick box of a choice field."""

    value: str
    label: str
    box: Box


@dataclass(frozen=True)
class FieldDef:
    """A field on a printed form, with its geometry resolved to millimetres."""

    name: str
    kind: str
    record: int | None
    box: Box
    cells: tuple[Box, ...] = ()
    options: tuple[Option, ...] = ()
    label: str = ""
    groups: tuple[int, ...] = ()
    label_at: tuple[float, float] | None = None
    hint: str = ""
    option_labels: str = "right"
    role: str = ""
    """What the field means (``nik``, ``visit_date``…; see ``pipeline.form_schema.ROLES``); not layout."""
    required: bool = False
    lexicon: str = ""
    batch: str = ""

    @property
    def accept_kind(self) -> str:
        """The kind whose calibrated threshold decides whether this field's value may be ``auto``."""
        return LEXICON_KIND if self.kind == "letters" and self.lexicon else self.kind

    @property
    def key(self) -> str:
        """Unique key on the page, e.g. ``nik`` or ``name#3`` for row 3."""
        return self.name if self.record is None else f"{self.name}#{self.record}"


@dataclass(frozen=True)
class FormDefinition:
    """A form and version: page size, markers, QR position and every field."""

    form_id: str
    version: int
    title: str
    page_mm: tuple[float, float]
    marker_ids: tuple[int, int, int, int]
    marker_boxes: tuple[Box, Box, Box, Box]
    qr_box: Box
    serial_at: tuple[float, float]
    records_per_page: int
    fields: tuple[FieldDef, ...]
    decor: tuple[dict, ...] = ()
    site: dict = field(default_factory=dict)
    fingerprint: str = ""
    kind: str = ""
    """``registration`` (one patient per sheet) or ``queue`` (a queue sheet, one row per patient)."""

    def name_of(self, role: str) -> str | None:
        """The name of the field that has this role on this form, if any."""
        return next((f.name for f in self.fields if f.role == role), None)

    def with_batch_hint(self, hint: str) -> list[str]:
        """Names of the fields carrying a batch hint (``same_day``, ``ascending``)."""
        return list(dict.fromkeys(f.name for f in self.fields if f.batch == hint))

    def page_fields(self) -> tuple[FieldDef, ...]:
        """Fields that belong to the page rather than to one record row."""
        return tuple(f for f in self.fields if f.record is None)

    def record_fields(self, record: int) -> tuple[FieldDef, ...]:
        """Fields of one record (row); for a single-record form, all fields."""
        if self.records_per_page == 1:
            return self.fields
        return tuple(f for f in self.fields if f.record == record)

    def field_names(self) -> list[str]:
        """Distinct field names in page order: the columns of an export."""
        seen: dict[str, None] = {}
        for f in self.fields:
            seen.setdefault(f.name, None)
        return list(seen)


@dataclass(frozen=True)
class PageId:
    """What the QR code of a printed page carries."""

    form_id: str
    version: int
    serial: int
    fingerprint: str = ""

    @property
    def page_id(self) -> str:
        """The id ``forms print`` reports, e.g. ``pendaftaran-000123``."""
        return f"{self.form_id}-{self.serial:06d}"

    def qr_text(self) -> str:
        """Payload written into the QR code."""
        return f"SUSULAN|{self.form_id}|{self.version}|{self.serial}|{self.fingerprint}"

    @classmethod
    def parse(cls, text: str) -> PageId:
        """Parse a QR payload; raises ``ValueError`` if it is not ours."""
        parts = text.strip().split("|")
        if len(parts) != 5 or parts[0] != "SUSULAN":
            raise ValueError(f"not a Susulan QR code: {text[:40]!r}")
        return cls(parts[1], int(parts[2]), int(parts[3]), parts[4])


@dataclass(frozen=True)
class Reading:
    """What a recogniser made of one field (before any person looked at it).

    ``value`` is in export form (dates ``YYYY-MM-DD``, times ``HH:MM``, digits as
    strings, choice = option value, blank = ``""``); ``status`` is ``auto`` when it
    is safe to import without review, else ``review``.
    """

    name: str
    record: int | None
    kind: str
    value: str = ""
    confidence: float = 0.0
    status: str = "review"
    engine: str = ""
    topk: tuple[tuple[str, float], ...] = ()
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class FieldImage:
    """A field's crop (PNG bytes, grey) and its cell / option rectangles in crop pixels."""

    name: str
    record: int | None
    png: bytes
    cells_px: tuple[tuple[int, int, int, int], ...] = ()
    box_px: tuple[int, int, int, int] = (0, 0, 0, 0)


@dataclass(frozen=True)
class Issue:
    """A rule a record breaks; ``message`` is Bahasa Indonesia for the reviewer."""

    field: str
    rule: str
    message: str
    blocking: bool = True


@dataclass(frozen=True)
class PageResult:
    """Everything a worker learned about one page; only the parent writes it to the store."""

    status: str  # "done" | "problem"
    reason: str = ""
    message: str = ""
    ident: PageId | None = None
    identified_by: str = ""
    orientation: int = 0
    residual_mm: float | None = None
    image_jpeg: bytes | None = None
    readings: tuple[Reading, ...] = ()
    images: tuple[FieldImage, ...] = ()
    records: tuple[int, ...] = ()
    issues: tuple[tuple[int, Issue], ...] = ()
    signature: bytes = b""
    seconds: float = 0.0
    model: str = ""
    """Which classifier read the comb cells (:func:`pipeline.recognize.icr.model_version` of its weights file)."""
