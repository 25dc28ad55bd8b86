"""The Viola–Jones attentional cascade: boosted Haar stumps, stage by stage.

Detection slides a ``h × w`` window over an image pyramid. Each window is
variance-normalised (``x' = (x − μ)/σ``, μ and σ from the integral images of
``x`` and ``x²``), so a feature of the normalised window is
``(f(x) − μ · Σ sign·area) / σ``. Stage ``s`` is an AdaBoost classifier
``Σ_t α_t h_t(x) ≥ Θ_s``; a window is a detection only when every stage accepts
it, so most windows are rejected after a few features.

Training (Viola & Jones 2001, table 2): each stage adds stumps until, with
``Θ_s`` set so that a fraction ``min_detection_rate`` of the training faces
pass, at most ``max_false_positive_rate`` of the current negatives pass. The
negatives of the next stage are those the cascade still accepts, topped up
with hard negatives: windows of face-free images (see
:func:`~neuralab.vision.face.background_images`) that the cascade so far
wrongly accepts.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin

from ...errors import ConfigError, DataError, NotFittedError, ShapeError, StorageError, format_shape
from ...validation import check_int, check_number, expected
from ._boost import StumpSearch, stump_predict, two_class_labels, viola_jones_weights
from ._haar import HaarFeatures, as_grey_images, integral_image

__all__ = ["HaarCascade", "group_rectangles"]

_FLAT = 1e-10  # variance below which a window counts as flat (σ := 1)
# a stump costs ~8 ns per window of the whole grid by slices, ~30-45 ns per surviving window
# by gathering corners (one CPU thread): slices while more than 1/_DENSE of the grid survives
_DENSE = 5
_MIN_DENSE = 2000  # below this many windows a level goes straight to the pool (per-call overhead)


def _window_stats(ii: torch.Tensor, ii2: torch.Tensor, base: torch.Tensor, stride: int,
                  h: int, w: int):
    """Mean and standard deviation of windows at flat offsets ``base`` of padded integral images."""
    def box(t):
        return t[base + h * stride + w] - t[base + w] - t[base + h * stride] + t[base]

    return _mean_std(box(ii), box(ii2), float(h * w))


def _mean_std(total: torch.Tensor, total_sq: torch.Tensor, area: float):
    """Windows' mean and standard deviation from their sums of values and of squares.

    A flat window (variance ≤ ``_FLAT``) gets σ = 1, so its features are not blown up.
    """
    mu = total / area
    var = total_sq / area - mu * mu
    sigma = torch.where(var > _FLAT, var.clamp_min(_FLAT).sqrt(), torch.ones_like(var))
    return mu, sigma


def _unique_corners(rects: np.ndarray):
    """Each feature's distinct integral-image corners: ``dy, dx`` (T, 9) int64 and coefficients."""
    dys, dxs, coefs = [], [], []
    for feature in rects:
        acc = {}
        for r, c, h, w, s in feature:
            if s == 0:
                continue
            for y, x, sign in ((r + h, c + w, 1), (r, c + w, -1), (r + h, c, -1), (r, c, 1)):
                acc[(int(y), int(x))] = acc.get((int(y), int(x)), 0) + int(s) * sign
        items = [(k, v) for k, v in sorted(acc.items()) if v != 0][:9]
        items += [((0, 0), 0)] * (9 - len(items))
        dys.append([k[0] for k, _ in items])
        dxs.append([k[1] for k, _ in items])
        coefs.append([v for _, v in items])
    shape = (len(rects), 9)
    return (np.asarray(dys, np.int64).reshape(shape), np.asarray(dxs, np.int64).reshape(shape),
            np.asarray(coefs, np.float64).reshape(shape))


def _resize(image: torch.Tensor, size) -> torch.Tensor:
    if tuple(image.shape) == tuple(size):
        return image
    return F.interpolate(image[None, None], size=size, mode="bilinear", antialias=True,
                         align_corners=False)[0, 0]


def _pyramid(image: torch.Tensor, window, scale_factor: float, min_size=None, max_size=None):
    """Levels ``(scale, resized image)`` from scale 1 up while the window still fits."""
    H, W = image.shape
    h, w = window
    levels, k = [], 0
    while True:
        scale = scale_factor ** k
        size = (int(round(H / scale)), int(round(W / scale)))
        if size[0] < h or size[1] < w:
            break
        k += 1
        if max_size is not None and (h * scale > max_size[0] or w * scale > max_size[1]):
            break
        if min_size is not None and (h * scale < min_size[0] or w * scale < min_size[1]):
            continue
        levels.append((H / size[0], W / size[1], _resize(image, size)))
    return levels


