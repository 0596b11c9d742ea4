"""Capitals in comb boxes read as words: a letter model of Indonesian names weighs the cell candidates.

The model is a character trigram model of two word lists, mixed half and half per context:
the Kemendagri region names (``pipeline/data/wilayah.csv``: about 48,000 distinct words of
Indonesian, Javanese and Madurese place names, which share their syllables with people's
names and addresses) and 869 words of Indonesian person names (``pipeline/data/person-names.txt``,
from Faker's ``id_ID`` lists). It knows nothing of the names on the forms; it only makes
``SUHARTINI`` far likelier than ``SVHARTlNI``. An address field mixes in the words that
structure addresses (``DSN``, ``JL``, ``GG``, ...: :func:`for_address`).

A field's reading is the most probable character sequence over the cells' candidates,
``P(seq) ∝ LM(seq) · Π q_i(c_i) / prior(c_i)`` (``q_i`` the classifier's calibrated
probabilities, ``prior`` its training class balance), found exactly by dynamic
programming over the lattice; its confidence is that sequence's share of the total
probability of all sequences (forward algorithm).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np

from pipeline import regions

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
END = "_"
START = "^"
LAMBDAS = (0.6, 0.3, 0.09, 0.01)
"""Interpolation weights of trigram, bigram, unigram and uniform letter probabilities."""
WEIGHT = 0.8
"""Exponent of the letter model against the classifier (1 = plain Bayes). Chosen on real pen-written capitals
of the CALIB site (800 names of Indonesian words not in the benchmark's lists): whole names right 29.4 % by
best cell alone, 43.8 % at 0.6 (the weight once chosen on handwriting fonts), 46.8 % at 0.8, 47.1 % at 1.0,
46.0 % at 1.3; character errors lowest at 0.8 (5.72 %). Below plain Bayes so that a cell read surely is kept
even where place names make it unusual (addresses are not names)."""
LEXICON_SHARE = 0.5
"""Weight of a run-time lexicon's letter model against the shipped one (:func:`with_lexicon`)."""
NAMES_SHARE = 0.5
"""Weight of the person-name words against the region words in the shipped letter model. Chosen on real
pen-written capitals of the CALIB site (800 name fields of Faker words of one half of its lists, the model
built from the other half): whole names right 46.8 % -> 49.0 %, character errors 5.72 % -> 5.29 %."""
ADDRESS_SHARE = 0.3
"""Weight of the address words (``pipeline/data/address-words.txt``: DSN, DUSUN, JL, GG, PERUM, ...) in the letter
model of an address field (:func:`for_address`). Chosen on real pen-written capitals of the CALIB site (1,500
addresses of 2,250 calib pages): whole addresses right 77.9 % without them, 81.5 % at 0.1, 82.5 % at 0.2, 83.3 % at
0.3 and at 0.5; character errors 2.41 % -> 1.80 %."""
BLANK_PRIOR = 0.15
"""Share of empty cells in the classifier's training data (``susulan_tools.train.random_spec``)."""


SYMBOLS = START + LETTERS + END
"""Context symbols; the next symbol is a letter or END."""
TABLE_PATH = Path(__file__).resolve().parent / "models" / "spelling.npz"
NAMES_PATH = Path(__file__).resolve().parents[1] / "data" / "person-names.txt"
ADDRESS_PATH = NAMES_PATH.with_name("address-words.txt")


def region_words() -> set[str]:
    """Distinct words of the Kemendagri region names."""
    words: set[str] = set()
    for name in regions.codes().values():
        words.update(re.findall(r"[A-Z]+", name.upper()))
    return words


def person_words() -> list[str]:
    """Words of Indonesian person names (``pipeline/data/person-names.txt``; ``#`` lines are its header)."""
    return _words(NAMES_PATH)


def address_words() -> list[str]:
    """Words and abbreviations of Indonesian addresses (``pipeline/data/address-words.txt``)."""
    return _words(ADDRESS_PATH)


def _words(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [w.strip() for w in lines if w.strip() and not w.startswith("#")]


def build_table(lexicon: Iterable[str] | None = None) -> np.ndarray:
    """``log P(next | two previous)`` as ``(len(SYMBOLS), len(SYMBOLS), 27)`` float32.

    Without ``lexicon``, the shipped model: the region words and the person-name words, each
    distinct word counted once (common words should not dominate), mixed with
    :data:`NAMES_SHARE`. With it, from the words of those texts, each as often as it occurs
    (a clinic's frequent names should weigh more). Trigram, bigram, unigram and uniform
    estimates are interpolated with :data:`LAMBDAS`.
    """
    if lexicon is None:
        return _mix(_log_p(person_words()), _log_p(region_words()), NAMES_SHARE)
    return _log_p([w for text in lexicon for w in re.findall(r"[A-Z]+", text.upper())])


def _mix(a: np.ndarray, b: np.ndarray, share: float) -> np.ndarray:
    """``share * P_a + (1 - share) * P_b`` per context, as log probabilities."""
    return np.log(share * np.exp(a.astype(np.float64)) + (1 - share) * np.exp(b.astype(np.float64))).astype(
        np.float32)


def _log_p(words: Iterable[str]) -> np.ndarray:
    n = len(SYMBOLS)
    index = {c: i for i, c in enumerate(SYMBOLS)}
    tri = np.zeros((n, n, n), np.float64)
    for word in words:
        s = [index[c] for c in START * 2 + word + END]
        np.add.at(tri, (s[:-2], s[1:-1], s[2:]), 1)
    tri = tri[:, :, 1:]  # next symbol is never START
    bi = tri.sum(axis=0)
    uni = bi.sum(axis=0)

    def share(counts: np.ndarray) -> np.ndarray:
        total = counts.sum(axis=-1, keepdims=True)
        return np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)

    p = LAMBDAS[3] / tri.shape[-1] + LAMBDAS[2] * share(uni)[None, None, :] \
        + LAMBDAS[1] * share(bi)[None, :, :] + LAMBDAS[0] * share(tri)
    return np.log(p).astype(np.float32)


def with_lexicon(lexicon: Iterable[str], share: float = LEXICON_SHARE) -> np.ndarray:
    """The letter model mixed with one built from a run-time ``lexicon`` (e.g. a clinic's patient names).

    ``P = share * P_lexicon + (1 - share) * P_shipped`` per context; same shape as :func:`build_table`,
    to pass as ``table`` to :func:`decode`.
    """
    return _mix(build_table(list(lexicon)), _table(), share)


def for_address(table: np.ndarray | None = None) -> np.ndarray:
    """The letter model of an address field: :data:`ADDRESS_SHARE` of the address words mixed into ``table``.

    ``table``: the letter model in use (default: the shipped one; a clinic's adaptation brings its own).
    """
    return _shipped_address() if table is None else _mix(_address_log_p(), table, ADDRESS_SHARE)


@lru_cache(maxsize=1)
def _address_log_p() -> np.ndarray:
    return _log_p(address_words())


@lru_cache(maxsize=1)
def _shipped_address() -> np.ndarray:
    return _mix(_address_log_p(), _table(), ADDRESS_SHARE)


@lru_cache(maxsize=1)
def _table() -> np.ndarray:
    if not TABLE_PATH.exists():
        raise FileNotFoundError(f"{TABLE_PATH} is missing: run `python -m pipeline.recognize.spelling`")
    with np.load(TABLE_PATH) as z:
        return z["log_p"]


_IN = {c: i for i, c in enumerate(SYMBOLS)}
_OUT = {c: i - 1 for i, c in enumerate(SYMBOLS) if c != START}


def log_p(context: str, ch: str, table: np.ndarray | None = None) -> float:
    """``log P(ch | two previous symbols)``; ``ch`` is a letter or :data:`END` (``table``: default the shipped one)."""
    return float((_table() if table is None else table)[_IN[context[0]], _IN[context[1]], _OUT[ch]])


def word_log_p(word: str) -> float:
    """Letter-model log probability of one word (end mark included)."""
    ctx, total = START * 2, 0.0
    for ch in word + END:
        total += log_p(ctx, ch)
        ctx = ctx[1] + ch
    return total


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    if top == -math.inf:
        return top
    return top + math.log(sum(math.exp(v - top) for v in values))


def decode(cells: list[list[tuple[str, float]]], weight: float = WEIGHT, table: np.ndarray | None = None
           ) -> tuple[list[str], float]:
    """Most probable characters (``" "`` = empty cell) of a letters field and their posterior probability.

    ``cells`` holds each cell's candidates ``(char, probability)``. State = the last two
    symbols of the current word (``"^^"`` between words); an empty cell ends a word (the
    letter model's end mark), further empty cells cost nothing. ``table``: the letter model
    (default: the shipped one, see :func:`with_lexicon`).
    """
    return best_readings(cells, 1, weight, table)[0]


def best_readings(cells: list[list[tuple[str, float]]], k: int, weight: float = WEIGHT,
                  table: np.ndarray | None = None) -> list[tuple[list[str], float]]:
    """The ``k`` most probable character sequences of a letters field, best first, with their posteriors.

    As :func:`decode` (which is this with ``k = 1``): exact, by keeping the ``k`` best paths
    into every state (list Viterbi); each posterior is the path's share of the total
    probability of all sequences (forward algorithm). Fewer than ``k`` when fewer exist.
    """
    finals, z = _lattice(cells, k, weight, table)
    if finals is None:
        return [([c[0][0] for c in cells], 0.0)]
    return [(path, math.exp(score - z)) for score, path in sorted(finals, key=lambda t: -t[0])[:k]]


def log_mass(cells: list[list[tuple[str, float]]], weight: float = 1.0, table: np.ndarray | None = None) -> float:
    """``log Σ_seq LM(seq)^weight · Π q_i(c_i) / prior(c_i)`` over every character sequence of the cells.

    At ``weight`` 1 this is the cells' evidence for "some word of the language" against the
    classifier's class balance, on the same scale as ``Π q_i(c_i) / prior(c_i)`` of one given
    spelling: what a closed list's candidates compete with.
    """
    return _lattice(cells, 0, weight, table)[1]


def class_prior(ch: str) -> float:
    """The classifier's training share of a character (``" "`` = empty cell): what its probabilities are divided by."""
    return BLANK_PRIOR if ch == " " else (1 - BLANK_PRIOR) / len(LETTERS)


def _lattice(cells: list[list[tuple[str, float]]], k: int, weight: float, table: np.ndarray | None
             ) -> tuple[list[tuple[float, list[str]]] | None, float]:
    """The ``k`` best complete paths per final state (log score, chars) and the forward log mass of all paths.

    State = the last two symbols of the current word (``"^^"`` between words); an empty cell
    ends a word (the letter model's end mark), further empty cells cost nothing. ``None``
    paths (and mass -inf) when no cell has a usable candidate.
    """
    # state -> (its k best (log score, chars) best first, forward log mass)
    states: dict[str, tuple[list[tuple[float, list[str]]], float]] = {START * 2: ([(0.0, [])], 0.0)}
    for cand in cells:
        nxt: dict[str, tuple[list[tuple[float, list[str]]], list[float]]] = {}
        for ch, q in cand:
            if q <= 0 or ch not in LETTERS and ch != " ":
                continue
            emit = math.log(q / class_prior(ch))
            for ctx, (paths, mass) in states.items():
                if ch == " ":
                    lm, new = (0.0 if ctx == START * 2 else weight * log_p(ctx, END, table)), START * 2
                else:
                    lm, new = weight * log_p(ctx, ch, table), ctx[1] + ch
                into = nxt.setdefault(new, ([], []))
                into[0].extend((score + emit + lm, path + [ch]) for score, path in paths)
                into[1].append(mass + emit + lm)
        # a stable sort keeps, among equal scores, the path met first
        states = {c: (sorted(p, key=lambda t: -t[0])[:k], _logsumexp(m)) for c, (p, m) in nxt.items()}
        if not states:
            return None, -math.inf
    finals: list[tuple[float, list[str]]] = []
    masses = []
    for ctx, (paths, mass) in states.items():
        end = 0.0 if ctx == START * 2 else weight * log_p(ctx, END, table)
        finals += [(score + end, path) for score, path in paths]
        masses.append(mass + end)
    return finals, _logsumexp(masses)


if __name__ == "__main__":
    np.savez_compressed(TABLE_PATH, log_p=build_table())
    print(f"wrote {TABLE_PATH}")
