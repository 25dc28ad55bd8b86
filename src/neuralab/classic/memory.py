"""Associative memories: the discrete Hopfield network and the discrete BAM.

Patterns are binary 0/1 arrays; internally they are bipolar (``s = 2x − 1``)
and weights are Hebbian outer-product sums. Recall iterates the threshold
update until the state stops changing (a fixed point) or ``n_times`` steps.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from .. import registry
from ..errors import DataError
from ._base import (
    COMMON_CONSTRAINTS,
    Estimator,
    StrOptions,
    check_binary,
    check_is_fitted,
    check_value,
    integer,
    resolve_device,
    torch_generator,
)

__all__ = ["DiscreteHopfieldNetwork", "DiscreteBAM"]

_MODES = ("sync", "async")


def _check_n_times(estimator, n_times):
    """The ``n_times`` argument of a recall call, checked like the parameter."""
    return check_value(type(estimator).__name__, "n_times", n_times, [integer(1)])


def _as_binary_2d(estimator, X, what="X", n_features=None):
    """Validate a binary 0/1 pattern array; 1-D input is one pattern. → float64 (n, d)."""
    X = np.asarray(X)
    if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise DataError(
            f"{type(estimator).__name__}: {what} must be a numeric array of 0/1 patterns, "
            f"received dtype {X.dtype}"
        )
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(
            f"{type(estimator).__name__}: {what} must be a non-empty 2-D array "
            f"(n_patterns, n_features), received shape {np.shape(X)}"
        )
    X = X.astype(np.float64)
    if np.isnan(X).any():
        raise DataError(f"{type(estimator).__name__}: {what} contains NaN; expected 0/1 values")
    check_binary(estimator, X, what=what)
    if n_features is not None and X.shape[1] != n_features:
        raise DataError(
            f"{what} has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
            f"{n_features} features as input"
        )
    return X


def _sign(x: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """Bipolar threshold: +1 if x > 0, −1 if x < 0, the previous state if x == 0."""
    return torch.where(x > 0, 1.0, torch.where(x < 0, -1.0, previous))


@registry.estimators.register("DiscreteHopfieldNetwork", "hopfield")
class DiscreteHopfieldNetwork(Estimator):
    """Discrete Hopfield network (Hopfield 1982): an auto-associative memory.

    Training (Hebb's rule, bipolar patterns ``s = 2x − 1``, zero diagonal)::

        W += Σ_p s_p s_pᵀ − P·I

    Recall from a (noisy) binary pattern ``x``: ``s ← sgn(W s)`` with
    ``sgn(0)`` keeping the current state. In "sync" mode all units update at
    once and the step repeats **until a fixed point** (or ``n_times`` steps; a
    2-cycle can occur in sync mode). NeuPy stopped after one synchronous step,
    which does not reach the stored pattern from noisier inputs. In "async"
    mode units update one at a time in a random order; ``n_times`` counts full
    sweeps and recall stops after a sweep that changes nothing (asynchronous
    recall always converges: each flip lowers the energy).

    Energy of a state: ``E(s) = −½ sᵀ W s``.

    Args:
        mode: "sync" | "async". Default "sync".
        n_times: maximum number of synchronous steps / asynchronous sweeps. Default 100.
        check_limit: raise when more patterns are stored than the capacity
            ``n_features / (2 ln n_features)`` (McEliece et al. 1987). Default True.
        random_state: seed for the asynchronous update order. Default None.
        device: "auto" | "cpu" | "cuda" … Default "auto".
        n_threads: torch intra-op threads during fit/predict (None: torch's setting).

    Input/Output shape: patterns (n_patterns, n_features) of 0/1 (a 1-D array
    is one pattern); ``predict`` returns the same shape.

    Attributes:
        weight_: (n_features, n_features) symmetric weight matrix, zero diagonal.
        n_memories_: number of stored patterns.
        n_features_in_: pattern length.

    Example:
        >>> import numpy as np
        >>> from neuralab.classic import DiscreteHopfieldNetwork
        >>> patterns = np.array([[1, 0, 1, 0, 1, 0], [0, 0, 0, 1, 1, 1]])
        >>> net = DiscreteHopfieldNetwork(check_limit=False, device="cpu").train(patterns)
        >>> net.predict([1, 0, 1, 0, 1, 1]).astype(int).tolist()
        [[1, 0, 1, 0, 1, 0]]
    """

    _parameter_constraints = {
        "mode": [StrOptions(set(_MODES))],
        "n_times": [integer(1)],
        "check_limit": ["boolean"],
        "random_state": ["random_state"],
        **COMMON_CONSTRAINTS,
    }

    def __init__(self, mode="sync", n_times=100, check_limit=True, random_state=None, device="auto",
                 n_threads=None):
        self.mode = mode
        self.n_times = n_times
        self.check_limit = check_limit
        self.random_state = random_state
        self.device = device
        self.n_threads = n_threads

    def train(self, patterns):
        """Store ``patterns`` (added to anything stored before). Returns self."""
        self._validate_params()
        n_features = getattr(self, "n_features_in_", None)
        X = _as_binary_2d(self, patterns, "patterns", n_features)
        n_total = getattr(self, "n_memories_", 0) + X.shape[0]
        d = X.shape[1]
        if self.check_limit:
            limit = d / (2 * math.log(d)) if d > 1 else 1.0
            if n_total > limit:
                raise DataError(
                    f"DiscreteHopfieldNetwork: {n_total} patterns exceed the capacity "
                    f"{limit:.2f} = n_features / (2 ln n_features) for n_features={d}; "
                    f"store fewer patterns, use longer ones, or set check_limit=False"
                )
        S = 2 * X - 1
        W = S.T @ S
        np.fill_diagonal(W, 0.0)
        self.weight_ = W if n_features is None else self.weight_ + W
        self.n_memories_ = n_total
        self.n_features_in_ = d
        return self

    fit = train

    def _recall(self, S, W, mode, n_times, gen):
        """Iterate the threshold update on bipolar states ``S`` (n, d)."""
        if mode == "sync":
            for _ in range(n_times):
                new = _sign(S @ W, S)
                if torch.equal(new, S):
                    break
                S = new
            return S
        d = S.shape[1]
        for _ in range(n_times):
            before = S.clone()
            for i in torch.randperm(d, generator=gen, device=gen.device).tolist():
                S[:, i] = _sign(S @ W[:, i], S[:, i])
            if torch.equal(before, S):
                break
        return S

    def predict(self, X, n_times=None):
        """Recall the stored patterns nearest to ``X``.

        Args:
            X: (n_samples, n_features) 0/1 array (or one 1-D pattern).
            n_times: overrides the estimator's ``n_times``. Default None.

        Returns:
            (n_samples, n_features) 0/1 array (float64).
        """
        check_is_fitted(self)
        self._validate_params()
        n_times = self.n_times if n_times is None else _check_n_times(self, n_times)
        X = _as_binary_2d(self, X, "X", self.n_features_in_)
        device = resolve_device(self.device)
        W = torch.as_tensor(self.weight_, device=device, dtype=torch.float32)
        S = torch.as_tensor(2 * X - 1, device=device, dtype=torch.float32)
        gen = torch_generator(self.random_state, device=device)
        with self._threads():
            S = self._recall(S, W, self.mode, n_times, gen)
        return ((S.cpu().numpy() + 1) / 2).astype(np.float64)

    def energy(self, X):
        """Hopfield energy ``E = −½ sᵀ W s`` of each 0/1 pattern, shape (n_samples,)."""
        check_is_fitted(self)
        X = _as_binary_2d(self, X, "X", self.n_features_in_)
        S = 2 * X - 1
        return -0.5 * np.einsum("ni,ij,nj->n", S, self.weight_, S)


@registry.estimators.register("DiscreteBAM", "bam")
class DiscreteBAM(Estimator):
    """Discrete bidirectional associative memory (Kosko 1988).

    Stores pairs ``(x, y)`` of binary patterns; with bipolar ``a = 2x − 1``,
    ``b = 2y − 1``::

        W += Σ_p a_p b_pᵀ                      # (n_input, n_output)
        recall: b ← sgn(a W),  a ← sgn(b Wᵀ),  repeated until (a, b) is stable

    ``sgn(0)`` keeps the previous value of a unit (+1 on the very first step,
    when there is none). ``n_times`` bounds the number of round trips.
    Energy: ``E(a, b) = −a W bᵀ``.

    Args:
        n_times: maximum number of forward-backward round trips. Default 100.
        device: "auto" | "cpu" | "cuda" … Default "auto".
        n_threads: torch intra-op threads during fit/predict (None: torch's setting).

    Input/Output shape: ``X`` (n, n_input), ``Y`` (n, n_output), both 0/1.

    Attributes:
        weight_: (n_input, n_output) weight matrix.
        n_features_in_: input pattern length; ``n_features_out_``: output length.
        n_memories_: number of stored pairs.

    Example:
        >>> import numpy as np
        >>> from neuralab.classic import DiscreteBAM
        >>> X = np.array([[1, 0, 1, 0, 1, 0], [1, 1, 1, 0, 0, 0]])
        >>> Y = np.array([[1, 0, 0], [0, 1, 1]])
        >>> bam = DiscreteBAM(device="cpu").train(X, Y)
        >>> bam.predict(X).astype(int).tolist()
        [[1, 0, 0], [0, 1, 1]]
    """

    _parameter_constraints = {"n_times": [integer(1)], **COMMON_CONSTRAINTS}

    def __init__(self, n_times=100, device="auto", n_threads=None):
        self.n_times = n_times
        self.device = device
        self.n_threads = n_threads

    def train(self, X, Y):
        """Store the pairs ``(X[i], Y[i])`` (added to earlier ones). Returns self."""
        self._validate_params()
        X = _as_binary_2d(self, X, "X", getattr(self, "n_features_in_", None))
        Y = _as_binary_2d(self, Y, "Y", getattr(self, "n_features_out_", None))
        if X.shape[0] != Y.shape[0]:
            raise DataError(
                f"DiscreteBAM: X and Y must hold the same number of patterns, "
                f"received {X.shape[0]} and {Y.shape[0]}"
            )
        W = (2 * X - 1).T @ (2 * Y - 1)
        first = not hasattr(self, "weight_")
        self.weight_ = W if first else self.weight_ + W
        self.n_memories_ = getattr(self, "n_memories_", 0) + X.shape[0]
        self.n_features_in_, self.n_features_out_ = X.shape[1], Y.shape[1]
        return self

    fit = train

    def _run(self, A, W, n_times):
        """Round trips from input-side states ``A``; returns the final (A, B)."""
        B = _sign(A @ W, torch.ones(A.shape[0], W.shape[1], device=A.device))
        for _ in range(n_times):
            A_new = _sign(B @ W.T, A)
            B_new = _sign(A_new @ W, B)
            if torch.equal(A_new, A) and torch.equal(B_new, B):
                break
            A, B = A_new, B_new
        return A, B

    def _tensors(self):
        device = resolve_device(self.device)
        return device, torch.as_tensor(self.weight_, device=device, dtype=torch.float32)

    def predict(self, X, n_times=None):
        """Recall the output patterns associated with the 0/1 inputs ``X``: (n, n_output)."""
        check_is_fitted(self)
        n_times = self.n_times if n_times is None else _check_n_times(self, n_times)
        X = _as_binary_2d(self, X, "X", self.n_features_in_)
        device, W = self._tensors()
        with self._threads():
            _, B = self._run(torch.as_tensor(2 * X - 1, device=device, dtype=torch.float32), W, n_times)
        return ((B.cpu().numpy() + 1) / 2).astype(np.float64)

    def predict_input(self, Y, n_times=None):
        """Recall the input patterns associated with the 0/1 outputs ``Y``: (n, n_input)."""
        check_is_fitted(self)
        n_times = self.n_times if n_times is None else _check_n_times(self, n_times)
        Y = _as_binary_2d(self, Y, "Y", self.n_features_out_)
        device, W = self._tensors()
        # The same dynamics with the roles of the layers swapped (weights transposed).
        with self._threads():
            _, A = self._run(torch.as_tensor(2 * Y - 1, device=device, dtype=torch.float32), W.T, n_times)
        return ((A.cpu().numpy() + 1) / 2).astype(np.float64)

    def energy(self, X, Y):
        """BAM energy ``E = −a W bᵀ`` of each pair, shape (n_samples,)."""
        check_is_fitted(self)
        X = _as_binary_2d(self, X, "X", self.n_features_in_)
        Y = _as_binary_2d(self, Y, "Y", self.n_features_out_)
        return -np.einsum("ni,ij,nj->n", 2 * X - 1, self.weight_, 2 * Y - 1)
