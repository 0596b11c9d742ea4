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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pipeline.erm import ledger
from pipeline.erm import plan as planning
from pipeline.erm.auth import Auth, AuthFailed
from pipeline.erm.client import Client, NotFhir, RetryBudget, Unreachable, outcome_text
from pipeline.erm.ledger import Outcome
from pipeline.erm.reasons import render
from pipeline.erm.settings import Settings
from pipeline.errors import BadInput
from pipeline.export import fhir
from pipeline.store import Store
from pipeline.store.schema import now

TARGETS = ("fhir", "satusehat")


@dataclass
class PushReport:
    """What one push did."""

    target: str
    kind: str = "fhir"
    dry_run: bool = False
    planned: int = 0
    accepted: int = 0
    already: int = 0
    verified: int = 0
    rejected: int = 0
    rejected_before: int = 0
    failed: int = 0
    pending: int = 0
    patients_found: int = 0
    patients_created: int = 0
    retries: int = 0
    held: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    stopped: str = ""

    @property
    def complete(self) -> bool:
        """Nothing is left to send or to look at."""
        return not (self.failed or self.rejected or self.rejected_before or self.refused or self.held
                    or self.pending or self.stopped)

    def text(self) -> str:
        """Summary for the terminal."""
        if self.dry_run:
            return (f"dry run ({self.kind}): {self.planned} record(s) would be sent to {self.target} in "
                    f"{len(self.files)} bundle(s): {', '.join(map(str, self.files))}")
        lines = [f"{self.target} ({self.kind}): {self.accepted} accepted now, {self.verified} found on the server "
                 f"after an interruption (not re-sent), {self.already} accepted earlier, {self.rejected} rejected, "
                 f"{self.failed} in doubt (checked next time), {self.pending} pending (not sent yet), "
                 f"{len(self.held)} held back, {len(self.refused)} refused, {self.rejected_before} rejected earlier"]
        if self.kind == "satusehat":
            lines.append(f"  patients: {self.patients_found} found by NIK, {self.patients_created} created")
        if self.retries:
            lines.append(f"  retries used: {self.retries}")
        lines += [f"  {m}" for m in self.messages[:20]]
        lines += [f"  held back: {m}" for m in self.held[:20]]
        lines += [f"  refused: {m}" for m in self.refused[:20]]
        for extra, items in (("held back", self.held), ("refused", self.refused)):
            if len(items) > 20:
                lines.append(f"  ... and {len(items) - 20} more {extra}")
        if self.stopped:
            lines.append(f"  stopped: {self.stopped}; run the same command again to continue")
        return "\n".join(lines)


class Sender(Protocol):
    """How one kind of target settles, prepares and sends rows."""

    def settle(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rows in doubt that the server already has become accepted; returns the rest."""
        ...

    def send(self, rows: list[dict[str, Any]], batch: str) -> None:
        """Send one batch (its rows are recorded in the ledger)."""
        ...


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


class Batch:
    """Ledger bookkeeping shared by the senders: mark rows, send a Bundle, file the outcome."""

    def __init__(self, store: Store, client: Client, target: str, st: Settings, report: PushReport) -> None:
        self.store, self.client, self.target, self.st, self.report = store, client, target, st, report

    def mark(self, rows: list[dict[str, Any]], status: str, message: str | list[str], batch: str = "",
             patient_refs: dict[int, str] | None = None, encounter_refs: dict[int, str] | None = None) -> None:
        """One ledger state for ``rows`` (``message`` per row when a list)."""
        msgs = message if isinstance(message, list) else [message] * len(rows)
        ledger.mark(self.store, self.target, rows, [
            Outcome(int(r["record_id"]), status, m, (patient_refs or {}).get(r["record_id"], ""),
                    (encounter_refs or {}).get(r["record_id"], "")) for r, m in zip(rows, msgs, strict=True)],
            batch)

    def transact(self, rows: list[dict[str, Any]], bundle: dict[str, Any], batch: str) -> Any:
        """Mark ``rows`` sending, POST the Bundle; on a stop the rows become pending or in doubt, and it re-raises."""
        self.mark(rows, "sending", f"batch {batch}", batch)
        try:
            return self.client.transaction(bundle)
        except AuthFailed:
            self.mark(rows, "pending", "not processed: the server refused the credentials")
            raise
        except (NotFhir, Unreachable) as e:
            self.mark(rows, "failed", f"in doubt: {e}")
            raise

    def found(self, row: dict[str, Any], patient_ref: str, encounter_ref: str) -> None:
        """A row in doubt that the server has: accepted with its ids, not sent again."""
        self.mark([row], "accepted", "found on the server after an interrupted push; not sent again",
                  patient_refs={row["record_id"]: patient_ref}, encounter_refs={row["record_id"]: encounter_ref})
        self.report.verified += 1

    def reject(self, row: dict[str, Any], message: str) -> None:
        """The server refused one record."""
        self.mark([row], "rejected", message)
        self.report.rejected += 1
        self.report.messages.append(f"{row['visit_key']} (record {row['record_id']}) rejected: {message}")


def entry_ref(entry: dict[str, Any]) -> tuple[str, str]:
    """``Type/id`` from a transaction-response entry (its location, else its resource), and its status."""
    resp = entry.get("response") or {}
    loc = str(resp.get("location") or "")
    parts = loc.split("/_history")[0].rstrip("/").split("/")
    ref = "/".join(parts[-2:]) if len(parts) >= 2 and parts[-1] else ""
    res = entry.get("resource")
    if not ref and isinstance(res, dict) and res.get("resourceType") and res.get("id"):
        ref = f"{res['resourceType']}/{res['id']}"
    return ref, str(resp.get("status", ""))


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
