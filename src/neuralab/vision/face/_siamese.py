"""Siamese networks, triplet and contrastive losses, in-batch triplet mining.

CS230's face verification: one encoder ``f`` maps every image to an embedding;
two images show the same person when ``d(f(A), f(B))`` is small. The triplet
loss of an anchor ``A``, a positive ``P`` (same identity) and a negative ``N``
(another identity) is

    ℓ(A, P, N) = max(‖f(A) − f(P)‖² − ‖f(A) − f(N)‖² + α, 0)

with margin ``α ≥ 0`` (squared Euclidean distances as CS230 and FaceNet write
it; ``squared=False`` uses plain distances, PyTorch's ``triplet_margin_loss``).
"""

from __future__ import annotations

import torch
from torch import nn

from ...errors import DataError, DTypeError, ShapeError, format_shape
from ...validation import check_bool, check_choice, check_number, expected

__all__ = ["Siamese", "ViewAverage", "triplet_loss", "contrastive_loss", "info_nce_loss",
           "pairwise_distances", "TripletMiner"]

_REDUCTIONS = ("mean", "sum", "none")


def _embeddings(owner: str, **named) -> list[torch.Tensor]:
    """Check that embeddings are float tensors ``(N, D)`` of one size."""
    out, first = [], None
    for name, t in named.items():
        if not isinstance(t, torch.Tensor):
            raise expected(owner, name, "a tensor of embeddings (N, D)", type(t).__name__,
                           error=DTypeError)
        if t.dim() != 2:
            raise ShapeError(f"{owner}: expected `{name}` to be embeddings (N, D), received shape "
                             f"{format_shape(t.shape)}")
        if first is None:
            first = (name, t.shape)
        elif t.shape != first[1]:
            raise ShapeError(f"{owner}: expected `{name}` to have the shape of `{first[0]}` "
                             f"{format_shape(first[1])}, received {format_shape(t.shape)}")
        out.append(t)
    return out


def _reduce(loss: torch.Tensor, reduction: str, owner: str) -> torch.Tensor:
    reduction = check_choice(owner, "reduction", reduction, _REDUCTIONS)
    if reduction == "mean":
        return loss.mean() if loss.numel() else loss.sum()
    if reduction == "sum":
        return loss.sum()
    return loss


def triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
                 margin: float = 0.2, *, squared: bool = True, reduction: str = "mean") -> torch.Tensor:
    """CS230's triplet loss ``max(d(A, P) − d(A, N) + α, 0)``.

    Args:
        anchor, positive, negative: embeddings ``(N, D)``.
        margin: α ≥ 0 (default 0.2).
        squared: ``d`` is the squared Euclidean distance (default, CS230/FaceNet);
            ``False``: the Euclidean distance (``torch.nn.functional.triplet_margin_loss``).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (``(N,)``).

    Example:
        >>> a = torch.tensor([[0.0, 0.0]]); p = torch.tensor([[1.0, 0.0]]); n = torch.tensor([[0.0, 1.5]])
        >>> float(triplet_loss(a, p, n, margin=0.5))    # max(1 − 2.25 + 0.5, 0)
        0.0
        >>> float(triplet_loss(a, p, n, margin=2.0))    # 1 − 2.25 + 2
        0.75
    """
    anchor, positive, negative = _embeddings("triplet_loss", anchor=anchor, positive=positive,
                                             negative=negative)
    margin = check_number("triplet_loss", "margin", margin, low=0.0)
    squared = check_bool("triplet_loss", "squared", squared)
    d_ap = (anchor - positive).pow(2).sum(1)
    d_an = (anchor - negative).pow(2).sum(1)
    if not squared:
        d_ap, d_an = d_ap.clamp_min(1e-12).sqrt(), d_an.clamp_min(1e-12).sqrt()
    return _reduce((d_ap - d_an + margin).clamp_min(0), reduction, "triplet_loss")


def same_flags(owner: str, same: torch.Tensor) -> torch.Tensor:
    """``same`` as a bool tensor; refused unless every value is 1/True or 0/False."""
    if same.dtype != torch.bool and not bool(((same == 0) | (same == 1)).all()):
        raise DataError(f"{owner}: expected `same` to hold 1/True (one identity) or 0/False per pair, "
                        f"received values in [{float(same.min()):g}, {float(same.max()):g}]; for identity "
                        "labels pass same=(labels_a == labels_b)")
    return same.to(torch.bool)


