"""Training an embedding with in-batch triplet mining.

Two ways, one recipe (``TripletMiner.loss`` on each batch's embeddings):

- :func:`train_triplet`: a plain PyTorch loop over class-balanced batches
  (``classes_per_batch`` identities × ``samples_per_class`` images, so every
  batch has positives and negatives to mine);
- :class:`TripletTrainer`: the same step as a ``neuralab.training.Trainer``
  subclass (``train_step`` mines), so progress, callbacks, checkpoints and
  resume come from the Trainer. Its batches are the Trainer's shuffled
  mini-batches; a batch of a few identities has triplets enough.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...errors import DataError, ShapeError, format_shape
from ...training import Trainer
from ...validation import check_choice, check_int, check_number, expected
from ._siamese import TripletMiner, info_nce_loss

__all__ = ["balanced_batches", "BalancedBatchSampler", "train_triplet", "TripletTrainer"]


def balanced_batches(labels, classes_per_batch: int, samples_per_class: int, n_batches: int,
                     *, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Index batches of ``classes_per_batch`` random classes × ``samples_per_class`` samples each.

    Classes with fewer samples are drawn with replacement.

    Example:
        >>> b = balanced_batches([0, 0, 1, 1, 2, 2], 2, 2, 3, generator=torch.Generator().manual_seed(0))
        >>> len(b), len(b[0])
        (3, 4)
    """
    labels = torch.as_tensor(np.asarray(labels))
    classes = labels.unique()
    p = min(check_int("balanced_batches", "classes_per_batch", classes_per_batch, low=2),
            len(classes))
    k = check_int("balanced_batches", "samples_per_class", samples_per_class, low=2)
    if len(classes) < 2:
        raise DataError(f"balanced_batches: expected at least two classes, received {len(classes)}")
    members = [torch.nonzero(labels == c).squeeze(1) for c in classes]
    out = []
    for _ in range(check_int("balanced_batches", "n_batches", n_batches, low=1)):
        chosen = torch.randperm(len(classes), generator=generator)[:p]
        idx = []
        for c in chosen.tolist():
            m = members[c]
            if len(m) >= k:
                idx.append(m[torch.randperm(len(m), generator=generator)[:k]])
            else:
                idx.append(m[torch.randint(len(m), (k,), generator=generator)])
        out.append(torch.cat(idx))
    return out


class BalancedBatchSampler(torch.utils.data.Sampler):
    """A ``batch_sampler`` of :func:`balanced_batches`: fresh P × K batches every epoch.

    Give it to a ``DataLoader`` and the loader to ``TripletTrainer.fit``, so every
    batch holds ``classes_per_batch`` identities with ``samples_per_class`` images each.

    Example:
        >>> s = BalancedBatchSampler([0, 0, 1, 1, 2, 2], 2, 2, n_batches=3, seed=0)
        >>> len(s), [len(b) for b in s]
        (3, [4, 4, 4])
    """

    def __init__(self, labels, classes_per_batch: int, samples_per_class: int, n_batches: int,
                 *, seed: int = 0):
        self.labels = torch.as_tensor(np.asarray(labels))
        self.p, self.k = classes_per_batch, samples_per_class
        self.n_batches = check_int("BalancedBatchSampler", "n_batches", n_batches, low=1)
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self):
        for batch in balanced_batches(self.labels, self.p, self.k, self.n_batches,
                                      generator=self.generator):
            yield batch.tolist()


def train_triplet(model: nn.Module, x, y, *, miner: TripletMiner | None = None, epochs: int = 10,
                  batches_per_epoch: int = 50, classes_per_batch: int = 6,
                  samples_per_class: int = 8, lr: float = 1e-3, weight_decay: float = 0.0,
                  seed: int = 0) -> dict:
    """Train an embedding ``model`` with the triplet loss of mined triplets (plain Adam loop).

    Args:
        model: maps a batch ``(B, …)`` to embeddings ``(B, D)`` (e.g. :class:`Siamese`).
        x, y: images ``(N, …)`` and identity labels ``(N,)``.
        miner: the mining strategy and margin (default ``TripletMiner("semi-hard", 0.2)``).
        epochs, batches_per_epoch: length of training (defaults 10 × 50).
        classes_per_batch, samples_per_class: batch composition (defaults 6 × 8).
        lr, weight_decay: Adam's settings (defaults 1e-3, 0).
        seed: seeds the batches (the model's initial weights are the caller's).

    Returns:
        ``{"loss": [per-epoch mean], "triplets": [per-epoch mean triplets per batch]}``.
    """
    miner = miner or TripletMiner("semi-hard", 0.2)
    epochs = check_int("train_triplet", "epochs", epochs, low=1)
    lr = check_number("train_triplet", "lr", lr, low=0.0, low_open=True)
    x = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x, dtype=np.float32))
    y = torch.as_tensor(np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y))
    if len(x) != len(y):
        raise ShapeError(f"train_triplet: expected one label per image, received {len(x)} images "
                         f"and labels of shape {format_shape(y.shape)}")
    if not isinstance(model, nn.Module):
        raise expected("train_triplet", "model", "a torch.nn.Module", type(model).__name__)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history = {"loss": [], "triplets": []}
    model.train()
    for _ in range(epochs):
        losses, counts = [], []
        for idx in balanced_batches(y, classes_per_batch, samples_per_class, batches_per_epoch,
                                    generator=gen):
            xb, yb = x[idx].to(device), y[idx].to(device)
            emb = model(xb)
            a, p, q = miner(emb, yb)
            if len(a) == 0:
                continue
            loss = _triplet_batch_loss(miner, emb, a, p, q)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            counts.append(len(a))
        history["loss"].append(float(np.mean(losses)) if losses else 0.0)
        history["triplets"].append(float(np.mean(counts)) if counts else 0.0)
    model.eval()
    return history


