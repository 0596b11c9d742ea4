"""Push the confirmed plan to a FHIR server exactly once: batches, bounded retries, a ledger, resume.

Recipe: take the ``insert`` rows of the confirmed plan; refuse rows whose record is not approved
(or changed since the plan); skip rows the ledger has as accepted (or rejected) for this server;
settle rows left in doubt by an interrupted push or an answer that was not FHIR (found on the server
-> accepted, not re-sent); then send the rest in transaction Bundles of ``batch_size`` records. A
Bundle the server refuses with an OperationOutcome is split into one Bundle per record, so one bad
record never loses the others. Encounters (and, for ``--target fhir``, Patients) are created
conditionally, so even a request repeated after a crash cannot make a duplicate.

The run stops, leaving the rest for the next run, when the server refuses the credentials (401/403:
the records stay ``pending``, never ``rejected``), when an answer is not FHIR, or when the run's retry
budget is spent (the server keeps failing). Targets: ``fhir`` (:class:`FhirSender`, Patients in the
Bundle) and ``satusehat`` (:class:`~pipeline.erm.satusehat.SatusehatSender`, patients found by NIK).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline.erm import ledger
from pipeline.erm import plan as planning
from pipeline.erm.auth import Auth, AuthFailed
from pipeline.erm.client import Client, NotFhir, RetryBudget, Unreachable, outcome_text
from pipeline.erm.ledger import Outcome
from pipeline.erm.reasons import render
from pipeline.erm.sending import Batch, PushReport, Sender, entry_ref
from pipeline.erm.settings import Settings
from pipeline.errors import BadInput
from pipeline.export import fhir
from pipeline.store import Store
from pipeline.store.schema import now

TARGETS = ("fhir", "satusehat")


@contextmanager
def push_lock(data_dir: Path) -> Iterator[None]:
    """One push at a time per data directory (released by the OS if the process dies)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory lock; pushes are still safe thanks to conditional creates
        yield
        return
    path = Path(data_dir) / "erm-push.lock"
    with path.open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise BadInput("another 'susulan erm push' is running on this data directory; wait for it") from e
        fh.write(str(os.getpid()))
        fh.flush()
        yield


def select(store: Store, target: str, retry_rejected: bool, report: PushReport) -> list[dict[str, Any]]:
    """Confirmed insert rows that still need sending to ``target``."""
    confirmed = planning.confirmed_rows(store)
    done = ledger.current(store, target)
    todo = []
    for row, why in confirmed.refused:
        report.refused.append(f"{row['visit_key']} (record {row['record_id']}): {render(why, {}, 'en')}")
    for row in confirmed.keep:
        status = done.get(row["record_id"], {}).get("status")
        if status == "accepted":
            report.already += 1
        elif status == "rejected" and not retry_rejected:
            report.rejected_before += 1
        else:
            todo.append({**row["data"], "ledger_status": status or ""})
    if confirmed.refused and not report.dry_run:
        ledger.mark(store, target, [r for r, _ in confirmed.refused],
                    [Outcome(int(r["record_id"]), "refused", render(why, {}, "en")) for r, why in confirmed.refused])
    report.planned = len(todo)
    return todo


