"""Command ``bench``."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli import register
from pipeline.errors import ExitCode


def cmd_bench(args: argparse.Namespace) -> int:
    from pipeline import bench

    result = bench.run_bench(args.pages, args.seed, args.jobs, Path(args.keep) if args.keep else None)
    print(bench.report(result))
    return ExitCode.OK


@register
def add(sub: argparse._SubParsersAction) -> None:
    """Register ``bench``."""
    from pipeline.bench import BENCH_SEED

    p = sub.add_parser("bench", help="generate a fresh sample set, ingest it, print speed and accuracy")
    p.add_argument("--pages", type=int, default=60, help="pages to generate (default 60)")
    p.add_argument("--seed", type=int, default=BENCH_SEED, help="sample seed (default: the held-out bench seed)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: one per core)")
    p.add_argument("--keep", default=None, help="keep scans and data in this folder")
    p.set_defaults(func=cmd_bench)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from pipeline import calibrate

    result = calibrate.calibrate(args.pages, args.seed, args.jobs)
    calibrate.write(result)
    print(calibrate.table(result))
    return ExitCode.OK


@register
def add_calibrate(sub: argparse._SubParsersAction) -> None:
    """Register ``calibrate``."""
    from pipeline.calibrate import CALIB_SEED

    p = sub.add_parser("calibrate", help="measure error per confidence band on the calib split; set auto thresholds")
    p.add_argument("--pages", type=int, default=150, help="pages to generate (default 150)")
    p.add_argument("--seed", type=int, default=CALIB_SEED, help="sample seed (default: the calibration seed)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: one per core)")
    p.set_defaults(func=cmd_calibrate)
