"""What spot checks ask of the store: auto values of a batch, the sample put before a person, the answers.

A spot-checked value is an ``auto`` value turned into an ordinary ``review`` value (the
store-level "needs a look" the review screens use), so nothing tells it apart on screen;
``spot_checks`` remembers which values were sampled and what the machine had said.
"""

from __future__ import annotations

from typing import Any

from pipeline.store import audit
from pipeline.store.db import Row, now
from pipeline.store.facade import Store
from pipeline.store.records import HUMAN_STATUSES, MACHINE_USER

UNDECIDED = ("NOT EXISTS (SELECT 1 FROM records r WHERE r.page_id = x.page_id "
             "AND (r.record_no = x.record_no OR x.record_no IS NULL) AND r.state <> 'review')")
"""The value's records all still wait for a person (none approved, flagged or exported): the machine may
still change how it stands."""


def auto_values(store: Store, pages: set[int] | None = None) -> list[Row]:
    """``auto`` values of records still under review (on ``pages`` when given), not sampled before, with their batch."""
    rows = store.db.q(
        "SELECT x.id, x.page_id, x.kind, x.name, p.form_id, x.confidence, x.final_value, x.version, x.detail, "
        "f.batch_id "
        "FROM fields x "
        "JOIN pages p ON p.id = x.page_id JOIN files f ON f.id = p.file_id "
        f"WHERE p.status = 'done' AND x.status = 'auto' AND {UNDECIDED} "
        "AND NOT EXISTS (SELECT 1 FROM spot_checks s WHERE s.field_id = x.id) ORDER BY x.id")
    return [r for r in rows if pages is None or r["page_id"] in pages]


def put_before_a_person(store: Store, rows: list[Row]) -> int:
    """Turn sampled ``auto`` values into ``review`` values and remember them; returns how many were turned.

    A value that changed since it was read is left alone. Not audited as a change of value
    (the value stays what the machine read); the sample is recorded in ``spot_checks``.
    """
    done = 0
    with store.tx() as c:
        at = now()
        for r in rows:
            if not store.revise_machine(r["id"], r["version"], r["final_value"], r["confidence"], "review", None, ""):
                continue
            c.execute("INSERT INTO spot_checks (field_id, batch_id, kind, machine_value, confidence, sampled_at) "
                      "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                      (r["id"], r["batch_id"], r["kind"], r["final_value"], r["confidence"], at))
            done += 1
    return done


def checks(store: Store) -> list[dict[str, Any]]:
    """Every spot check with its outcome: ``answered`` (a person decided) and ``wrong`` (they changed the value)."""
    humans = ",".join("?" * len(HUMAN_STATUSES))
    rows = store.db.q(
        "SELECT s.field_id, s.batch_id, s.kind, s.machine_value, s.confidence, x.final_value, "
        f"CASE WHEN x.status IN ({humans}) THEN 1 ELSE 0 END AS answered "
        "FROM spot_checks s JOIN fields x ON x.id = s.field_id ORDER BY s.field_id", HUMAN_STATUSES)
    return [{**dict(r), "answered": bool(r["answered"]),
             "wrong": bool(r["answered"]) and r["final_value"] != r["machine_value"]} for r in rows]


def open_batches(store: Store) -> list[int]:
    """Batches with a record still waiting for a person (their unseen auto values can still be held back)."""
    return [int(r["batch_id"]) for r in store.db.q(
        "SELECT DISTINCT f.batch_id FROM records r JOIN pages p ON p.id = r.page_id JOIN files f ON f.id = p.file_id "
        "WHERE r.state IN ('review', 'flagged') AND f.batch_id IS NOT NULL ORDER BY f.batch_id")]


def batch_autos(store: Store, batch: int) -> list[Row]:
    """The batch's ``auto`` values still undecided by a person (what a tighter threshold would act on)."""
    return store.db.q(
        "SELECT x.id, x.version, x.kind, x.name, p.form_id, x.final_value, x.confidence, x.detail "
        "FROM fields x JOIN pages p ON p.id = x.page_id JOIN files f ON f.id = p.file_id "
        f"WHERE f.batch_id = ? AND x.status = 'auto' AND {UNDECIDED} ORDER BY x.id", (batch,))


def hold_back(store: Store, batch: int, kind: str, rows: list[Row], threshold: float, old: float, note: str) -> int:
    """Turn the ``auto`` values ``rows`` (of :func:`batch_autos`) below ``threshold`` into ``review``; how many.

    Audited once, as a change of acceptance ``kind``'s threshold for the batch.
    """
    with store.tx() as c:
        turned = sum(store.revise_machine(r["id"], r["version"], r["final_value"], r["confidence"], "review", None, "")
                     for r in rows if r["confidence"] < threshold)
        audit.write(c, MACHINE_USER, "threshold", field=f"{kind}@batch:{batch}", old=f"{old:.4f}",
                    new=f"{threshold:.4f}", note=f"{note}; {turned} nilai otomatis diperiksa lagi")
    return turned


def pending(store: Store) -> set[int]:
    """Field ids of spot checks no person has answered yet (they must stay before a person)."""
    humans = ",".join("?" * len(HUMAN_STATUSES))
    return {int(r["field_id"]) for r in store.db.q(
        f"SELECT s.field_id FROM spot_checks s JOIN fields x ON x.id = s.field_id WHERE x.status NOT IN ({humans})",
        HUMAN_STATUSES)}
