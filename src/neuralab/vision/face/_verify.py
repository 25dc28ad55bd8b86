"""Face verification (1:1) and recognition (1:K) on embeddings.

Verification answers "are these two images the same person?": ``d(f(a), f(b)) ≤ τ``.
The threshold ``τ`` comes from the ROC of labelled validation pairs: the
equal-error point (false-accept rate = false-reject rate) or the largest ``τ``
whose false-accept rate stays within a target. Recognition compares one image
with K enrolled identities and answers the nearest one, or "unknown" when even
the nearest is farther than ``τ``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...errors import DataError, DTypeError, NotFittedError, ShapeError, format_shape
from ...validation import check_bool, check_number, expected

__all__ = ["roc_curve", "equal_error_rate", "FaceVerifier", "FaceDatabase"]


def _distances_and_labels(owner: str, distances, same):
    d = torch.as_tensor(np.asarray(distances.detach().cpu() if isinstance(distances, torch.Tensor)
                                   else distances, dtype=np.float64))
    s = torch.as_tensor(np.asarray(same.detach().cpu() if isinstance(same, torch.Tensor) else same))
    if d.dim() != 1 or s.shape != d.shape:
        raise ShapeError(f"{owner}: expected `distances` and `same` of one shape (N,), received "
                         f"{format_shape(d.shape)} and {format_shape(s.shape)}")
    s = s.to(torch.bool)
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


class FaceVerifier:
    """1:1 face verification: ``same = d(f(a), f(b)) ≤ τ`` with τ from a validation ROC.

    Args:
        embedder: a module mapping images to embeddings (e.g. :class:`Siamese`),
            or None when the inputs are embeddings already.
        threshold: a fixed τ (then :meth:`fit` is optional).
        target_far: choose τ as the largest threshold whose false-accept rate
            is at most this; default None: the equal-error point.
        squared: squared Euclidean distances (default True, as the triplet loss).

    Attributes (after :meth:`fit`):
        threshold_: τ. eer_: the validation equal-error rate.
        roc_: ``(far, tar, thresholds)`` of the validation pairs.

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
                 target_far: float | None = None, squared: bool = True):
        if embedder is not None and not callable(embedder):
            raise expected("FaceVerifier", "embedder", "a module or None", type(embedder).__name__,
                           error=DTypeError)
        self.embedder = embedder
        self.threshold = check_number("FaceVerifier", "threshold", threshold, low=0.0,
                                      allow_none=True)
        self.target_far = check_number("FaceVerifier", "target_far", target_far, low=0.0,
                                       high=1.0, allow_none=True)
        self.squared = check_bool("FaceVerifier", "squared", squared)
        if self.threshold is not None:
            self.threshold_ = self.threshold

    def embed(self, x) -> torch.Tensor:
        """Embeddings ``(N, D)`` of images (or the embeddings themselves without an embedder)."""
        return _embedder_output("FaceVerifier", self.embedder, x)

    def distance(self, a, b) -> torch.Tensor:
        """``d(f(a), f(b))`` per pair ``(N,)``."""
        za, zb = self.embed(a), self.embed(b)
        if za.shape != zb.shape:
            raise ShapeError(f"FaceVerifier: expected `a` and `b` to give embeddings of one shape, "
                             f"received {format_shape(za.shape)} and {format_shape(zb.shape)}")
        d2 = (za - zb).pow(2).sum(1)
        return d2 if self.squared else d2.sqrt()

    def fit(self, a, b, same) -> "FaceVerifier":
        """Choose τ from the ROC of validation pairs ``(a[i], b[i])`` labelled ``same[i]``."""
        d = self.distance(a, b)
        far, tar, tau = roc_curve(d, same)
        self.roc_ = (far, tar, tau)
        self.eer_, eer_tau = equal_error_rate(d, same)
        if self.threshold is not None:
            self.threshold_ = self.threshold
        elif self.target_far is not None:
            ok = np.flatnonzero(far <= self.target_far)
            self.threshold_ = float(max(tau[ok[-1]], 0.0))
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

    Args:
        embedder: a module mapping images to embeddings, or None (inputs are embeddings).
        threshold: τ, or a fitted :class:`FaceVerifier` whose τ (and distance) is used.
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
        if isinstance(threshold, FaceVerifier):
            threshold._check_fitted()
            embedder = threshold.embedder if embedder is None else embedder
            squared = threshold.squared
            threshold = threshold.threshold_
        self.embedder = embedder
        self.threshold = check_number("FaceDatabase", "threshold", threshold, low=0.0,
                                      allow_none=True)
        self.squared = check_bool("FaceDatabase", "squared", squared)
        self._gallery: dict[str, torch.Tensor] = {}
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

    def remove(self, name: str) -> None:
        """Forget identity ``name``."""
        if name not in self._gallery:
            raise expected("FaceDatabase.remove", "name", "an enrolled identity, one of "
                           + ", ".join(repr(n) for n in self._gallery), name, error=DataError)
        del self._gallery[name]

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
        names = list(self._gallery)
        cols = []
        for name in names:
            g = self._gallery[name]
            d2 = (q[:, None] - g[None]).pow(2).sum(-1)  # (N, k)
            d = d2 if self.squared else d2.sqrt()
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
