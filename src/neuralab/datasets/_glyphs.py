"""Generated "handwriting" identities: font glyphs drawn the way the UCI digits were.

scikit-learn's digits are the UCI optdigits: each digit written on a form,
scanned to a 32×32 binary bitmap (its longer side fitted to the frame), then
counted in non-overlapping 4×4 blocks into 8×8 values 0–16. :func:`make_glyphs`
draws other characters the same way, so that a metric learnt on them can be
tested on digits: each glyph (a Latin, Greek, Cyrillic, Armenian or Georgian
letter, or a symbol) is one identity, and each sample is one "writer": one of
the fonts matplotlib ships (DejaVu Sans/Serif/Mono, STIX, Computer Modern, in
their upright, bold, italic styles), a random rotation (±12°), shear (±0.3),
aspect ratio (×e^±0.2), a smooth elastic jitter, a random ink threshold and at
times a thicker pen. Pure NumPy and matplotlib's FreeType bindings; the master
renderings are cached per font and glyph.

What is left out (:data:`GLYPH_EXCLUDED`), so that an encoder trained on glyphs
never sees a digit 6–9 under another name: the digits 0–9 themselves (never
rendered), every candidate that looks like a 6, 7, 8 or 9 (judged by eye on
the renderings; mirror images such as p, d, Γ and quarter turns such as ∞
were kept, since the "writers" rotate by at most 12° and never mirror), and glyphs whose bitmaps are the same
shape as an earlier glyph once scaled to the frame (mean-bitmap correlation
above 0.95, e.g. Cyrillic П after Greek Π): two names for one shape would be a
contradiction in the labels.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..validation import check_bool, check_int, expected

__all__ = ["make_glyphs", "GLYPHS", "GLYPH_EXCLUDED"]

_FONT_FILES = ("DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique",
               "DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSerif-Italic", "DejaVuSerif-BoldItalic",
               "DejaVuSansMono", "DejaVuSansMono-Bold", "DejaVuSansMono-Oblique",
               "DejaVuSansMono-BoldOblique", "STIXGeneral", "STIXGeneralBol", "STIXGeneralItalic",
               "STIXGeneralBolIta", "cmr10", "cmss10", "cmtt10", "cmb10", "cmti10")

_CANDIDATES = ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
               "ΓΔΘΛΞΠΣΦΨΩαβγδεζηθλμξπρσςτυφχψω"
               "БГДЖЗИЙЛПФЦЧШЩЪЫЬЭЮЯбвгджзийклмнптфцчшщъыьэюя"
               "ԱԲԳԴԵԶԷԸԹԺԻԼԽԾԿՀՁՂՃՄՅՆՇՈՉՊՋՌՍՎՏՐՑՒՓՔՕՖաբգդեզէըթժիլխծկհձղճմյնշոչպջռսվտրցւփքօֆ"
               "აბგდევზთიკლმნოპჟრსტუფქღყშჩცძწჭხჯჰ"
               "+×÷=#%&@$?!§¶∞∑∏√∫∂∇←→↑↓↔♠♣♥♦★☺♪¢£¥€©®±≈≠≤≥∩∪⊂⊃∈∀∃¬∧∨")

_LOOKS_LIKE = {
    "6": "bбδЬьЪъბხ∂G",  # a bowl at the bottom, a stem rising from it on the left
    "7": "Zzƶ¬",  # a top bar and a stroke down from its right end (Z: a 7 with a foot)
    "8": "BßβвSs$§&θΘგზՑ",  # two stacked bowls, or an S that closes into one
    "9": "gqɋցգզЧчყ",  # a bowl at the top, a stem falling from it on the right
}
_SAME_SHAPE = {"l": "I", "ψ": "Ψ", "Г": "Γ", "П": "Π", "Ф": "Φ", "з": "З", "и": "И", "н": "H",
               "п": "n", "Լ": "L", "Օ": "O", "ա": "ш", "ժ": "Ժ", "հ": "h", "յ": "J", "ո": "n",
               "ս": "u", "օ": "o", "შ": "მ", "ძ": "d", "∫": "I", "♦": "ф"}

#: every glyph :func:`make_glyphs` never draws, with the reason: the digits, the
#: lookalikes of 6–9, and second names of one shape
GLYPH_EXCLUDED: dict[str, str] = {
    **{d: "a digit" for d in "0123456789"},
    **{g: f"looks like a {d}" for d, gs in _LOOKS_LIKE.items() for g in gs},
    **{g: f"the shape of {first!r}" for g, first in _SAME_SHAPE.items()},
}

#: the glyph identities of :func:`make_glyphs`, in label order
GLYPHS = tuple(c for c in _CANDIDATES if c not in GLYPH_EXCLUDED)

_MASTER_SIZE = 48  # font size (pixels per em) of the cached master renderings


def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@lru_cache(maxsize=None)
def _font(name: str):
    from matplotlib import ft2font

    font = ft2font.FT2Font(str(_font_dir() / f"{name}.ttf"))
    font.set_size(_MASTER_SIZE, 72)
    return font


@lru_cache(maxsize=None)
def _master(font: str, glyph: str):
    """The glyph in ``font`` as a grey image in [0, 1] cropped to its ink, or None if missing."""
    f = _font(font)
    if f.get_char_index(ord(glyph)) == 0:
        return None
    from matplotlib import ft2font

    flags = getattr(ft2font, "LoadFlags", None)  # matplotlib ≥ 3.10; before, module constants
    f.set_text(glyph, 0.0, flags=flags.NO_HINTING if flags else ft2font.LOAD_NO_HINTING)
    f.draw_glyphs_to_bitmap(antialiased=True)
    im = np.asarray(f.get_image(), dtype=np.float32) / 255.0
    rows, cols = np.flatnonzero(im.max(1) > 0.5), np.flatnonzero(im.max(0) > 0.5)
    if len(rows) < 2 or len(cols) < 1:
        return None
    im = im[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    return np.pad(im, 2)


@lru_cache(maxsize=None)
def _fonts_of(glyph: str) -> tuple:
    return tuple(f for f in _FONT_FILES if _master(f, glyph) is not None)


def _bilinear(img: np.ndarray, r: np.ndarray, c: np.ndarray, which=0) -> np.ndarray:
    """``img[which]`` (a stack ``(F, H, W)``) sampled at fractional (row, column) positions, 0 outside."""
    _, h, w = img.shape
    flat = np.pad(img, ((0, 0), (1, 2), (1, 2))).ravel()  # a zero border, one more on the far side
    r, c = np.clip(r + 1, 0, h + 1), np.clip(c + 1, 0, w + 1)
    r0, c0 = r.astype(np.intp), c.astype(np.intp)
    fr, fc = r - r0, c - c0
    i = (which * (h + 3) + r0) * (w + 3) + c0  # linear index of the top-left neighbour
    top = (1 - fc) * flat.take(i) + fc * flat.take(i + 1)
    bottom = (1 - fc) * flat.take(i + w + 3) + fc * flat.take(i + w + 4)
    return (1 - fr) * top + fr * bottom


def _smooth_fields(rng, n: int, size: int, amplitude: float) -> np.ndarray:
    """``n`` smooth random displacements ``(n, size, size)``: 4×4 grids of N(0, amplitude²), upsampled."""
    t = np.linspace(0, 3, size)
    i0 = np.minimum(t.astype(int), 2)
    f = t - i0
    # bilinear interpolation as two small matrices: field = U · coarse · Uᵀ
    u = np.zeros((size, 4))
    u[np.arange(size), i0] = 1 - f
    u[np.arange(size), i0 + 1] += f
    return (u @ rng.normal(0.0, amplitude, (n, 4, 4)) @ u.T).astype(np.float32)


def _draw(masters: list, rng, n: int, side: int) -> np.ndarray:
    """``n`` "writers'" binary ``side × side`` bitmaps of one glyph (the optdigits framing).

    ``masters``: the glyph's renderings in the fonts that have it; each writer
    takes one at random.

    Each: a random rotation (±12°), shear (±0.3), aspect (×e^±0.2) and smooth
    elastic jitter, a random ink threshold (stroke width), at times a thicker
    pen (3×3 dilation); then cropped to the ink, its longer side fitted to the
    frame and centred, as the UCI bitmaps were normalised.
    """
    canvas = int(round(side * 1.25))
    h, w = max(m.shape[0] for m in masters), max(m.shape[1] for m in masters)
    stack = np.zeros((len(masters), h, w), dtype=np.float32)  # each centred in one frame
    for i, m in enumerate(masters):
        top, left = (h - m.shape[0]) // 2, (w - m.shape[1]) // 2
        stack[i, top:top + m.shape[0], left:left + m.shape[1]] = m
    which = rng.integers(len(masters), size=n)
    longer = np.array([max(m.shape) for m in masters], dtype=np.float64)[which]
    angle = np.radians(rng.uniform(-12, 12, n))
    shear = rng.uniform(-0.3, 0.3, n)
    aspect = np.exp(rng.uniform(-0.2, 0.2, n))
    scale = 0.75 * canvas / longer
    # forward map q = scale · R · Sh · diag(aspect, 1) · p (x = column, y = row); its inverse:
    cos, sin = np.cos(angle), np.sin(angle)
    # A = scale · M, M = [[a·cos, sh·cos − sin], [a·sin, sh·sin + cos]], det M = a: A⁻¹ = adj(M) / (scale · a)
    det = scale * aspect
    i00, i01 = (sin * shear + cos) / det, -(cos * shear - sin) / det
    i10, i11 = -aspect * sin / det, aspect * cos / det
    yy, xx = (np.mgrid[0:canvas, 0:canvas] + 0.5 - canvas / 2).astype(np.float32)
    xx = xx + _smooth_fields(rng, n, canvas, 0.04 * canvas)
    yy = yy + _smooth_fields(rng, n, canvas, 0.04 * canvas)
    i00, i01, i10, i11 = (v.astype(np.float32)[:, None, None] for v in (i00, i01, i10, i11))
    src_x = i00 * xx + i01 * yy + w / 2 - 0.5
    src_y = i10 * xx + i11 * yy + h / 2 - 0.5
    ink = _bilinear(stack, src_y, src_x, which[:, None, None]) > rng.uniform(0.35, 0.65, n)[:, None, None]
    thick = rng.random(n) < 0.3
    if thick.any():  # a thicker pen: dilate by a 3×3 square
        p = np.pad(ink[thick], ((0, 0), (1, 1), (1, 1)))
        ink[thick] = np.max([p[:, i:i + canvas, j:j + canvas] for i in range(3) for j in range(3)], 0)
    out = np.zeros((n, side, side), dtype=bool)
    rows, cols = ink.any(2), ink.any(1)
    for k in range(n):  # fit the longer side to the frame, keep the aspect ratio, centre
        r, c = np.flatnonzero(rows[k]), np.flatnonzero(cols[k])
        if len(r) == 0:
            continue
        hh, ww = r[-1] + 1 - r[0], c[-1] + 1 - c[0]
        f = side / max(hh, ww)
        oh, ow = max(1, int(round(hh * f))), max(1, int(round(ww * f)))
        # each output pixel is inked if any source pixel it covers is (every source row and
        # column counts, so the ink still touches the frame's edges)
        crop = ink[k, r[0]:r[-1] + 1, c[0]:c[-1] + 1]
        crop = np.maximum.reduceat(crop, (np.arange(oh) / f).astype(int), axis=0)
        crop = np.maximum.reduceat(crop, (np.arange(ow) / f).astype(int), axis=1)
        r0, c0 = (side - oh) // 2, (side - ow) // 2
        out[k, r0:r0 + oh, c0:c0 + ow] = crop
    return out


def make_glyphs(n_per_class: int, *, classes=None, seed: int = 0, size: int = 8,
                return_bitmaps: bool = False):
    """Bitmaps of font glyphs counted in 4×4 blocks, like scikit-learn's digits: one identity per glyph.

    Args:
        n_per_class: samples ("writers") per glyph.
        classes: the glyphs to draw, a string or a sequence of one-character
            strings from :data:`GLYPHS` (default: all of them, 233).
        seed: each glyph's samples come from its own generator seeded with
            ``(seed, code point)``, so they do not depend on the other classes asked for.
        size: the side of the result; the bitmaps are ``4·size`` pixels square
            (default 8: the 32×32 → 8×8 of optdigits).
        return_bitmaps: also return the binary bitmaps ``(N, 4·size, 4·size)``.

    Returns:
        ``(X, y, names)``: ``X`` float64 ``(N, size, size)`` with integer values 0–16
        (``N = n_per_class · len(names)``, grouped by class), ``y`` int64 labels
        indexing ``names``, the tuple of glyphs; and the bitmaps when asked for.

    Example:
        >>> X, y, names = make_glyphs(3, classes="AΩж", seed=0)
        >>> X.shape, y.tolist(), names, 0 <= float(X.min()) <= float(X.max()) <= 16
        ((9, 8, 8), [0, 0, 0, 1, 1, 1, 2, 2, 2], ('A', 'Ω', 'ж'), True)
    """
    n = check_int("make_glyphs", "n_per_class", n_per_class, low=1)
    seed = check_int("make_glyphs", "seed", seed, low=0)
    size = check_int("make_glyphs", "size", size, low=1)
    return_bitmaps = check_bool("make_glyphs", "return_bitmaps", return_bitmaps)
    if classes is None:
        names = GLYPHS
    else:
        if not isinstance(classes, (str, list, tuple)):
            raise expected("make_glyphs", "classes", "a string or a sequence of glyphs of GLYPHS",
                           type(classes).__name__)
        names = tuple(classes)
        if not names:
            raise expected("make_glyphs", "classes", "at least one glyph", "none", error=DataError)
        for c in names:
            if isinstance(c, str) and c in GLYPH_EXCLUDED:
                raise expected("make_glyphs", "classes", "glyphs of GLYPHS", f"{c!r}, left out: "
                               f"{GLYPH_EXCLUDED[c]}", error=DataError)
            if not isinstance(c, str) or c not in GLYPHS:
                raise expected("make_glyphs", "classes", "glyphs of GLYPHS", c, error=DataError)
        if len(set(names)) < len(names):
            raise expected("make_glyphs", "classes", "distinct glyphs", "".join(names),
                           error=DataError)
    side = 4 * size
    bitmaps = np.zeros((n * len(names), side, side), dtype=bool)
    for k, g in enumerate(names):
        rng = np.random.default_rng([seed, ord(g)])
        bitmaps[k * n:(k + 1) * n] = _draw([_master(f, g) for f in _fonts_of(g)], rng, n, side)
    x = bitmaps.reshape(len(bitmaps), size, 4, size, 4).sum((2, 4)).astype(np.float64)
    y = np.repeat(np.arange(len(names)), n)
    return (x, y, names, bitmaps) if return_bitmaps else (x, y, names)
