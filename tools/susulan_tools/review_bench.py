"""Review benchmark (``susulan bench --review``): a simulated clerk checks a generated batch in the real app.

A fresh batch is generated (``susulan samples make``) and ingested; ``susulan review`` is
started as a process and driven in headless Chromium (``/usr/bin/chromium``, 1366×768).
The clerk opens *Periksa per formulir* and works keyboard-first, the way the screen asks:
for every value in the Enter flow it compares with the paper (the generator's
``truth.jsonl``) and presses Enter, takes a listed suggestion with its key, or types the
true value; a wrong value that is shown but not in the Enter flow is clicked and retyped;
then it approves (or flags, when a rule still fails) until the queue is empty.

Keystroke-level model (Card, Moran & Newell) per screen: K = 0.28 s a key (a chord such
as Alt+1 counts two keys), P = 1.1 s to point (a click is P + K), M = 1.35 s a mental
check: one per value in the Enter flow and one per screen for the glance over the values
shown as sure and the decision to approve; plus the app's measured latency on every
action that waits for it. A queue sheet's time is the sum of its screens.

The last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize

KEY_S, POINT_S, MENTAL_S = 0.28, 1.1, 1.35
REVIEW_BENCH_SEED = 1212
"""Seed of the review benchmark batch (used nowhere else)."""
LEARNED_PAGES = 60
"""With ``--after-learning``: earlier pages of the same writers reviewed and learned from before the batch."""
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT: ViewportSize = {"width": 1366, "height": 768}
USER, PASSWORD = "klerk", "bench-kata-sandi-panjang"
STUCK_S = 20
"""A screen on which the focus goes nowhere for this long is skipped (Alt+L) and counted as stuck."""
RUNNING = '[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"]'

SCREEN_JS = """() => {
  const c = window.__susulan;
  if (!c) return null;
  const ids = new Set();
  const visible = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0
    && getComputedStyle(el).visibility !== 'hidden'; };
  for (const el of document.querySelectorAll('[data-field-id]')) if (visible(el)) ids.add(+el.dataset.fieldId);
  for (const el of document.querySelectorAll('[class*="st-key-f"]')) {
    const k = [...el.classList].find((x) => /^st-key-f\\d+v\\d+$/.test(x));
    if (k && visible(el)) ids.add(parseInt(k.slice(8), 10));
  }
  return {record: c.record, page: c.page || null, records: c.records || [c.record], shown: [...ids]};
}"""
FOCUS_JS = """() => {
  const el = document.activeElement;
  const c = window.__susulan;
  let id = null;
  const holder = el && el.closest ? el.closest('[data-field-id]') : null;
  if (holder) id = +holder.dataset.fieldId;
  else if (el && el.closest) {
    const box = el.closest('[class*="st-key-f"]');
    const k = box ? [...box.classList].find((x) => /^st-key-f\\d+v\\d+$/.test(x)) : null;
    if (k) id = parseInt(k.slice(8), 10);
  }
  const sugg = holder ? [...holder.querySelectorAll('[data-suggestion]')].map((s) => s.dataset.suggestion) : [];
  const all = !!(el && el.value !== undefined && el.selectionStart === 0 && el.selectionEnd === el.value.length);
  const approve = !!(el && el.closest && (el.closest('[data-action="approve"]')
    || (c && c.approve && el.closest('.st-key-' + c.approve))));
  return {field: id, type: el ? (el.type || el.tagName) : null, value: el ? el.value : null, selected: all,
          record: c ? c.record : null, suggestions: sugg, approve};
}"""
READY_JS = """(prev) => {
  const c = window.__susulan;
  if (!c) return document.body.innerText.includes('tidak ada formulir lagi') ? 'done' : false;
  if (c.record === prev) return false;
  if (!c.ready && document.querySelector('RUNNING')) return false;
  const el = document.activeElement;
  if (!el || !el.closest) return false;
  return !!(el.closest('[data-field-id]') || el.closest('[class*="st-key-f"]')
    || el.closest('[data-action="approve"]') || (c.approve && el.closest('.st-key-' + c.approve)));
}""".replace("RUNNING", RUNNING)
BLOCKED_JS = "() => document.body.innerText.toLowerCase().includes('belum bisa disetujui')"


@dataclass
class Screen:
    """What the clerk did on one screen (one record, or one whole sheet)."""

    record_ids: list[int]
    page_key: str
    form_id: str
    asked: int = 0
    keys: int = 0
    points: int = 0
    corrected: int = 0
    suggestions_taken: int = 0
    fixes: list[str] = field(default_factory=list)
    asked_fields: list[str] = field(default_factory=list)
    """Names of the values in the Enter flow, in the order asked."""
    shown: set[int] = field(default_factory=set)
    latency: list[tuple[str, float]] = field(default_factory=list)
    outcome: str = ""

    def klm_seconds(self) -> float:
        """Keystroke-level time of this screen, app latency included."""
        return (self.keys * KEY_S + self.points * POINT_S + (self.asked + 1) * MENTAL_S
                + sum(s for _, s in self.latency))


@dataclass
class Batch:
    """A generated, ingested batch and its ground truth."""

    scans: Path
    data: Path
    truth: dict[tuple[str, int], dict[str, str]]


def _cli(*args: str, ok: tuple[int, ...] = (0,), env: dict[str, str] | None = None) -> str:
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True, env=env)
    if proc.returncode not in ok:
        raise RuntimeError(f"susulan {' '.join(args)} -> {proc.returncode}\n{proc.stderr}")
    return proc.stdout + proc.stderr


def learned_hands(data: Path, pages: int = LEARNED_PAGES) -> str:
    """A clinic that has learned its clerks' hands; returns what learning reported.

    ``pages`` pages of the learning benchmark's writers are read into ``data``, every record
    is reviewed by the simulated clerk (through the store API), then ``susulan learn`` runs.
    """
    from pipeline import run as pipeline_run
    from pipeline.learn import hands
    from pipeline.store import Store
    from susulan_tools import learning_bench

    first = data.parent / "first"
    truth = learning_bench.write_pages(first, pages, learning_bench.SEEDS[0])
    pipeline_run.ingest_paths([first], data, learn=False, spot_check=False)
    with Store.open(data) as store:
        learning_bench.review_records(store, truth, limit=len(truth))
        return hands.learn(store).text()


def make_batch(base: Path, pages: int, seed: int, after_learning: bool = False, same_writers: bool = False,
               with_master: bool = False) -> Batch:
    """Generate and ingest ``pages`` sample pages into ``base/data`` (reused if already there).

    ``same_writers``: the pages are written by the learning benchmark's 3 fixed writers.
    ``after_learning``: the same, read by a clinic that has reviewed and learned from
    :data:`LEARNED_PAGES` earlier pages of theirs (:func:`learned_hands`); only the new pages
    wait for review. ``with_master``: before the batch is read, the ERM's patient master is loaded
    (:mod:`susulan_tools.master`: the batch's returning patients among 30,000).
    """
    scans, pristine = base / "scans", base / "pristine"
    if not (pristine / "susulan.db").exists():
        if after_learning or same_writers:
            from susulan_tools import learning_bench

            if after_learning:
                print(learned_hands(pristine), file=sys.stderr)
            truth_lines = learning_bench.write_pages(scans, pages, seed)
            (scans / "truth.jsonl").write_text("".join(json.dumps(t) + "\n" for t in truth_lines), encoding="utf-8")
        else:
            _cli("samples", "make", "--out", str(scans), "--pages", str(pages), "--seed", str(seed))
        if with_master:
            from susulan_tools import master
            from susulan_tools.measure import read_truth

            master.write_master(read_truth(scans), base / "pasien.csv")
            print(_cli("erm", "load-patients", str(base / "pasien.csv"), "--profile", "generic", "--user", "it",
                       "--data-dir", str(pristine)).strip(), file=sys.stderr)
        _cli("ingest", str(scans), "--data-dir", str(pristine), ok=(0, 4))
        pw = base / "pw"
        pw.write_text(PASSWORD + "\n")
        _cli("users", "add", USER, "--role", "reviewer", "--password-file", str(pw), "--data-dir", str(pristine))
    data = base / "data"
    if data.exists():
        shutil.rmtree(data)
    shutil.copytree(pristine, data)
    truth = {}
    for line in (scans / "truth.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        truth[(row["page_id"], row["record"])] = row["fields"]
    return Batch(scans, data, truth)


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log_in(page: Any, url: str, name: str, password: str) -> None:
    """Open the app at ``url`` in a playwright page and log in; returns once the header names the person."""
    page.goto(url)
    page.get_by_label("Nama pengguna").fill(name)
    page.get_by_label("Kata sandi").fill(password)
    page.keyboard.press("Enter")
    page.get_by_text(f"Masuk sebagai {name}").wait_for()


@contextmanager
def served(data: Path, port: int | None = None, log: Path | None = None) -> Iterator[str]:
    """``susulan review`` on ``data`` as a process; yields its URL once ``/_stcore/health`` answers."""
    port = port or free_port()
    out = open(log or os.devnull, "w")  # noqa: SIM115 (closed below)
    env = {k: v for k, v in os.environ.items() if k != "SUSULAN_DATA_DIR"}
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "review", "--data-dir", str(data), "--port",
                             str(port)], stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"review app did not start (see {log})")
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        out.close()


def typed(kind: str, value: str) -> str:
    """How a clerk writes a stored value (dates as tgl-bln-tahun)."""
    if kind == "date" and len(value) == 10 and value[4] == "-":
        return f"{value[8:10]}-{value[5:7]}-{value[:4]}"
    return value


class Clerk:
    """Works through the per-form queue with the keyboard, as the screen asks, and counts what it did."""

    def __init__(self, page: Any, batch: Batch) -> None:
        self.page = page
        self.batch = batch
        self.db = sqlite3.connect(f"file:{batch.data / 'susulan.db'}?mode=ro", uri=True)
        self.db.row_factory = sqlite3.Row
        self.seen: set[int] = set()
        self.screens: list[Screen] = []
        self.acks: list[tuple[str, float, bool]] = []
        """(action, ms, instant) from the page: how long the server took to confirm each action sent, and
        whether the next sheet was shown from what had come ahead (without waiting for the server)."""

    def snapshot(self, folder: Path) -> None:
        """Screenshot the screen once per form kind (``review-<form>.png``), as the clerk first sees it."""
        state = self.page.evaluate(SCREEN_JS)
        if not state:
            return
        row = self.db.execute("SELECT form_id FROM pages WHERE id = ?", (state.get("page") or 0,)).fetchone()
        path = folder / f"review-{row[0] if row else 'form'}.png"
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(path))

    def login(self, url: str) -> None:
        """Log in and wait for the overview."""
        log_in(self.page, url, USER, PASSWORD)

    def open_queue(self) -> float:
        """Open *Periksa per formulir*; seconds until the first form is ready."""
        start = time.perf_counter()
        self.page.get_by_role("link", name="Periksa per formulir").click()
        self.wait_ready(None)
        return time.perf_counter() - start

    def wait_ready(self, prev: int | None) -> str:
        """Wait until a form other than ``prev`` is on screen with the focus placed (or the queue is done)."""
        handle = self.page.wait_for_function(READY_JS, arg=prev, timeout=60000, polling=20)
        return "done" if handle.json_value() == "done" else "ready"

    def field(self, field_id: int) -> sqlite3.Row:
        """A field's stored row, with its page and the row it belongs to."""
        return self.db.execute(
            "SELECT x.id, x.name, x.kind, x.final_value, x.record_no, p.page_key, p.form_id FROM fields x "
            "JOIN pages p ON p.id = x.page_id WHERE x.id = ?", (field_id,)).fetchone()

    def truth_of(self, f: sqlite3.Row) -> str | None:
        """What the paper says for a field (page-level fields: as written for the first row)."""
        row = self.batch.truth.get((f["page_key"], f["record_no"] if f["record_no"] is not None else 0))
        return None if row is None else row.get(f["name"], "")

    def review_screen(self) -> Screen | None:
        """Check the form on screen and approve it; None when the queue is empty."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        p = self.page
        state = p.evaluate(SCREEN_JS)
        if state is None:
            return None
        first = self.db.execute("SELECT page_key, form_id FROM pages WHERE id = ?", (state["page"],)).fetchone() \
            if state.get("page") else self.db.execute(
                "SELECT p.page_key, p.form_id FROM records r JOIN pages p ON p.id = r.page_id WHERE r.id = ?",
                (state["record"],)).fetchone()
        screen = Screen(list(state["records"]), first["page_key"], first["form_id"])
        screen.shown.update(state["shown"])
        asked: set[int] = set()
        while True:
            focus = p.evaluate(FOCUS_JS)
            if focus["record"] != state["record"]:
                break
            fid = focus["field"]
            if fid is None or fid in asked:
                self._fix_shown(screen, asked, state["record"])
                if p.evaluate(FOCUS_JS)["record"] == state["record"]:
                    self._approve(screen, state["record"])
                break
            asked.add(fid)
            screen.asked += 1
            screen.asked_fields.append(self.field(fid)["name"])
            try:
                self._answer(screen, fid, focus, state["record"])
            except PlaywrightTimeout:
                p.keyboard.press("Alt+L")
                screen.keys += 2
                screen.outcome = "stuck"
                self._wait_next(screen, state["record"], "skip")
                break
            if p.evaluate(BLOCKED_JS):
                p.keyboard.press("Alt+T")
                screen.keys += 2
                self._wait_next(screen, state["record"], "flag")
                screen.outcome = "flagged"
                break
        screen.shown.update(asked)
        self.seen.update(screen.shown)
        screen.outcome = screen.outcome or "approved"
        self.screens.append(screen)
        return screen

    def _answer(self, screen: Screen, fid: int, focus: dict[str, Any], record: int) -> None:
        """Confirm, pick, or correct the focused value, then move on (Enter where the key did not)."""
        p = self.page
        f = self.field(fid)
        want = self.truth_of(f)
        if want is None:
            want = f["final_value"]
        if f["kind"] == "choice":
            options = self._options(f)
            p.keyboard.press(str(options.index(want) + 1) if want in options else "0")
            screen.keys += 1
            if want != f["final_value"]:
                screen.corrected += 1
                screen.fixes.append(f"{f['name']}:tick")
        elif typed(f["kind"], want) != (focus["value"] or ""):
            screen.corrected += 1
            shown = [typed(f["kind"], s) for s in focus["suggestions"]]
            if typed(f["kind"], want) in shown:
                p.keyboard.press(f"Alt+{shown.index(typed(f['kind'], want)) + 1}")
                screen.keys += 2
                screen.suggestions_taken += 1
                screen.fixes.append(f"{f['name']}:alt")
            else:
                self._retype(screen, focus["selected"], typed(f["kind"], want))
                screen.fixes.append(f"{f['name']}:typed")
        if p.evaluate(FOCUS_JS)["field"] == fid:
            p.keyboard.press("Enter")
            screen.keys += 1
        self._wait_moved(screen, record, fid)

    def _retype(self, screen: Screen, selected: bool, text: str) -> None:
        """Replace the focused input's text (select all unless it already is; Backspace to empty it)."""
        p = self.page
        if not selected:
            p.keyboard.press("Control+A")
            screen.keys += 2
        if text:
            p.keyboard.type(text)
            screen.keys += len(text)
        else:
            p.keyboard.press("Backspace")
            screen.keys += 1

    def _defs(self, f: sqlite3.Row) -> Any:
        from pipeline import forms

        return next(fd for fd in forms.load(f["form_id"]).fields if fd.name == f["name"])

    def _options(self, f: sqlite3.Row) -> list[str]:
        return [o.value for o in self._defs(f).options]

    def _fix_shown(self, screen: Screen, asked: set[int], record: int) -> None:
        """Correct wrong values that are shown but were not in the Enter flow (click, retype, Enter)."""
        p = self.page
        for fid in sorted(screen.shown - asked):
            f = self.field(fid)
            want = self.truth_of(f)
            if want is None or want == f["final_value"]:
                continue
            holder = p.locator(f'[data-field-id="{fid}"], [class*="st-key-f{fid}v"]').first
            if not holder.count() or not holder.is_visible():
                continue
            screen.points += 1
            screen.keys += 1
            screen.corrected += 1
            screen.fixes.append(f"{f['name']}:clicked")
            if f["kind"] == "choice":
                label = next((o.label for o in self._defs(f).options if o.value == want), "")
                target = holder.locator(f'[data-opt="{want}"]')
                (target.first if target.count() else holder.get_by_text(label).first).click()
                continue
            holder.locator("input").first.click() if holder.locator("input").first.is_visible() else holder.click()
            self._retype(screen, p.evaluate(FOCUS_JS)["selected"], typed(f["kind"], want))
        for _ in range(40):  # Enter until the focus is on the approve button
            focus = p.evaluate(FOCUS_JS)
            if focus["record"] != record or focus["approve"]:
                break
            if focus["field"] is None:
                break
            p.keyboard.press("Enter")
            screen.keys += 1
            p.wait_for_timeout(30)

    def _approve(self, screen: Screen, record: int) -> None:
        """Approve with the keyboard: Enter on the approve button (where the focus ends)."""
        p = self.page
        if not p.evaluate(FOCUS_JS)["approve"]:
            button = p.get_by_role("button", name="Setujui formulir")
            if button.count():
                button.first.focus()
        p.keyboard.press("Enter")
        screen.keys += 1
        self._wait_next(screen, record, "approve")

    def _wait_moved(self, screen: Screen, record: int, fid: int) -> None:
        """After a key: the focus moves to the next value (client side) or the form is approved."""
        start = time.perf_counter()
        self.page.wait_for_function(
            "([r, f]) => { const c = window.__susulan; if (!c || c.record !== r) return true;"
            f" const s = ({FOCUS_JS})();"
            " return (s.field !== null && s.field !== f) || s.approve"
            f" || ({BLOCKED_JS})(); }}",
            arg=[record, fid], timeout=STUCK_S * 1000, polling=20)
        if self.page.evaluate(FOCUS_JS)["record"] != record:
            self._finish_wait(screen, record, start, "approve")
        else:
            screen.latency.append(("enter", time.perf_counter() - start))

    def _wait_next(self, screen: Screen, record: int, action: str) -> None:
        self._finish_wait(screen, record, time.perf_counter(), action)

    def _finish_wait(self, screen: Screen, record: int, start: float, action: str) -> None:
        """Wait for the next form; a form refused for a failing rule goes to the supervisor (Alt+T)."""
        p = self.page
        p.wait_for_function(f"(prev) => ({READY_JS})(prev) || ({BLOCKED_JS})()", arg=record, timeout=60000,
                            polling=20)
        if p.evaluate(BLOCKED_JS) and (p.evaluate(FOCUS_JS)["record"] == record):
            screen.latency.append((action + "-refused", time.perf_counter() - start))
            p.keyboard.press("Alt+T")
            screen.keys += 2
            screen.outcome = "flagged"
            start, action = time.perf_counter(), "flag"
            self.wait_ready(record)
        screen.latency.append((action, time.perf_counter() - start))


def never_shown(clerk: Clerk, batch: Batch, approved_only: bool = True) -> int:
    """Wrong machine values (as stored before review) of approved records that no screen showed."""
    pristine = sqlite3.connect(f"file:{batch.data.parent / 'pristine' / 'susulan.db'}?mode=ro", uri=True)
    final = sqlite3.connect(f"file:{batch.data / 'susulan.db'}?mode=ro", uri=True)
    approved = {r[0] for r in final.execute("SELECT id FROM records WHERE state IN ('approved', 'exported')")}
    n = 0
    for fid, name, rec_no, page_key, value, rid in pristine.execute(
            "SELECT x.id, x.name, x.record_no, p.page_key, x.final_value, r.id FROM fields x "
            "JOIN pages p ON p.id = x.page_id JOIN records r ON r.page_id = x.page_id "
            "AND (x.record_no = r.record_no OR x.record_no IS NULL)"):
        row = batch.truth.get((page_key, rec_no if rec_no is not None else 0))
        if row is None or row.get(name, "") == value or fid in clerk.seen:
            continue
        if approved_only and rid not in approved:
            continue
        n += 1
    return n


def wrong_exported(batch: Batch) -> int:
    """Values of approved records that differ from the paper."""
    db = sqlite3.connect(f"file:{batch.data / 'susulan.db'}?mode=ro", uri=True)
    n = 0
    for name, rec_no, page_key, value in db.execute(
            "SELECT x.name, r.record_no, p.page_key, x.final_value FROM fields x JOIN pages p ON p.id = x.page_id "
            "JOIN records r ON r.page_id = x.page_id AND (x.record_no = r.record_no OR x.record_no IS NULL) "
            "WHERE r.state IN ('approved', 'exported')"):
        row = batch.truth.get((page_key, rec_no))
        n += row is not None and row.get(name, "") != value
    return n


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def _asked_per_form(screens: list[Screen]) -> dict[str, dict[str, float]]:
    """Per form kind and field name: values in the Enter flow per sheet (where the mental checks go)."""
    sheets: dict[str, set[str]] = defaultdict(set)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for s in screens:
        sheets[s.form_id].add(s.page_key)
        counts[s.form_id].update(s.asked_fields)
    return {form: {name: round(n / len(sheets[form]), 2) for name, n in counts[form].most_common()}
            for form in sorted(counts)}


def summarize(clerk: Clerk, batch: Batch, first_load: float, seconds: float) -> dict[str, Any]:
    """The benchmark's figures."""
    per_sheet: dict[str, list[Screen]] = defaultdict(list)
    for s in clerk.screens:
        per_sheet[s.page_key].append(s)
    reg = [sum(x.klm_seconds() for x in v) for k, v in per_sheet.items() if v[0].form_id == "pendaftaran"]
    queue = [sum(x.klm_seconds() for x in v) for k, v in per_sheet.items() if v[0].form_id == "antrean"]
    approve = [s for sc in clerk.screens for a, s in sc.latency if a in ("approve", "flag")]
    enter = [s for sc in clerk.screens for a, s in sc.latency if a == "enter"]
    saved = [ms / 1000 for kind, ms, _ in clerk.acks if kind == "approve"]
    instant = sum(1 for kind, _, at_once in clerk.acks if kind == "approve" and at_once)
    screens = clerk.screens
    return {
        "pages_in_store": clerk.db.execute("SELECT COUNT(*) FROM pages").fetchone()[0],
        "screens": len(screens), "sheets_reviewed": len(per_sheet),
        "registration_forms": len(reg), "queue_sheets": len(queue),
        "values_asked": sum(s.asked for s in screens),
        "values_asked_per_form": _asked_per_form(screens),
        "values_shown": sum(len(s.shown) for s in screens),
        "corrected": sum(s.corrected for s in screens),
        "suggestions_taken": sum(s.suggestions_taken for s in screens),
        "keys": sum(s.keys for s in screens), "clicks": sum(s.points for s in screens),
        "flagged": sum(s.outcome == "flagged" for s in screens),
        "stuck": sum(s.outcome == "stuck" for s in screens),
        "klm_s_per_registration_form": round(statistics.mean(reg), 2) if reg else None,
        "klm_s_per_queue_sheet": round(statistics.mean(queue), 2) if queue else None,
        "latency_p50_s": round(_pct(approve, 0.5), 3), "latency_p95_s": round(_pct(approve, 0.95), 3),
        "latency_max_s": round(max(approve, default=0.0), 3),
        "enter_latency_p50_s": round(_pct(enter, 0.5), 3), "first_load_s": round(first_load, 3),
        "server_confirm_p50_s": round(_pct(saved, 0.5), 3), "server_confirm_p95_s": round(_pct(saved, 0.95), 3),
        "approvals_shown_from_prefetch": instant,
        "wrong_values_never_shown": never_shown(clerk, batch),
        "wrong_values_exported": wrong_exported(batch),
        "wall_s": round(seconds, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }


def report(figures: dict[str, Any], clerk: Clerk) -> str:
    """Human-readable lines, then the JSON object as the last line."""
    lines = ["screen                       form         asked fixed keys clicks  latency  KLM s  outcome"]
    for s in clerk.screens:
        lat = sum(x for _, x in s.latency)
        lines.append(f"{s.page_key[:28]:28} {s.form_id:12} {s.asked:5} {s.corrected:5} {s.keys:4} {s.points:6} "
                     f"{lat:8.2f} {s.klm_seconds():6.1f}  {s.outcome} {' '.join(s.fixes)}")
    lines.append("")
    lines.append(f"KLM per registration form: {figures['klm_s_per_registration_form']} s "
                 f"({figures['registration_forms']} forms); per queue sheet: {figures['klm_s_per_queue_sheet']} s "
                 f"({figures['queue_sheets']} sheets)")
    for form, per_field in figures["values_asked_per_form"].items():
        lines.append(f"asked per {form} sheet: " + ", ".join(f"{k} {v:g}" for k, v in per_field.items()))
    lines.append(f"approve -> next form ready: p50 {figures['latency_p50_s']} s, p95 {figures['latency_p95_s']} s, "
                 f"max {figures['latency_max_s']} s; first load {figures['first_load_s']} s "
                 f"({figures['pages_in_store']} pages in the store)")
    if figures["server_confirm_p50_s"]:
        lines.append(f"server confirmed each approval (in the background): p50 {figures['server_confirm_p50_s']} s, "
                     f"p95 {figures['server_confirm_p95_s']} s; next sheet shown from what came ahead for "
                     f"{figures['approvals_shown_from_prefetch']} approval(s)")
    lines.append(f"wrong values never shown to the reviewer: {figures['wrong_values_never_shown']}; "
                 f"wrong values in approved records: {figures['wrong_values_exported']}")
    lines.append(json.dumps(figures, ensure_ascii=False))
    return "\n".join(lines)


def review(batch: Batch, url: str, max_screens: int | None = None, shots: Path | None = None) -> tuple[Clerk, float]:
    """A clerk logs in and works through the queue in headless Chromium; returns it and the first load (s).

    With ``shots``, screenshots of the first registration form and the first queue sheet go there.
    """
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(60000)
        clerk = Clerk(page, batch)
        clerk.login(url)
        first_load = clerk.open_queue()
        try:
            while max_screens is None or len(clerk.screens) < max_screens:
                if shots:
                    clerk.snapshot(shots)
                if clerk.review_screen() is None:
                    break
            page.wait_for_function("() => (window.__susulanLog || []).every((x) => x.acked !== null)",
                                   timeout=60000)
        except Exception:
            failure = (shots or batch.data.parent) / "review-failure.png"
            page.screenshot(path=str(failure))
            print(f"failed on screen {len(clerk.screens) + 1}; focus {page.evaluate(FOCUS_JS)}; "
                  f"screenshot {failure}", file=sys.stderr)
            raise
        clerk.acks = page.evaluate(
            "() => (window.__susulanLog || []).map((x) => [x.kind, x.acked - x.sent, !!x.instant])")
        browser.close()
    return clerk, first_load


def run(pages: int = 12, seed: int = REVIEW_BENCH_SEED, max_screens: int | None = None,
        keep: Path | None = None, after_learning: bool = False, same_writers: bool = False,
        with_master: bool = False) -> str:
    """Generate, ingest, serve, review in Chromium; returns the report (last line JSON)."""
    tmp = None if keep else tempfile.TemporaryDirectory(prefix="susulan-review-bench-")
    base = keep or Path(tmp.name)  # type: ignore[union-attr]
    base.mkdir(parents=True, exist_ok=True)
    try:
        batch = make_batch(base, pages, seed, after_learning, same_writers, with_master)
        start = time.perf_counter()
        with served(batch.data, log=base / "server.log") as url:
            clerk, first_load = review(batch, url, max_screens)
        return report(summarize(clerk, batch, first_load, time.perf_counter() - start), clerk)
    finally:
        if tmp:
            tmp.cleanup()
