"""BLEU against sacrebleu's corpus and sentence BLEU (tokenize="none"), to 1e-6."""

import pytest
import sacrebleu
from hypothesis import given, settings
from hypothesis import strategies as st

from neuralab.errors import ConfigError, DataError
from neuralab.sequences import bleu, sentence_bleu

WORDS = ["a", "b", "c", "d", "e"]
sentence = st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(" ".join)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 2).flatmap(lambda k: st.lists(
    st.tuples(sentence, st.lists(sentence, min_size=k, max_size=k)), min_size=1, max_size=6)),
    st.sampled_from(["none", "floor", "add-k", "exp"]), st.booleans())
def test_corpus_bleu_equals_sacrebleu(pairs, smoothing, effective):
    hyps = [h for h, _ in pairs]
    refs = [r for _, r in pairs]
    streams = [list(s) for s in zip(*refs)]  # sacrebleu: one stream per reference index
    ref = sacrebleu.corpus_bleu(hyps, streams, tokenize="none", smooth_method=smoothing,
                                use_effective_order=effective)
    ours = bleu(hyps, refs, smoothing=smoothing, effective_order=effective)
    assert ours.score * 100 == pytest.approx(ref.score, abs=1e-6)
    assert ours.brevity_penalty == pytest.approx(ref.bp, abs=1e-12)
    assert ours.hyp_length == ref.sys_len and ours.ref_length == ref.ref_len


def test_sentence_bleu_equals_sacrebleu_and_known_values():
    hyp, refs = "the cat is on the mat", ["there is a cat on the mat", "the cat sat on the mat"]
    ref = sacrebleu.sentence_bleu(hyp, refs, tokenize="none")
    assert sentence_bleu(hyp, refs).score * 100 == pytest.approx(ref.score, abs=1e-6)
    # Papineni's clipping example: "the the the ..." against "the cat is on the mat"
    b = bleu(["the the the the the the the"], [["the cat is on the mat"]], max_order=1)
    assert b.precisions == [pytest.approx(2 / 7)]
    assert float(bleu([["a", "b"]], [[["a", "b"]]], max_order=2)) == 1.0


def test_bleu_bad_input():
    with pytest.raises(DataError, match=r"expected at least one reference for hypothesis 0, "
                                        r"received \[\]"):
        bleu(["a b"], [[]])
    with pytest.raises(DataError, match=r"expected one list of references per hypothesis \(2\), "
                                        r"received 1"):
        bleu(["a", "b"], [["a"]])
    with pytest.raises(DataError, match=r"expected at least one hypothesis"):
        bleu([], [])
    with pytest.raises(DataError, match=r"expected a list of hypotheses, received str"):
        bleu("a b", [["a b"]])
    with pytest.raises(ConfigError, match=r"expected `smoothing` to be one of 'none', 'floor', "
                                          r"'add-k', 'exp', received 'laplace'"):
        bleu(["a"], [["a"]], smoothing="laplace")
    with pytest.raises(ConfigError, match=r"expected `max_order` to be an integer >= 1"):
        bleu(["a"], [["a"]], max_order=0)
