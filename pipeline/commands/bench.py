"""Commands ``bench`` and ``calibrate`` (the work is done by the ``susulan-tools`` distribution)."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from types import ModuleType

from pipeline.cli import register
from pipeline.errors import ExitCode, MissingDependency


def tools(module: str) -> ModuleType:
    """``susulan_tools.<module>``, or a plain message saying how to install the tools."""
    try:
        return importlib.import_module(f"susulan_tools.{module}")
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] != "susulan_tools":
            raise
        raise MissingDependency(
            "this command needs Susulan's development tools (sample scans, benchmark, calibration), which a "
            "clinic installation does not carry: in a Susulan checkout run `make venv`, or "
            "`pip install -e tools`") from e


def cmd_bench(args: argparse.Namespace) -> int:
    if args.learning:
        learning = tools("learning_bench")
        result = learning.run_learning_bench(args.pages or 60, args.records, jobs=args.jobs,
                                             keep=Path(args.keep) if args.keep else None)
        print(learning.report(result))
        return ExitCode.OK
    if args.review:
        review_bench = tools("review_bench")
        seed = review_bench.REVIEW_BENCH_SEED if args.seed is None else args.seed
        print(review_bench.run(args.pages or 12, seed, args.screens, Path(args.keep) if args.keep else None,
                               args.after_learning, args.same_writers, args.master))
        return ExitCode.OK
    bench = tools("bench")
    seed = bench.BENCH_SEED if args.seed is None else args.seed
    result = bench.run_bench(args.pages or 60, seed, args.jobs, Path(args.keep) if args.keep else None,
                             args.master)
    print(bench.report(result))
    return ExitCode.OK


@register
def add(sub: argparse._SubParsersAction) -> None:
    """Register ``bench``."""
    p = sub.add_parser("bench", help="generate a fresh sample set, ingest it, print speed and accuracy "
                       "(--review: a simulated clerk reviews it in the real app) (dev tools)")
    p.add_argument("--review", action="store_true",
                   help="review benchmark: drive the review app in headless Chromium, print keys, clicks, latency "
                        "and keystroke-level seconds per form; last line JSON")
    p.add_argument("--pages", type=int, default=None, help="pages to generate (default 60; --review: 12; "
                   "--learning: per set, 60)")
    p.add_argument("--seed", type=int, default=None, help="sample seed (default: the held-out bench seed)")
    p.add_argument("--screens", type=int, default=None,
                   help="--review: stop after this many review screens (default: the whole queue)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: one per core)")
    p.add_argument("--keep", default=None, help="keep scans and data in this folder (--review: reused "
                   "when it already holds the batch)")
    p.add_argument("--learning", action="store_true",
                   help="instead: the gain from learning the clinic's hands (same writers' pages before and after "
                        "--records reviewed records; --pages per set)")
    p.add_argument("--records", type=int, default=100, help="records reviewed before learning (with --learning)")
    p.add_argument("--after-learning", action="store_true",
                   help="--review: the batch is written by the --learning benchmark's 3 writers, read after 60 "
                        "earlier pages of theirs were reviewed and learned from (a clinic's steady state)")
    p.add_argument("--same-writers", action="store_true",
                   help="--review: the batch is written by the --learning benchmark's 3 writers, without learning "
                        "(to compare with --after-learning)")
    p.add_argument("--master", action="store_true",
                   help="after reading, load a patient master that knows the batch's returning patients among "
                        "30,000 (the ERM is back): identity values are checked against it (reading and --review)")
    p.set_defaults(func=cmd_bench)


def cmd_calibrate(args: argparse.Namespace) -> int:
    calibrate = tools("calibrate")
    result = calibrate.calibrate(args.pages, calibrate.CALIB_SEED if args.seed is None else args.seed, args.jobs)
    calibrate.write(result, Path(args.out))
    print(calibrate.table(result))
    return ExitCode.OK


@register
def add_calibrate(sub: argparse._SubParsersAction) -> None:
    """Register ``calibrate``."""
    p = sub.add_parser("calibrate", help="measure error per confidence band on the calib split (read with a "
                       "patient master loaded, for the identity kind); write auto thresholds (dev tools)")
    p.add_argument("--out", required=True,
                   help="thresholds file to write, e.g. pipeline/recognize/models/calibration.json (shipped) or "
                        "<data-dir>/acceptance.json (one data dir); the table goes beside it as CALIBRATION.md")
    p.add_argument("--pages", type=int, default=150, help="pages to generate (default 150)")
    p.add_argument("--seed", type=int, default=None, help="sample seed (default: the calibration seed)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: one per core)")
    p.set_defaults(func=cmd_calibrate)
