"""Faces: detect (Haar cascade), embed (Siamese encoder), verify (1:1) and recognise (1:K).

- :class:`HaarCascade`: Viola–Jones detection, built from :func:`integral_image`,
  :class:`HaarFeatures` (the five Haar-like feature types) and
  :class:`AdaBoostStumps` (discrete AdaBoost, Viola–Jones weights), trained as an
  attentional cascade with hard negatives mined from :func:`background_images`;
  ``detect_multiscale(image)`` returns face boxes ``(k, 4)`` in xyxy.
- :class:`Siamese` (one shared encoder), :func:`triplet_loss` (CS230's
  ``max(‖f(A) − f(P)‖² − ‖f(A) − f(N)‖² + α, 0)``), :func:`contrastive_loss`,
  :func:`info_nce_loss` (SimCLR/SupCon),
  :class:`TripletMiner` (``"all"``, ``"hard"``, ``"semi-hard"``),
  :func:`train_triplet` / :class:`TripletTrainer`, :class:`ViewAverage`
  (test-time augmentation: the mean embedding of fixed views).
- :class:`FaceVerifier` (τ from a validation ROC: EER or a target FAR,
  ``verify(a, b) -> (same, distance)``), :func:`roc_curve`, :func:`equal_error_rate`,
  :class:`ScoreNorm` (S-norm against a cohort of known identities);
  :class:`FaceDatabase` (``enroll``, ``identify`` with "unknown").

Data that ships offline: :func:`load_lfw_windows` (scikit-image's ``lfw_subset``),
:func:`background_images`, :func:`sample_images` (astronaut, Grace Hopper).

    >>> import torch
    >>> from neuralab.vision.face import triplet_loss
    >>> a, p, n = torch.zeros(1, 2), torch.tensor([[0.1, 0.0]]), torch.tensor([[1.0, 0.0]])
    >>> round(float(triplet_loss(a, p, n, margin=0.2)), 4)       # max(0.01 − 1 + 0.2, 0)
    0.0
"""

from ._boost import AdaBoostStumps
from ._cascade import HaarCascade, group_rectangles
from ._data import augment_windows, background_images, load_lfw_windows, sample_images
from ._haar import FEATURE_TYPES, HaarFeatures, haar_feature_rects, integral_image
from ._siamese import (Siamese, TripletMiner, ViewAverage, contrastive_loss, info_nce_loss, pairwise_distances,
                       triplet_loss)
from ._train import BalancedBatchSampler, TripletTrainer, balanced_batches, train_triplet
from ._verify import FaceDatabase, FaceVerifier, ScoreNorm, equal_error_rate, roc_curve

__all__ = [
    "HaarCascade", "group_rectangles", "AdaBoostStumps", "HaarFeatures", "haar_feature_rects",
    "integral_image", "FEATURE_TYPES",
    "Siamese", "ViewAverage", "triplet_loss", "contrastive_loss", "info_nce_loss", "pairwise_distances", "TripletMiner",
    "train_triplet", "TripletTrainer", "balanced_batches", "BalancedBatchSampler",
    "FaceVerifier", "FaceDatabase", "ScoreNorm", "roc_curve", "equal_error_rate",
    "load_lfw_windows", "background_images", "sample_images", "augment_windows",
]
