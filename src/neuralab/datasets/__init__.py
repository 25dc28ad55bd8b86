"""Data sets that need no network: scikit-learn's bundled digits, and generators.

- :func:`load_digits`: the 1,797 8×8 handwritten digits bundled with
  scikit-learn, as ``(N, 1, S, S)`` images (upsampled for LeNet-5), with a
  fixed stratified split.
- :func:`make_digits`: NeuPy's discrete 6×4 digits with flipped or removed pixels
  (``load_digits(discrete=True)`` gives the ten clean patterns).
- :func:`make_spirals`: interleaved spirals, a classic non-linear problem.
- :func:`make_reber`: strings of the (embedded) Reber grammar, for recurrent nets.
- :func:`make_embedded_reber` (next-symbol prediction, Hochreiter & Schmidhuber's
  benchmark), :func:`make_reber_classification`, :func:`is_valid_reber`,
  :func:`reber_next_symbols`.
- :func:`make_shapes`: images of squares, discs and triangles with boxes, labels, masks
  and keypoints, for detection.
- :class:`RandomShift`: random pixel shifts of images, as a Dataset for ``fit``.
"""

from ._augment import RandomShift
from ._digits import DIGIT_SHAPE, Split, load_digits, make_digits
from ._shapes import SHAPE_CLASSES, make_shapes
from ._synthetic import REBER_SYMBOLS, is_reber, make_reber, make_spirals
from ._synthetic import (is_valid_reber, make_embedded_reber, make_reber_classification,
                         reber_next_symbols)

__all__ = ["RandomShift", "Split", "load_digits", "make_digits", "DIGIT_SHAPE", "make_spirals", "make_reber", "is_reber", "REBER_SYMBOLS",
           "make_shapes", "SHAPE_CLASSES"]
__all__ += ["is_valid_reber", "reber_next_symbols", "make_embedded_reber",
            "make_reber_classification"]
from ._glyphs import GLYPH_EXCLUDED, GLYPHS, make_glyphs  # noqa: E402
__all__ += ["make_glyphs", "GLYPHS", "GLYPH_EXCLUDED"]
