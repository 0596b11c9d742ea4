"""Boxed handwriting: one comb cell crop -> top-k characters with calibrated probabilities.

Input contract (from the pipeline): each cell is a grey uint8 image at 8 px per mm
(255 = paper, dark = ink), cut as the cell rectangle expanded by 1 mm on every side,
so the cell's own grey border lines lie about 8 px in from each edge (+-6 px of
alignment error). A small CNN (weights in ``models/icr.npz``, trained by
`python -m susulan_tools.train`) runs in plain numpy: no torch at run time.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

MODEL_PATH = Path(__file__).resolve().parent / "models" / "icr.npz"
SIZE = 28
"""Side of the square network input, px."""
GLYPH_BOX = (26, 20)
"""(height, width) px that the cell interior is scaled to inside the network input."""
MARGIN_PX = 8
"""Nominal distance from the crop edge to the cell border line (1 mm at 8 px/mm)."""
ALPHABETS = {"digits": "0123456789", "letters": "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
BLANK = " "
LETTER_MODEL = "letter_model"
"""Key of an optional letter model (``spelling`` table) inside a classifier file."""
LAYERS = ((32, 1, True), (64, 2, False), (128, 2, False))
"""3x3 conv blocks as (output channels, stride, 2x2 max-pool after): 28 -> 14 -> 7 -> 4 px."""
FEATURE_SIDE = 4
HIDDEN = 256
_LINE_INK = 0.3
_LINE_FRAC = 0.6
_MIN_CONTRAST = 60.0
_MAX_SHIFT = 3.0
"""Largest centre-of-mass shift, network-input px: recentres handwriting, not line remnants."""
EMPTY_INK = 0.35
"""Share of full ink contrast below which a pixel is paper noise (see :func:`_sure_empty`)."""
EMPTY_BLANK = 0.9995
"""P(empty) given to a cell without any ink pixel."""
_WORK = threading.local()


@dataclass(frozen=True)
class CellReading:
    """Reading of one cell: candidates best first (``" "`` = empty) and P(empty)."""

    topk: tuple[tuple[str, float], ...]
    blank: float
    ink: bool = True
    """Whether the cell holds a pixel of ink at all (``False``: empty beyond doubt, see :func:`_sure_empty`)."""

    @property
    def char(self) -> str:
        """The best candidate (``" "`` for an empty cell)."""
        return self.topk[0][0]

    @property
    def confidence(self) -> float:
        """Probability of the best candidate."""
        return self.topk[0][1]


def _ink_stack(stack: np.ndarray) -> np.ndarray:
    """Ink darkness above each cell's paper level (its 90th percentile grey); uint8, 0 = paper."""
    n = len(stack)
    sub = stack.reshape(n, -1)[:, ::3]
    k = int(sub.shape[1] * 0.9)
    paper = np.partition(sub, k, axis=1)[:, k].astype(np.int16)
    return np.maximum(paper[:, None, None] - stack.astype(np.int16), 0).astype(np.uint8)


def _smear(on: np.ndarray, axis: int, reach: int) -> np.ndarray:
    """OR of ``on`` shifted by up to ``reach`` px both ways along ``axis`` (1 = rows, 2 = columns)."""
    out = on.copy()
    n = on.shape[axis]
    for k in range(1, reach + 1):
        src = [slice(None)] * 3
        dst = [slice(None)] * 3
        src[axis], dst[axis] = slice(0, n - k), slice(k, n)
        out[tuple(dst)] |= on[tuple(src)]
        out[tuple(src)] |= on[tuple(dst)]
    return out