def group_rectangles(boxes: torch.Tensor, min_neighbors: int = 3, eps: float = 0.2) -> torch.Tensor:
    """Merge overlapping detections as OpenCV's ``groupRectangles`` does.

    Two boxes ``(x, y, w, h)`` are neighbours when every edge differs by at
    most ``δ = eps · (min(w₁, w₂) + min(h₁, h₂)) / 2``; connected neighbours form
    a cluster. Clusters of at most ``min_neighbors`` boxes are dropped, the
    rest are replaced by their mean box, and a mean box lying inside a
    better-supported one is dropped. ``min_neighbors=0`` returns the boxes unchanged.

    Args:
        boxes: ``(k, 4)`` xyxy.

    Returns:
        ``(m, 4)`` xyxy, the best-supported cluster first.

    Example:
        >>> b = torch.tensor([[0., 0, 10, 10], [1, 0, 11, 10], [0, 1, 10, 11], [50, 50, 60, 60]])
        >>> group_rectangles(b, min_neighbors=1).tolist()
        [[0.3333333432674408, 0.3333333432674408, 10.333333015441895, 10.333333015441895]]
    """
    boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    if min_neighbors <= 0 or len(boxes) == 0:
        return boxes
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    b64 = boxes.clone()
    order = torch.argsort(b64[:, 2] - b64[:, 0])  # by width: neighbours have similar widths
    b64 = b64[order]
    x, y = b64[:, 0], b64[:, 1]
    w, h = b64[:, 2] - x, b64[:, 3] - y
    rows, cols = [], []
    for start in range(0, len(b64), 256):  # neighbour pairs, a block of rows at a time
        stop = min(start + 256, len(b64))
        # |Δx0| ≤ δ and |Δx1| ≤ δ imply |Δw| ≤ 2δ ≤ eps·(w_i + h_i): a band of widths
        reach = float(eps * (w[start:stop] + h[start:stop]).max())
        lo = int(torch.searchsorted(w, w[start] - reach))
        hi = int(torch.searchsorted(w, w[stop - 1] + reach, right=True))
        rb, cb = b64[start:stop], b64[lo:hi]
        delta = eps * (torch.minimum(w[start:stop, None], w[None, lo:hi])
                       + torch.minimum(h[start:stop, None], h[None, lo:hi])) / 2
        near = (rb[:, None, 0] - cb[None, :, 0]).abs() <= delta
        for k in (1, 2, 3):
            near &= (rb[:, None, k] - cb[None, :, k]).abs() <= delta
        r, c = near.nonzero(as_tuple=True)
        rows.append(r + start)
        cols.append(c + lo)
    r, c = torch.cat(rows).numpy(), torch.cat(cols).numpy()
    graph = coo_matrix((np.ones(len(r)), (r, c)), shape=(len(b64), len(b64)))
    _, labels = connected_components(graph, directed=False)
    labels = torch.as_tensor(labels)
    n_clusters = int(labels.max()) + 1
    counts = torch.bincount(labels, minlength=n_clusters)
    sums = torch.zeros((n_clusters, 4), dtype=torch.float64).index_add_(0, labels, b64.double())
    means = sums / counts[:, None]
    keep = counts > min_neighbors
    means, counts = means[keep], counts[keep]
    if len(means) == 0:
        return torch.zeros((0, 4))
    # drop a mean box inside a better-supported one (OpenCV's rule)
    n1, n2 = counts[:, None], counts[None]
    dx = eps * (means[:, 2] - means[:, 0])
    dy = eps * (means[:, 3] - means[:, 1])
    inside = ((means[:, None, 0] >= means[None, :, 0] - dx[None])
              & (means[:, None, 1] >= means[None, :, 1] - dy[None])
              & (means[:, None, 2] <= means[None, :, 2] + dx[None])
              & (means[:, None, 3] <= means[None, :, 3] + dy[None]))
    stronger = (n2 > torch.clamp(n1, min=3)) | (n1 < 3)
    eye = torch.eye(len(means), dtype=torch.bool)
    drop = (inside & stronger & ~eye).any(1)
    means, counts = means[~drop], counts[~drop]
    order = torch.argsort(-counts, stable=True)
    return means[order].float()


