"""What the review screens ask of the store, sheet by sheet, and what the component is sent."""

from __future__ import annotations

import json

from conftest import Factory, queue_row

from pipeline.store import review as rv
from pipeline.store import sheets
from review_app import logic, screen
from review_app.common import FieldMeta


def metas(form_id: str) -> dict[str, FieldMeta]:
    from pipeline import forms

    form = forms.load(form_id)
    out: dict[str, FieldMeta] = {}
    for f in form.fields:
        out.setdefault(f.name, FieldMeta(f.label or f.name, f.kind, {o.value: o.label for o in f.options}, f.role))
    return out


def test_queue_is_by_sheet_worst_first(factory: Factory) -> None:
    clean = factory.store.record(factory.pendaftaran())["page_id"]
    one = factory.store.record(factory.pendaftaran(unsure={"name": ("SITI AMlNAH", 0.6)}))["page_id"]
    broken = factory.store.record(factory.pendaftaran(unsure={"sex": ("L", 0.4)}))["page_id"]
    rows = factory.antrean([queue_row(), queue_row(queue_no="002"), queue_row(queue_no="003")],
                           unsure={(0, "name"): ("MOH H0LILI", 0.5), (2, "rm_no"): ("00012845", 0.5)})
    sheet = factory.store.record(rows[0])["page_id"]
    items = sheets.queue(factory.store)
    assert [i.page_id for i in items] == [broken, sheet, one, clean]
    assert (items[1].records, items[1].n_look, items[0].n_blocking) == (3, 2, 1)
    assert [i.page_id for i in sheets.queue(factory.store, form_id="antrean")] == [sheet]
    rv.approve(factory.store, factory.store.records_of_page(clean)[0], "ani")
    assert not sheets.sheet_in(factory.store, clean, ("review",))
    assert [i.page_id for i in sheets.queue(factory.store, ("approved",))] == [clean]


def test_approving_a_sheet_saves_confirms_and_approves_every_row(factory: Factory) -> None:
    store = factory.store
    rows = factory.antrean([queue_row(name="SITI ROMLAH"), queue_row(queue_no="002")],
                           unsure={(0, "name"): ("SITI R0MLAH", 0.5), (None, "visit_date"): ("2026-01-05", 0.4),
                                   (1, "payment"): ("bpjs", 0.3)})
    sh = sheets.sheet(store, store.record(rows[0])["page_id"])
    look = {f["name"] if f["record_no"] in (0, None) else f"{f['name']}#{f['record_no']}": f
            for f in sh["fields"] if f["look"]}
    assert sorted(look) == ["name", "payment#1", "visit_date"]
    fields = {f["id"]: {**f, "options": {"bpjs", "umum", ""}} for f in sh["fields"]}
    changes, errors = logic.plan_action(
        fields, {look["name"]["id"]: {"v": look["name"]["version"], "value": "siti romlah"}},
        {f["id"]: f["version"] for f in look.values()}, confirm=True)
    assert not errors and len(changes) == 3
    out = sheets.act(store, "approve", changes, {r["id"]: r["version"] for r in sh["records"]}, "ani")
    assert out.ok and sorted(out.done) == sorted(rows)
    assert [store.record(r)["state"] for r in rows] == ["approved", "approved"]
    final = {(f["name"], f["record_no"]): (f["final_value"], f["status"]) for f in sheets.sheet(
        store, sh["page"]["id"])["fields"]}
    assert final[("name", 0)] == ("SITI ROMLAH", "corrected")
    assert final[("visit_date", None)] == ("2026-01-05", "confirmed")
    assert final[("payment", 1)] == ("bpjs", "confirmed")
    assert final[("name", 1)][1] == "auto"  # seen at a glance, approved with the record, not confirmed one by one


def test_sheet_action_refused_whole_when_someone_was_first(factory: Factory) -> None:
    store = factory.store
    rid = factory.pendaftaran(unsure={"name": ("SITI AMlNAH", 0.6)})
    sh = sheets.sheet(store, store.record(rid)["page_id"])
    name = next(f for f in sh["fields"] if f["name"] == "name")
    rv.apply_changes(store, [rv.Change(name["id"], name["version"], "SITI AMINAH")], "budi")
    out = sheets.act(store, "approve", [rv.Change(name["id"], name["version"], "SITI AMINA")],
                     {rid: sh["records"][0]["version"]}, "ani")
    assert out.conflicts[0].current["by"] == "budi" and not out.done
    assert store.record(rid)["state"] == "review"
    # approving from a stale view of the record is refused as well
    stale = sheets.act(store, "approve", [], {rid: sh["records"][0]["version"]}, "ani")
    assert stale.stale == [rid] and store.record(rid)["state"] == "review"


