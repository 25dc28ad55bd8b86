"""The embedded Reber grammar and its next-symbol targets, against a hand-written automaton."""

import numpy as np
import pytest

from neuralab.datasets import (
    REBER_SYMBOLS,
    is_reber,
    is_valid_reber,
    make_embedded_reber,
    make_reber_classification,
    reber_next_symbols,
)
from neuralab.errors import ConfigError, DataError

# Hochreiter & Schmidhuber's figure 3 as an explicit transition table (independent of the
# library's): the plain grammar's states 0..5, with 5 = "E expected".
PLAIN = {0: {"T": 1, "P": 2}, 1: {"S": 1, "X": 3}, 2: {"T": 2, "V": 4},
         3: {"X": 2, "S": 5}, 4: {"P": 3, "V": 5}, 5: {"E": 6}}


def _reference_sets(word):
    """Legal next symbols after each prefix of an embedded word, by brute force over the table."""
    key = word[1]
    inner = word[2:-2]
    sets = ["TP", "B"]
    state = 0  # walk the inner B, its symbols, its E
    sets.append("".join(sorted(PLAIN[0])))
    for s in inner[1:-1]:
        state = PLAIN[state][s]
        sets.append("".join(sorted(PLAIN[state])))
    sets.append(key)   # after the inner E
    sets.append("E")   # after the repeated key
    return sets


def test_next_symbol_targets_match_the_reference_automaton():
    X, Y, words = make_embedded_reber(200, seed=3)
    assert X.shape == Y.shape and X.shape[1] == max(len(w) for w in words) - 1
    for i, w in enumerate(words):
        assert is_valid_reber(w, embedded=True)
        assert is_reber(w[2:-2])
        ref = _reference_sets(w)
        assert len(ref) == len(w) - 1
        for t, legal in enumerate(ref):
            assert {REBER_SYMBOLS[j] for j in np.flatnonzero(Y[i, t])} == set(legal)
            assert REBER_SYMBOLS[int(X[i, t].argmax())] == w[t]
        assert not Y[i, len(w) - 1:].any() and not X[i, len(w) - 1:].any()
    # both remembered symbols occur, and the second-to-last target is the remembered one
    assert {w[1] for w in words} == {"T", "P"}


def test_index_output_and_plain_grammar():
    X, Y, words = make_embedded_reber(20, embedded=False, output="index", seed=0)
    assert X.dtype == np.int64
    for i, w in enumerate(words):
        assert is_reber(w)
        assert "".join(REBER_SYMBOLS[j] for j in X[i, :len(w) - 1]) == w[:-1]
        assert (X[i, len(w) - 1:] == -1).all()
    np.testing.assert_array_equal(reber_next_symbols("BTXSE")[-1],
                                  np.eye(7, dtype=np.float32)[REBER_SYMBOLS.index("E")])


def test_is_valid_reber():
    assert is_valid_reber("BPBTSSXSEPE", embedded=True)
    assert not is_valid_reber("BPBTSSXSETE", embedded=True)  # wrong remembered symbol
    assert not is_valid_reber("BTXSE", embedded=True)
    assert not is_valid_reber("BTBTXSETE")  # embedded string is not a plain one
    assert not is_valid_reber("BTBTXSETEE", embedded=True)
    assert not is_valid_reber("", embedded=True) and not is_valid_reber("BT")
    with pytest.raises(DataError, match=r"expected `word` to be a string, received int"):
        is_valid_reber(3)
    with pytest.raises(DataError, match=r"expected a complete embedded Reber string, received "
                                        r"'BTBTX'"):
        reber_next_symbols("BTBTX", embedded=True)


@pytest.mark.parametrize("embedded", [False, True])
def test_classification_labels_agree_with_the_grammar(embedded):
    X, y, words = make_reber_classification(300, embedded=embedded, seed=2)
    assert 0.3 < y.mean() < 0.7
    assert all(is_valid_reber(w, embedded) == bool(t) for w, t in zip(words, y))
    assert X.shape == (300, max(map(len, words)), 7)
    _, y1, _ = make_reber_classification(30, invalid_fraction=1.0, embedded=embedded)
    assert y1.sum() == 0


def test_generator_errors():
    with pytest.raises(ConfigError, match=r"expected `output` to be one of 'onehot', 'index', "
                                          r"received 'ascii'"):
        make_embedded_reber(4, output="ascii")
    with pytest.raises(ConfigError, match=r"make_embedded_reber: expected `max_length` to be an integer >= 9, received 5"):
        make_embedded_reber(4, max_length=5)
    with pytest.raises(ConfigError, match=r"expected `invalid_fraction` to be a number in "
                                          r"\[0, 1\], received 2"):
        make_reber_classification(4, invalid_fraction=2)
