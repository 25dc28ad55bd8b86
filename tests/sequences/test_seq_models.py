"""Short seeded training runs: the character LM beats a trigram, the date translator, SkipGram."""

import collections
import math

import numpy as np
import pytest
import torch

from neuralab.errors import ConfigError, DataError, NotFittedError, ShapeError
from neuralab.sequences import (
    Attention,
    CharLanguageModel,
    Seq2Seq,
    SkipGram,
    Vocabulary,
    date_vocabularies,
    load_corpus,
    make_dates,
    perplexity,
    sample,
    skipgram_pairs,
    text_windows,
)


def _trigram_perplexity(train: str, val: str, n_symbols: int, k: float) -> float:
    """Add-k smoothed character trigram: p(c | a b) = (n(abc) + k) / (n(ab) + k V)."""
    tri = collections.Counter(zip(train, train[1:], train[2:]))
    bi = collections.Counter(zip(train, train[1:]))
    nll = sum(-math.log((tri[(a, b, c)] + k) / (bi[(a, b)] + k * n_symbols))
              for a, b, c in zip(val, val[1:], val[2:]))
    return math.exp(nll / (len(val) - 2))


@pytest.fixture(scope="module")
def corpus():
    text = load_corpus()
    return Vocabulary(text), text[:20_000], text[20_000:30_000]


@pytest.fixture(scope="module")
def trained_lm(corpus):
    vocab, train, _ = corpus
    before = torch.get_num_threads()  # module fixtures run outside conftest's one-thread fixture
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        lm = CharLanguageModel(vocab, n_units=64, embedding_size=16)
        history = lm.fit_text(train, seq_length=32, epochs=8, batch_size=32, lr=0.02, seed=0)
    finally:
        torch.set_num_threads(before)
    return lm, history


def test_corpus_ships_offline():
    text = load_corpus()
    assert len(text) > 400_000 and "assert" in text
    assert load_corpus(max_chars=10) == text[:10]
    with pytest.raises(ConfigError, match=r"expected `name` to be one of 'pydoc_topics'"):
        load_corpus("wikipedia")


def test_char_lm_perplexity_beats_an_add_k_trigram_on_the_same_split(corpus, trained_lm):
    vocab, train, val = corpus
    lm, history = trained_lm
    assert history["loss"][-1] < history["loss"][0]
    trigram = min(_trigram_perplexity(train, val, len(vocab), k) for k in (0.01, 0.03, 0.1, 0.3))
    ours = perplexity(lm, val)
    assert ours < trigram, (ours, trigram)
    # the logits form agrees with the model form on one window (state starts fresh in both)
    x, y = text_windows(vocab.encode(val[:65]), 64)
    with torch.no_grad():
        direct = perplexity(lm(x), y)
    assert direct == pytest.approx(perplexity(lm, val[:65], batch_size=1, seq_length=64), rel=1e-6)
    text = sample(lm, "The ", 60, temperature=0.6, seed=0)
    assert text.startswith("The ") and len(text) == 64


def test_date_translator_reaches_95_percent_exact_match_on_held_out_dates():
    source, target = date_vocabularies()
    train = make_dates(1500, seed=0)
    test = make_dates(300, seed=1)
    seen = {s for s, _ in train}
    test = [p for p in test if p[0] not in seen]
    torch.manual_seed(0)
    model = Seq2Seq(source, target, n_units=32, attention="dot")
    model.fit_pairs(train, epochs=3, batch_size=32, lr=0.01, seed=0)
    predictions = model.translate_batch([s for s, _ in test])
    exact = np.mean([p == iso for p, (_, iso) in zip(predictions, test)])
    assert exact >= 0.95, exact
    text, iso = test[0]
    out, weights = model.translate(text, return_attention=True)
    assert weights.shape == (len(out) + 1, len(text))
    np.testing.assert_allclose(weights.sum(1), 1.0, rtol=1e-5)
    assert model.translate(text, width=3) == model.translate(text)  # a confident model


def test_attention_masks_padding_and_matches_a_hand_computation():
    torch.manual_seed(0)
    attn = Attention(3, 5, kind="additive", units=4)
    q, k = torch.randn(2, 3), torch.randn(2, 4, 5)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]]).bool()
    ctx, w = attn(q, k, mask=mask)
    e = attn.v(torch.tanh(attn.w_query(q)[:, None] + attn.w_key(k))).squeeze(-1)
    e = e.masked_fill(~mask, -float("inf"))
    torch.testing.assert_close(w, torch.softmax(e, -1))
    torch.testing.assert_close(ctx, (torch.softmax(e, -1).unsqueeze(-1) * k).sum(1))
    assert float(w[1, 2:].sum().detach()) == 0.0
    with pytest.raises(ConfigError, match=r"dot-product attention needs query_size == key_size, "
                                          r"received 3 and 5"):
        Attention(3, 5, kind="dot")
    with pytest.raises(ShapeError, match=r"expected a mask of shape \(2, 4\), received \(2, 3\)"):
        attn(q, k, mask=torch.ones(2, 3))
    with pytest.raises(ConfigError, match=r"expected `kind` to be one of 'additive', 'dot'"):
        Attention(3, 3, kind="cosine")


def test_dates_are_consistent():
    import datetime

    pairs = make_dates(200, seed=5)
    for text, iso in pairs:
        d = datetime.date.fromisoformat(iso)
        assert str(d.year) in text
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"):
            if day in text or day[:3] + " " in text[:4]:
                assert d.strftime("%A").lower().startswith(day[:3])
    source, _ = date_vocabularies()
    assert all(set(t) <= set(source.symbols) for t, _ in pairs)


def test_skipgram_pairs_and_similar_words():
    assert skipgram_pairs(np.array([5, 6, 7, 8]), 2).tolist() == [
        [5, 6], [5, 7], [6, 5], [6, 7], [6, 8], [7, 5], [7, 6], [7, 8], [8, 6], [8, 7]]
    rng = np.random.default_rng(0)
    groups = [["cat", "dog", "pet", "fur"], ["car", "bus", "road", "wheel"],
              ["sun", "moon", "star", "sky"]]
    words = []
    for _ in range(400):  # sentences drawn from one topic at a time
        words += list(rng.choice(groups[rng.integers(3)], 6))
    sg = SkipGram(embedding_size=16, window=2, min_count=1, subsample=0, seed=0)
    sg.fit(words, epochs=3, batch_size=256, lr=0.02)
    assert sg.losses_[-1] < sg.losses_[0]
    for group in groups:
        for w in group:
            top = [t for t, _ in sg.most_similar(w, 3)]
            assert set(top) == set(group) - {w}, (w, top)
    cos = sg.most_similar("cat", 1)[0][1]
    v = sg.vectors_
    i, j = sg.vocabulary_.index["cat"], sg.vocabulary_.index[sg.most_similar("cat", 1)[0][0]]
    assert cos == pytest.approx(float(v[i] @ v[j] / (v[i].norm() * v[j].norm())), rel=1e-5)


def test_skipgram_bad_input():
    with pytest.raises(NotFittedError, match=r"not fitted yet"):
        SkipGram().most_similar("a")
    sg = SkipGram(min_count=1, embedding_size=4).fit(["a", "b", "a", "b"], epochs=1)
    with pytest.raises(DataError, match=r"the word 'zebra' is not in the vocabulary of 2 words"):
        sg.most_similar("zebra")
    with pytest.raises(DataError, match=r"expected a non-empty list of words, received str"):
        SkipGram().fit("a b c")
    with pytest.raises(ConfigError, match=r"SkipGram: expected `window` to be an integer >= 1"):
        SkipGram(window=0)
