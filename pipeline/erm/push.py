"""Push the confirmed plan to a FHIR server exactly once: batches, retries, a ledger, resume.

Recipe: take the ``insert`` rows of the confirmed plan; refuse rows whose record is not approved
(or changed since the plan); skip rows the ledger has as accepted (or rejected) for this server;
ask the server about rows left in doubt by an interrupted push (found -> accepted, not re-sent);
send the rest in transaction Bundles of ``batch_size`` records. A Bundle the server refuses is split
into one Bundle per record, so one bad record never loses the others. Patient and Encounter are
created conditionally, so even a request repeated after a crash cannot make a duplicate.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.erm import ledger
from pipeline.erm import plan as planning
from pipeline.erm.client import Client, Unreachable, outcome_text
from pipeline.erm.ledger import Outcome
from pipeline.erm.settings import Settings
from pipeline.errors import BadInput
from pipeline.export import fhir
from pipeline.store import Store
from pipeline.store.schema import now


@dataclass
class PushReport:
    """What one push did."""

    target: str
    dry_run: bool = False
    planned: int = 0
    accepted: int = 0
    already: int = 0
    verified: int = 0
    rejected: int = 0
    rejected_before: int = 0
    failed: int = 0
    refused: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    stopped: str = ""

    @property
    def complete(self) -> bool:
        """Nothing is left to send or to look at."""
        return not (self.failed or self.rejected or self.rejected_before or self.refused or self.stopped)

    def text(self) -> str:
        """Summary for the terminal."""
        if self.dry_run:
            return (f"dry run: {self.planned} record(s) would be sent to {self.target} in {len(self.files)} "
                    f"bundle(s): {', '.join(map(str, self.files))}")
        lines = [f"{self.target}: {self.accepted} accepted now, {self.verified} found on the server after an "
                 f"interruption (not re-sent), {self.already} accepted earlier, {self.rejected} rejected, "
                 f"{self.failed} failed, {len(self.refused)} refused, {self.rejected_before} rejected earlier"]
        lines += [f"  {m}" for m in self.messages[:20]]
        lines += [f"  refused: {m}" for m in self.refused[:20]]
        if self.stopped:
            lines.append(f"  stopped: {self.stopped}; run the same command again to continue")
        return "\n".join(lines)


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
    keep, refused = planning.sendable(store)
    done = ledger.current(store, target)
    todo: list[dict[str, Any]] = []
    for row, why in refused:
        report.refused.append(f"{row['visit_key']} (record {row['record_id']}): {why}")
    for row in keep:
        status = done.get(row["record_id"], {}).get("status")
        if status == "accepted":
            report.already += 1
        elif status == "rejected" and not retry_rejected:
            report.rejected_before += 1
        else:
            todo.append({**row["data"], "ledger_status": status or ""})
    if refused and not report.dry_run:
        ledger.mark(store, target, [r for r, _ in refused],
                    [Outcome(int(r["record_id"]), "refused", why) for r, why in refused])
    report.planned = len(todo)
    return todo


def push(store: Store, url: str, settings: Settings, token: str = "", dry_run: bool = False,
         out_dir: Path | None = None, batch_size: int | None = None, retry_rejected: bool = False,
         client: Client | None = None) -> PushReport:
    """Send what the confirmed plan says to insert and is not on the server yet."""
    if not settings.organization_id:
        raise BadInput("forms/erm/erm.yaml has no fhir.organization_id; set the SATUSEHAT Organization id first")
    size = batch_size or settings.batch_size
    if size < 1:
        raise BadInput("--batch-size must be at least 1")
    target = ledger.target_of(url)
    report = PushReport(target, dry_run=dry_run)
    if dry_run:
        todo = select(store, target, retry_rejected, report)
        _dry_run(todo, settings, size, out_dir or store.data_dir / "erm-bundles", report)
        return report
    client = client or Client(target, token, settings.retries, settings.backoff_seconds, settings.timeout_seconds)
    with push_lock(store.data_dir):
        todo = select(store, target, retry_rejected, report)
        try:
            todo = _settle_in_doubt(store, client, target, todo, settings, report)
            for i in range(0, len(todo), size):
                _send(store, client, target, todo[i:i + size], settings, report, f"{now()}#{i // size + 1}")
        except Unreachable as e:
            report.stopped = str(e)
    return report


def _dry_run(todo: list[dict[str, Any]], st: Settings, size: int, out_dir: Path, report: PushReport) -> None:
    for n, i in enumerate(range(0, len(todo), size), start=1):
        built = fhir.build(todo[i:i + size], st)
        for rid, why in built.invalid.items():
            report.messages.append(f"record {rid} would be rejected here: {why}")
        path = out_dir / f"bundle-{n:04d}.json"
        fhir.write(built, path)
        report.files.append(path)


def _settle_in_doubt(store: Store, client: Client, target: str, todo: list[dict[str, Any]], st: Settings,
                     report: PushReport) -> list[dict[str, Any]]:
    """Rows whose last request got no answer: if the server has their Encounter, record it, don't resend."""
    left = []
    system = fhir.ENCOUNTER_SYSTEM.format(org=st.organization_id)
    for row in todo:
        if row["ledger_status"] not in ledger.IN_DOUBT:
            left.append(row)
            continue
        found = client.find("Encounter", system, row["visit_key"])
        if found:
            enc = found[0]
            ledger.mark(store, target, [row], [Outcome(
                row["record_id"], "accepted", "found on the server after an interrupted push; not sent again",
                enc.get("subject", {}).get("reference", ""), f"Encounter/{enc.get('id', '')}")])
            report.verified += 1
        else:
            left.append(row)
    return left