def _profiles(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Share of each row ``(N, H)`` and column ``(N, W)`` covered by line-dark ink.

    Ink is smeared 2 px along the line direction (closing the gaps of dotted lines from
    binarised scans) and 1 px across it (tolerating a slight tilt).
    """
    level = np.maximum(ink.max(axis=(1, 2)).astype(np.float32), _MIN_CONTRAST) * _LINE_INK
    on = ink > level[:, None, None]
    _, h, w = ink.shape
    rows = _smear(_smear(on, 2, 2), 1, 1).sum(axis=2, dtype=np.int32) / w
    cols = _smear(_smear(on, 1, 2), 2, 1).sum(axis=1, dtype=np.int32) / h
    return rows, cols


def _line_edge(frac: list[float], lo: int, hi: int, inward: int) -> int | None:
    """Inner edge of the strongest border line among profile bins ``[lo, hi)``, or None.

    ``inward`` is +1 when the cell interior lies towards higher indices (top/left line),
    -1 otherwise. Returns the index one pixel past the line, on the interior side. A line
    is at most a few px thick, so ink touching it from inside is not swallowed.
    """
    band = frac[lo:hi]
    top = max(band, default=0.0)
    if top < _LINE_FRAC:
        return None
    best = lo + band.index(top)
    keep = top * 0.85
    start = best
    while lo <= start - inward < hi and frac[start - inward] >= keep and abs(start - best) < 4:
        start -= inward
    end = start
    while lo <= end + inward < hi and frac[end + inward] >= keep and abs(end - start) < 5:
        end += inward
    return end + 2 * inward


def _interior(rows: list[float], cols: list[float]) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)`` of the cell interior inside the crop, from its line profiles."""
    h, w = len(rows), len(cols)
    band = 2 * MARGIN_PX + 2
    top, bottom = _line_edge(rows, 0, band, 1), _line_edge(rows, h - band, h, -1)
    left, right = _line_edge(cols, 0, band, 1), _line_edge(cols, w - band, w, -1)
    y0, y1 = _pair(top, bottom, h, h - 2 * MARGIN_PX)
    x0, x1 = _pair(left, right, w, w - 2 * MARGIN_PX)
    return y0, y1, x0, x1


def _pair(a: int | None, b: int | None, size: int, inner: int) -> tuple[int, int]:
    """Resolve interior bounds ``[a, b)`` along one axis when a border line was not found."""
    slack = 3
    if a is not None and b is not None:
        lo, hi = a, b
    elif a is not None:
        lo, hi = a, a + inner + slack
    elif b is not None:
        lo, hi = b - inner - slack, b
    else:
        lo, hi = MARGIN_PX - slack, size - MARGIN_PX + slack
    a, b = max(0, lo), min(size, hi + 1)
    if b - a < inner // 2:
        a, b = MARGIN_PX, size - MARGIN_PX
    return a, b


def _centre(small: np.ndarray) -> np.ndarray:
    """Place ``(N, gh, gw)`` interiors in ``SIZE x SIZE`` images, ink centre of mass at the middle."""
    n, gh, gw = small.shape
    weights = np.where(small > 0.25, small, 0.0)
    mass = weights.sum(axis=(1, 2))
    safe = np.maximum(mass, 1e-6)
    cy = np.where(mass > 0.5, weights.sum(axis=2) @ np.arange(gh, dtype=np.float32) / safe, (gh - 1) / 2)
    cx = np.where(mass > 0.5, weights.sum(axis=1) @ np.arange(gw, dtype=np.float32) / safe, (gw - 1) / 2)
    pad = int(_MAX_SHIFT) + 1
    oy = np.rint((SIZE - gh) / 2 + np.clip((gh - 1) / 2 - cy, -_MAX_SHIFT, _MAX_SHIFT)).astype(int) + pad
    ox = np.rint((SIZE - gw) / 2 + np.clip((gw - 1) / 2 - cx, -_MAX_SHIFT, _MAX_SHIFT)).astype(int) + pad
    canvas = np.zeros((n, SIZE + 2 * pad, SIZE + 2 * pad), np.float32)
    for i in range(n):
        canvas[i, oy[i]:oy[i] + gh, ox[i]:ox[i] + gw] = small[i]
    return canvas[:, pad:pad + SIZE, pad:pad + SIZE]


def _preprocess_stack(stack: np.ndarray) -> np.ndarray:
    """:func:`preprocess` for ``(N, H, W)`` uint8 crops of one size."""
    ink = _ink_stack(stack)
    rows, cols = _profiles(ink)
    gh, gw = GLYPH_BOX
    small = np.empty((len(stack), gh, gw), np.uint8)
    for i, (r, c) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True)):
        y0, y1, x0, x1 = _interior(r, c)
        small[i] = cv2.resize(ink[i, y0:y1, x0:x1], (gw, gh), interpolation=cv2.INTER_AREA)
    out = small.astype(np.float32)
    out /= np.maximum(out.max(axis=(1, 2)), _MIN_CONTRAST)[:, None, None]
    np.minimum(out, 1.0, out=out)
    return _centre(out)


def preprocess_batch(cells: list[np.ndarray]) -> np.ndarray:
    """:func:`preprocess` for many cells at once (vectorised per crop size): ``(N, SIZE, SIZE)``."""
    grey = [cv2.cvtColor(c, cv2.COLOR_RGB2GRAY) if c.ndim == 3 else np.asarray(c, np.uint8) for c in cells]
    out = np.zeros((len(grey), SIZE, SIZE), np.float32)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, g in enumerate(grey):
        groups.setdefault(g.shape, []).append(i)
    for idx in groups.values():
        out[idx] = _preprocess_stack(np.stack([grey[i] for i in idx]))
    return out