class _Miner:
    """The windows of face-free images that the cascade trained so far still accepts.

    Built once per ``fit`` (a grid of windows, ``mining_step`` apart, on every
    pyramid level of every image); each new stage filters the survivors (on
    the whole grid with strided slices while many survive, by gathering
    corners once few do), and :meth:`sample` hands out random survivors, each
    window at most once.
    """

    def __init__(self, cascade: "HaarCascade", images, rng: np.random.Generator):
        self.cascade, self.rng = cascade, rng
        self.window = cascade.window_size_
        step = cascade.mining_step
        self.levels = []
        for image in images:
            for _, _, level in _pyramid(image, self.window, 1.25):
                offset = tuple(int(v) for v in rng.integers(0, step, 2))
                ii2d, phases, grid, mu, sigma = cascade._grid(level, step, offset)
                if mu is None:
                    continue
                self.levels.append({"level": level.float(), "ii2d": ii2d, "phases": phases,
                                    "grid": grid, "mu": mu, "sigma": sigma,
                                    "alive": torch.arange(mu.numel())})
        self.applied = 0

    def advance(self) -> None:
        """Filter the survivors with the stages added since the last call."""
        for st in self.cascade._stage_tensors[self.applied:]:
            for lv in self.levels:
                alive = lv["alive"]
                if len(alive) == 0:
                    continue
                if len(alive) * _DENSE > lv["mu"].numel():  # dense: every window of the grid
                    score = self.cascade._stage_dense(st, lv["phases"], lv["grid"], lv["mu"],
                                                      lv["sigma"]).reshape(-1)[alive]
                else:
                    stride = lv["ii2d"].shape[1]
                    base = self.cascade._base(lv["grid"], alive, stride)
                    score = self.cascade._stage_gather(st, lv["ii2d"].reshape(-1), stride, base,
                                                       lv["mu"].reshape(-1)[alive],
                                                       lv["sigma"].reshape(-1)[alive])
                lv["alive"] = alive[score >= st["threshold"]]
        self.applied = len(self.cascade._stage_tensors)

    def sample(self, n: int) -> torch.Tensor:
        """Up to ``n`` random surviving windows ``(k, h, w)``, removed from the pool."""
        h, w = self.window
        total = sum(len(lv["alive"]) for lv in self.levels)
        if total == 0:
            return torch.zeros((0, h, w), dtype=torch.float64)
        pick = np.sort(self.rng.choice(total, min(n, total), replace=False))
        out, start = [], 0
        dy, dx = torch.arange(h)[:, None], torch.arange(w)[None]
        for lv in self.levels:
            m = len(lv["alive"])
            sel = pick[(pick >= start) & (pick < start + m)] - start
            start += m
            if len(sel) == 0:
                continue
            sel = torch.as_tensor(sel)
            y0, x0, step, _, nx = lv["grid"]
            idx = lv["alive"][sel]
            ys, xs = y0 + step * (idx // nx), x0 + step * (idx % nx)
            out.append(lv["level"][ys[:, None, None] + dy, xs[:, None, None] + dx].double())
            keep = torch.ones(m, dtype=torch.bool)
            keep[sel] = False
            lv["alive"] = lv["alive"][keep]
        return torch.cat(out)


class HaarCascade(ClassifierMixin, BaseEstimator):
    """A Viola–Jones face detector: Haar features, AdaBoost stages, an attentional cascade.

    A scikit-learn estimator on windows (``fit(windows, labels)``,
    ``predict(windows)``) that also scans whole images
    (:meth:`detect_multiscale`).

    Args:
        n_stages: the most stages to train (default 20); training stops earlier
            when no face-free window passes the cascade any more.
        min_detection_rate: per stage, the fraction of training faces that must
            pass (sets the stage threshold Θ, default 0.995).
        max_false_positive_rate: per stage, stumps are added until at most this
            fraction of the stage's negatives pass (default 0.5).
        max_stumps_per_stage: a stage's size limit (default 50), or a list of limits,
            one per stage with the last one repeated: ``[2, 5, 20, 50]`` starts the
            cascade with Viola and Jones's small, cheap stages, which reject many
            windows at the cost of a few features each. A stage that reaches its
            limit keeps the threshold that passes its faces, whatever its
            false-positive rate.
        features_per_stage: the number of Haar features, drawn at random from all
            of the window's features, that a stage chooses from; ``None`` = all
            (default 6000; a 25 × 25 window has 190,736).
        feature_types: the Haar types used (default all five).
        n_negatives: negatives per stage (default 1000): the survivors of
            the previous stage plus mined hard negatives.
        negative_images: ``"builtin"`` (face-free pictures of scikit-image and
            scikit-learn), a list of face-free images (grey or RGB), or ``None``
            (only the negatives in ``fit``'s data).
        mining_step: window step, in pixels of each pyramid level, when mining (default 2).
        augment: warped copies of each training face added by :func:`augment_windows`
            (with the mirror image; default 0: the faces as given).
        validation_fraction: the fraction of faces (with their augmented copies)
            held out of each stage's boosting, at random per stage, to set its
            threshold Θ on faces the stage has not fitted (default 0: Θ is set on
            the boosted faces).
        threshold_slack: each stage's threshold Θ is lowered by this fraction of
            its Σα below the score that ``min_detection_rate`` of the faces reach
            (default 0), or a list, one per stage with the last one repeated. A stage
            fits its training faces better than faces it has never seen; the slack
            keeps a margin for those, and the stage adds stumps until it meets
            ``max_false_positive_rate`` at the lowered Θ.
        random_state: seed of the feature draws and the mining (default 0).

    Input shape: windows ``(N, h, w)`` grey (values in [0, 1] or 8-bit).

    Attributes:
        window_size_: ``(h, w)``.
        stages_: per stage, a dict of its stumps (``rects (T, 4, 5)``,
            ``thresholds``, ``polarities``, ``alphas``) and its ``threshold`` Θ.
        stage_stats_: per stage, the training detection and false-positive rates.
        n_stumps_: the total number of stumps.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> faces = rng.random((40, 8, 8)); faces[:, :4] += 1.0   # bright top half
        >>> other = rng.random((40, 8, 8))
        >>> x = np.concatenate([faces, other]) / 2; y = np.r_[np.ones(40), np.zeros(40)]
        >>> cascade = HaarCascade(n_stages=2, negative_images=None).fit(x, y)
        >>> float(cascade.score(x, y)) >= 0.95
        True
    """

    def __init__(self, *, n_stages: int = 20, min_detection_rate: float = 0.995,
                 max_false_positive_rate: float = 0.5, max_stumps_per_stage: int | list = 50,
                 features_per_stage: int | None = 6000, feature_types=None,
                 n_negatives: int = 1000, negative_images="builtin", mining_step: int = 2,
                 augment: int = 0, validation_fraction: float = 0.0,
                 threshold_slack: float | list = 0.0, random_state: int = 0):
        self.n_stages = n_stages
        self.min_detection_rate = min_detection_rate
        self.max_false_positive_rate = max_false_positive_rate
        self.max_stumps_per_stage = max_stumps_per_stage
        self.features_per_stage = features_per_stage
        self.feature_types = feature_types
        self.n_negatives = n_negatives
        self.negative_images = negative_images
        self.mining_step = mining_step
        self.augment = augment
        self.validation_fraction = validation_fraction
        self.threshold_slack = threshold_slack
        self.random_state = random_state

    # ------------------------------------------------------------------ checks
    def _check_params(self):
        name = "HaarCascade"
        check_int(name, "n_stages", self.n_stages, low=1)
        check_number(name, "min_detection_rate", self.min_detection_rate, low=0.0, high=1.0,
                     low_open=True)
        check_number(name, "max_false_positive_rate", self.max_false_positive_rate, low=0.0,
                     high=1.0, low_open=True, high_open=True)
        self._per_stage("max_stumps_per_stage")
        check_int(name, "features_per_stage", self.features_per_stage, low=1, allow_none=True)
        check_int(name, "n_negatives", self.n_negatives, low=1)
        check_int(name, "mining_step", self.mining_step, low=1)
        check_int(name, "augment", self.augment, low=0)
        check_number(name, "validation_fraction", self.validation_fraction, low=0.0, high=1.0,
                     high_open=True)
        self._per_stage("threshold_slack")
        check_int(name, "random_state", self.random_state, low=0)

    def _per_stage(self, name: str) -> list:
        """A per-stage setting as a list (the last value repeats): an int/float or a list of them."""
        value = getattr(self, name)
        if name == "max_stumps_per_stage":
            check = lambda key, v: check_int("HaarCascade", key, v, low=1)  # noqa: E731
            what = "an integer >= 1 or a non-empty list of them"
        else:
            check = lambda key, v: check_number("HaarCascade", key, v, low=0.0, high=1.0)  # noqa: E731
            what = "a finite number >= 0 and <= 1 or a non-empty list of them"
        if isinstance(value, (list, tuple)):
            if not value:
                raise expected("HaarCascade", name, what, value)
            return [check(f"{name}[{i}]", v) for i, v in enumerate(value)]
        return [check(name, value)]

    def _check_fitted(self):
        if not hasattr(self, "stages_"):
            raise NotFittedError("This HaarCascade instance is not fitted yet. Call 'fit' with "
                                 "appropriate arguments before using this estimator.")

    def _windows(self, windows) -> torch.Tensor:
        shape = tuple(np.shape(windows))
        if len(shape) == 3 and shape[-1] in (3, 4):
            raise ShapeError(f"HaarCascade: expected `windows` to be grey (N, h, w) or colour "
                             f"(N, h, w, 3), received shape {format_shape(shape)}, which looks "
                             "like one colour image (H, W, C); pass a batch of windows, or the "
                             "image to detect_multiscale")
        x = as_grey_images(windows, "HaarCascade", name="windows")
        if hasattr(self, "window_size_") and tuple(x.shape[1:]) != tuple(self.window_size_):
            raise ShapeError(f"HaarCascade: expected windows of size {format_shape(self.window_size_)}"
                             f" (the training window), received {format_shape(x.shape[1:])}")
        if not bool(torch.isfinite(x).all()):
            raise DataError("HaarCascade: expected finite pixel values, received NaN or inf")
        return x

    def _background(self):
        source = self.negative_images
        if source is None:
            return []
        if isinstance(source, str):
            if source != "builtin":
                raise expected("HaarCascade", "negative_images", "'builtin', a list of images or None",
                               source)
            from ._data import background_images

            return [torch.from_numpy(im) for im in background_images(max_side=320)]
        images = [as_grey_images(im, "HaarCascade", name="negative_images[i]", batched=False)
                  for im in source]
        h, w = self.window_size_
        return [im for im in images if im.shape[0] >= h and im.shape[1] >= w]

    # ------------------------------------------------------------------ features
    def _features(self, x: torch.Tensor, haar: HaarFeatures) -> torch.Tensor:
        """Variance-normalised features of windows ``(N, h, w)`` → ``(F, N)`` float32."""
        raw = haar(x, transposed=True, dtype=torch.float64)  # (F, N)
        flat = x.reshape(len(x), -1)
        mu, sigma = _mean_std(flat.mean(1), (flat * flat).mean(1), 1.0)  # of means: area 1
        ws = torch.as_tensor(haar.weight_sums, dtype=torch.float64)
        return ((raw - ws[:, None] * mu[None]) / sigma[None]).to(torch.float32)

    # ------------------------------------------------------------------ fit
    def fit(self, windows, labels):
        """Train the cascade on windows ``(N, h, w)`` and labels (1 = face, 0 = non-face)."""
        self._check_params()
        for attr in ("stages_", "window_size_"):
            self.__dict__.pop(attr, None)
        x = self._windows(windows)
        self.classes_, is_face = two_class_labels("HaarCascade", "labels", labels, len(x),
                                                  "two classes (faces and non-faces)")
        self.window_size_ = (int(x.shape[1]), int(x.shape[2]))
        h, w = self.window_size_
        pos, neg = x[is_face], x[~is_face]
        groups = np.arange(len(pos))  # which original face each positive comes from
        if self.augment:
            from ._data import augment_windows

            pos = torch.from_numpy(augment_windows(pos.numpy(), self.augment,
                                                   seed=self.random_state))
            groups = np.tile(groups, len(pos) // len(groups))
        rng = np.random.default_rng(self.random_state)
        all_features = HaarFeatures(h, w, self.feature_types)
        n_all = len(all_features)
        background = self._background()
        miner = _Miner(self, background, rng) if background else None
        self.stages_, self.stage_stats_ = [], []
        limits, slacks = self._per_stage("max_stumps_per_stage"), self._per_stage("threshold_slack")
        for index in range(self.n_stages):
            need = self.n_negatives - len(neg)
            if need > 0 and miner is not None:
                mined = miner.sample(need)
                neg = torch.cat([neg, mined]) if len(mined) else neg
            elif need < 0:
                neg = neg[torch.as_tensor(rng.permutation(len(neg))[:self.n_negatives])]
            if len(neg) == 0 or len(pos) == 0:
                break
            k = n_all if self.features_per_stage is None else min(self.features_per_stage, n_all)
            chosen = np.sort(rng.choice(n_all, k, replace=False)) if k < n_all else np.arange(n_all)
            haar = all_features.subset(chosen)
            val = np.zeros(len(pos), dtype=bool)
            if self.validation_fraction:
                ids = np.unique(groups)
                held = rng.choice(ids, max(1, int(round(self.validation_fraction * len(ids)))),
                                  replace=False)
                val = np.isin(groups, held)
            order = np.r_[np.flatnonzero(~val), np.flatnonzero(val)]
            pos, groups = pos[torch.as_tensor(order)], groups[order]
            n_val = int(val.sum())
            stage, pos_score, neg_score = self._train_stage(haar, pos[:len(pos) - n_val], neg,
                                                            pos[len(pos) - n_val:],
                                                            limits[min(index, len(limits) - 1)],
                                                            slacks[min(index, len(slacks) - 1)])
            self.stages_.append(stage)
            pos_keep, neg_keep = pos_score >= stage["threshold"], neg_score >= stage["threshold"]
            self.stage_stats_.append({"stumps": len(stage["alphas"]),
                                      "detection_rate": float(pos_keep.double().mean()),
                                      "false_positive_rate": float(neg_keep.double().mean()),
                                      "negatives": len(neg)})
            pos, neg = pos[pos_keep], neg[neg_keep]
            groups = groups[pos_keep.numpy()]
            self._compile()
            if miner is not None:
                miner.advance()
        self.n_stumps_ = int(sum(len(s["alphas"]) for s in self.stages_))
        self._compile()
        return self

    def _train_stage(self, haar: HaarFeatures, pos: torch.Tensor, neg: torch.Tensor,
                     val: torch.Tensor, max_stumps: int, slack: float):
        """Boost up to ``max_stumps`` stumps on ``pos`` vs ``neg``; Θ is set on ``val`` faces (``pos`` when empty)."""
        n_pos, n_neg = len(pos), len(neg)
        values = self._features(torch.cat([pos, neg, val]), haar)  # (F, N)
        n = n_pos + n_neg
        y = torch.cat([torch.ones(n_pos, dtype=torch.bool), torch.zeros(n_neg, dtype=torch.bool)])
        search = StumpSearch(values[:, :n], y)
        w = viola_jones_weights(y)
        yf = y.to(torch.float64)
        score = torch.zeros(len(y) + len(val), dtype=torch.float64)
        feats, thetas, pols, alphas = [], [], [], []
        faces = slice(n, None) if len(val) else slice(0, n_pos)
        n_faces = len(val) if len(val) else n_pos
        # the k-th lowest face score: at least min_detection_rate of faces score >= it
        k = min(n_faces - 1, int(math.floor((1 - self.min_detection_rate) * n_faces + 1e-9)))
        threshold = 0.0
        for _ in range(max_stumps):
            w = w / w.sum()
            f, theta, pol, err = search.best(w)
            h = stump_predict(values[f].to(torch.float64), theta, pol)
            err = min(max(err, 1e-10), 0.5 - 1e-10)
            beta = err / (1 - err)
            alpha = math.log(1 / beta)
            w = w * torch.where(h[:n] == yf, beta, 1.0)
            score += alpha * h
            for store, value in ((feats, f), (thetas, theta), (pols, pol), (alphas, alpha)):
                store.append(value)
            threshold = (float(score[faces].sort().values[k]) - 1e-9
                         - slack * sum(alphas))
            fp = float((score[n_pos:n] >= threshold).double().mean())
            if fp <= self.max_false_positive_rate:
                break
        stage = {"rects": haar.rects[np.asarray(feats)], "thresholds": np.asarray(thetas),
                 "polarities": np.asarray(pols), "alphas": np.asarray(alphas),
                 "threshold": threshold}
        return stage, torch.cat([score[:n_pos], score[n:]]), score[n_pos:n]

    # ------------------------------------------------------------------ evaluation
    def _compile(self):
        """Each stage's stumps as tensors, with the polarity folded into the weights.

        A stump fires when ``p·f/σ < p·θ`` for the normalised feature ``f/σ``, i.e. when
        ``Σ_k (p c_k) ii[k] − μ·(p Σ sign·area) − σ·(p θ) < 0`` (σ > 0): ``coef`` holds
        ``p c_k`` at the unique integral-image corners ``dy, dx (T, 9)``, ``mu_coef``
        ``−p Σ sign·area`` and ``sigma_coef`` ``−p θ``. Stumps are ordered by their number
        of corners (most first), so corner slot ``j`` is used by the first
        ``slot_counts[j]`` stumps only; ``terms`` lists each stump's non-zero corners.
        """
        self._stage_tensors = []
        for s in self.stages_:
            rects = np.asarray(s["rects"], dtype=np.int64).reshape(-1, 4, 5)
            dy, dx, coef = _unique_corners(rects)
            n_corners = (coef != 0).sum(1)
            order = np.argsort(-n_corners, kind="stable")
            dy, dx, coef, n_corners = dy[order], dx[order], coef[order], n_corners[order]
            pol = np.asarray(s["polarities"], np.float64)[order]
            ws = (rects[..., 2] * rects[..., 3] * rects[..., 4]).sum(-1)[order]
            theta = np.asarray(s["thresholds"], np.float64)[order]
            alphas = np.asarray(s["alphas"], np.float64)[order]
            coef = coef * pol[:, None]
            mu_coef, sigma_coef = -pol * ws, -pol * theta
            terms = [(float(mu_coef[t]), float(sigma_coef[t]), float(alphas[t]),
                      [(int(dy[t, j]), int(dx[t, j]), float(coef[t, j]))
                       for j in range(9) if coef[t, j] != 0]) for t in range(len(order))]
            self._stage_tensors.append({
                "dy": dy, "dx": dx, "coef": torch.as_tensor(coef),
                "mu_coef": torch.as_tensor(mu_coef), "sigma_coef": torch.as_tensor(sigma_coef),
                "slot_counts": [int((n_corners > j).sum()) for j in range(9)],
                "alphas": torch.as_tensor(alphas), "terms": terms,
                "threshold": float(s["threshold"])})

    @staticmethod
    def _stage_gather(st, ii: torch.Tensor, stride: int, base, mu, sigma) -> torch.Tensor:
        """Stage scores ``Σ α h`` of windows at flat offsets ``base`` (by gathering corners).

        Works in the dtype of ``ii`` (float32 when scanning images, float64 in the tests).
        """
        dtype = ii.dtype
        # int32 offsets are ~5x faster to form than int64 ones
        kind = torch.int32 if ii.numel() < 2**31 else torch.int64
        if st.get("offsets_for") != (stride, kind):  # corners of slot 0, then slot 1, …: (K,)
            st["offsets_for"] = (stride, kind)
            st["slot_offsets"] = torch.cat([torch.as_tensor(st["dy"][:n, j] * stride + st["dx"][:n, j])
                                            for j, n in enumerate(st["slot_counts"])]).to(kind)
        m = len(base)
        # one gather of every corner of every window, (K, M) so that each slot's rows are one
        # contiguous block (index_select beats take here)
        index = st["slot_offsets"][:, None] + base.to(kind)[None]
        corners = ii.index_select(0, index.view(-1)).view(-1, m)
        coef = st["coef"].to(dtype)
        raw = torch.outer(st["mu_coef"].to(dtype), mu)  # (T, M)
        raw.addr_(st["sigma_coef"].to(dtype), sigma)
        start = 0
        for j, n in enumerate(st["slot_counts"]):  # slot j: the first n stumps have a j-th corner
            if n == 0:
                break
            raw[:n].addcmul_(corners[start:start + n], coef[:n, j, None])
            start += n
        return st["alphas"] @ (raw < 0).to(torch.float64)

    @staticmethod
    def _stage_dense(st, phases, grid, mu, sigma) -> torch.Tensor:
        """Stage scores on a whole grid of windows (slices of the integral image's phases).

        ``phases[a][b]`` is ``ii[a::step, b::step]`` made contiguous, so the corner
        ``(y, x)`` of every window of the grid is one contiguous-row slice.
        """
        (y0, x0, step, ny, nx) = grid
        score = torch.zeros((ny, nx), dtype=torch.float64)
        raw = torch.empty((ny, nx), dtype=mu.dtype)
        hit = torch.empty((ny, nx), dtype=torch.bool)
        for mu_coef, sigma_coef, alpha, corners in st["terms"]:
            # the stump fires when −μ·p Σ sign·area − σ·p θ + Σ_k p c_k ii[corner_k] < 0
            torch.mul(sigma, sigma_coef, out=raw)
            if mu_coef:  # Σ sign·area is 0 for the two- and four-rectangle types
                raw.add_(mu, alpha=mu_coef)
            for dy, dx, c in corners:
                y, x = y0 + dy, x0 + dx
                plane = phases[y % step][x % step]
                raw.add_(plane[y // step:y // step + ny, x // step:x // step + nx], alpha=c)
            score.add_(torch.lt(raw, 0, out=hit), alpha=alpha)
        return score

    def _evaluate(self, ii: torch.Tensor, ii2: torch.Tensor, stride: int, base: torch.Tensor,
                  *, all_stages: bool = False, start: int = 0):
        """Run stages ``start…`` on windows at flat offsets ``base`` of flat padded integral images.

        Returns the indices (into ``base``) of the windows every stage accepts,
        or with ``all_stages`` the number of stages passed and the last score margin.
        """
        h, w = self.window_size_
        mu, sigma = (t.float() for t in _window_stats(ii, ii2, base, stride, h, w))
        ii = ii.float()
        alive = torch.arange(len(base))
        passed = torch.zeros(len(base), dtype=torch.int64)
        margin = torch.zeros(len(base), dtype=torch.float64)
        for st in self._stage_tensors[start:]:
            if len(alive) == 0:
                break
            score = self._stage_gather(st, ii, stride, base[alive], mu[alive], sigma[alive])
            margin[alive] = score - st["threshold"]
            alive = alive[score >= st["threshold"]]
            passed[alive] += 1
        if all_stages:
            return passed, margin
        return alive

    def _evaluate_windows(self, x: torch.Tensor, all_stages: bool = False):
        h, w = self.window_size_
        x = x - x.mean((1, 2), keepdim=True)  # exact for normalised features, precise in float32
        ii = integral_image(x).reshape(-1)
        ii2 = integral_image(x * x).reshape(-1)
        base = torch.arange(len(x)) * ((h + 1) * (w + 1))
        return self._evaluate(ii, ii2, w + 1, base, all_stages=all_stages)

    def _grid(self, level: torch.Tensor, step: int, offset=(0, 0)):
        """A level's integral image (flat and in ``step × step`` phases), window grid and statistics."""
        h, w = self.window_size_
        H, W = level.shape
        # features of variance-normalised windows do not change when a constant is subtracted
        # from the image; centred, the float32 integral image keeps its precision
        level = level - level.mean()
        ii2d = integral_image(level)
        sq2d = integral_image(level * level)
        y0, x0 = offset
        ny = max(0, (H - h - y0) // step + 1)
        nx = max(0, (W - w - x0) // step + 1)
        grid = (y0, x0, step, ny, nx)
        if ny == 0 or nx == 0:
            return ii2d.float(), None, grid, None, None

        def box(t):
            def sl(dy, dx):
                return t[y0 + dy:y0 + dy + step * (ny - 1) + 1:step,
                         x0 + dx:x0 + dx + step * (nx - 1) + 1:step]
            return sl(h, w) - sl(0, w) - sl(h, 0) + sl(0, 0)

        mu, sigma = _mean_std(box(ii2d), box(sq2d), float(h * w))
        ii2d = ii2d.float()
        phases = [[ii2d[a::step, b::step].contiguous() for b in range(step)] for a in range(step)]
        return ii2d, phases, grid, mu.float(), sigma.float()

    def _scan(self, level: torch.Tensor, step: int, offset=(0, 0)):
        """Top-left corners ``(ys, xs)`` of the windows of one pyramid level that pass the cascade."""
        return self._scan_levels([(level, step)], offset)[0]

    def _scan_levels(self, levels, offset=(0, 0)):
        """:meth:`_scan` of several levels ``[(image, step), …]`` at once.

        While many windows of a large level survive, stages run on its whole grid
        by slices (:meth:`_stage_dense`). The survivors of every level then meet in
        one pool: the levels' integral images are stacked in one buffer with a common
        row stride, so a stump's corners are the same offsets for all of them and each
        remaining stage is one gather over the pool, not one call per level.
        """
        h, w = self.window_size_
        grids = [self._grid(level, step, offset) for level, step in levels]
        stride = max(level.shape[1] for level, _ in levels) + 1
        rows = np.cumsum([0] + [level.shape[0] + 1 for level, _ in levels])
        buffer = torch.zeros((int(rows[-1]), stride), dtype=torch.float32)
        n_stages = len(self._stage_tensors)
        entries = []  # per level: (next stage, grid indices of its survivors)
        for k, (ii2d, phases, grid, mu, sigma) in enumerate(grids):
            buffer[rows[k]:rows[k + 1], :ii2d.shape[1]] = ii2d
            if mu is None:
                entries.append((n_stages, torch.zeros(0, dtype=torch.int64)))
                continue
            alive, s = torch.arange(mu.numel()), 0
            dense = mu.numel() >= _MIN_DENSE
            while s < n_stages and len(alive) and dense and len(alive) * _DENSE > mu.numel():
                st = self._stage_tensors[s]
                score = self._stage_dense(st, phases, grid, mu, sigma).reshape(-1)
                alive = alive[score[alive] >= st["threshold"]]
                s += 1
            entries.append((s, alive))
        flat = buffer.reshape(-1)
        # the pool: level, grid index, flat offset in the buffer, μ, σ of each window
        pool = [torch.zeros(0, dtype=torch.int64)] * 3 + [torch.zeros(0)] * 2
        for s in range(min((e[0] for e in entries), default=n_stages), n_stages):
            add = [(k, idx) for k, (start, idx) in enumerate(entries) if start == s and len(idx)]
            if add:
                parts = [pool]
                for k, idx in add:
                    _, _, grid, mu, sigma = grids[k]
                    base = self._base(grid, idx, stride) + int(rows[k]) * stride
                    parts.append([torch.full_like(idx, k), idx, base, mu.reshape(-1)[idx],
                                  sigma.reshape(-1)[idx]])
                pool = [torch.cat(column) for column in zip(*parts)]
            if len(pool[0]) == 0:
                continue
            st = self._stage_tensors[s]
            ok = self._stage_gather(st, flat, stride, pool[2], pool[3], pool[4]) >= st["threshold"]
            pool = [column[ok] for column in pool]
        out = []
        for k, (start, idx) in enumerate(entries):
            if start < n_stages:  # finished in the pool
                idx = pool[1][pool[0] == k]
            out.append(self._corners(grids[k][2], idx))
        return out

    @staticmethod
    def _corners(grid, idx):
        """Top-left corners ``(ys, xs)`` of the windows at flat indices ``idx`` of a grid."""
        y0, x0, step, _, nx = grid
        return y0 + step * (idx // max(nx, 1)), x0 + step * (idx % max(nx, 1))

    @classmethod
    def _base(cls, grid, alive, stride):
        """Flat offsets of those windows' corners in an integral image of row length ``stride``."""
        ys, xs = cls._corners(grid, alive)
        return ys * stride + xs

    # ------------------------------------------------------------------ public API
    def stages_passed(self, windows) -> np.ndarray:
        """The number of stages each window ``(N, h, w)`` passes (``len(stages_)`` = detection)."""
        self._check_fitted()
        passed, _ = self._evaluate_windows(self._windows(windows), all_stages=True)
        return passed.numpy()

    def decision_function(self, windows) -> np.ndarray:
        """Positive for detections (the last stage's score margin), else minus the stages missed."""
        self._check_fitted()
        passed, margin = self._evaluate_windows(self._windows(windows), all_stages=True)
        n = len(self.stages_)
        return torch.where(passed == n, margin.clamp_min(0) + 1e-6,
                           (passed - n).to(torch.float64)).numpy()

    def predict(self, windows) -> np.ndarray:
        """``classes_[1]`` (face) for the windows every stage accepts, else ``classes_[0]``."""
        self._check_fitted()
        x = self._windows(windows)
        hit = torch.zeros(len(x), dtype=torch.bool)
        hit[self._evaluate_windows(x)] = True
        return self.classes_[hit.numpy().astype(int)]

    def detect_multiscale(self, image, scale_factor: float = 1.25, min_neighbors: int = 3, *,
                          min_size=None, max_size=None, step: int | None = None) -> torch.Tensor:
        """Faces in an image as boxes ``(k, 4)`` xyxy in pixels.

        The window slides over a pyramid of the image (each level ``scale_factor``
        smaller, down to the window size), ``step`` pixels at a time in each
        level (default OpenCV's rule: 2 while the scale is at most 2, then 1);
        accepted windows are merged by :func:`group_rectangles` (a cluster needs
        more than ``min_neighbors`` windows).

        Args:
            image: grey ``(H, W)`` or RGB(A) ``(H, W, 3|4)``, floats in [0, 1] or 8-bit.
            scale_factor: ratio of successive pyramid levels (> 1, default 1.25).
            min_neighbors: grouping support (default 3; 0 returns every accepted window).
            min_size, max_size: ``(h, w)`` bounds of the detected faces in pixels.
            step: window step in pixels of each level (default: OpenCV's rule).

        Raises:
            DataError: an image smaller than the window.
        """
        self._check_fitted()
        scale_factor = check_number("HaarCascade.detect_multiscale", "scale_factor", scale_factor,
                                    low=1.0, low_open=True)
        min_neighbors = check_int("HaarCascade.detect_multiscale", "min_neighbors", min_neighbors,
                                  low=0)
        check_int("HaarCascade.detect_multiscale", "step", step, low=1, allow_none=True)
        img = as_grey_images(image, "HaarCascade.detect_multiscale", name="image", batched=False)
        h, w = self.window_size_
        if img.shape[0] < h or img.shape[1] < w:
            raise DataError(f"HaarCascade.detect_multiscale: expected an image at least as large as "
                            f"the detector window {format_shape((h, w))}, received an image of "
                            f"{format_shape(tuple(img.shape))}")
        pyramid = _pyramid(img, (h, w), scale_factor, min_size, max_size)
        steps = [step or (2 if max(sy, sx) <= 2 else 1) for sy, sx, _ in pyramid]
        found = self._scan_levels([(level, s) for (_, _, level), s in zip(pyramid, steps)]) \
            if pyramid else []
        boxes = [torch.stack([xs * sx, ys * sy, (xs + w) * sx, (ys + h) * sy], 1)
                 for (sy, sx, _), (ys, xs) in zip(pyramid, found) if len(ys)]
        if not boxes:
            return torch.zeros((0, 4))
        return group_rectangles(torch.cat(boxes).float(), min_neighbors)

    def truncated(self, n_stages: int) -> "HaarCascade":
        """A copy that keeps only the first ``n_stages`` stages (more detections, more false ones).

        Each stage only removes windows, so a shorter cascade trades a higher
        detection rate for a higher false-positive rate.
        """
        self._check_fitted()
        n = check_int("HaarCascade.truncated", "n_stages", n_stages, low=1, high=len(self.stages_))
        out = HaarCascade(**self.get_params())
        out.window_size_, out.classes_ = self.window_size_, self.classes_
        out.stages_, out.stage_stats_ = self.stages_[:n], self.stage_stats_[:n]
        out.n_stumps_ = int(sum(len(s["alphas"]) for s in out.stages_))
        out._compile()
        return out

    # ------------------------------------------------------------------ storage
    def save(self, path) -> None:
        """Save the fitted cascade to one ``.safetensors`` file (no pickle)."""
        from ... import storage

        self._check_fitted()
        rects = np.concatenate([s["rects"] for s in self.stages_]).astype(np.int64)
        tensors = {
            "rects": torch.as_tensor(rects),
            "thresholds": torch.as_tensor(np.concatenate([s["thresholds"] for s in self.stages_])),
            "polarities": torch.as_tensor(np.concatenate([s["polarities"] for s in self.stages_])),
            "alphas": torch.as_tensor(np.concatenate([s["alphas"] for s in self.stages_])),
            "stage_sizes": torch.as_tensor([len(s["alphas"]) for s in self.stages_]),
            "stage_thresholds": torch.as_tensor([float(s["threshold"]) for s in self.stages_],
                                                dtype=torch.float64),
        }
        params = {k: v for k, v in self.get_params().items() if k != "negative_images"}
        info = {"params": params, "window_size": list(self.window_size_),
                "classes": np.asarray(self.classes_).tolist(), "stage_stats": self.stage_stats_}
        meta = {"neuralab": storage.FORMAT_VERSION, "class": "HaarCascade",
                "user": json.dumps(info)}
        storage.atomic_write_bytes(path, storage.encode(tensors, meta))

    @classmethod
    def load(cls, path) -> "HaarCascade":
        """Read a cascade written by :meth:`save`."""
        from ... import storage

        path = os.fspath(path)
        meta = storage.read_metadata(path)
        if meta.get("class") != "HaarCascade" or not isinstance(meta.get("user"), dict):
            raise StorageError(f"{path!r}: expected a HaarCascade file, received a file of class "
                               f"{meta.get('class')!r}")
        info = meta["user"]
        t = storage._read_tensors(path)
        try:
            model = cls(**info["params"])
            model.window_size_ = tuple(info["window_size"])
            model.classes_ = np.asarray(info["classes"])
            model.stage_stats_ = info.get("stage_stats", [])
            sizes = t["stage_sizes"].tolist()
            ends = np.cumsum([0] + sizes)
            model.stages_ = [{"rects": t["rects"][a:b].numpy(),
                              "thresholds": t["thresholds"][a:b].numpy(),
                              "polarities": t["polarities"][a:b].numpy(),
                              "alphas": t["alphas"][a:b].numpy(),
                              "threshold": float(t["stage_thresholds"][i])}
                             for i, (a, b) in enumerate(zip(ends[:-1], ends[1:]))]
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise StorageError(f"{path!r}: malformed HaarCascade file ({exc})") from None
        model.n_stumps_ = int(sum(sizes))
        model._compile()
        return model
