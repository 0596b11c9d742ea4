"""ERM import data: loads of the ERM's exports, people's decisions, confirmed plans, the push ledger, identities.

The logic lives in :mod:`pipeline.erm`; this module is its SQL. Loads replace the previous load of
their kind in one transaction; decisions are audited (:func:`pipeline.store.audit.write`).
"""

from __future__ import annotations

from typing import Any

from pipeline.store import audit
from pipeline.store.db import Database, now

LOADED = {"patients": "erm_patients", "visits": "erm_visits", "pcare": "erm_pcare"}
LEDGER_UPSERT = (
    "INSERT INTO erm_ledger (target, record_id, visit_key, patient_key, status, attempts, batch, patient_ref, "
    "encounter_ref, message, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?) "
    "ON CONFLICT (target, record_id) DO UPDATE SET status=excluded.status, "
    "attempts=erm_ledger.attempts+excluded.attempts, "
    "batch=CASE WHEN excluded.batch='' THEN erm_ledger.batch ELSE excluded.batch END, "
    "patient_ref=CASE WHEN excluded.patient_ref='' THEN erm_ledger.patient_ref ELSE excluded.patient_ref END, "
    "encounter_ref=CASE WHEN excluded.encounter_ref='' THEN erm_ledger.encounter_ref ELSE excluded.encounter_ref END, "
    "message=excluded.message, visit_key=excluded.visit_key, patient_key=excluded.patient_key, "
    "updated_at=excluded.updated_at")


