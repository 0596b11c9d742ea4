"""The ``erm`` commands: load-patients, load-visits, load-pcare, plan, decide, export, push, ledger."""

from __future__ import annotations

import argparse
import getpass
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.cli import _add_data_dir, err, register
from pipeline.errors import BadInput, ExitCode

if TYPE_CHECKING:
    from pipeline.erm.auth import Auth
    from pipeline.erm.settings import Settings


def _user(args: argparse.Namespace) -> str:
    return args.user or os.environ.get("SUSULAN_USER") or getpass.getuser()


def _require_store(data_dir: Path) -> None:
    from pipeline.store import Store, describe

    if not Store.exists(data_dir):
        raise BadInput(f"no Susulan data in {describe(data_dir)} yet; run 'susulan ingest' and review records first")


def cmd_load(args: argparse.Namespace) -> int:
    from pipeline.erm import master, profiles, settings
    from pipeline.store import Store

    profile = profiles.load(args.profile or settings.load().profile)
    with Store.open(args.data_dir) as store:
        fn = master.load_patients if args.kind == "patients" else master.load_visits
        report = fn(store, Path(args.file), profile, _user(args), skip_bad_rows=args.skip_bad_rows)
        err(report.text())
        if args.kind == "patients":  # its names become the letter model's lexicon; pages under review read again
            from pipeline import reread

            learned, again = reread.learn_if_due(store)
            for part in (learned, again):
                if part is not None:
                    err(part.text())
    return ExitCode.OK


def cmd_load_pcare(args: argparse.Namespace) -> int:
    from pipeline.erm import pcare, settings
    from pipeline.store import Store

    with Store.open(args.data_dir) as store:
        report = pcare.load_registrations(store, Path(args.file), settings.load(), _user(args),
                                          skip_bad_rows=args.skip_bad_rows)
    err(report.text())
    return ExitCode.OK


def cmd_plan(args: argparse.Namespace) -> int:
    from pipeline.erm import api
    from pipeline.store import Store

    _require_store(args.data_dir)
    with Store.open(args.data_dir) as store:
        plan = api.current_plan(store)
        rows = api.plan_rows(store, plan)
        plan_id = api.confirm_plan(store, _user(args), plan) if args.confirm else None
    if args.json:
        print(json.dumps({"counts": plan.counts, "rows": rows, "confirmed_plan": plan_id}, indent=1,
                         ensure_ascii=False))
    else:
        for r in rows:
            who = r["rm_no"] or r["patient_key"] or "?"
            print(f"{r['record_id']:>6}  {r['visit_key']:<24} {r['action']:<8} {r['patient']:<9} {who:<22} "
                  f"{r['reason']}")
            for f in r["flags"]:
                print(f"{'':>8}! {f['message']}: kertas {f['paper']!r}, ERM {f['master']!r}")
        c = plan.counts
        print(f"insert {c['insert']}, skip {c['skip']}, conflict {c['conflict']}, incomplete {c['incomplete']} "
              f"(of {c['records']} reviewed records)")
    if plan_id is not None:
        err(f"plan {plan_id} confirmed by {_user(args)}; 'susulan erm export' and 'susulan erm push' use it now")
    elif not args.json:
        err("nothing was written; check the plan, then run 'susulan erm plan --confirm'")
    return ExitCode.OK


def cmd_decide(args: argparse.Namespace) -> int:
    from pipeline.erm import api
    from pipeline.store import Store

    _require_store(args.data_dir)
    with Store.open(args.data_dir) as store:
        if args.choice in api.ACTION_CHOICES:
            api.decide_action(store, args.record, args.choice, _user(args), args.note)
        else:
            api.decide_match(store, args.record, args.choice, _user(args), args.note)
    err(f"record {args.record}: {args.choice} (by {_user(args)}); run 'susulan erm plan' to see the effect")
    return ExitCode.OK