def test_sheet_blocked_then_flagged_with_a_note(factory: Factory) -> None:
    store = factory.store
    rid = factory.pendaftaran(unsure={"sex": ("L", 0.4)})
    version = store.record(rid)["version"]
    out = sheets.act(store, "approve", [], {rid: version}, "ani")
    assert list(out.blocked) == [rid] and out.blocked[rid][0].field == "nik"
    flagged = sheets.act(store, "flag", [], {rid: version}, "ani", "KTP tidak terbaca")
    assert flagged.done == [rid]
    assert (store.record(rid)["state"], store.record(rid)["flagged"]) == ("flagged", "KTP tidak terbaca")
    assert sheets.reopen(store, store.record(rid)["page_id"], "budi") == 1
    assert store.record(rid)["state"] == "review"


def test_values_to_check_and_fields_now(factory: Factory) -> None:
    store = factory.store
    factory.pendaftaran()
    rid = factory.pendaftaran(unsure={"name": ("SITI AMlNAH", 0.6)}, visit_date="2020-01-01")
    names = sorted(v["name"] for v in sheets.values_to_check(store))
    assert names == ["name", "visit_date"]  # unsure, and named by a rule (visit long ago)
    assert len(sheets.values_to_check(store, everything=True)) == 2 * 18
    ids = [v["id"] for v in sheets.values_to_check(store)]
    now = sheets.fields_now(store, ids)
    assert all(n["is_open"] for n in now.values())
    rv.approve(store, rid, "ani")
    assert not any(n["is_open"] for n in sheets.fields_now(store, ids).values())


def test_screen_draws_the_paper_in_order_with_whole_snippets(factory: Factory) -> None:
    store = factory.store
    rid = factory.pendaftaran(unsure={"nik": ("3529054708850008", 0.6), "sex": ("L", 0.4)})
    sh = sheets.sheet(store, store.record(rid)["page_id"])
    pngs = sheets.page_crops(store, sh["page"]["id"])
    view = screen.sheet(sh, metas("pendaftaran"), pngs, {k: "data:x" for k in pngs}, title="Formulir",
                        rows_per_page=1)
    cells = view["cells"]
    assert [c["name"] for c in cells][:6] == ["visit_date", "queue_no", "arrival_time", "visit_type", "rm_no", "nik"]
    assert cells[0]["line"] == cells[1]["line"] != cells[4]["line"]  # printed side by side on the paper
    asked = [c for c in cells if c["ask"]]
    assert [(c["name"], c["n"]) for c in asked] == [("nik", 1), ("sex", 2)]
    assert next(c for c in asked if c["name"] == "nik")["issues"][0]["b"]  # the NIK/sex rule, beside the field
    nik = asked[0]
    w, h = screen.png_size(pngs[nik["id"]])
    cell_px = json.loads(next(f for f in sh["fields"] if f["name"] == "nik")["cells"])[0][3]
    assert round(cell_px * nik["h"] / h) == screen.CELL_PX["digits"]  # a cell 37 px tall, the snippet whole
    assert abs(nik["w"] / w - nik["h"] / h) < 0.02 and len(nik["strip"]["x"]) == 16
    assert nik["alts"] == ["3529054708850003"]  # Alt+1 takes the other reading
    assert view["records"] == {str(rid): store.record(rid)["version"]} and view["blocking"] == 1


def test_screen_draws_a_queue_sheet_as_a_table(factory: Factory) -> None:
    store = factory.store
    rows = factory.antrean([queue_row(), queue_row(queue_no="002")], unsure={(1, "name"): ("MOH H0LILI", 0.5)})
    rv.approve(store, rows[0], "ani")
    sh = sheets.sheet(store, store.record(rows[0])["page_id"])
    view = screen.sheet(sh, metas("antrean"), {}, {}, title="Lembar", rows_per_page=15)
    assert view["layout"] == "table" and [c["name"] for c in view["shared"]] == ["visit_date"]
    assert [r["open"] for r in view["rows"]] == [False, True]
    assert view["rows"][0]["cells"]["name"]["locked"] and view["rows"][1]["cells"]["name"]["ask"]
    assert view["records"] == {str(rows[1]): store.record(rows[1])["version"]}
    assert [c["name"] for c in view["columns"]][:3] == ["queue_no", "arrival_time", "name"]