def _dicts(rows: list[Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in rows]


class ErmRepo:
    """The ``erm_*`` tables."""

    db: Database

    # --- what the ERM knows --------------------------------------------------------------------------

    def erm_replace(self, kind: str, columns: tuple[str, ...], rows: list[dict[str, Any]], file: str, sha256: str,
                    profile: str, skipped: int, user: str) -> None:
        """Replace the rows of one load kind (``patients``, ``visits``, ``pcare``) and record the load, atomically."""
        table = LOADED[kind]
        with self.db.tx() as c:
            c.execute(f"DELETE FROM {table}")
            c.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                          [tuple(r.get(k, "") for k in columns) for r in rows])
            c.execute("DELETE FROM erm_loads WHERE kind=?", (kind,))
            c.execute('INSERT INTO erm_loads (kind, file, sha256, profile, rows, skipped, "user", loaded_at) '
                      "VALUES (?,?,?,?,?,?,?,?)", (kind, file, sha256, profile, len(rows), skipped, user, now()))

    def erm_rows(self, kind: str) -> list[dict[str, Any]]:
        """The rows of the last load of a kind, in file order."""
        return _dicts(self.db.q(f"SELECT * FROM {LOADED[kind]} ORDER BY id"))

    def erm_loads(self) -> list[dict[str, Any]]:
        """What was loaded, from which file, when, by whom."""
        return _dicts(self.db.q("SELECT * FROM erm_loads ORDER BY kind"))

    # --- people's decisions --------------------------------------------------------------------------

    def erm_decisions(self) -> dict[int, dict[str, Any]]:
        """Decisions by record id: ``patient`` (a candidate key or ``new``), ``action``, who, when."""
        return {r["record_id"]: dict(r) for r in self.db.q("SELECT * FROM erm_decisions")}

    def erm_decide(self, record_id: int, what: str, value: str, user: str, note: str = "") -> None:
        """Store a person's decision on a record (``what``: ``patient`` or ``action``), audited."""
        if what not in ("patient", "action"):
            raise ValueError(f"unknown decision {what!r}")
        with self.db.tx() as c:
            old = c.one(f"SELECT {what} FROM erm_decisions WHERE record_id=?", (record_id,))
            c.execute(f'INSERT INTO erm_decisions (record_id, {what}, "user", at, note) VALUES (?,?,?,?,?) '
                      f'ON CONFLICT (record_id) DO UPDATE SET {what}=excluded.{what}, "user"=excluded."user", '
                      "at=excluded.at, note=excluded.note", (record_id, value, user, now(), note))
            audit.write(c, user, f"erm_{what}", record_id=record_id, old=old[0] if old else "", new=value, note=note)

    def erm_clear_decision(self, record_id: int, user: str) -> None:
        """Forget the decisions on a record, audited."""
        with self.db.tx() as c:
            c.execute("DELETE FROM erm_decisions WHERE record_id=?", (record_id,))
            audit.write(c, user, "erm_clear", record_id=record_id, old="", new="")

    # --- confirmed plans -----------------------------------------------------------------------------

    def erm_confirm_plan(self, user: str, counts: str, rows: list[tuple[Any, ...]]) -> int:
        """Save a confirmed plan (``rows``: record id, version, action, reason, patient key, visit key, data)."""
        with self.db.tx() as c:
            plan_id = c.insert("INSERT INTO erm_plans (confirmed_by, confirmed_at, counts) VALUES (?,?,?)",
                               (user, now(), counts))
            c.executemany("INSERT INTO erm_plan_rows (plan_id, record_id, record_version, action, reason, "
                          "patient_key, visit_key, data) VALUES (?,?,?,?,?,?,?,?)", [(plan_id, *r) for r in rows])
        return plan_id

    def erm_latest_plan(self) -> dict[str, Any] | None:
        """The latest confirmed plan (id, who, when, counts), or None."""
        row = self.db.one("SELECT * FROM erm_plans ORDER BY id DESC LIMIT 1")
        return dict(row) if row else None

    def erm_plan_rows(self, plan_id: int) -> list[dict[str, Any]]:
        """The rows of a confirmed plan (``data`` still JSON text)."""
        return _dicts(self.db.q("SELECT * FROM erm_plan_rows WHERE plan_id=? ORDER BY record_id", (plan_id,)))

    # --- the push ledger -----------------------------------------------------------------------------

    def erm_ledger_mark(self, target: str, marks: list[dict[str, Any]]) -> None:
        """New ledger states and an event per state, in one transaction.

        Each mark: ``record_id visit_key patient_key status attempts batch patient_ref encounter_ref message``.
        """
        at = now()
        with self.db.tx() as c:
            for m in marks:
                c.execute(LEDGER_UPSERT, (target, m["record_id"], m["visit_key"], m["patient_key"], m["status"],
                                          m["attempts"], m["batch"], m["patient_ref"], m["encounter_ref"],
                                          m["message"], at))
                c.execute("INSERT INTO erm_ledger_events (target, record_id, at, status, message) VALUES (?,?,?,?,?)",
                          (target, m["record_id"], at, m["status"], m["message"]))

    def erm_ledger(self, target: str | None = None) -> list[dict[str, Any]]:
        """Ledger rows (all servers, or one), newest first, with the record's page id."""
        sql = ("SELECT l.*, p.page_key AS page_id FROM erm_ledger l LEFT JOIN records r ON r.id=l.record_id "
               "LEFT JOIN pages p ON p.id=r.page_id")
        params: tuple[str, ...] = ()
        if target:
            sql += " WHERE l.target=?"
            params = (target,)
        return _dicts(self.db.q(sql + " ORDER BY l.updated_at DESC, l.record_id", params))

    def erm_ledger_events(self, record_id: int) -> list[dict[str, Any]]:
        """Every step of one record's import, oldest first."""
        return _dicts(self.db.q("SELECT * FROM erm_ledger_events WHERE record_id=? ORDER BY id", (record_id,)))

    def erm_identities(self, target: str, kind: str) -> dict[str, str]:
        """NIK -> server id of one kind (``Patient``, ``Practitioner``) known for a server."""
        return {r["nik"]: r["ref"] for r in self.db.q("SELECT nik, ref FROM erm_identities WHERE target=? AND kind=?",
                                                      (target, kind))}

    def erm_remember(self, target: str, kind: str, nik: str, ref: str, source: str) -> None:
        """Keep the id a server has for a NIK (``source``: ``found`` or ``created``)."""
        with self.db.tx() as c:
            c.execute("INSERT INTO erm_identities (target, kind, nik, ref, source, at) VALUES (?,?,?,?,?,?) "
                      "ON CONFLICT (target, kind, nik) DO UPDATE SET ref=excluded.ref, source=excluded.source, "
                      "at=excluded.at", (target, kind, nik, ref, source, now()))

    # --- for the review app --------------------------------------------------------------------------

    def erm_fingerprint(self) -> str:
        """Changes whenever something an ERM plan depends on changes (approvals, edits, decisions, loads, ledger)."""
        parts = [
            ("SELECT COALESCE(MAX(id), 0), 0, 0 FROM audit"),
            ("SELECT COUNT(*), COALESCE(MAX(id), 0), COALESCE(SUM(version), 0) FROM records "
             "WHERE state IN ('approved', 'exported')"),
            ("SELECT COUNT(*), COALESCE(MAX(at), ''), 0 FROM erm_decisions"),
            ("SELECT COUNT(*), COALESCE(MAX(updated_at), ''), 0 FROM erm_ledger"),
        ]
        values = []
        for sql in parts:
            row = self.db.one(sql)
            values.append(f"{row[0]}:{row[1]}:{row[2]}" if row is not None else "")
        loads = [f"{r['kind']}{r['sha256']}{r['loaded_at']}{r['profile']}" for r in self.erm_loads()]
        return "|".join(values) + "|" + ",".join(loads)
