"""ERM import settings from ``forms/erm/erm.yaml``: FHIR ids, time zone, push and matching knobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from pipeline import forms
from pipeline.errors import BadInput


@dataclass(frozen=True)
class Location:
    """A SATUSEHAT Location of one poli."""

    id: str
    display: str


@dataclass(frozen=True)
class Settings:
    """Everything the ERM import needs to know about this Puskesmas."""

    profile: str = "generic"
    organization_id: str = ""
    organization_name: str = ""
    locations: dict[str, Location] = field(default_factory=dict)
    timezone: str = "Asia/Jakarta"
    local_identifier_base: str = "https://id.susulan.local/puskesmas"
    kecamatan_code: str = ""
    batch_size: int = 20
    retries: int = 4
    backoff_seconds: float = 1.0
    timeout_seconds: float = 60.0
    link_score: float = 90.0
    margin: float = 5.0
    ambiguous_score: float = 70.0

    @property
    def tz(self) -> ZoneInfo:
        """The Puskesmas' time zone."""
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise BadInput(f"forms/erm/erm.yaml: unknown timezone {self.timezone!r}") from e

    def local_system(self, kind: str) -> str:
        """URI of a local identifier system: ``bpjs``, ``rm`` or ``patient`` (new-patient key)."""
        return f"{self.local_identifier_base.rstrip('/')}/{kind}"


def path() -> Path:
    """``forms/erm/erm.yaml``."""
    return forms.forms_dir() / "erm" / "erm.yaml"


def load(file: Path | None = None) -> Settings:
    """Read the settings (defaults where the file is silent); ``kecamatan_code`` comes from site.yaml."""
    file = file or path()
    raw: dict[str, Any] = {}
    if file.exists():
        try:
            raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise BadInput(f"{file} is not valid YAML: {e}") from e
    fhir = raw.get("fhir") or {}
    push = raw.get("push") or {}
    match = raw.get("matching") or {}
    try:
        site = forms.load_site()
    except BadInput:
        site = {}
    try:
        locations = {str(k): Location(str(v["id"]), str(v.get("display", k))) for k, v in
                     (fhir.get("locations") or {}).items()}
        defaults = Settings()
        return Settings(
            profile=str(raw.get("profile") or defaults.profile),
            organization_id=str(fhir.get("organization_id") or ""),
            organization_name=str(fhir.get("organization_name") or site.get("puskesmas") or ""),
            locations=locations,
            timezone=str(fhir.get("timezone") or defaults.timezone),
            local_identifier_base=str(fhir.get("local_identifier_base") or defaults.local_identifier_base),
            kecamatan_code=str(site.get("kecamatan_code") or ""),
            batch_size=int(push.get("batch_size", defaults.batch_size)),
            retries=int(push.get("retries", defaults.retries)),
            backoff_seconds=float(push.get("backoff_seconds", defaults.backoff_seconds)),
            timeout_seconds=float(push.get("timeout_seconds", defaults.timeout_seconds)),
            link_score=float(match.get("link_score", defaults.link_score)),
            margin=float(match.get("margin", defaults.margin)),
            ambiguous_score=float(match.get("ambiguous_score", defaults.ambiguous_score)),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise BadInput(f"{file} is not valid: {e}") from e