def _send(store: Store, client: Client, target: str, rows: list[dict[str, Any]], st: Settings,
          report: PushReport, batch: str) -> None:
    """One transaction for ``rows``; on refusal, one transaction per record."""
    built = fhir.build(rows, st)
    if built.invalid:
        bad = [r for r in rows if r["record_id"] in built.invalid]
        ledger.mark(store, target, bad, [Outcome(r["record_id"], "rejected", "not sent, invalid FHIR: "
                                                 + built.invalid[r["record_id"]]) for r in bad])
        report.rejected += len(bad)
        rows = [r for r in rows if r["record_id"] not in built.invalid]
        if not rows:
            return
        built = fhir.build(rows, st)
    ledger.mark(store, target, rows, [Outcome(r["record_id"], "sending", f"batch {batch}") for r in rows], batch)
    try:
        answer = client.transaction(built.bundle)
    except Unreachable as e:
        if e.network or len(rows) == 1:
            ledger.mark(store, target, rows, [Outcome(r["record_id"], "failed", str(e)) for r in rows])
            report.failed += len(rows)
            report.messages.append(f"{len(rows)} record(s) failed, checked and re-sent next time: {e}")
            if e.network:
                raise
            return
        for row in rows:
            _send(store, client, target, [row], st, report, batch)
        return
    if answer.ok:
        _accept(store, target, rows, built, answer.body, report)
        return
    if len(rows) > 1:
        for row in rows:
            _send(store, client, target, [row], st, report, batch)
        return
    message = outcome_text(answer.body, answer.status)
    ledger.mark(store, target, rows, [Outcome(rows[0]["record_id"], "rejected", message)])
    report.rejected += 1
    report.messages.append(f"{rows[0]['visit_key']} (record {rows[0]['record_id']}) rejected: {message}")


def _ref(entry: dict[str, Any]) -> tuple[str, str]:
    """``Type/id`` from a transaction-response entry, and whether it was created now."""
    resp = entry.get("response") or {}
    loc = str(resp.get("location") or "")
    parts = loc.split("/_history")[0].rstrip("/").split("/")
    ref = "/".join(parts[-2:]) if len(parts) >= 2 else ""
    if not ref and isinstance(entry.get("resource"), dict):
        ref = f"{entry['resource'].get('resourceType')}/{entry['resource'].get('id')}"
    return ref, str(resp.get("status", ""))


def _accept(store: Store, target: str, rows: list[dict[str, Any]], built: fhir.Built, body: dict[str, Any],
            report: PushReport) -> None:
    entries = body.get("entry") or []
    outcomes = []
    for row in rows:
        p_i, e_i = built.entries[row["record_id"]]
        p_ref, _ = _ref(entries[p_i]) if p_i < len(entries) else ("", "")
        e_ref, status = _ref(entries[e_i]) if e_i < len(entries) else ("", "")
        note = "created" if status.startswith("201") else "already on the server (not duplicated)"
        outcomes.append(Outcome(row["record_id"], "accepted", f"Encounter {note}", p_ref, e_ref))
    ledger.mark(store, target, rows, outcomes)
    report.accepted += len(rows)