def test_grid_rows_are_all_to_check_with_their_sheet(factory: Factory) -> None:
    factory.antrean([queue_row(name="SITI ROMLAH"), queue_row(queue_no="002", name="MOH ALI")],
                    unsure={(0, "name"): ("SITI R0MLAH", 0.5), (1, "name"): ("MOH ALI", 0.7)})
    rows = sheets.column(factory.store, "antrean", "name")
    assert [r["final_value"] for r in rows] == ["SITI R0MLAH", "MOH ALI"]
    view = screen.column(rows, metas("antrean")["name"], {}, {}, row_label=lambda r: f"{r['page_key']} baris "
                         f"{r['record_no'] + 1}")
    assert all(c["ask"] for c in view["cells"]) and view["cells"][1]["label"].endswith("baris 2")
    assert {n["name"]: n["n_look"] for n in sheets.field_names(factory.store, "antrean")}["name"] == 2


def test_the_birth_date_in_the_nik_is_offered_first(factory: Factory) -> None:
    store = factory.store
    rid = factory.pendaftaran(unsure={"birth_date": ("1985-08-01", 0.5)})  # the NIK says 07-08-1985
    sh = sheets.sheet(store, store.record(rid)["page_id"])
    view = screen.sheet(sh, metas("pendaftaran"), {}, {}, title="Formulir", rows_per_page=1)
    birth = next(c for c in view["cells"] if c["name"] == "birth_date")
    assert birth["alts"][0] == "07-08-1985" and birth["ask"]


def test_a_row_that_is_no_patient_is_void_not_approved_nor_exported_and_can_come_back(factory: Factory) -> None:
    from pipeline.export import rows as export_rows

    store = factory.store
    rows = factory.antrean([queue_row(name="SITI ROMLAH"), queue_row(queue_no="002", name="XXXXXXX")],
                           unsure={(1, "name"): ("XXXXXXX", 0.3)})
    page = store.record(rows[0])["page_id"]
    sh = sheets.sheet(store, page)
    crossed = next(f for f in sh["fields"] if f["name"] == "name" and f["record_no"] == 1)
    seen = {r["id"]: r["version"] for r in sh["records"]}
    out = sheets.act(store, "approve", [], seen, "ani", void={rows[1]})
    assert out.ok and out.done == [rows[0]] and out.void == [rows[1]]
    assert [store.record(r)["state"] for r in rows] == ["approved", "void"]
    after = {f["id"]: f for f in sheets.sheet(store, page)["fields"]}
    assert (after[crossed["id"]]["status"], after[crossed["id"]]["final_value"]) == ("review", "XXXXXXX")  # untouched
    assert [h["new"] for h in store.history(rows[1]) if h["action"] == "state"] == ["void"]
    assert [r["record"] for r in export_rows.rows(store)] == [0]
    assert [r["record"] for r in export_rows.rows(store, "reviewed")] == [0]
    totals = rv.totals(store)
    assert (totals["records"], totals["void"], totals["open"]) == (1, 1, 0)
    assert [i.page_id for i in sheets.queue(store, sheets.STATE_GROUPS["void"])] == [page]
    drawn = screen.sheet(sheets.sheet(store, page), metas("antrean"), {}, {}, title="t", rows_per_page=15)
    assert drawn["locked"] and drawn["state"] == "1 dari 1 baris disetujui, 1 bukan pasien"
    assert sheets.reopen(store, page, "ani") == 2
    assert [store.record(r)["state"] for r in rows] == ["review", "review"]


def test_voiding_a_row_someone_changed_meanwhile_is_refused(factory: Factory) -> None:
    store = factory.store
    rid = factory.pendaftaran()
    sh = sheets.sheet(store, store.record(rid)["page_id"])
    seen = {rid: sh["records"][0]["version"]}
    rv.flag(store, rid, "budi", "cek")
    out = sheets.act(store, "save", [], seen, "ani", void={rid})
    assert out.stale == [rid] and not out.void
    assert store.record(rid)["state"] == "flagged"


def test_the_screen_names_the_row_that_looks_crossed_out(factory: Factory) -> None:
    from pipeline.models import STRUCK_RULE, Issue

    store = factory.store
    rows = factory.antrean([queue_row(), queue_row(queue_no="002")])
    store.replace_issues(rows[1], [Issue("", STRUCK_RULE, "Baris 2 tampak dicoret.", False)])
    rv.revalidate(store, rows[1])  # the issue outlives re-validation
    drawn = screen.sheet(sheets.sheet(store, store.record(rows[0])["page_id"]), metas("antrean"), {}, {},
                         title="t", rows_per_page=15)
    assert drawn["struck"] == [rows[1]] and drawn["record_issues"] == ["Baris 2 tampak dicoret."]
