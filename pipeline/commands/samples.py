"""``susulan samples make``: realistic filled and aged sample scans with exact ground truth."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from pipeline.cli import err, register
from pipeline.commands.bench import tools
from pipeline.errors import BadInput, ExitCode

KIND_NAMES = ("feeder", "bw", "phone")


def _int(text: str, option: str) -> int:
    try:
        return int(text)
    except ValueError as e:
        raise BadInput(f"{option} must be a whole number, not {text!r}") from e


def _kinds(values: list[str]) -> list[str]:
    return [k.strip() for v in values for k in v.split(",") if k.strip()]


def cmd_samples_make(args: argparse.Namespace) -> int:
    """Write sample scans and ``truth.jsonl``; a summary goes to stderr."""
    make = tools("synth.make")
    try:
        share = float(args.antrean_share)
    except ValueError as e:
        raise BadInput(f"--antrean-share must be a number between 0 and 1, not {args.antrean_share!r}") from e
    pages, seed = _int(args.pages, "--pages"), _int(args.seed, "--seed")
    phone = _int(args.phone_size, "--phone-size")
    if not 800 <= phone <= 8000:
        raise BadInput(f"--phone-size must be between 800 and 8000 pixels, not {phone}")
    kinds = _kinds(args.kinds)
    make.check_args(pages, seed, args.split, kinds, share)
    out = Path(args.out)
    writer = None if args.writer is None else _int(args.writer, "--writer")
    if writer is not None and not 0 <= writer <= 9999:
        raise BadInput(f"--writer must be between 0 and 9999, not {writer}")
    first = None
    if args.first_day is not None:
        try:
            first = date.fromisoformat(args.first_day)
        except ValueError as e:
            raise BadInput(f"--first-day must be a date YYYY-MM-DD, not {args.first_day!r}") from e
    summary = make.write_samples(out, pages, seed, args.split, kinds, share, phone, writer, first)
    err(f"wrote {summary['pages']} page(s), {summary['records']} record(s) in {len(summary['files'])} file(s) "
        f"to {out} in {summary['seconds']} s; ground truth: {out / 'truth.jsonl'}")
    return ExitCode.OK


@register
def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``samples make``."""
    p = sub.add_parser("samples", help="make filled and aged sample scans with exact ground truth (dev tools)")
    ssub = p.add_subparsers(dest="samples_command", required=True, metavar="SUBCOMMAND")
    m = ssub.add_parser(
        "make", help="fill blank forms like people do, age them like scanners and phones do, write truth.jsonl",
        description="Writes feeder-NNN.pdf (grey scanner PDFs), bw-NNN.tif (black-and-white TIFF), "
                    "phone-NNN.jpg (phone photos) and truth.jsonl (one line per record) into --out. "
                    "Page i of seed S gets serial S*100000+i+1.")
    m.add_argument("--out", required=True, help="output folder (new, empty, or made by this command before)")
    m.add_argument("--pages", required=True, help="number of pages (1-99999)")
    m.add_argument("--seed", default="0", help="random seed 0-9999 (default 0); same seed, same samples")
    m.add_argument("--split", default="test",
                   help="handwriting split for digits and fonts: test (default), calib or train")
    m.add_argument("--kinds", nargs="+", default=list(KIND_NAMES),
                   help="output kinds, any of feeder bw phone (default: all; mix 60/20/20)")
    m.add_argument("--antrean-share", default="0.3333", help="share of queue-sheet pages (default 1/3)")
    m.add_argument("--writer", default=None,
                   help="write every page with one fixed writer 0-9999 (the same few samples per character of "
                        "one site of --split and the same pen), e.g. pages before and after learning a hand")
    m.add_argument("--phone-size", default="2592", help="long side of phone photos in pixels (default 2592)")
    m.add_argument("--first-day", default=None,
                   help="first visit day YYYY-MM-DD (default: drawn from the seed, 2025-10-30 to 2026-09-30); "
                        "the demo uses a recent day so its dates look like a recent outage")
    m.set_defaults(func=cmd_samples_make)
