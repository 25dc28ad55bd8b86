"""Bernoulli restricted Boltzmann machine trained with (persistent) contrastive divergence.

A drop-in replacement for :class:`sklearn.neural_network.BernoulliRBM` (same
arguments, same learned attributes, same pseudo-likelihood) whose training loop
runs on torch tensors: the whole epoch works on pre-made tensors (the data with
a column of ones appended, the epoch's random numbers drawn in one call), the
biases live inside one augmented weight matrix, and every CD step is a handful
of in-place kernels with preallocated outputs, so the per-mini-batch overhead
is a few tens of microseconds.
"""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.utils import check_random_state

from .. import registry
from ..errors import TrainingError
from ._base import POSITIVE, Estimator, check_init, check_is_fitted, check_value, integer
from ._base import make_init, reject_entries, torch_generator, validate

__all__ = ["RBM"]

logger = logging.getLogger(__name__)

# loss_curve_ is measured on at most this many (evenly spaced) training rows.
_MONITOR_ROWS = 2048

# Random numbers are drawn for this many floats at a time (bounds the memory
# of one epoch's pre-drawn randomness on large data).
_RANDOM_CHUNK = 1 << 21


def _check_unit_interval(estimator, X, what="X"):
    """Raise DataError unless every entry of ``X`` lies in [0, 1]."""
    need = f"Bernoulli visible units require {what} in [0, 1] (binary or probabilities)"
    name = type(estimator).__name__
    # scikit-learn's check_estimator looks for "Negative values in data passed to"
    reject_entries(X, X < 0, f"Negative values in data passed to {name}: {need}")
    reject_entries(X, X > 1, f"{name}: {need}")
    return X


def _reconstruction_error(Xa, WaHT, WaV) -> float:
    """Mean of ``(v − σ(σ(v Wᵀ + b_h) W + b_v))²`` over the rows of ``Xa = [v, 1]``."""
    hidden = torch.ones(len(Xa), WaHT.shape[1] + 1, dtype=Xa.dtype, device=Xa.device)
    torch.sigmoid(Xa @ WaHT, out=hidden[:, :-1])
    recon = torch.sigmoid(hidden @ WaV)
    return float(torch.mean((Xa[:, :-1] - recon) ** 2))


def _even_sizes(n_samples: int, batch_size: int) -> list[int]:
    """Sizes of ``ceil(n / batch_size)`` contiguous batches differing by at most one."""
    n_batches = max(1, int(np.ceil(n_samples / batch_size)))
    base, extra = divmod(n_samples, n_batches)
    return [base + 1] * extra + [base] * (n_batches - extra)


def _row_hash_index(X, n_features, random_state):
    """A pseudo-random column per row that depends only on the row and the seed."""
    rng = check_random_state(random_state)
    mult = rng.randint(1, 2**62, size=X.shape[1], dtype=np.int64).astype(np.uint64) * 2 + 1
    bits = np.ascontiguousarray(X, dtype=np.float64).view(np.uint64)
    with np.errstate(over="ignore"):
        h = (bits * mult).sum(axis=1, dtype=np.uint64)
        h ^= h >> np.uint64(29)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(32)
    return (h % np.uint64(n_features)).astype(np.int64)