def cmd_export(args: argparse.Namespace) -> int:
    from pipeline.erm import plan as planning
    from pipeline.erm import profiles, settings
    from pipeline.erm.reasons import render
    from pipeline.export import erm_files, fhir
    from pipeline.export import rows as export_rows
    from pipeline.store import Store

    _require_store(args.data_dir)
    st = settings.load()
    out = Path(args.out)
    if args.format == "pcare":
        return _export_pcare(args, st, out)
    with Store.open(args.data_dir) as store:
        confirmed = planning.confirmed_rows(store)
        export_rows.audit_export(store, f"cli:{getpass.getuser()}", f"erm export {args.format}",
                                 len(confirmed.keep), args.format)
    for r, why in confirmed.refused:
        err(f"not exported: {r['visit_key']} (record {r['record_id']}): {render(why, {}, 'en')}")
    if args.format == "fhir":
        built = fhir.build(confirmed.data, st)
        for rid, why in built.invalid.items():
            err(f"not exported: record {rid}: invalid FHIR: {why}")
        fhir.write(built, out)
        n = len(built.entries)
    else:
        n = erm_files.write(confirmed.data, profiles.load(args.profile or st.profile), out, args.format)
    err(f"wrote {n} visit(s) to {out}")
    return ExitCode.OK if not confirmed.refused else ExitCode.PAGES_NEED_ATTENTION


def _export_pcare(args: argparse.Namespace, st: Settings, out: Path) -> int:
    from pipeline.erm import pcare
    from pipeline.export import rows as export_rows
    from pipeline.store import Store

    with Store.open(args.data_dir) as store:
        export = pcare.build(store, st, check_registered=not args.without_pcare_check)
        export_rows.audit_export(store, f"cli:{getpass.getuser()}", "erm export pcare", len(export.payloads),
                                 "pcare")
    csv = pcare.write(export, out, st)
    for line in export.registered:
        err(f"already in P-Care: {line}")
    for line in export.left_out:
        err(f"not exported: {line}")
    err(f"wrote {len(export.payloads)} P-Care pendaftaran payload(s) to {out} and the list to key in to {csv}; "
        f"{len(export.registered)} already registered in P-Care")
    return ExitCode.OK if not export.left_out else ExitCode.PAGES_NEED_ATTENTION


def _auth(args: argparse.Namespace, st: Settings) -> Auth:
    """No credentials, a static token (--token-file) or OAuth2 client credentials (a token URL)."""
    from pipeline.erm import auth

    if args.token_file:
        return auth.StaticToken(auth.read_token(args.token_file))
    token_url = args.token_url or st.token_url
    if not token_url:
        return auth.NoAuth()
    client_id = args.client_id or st.client_id
    if not client_id:
        raise BadInput("a token URL needs a client id: --client-id or satusehat.client_id in forms/erm/erm.yaml")
    return auth.ClientCredentials(token_url, client_id, auth.read_secret(args.client_secret_file, st.client_secret_env),
                                  refresh_s=st.token_refresh_seconds)


def cmd_push(args: argparse.Namespace) -> int:
    from pipeline.erm import push, settings
    from pipeline.store import Store

    _require_store(args.data_dir)
    st = settings.load()
    credentials = None if args.dry_run else _auth(args, st)
    with Store.open(args.data_dir) as store:
        report = push.push(store, args.fhir_url, st, target=args.target, auth=credentials,
                           dry_run=args.dry_run, out_dir=Path(args.out) if args.out else None,
                           batch_size=args.batch_size, retry_rejected=args.retry_rejected)
    err(report.text())
    return ExitCode.OK if report.dry_run or report.complete else ExitCode.PAGES_NEED_ATTENTION


def cmd_ledger(args: argparse.Namespace) -> int:
    from pipeline.erm import ledger
    from pipeline.store import Store

    _require_store(args.data_dir)
    with Store.open(args.data_dir) as store:
        rows = ledger.entries(store, args.fhir_url)
        counts = ledger.counts(store, args.fhir_url)
    if args.json:
        print(json.dumps({"counts": counts, "rows": rows}, indent=1, ensure_ascii=False))
        return ExitCode.OK
    for r in rows:
        print(f"{r['record_id']:>6}  {r['visit_key']:<24} {r['status']:<9} {r['encounter_ref']:<50} {r['message']}")
    print(", ".join(f"{k} {v}" for k, v in counts.items()))
    return ExitCode.OK