def preprocess(cell: np.ndarray) -> np.ndarray:
    """Turn a cell crop (uint8 grey, 255 = paper) into a ``SIZE x SIZE`` float32 ink image in [0, 1].

    Finds the cell's border lines and keeps only the interior, normalises contrast,
    scales the interior to :data:`GLYPH_BOX` (so glyph size relative to the cell is kept:
    a speck stays a speck) and shifts the ink's centre of mass to the centre.
    """
    return preprocess_batch([cell])[0]


@lru_cache(maxsize=4)
def _model(path: Path = MODEL_PATH) -> dict[str, np.ndarray]:
    """Weights from ``path`` (default: the shipped :data:`MODEL_PATH`), loaded once per process."""
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: train it with `python -m susulan_tools.train` "
                                "in a Susulan checkout")
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


@lru_cache(maxsize=4)
def model_version(path: Path = MODEL_PATH) -> str:
    """Short content hash of a model file, to store next to every machine reading."""
    return "icr-" + hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _buffer(key: str, shape: tuple[int, ...], zero: bool = False) -> np.ndarray:
    """A per-thread float32 work array reused across calls.

    Fresh multi-megabyte arrays are page-faulted in on every call, which doubled the time of
    the forward pass; reusing them keeps it at ~15 ms per 300 cells.
    """
    store = _WORK.__dict__.setdefault("arrays", {})
    arr = store.get((key, shape))
    if arr is None:
        arr = store[key, shape] = np.zeros(shape, np.float32) if zero else np.empty(shape, np.float32)
    return arr


