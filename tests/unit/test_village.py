"""A village field decided against the official desa list (posterior over the names around the Puskesmas)."""

from __future__ import annotations

from pipeline import accept
from pipeline.accept import Policy
from pipeline.models import Reading
from pipeline.recognize import boxed, village
from pipeline.recognize.icr import CellReading

BLUTO = "35.29.05"
POLICY = Policy({"letters": accept.NEVER, "lexicon": 0.99})
CELLS = 20


def written(text: str, sure: float = 0.97, unsure: dict[int, tuple[tuple[str, float], ...]] | None = None
            ) -> list[CellReading]:
    """Comb cells holding ``text`` left-aligned, each read at ``sure`` unless ``unsure`` says otherwise."""
    out = []
    for i, ch in enumerate(text.ljust(CELLS)):
        if unsure and i in unsure:
            topk = unsure[i]
        elif ch == " ":
            topk = ((" ", 0.995), ("I", 0.005))
        else:
            topk = ((ch, sure), ("I" if ch != "I" else "L", (1 - sure) * 0.7), (" ", (1 - sure) * 0.3))
        out.append(CellReading(topk, dict(topk).get(" ", 0.0)))
    return out


def read(cells: list[CellReading]) -> Reading:
    first = boxed.spelling.best_readings([list(c.topk) for c in cells], 1)[0]
    r = Reading("village", None, "letters", boxed.compose("letters", first[0]), round(first[1], 4), "review")
    return village.read(r, cells, BLUTO, POLICY)


def test_a_desa_of_the_kecamatan_written_plainly_is_auto_with_or_without_spaces():
    for text in ("AENG BAJA RAJA", "AENGBAJARAJA"):
        r = read(written(text))
        assert (r.value, r.status) == ("AENG BAJA RAJA", "auto") and r.confidence >= 0.99
        assert r.detail["read"] == text


def test_a_misread_letter_is_set_right_by_the_list():
    r = read(written("SERA BARAT", unsure={8: (("E", 0.55), ("A", 0.40), (" ", 0.05))}))  # SERA BARET
    assert (r.value, r.status) == ("SERA BARAT", "auto")
    assert len(r.topk) == 1 + village.ALTERNATIVES and "SERA BARAT" not in [v for v, _ in r.topk[1:]]


def test_two_desa_the_cells_cannot_tell_apart_stay_for_review():
    either = {i: ((a, 0.5), (b, 0.5)) for i, (a, b) in enumerate(zip("BARAT", "TIMUR"), start=5)}
    r = read(written("SERA BARAT", unsure=either))
    assert r.value in ("SERA BARAT", "SERA TIMUR") and r.status == "review" and r.confidence <= 0.5
    assert {r.value, r.topk[1][0]} == {"SERA BARAT", "SERA TIMUR"}
    unclear = read(written("AENG BAJA RAJA", unsure={10: (("R", 0.5), ("K", 0.5))}))  # no desa AENG BAJA KAJA
    assert (unclear.value, unclear.status) == ("AENG BAJA RAJA", "auto")


def test_a_desa_elsewhere_in_the_province_is_read_as_itself_not_pulled_to_a_local_one():
    r = read(written("DABUAN"))  # Kecamatan Tlanakan, Kabupaten Pamekasan
    assert r.value == "DABUAN" and r.confidence > 0.9


def test_a_name_that_is_no_desa_stays_as_written_for_review_with_desa_names_offered():
    r = read(written("KAMPUNG DURIAN", sure=0.999))
    assert (r.value, r.status) == ("KAMPUNG DURIAN", "review")
    assert r.detail["village_p"] < 0.5 and len(r.topk) == 1 + village.ALTERNATIVES


def test_an_empty_field_is_left_alone():
    r = Reading("village", None, "letters", "", 0.95, "auto")
    assert village.read(r, written(""), BLUTO, POLICY) is r