def _triplet_batch_loss(miner: TripletMiner, emb, a, p, q):
    from ._siamese import triplet_loss

    return triplet_loss(emb[a], emb[p], emb[q], miner.margin, squared=miner.squared)


class TripletTrainer(Trainer):
    """A ``neuralab.training.Trainer`` whose ``train_step`` mines triplets in each batch.

    ``TripletTrainer(model, miner=TripletMiner("semi-hard")).fit(x, y, epochs=…,
    batch_size=…)`` with identity labels ``y``: each step embeds the batch,
    mines its triplets, and steps the optimizer on their triplet loss. Progress,
    callbacks, checkpoints/resume, the NaN guard, devices and seeds are the
    Trainer's. Logs ``loss`` and ``triplets`` (mined per batch).

    Two options make embeddings that carry over to identities never seen in
    training (few training identities otherwise collapse to a few points):

    - ``identity_loss="info-nce"``: the identity term is :func:`info_nce_loss`
      over the batch (every same-identity pair a positive) instead of mined triplets;
    - ``instance_weight > 0``: every image is augmented twice and the two views
      of one image are one more identity (SimCLR's self-supervised term,
      :func:`info_nce_loss` with image labels), weighted by ``instance_weight``.
      Needs ``augment``;
    - ``views=2``: each image enters the batch as two augmentations (both
      labelled with its identity), which doubles the batch and gives every
      image a positive of its own.

    Args:
        module: the embedding model (e.g. :class:`Siamese`).
        miner: the mining strategy and margin (default ``TripletMiner("semi-hard", 0.2)``).
        augment: optional ``callable(x) -> x`` applied to each training batch.
        identity_loss: ``"triplet"`` (default) or ``"info-nce"``.
        temperature: τ of the InfoNCE terms (default 0.1).
        instance_weight: weight of the two-view instance term (default 0: none).
        views: augmentations of each image per batch (default None: 2 with the
            instance term, else 1). More than 1 needs ``augment``.
        optimizer, lr, progress, seed, **kwargs: as for ``Trainer``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from neuralab.vision.face import Siamese
        >>> x = torch.cat([torch.randn(20, 2) + 3, torch.randn(20, 2) - 3]); y = torch.arange(40) // 20
        >>> h = TripletTrainer(Siamese(nn.Linear(2, 2)), miner=TripletMiner("all", 0.5),
        ...                    lr=0.05).fit(x, y, epochs=3, batch_size=20)
        >>> len(h["loss"]), h["loss"][-1] <= h["loss"][0]
        (3, True)
    """

    IDENTITY_LOSSES = ("triplet", "info-nce")

    def __init__(self, module: nn.Module, *, miner: TripletMiner | None = None, augment=None,
                 identity_loss: str = "triplet", temperature: float = 0.1,
                 instance_weight: float = 0.0, views: int | None = None, optimizer="adam",
                 lr: float = 1e-3,
                 progress=False, seed: int | None = 0, **kwargs):
        super().__init__(module, optimizer=optimizer, lr=lr, loss=None, progress=progress,
                         seed=seed, **kwargs)
        if miner is not None and not isinstance(miner, TripletMiner):
            raise expected("TripletTrainer", "miner", "a TripletMiner", type(miner).__name__)
        if augment is not None and not callable(augment):
            raise expected("TripletTrainer", "augment", "a callable or None", type(augment).__name__)
        self.miner = miner or TripletMiner("semi-hard", 0.2)
        self.augment = augment
        self.identity_loss = check_choice("TripletTrainer", "identity_loss", identity_loss,
                                         self.IDENTITY_LOSSES)
        self.temperature = check_number("TripletTrainer", "temperature", temperature, low=0.0,
                                        low_open=True)
        self.instance_weight = check_number("TripletTrainer", "instance_weight", instance_weight,
                                            low=0.0)
        if self.instance_weight and augment is None:
            raise expected("TripletTrainer", "augment", "a callable when instance_weight > 0 (the "
                           "two views of an image are two augmentations)", None)
        self.views = check_int("TripletTrainer", "views", 2 if views is None and self.instance_weight
                               else 1 if views is None else views, low=1)
        if self.instance_weight and self.views < 2:
            raise expected("TripletTrainer", "views", "at least 2 when instance_weight > 0", views)
        if self.views > 1 and augment is None:
            raise expected("TripletTrainer", "augment", "a callable when views > 1 (each view is "
                           "an augmentation)", None)

    def train_step(self, batch) -> dict:
        xs, ys = batch
        x = xs[0] if isinstance(xs, (tuple, list)) else xs
        y = ys[0] if isinstance(ys, (tuple, list)) else ys
        if y is None:
            raise DataError("TripletTrainer: expected identity labels y with the images, "
                            "received y=None")
        if self.views > 1:
            views = torch.cat([self.augment(x) for _ in range(self.views)])
            ids = torch.arange(len(x), device=views.device).repeat(self.views)
            y = y.repeat(self.views)
        else:
            views = self.augment(x) if self.augment is not None else x
        emb = self.module(views)
        loss, n_triplets = None, 0.0
        if self.identity_loss == "triplet":
            a, p, q = self.miner(emb, y)
            n_triplets = float(len(a))
            if len(a):
                loss = _triplet_batch_loss(self.miner, emb, a, p, q)
        else:
            loss = info_nce_loss(emb, y, self.temperature)
        if self.instance_weight:
            term = self.instance_weight * info_nce_loss(emb, ids, self.temperature)
            loss = term if loss is None else loss + term
        if loss is None:  # no triplet in this batch: no step
            return {"loss": 0.0, "triplets": 0.0}
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach(), "triplets": n_triplets}
