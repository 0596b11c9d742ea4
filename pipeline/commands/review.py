"""Commands ``review`` (start the review app), ``users`` (staff accounts) and ``approve --confident``."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import ipaddress
import os
import sys
from pathlib import Path

from pipeline.cli import _add_data_dir, err, register
from pipeline.errors import BadInput, ExitCode

APP = Path(__file__).resolve().parent.parent.parent / "review_app" / "server.py"
"""Streamlit with the login cookie and the session check on media (``review_app/server.py``)."""
DATA_ENV = "SUSULAN_DATA_DIR"


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def streamlit_flags(host: str, port: int) -> list[str]:
    """``streamlit run`` options: no usage statistics, XSRF protection, no file watching, no browser."""
    return [
        "--server.address", host, "--server.port", str(port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.enableXsrfProtection", "true",
        "--server.fileWatcherType", "none", "--server.runOnSave", "false", "--server.maxUploadSize", "1000",
        "--client.toolbarMode", "minimal", "--theme.base", "light",
    ]


def lan_addresses() -> list[str]:
    """IPv4 addresses of this computer that others on the network can use (best effort, no traffic sent)."""
    import socket

    found: list[str] = []
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 1))  # UDP connect picks the outgoing interface; nothing is sent
        found.append(s.getsockname()[0])
    with contextlib.suppress(OSError):
        found += [str(a[4][0]) for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    return [a for a in dict.fromkeys(found) if not a.startswith("127.") and a != "0.0.0.0"]


def serving_text(host: str, port: int, data_dir: Path) -> str:
    """What ``susulan review`` says about where to open the app (and the network warning and TLS advice)."""
    if is_loopback(host):
        return f"review app for {data_dir}: open http://localhost:{port} in a browser on this computer (Ctrl+C to stop)"
    hosts = lan_addresses() if host in ("0.0.0.0", "::", "") else [host]
    urls = ", ".join(f"http://{h}:{port}" for h in hosts) or f"http://<this computer's address>:{port}"
    return (f"review app for {data_dir}: open {urls} in a browser on the Puskesmas network (Ctrl+C to stop).\n"
            f"warning: serving on {host}: every computer on this network can reach the login page, and plain http "
            f"is not encrypted: "
            f"passwords and patient data cross the network readable. Use only on the Puskesmas' own network; "
            f"for anything wider put a reverse proxy with TLS (https) in front, as docs/security.md describes.")


def cmd_review(args: argparse.Namespace) -> int:
    from pipeline.store import Store
    from pipeline.store.users import list_users

    data_dir = Path(args.data_dir).resolve()
    with Store.open(data_dir) as store:
        if not list_users(store):
            raise BadInput(f"no staff account yet; create one first: susulan users add NAME --role admin "
                           f"--data-dir {data_dir}")
    if not 1 <= args.port <= 65535:
        raise BadInput("--port must be between 1 and 65535")
    os.environ[DATA_ENV] = str(data_dir)
    err(serving_text(args.host, args.port, data_dir))
    from streamlit.web import cli as stcli

    stcli.main.main(args=["run", str(APP), *streamlit_flags(args.host, args.port)], prog_name="streamlit",
                    standalone_mode=False)
    return ExitCode.OK


def cmd_review_export(args: argparse.Namespace) -> int:
    from pipeline import corrections
    from pipeline.store import Store

    out = Path(args.out)
    if not out.parent.exists():
        raise BadInput(f"folder does not exist: {out.parent}")
    with Store.open(args.data_dir) as store:
        n = corrections.export(store, out, everything=args.all)
    err(f"wrote {n} value(s) {'of open records' if args.all else 'to check'} to {out} (snippets in "
        f"{out.parent / (out.stem + '-potongan')}); change 'value' where it is wrong, write 'ya' under 'confirm' "
        f"where it is right, then: susulan review import {out} --user NAME")
    return ExitCode.OK


def cmd_review_import(args: argparse.Namespace) -> int:
    from pipeline import corrections
    from pipeline.store import Store
    from pipeline.store.users import get_user

    path = Path(args.file)
    rows = corrections.read(path)
    with Store.open(args.data_dir) as store:
        user = get_user(store, args.user).name
        plan = corrections.plan(store, rows)
        if plan.refused:
            for line, reason in plan.refused:
                err(f"row {line}: {reason}")
            raise BadInput(f"{len(plan.refused)} of {len(rows)} row(s) refused; nothing applied. Fix those rows "
                           "(or export again) and import the file again")
        applied = corrections.apply(store, plan, user)
    if applied.conflicts:
        for c in applied.conflicts:
            err(f"field {c.field_id} ({c.name}): changed by {c.current.get('by') or 'someone'} meanwhile; not saved")
        raise BadInput(f"{len(applied.conflicts)} value(s) changed by someone else during the import; nothing "
                       "applied. Export again")
    void = f", {len(plan.void)} row(s) marked as no patient" if plan.void else ""
    print(f"applied {plan.corrections} correction(s) and {plan.confirmations} confirmation(s){void} from {path.name} "
          f"as {user}; {plan.unchanged} row(s) unchanged")
    return ExitCode.OK


def read_password(path: str | None) -> str:
    """First line of ``path``; else ask twice without echo (or read one line from a pipe)."""
    if path:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise BadInput(f"cannot read password file {path}: {e.strerror}") from e
        return lines[0].rstrip("\r\n") if lines else ""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise BadInput("the two passwords differ; nothing saved")
    return first


def cmd_users_add(args: argparse.Namespace) -> int:
    from pipeline.store import Store
    from pipeline.store.users import add_user, check_account

    check_account(args.name, args.role)  # name and role first, before asking for a password
    password = read_password(args.password_file)
    with Store.open(args.data_dir) as store:
        user = add_user(store, args.name, password, args.role, replace=args.replace, by=f"cli:{_os_user()}")
    err(f"account {user.name} ({user.role}) saved in {args.data_dir}")
    return ExitCode.OK


def cmd_users_list(args: argparse.Namespace) -> int:
    from pipeline.store import Store
    from pipeline.store.users import list_users

    with Store.open(args.data_dir) as store:
        for u in list_users(store):
            print(f"{u.name}\t{u.role}\t{'active' if u.active else 'disabled'}\t{u.last_login or '-'}")
    return ExitCode.OK


def cmd_approve(args: argparse.Namespace) -> int:
    from pipeline.store import Store, describe
    from pipeline.store import review as rv
    from pipeline.store.users import get_user

    if not args.confident:
        raise BadInput("say what to approve: --confident (records whose values are all confident and "
                       "break no rule)")
    if not Store.exists(args.data_dir):
        raise BadInput(f"no Susulan data in {describe(args.data_dir)} yet; run 'susulan ingest' first")
    with Store.open(args.data_dir) as store:
        user = get_user(store, args.user).name if args.user else f"cli:{_os_user()}"
        approved, remaining = rv.approve_confident(store, user)
    print(f"approved {approved} record(s); {remaining} still need a person")
    return ExitCode.OK


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@register
def add(sub: argparse._SubParsersAction) -> None:
    """Register the review commands."""
    p = sub.add_parser("review", help="start the review app in the browser (localhost by default)")
    p.add_argument("--port", type=int, default=8501, help="port (default 8501)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this computer only; 0.0.0.0 = the whole LAN)")
    _add_data_dir(p)
    p.set_defaults(func=cmd_review)
    rsub = p.add_subparsers(dest="review_command", metavar="[export|import]")
    q = rsub.add_parser("export", help="write the values to check to a spreadsheet (one row per value, with a "
                        "link to its snippet)")
    q.add_argument("--out", required=True, help="file to write: .xlsx or .csv")
    q.add_argument("--all", action="store_true", help="every value of the records not yet approved, not only "
                   "those to check")
    _add_data_dir(q)
    q.set_defaults(func=cmd_review_export)
    q = rsub.add_parser("import", help="apply the corrections and confirmations of an exported spreadsheet "
                        "(all rows or none)")
    q.add_argument("file", help="the .xlsx or .csv written by 'susulan review export' and edited")
    q.add_argument("--user", required=True, help="the staff account the changes are recorded under")
    _add_data_dir(q)
    q.set_defaults(func=cmd_review_import)

    p_users = sub.add_parser("users", help="staff accounts for the review app")
    usub = p_users.add_subparsers(dest="users_command", required=True, metavar="SUBCOMMAND")
    p = usub.add_parser("add", help="create an account (asks for the password without showing it; "
                        "or reads one line from a pipe)")
    p.add_argument("name", help="login name: 2-32 letters, digits, '.', '_' or '-'")
    p.add_argument("--role", choices=("reviewer", "admin"), required=True, help="reviewer, or admin (manages "
                   "accounts and may approve despite a failing rule)")
    p.add_argument("--password-file", default=None, help="read the password from the first line of this file")
    p.add_argument("--replace", action="store_true", help="set a new password/role if the account exists")
    _add_data_dir(p)
    p.set_defaults(func=cmd_users_add)
    p = usub.add_parser("list", help="list accounts (name, role, active, last login)")
    _add_data_dir(p)
    p.set_defaults(func=cmd_users_list)

    p = sub.add_parser("approve", help="approve records without a person: --confident")
    p.add_argument("--confident", action="store_true",
                   help="approve every record whose values are all confident and that breaks no rule")
    p.add_argument("--user", default=None, help="account the approvals are recorded under (default: cli:<login>)")
    _add_data_dir(p)
    p.set_defaults(func=cmd_approve)
