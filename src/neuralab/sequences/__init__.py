"""Sequences: the recurrent-network chapter of the curriculum.

- padding and masks: :func:`pad_sequences`, :func:`lengths_to_mask`,
  :class:`MaskedLoss`, :func:`masked_accuracy`, :func:`sequence_loader` (ragged
  lists → padded batches for ``fit``); the recurrent layers take ``mask=`` or
  ``lengths=`` and run packed sequences.

The data generators (Reber grammars) live in :mod:`neuralab.datasets`.
"""

from ._bleu import BleuScore, bleu, corpus_bleu, sentence_bleu
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

__all__ = [
    "IGNORE_INDEX", "pad_sequences", "lengths_to_mask", "MaskedLoss", "masked_loss",
    "masked_accuracy", "SequenceDataset", "pad_collate", "sequence_loader",
    "BleuScore", "bleu", "corpus_bleu", "sentence_bleu",
]