@register
def add(sub: argparse._SubParsersAction) -> None:
    """Register the ``erm`` command group."""
    p_erm = sub.add_parser("erm", help="match patients, plan, export and push reviewed records to the ERM")
    esub = p_erm.add_subparsers(dest="erm_command", required=True, metavar="SUBCOMMAND")

    for kind, what in (("patients", "the ERM's patient master"), ("visits", "visits the ERM already has")):
        p = esub.add_parser(f"load-{kind}", help=f"load {what} from a CSV/XLSX export (replaces the last load)")
        p.add_argument("file", help="CSV or XLSX file exported from the ERM")
        p.add_argument("--profile", default=None, help="ERM profile name or YAML path (default: forms/erm/erm.yaml)")
        p.add_argument("--user", default=None, help="who loads it (default: $SUSULAN_USER or login name)")
        p.add_argument("--skip-bad-rows", action="store_true",
                       help="load the good rows and list the bad ones (default: a file with bad rows loads nothing)")
        _add_data_dir(p)
        p.set_defaults(func=cmd_load, kind=kind)

    p = esub.add_parser("load-pcare", help="load P-Care's registrations by date (JSON, CSV or XLSX), so BPJS visits "
                                           "already registered are not exported again")
    p.add_argument("file", help="saved answers of P-Care's 'pendaftaran by tanggal', or a CSV/XLSX with card "
                                "number, date and poli")
    p.add_argument("--user", default=None, help="who loads it (default: $SUSULAN_USER or login name)")
    p.add_argument("--skip-bad-rows", action="store_true",
                   help="load the good rows and list the bad ones (default: a file with bad rows loads nothing)")
    _add_data_dir(p)
    p.set_defaults(func=cmd_load_pcare)

    p = esub.add_parser("plan", help="insert / skip / conflict for every reviewed record; --confirm saves it")
    p.add_argument("--confirm", action="store_true", help="confirm this plan: export and push use it")
    p.add_argument("--user", default=None, help="who confirms (default: $SUSULAN_USER or login name)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_data_dir(p)
    p.set_defaults(func=cmd_plan)

    p = esub.add_parser("decide", help="settle a record: its patient (candidate key or 'new') or insert/skip")
    p.add_argument("record", type=int, help="record id (first column of 'erm plan')")
    p.add_argument("choice", help="a candidate key such as rm:12345, 'new', 'insert' or 'skip'")
    p.add_argument("--user", default=None, help="who decides (default: $SUSULAN_USER or login name)")
    p.add_argument("--note", default="", help="why")
    _add_data_dir(p)
    p.set_defaults(func=cmd_decide)

    p = esub.add_parser("export", help="write the confirmed plan's inserts as CSV/XLSX (ERM profile), FHIR, or "
                                       "P-Care pendaftaran payloads")
    p.add_argument("--format", choices=("csv", "xlsx", "fhir", "pcare"), required=True,
                   help="pcare: JSON lines of pendaftaran payloads at --out, and a CSV to key in beside it")
    p.add_argument("--out", required=True, help="output file")
    p.add_argument("--without-pcare-check", action="store_true",
                   help="pcare: export every BPJS visit even though no P-Care registrations were loaded")
    p.add_argument("--profile", default=None, help="ERM profile for csv/xlsx (default: forms/erm/erm.yaml)")
    _add_data_dir(p)
    p.set_defaults(func=cmd_export)

    p = esub.add_parser("push", help="send the confirmed plan's inserts to a FHIR server, exactly once")
    p.add_argument("--fhir-url", required=True, help="FHIR base URL, e.g. https://api-satusehat.kemkes.go.id/fhir-r4/v1")
    p.add_argument("--target", choices=("fhir", "satusehat"), default="fhir",
                   help="satusehat: find patients by NIK, send finished Encounters only; fhir: Patients in the "
                        "Bundle (default)")
    p.add_argument("--token-file", default=None, help="file whose first line is a static bearer token")
    p.add_argument("--token-url", default=None,
                   help="OAuth2 token URL (client credentials; default: satusehat.token_url in erm.yaml)")
    p.add_argument("--client-id", default=None, help="OAuth2 client id (default: satusehat.client_id in erm.yaml)")
    p.add_argument("--client-secret-file", default=None,
                   help="file whose first line is the client secret (default: the variable named in erm.yaml, "
                        "$SUSULAN_CLIENT_SECRET)")
    p.add_argument("--dry-run", action="store_true", help="write the bundles only (to --out), send nothing")
    p.add_argument("--out", default=None, help="folder for --dry-run bundles (default: <data-dir>/erm-bundles)")
    p.add_argument("--batch-size", type=int, default=None, help="records per transaction (default: erm.yaml)")
    p.add_argument("--retry-rejected", action="store_true", help="send records the server rejected before again")
    _add_data_dir(p)
    p.set_defaults(func=cmd_push)

    p = esub.add_parser("ledger", help="what was sent where, accepted or rejected")
    p.add_argument("--fhir-url", default=None, help="only this server")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_data_dir(p)
    p.set_defaults(func=cmd_ledger)