def contrastive_loss(a: torch.Tensor, b: torch.Tensor, same, margin: float = 1.0, *,
                     reduction: str = "mean") -> torch.Tensor:
    """The contrastive loss of Hadsell, Chopra & LeCun (2006) on pairs.

    ``ℓ = y · d² + (1 − y) · max(m − d, 0)²`` with ``d = ‖a − b‖`` and ``y = 1``
    for a pair of the same identity: similar pairs are pulled together,
    dissimilar ones pushed at least ``m`` apart.

    Args:
        a, b: embeddings ``(N, D)``.
        same: ``(N,)`` 1/True where the pair shows one identity.
        margin: m ≥ 0 (default 1).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Example:
        >>> a = torch.zeros(2, 2); b = torch.tensor([[0.6, 0.0], [0.6, 0.0]])
        >>> [round(v, 4) for v in contrastive_loss(a, b, torch.tensor([1, 0]), reduction="none").tolist()]
        [0.36, 0.16]
    """
    a, b = _embeddings("contrastive_loss", a=a, b=b)
    margin = check_number("contrastive_loss", "margin", margin, low=0.0)
    same = torch.as_tensor(same, device=a.device)
    if same.shape != (len(a),):
        raise ShapeError(f"contrastive_loss: expected `same` of shape ({len(a)},), received "
                         f"{format_shape(same.shape)}")
    y = same_flags("contrastive_loss", same).to(a.dtype)
    d2 = (a - b).pow(2).sum(1)
    d = d2.clamp_min(1e-12).sqrt()
    loss = y * d2 + (1 - y) * (margin - d).clamp_min(0).pow(2)
    return _reduce(loss, reduction, "contrastive_loss")


def info_nce_loss(embeddings: torch.Tensor, labels, temperature: float = 0.1, *,
                  reduction: str = "mean") -> torch.Tensor:
    """The multi-positive InfoNCE loss (SimCLR's NT-Xent; SupCon, Khosla et al. 2020).

    With cosine similarities ``s_ij = z_i·z_j / (‖z_i‖‖z_j‖ τ)``, each sample ``i``
    that has positives ``P(i)`` (same label, ``j ≠ i``) scores

        ℓ_i = −1/|P(i)| Σ_{p ∈ P(i)} log( exp s_ip / Σ_{k ≠ i} exp s_ik )

    Labels that are identities give the supervised loss; labels that name the
    source image of two augmented views give SimCLR's self-supervised loss.
    Samples without a positive are left out.

    Args:
        embeddings: ``(N, D)``.
        labels: ``(N,)``.
        temperature: τ > 0 (default 0.1).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (``(N,)``, 0 without positives).

    Example:
        >>> z = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]])
        >>> round(float(info_nce_loss(z, torch.tensor([0, 0, 1, 1]), temperature=1.0)), 4)
        0.5978
    """
    (embeddings,) = _embeddings("info_nce_loss", embeddings=embeddings)
    temperature = check_number("info_nce_loss", "temperature", temperature, low=0.0, low_open=True)
    labels = torch.as_tensor(labels, device=embeddings.device)
    if labels.shape != (len(embeddings),):
        raise ShapeError(f"info_nce_loss: expected `labels` of shape ({len(embeddings)},), "
                         f"received {format_shape(labels.shape)}")
    z = nn.functional.normalize(embeddings, dim=1)
    eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
    sim = (z @ z.T / temperature).masked_fill(eye, float("-inf"))
    log_p = sim.log_softmax(1).masked_fill(eye, 0.0)
    pos = (labels[:, None] == labels[None]) & ~eye
    count = pos.sum(1)
    per = -(log_p * pos).sum(1) / count.clamp_min(1)
    reduction = check_choice("info_nce_loss", "reduction", reduction, _REDUCTIONS)
    if reduction == "none":
        return per
    per = per[count > 0]
    return _reduce(per, reduction, "info_nce_loss")


def pairwise_distances(x: torch.Tensor, y: torch.Tensor | None = None, *,
                       squared: bool = True) -> torch.Tensor:
    """Distances between the rows of ``x (N, D)`` and ``y (M, D)`` (default ``x``) → ``(N, M)``.

    Example:
        >>> pairwise_distances(torch.tensor([[0.0, 0.0], [3.0, 4.0]]), squared=False).tolist()
        [[0.0, 5.0], [5.0, 0.0]]
    """
    (x,) = _embeddings("pairwise_distances", x=x)
    y = x if y is None else y
    if not isinstance(y, torch.Tensor) or y.dim() != 2 or y.shape[1] != x.shape[1]:
        raise ShapeError(f"pairwise_distances: expected `y` to be (M, {x.shape[1]}), received "
                         f"{format_shape(getattr(y, 'shape', None))}")
    d2 = (x.pow(2).sum(1)[:, None] + y.pow(2).sum(1)[None] - 2 * x @ y.T).clamp_min(0)
    if y is x:
        d2 = d2 * (1 - torch.eye(len(x), dtype=d2.dtype, device=d2.device))  # exact zero diagonal
    return d2 if squared else d2.sqrt()


