"""The letter model with a run-time lexicon: a clinic's confirmed names tip unsure letters their way."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline import forms
from pipeline.learn.adapter import Adaptation
from pipeline.recognize import boxed, icr, spelling
from pipeline.recognize.icr import CellReading


def cell(*cands: tuple[str, float]) -> CellReading:
    return CellReading(tuple(cands), dict(cands).get(" ", 0.0))


def sure(ch: str) -> CellReading:
    return cell((ch, 0.98), (" ", 0.02))


def name_cells() -> list[CellReading]:
    """``ABx SAFxTRI`` where the third and eighth letters are unsure between a common and a rare spelling."""
    return [sure("A"), sure("B"), cell(("O", 0.5), ("D", 0.45), (" ", 0.05)), sure(" "),
            sure("S"), sure("A"), sure("F"), cell(("H", 0.55), ("I", 0.4), (" ", 0.05)), sure("T"), sure("R"),
            sure("I")] + [cell((" ", 0.99), ("I", 0.01))] * 9


def test_lexicon_tips_unsure_letters_towards_the_clinics_names() -> None:
    field = next(f for f in forms.load("antrean").fields if f.name == "name")
    plain = boxed.reading(field, name_cells())
    table = spelling.with_lexicon(["ABD SAFITRI", "ABD AZIZ", "SITI SAFITRI", "ABD RAHMAN"])
    clinic = boxed.reading(field, name_cells(), letters=table)
    assert plain.value != "ABD SAFITRI"
    assert clinic.value == "ABD SAFITRI" and clinic.confidence > plain.confidence


def test_lexicon_is_mixed_into_the_letter_model_half_and_half() -> None:
    table = spelling.with_lexicon(["SITI AMINAH", "SITI"])
    base, lexicon = np.exp(spelling._table()), np.exp(spelling.build_table(["SITI AMINAH", "SITI"]))
    assert table.shape == base.shape
    assert np.allclose(np.exp(table), 0.5 * lexicon + 0.5 * base, rtol=1e-4)
    start = np.exp(table)[0, 0]  # after two start marks: a proper distribution over the first letter
    assert abs(start.sum() - 1) < 1e-4 and start.argmax() == "ABCDEFGHIJKLMNOPQRSTUVWXYZ".index("S")


def test_adaptation_file_carries_the_letter_model_to_the_reader(tmp_path: Path) -> None:
    table = spelling.with_lexicon(["ABD SAFITRI"])
    path = tmp_path / "adapt-0001.npz"
    Adaptation("adapt-0001", icr.model_version(), {}, table, 1).save(path)
    assert np.array_equal(icr.letter_model(path), table) and icr.letter_model() is None
    back = Adaptation.load(path)
    assert back.lexicon_words == 1 and np.array_equal(back.letter_model, table)
