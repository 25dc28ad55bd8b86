"""Sequences: the recurrent-network chapter of the curriculum.

- Variable-length batches: :func:`pad_sequences`, :func:`lengths_to_mask`,
  :class:`MaskedLoss`, :func:`masked_accuracy`, :func:`sequence_loader` (ragged
  lists → padded batches for ``fit``); the recurrent layers take ``mask=``/``lengths=``.
- The embedded Reber benchmark (Hochreiter & Schmidhuber, 1997):
  :func:`train_embedded_reber`, :func:`next_symbol_accuracy`, :class:`NextSymbolPredictor`
  (the strings come from :func:`neuralab.datasets.make_embedded_reber`).
- Long time lags: :func:`make_long_lag`, :func:`make_adding_problem`,
  :func:`hidden_gradient_norms` and :class:`GradientNormRecorder` (‖∂L/∂h_t‖ per step).
- Language models: :class:`CharLanguageModel`, :func:`perplexity`, :func:`sample`
  (temperature), :func:`beam_search` (length penalty), :func:`greedy_search`,
  :func:`load_corpus` (Python's help topics), :class:`Vocabulary`.
- Translation: :class:`Seq2Seq` with :class:`Attention` (additive, dot), the date task
  :func:`make_dates`; :func:`bleu` / :func:`sentence_bleu`.
- Word vectors: :class:`SkipGram` (negative sampling, ``most_similar``).

    >>> from neuralab.sequences import bleu
    >>> round(bleu(["a b c d"], [["a b c d"]]).score, 3)
    1.0
"""

from ._bleu import BleuScore, bleu, corpus_bleu, sentence_bleu
from ._decoding import beam_search, greedy_search, sample_next, select_state
from ._gradients import (
    GradientNormRecorder,
    hidden_gradient_norms,
    make_adding_problem,
    make_long_lag,
    plot_gradient_norms,
)
from ._lm import CharLanguageModel, generate_beam, perplexity, sample, text_windows
from ._padding import (
    IGNORE_INDEX,
    MaskedLoss,
    SequenceDataset,
    lengths_to_mask,
    masked_accuracy,
    masked_loss,
    pad_collate,
    pad_sequences,
    sequence_loader,
)
from ._reber import (
    NextSymbolPredictor,
    ReberRun,
    next_symbol_accuracy,
    summarize_runs,
    train_embedded_reber,
)
from ._seq2seq import DATE_FORMATS, Attention, Seq2Seq, date_vocabularies, make_dates
from ._skipgram import SkipGram, skipgram_pairs
from ._text import Vocabulary, load_corpus, words

__all__ = [
    "IGNORE_INDEX", "pad_sequences", "lengths_to_mask", "MaskedLoss", "masked_loss",
    "masked_accuracy", "SequenceDataset", "pad_collate", "sequence_loader",
    "BleuScore", "bleu", "corpus_bleu", "sentence_bleu",
    "greedy_search", "beam_search", "sample_next", "select_state",
    "make_long_lag", "make_adding_problem", "hidden_gradient_norms", "GradientNormRecorder",
    "plot_gradient_norms",
    "CharLanguageModel", "perplexity", "sample", "generate_beam", "text_windows",
    "NextSymbolPredictor", "ReberRun", "next_symbol_accuracy", "summarize_runs",
    "train_embedded_reber",
    "Attention", "Seq2Seq", "make_dates", "date_vocabularies", "DATE_FORMATS",
    "SkipGram", "skipgram_pairs",
    "Vocabulary", "load_corpus", "words",
]