class TripletMiner:
    """Pick the triplets of a labelled batch of embeddings.

    Strategies (``d`` the distance of :func:`triplet_loss`):

    - ``"all"``: every valid triplet ``(a, p, n)``: ``a ≠ p`` of one label, ``n`` of another;
    - ``"hard"`` (batch-hard, Hermans et al. 2017): for each anchor, its farthest
      positive and its nearest negative;
    - ``"semi-hard"`` (FaceNet, Schroff et al. 2015): for each positive pair
      ``(a, p)``, the nearest negative farther than the positive but inside the
      margin, ``d(a, p) < d(a, n) < d(a, p) + α``; pairs without one are skipped.

    Ties go to the lowest index.

    Args:
        strategy: ``"all"``, ``"hard"`` or ``"semi-hard"`` (default).
        margin: α of the semi-hard window and of :meth:`loss` (default 0.2).
        squared: distances squared (default True).

    Example:
        >>> emb = torch.tensor([[0.0], [0.1], [1.0], [0.3]]); labels = torch.tensor([0, 0, 1, 1])
        >>> a, p, n = TripletMiner("hard")(emb, labels)
        >>> a.tolist(), p.tolist(), n.tolist()
        ([0, 1, 2, 3], [1, 0, 3, 2], [3, 3, 1, 1])
    """

    STRATEGIES = ("all", "hard", "semi-hard")

    def __init__(self, strategy: str = "semi-hard", margin: float = 0.2, *, squared: bool = True):
        self.strategy = check_choice("TripletMiner", "strategy", strategy, self.STRATEGIES)
        self.margin = check_number("TripletMiner", "margin", margin, low=0.0)
        self.squared = check_bool("TripletMiner", "squared", squared)

    def __repr__(self) -> str:
        return f"TripletMiner({self.strategy!r}, margin={self.margin:g})"

    def __call__(self, embeddings: torch.Tensor, labels) -> tuple[torch.Tensor, ...]:
        """Indices ``(anchors, positives, negatives)`` of the mined triplets (LongTensors)."""
        (embeddings,) = _embeddings("TripletMiner", embeddings=embeddings)
        labels = torch.as_tensor(labels, device=embeddings.device)
        if labels.shape != (len(embeddings),):
            raise ShapeError(f"TripletMiner: expected `labels` of shape ({len(embeddings)},), "
                             f"received {format_shape(labels.shape)}")
        with torch.no_grad():
            d = pairwise_distances(embeddings.detach(), squared=self.squared)
        n = len(labels)
        same = labels[:, None] == labels[None]
        eye = torch.eye(n, dtype=torch.bool, device=d.device)
        pos_mask, neg_mask = same & ~eye, ~same
        if self.strategy == "all":
            valid = pos_mask[:, :, None] & neg_mask[:, None, :]
            a, p, q = valid.nonzero(as_tuple=True)
            return a, p, q
        if self.strategy == "hard":
            has = pos_mask.any(1) & neg_mask.any(1)
            big = torch.finfo(d.dtype).max
            far = torch.where(pos_mask, d, -1.0).argmax(1)  # first index among ties
            near = torch.where(neg_mask, d, big).argmin(1)
            a = has.nonzero().squeeze(1)
            return a, far[a], near[a]
        a, p = pos_mask.nonzero(as_tuple=True)
        d_ap = d[a, p][:, None]
        d_an = d[a]  # (P, n)
        window = neg_mask[a] & (d_an > d_ap) & (d_an < d_ap + self.margin)
        big = torch.finfo(d.dtype).max
        q = torch.where(window, d_an, big).argmin(1)
        ok = window.any(1)
        return a[ok], p[ok], q[ok]

    def loss(self, embeddings: torch.Tensor, labels, *, reduction: str = "mean") -> torch.Tensor:
        """The triplet loss over the mined triplets (0 when none is found)."""
        a, p, q = self(embeddings, labels)
        if len(a) == 0:
            return embeddings.sum() * 0.0
        return triplet_loss(embeddings[a], embeddings[p], embeddings[q], self.margin,
                            squared=self.squared, reduction=reduction)