def _pool(x: np.ndarray, key: str) -> np.ndarray:
    """2x2 max-pool of NHWC (odd sizes are floored, like torch)."""
    n, h, w, c = x.shape[0], x.shape[1] // 2 * 2, x.shape[2] // 2 * 2, x.shape[3]
    out = _buffer(key, (n, h // 2, w // 2, c))
    np.maximum(x[:, 0:h:2, 0:w:2], x[:, 0:h:2, 1:w:2], out=out)
    np.maximum(out, x[:, 1:h:2, 0:w:2], out=out)
    return np.maximum(out, x[:, 1:h:2, 1:w:2], out=out)


def _conv_block(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pool: bool, key: str) -> np.ndarray:
    """3x3 convolution with padding 1 (batch norm folded in), optional 2x2 max-pool, ReLU; NHWC.

    ``w`` is ``(9 * C, O)`` in (ky, kx, c) order. Pooling before bias and ReLU gives the
    same result (both are monotonic per channel) on a quarter of the values.
    """
    n, h, wd, c = x.shape
    oh, ow = (h - 1) // stride + 1, (wd - 1) // stride + 1
    p = _buffer(key + "pad", (n, h + 2, wd + 2, c), zero=True)
    p[:, 1:-1, 1:-1] = x
    cols = _buffer(key + "cols", (n, oh, ow, 9 * c))
    np.concatenate([p[:, i:i + stride * oh:stride, j:j + stride * ow:stride] for i in range(3) for j in range(3)],
                   axis=-1, out=cols)
    out = _buffer(key + "out", (n * oh * ow, w.shape[1]))
    np.matmul(cols.reshape(n * oh * ow, 9 * c), w, out=out)
    out = out.reshape(n, oh, ow, -1)
    if pool:
        out = _pool(out, key + "pool")
    out += b
    return np.maximum(out, 0, out=out)


def embed(images: np.ndarray, chunk: int = 64, model: Path = MODEL_PATH) -> np.ndarray:
    """The network's embedding of preprocessed ``(N, SIZE, SIZE)`` images: ``(N, HIDDEN)`` float32, >= 0.

    It is the input of both heads (the hidden layer after its ReLU): what a clinic-adapted
    head is fitted on (:mod:`pipeline.learn`).
    """
    m = _model(model)
    outs = []
    for s in range(0, len(images), chunk):
        x = images[s:s + chunk].astype(np.float32, copy=False)[..., None]
        for i, (_, stride, pool) in enumerate(LAYERS):
            x = _conv_block(x, m[f"conv{i}_w"], m[f"conv{i}_b"], stride, pool, f"conv{i}")
        outs.append(np.maximum(x.reshape(len(x), -1) @ m["fc_w"] + m["fc_b"], 0))
    return np.concatenate(outs) if outs else np.zeros((0, HIDDEN), np.float32)


def head_logits(features: np.ndarray, alphabet: str, model: Path = MODEL_PATH) -> np.ndarray:
    """Raw outputs (before temperature) of the ``alphabet`` head for embeddings from :func:`embed`."""
    m = _model(model)
    return features @ m[f"{alphabet}_w"] + m[f"{alphabet}_b"]


def logits(images: np.ndarray, alphabet: str, chunk: int = 64, model: Path = MODEL_PATH) -> np.ndarray:
    """Raw head outputs (before temperature) for preprocessed ``(N, SIZE, SIZE)`` images."""
    return head_logits(embed(images, chunk, model), alphabet, model)


def letter_model(model: Path = MODEL_PATH) -> np.ndarray | None:
    """The letter model a classifier file brings (a clinic adaptation's, with its lexicon), if any."""
    return _model(model).get(LETTER_MODEL)


def classes(alphabet: str, model: Path = MODEL_PATH) -> str:
    """The characters of a head's classes in output order (``" "`` = empty first)."""
    return "".join(_model(model)[f"{alphabet}_classes"].tolist())


def softmax(z: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``z / temperature``."""
    z = z / temperature
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def head_probabilities(features: np.ndarray, alphabet: str, model: Path = MODEL_PATH) -> np.ndarray:
    """Calibrated class probabilities ``(N, classes)`` for embeddings from :func:`embed`."""
    return softmax(head_logits(features, alphabet, model), float(_model(model)[f"{alphabet}_temperature"]))


def probabilities(images: np.ndarray, alphabet: str, model: Path = MODEL_PATH) -> tuple[np.ndarray, str]:
    """Calibrated class probabilities ``(N, classes)`` and the class characters (``" "`` first)."""
    return head_probabilities(embed(images, model=model), alphabet, model), classes(alphabet, model)


def no_ink(images: np.ndarray) -> np.ndarray:
    """Per preprocessed cell: whether no pixel of its interior reaches :data:`EMPTY_INK` of full ink contrast."""
    return np.asarray(~(images > EMPTY_INK).any(axis=(1, 2)))


def _sure_empty(p: np.ndarray, images: np.ndarray, blank_col: int) -> None:
    """Cells with no ink pixel at all are empty beyond what the network will say (in place).

    The network never says more than ~98.5 % (it was trained with label smoothing), so a
    13-cell field left empty would never look sure. A cell whose interior has no pixel above
    :data:`EMPTY_INK` of full ink contrast is given :data:`EMPTY_BLANK`. On the CALIB split
    about half of the empty cells (the rest hold specks or smudges) and none of 6,000
    written cells had no such pixel.
    """
    empty = no_ink(images)
    if not empty.any():
        return
    rest = p[empty].copy()
    rest[:, blank_col] = 0.0
    rest *= (1 - EMPTY_BLANK) / np.maximum(rest.sum(axis=1, keepdims=True), 1e-12)
    rest[:, blank_col] = EMPTY_BLANK
    p[empty] = rest


def read_cells(cells: list[np.ndarray], alphabet: str, k: int = 5, model: Path = MODEL_PATH) -> list[CellReading]:
    """Read every comb cell of a page in one batch; ``alphabet`` is ``"digits"`` or ``"letters"``.

    ``model``: the weights file (default: the shipped classifier; a data dir may bring its own).

    Each reading has the ``k`` most probable characters best first; ``" "`` (empty cell)
    competes like any character and is appended last when it is not among them, so the
    empty alternative is always visible to constraint solvers.
    """
    if alphabet not in ALPHABETS:
        raise ValueError(f"alphabet must be one of {sorted(ALPHABETS)}, not {alphabet!r}")
    if not cells:
        return []
    images = preprocess_batch(cells)
    p, chars = probabilities(images, alphabet, model)
    return cell_readings(p, chars, images, k)


def cell_readings(p: np.ndarray, chars: str, images: np.ndarray, k: int = 5) -> list[CellReading]:
    """Top-``k`` readings from class probabilities ``p`` of preprocessed ``images`` (cells without ink made empty)."""
    p = p.copy()
    blank_col = chars.index(BLANK)
    _sure_empty(p, images, blank_col)
    k = max(3, min(k, p.shape[1]))
    order = np.argsort(-p, axis=1)[:, :k].tolist()
    out = []
    for row, idx, empty in zip(p.tolist(), order, no_ink(images).tolist(), strict=True):
        if blank_col not in idx:
            idx.append(blank_col)
        out.append(CellReading(tuple((chars[j], row[j]) for j in idx), row[blank_col], not empty))
    return out
