"""Real browser, real server: generated scans are ingested, ``susulan review`` serves them, a clerk reviews them.

The clerk of the review benchmark (``susulan_tools.review_bench``) logs in, opens "Periksa per
formulir" and works keyboard-first: for every value the screen asks about it types what is
really on the paper (the generator's ground truth), takes a listed suggestion, or presses
Enter; a wrong value shown outside the Enter flow is clicked and retyped; then it approves.
The test checks the store and the audit log, and that no wrong value was approved unseen.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from susulan_tools import review_bench
from susulan_tools.review_bench import CHROMIUM, make_batch, served, summarize

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PAGES, SEED = 4, 8


def test_a_clerk_reviews_a_generated_batch(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (make test installs it)")
    batch = make_batch(tmp_path, PAGES, SEED)
    with served(batch.data, log=tmp_path / "server.log") as url:
        clerk, first_load = review_bench.review(batch, url, shots=ARTIFACTS)
    figures = summarize(clerk, batch, first_load, 0.0)
    print("\n" + review_bench.report(figures, clerk))
    db = sqlite3.connect(batch.data / "susulan.db")
    states = dict(db.execute("SELECT state, COUNT(*) FROM records GROUP BY state").fetchall())
    assert states.get("approved", 0) + states.get("flagged", 0) == sum(states.values())
    assert states.get("approved", 0) > 0
    assert figures["wrong_values_never_shown"] == 0 and figures["wrong_values_exported"] == 0
    fixes = [(s, f.split(":")[0]) for s in clerk.screens for f in s.fixes]
    assert fixes, "the sample had no misread value to correct; pick another seed"
    for screen, name in fixes:
        marks = ",".join("?" * len(screen.record_ids))
        changed = db.execute(
            "SELECT f.changed_by FROM fields f JOIN records r ON r.page_id = f.page_id AND (f.record_no = r.record_no "
            f"OR f.record_no IS NULL) WHERE r.id IN ({marks}) AND f.name = ? AND f.status = 'corrected'",
            (*screen.record_ids, name)).fetchall()
        assert changed and {c[0] for c in changed} == {review_bench.USER}, (screen.page_key, name)
    audit = db.execute("SELECT COUNT(*) FROM audit WHERE action = 'set' AND user = ?", (review_bench.USER,))
    assert audit.fetchone()[0] >= len(fixes)
    approvals = db.execute("SELECT COUNT(*) FROM audit WHERE action = 'state' AND new = 'approved' AND user = ?",
                           (review_bench.USER,)).fetchone()[0]
    assert approvals == states.get("approved", 0)
