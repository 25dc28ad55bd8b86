"""Face verification (1:1) and recognition (1:K) on embeddings.

Verification answers "are these two images the same person?": ``d(f(a), f(b)) ≤ τ``.
The threshold ``τ`` comes from the ROC of labelled validation pairs: the
equal-error point (false-accept rate = false-reject rate) or the largest ``τ``
whose false-accept rate stays within a target. Recognition compares one image
with K enrolled identities and answers the nearest one, or "unknown" when even
the nearest is farther than ``τ``.

A threshold chosen on some identities need not suit others: each image sits
in its own neighbourhood. :class:`ScoreNorm` (symmetric score normalisation,
S-norm, as speaker verification uses it) measures every distance in units of
the two images' own spread of distances to a cohort of known identities, so
that one threshold carries over to identities the cohort does not hold.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...errors import DataError, DTypeError, NotFittedError, ShapeError, format_shape
from ...validation import check_bool, check_number, expected
from ._siamese import pairwise_distances, same_flags

__all__ = ["roc_curve", "equal_error_rate", "ScoreNorm", "FaceVerifier", "FaceDatabase"]


def _distances_and_labels(owner: str, distances, same):
    d = torch.as_tensor(np.asarray(distances.detach().cpu() if isinstance(distances, torch.Tensor)
                                   else distances, dtype=np.float64))
    s = torch.as_tensor(np.asarray(same.detach().cpu() if isinstance(same, torch.Tensor) else same))
    if d.dim() != 1 or s.shape != d.shape:
        raise ShapeError(f"{owner}: expected `distances` and `same` of one shape (N,), received "
                         f"{format_shape(d.shape)} and {format_shape(s.shape)}")
    s = same_flags(owner, s)
    if not bool(torch.isfinite(d).all()):
        raise DataError(f"{owner}: expected finite distances, received {int((~torch.isfinite(d)).sum())} "
                        "NaN/inf (are the embeddings finite?)")
    if not bool(s.any()) or bool(s.all()):
        raise DataError(f"{owner}: expected both same-identity and different-identity pairs, "
                        f"received {int(s.sum())} same and {int((~s).sum())} different")
    return d, s


def roc_curve(distances, same):
    """The ROC of the rule "same identity when ``d ≤ τ``", every distinct ``τ``.

    Args:
        distances: ``(N,)`` pair distances.
        same: ``(N,)`` True for pairs of one identity.

    Returns:
        ``(far, tar, thresholds)`` NumPy arrays: false-accept rate (FPR), true-accept
        rate (TPR) and ``τ``, from ``τ = −inf`` (accept nothing) to the largest distance
        (accept everything). ``sklearn.metrics.roc_curve(same, −distances,
        drop_intermediate=False)`` gives the same rates with thresholds ``−τ``.

    Example:
        >>> far, tar, tau = roc_curve([0.1, 0.4, 0.35, 0.8], [1, 1, 0, 0])
        >>> far.tolist(), tar.tolist(), tau.tolist()
        ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0], [-inf, 0.1, 0.35, 0.4, 0.8])
    """
    d, s = _distances_and_labels("roc_curve", distances, same)
    order = torch.argsort(d, stable=True)
    d, s = d[order], s[order]
    tp = s.double().cumsum(0)
    fp = (~s).double().cumsum(0)
    last = torch.ones(len(d), dtype=torch.bool)
    last[:-1] = d[1:] != d[:-1]  # the last position of each distinct distance
    tar = torch.cat([torch.zeros(1), tp[last] / tp[-1]])
    far = torch.cat([torch.zeros(1), fp[last] / fp[-1]])
    tau = torch.cat([torch.tensor([-np.inf], dtype=torch.float64), d[last]])
    return far.numpy(), tar.numpy(), tau.numpy()


def equal_error_rate(distances, same):
    """The equal-error point of the ROC: ``(eer, τ)`` where FAR ≈ FRR (= 1 − TAR).

    The ROC vertex minimising ``|FAR − FRR|``; the EER is the mean of the two there.

    Example:
        >>> eer, tau = equal_error_rate([0.1, 0.2, 0.3, 0.9], [1, 1, 0, 0])
        >>> eer, tau
        (0.0, 0.2)
    """
    far, tar, tau = roc_curve(distances, same)
    frr = 1 - tar
    i = int(np.argmin(np.abs(far - frr)))
    return float((far[i] + frr[i]) / 2), float(tau[i])


def _embedder_output(owner: str, embedder, x) -> torch.Tensor:
    if embedder is None:
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(np.asarray(x, dtype=np.float32))
        if x.dim() != 2:
            raise ShapeError(f"{owner}: without an embedder, expected embeddings (N, D), received "
                             f"shape {format_shape(x.shape)}")
        return x.detach().float()
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    was_training = embedder.training if isinstance(embedder, nn.Module) else False
    try:
        if isinstance(embedder, nn.Module):
            embedder.eval()
            device = next((p.device for p in embedder.parameters()), torch.device("cpu"))
            x = x.to(device)
        with torch.no_grad():
            z = embedder(x)
    finally:
        if was_training:
            embedder.train()
    return z.reshape(len(z), -1).float().cpu()


class ScoreNorm:
    """Symmetric score normalisation (S-norm) of pair distances against a cohort.

    Each embedding ``z`` gets the mean ``μ(z)`` and standard deviation ``σ(z)``
    of its distances to the cohort, counting only cohort members of other
    identities than its own (when its identity is given), and a pair scores

        s(a, b) = (d(a, b) − μ(a)) / σ(a) + (d(a, b) − μ(b)) / σ(b)

    (lower: more alike). Leaving an image's own identity out of its cohort makes
    an image of a known identity see what an image of a new one sees, only
    strangers, so a threshold on ``s`` chosen on known identities carries over
    to new ones.

    Args:
        cohort: embeddings ``(M, D)`` of known identities.
        labels: their identities ``(M,)`` (at least two).
        squared: squared Euclidean distances (default True).

    Example:
        >>> norm = ScoreNorm(torch.tensor([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1], squared=False)
        >>> mu, sd = norm.stats(torch.tensor([[0.0], [0.0]]), [None, 1])
        >>> mu.tolist(), [round(v, 4) for v in sd.tolist()]     # all four; only 0.0 and 1.0
        ([1.5, 0.5], [1.291, 0.7071])
    """

    def __init__(self, cohort, labels, *, squared: bool = True):
        cohort = _embedder_output("ScoreNorm", None, cohort)
        labels = np.asarray(labels.detach().cpu() if isinstance(labels, torch.Tensor) else labels)
        if labels.shape != (len(cohort),):
            raise ShapeError(f"ScoreNorm: expected one label per cohort embedding ({len(cohort)},), "
                             f"received {format_shape(labels.shape)}")
        if len(np.unique(labels)) < 2:
            raise DataError(f"ScoreNorm: expected a cohort of at least two identities, received "
                            f"{len(np.unique(labels))}")
        self.cohort, self.labels = cohort, labels
        self.squared = check_bool("ScoreNorm", "squared", squared)

    def stats(self, z, identities=None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(μ, σ)`` ``(N,)`` of each embedding's distances to the cohort's other identities.

        ``identities``: ``(N,)`` the identity of each embedding (None entries, or
        None for all: an identity the cohort does not hold).
        """
        z = _embedder_output("ScoreNorm", None, z)
        if z.shape[1] != self.cohort.shape[1]:
            raise ShapeError(f"ScoreNorm: expected embeddings of size {self.cohort.shape[1]} like "
                             f"the cohort, received {z.shape[1]}")
        d = pairwise_distances(z.double(), self.cohort.double(), squared=self.squared)
        keep = torch.ones_like(d, dtype=torch.bool)
        if identities is not None:
            ids = list(identities)
            if len(ids) != len(z):
                raise ShapeError(f"ScoreNorm: expected one identity per embedding ({len(z)},), "
                                 f"received {len(ids)}")
            known = np.array([i is not None for i in ids], dtype=bool)
            same = np.zeros(d.shape, dtype=bool)
            if known.any():
                same[known] = np.asarray([i for i in ids if i is not None])[:, None] == self.labels[None]
            keep = torch.as_tensor(~same)
        n = keep.sum(1).double()
        mu = torch.where(keep, d, 0.0).sum(1) / n
        var = torch.where(keep, d - mu[:, None], 0.0).pow(2).sum(1) / (n - 1).clamp_min(1)
        return mu.float(), var.sqrt().clamp_min(1e-12).float()

    @staticmethod
    def normalise(d, stats_a, stats_b) -> torch.Tensor:
        """``s = (d − μ_a)/σ_a + (d − μ_b)/σ_b`` for distances ``d`` (broadcasting)."""
        (mu_a, sd_a), (mu_b, sd_b) = stats_a, stats_b
        return (d - mu_a) / sd_a + (d - mu_b) / sd_b


class FaceVerifier:
    """1:1 face verification: ``same = d(f(a), f(b)) ≤ τ`` with τ from a validation ROC.

    Args:
        embedder: a module mapping images to embeddings (e.g. :class:`Siamese`),
            or None when the inputs are embeddings already.
        threshold: a fixed τ (then :meth:`fit` is optional).
        target_far: choose τ as the largest threshold whose false-accept rate
            is at most this; default None: the equal-error point.
        squared: squared Euclidean distances (default True, as the triplet loss).
        cohort, cohort_labels: images (or embeddings without an embedder) of
            known identities and their labels, embedded once here: distances are
            then S-norm scores (:class:`ScoreNorm`), which can be negative, and so
            can τ. Images whose identities are not given are taken to be new
            identities (normalised against the whole cohort).

    Attributes (after :meth:`fit`):
        threshold_: τ. eer_: the validation equal-error rate.
        roc_: ``(far, tar, thresholds)`` of the validation pairs.
        norm_: the :class:`ScoreNorm` (with a cohort), else None.

    Example:
        >>> a = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
        >>> b = torch.tensor([[0.1, 0.0], [0.2, 0.0], [1.0, 0.0], [0.0, 2.0]])
        >>> v = FaceVerifier(squared=False).fit(a, b, [1, 1, 0, 0])
        >>> round(v.threshold_, 4), v.eer_
        (0.2, 0.0)
        >>> same, d = v.verify(torch.zeros(1, 2), torch.tensor([[0.15, 0.0]]))
        >>> same.tolist()
        [True]
    """

    def __init__(self, embedder=None, *, threshold: float | None = None,
                 target_far: float | None = None, squared: bool = True, cohort=None,
                 cohort_labels=None):
        if embedder is not None and not callable(embedder):
            raise expected("FaceVerifier", "embedder", "a module or None", type(embedder).__name__,
                           error=DTypeError)
        if (cohort is None) != (cohort_labels is None):
            raise expected("FaceVerifier", "cohort_labels", "given together with `cohort`",
                           "only one of them", error=DataError)
        self.embedder = embedder
        self.threshold = check_number("FaceVerifier", "threshold", threshold,
                                      low=None if cohort is not None else 0.0, allow_none=True)
        self.target_far = check_number("FaceVerifier", "target_far", target_far, low=0.0,
                                       high=1.0, allow_none=True)
        self.squared = check_bool("FaceVerifier", "squared", squared)
        self.norm_ = None
        if cohort is not None:
            self.norm_ = ScoreNorm(self.embed(cohort), cohort_labels, squared=self.squared)
        if self.threshold is not None:
            self.threshold_ = self.threshold

    def embed(self, x) -> torch.Tensor:
        """Embeddings ``(N, D)`` of images (or the embeddings themselves without an embedder)."""
        return _embedder_output("FaceVerifier", self.embedder, x)

    def distance(self, a, b, *, identities=None) -> torch.Tensor:
        """``d(f(a), f(b))`` per pair ``(N,)``; the S-norm score with a cohort.

        ``identities``: optional ``(ids_a, ids_b)``, the identities of the two
        sides when the cohort holds them (validation pairs): each image is then
        normalised against the cohort's other identities only.
        """
        za, zb = self.embed(a), self.embed(b)
        if za.shape != zb.shape:
            raise ShapeError(f"FaceVerifier: expected `a` and `b` to give embeddings of one shape, "
                             f"received {format_shape(za.shape)} and {format_shape(zb.shape)}")
        d2 = (za - zb).pow(2).sum(1)
        d = d2 if self.squared else d2.sqrt()
        if self.norm_ is None:
            return d
        ia, ib = (None, None) if identities is None else identities
        return ScoreNorm.normalise(d, self.norm_.stats(za, ia), self.norm_.stats(zb, ib))

    def fit(self, a, b, same, *, identities=None) -> "FaceVerifier":
        """Choose τ from the ROC of validation pairs ``(a[i], b[i])`` labelled ``same[i]``.

        ``identities=(ids_a, ids_b)`` (with a cohort): see :meth:`distance`.
        """
        d = self.distance(a, b, identities=identities)
        far, tar, tau = roc_curve(d, same)
        self.roc_ = (far, tar, tau)
        self.eer_, eer_tau = equal_error_rate(d, same)
        if self.threshold is not None:
            self.threshold_ = self.threshold
        elif self.target_far is not None:
            ok = np.flatnonzero(far <= self.target_far)
            t = float(tau[ok[-1]])
            self.threshold_ = t if self.norm_ is not None else max(t, 0.0)
        else:
            self.threshold_ = float(eer_tau)
        return self

    def _check_fitted(self):
        if not hasattr(self, "threshold_"):
            raise NotFittedError("This FaceVerifier has no threshold yet: call 'fit' with "
                                 "validation pairs, or pass threshold=")

    def verify(self, a, b):
        """``(same, distance)``: bool ``(N,)`` and the distances ``(N,)``."""
        self._check_fitted()
        d = self.distance(a, b)
        return d <= self.threshold_, d

    def score(self, a, b, same) -> float:
        """Accuracy of :meth:`verify` on labelled pairs."""
        pred, _ = self.verify(a, b)
        same = torch.as_tensor(np.asarray(same)).to(torch.bool)
        return float((pred == same).double().mean())


class FaceDatabase:
    """1:K recognition: enrolled identities, nearest-identity lookup with "unknown".

    ``identify(x)`` returns the identity whose nearest enrolled embedding is
    closest to ``f(x)``, or ``None`` when that distance exceeds the threshold.
    Given a :class:`FaceVerifier` with a cohort, distances are its S-norm scores.

    Args:
        embedder: a module mapping images to embeddings, or None (inputs are embeddings).
        threshold: τ, or a fitted :class:`FaceVerifier` whose τ, distance and
            score normalisation are used.
        squared: squared Euclidean distances (default True; taken from the verifier if given).

    Example:
        >>> db = FaceDatabase(threshold=0.5)
        >>> db.enroll("ada", torch.tensor([[0.0, 0.0]])); db.enroll("bob", torch.tensor([[1.0, 1.0]]))
        >>> name, distance = db.identify(torch.tensor([0.1, 0.0]))
        >>> name, round(distance, 4)
        ('ada', 0.01)
        >>> db.identify(torch.tensor([5.0, 5.0]))[0] is None
        True
    """

    def __init__(self, embedder=None, threshold=None, *, squared: bool = True):
        self.norm = None
        if isinstance(threshold, FaceVerifier):
            threshold._check_fitted()
            embedder = threshold.embedder if embedder is None else embedder
            squared = threshold.squared
            self.norm = threshold.norm_
            threshold = threshold.threshold_
        self.embedder = embedder
        self.threshold = check_number("FaceDatabase", "threshold", threshold,
                                      low=None if self.norm is not None else 0.0, allow_none=True)
        self.squared = check_bool("FaceDatabase", "squared", squared)
        self._gallery: dict[str, torch.Tensor] = {}
        self._stats: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._sample_shape = None

    @property
    def names(self) -> list[str]:
        return list(self._gallery)

    def __len__(self) -> int:
        return len(self._gallery)

    def __contains__(self, name) -> bool:
        return name in self._gallery

    def enroll(self, name: str, images) -> None:
        """Add (or extend) identity ``name`` with a batch of images ``(k, …)``."""
        if not isinstance(name, str) or not name:
            raise expected("FaceDatabase.enroll", "name", "a non-empty string", name,
                           error=DTypeError)
        x = images if isinstance(images, torch.Tensor) else torch.as_tensor(
            np.asarray(images, dtype=np.float32))
        if x.dim() == 0 or len(x) == 0:
            raise DataError(f"FaceDatabase.enroll: expected at least one image for {name!r}, "
                            f"received shape {format_shape(x.shape)}")
        if (self.embedder is not None and self._sample_shape is not None
                and tuple(x.shape[1:]) != self._sample_shape):
            raise ShapeError(f"FaceDatabase.enroll: expected images of shape "
                             f"{format_shape(self._sample_shape)} like those enrolled, received "
                             f"{format_shape(x.shape[1:])} for {name!r}")
        z = _embedder_output("FaceDatabase", self.embedder, x)
        if self._gallery:
            dim = next(iter(self._gallery.values())).shape[1]
            if z.shape[1] != dim:
                raise ShapeError(f"FaceDatabase.enroll: expected embeddings of size {dim} like "
                                 f"those enrolled, received {z.shape[1]} for {name!r}")
        self._sample_shape = tuple(x.shape[1:])
        self._gallery[name] = torch.cat([self._gallery[name], z]) if name in self._gallery else z
        if self.norm is not None:
            self._stats[name] = self.norm.stats(self._gallery[name])

    def remove(self, name: str) -> None:
        """Forget identity ``name``."""
        if name not in self._gallery:
            raise expected("FaceDatabase.remove", "name", "an enrolled identity, one of "
                           + ", ".join(repr(n) for n in self._gallery), name, error=DataError)
        del self._gallery[name]
        self._stats.pop(name, None)

    def distances(self, images) -> tuple[list[str], torch.Tensor]:
        """Names and the distance of each query ``(N, …)`` to each identity ``(N, K)``."""
        if not self._gallery:
            raise NotFittedError("FaceDatabase is empty: enroll at least one identity "
                                 "(db.enroll(name, images)) before identify")
        x = images if isinstance(images, torch.Tensor) else torch.as_tensor(
            np.asarray(images, dtype=np.float32))
        if tuple(x.shape[1:]) != self._sample_shape:
            raise ShapeError(f"FaceDatabase: expected queries (N, ...) with samples of shape "
                             f"{format_shape(self._sample_shape)}, received {format_shape(x.shape)}")
        q = _embedder_output("FaceDatabase", self.embedder, x)
        q_stats = None if self.norm is None else [s[:, None] for s in self.norm.stats(q)]
        names = list(self._gallery)
        cols = []
        for name in names:
            d2 = (q[:, None] - self._gallery[name][None]).pow(2).sum(-1)  # (N, k)
            d = d2 if self.squared else d2.sqrt()
            if self.norm is not None:
                d = ScoreNorm.normalise(d, q_stats, [s[None] for s in self._stats[name]])
            cols.append(d.min(1).values)
        return names, torch.stack(cols, 1)

    def identify(self, image):
        """``(name or None, distance)`` for one image; lists for a batch ``(N, …)``."""
        x = image if isinstance(image, torch.Tensor) else torch.as_tensor(
            np.asarray(image, dtype=np.float32))
        single = self._sample_shape is not None and tuple(x.shape) == self._sample_shape
        names, d = self.distances(x[None] if single else x)
        best, idx = d.min(1)
        out = [None if self.threshold is not None and float(v) > self.threshold else names[int(i)]
               for v, i in zip(best, idx)]
        if single:
            return out[0], float(best[0])
        return out, best