def push(store: Store, url: str, settings: Settings, target: str = "fhir", auth: Auth | None = None,
         dry_run: bool = False, out_dir: Path | None = None, batch_size: int | None = None,
         retry_rejected: bool = False, client: Client | None = None) -> PushReport:
    """Send what the confirmed plan says to insert and is not on the server yet."""
    from pipeline.erm.satusehat import SatusehatSender, dry_run_bundles

    if target not in TARGETS:
        raise BadInput(f"unknown target {target!r} (known: {', '.join(TARGETS)})")
    if not settings.organization_id:
        raise BadInput("forms/erm/erm.yaml has no fhir.organization_id; set the SATUSEHAT Organization id first")
    size = batch_size or settings.batch_size
    if size < 1:
        raise BadInput("--batch-size must be at least 1")
    key = ledger.target_of(url)
    report = PushReport(key, kind=target, dry_run=dry_run)
    if dry_run:
        todo = select(store, key, retry_rejected, report)
        out = out_dir or store.data_dir / "erm-bundles"
        if target == "satusehat":
            dry_run_bundles(store, todo, settings, size, out, report)
        else:
            _dry_run(todo, settings, size, out, report)
        return report
    client = client or Client(key, auth, settings.retries, settings.backoff_seconds, settings.timeout_seconds,
                              budget=RetryBudget(settings.retry_budget))
    with push_lock(store.data_dir):
        todo = select(store, key, retry_rejected, report)
        sender: Sender = SatusehatSender(store, client, key, settings, report) if target == "satusehat" else \
            FhirSender(store, client, key, settings, report)
        try:
            left = sender.settle(todo)
            for i in range(0, len(left), size):
                sender.send(left[i:i + size], f"{now()}#{i // size + 1}")
        except AuthFailed as e:
            report.stopped = f"{e}; nothing was marked rejected, the records stay pending"
        except NotFhir as e:
            report.stopped = f"{e}; what was sent is in doubt and is checked on the server before it is sent again"
        except Unreachable as e:
            report.stopped = str(e)
        now_in = ledger.current(store, key)
        states = [now_in.get(r["record_id"], {}).get("status") for r in todo]
        report.pending = sum(s in (None, "pending") for s in states)
        report.failed = sum(s in ledger.IN_DOUBT for s in states)
        report.retries = client.budget.spent
    return report


def _dry_run(todo: list[dict[str, Any]], st: Settings, size: int, out_dir: Path, report: PushReport) -> None:
    for n, i in enumerate(range(0, len(todo), size), start=1):
        built = fhir.build(todo[i:i + size], st)
        for rid, why in built.invalid.items():
            report.messages.append(f"record {rid} would be rejected here: {why}")
        path = out_dir / f"bundle-{n:04d}.json"
        fhir.write(built, path)
        report.files.append(path)


class FhirSender(Batch):
    """``--target fhir``: each Bundle carries the Patients (conditional creates) and the Encounters."""

    def settle(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rows in doubt whose Encounter the server has (searched by identifier) become accepted."""
        left = []
        system = fhir.ENCOUNTER_SYSTEM.format(org=self.st.organization_id)
        for row in rows:
            if row["ledger_status"] not in ledger.IN_DOUBT:
                left.append(row)
                continue
            found = self.client.find("Encounter", system, row["visit_key"])
            if found:
                self.found(row, found[0].get("subject", {}).get("reference", ""), f"Encounter/{found[0].get('id', '')}")
            else:
                left.append(row)
        return left

    def send(self, rows: list[dict[str, Any]], batch: str) -> None:
        """One transaction for ``rows``; a refused Bundle is sent again one record at a time."""
        built = fhir.build(rows, self.st)
        for row in [r for r in rows if r["record_id"] in built.invalid]:
            self.reject(row, "not sent, invalid FHIR: " + built.invalid[row["record_id"]])
        rows = [r for r in rows if r["record_id"] not in built.invalid]
        if not rows:
            return
        if built.invalid:
            built = fhir.build(rows, self.st)
        answer = self.transact(rows, built.bundle, batch)
        if answer.ok:
            self._accept(rows, built, answer.body)
        elif len(rows) > 1:
            for row in rows:
                self.send([row], batch)
        else:
            self.reject(rows[0], outcome_text(answer.body, answer.status))

    def _accept(self, rows: list[dict[str, Any]], built: fhir.Built, body: dict[str, Any]) -> None:
        entries = body.get("entry") or []
        p_refs, e_refs, notes = {}, {}, []
        for row in rows:
            p_i, e_i = built.entries[row["record_id"]]
            p_ref, _ = entry_ref(entries[p_i])
            e_ref, status = entry_ref(entries[e_i])
            if not (p_ref and e_ref):
                self.mark(rows, "failed", "in doubt: the answer names no id for every entry")
                raise NotFhir(f"POST {self.client.base}: the transaction-response names no id for every entry")
            p_refs[row["record_id"]], e_refs[row["record_id"]] = p_ref, e_ref
            notes.append("Encounter " + ("created" if status.startswith("201") else
                                         "already on the server (not duplicated)"))
        self.mark(rows, "accepted", notes, patient_refs=p_refs, encounter_refs=e_refs)
        self.report.accepted += len(rows)
