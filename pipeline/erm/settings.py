"""ERM import settings from ``forms/erm/erm.yaml``: FHIR ids, time zone, push, SATUSEHAT, P-Care, matching."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
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


WEEKDAYS = ("senin", "selasa", "rabu", "kamis", "jumat", "sabtu", "minggu")
TARGETS = ("satusehat", "pcare")


@dataclass(frozen=True)
class Duration:
    """Minutes a visit of one poli spends waiting (arrived) and being served (in-progress)."""

    wait: int
    service: int


@dataclass(frozen=True)
class Duty:
    """Who attended a poli: on given dates, on given weekdays, or (neither given) on any day."""

    poli: str
    nik: str
    name: str
    weekdays: tuple[int, ...] = ()
    dates: tuple[str, ...] = ()

    def rank(self, day: date) -> int:
        """0 = named for this date, 1 = for this weekday, 2 = any day; 9 = not on duty that day."""
        if self.dates:
            return 0 if day.isoformat() in self.dates else 9
        if self.weekdays:
            return 1 if day.weekday() in self.weekdays else 9
        return 2


@dataclass(frozen=True)
class Pcare:
    """BPJS P-Care pendaftaran: provider code, kdPoli per poli, which polis are healthy visits."""

    provider_code: str = ""
    kd_tkp: str = "10"
    kd_poli: dict[str, str] = field(default_factory=dict)
    healthy_polis: tuple[str, ...] = ()


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
    retry_budget: int = 12
    targets: tuple[str, ...] = TARGETS
    token_url: str = ""
    client_id: str = ""
    client_secret_env: str = "SUSULAN_CLIENT_SECRET"
    token_refresh_seconds: float = 300.0
    durations: dict[str, Duration] = field(default_factory=dict)
    duties: tuple[Duty, ...] = ()
    pcare: Pcare = field(default_factory=Pcare)

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

    def duration(self, poli: str) -> Duration | None:
        """Waiting and service minutes of a poli (``default`` when the poli has none)."""
        return self.durations.get(poli) or self.durations.get("default")

    def duty(self, poli: str, day: date) -> Duty | None:
        """The practitioner on duty at a poli on a day: a date entry beats a weekday entry beats an every-day one."""
        ranked = sorted((d.rank(day), i, d) for i, d in enumerate(self.duties) if d.poli == poli)
        return ranked[0][2] if ranked and ranked[0][0] < 9 else None


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
    sat = raw.get("satusehat") or {}
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
            retry_budget=int(push.get("retry_budget", defaults.retry_budget)),
            targets=_targets(raw.get("targets", list(TARGETS))),
            token_url=str(sat.get("token_url") or ""),
            client_id=str(sat.get("client_id") or ""),
            client_secret_env=str(sat.get("client_secret_env") or defaults.client_secret_env),
            token_refresh_seconds=float(sat.get("token_refresh_seconds", defaults.token_refresh_seconds)),
            durations={str(k): Duration(int(v["wait"]), int(v["service"]))
                       for k, v in (sat.get("durations") or {}).items()},
            duties=tuple(_duty(d) for d in sat.get("practitioners") or []),
            pcare=_pcare(raw.get("pcare") or {}),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise BadInput(f"{file} is not valid: {e}") from e


def _targets(raw: Any) -> tuple[str, ...]:
    got = tuple(str(t) for t in (raw or []))
    unknown = sorted(set(got) - set(TARGETS))
    if unknown:
        raise ValueError(f"unknown target(s) {', '.join(unknown)} (known: {', '.join(TARGETS)})")
    return got


def _duty(raw: dict[str, Any]) -> Duty:
    days = []
    for d in raw.get("days") or []:
        name = str(d).strip().lower().replace("'", "")
        if name not in WEEKDAYS:
            raise ValueError(f"unknown day {d!r} in satusehat.practitioners (use {', '.join(WEEKDAYS)})")
        days.append(WEEKDAYS.index(name))
    dates = tuple(date.fromisoformat(str(x)).isoformat() for x in raw.get("dates") or [])
    return Duty(str(raw["poli"]), str(raw["nik"]), str(raw.get("name") or ""), tuple(days), dates)


def _pcare(raw: dict[str, Any]) -> Pcare:
    return Pcare(provider_code=str(raw.get("provider_code") or ""), kd_tkp=str(raw.get("kd_tkp") or "10"),
                 kd_poli={str(k): str(v) for k, v in (raw.get("kd_poli") or {}).items()},
                 healthy_polis=tuple(str(p) for p in raw.get("healthy_polis") or []))
