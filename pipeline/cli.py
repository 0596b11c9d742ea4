"""The ``susulan`` command: the only place that turns exceptions into exit codes and messages."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from pipeline import __version__
from pipeline.errors import RERUN, BadInput, ExitCode, SusulanError, system_message

Handler = Callable[[argparse.Namespace], int]


def default_data_dir() -> Path:
    """``$SUSULAN_DATA_DIR`` or ``./susulan-data``."""
    return Path(os.environ.get("SUSULAN_DATA_DIR", "susulan-data"))


def err(msg: str) -> None:
    """A message for the user on stderr (stdout is kept for machine-readable output)."""
    print(msg, file=sys.stderr)


# --- forms -------------------------------------------------------------------------------------


def cmd_forms_list(args: argparse.Namespace) -> int:
    from pipeline import forms

    for f in forms.load_all():
        print(f"{f.form_id}\tv{f.version}\t{f.page_mm[0]:g}x{f.page_mm[1]:g} mm\t"
              f"{f.records_per_page} record(s)/page\t{f.title}")
    return ExitCode.OK


def cmd_forms_layout(args: argparse.Namespace) -> int:
    from pipeline import forms

    chosen = [forms.load(args.form, args.version)] if args.form else forms.load_all()
    print(json.dumps({"forms": [forms.layout_dict(f) for f in chosen]}, indent=1, ensure_ascii=False))
    return ExitCode.OK


def cmd_forms_print(args: argparse.Namespace) -> int:
    from pipeline import forms, render
    from pipeline.store import Store

    if args.count < 1 or args.count > 10000:
        raise BadInput("--count must be between 1 and 10000")
    form = forms.load(args.form, args.version)
    out = Path(args.out)
    if not out.parent.exists():
        raise BadInput(f"folder does not exist: {out.parent}")
    with Store.open(args.data_dir) as store:
        serials = store.reserve_serials(form.form_id, args.count, args.start_serial)
    render.write_pdf(out, [(form, s) for s in serials])
    for s in serials:
        print(f"{form.form_id}-{s:06d}")
    err(f"wrote {len(serials)} page(s) of {form.form_id} v{form.version} to {out}")
    return ExitCode.OK


# --- parser ------------------------------------------------------------------------------------


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from e
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value


def _add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, default=None,
                   help="data directory: originals, page images, and the SQLite store unless --db says otherwise "
                        "(default: $SUSULAN_DATA_DIR or ./susulan-data)")
    p.add_argument("--db", default=None, metavar="URL",
                   help="the store's database: postgresql://user:password@host:port/name, or an SQLite file "
                        "(default: $SUSULAN_DB or DATA_DIR/susulan.db)")


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree; every command has ``--help``."""
    parser = argparse.ArgumentParser(prog="susulan", description="Catch up the ERM from paper forms after an outage.")
    parser.add_argument("--version", action="version", version=f"susulan {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p_forms = sub.add_parser("forms", help="list, print and describe the paper forms")
    fsub = p_forms.add_subparsers(dest="forms_command", required=True, metavar="SUBCOMMAND")
    p = fsub.add_parser("list", help="list the forms and versions defined in forms/")
    p.set_defaults(func=cmd_forms_list)
    p = fsub.add_parser("print", help="write N blank pages with unique serials to a PDF; prints the page ids")
    p.add_argument("--form", required=True, help="form id, e.g. pendaftaran or antrean")
    p.add_argument("--version", type=int, default=None, help="form version (default: latest)")
    p.add_argument("--count", type=_non_negative_int, required=True, help="number of pages")
    p.add_argument("--out", required=True, help="output PDF file")
    p.add_argument("--start-serial", type=_non_negative_int, default=None,
                   help="first serial (default: one past the highest serial printed from this data dir)")
    _add_data_dir(p)
    p.set_defaults(func=cmd_forms_print)
    p = fsub.add_parser("layout", help="print the field geometry (mm, top-left origin) as JSON")
    p.add_argument("--form", default=None, help="only this form id")
    p.add_argument("--version", type=int, default=None, help="form version (default: latest)")
    p.set_defaults(func=cmd_forms_layout)

    for register in _REGISTRARS:
        register(sub)
    return parser


_REGISTRARS: list[Callable[[argparse._SubParsersAction], None]] = []


def register(fn: Callable[[argparse._SubParsersAction], None]) -> Callable[[argparse._SubParsersAction], None]:
    """Decorator for modules that add a command group (kept in ``pipeline/commands``)."""
    _REGISTRARS.append(fn)
    return fn


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``susulan`` console script."""
    from pipeline import commands  # noqa: F401  (registers the other command groups)

    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "data_dir", "absent") is None:
        args.data_dir = default_data_dir()
    if getattr(args, "db", None):
        os.environ["SUSULAN_DB"] = args.db  # for this command's store and what it starts (workers, review app)
    try:
        return int(args.func(args))
    except SusulanError as e:
        if args.verbose:
            raise
        err(f"susulan: {e}")
        return int(e.exit_code)
    except KeyboardInterrupt:
        err("susulan: interrupted; what was finished is saved, run the same command again to continue")
        return int(ExitCode.INTERRUPTED)
    except Exception as e:  # noqa: BLE001 - the one place that turns any failure into one line
        if args.verbose:
            raise
        plain = system_message(e)
        if plain is not None:
            err(f"susulan: {plain}")
            return int(ExitCode.SYSTEM)
        err(f"susulan: unexpected error ({type(e).__name__}: {e}); {RERUN}. Run again with -v to see the details "
            "for a bug report.")
        return int(ExitCode.INTERNAL)


if __name__ == "__main__":
    from pipeline.cli import main as _main  # the registered module, not this __main__ copy

    sys.exit(_main())
