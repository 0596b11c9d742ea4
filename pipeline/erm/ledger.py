"""The import ledger: per FHIR server (``target``) and record, what happened to it, with every step kept.

Statuses: ``sending`` (a request carrying it left; the answer is not known yet), ``accepted`` (with the
server's Patient and Encounter ids), ``rejected`` (the server's message; not re-sent unless asked),
``failed`` (no usable answer, or an answer that is not FHIR: in doubt, checked on the server before it
is sent again), ``pending`` (the server refused the credentials, so nothing was processed: sent next
time), ``refused`` (not sent: not approved, or changed after the plan was confirmed).

Identities (``erm_identities``) keep, per server, the id the server gave a NIK: the IHS number of a
patient found or created in the national index, the id of a practitioner.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from pipeline.store import Store

STATUSES = ("sending", "accepted", "rejected", "failed", "pending", "refused")
IN_DOUBT = ("sending", "failed")


@dataclass(frozen=True)
class Outcome:
    """A new ledger state for one record."""

    record_id: int
    status: str
    message: str = ""
    patient_ref: str = ""
    encounter_ref: str = ""


def target_of(url: str) -> str:
    """The ledger key of a server: its base URL without a trailing slash."""
    return url.strip().rstrip("/")


def current(store: Store, target: str) -> dict[int, dict[str, Any]]:
    """Ledger rows of one server by record id."""
    return {r["record_id"]: r for r in store.erm_ledger(target)}


def mark(store: Store, target: str, rows: list[dict[str, Any]], outcomes: list[Outcome], batch: str = "") -> None:
    """Record outcomes (one transaction); ``rows`` are the plan rows they belong to."""
    by_id = {int(r["record_id"]): r for r in rows}
    store.erm_ledger_mark(target, [{
        "record_id": o.record_id, "visit_key": by_id[o.record_id]["visit_key"],
        "patient_key": by_id[o.record_id]["patient_key"], "status": o.status,
        "attempts": 1 if o.status == "sending" else -1 if o.status == "pending" else 0, "batch": batch,
        "patient_ref": o.patient_ref, "encounter_ref": o.encounter_ref, "message": o.message} for o in outcomes])


def entries(store: Store, target: str | None = None) -> list[dict[str, Any]]:
    """Ledger rows (all servers, or one), newest first, with the record's page id."""
    return store.erm_ledger(target_of(target) if target else None)


def events(store: Store, record_id: int) -> list[dict[str, Any]]:
    """Every step of one record's import, oldest first."""
    return store.erm_ledger_events(record_id)


def counts(store: Store, target: str | None = None) -> dict[str, int]:
    """Records per ledger status."""
    c = Counter(e["status"] for e in entries(store, target))
    return {s: c.get(s, 0) for s in STATUSES}


def identities(store: Store, target: str, kind: str) -> dict[str, str]:
    """NIK -> server id of one kind (``Patient``, ``Practitioner``) known for a server."""
    return store.erm_identities(target, kind)


def remember(store: Store, target: str, kind: str, nik: str, ref: str, source: str) -> None:
    """Keep the id a server has for a NIK (``source``: ``found`` or ``created``)."""
    store.erm_remember(target, kind, nik, ref, source)
