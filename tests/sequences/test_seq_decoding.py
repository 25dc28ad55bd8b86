"""Greedy/beam search against brute force, sampling with temperature, on tiny models."""

import itertools
import math

import numpy as np
import pytest
import torch

from neuralab.errors import ConfigError, DataError, DTypeError
from neuralab.sequences import (
    CharLanguageModel,
    beam_search,
    generate_beam,
    greedy_search,
    sample,
    sample_next,
    select_state,
)


@pytest.fixture(scope="module")
def tiny_lm():
    torch.manual_seed(3)
    lm = CharLanguageModel("abc", n_units=6, embedding_size=3).eval()
    with torch.no_grad():  # sharpen the random model so hypotheses differ clearly
        lm.head.weight.mul_(4.0)
    return lm


@torch.no_grad()
def _log_prob(lm, start, tokens):
    seq = torch.tensor([[start] + tokens])
    logp = torch.log_softmax(lm(seq)[0, :-1].double(), -1)
    return float(logp[torch.arange(len(tokens)), torch.tensor(tokens)].sum())


def _brute_force(lm, start, max_length, end, alpha):
    best = None
    for length in range(1, max_length + 1):
        for tokens in itertools.product(range(3), repeat=length):
            tokens = list(tokens)
            if end in tokens[:-1] or (tokens[-1] != end and length < max_length):
                continue  # hypotheses stop at the first end symbol or at max_length
            score = _log_prob(lm, start, tokens) / length ** alpha
            if best is None or score > best[1]:
                best = (tokens, score)
    return best


@pytest.mark.parametrize("alpha", [0.0, 0.7, 1.0])
def test_a_beam_holding_every_hypothesis_equals_brute_force(tiny_lm, alpha):
    end, max_length = 2, 4
    tokens, score = beam_search(tiny_lm.step, None, 0, width=3 ** max_length,
                                max_length=max_length, length_penalty=alpha, end=end)[0]
    ref_tokens, ref_score = _brute_force(tiny_lm, 0, max_length, end, alpha)
    assert tokens == ref_tokens
    assert score == pytest.approx(ref_score, abs=1e-5)  # float32 model


def test_beam_width_one_equals_greedy(tiny_lm):
    for start in range(3):
        greedy = greedy_search(tiny_lm.step, None, start, max_length=6, end=2)
        beam = beam_search(tiny_lm.step, None, start, width=1, max_length=6, end=2)[0]
        assert beam[0] == greedy[0]
        assert beam[1] == pytest.approx(greedy[1], abs=1e-6)
        assert greedy[1] == pytest.approx(_log_prob(tiny_lm, start, greedy[0]), abs=1e-5)


def test_beam_search_on_the_language_model_scores_continuations(tiny_lm):
    hyps = generate_beam(tiny_lm, "ab", 3, width=3, length_penalty=0.5)
    assert len(hyps) == 3 and [s for _, s in hyps] == sorted((s for _, s in hyps), reverse=True)
    assert all(set(h) <= set("abc") for h, _ in hyps)
    assert generate_beam(tiny_lm, "ab", 5, width=1)[0][0] == \
        tiny_lm.vocabulary.decode(greedy_search(tiny_lm.step, tiny_lm.prime("ab")[0], 1,
                                                max_length=5)[0])


def test_sampling_follows_softmax_over_temperature():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]]).repeat(20000, 1)
    gen = torch.Generator().manual_seed(0)
    for tau in (0.5, 1.0, 2.0):
        draws = sample_next(logits, tau, generator=gen)
        freq = np.bincount(draws.numpy(), minlength=4) / len(draws)
        want = torch.softmax(logits[0] / tau, -1).numpy()
        np.testing.assert_allclose(freq, want, atol=0.015)
    top2 = sample_next(logits, 1.0, top_k=2, generator=gen)
    assert set(top2.tolist()) == {0, 1}


def test_low_temperature_sampling_is_greedy(tiny_lm):
    text = sample(tiny_lm, "a", 8, temperature=1e-4, seed=0)
    greedy = greedy_search(tiny_lm.step, None, 0, max_length=8)[0]
    assert text == "a" + tiny_lm.vocabulary.decode(greedy)
    assert sample(tiny_lm, "a", 8, seed=1) == sample(tiny_lm, "a", 8, seed=1)


def test_select_state_reorders_nested_states():
    state = (torch.arange(3), {"h": torch.arange(6).reshape(3, 2)}, [torch.arange(3) * 10])
    got = select_state(state, torch.tensor([2, 0]))
    assert got[0].tolist() == [2, 0] and got[1]["h"].tolist() == [[4, 5], [0, 1]]
    assert got[2][0].tolist() == [20, 0]


def test_decoding_bad_input(tiny_lm):
    with pytest.raises(ConfigError, match=r"expected `temperature` to be a finite number > 0, "
                                          r"received 0"):
        sample(tiny_lm, "a", 3, temperature=0)
    with pytest.raises(ConfigError, match=r"received -1.0"):
        sample(tiny_lm, "a", 3, temperature=-1.0)
    with pytest.raises(DataError, match=r"symbol 'z' at position 1 is not in the vocabulary of "
                                        r"3 symbols"):
        sample(tiny_lm, "az", 3)
    with pytest.raises(DataError, match=r"expected a non-empty prompt string"):
        sample(tiny_lm, "", 3)
    with pytest.raises(ConfigError, match=r"beam_search: expected `width` to be an integer >= 1, "
                                          r"received 0"):
        beam_search(tiny_lm.step, None, 0, width=0)
    with pytest.raises(ConfigError, match=r"expected `length_penalty` to be a finite number >= 0"):
        beam_search(tiny_lm.step, None, 0, length_penalty=-0.5)
    with pytest.raises(DataError, match=r"expected symbol indices in \[0, 3\), received values "
                                        r"in \[0, 5\]"):
        tiny_lm(torch.tensor([[0, 5]]))
    with pytest.raises(DTypeError, match=r"expected integer symbol indices"):
        tiny_lm(torch.zeros(1, 2))
    assert math.isfinite(beam_search(tiny_lm.step, None, 0, width=2, max_length=2)[0][1])