@registry.estimators.register("RBM", "BernoulliRBM")
class RBM(ClassNamePrefixFeaturesOutMixin, TransformerMixin, Estimator):
    """Bernoulli restricted Boltzmann machine (Hinton; Tieleman's persistent CD).

    Binary visible units ``v`` (``n_features``) and binary hidden units ``h``
    (``n_components``) with energy ``E(v, h) = -v·b_v - h·b_h - hᵀ W v``, so
    ``P(h=1|v) = σ(W v + b_h)`` and ``P(v=1|h) = σ(Wᵀ h + b_v)``.

    Update rule (one mini-batch of ``n`` samples, ``m`` negative chains, CD-k)::

        h⁺ = σ(v⁺ Wᵀ + b_h)                       # positive phase, data
        h̃ → (v⁻ ~ P(v|h̃), h⁻ = P(h|v⁻)) k times   # negative phase, Gibbs chain
        W   += η (h⁺ᵀ v⁺ / n − h⁻ᵀ v⁻ / m)
        b_h += η (mean h⁺ − mean h⁻),  b_v += η (mean v⁺ − mean v⁻)

    With ``persistent=True`` (the default, scikit-learn's "stochastic maximum
    likelihood") the chain starts from the hidden samples kept in
    ``h_samples_`` from the previous update; with ``persistent=False`` it
    starts from a sample of ``h⁺`` (classic CD-k). Each term is divided by its
    own batch size, so a last batch shorter than ``batch_size`` is weighted
    correctly (scikit-learn divides the negative term by the positive size).

    Args:
        n_components: number of hidden units. Default 256.
        learning_rate: ``η``. Default 0.1.
        batch_size: samples per mini-batch (and persistent chains). Default 10.
        n_iter: epochs over the training data. Default 10.
        verbose: when > 0, logs the pseudo-likelihood after each epoch
            (``logging`` at INFO level on ``neuralab.classic.rbm``). Default 0.
        random_state: seed / RandomState for the initial weights, the Gibbs
            sampling and the bit flipped by :meth:`score_samples`. Default None.
        cd_k: Gibbs steps per update (the ``k`` of CD-k). Default 1.
        persistent: persistent chains (PCD) instead of restarting them from the
            data. Default True (as scikit-learn).
        init: starting weights ``W``, an array (n_components, n_features); the
            biases start at 0. Default None: ``N(0, 0.01²)`` draws, as scikit-learn.
        device: "auto" (CUDA when present), "cpu", "cuda", … Default "auto".
        n_threads: torch intra-op threads during fit (None: torch's setting; CD
            steps on mini-batches of ten run fastest on one thread).

    Input/Output shape:
        ``X``: (n_samples, n_features) with values in [0, 1] (binary or
        probabilities; ``fit`` rejects others, ``transform``/``score_samples``/
        ``gibbs`` clip them with a ``DataConversionWarning``, so the RBM works
        after a scaler in a Pipeline). ``transform`` → (n_samples, n_components).

    Attributes:
        components_: (n_components, n_features) weight matrix ``W``.
        intercept_hidden_: (n_components,) hidden biases ``b_h``.
        intercept_visible_: (n_features,) visible biases ``b_v``.
        h_samples_: (batch_size, n_components) persistent hidden samples.
        loss_curve_: reconstruction error after each epoch: the mean over
            samples and features of ``(v − v̂)²`` with the mean-field
            reconstruction ``v̂ = σ(σ(v Wᵀ + b_h) W + b_v)``, on the training data
            (on an evenly spaced subset of 2,048 rows when ``X`` has more).
        n_features_in_: number of visible units seen in ``fit``.

    Example:
        >>> import numpy as np
        >>> from neuralab.classic import RBM
        >>> X = np.array([[0, 0, 0], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=float)
        >>> rbm = RBM(n_components=2, n_iter=5, random_state=0, device="cpu").fit(X)
        >>> rbm.transform(X).shape
        (4, 2)
    """

    # Training runs in float32 (inference in float64 on the CPU, see _infer_dtype).
    _train_dtype = torch.float32

    __init__ = make_init({
        "n_components": 256, "learning_rate": 0.1, "batch_size": 10, "n_iter": 10, "verbose": 0,
        "random_state": None, "cd_k": 1, "persistent": True, "init": None, "device": "auto",
        "n_threads": None,
    })

    # -- validation ---------------------------------------------------------------
    _parameter_constraints = {
        "n_components": [integer(1)],
        "learning_rate": [POSITIVE],
        "batch_size": [integer(1)],
        "n_iter": [integer(0)],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "cd_k": [integer(1)],
        "persistent": ["boolean"],
        "init": ["array-like", None],
    }

    def _validate(self, X, *, reset, clip=False):
        """Training data must lie in [0, 1]; data to transform or score is clipped to it.

        A scaler fitted on training folds (``MinMaxScaler`` in a ``Pipeline``)
        maps test folds slightly outside [0, 1]; those values are clipped with
        a warning instead of failing the fold (which ``cross_val_score`` would
        turn into a NaN score).
        """
        X = validate(self, X, reset=reset, dtype=(np.float64, np.float32))
        if clip:
            low, high = X.min(initial=0.0), X.max(initial=1.0)
            if low < 0 or high > 1:
                warnings.warn(
                    f"RBM: X has values in [{low:.3g}, {high:.3g}]; Bernoulli visible units take "
                    "[0, 1], so they were clipped to it", DataConversionWarning, stacklevel=3)
                return np.clip(X, 0.0, 1.0)
            return X
        return _check_unit_interval(self, X)

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def _infer_dtype(self, device):
        # Inference in float64 on the CPU (exact, batch-invariant); float32 on GPUs.
        return torch.float64 if device.type == "cpu" else torch.float32

    def _params(self, device, dtype):
        W = torch.as_tensor(self.components_, device=device, dtype=dtype)
        bh = torch.as_tensor(self.intercept_hidden_, device=device, dtype=dtype)
        bv = torch.as_tensor(self.intercept_visible_, device=device, dtype=dtype)
        return W, bh, bv

    # -- training -----------------------------------------------------------------
    def _initialize(self, n_features):
        rng = self.random_state_
        self.components_ = rng.normal(0, 0.01, (self.n_components, n_features))
        given = check_init(self, self.components_.shape, "n_components, n_features")
        if given is not None:
            self.components_ = given
        self.loss_curve_ = []
        self.intercept_hidden_ = np.zeros(self.n_components)
        self.intercept_visible_ = np.zeros(n_features)
        self.h_samples_ = np.zeros((self.batch_size, self.n_components))

    def _train(self, X, n_epochs, sizes):
        """Run ``n_epochs`` passes of CD over ``X`` split into batches of ``sizes``."""
        device = self._device()
        dtype = self._train_dtype
        n, V = X.shape
        H = self.n_components
        k_steps = int(self.cd_k)
        lr = float(self.learning_rate)
        persistent = bool(self.persistent)
        gen = torch_generator(self.random_state_, device=device)

        # Augmented weights: Wa[:H, :V] = W, Wa[:H, V] = b_h, Wa[H, :V] = b_v.
        Wa = torch.zeros(H + 1, V + 1, device=device, dtype=dtype)
        Wa[:H, :V] = torch.as_tensor(self.components_, dtype=dtype)
        Wa[:H, V] = torch.as_tensor(self.intercept_hidden_, dtype=dtype)
        Wa[H, :V] = torch.as_tensor(self.intercept_visible_, dtype=dtype)
        WaHT = Wa[:H].T  # (V+1, H): visible → hidden pre-activation
        WaV = Wa[:, :V]  # (H+1, V): hidden → visible pre-activation

        Xa = torch.ones(n, V + 1, device=device, dtype=dtype)
        Xa[:, :V] = torch.as_tensor(X, dtype=dtype)
        monitor = Xa[:: -(-n // _MONITOR_ROWS)]  # (≤ 2048, V+1) rows for loss_curve_

        def ones(rows, cols):
            return torch.ones(rows, cols + 1, device=device, dtype=dtype)

        # Buffers for every batch size that occurs (at most two distinct sizes).
        pos = {k: (ones(k, H), torch.empty(k, H, device=device, dtype=dtype)) for k in set(sizes)}
        m_chain = self.h_samples_.shape[0] if persistent else max(sizes)
        chain_h = ones(m_chain, H)  # hidden state the negative chain starts from
        if persistent:
            chain_h[:, :H] = torch.as_tensor(self.h_samples_, dtype=dtype)
        neg_v, neg_h = ones(m_chain, V), ones(m_chain, H)
        tmp_v = torch.empty(m_chain, V, device=device, dtype=dtype)
        tmp_h = torch.empty(m_chain, H, device=device, dtype=dtype)

        per_batch = m_chain * (V + H) * k_steps
        chunk = max(1, _RANDOM_CHUNK // max(per_batch, 1))
        n_batches = len(sizes)
        for epoch in range(n_epochs):
            t0 = time.perf_counter()
            batches = Xa.split(sizes)
            for start in range(0, n_batches, chunk):
                stop = min(n_batches, start + chunk)
                Uv = torch.rand(stop - start, k_steps, m_chain, V, generator=gen, device=device, dtype=dtype)
                Uh = torch.rand(stop - start, k_steps, m_chain, H, generator=gen, device=device, dtype=dtype)
                for b in range(start, stop):
                    vp = batches[b]
                    k = vp.shape[0]
                    hp, th = pos[k]
                    uv, uh = Uv[b - start], Uh[b - start]
                    torch.mm(vp, WaHT, out=th)
                    torch.sigmoid(th, out=hp[:, :H])  # h⁺ = P(h|v⁺)
                    if persistent:
                        m, h0 = m_chain, chain_h
                    else:  # CD-k: the chain starts from a sample of h⁺
                        m, h0 = k, chain_h[:k]
                        torch.gt(hp[:, :H], uh[-1, :k], out=h0[:, :H])
                    nv, nh, tv, tmh = neg_v[:m], neg_h[:m], tmp_v[:m], tmp_h[:m]
                    for step in range(k_steps):
                        torch.mm(h0, WaV, out=tv)
                        tv.sigmoid_()
                        torch.gt(tv, uv[step, :m], out=nv[:, :V])  # v⁻ ~ P(v|h)
                        torch.mm(nv, WaHT, out=tmh)
                        torch.sigmoid(tmh, out=nh[:, :H])  # h⁻ = P(h|v⁻)
                        if step < k_steps - 1:
                            h0 = chain_h[:m]
                            torch.gt(nh[:, :H], uh[step, :m], out=h0[:, :H])
                    # W, b_h, b_v in one kernel each for the two phases (the ones
                    # column carries the bias gradients).
                    Wa.addmm_(hp.T, vp, alpha=lr / k)
                    Wa.addmm_(nh.T, nv, alpha=-lr / m)
                    if persistent:
                        torch.gt(nh[:, :H], uh[-1, :m], out=chain_h[:, :H])
            if not torch.isfinite(Wa).all():
                raise TrainingError(
                    f"RBM: weights became non-finite in epoch {epoch + 1}; "
                    f"lower learning_rate (received {self.learning_rate!r})"
                )
            self.loss_curve_.append(_reconstruction_error(monitor, WaHT, WaV))
            if self.verbose:
                self._store(Wa, chain_h, H, V, persistent)
                pl = float(np.mean(self.score_samples(X)))
                logger.info(
                    "[RBM] Iteration %d, pseudo-likelihood = %.2f, time = %.2fs",
                    epoch + 1, pl, time.perf_counter() - t0,
                )
        self._store(Wa, chain_h, H, V, persistent)

    def _store(self, Wa, chain_h, H, V, persistent):
        Wn = Wa.detach().to("cpu", torch.float64).numpy()
        self.components_ = np.ascontiguousarray(Wn[:H, :V])
        self.intercept_hidden_ = Wn[:H, V].copy()
        self.intercept_visible_ = Wn[H, :V].copy()
        if persistent:
            self.h_samples_ = chain_h[:, :H].to("cpu", torch.float64).numpy().copy()

    def fit(self, X, y=None):
        """Fit the model to ``X`` with ``n_iter`` epochs of mini-batch (P)CD.

        Args:
            X: (n_samples, n_features) array with values in [0, 1].
            y: ignored.

        Returns:
            self
        """
        return self._fit(X, first=True, partial=False)

    def partial_fit(self, X, y=None):
        """One CD update using all of ``X`` as a single mini-batch (as scikit-learn).

        Takes and returns what :meth:`fit` does; ``loss_curve_`` gets one more entry.
        """
        return self._fit(X, first=not hasattr(self, "components_"), partial=True)

    def _fit(self, X, *, first: bool, partial: bool):
        self._validate_params()
        X = self._validate(X, reset=first)
        if first or not hasattr(self, "random_state_"):
            self.random_state_ = check_random_state(self.random_state)
        if first:
            self._initialize(X.shape[1])
        n_epochs, sizes = (1, [X.shape[0]]) if partial else (
            int(self.n_iter), _even_sizes(X.shape[0], self.batch_size))
        if n_epochs:
            with self._threads():
                self._train(X, n_epochs, sizes)
        return self

    # -- inference ----------------------------------------------------------------
    def transform(self, X):
        """Hidden activation probabilities ``P(h=1|v=X) = σ(X Wᵀ + b_h)``.

        Args:
            X: (n_samples, n_features) array with values in [0, 1].

        Returns:
            (n_samples, n_components) array.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False, clip=True)
        device = self._device()
        dtype = self._infer_dtype(device)
        W, bh, _ = self._params(device, dtype)
        v = torch.as_tensor(X, device=device, dtype=dtype)
        out = torch.sigmoid(torch.addmm(bh, v, W.T)).cpu().numpy()
        return out.astype(X.dtype, copy=False)

    def _free_energy(self, v, W, bh, bv):
        # F(v) = −v·b_v − Σ_j softplus((v Wᵀ + b_h)_j)
        return -(v @ bv) - torch.nn.functional.softplus(torch.addmm(bh, v, W.T)).sum(1)

    def score_samples(self, X):
        """Pseudo-likelihood of ``X`` as scikit-learn estimates it.

        For each sample one feature ``i`` is flipped, giving ``ṽ``; the score
        is ``n_features · log σ(F(ṽ) − F(v))``, an unbiased estimate of
        ``Σ_i log P(v_i | v_{-i})`` for binary ``v``. scikit-learn draws ``i``
        for the rows in order; here ``i`` is a pseudo-random hash of the
        sample's values and ``random_state``, so a sample's score does not
        depend on which other rows are scored with it or on their order.

        Args:
            X: (n_samples, n_features) array with values in [0, 1] (meant binary).

        Returns:
            (n_samples,) array.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False, clip=True)
        n, V = X.shape
        cols = _row_hash_index(X, V, self.random_state)
        device = self._device()
        dtype = self._infer_dtype(device)
        W, bh, bv = self._params(device, dtype)
        v = torch.as_tensor(X, device=device, dtype=dtype)
        v_flip = v.clone()
        rows = torch.arange(n, device=device)
        cols_t = torch.as_tensor(cols, device=device)
        v_flip[rows, cols_t] = 1 - v_flip[rows, cols_t]
        fe = self._free_energy(v, W, bh, bv)
        fe_flip = self._free_energy(v_flip, W, bh, bv)
        # log σ(x) = −softplus(−x)
        out = -V * torch.nn.functional.softplus(-(fe_flip - fe))
        return out.cpu().numpy().astype(np.float64)

    def _gibbs(self, v, gen, W, bh, bv):
        h = torch.bernoulli(torch.sigmoid(torch.addmm(bh, v, W.T)), generator=gen)
        return torch.bernoulli(torch.sigmoid(torch.addmm(bv, h, W)), generator=gen)

    def gibbs(self, v):
        """One Gibbs step ``v → h ~ P(h|v) → v' ~ P(v|h)``.

        Args:
            v: (n_samples, n_features) visible values in [0, 1].

        Returns:
            (n_samples, n_features) binary array (float64) of new visible states.
        """
        check_is_fitted(self)
        v = self._validate(v, reset=False, clip=True)
        if not hasattr(self, "random_state_"):
            self.random_state_ = check_random_state(self.random_state)
        device = self._device()
        dtype = self._infer_dtype(device)
        gen = torch_generator(self.random_state_, device=device)
        W, bh, bv = self._params(device, dtype)
        out = self._gibbs(torch.as_tensor(v, device=device, dtype=dtype), gen, W, bh, bv)
        return out.cpu().numpy().astype(np.float64)

    def sample(self, n_samples=1, n_gibbs_steps=1000, random_state=None):
        """Draw visible samples by running Gibbs chains from uniform random states.

        Args:
            n_samples: number of independent chains / samples. Default 1.
            n_gibbs_steps: Gibbs steps per chain. Default 1000.
            random_state: seed for the chains (None → this estimator's
                ``random_state``). Default None.

        Returns:
            (n_samples, n_features) binary array (float64).
        """
        check_is_fitted(self)
        check_value("RBM", "n_samples", n_samples, [integer(1)])
        check_value("RBM", "n_gibbs_steps", n_gibbs_steps, [integer(1)])
        rs = self.random_state if random_state is None else random_state
        device = self._device()
        dtype = self._infer_dtype(device)
        gen = torch_generator(rs, device=device)
        W, bh, bv = self._params(device, dtype)
        v = torch.bernoulli(
            torch.full((n_samples, W.shape[1]), 0.5, device=device, dtype=dtype), generator=gen
        )
        for _ in range(n_gibbs_steps):
            v = self._gibbs(v, gen, W, bh, bv)
        return v.cpu().numpy().astype(np.float64)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.non_deterministic = False
        return tags