class Siamese(nn.Module):
    """One encoder shared by every input: ``x ↦ f(x)``, L2-normalised on request.

    ``forward(x)`` embeds one batch; ``forward(a, b)`` (or more inputs) embeds
    each with the same weights and returns a tuple. :meth:`distance` is
    ``‖f(a) − f(b)‖²`` (or ``‖·‖`` with ``squared=False``).

    Args:
        encoder: any ``torch.nn.Module`` mapping a batch to ``(N, D)`` (or to
            ``(N, …)``, flattened), e.g. a neuralab network or an
            architecture's ``features()``.
        normalize: divide each embedding by its L2 norm (default True).

    Example:
        >>> from torch import nn
        >>> net = Siamese(nn.Sequential(nn.Flatten(), nn.Linear(4, 3)))
        >>> a, b = net(torch.randn(2, 1, 2, 2), torch.randn(2, 1, 2, 2))
        >>> tuple(a.shape), round(a.detach().norm(dim=1)[0].item(), 4)
        ((2, 3), 1.0)
    """

    def __init__(self, encoder: nn.Module, *, normalize: bool = True):
        super().__init__()
        if not isinstance(encoder, nn.Module):
            raise expected("Siamese", "encoder", "a torch.nn.Module", type(encoder).__name__,
                           error=DTypeError)
        self.encoder = encoder
        self.normalize = check_bool("Siamese", "normalize", normalize)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encoder(x)
        z = z.reshape(len(z), -1)
        if self.normalize:
            z = nn.functional.normalize(z, dim=1)
        return z

    def forward(self, *inputs: torch.Tensor):
        if not inputs:
            raise expected("Siamese", "inputs", "at least one batch of images", "no input")
        if len(inputs) == 1:
            return self.embed(inputs[0])
        sizes = [len(x) for x in inputs]
        z = self.embed(torch.cat(inputs))  # one pass: BatchNorm sees every branch
        return tuple(z.split(sizes))

    def distance(self, a: torch.Tensor, b: torch.Tensor, *, squared: bool = True) -> torch.Tensor:
        """``d(f(a), f(b))`` per pair ``(N,)``."""
        za, zb = self(a, b)
        d2 = (za - zb).pow(2).sum(1)
        return d2 if squared else d2.sqrt()

    def extra_repr(self) -> str:
        return "" if self.normalize else "normalize=False"


class ViewAverage(nn.Module):
    """Test-time augmentation: the mean embedding of an image and fixed views of it.

    ``f̄(x) = normalise(f(x) + Σ_k f(v_k(x)))`` for deterministic transforms
    ``v_k`` (e.g. fixed small warps), so one image always gets one embedding
    whatever batch it comes in. A gallery image and a query then both stand for
    a small neighbourhood of themselves, which tolerates the small deformations
    that separate two images of one identity.

    Args:
        embedder: a module mapping a batch to embeddings ``(N, D)`` (e.g. :class:`Siamese`).
        views: a sequence of callables ``x -> x`` of the batch's shape, applied in turn.
        normalize: L2-normalise the mean (default True).

    Example:
        >>> from torch import nn
        >>> tta = ViewAverage(nn.Flatten(), [lambda x: x.flip(-1)], normalize=False)
        >>> tta(torch.tensor([[[1.0, 3.0]]])).tolist()         # (f(x) + f(flip x)) / 2
        [[2.0, 2.0]]
    """

    def __init__(self, embedder: nn.Module, views, *, normalize: bool = True):
        super().__init__()
        if not callable(embedder):
            raise expected("ViewAverage", "embedder", "a module mapping images to embeddings",
                           type(embedder).__name__, error=DTypeError)
        views = list(views)
        if not all(callable(v) for v in views):
            raise expected("ViewAverage", "views", "a sequence of callables x -> x",
                           [type(v).__name__ for v in views], error=DTypeError)
        self.embedder = embedder
        self.views = views
        self.normalize = check_bool("ViewAverage", "normalize", normalize)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.embedder(x).reshape(len(x), -1)
        for view in self.views:
            v = view(x)
            if v.shape != x.shape:
                raise ShapeError(f"ViewAverage: expected each view to keep the batch's shape "
                                 f"{format_shape(x.shape)}, received {format_shape(v.shape)}")
            z = z + self.embedder(v).reshape(len(x), -1)
        z = z / (len(self.views) + 1)
        return nn.functional.normalize(z, dim=1) if self.normalize else z

    def extra_repr(self) -> str:
        return f"views={len(self.views)}" + ("" if self.normalize else ", normalize=False")
