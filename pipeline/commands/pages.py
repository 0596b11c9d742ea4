"""Commands ``ingest``, ``watch``, ``status`` and ``export``."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from pipeline.cli import _add_data_dir, err, register
from pipeline.errors import BadInput, ExitCode


def cmd_ingest(args: argparse.Namespace) -> int:
    from pipeline import run

    summary = run.ingest_paths([Path(p) for p in args.paths], args.data_dir, args.jobs, user=args.user,
                               progress=run.terminal_progress)
    err(summary.text())
    if args.report:
        Path(args.report).write_text(json.dumps(summary.counts(), ensure_ascii=False))
    return ExitCode.PAGES_NEED_ATTENTION if summary.needs_attention else ExitCode.OK


def cmd_watch(args: argparse.Namespace) -> int:
    from pipeline import watch

    watch.watch(Path(args.folder), args.data_dir, interval=args.interval, once=args.once, settle=args.settle)
    return ExitCode.OK


def cmd_status(args: argparse.Namespace) -> int:
    from pipeline.store import Store, describe

    if not Store.exists(args.data_dir):
        raise BadInput(f"no Susulan data in {describe(args.data_dir)} yet; run 'susulan ingest' first")
    with Store.open(args.data_dir) as store:
        counts = store.status_counts()
        problems = [dict(r) for r in store.problem_pages()]
    if args.json:
        print(json.dumps({**counts, "problem_pages": problems}, indent=1, ensure_ascii=False))
        return ExitCode.OK
    print(f"Files: {counts['files']}")
    print("Pages:")
    for row in counts["pages"]:
        print(f"  {row['status']:<10} {row['reason'] or '-':<24} {row['n']:>6}")
    for f in counts["file_problems"]:
        print(f"  unreadable file: {f['name']}: {f['message']}")
    print("Records:")
    for row in counts["records"]:
        print(f"  {row['state']:<10} {row['n']:>6}")
    print("Values:")
    for row in counts["values"]:
        print(f"  {row['status']:<10} {row['n']:>6}")
    if problems:
        print("Pages that need attention:")
        for p in problems:
            print(f"  {p['file_name']} page {p['page_no']}: {p['status']} ({p['reason']}) {p['message']}")
    return ExitCode.OK


def cmd_export(args: argparse.Namespace) -> int:
    from pipeline.export import rows
    from pipeline.store import Store, describe

    if not Store.exists(args.data_dir):
        raise BadInput(f"no Susulan data in {describe(args.data_dir)} yet; run 'susulan ingest' first")
    with Store.open(args.data_dir) as store:
        data = rows.rows(store, args.stage, args.form)
        rows.write(data, Path(args.out), args.format)
        rows.audit_export(store, f"cli:{_os_user()}", f"export {args.stage}" + (f" {args.form}" if args.form else ""),
                          len(data), args.format)
    err(f"wrote {len(data)} record(s) ({args.stage}) to {args.out}")
    return ExitCode.OK


@register
def add(sub: argparse._SubParsersAction) -> None:
    """Register the page commands."""
    p = sub.add_parser("ingest", help="read scanned forms (PDF, TIFF, PNG, JPEG files or folders) into the store")
    p.add_argument("paths", nargs="+", help="files or folders")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: one per core)")
    p.add_argument("--user", default="", help="who started this ingest (recorded with the batch)")
    p.add_argument("--report", default=None, help="also write the summary as JSON to this file")
    _add_data_dir(p)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("watch", help="ingest files as a network scanner drops them into a folder")
    p.add_argument("folder", help="folder the scanner writes to; finished files move to <folder>/done")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between looks (default 2)")
    p.add_argument("--settle", type=float, default=3.0, help="a file must be unchanged this long (default 3 s)")
    p.add_argument("--once", action="store_true", help="ingest what becomes complete, then stop")
    _add_data_dir(p)
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("status", help="pages by state and reason; records by review state")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_data_dir(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("export", help="write records as JSONL, CSV or XLSX")
    p.add_argument("--format", choices=("jsonl", "csv", "xlsx"), default="jsonl")
    p.add_argument("--stage", choices=("recognized", "reviewed"), default="recognized",
                   help="all recognised records, or only those approved in review")
    p.add_argument("--form", default=None, help="only records of this form id")
    p.add_argument("--out", required=True, help="output file")
    _add_data_dir(p)
    p.set_defaults(func=cmd_export)


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
