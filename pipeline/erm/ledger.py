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
from pipeline.store.schema import now

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
    return {r["record_id"]: dict(r) for r in store.db.q("SELECT * FROM erm_ledger WHERE target=?", (target,))}


def mark(store: Store, target: str, rows: list[dict[str, Any]], outcomes: list[Outcome], batch: str = "") -> None:
    """Record outcomes (one transaction); ``rows`` are the plan rows they belong to."""
    by_id = {int(r["record_id"]): r for r in rows}
    at = now()
    with store.tx() as c:
        for o in outcomes:
            row = by_id[o.record_id]
            sending = 1 if o.status == "sending" else -1 if o.status == "pending" else 0
            c.execute(
                "INSERT INTO erm_ledger (target, record_id, visit_key, patient_key, status, attempts, batch, "
                "patient_ref, encounter_ref, message, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT (target, record_id) DO UPDATE SET status=excluded.status, "
                "attempts=erm_ledger.attempts+excluded.attempts, "
                "batch=CASE WHEN excluded.batch='' THEN erm_ledger.batch ELSE excluded.batch END, "
                "patient_ref=CASE WHEN excluded.patient_ref='' THEN erm_ledger.patient_ref "
                "ELSE excluded.patient_ref END, "
                "encounter_ref=CASE WHEN excluded.encounter_ref='' THEN erm_ledger.encounter_ref "
                "ELSE excluded.encounter_ref END, message=excluded.message, "
                "visit_key=excluded.visit_key, patient_key=excluded.patient_key, updated_at=excluded.updated_at",
                (target, o.record_id, row["visit_key"], row["patient_key"], o.status, sending, batch,
                 o.patient_ref, o.encounter_ref, o.message, at))
            c.execute("INSERT INTO erm_ledger_events (target, record_id, at, status, message) VALUES (?,?,?,?,?)",
                      (target, o.record_id, at, o.status, o.message))


def entries(store: Store, target: str | None = None) -> list[dict[str, Any]]:
    """Ledger rows (all servers, or one), newest first, with the record's page id."""
    sql = ("SELECT l.*, p.page_key AS page_id FROM erm_ledger l LEFT JOIN records r ON r.id=l.record_id "
           "LEFT JOIN pages p ON p.id=r.page_id")
    params: tuple = ()
    if target:
        sql += " WHERE l.target=?"
        params = (target_of(target),)
    return [dict(r) for r in store.db.q(sql + " ORDER BY l.updated_at DESC, l.record_id", params)]


def events(store: Store, record_id: int) -> list[dict[str, Any]]:
    """Every step of one record's import, oldest first."""
    return [dict(r) for r in store.db.q("SELECT * FROM erm_ledger_events WHERE record_id=? ORDER BY id", (record_id,))]


def counts(store: Store, target: str | None = None) -> dict[str, int]:
    """Records per ledger status."""
    c = Counter(e["status"] for e in entries(store, target))
    return {s: c.get(s, 0) for s in STATUSES}


def identities(store: Store, target: str, kind: str) -> dict[str, str]:
    """NIK -> server id of one kind (``Patient``, ``Practitioner``) known for a server."""
    return {r["nik"]: r["ref"] for r in store.q("SELECT nik, ref FROM erm_identities WHERE target=? AND kind=?",
                                                (target, kind))}


def remember(store: Store, target: str, kind: str, nik: str, ref: str, source: str) -> None:
    """Keep the id a server has for a NIK (``source``: ``found`` or ``created``)."""
    with store.tx() as c:
        c.execute("INSERT INTO erm_identities (target, kind, nik, ref, source, at) VALUES (?,?,?,?,?,?) "
                  "ON CONFLICT (target, kind, nik) DO UPDATE SET ref=excluded.ref, source=excluded.source, "
                  "at=excluded.at", (target, kind, nik, ref, source, now()))
