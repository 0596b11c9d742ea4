"""Command ``learn``: adapt the reader to this clinic's hands; list and roll back adaptations."""

from __future__ import annotations

import argparse

from pipeline.cli import _add_data_dir, register
from pipeline.errors import ExitCode


def cmd_learn(args: argparse.Namespace) -> int:
    from pipeline import reread
    from pipeline.learn import hands
    from pipeline.store import Store
    from pipeline.store import learning as repo

    with Store.open(args.data_dir) as store:
        if args.list:
            print(listing(repo.adaptations(store), repo.values_by_model(store)))
        elif args.rollback or args.to is not None:
            now = hands.rollback(store, args.user, args.to)
            print(f"Reading now uses {now or 'the shipped model (no adaptation)'}; values a person checked, "
                  "and those of records already approved, keep the model that read them.")
            print(reread.reread(store, args.jobs).text())
        elif args.if_due:
            due, again = reread.learn_if_due(store, args.jobs)
            if due is None:
                print("Nothing to do: too few values reviewed since the last learning run and no new patient "
                      "master, or another run is learning now.")
            else:
                print(due.text())
                if again is not None:
                    print(again.text())
        else:
            with hands.one_at_a_time(store) as mine:
                if not mine:
                    print("Another learning run is working on this data dir now; run this again when it is done.")
                    return ExitCode.SYSTEM
                report = hands.learn(store, args.user)
            print(report.text())
            if report.adopted:
                print(reread.reread(store, args.jobs).text())
    return ExitCode.OK


def listing(rows: list[dict], by_model: list[dict]) -> str:
    """Adaptations newest first, and how many values each reader version read."""
    if not rows:
        lines = ["No adaptation yet: reading uses the shipped model. Run 'susulan learn' after some review."]
    else:
        lines = ["id  version     state      made                       held-back wrong (in use -> new)  note"]
        for r in rows:
            rep = r["report"]
            cur, new = rep.get("current"), rep.get("candidate")
            judged = f"{cur['wrong']}/{cur['values']} -> {new['wrong']}/{new['values']}" if cur and new else "-"
            note = "" if rep.get("adopted") else rep.get("reason", "")
            if rep.get("lexicon_only") and rep.get("adopted"):
                note = "letter model only: the patient master's names as lexicon (classifier heads kept)"
            if r["state"] == "candidate":
                note = "not finished (interrupted, or still learning)"
            lines.append(f"{r['id']:<3} {r['version']:<11} {r['state']:<10} {r['created_at'][:19]:<26} "
                         f"{judged:<32} {note}")
    lines.append("")
    names = [f"{m['model'] or '(not recorded)'} ({m['adaptation'] or 'shipped'}): {m['n']}" for m in by_model]
    lines.append("Values read per model: " + (", ".join(names) or "none yet"))
    return "\n".join(lines)


@register
def add(sub: argparse._SubParsersAction) -> None:
    """Register ``learn``."""
    p = sub.add_parser("learn", help="adapt the reader to this clinic's handwriting from reviewed values",
                       description="Learn from every value reviewers confirmed or corrected. A new adaptation "
                       "is used only if it reads the reviewed values of held-back pages better than the one in "
                       "use. Ingest also learns by itself after enough new reviewed values. Pages still under "
                       "review are then read again with the model in use (never a value a person checked).")
    _add_data_dir(p)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--list", action="store_true", help="list adaptations and the values each model read")
    group.add_argument("--rollback", action="store_true",
                       help="stop using the active adaptation: back to the one before it (or the shipped model)")
    group.add_argument("--to", type=int, default=None, metavar="ID",
                       help="use adaptation ID again (one that was in use before)")
    group.add_argument("--if-due", action="store_true",
                       help="learn only if enough values were reviewed since the last run and no other run is "
                       "learning (what ingest and the review app do by themselves)")
    p.add_argument("--user", default="susulan", help="name recorded in the audit log (default: susulan)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes for re-reading (default: all cores)")
    p.set_defaults(func=cmd_learn)
