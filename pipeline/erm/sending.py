"""What every push target's sender shares: the run's report, the ledger bookkeeping of a batch, response references.

Used by :mod:`pipeline.erm.push` (the recipe and the generic FHIR sender) and
:mod:`pipeline.erm.satusehat`; kept apart so that neither imports the other's module back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pipeline.erm import ledger
from pipeline.erm.auth import AuthFailed
from pipeline.erm.client import Client, NotFhir, Unreachable
from pipeline.erm.ledger import Outcome
from pipeline.erm.settings import Settings
from pipeline.store import Store


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
