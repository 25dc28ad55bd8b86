"""Growing neural gas (Fritzke 1995): a graph of prototypes that grows to fit the data."""

from __future__ import annotations

import logging

import numpy as np
import torch
from sklearn.base import ClusterMixin, TransformerMixin
from sklearn.utils import check_random_state

from .. import registry
from ..validation import expected
from ._base import NON_NEGATIVE, Estimator, integer, make_init, real, validate

__all__ = ["GrowingNeuralGas"]

logger = logging.getLogger(__name__)


@registry.estimators.register("GrowingNeuralGas", "gng")
class GrowingNeuralGas(ClusterMixin, TransformerMixin, Estimator):
    """Growing neural gas: unsupervised, incremental topology learning (Fritzke 1995).

    For every input ``x`` (samples in random order each epoch):

    1. find the nearest node ``s1`` and the second nearest ``s2`` (squared
       Euclidean distance ``d²``);
    2. age every edge of ``s1`` by one; ``error[s1] += d²(x, w_s1)``;
    3. move ``w_s1 += step (x − w_s1)`` and every topological neighbour ``n``
       of ``s1``: ``w_n += neighbour_step (x − w_n)``;
    4. connect ``s1``–``s2`` with age 0 (or reset the age of that edge);
    5. delete edges older than ``max_edge_age``, then the nodes this left
       without any edge;
    6. every ``n_iter_before_neuron_added`` inputs, while fewer than
       ``max_nodes`` nodes exist, insert a node ``r`` halfway between the node
       ``q`` with the largest error and its neighbour ``f`` with the largest
       error, replace the edge ``q``–``f`` by ``q``–``r`` and ``r``–``f``,
       multiply the errors of ``q`` and ``f`` by ``after_split_error_decay_rate``
       and give ``r`` the new error of ``q``;
    7. multiply every error by ``error_decay_rate``.

    Inputs closer to ``s1`` than ``min_distance_for_update`` leave the
    weights unchanged (steps 3); the comparison is between squared distances
    on both sides — NeuPy compared a plain distance with a squared threshold.

    Args:
        n_start_nodes: initial nodes, drawn from the training samples. Default 2.
        step: winner learning rate ``ε_b``. Default 0.2.
        neighbour_step: neighbour learning rate ``ε_n``. Default 0.006.
        max_edge_age: ``a_max``. Default 50.
        n_iter_before_neuron_added: ``λ``. Default 100.
        after_split_error_decay_rate: ``α``. Default 0.5.
        error_decay_rate: ``d`` (multiplies every error after each input). Default 0.995.
        max_nodes: most nodes the graph may hold. Default 100.
        min_distance_for_update: Euclidean distance below which a winner is not moved. Default 0.0.
        max_iter: epochs over the data in ``fit``. Default 10.
        tol: early stopping: ``fit`` ends after an epoch in which no node
            moved by more than ``tol`` (Euclidean distance between its weights at
            the start and at the end of the epoch) and no node was added or
            removed; ``n_iter_`` says how many epochs ran. ``None`` runs all
            ``max_iter`` epochs. Default None.
        shuffle: shuffle the samples every epoch. Default True.
        random_state: seed for the start nodes and the sample order. Default None.
        verbose: log the node count every epoch when > 0. Default 0.
        device: "auto" | "cpu" | "cuda" … Default "auto".
        n_threads: torch intra-op threads during training (None: torch's setting;
            the loop runs thousands of tiny kernels, where one thread is fastest).

    Input/Output shape: ``X`` (n_samples, n_features); ``predict`` → (n_samples,)
    index of the nearest node; ``transform`` → (n_samples, n_nodes) Euclidean
    distances to the nodes.

    Attributes:
        nodes_: (n_nodes, n_features) node weights.
        edges_: (n_edges, 2) int array of connected node indices (i < j).
        edge_ages_: (n_edges,) ages of the edges.
        errors_: (n_nodes,) accumulated errors.
        n_nodes_: number of nodes. labels_: nearest node of each training sample.
        n_updates_: inputs presented so far (drives the λ schedule).
        loss_curve_: after each epoch, the mean squared distance from the
            epoch's samples to their nearest node (``-score(X)``).
        n_iter_: epochs run. n_features_in_: number of features.

    Example:
        >>> import numpy as np
        >>> from neuralab.classic import GrowingNeuralGas
        >>> X = np.random.RandomState(0).rand(200, 2)
        >>> gng = GrowingNeuralGas(max_nodes=10, n_iter_before_neuron_added=20,
        ...                        random_state=0, device="cpu").fit(X)
        >>> gng.n_nodes_
        10
    """

    __init__ = make_init({
        "n_start_nodes": 2, "step": 0.2, "neighbour_step": 0.006, "max_edge_age": 50,
        "n_iter_before_neuron_added": 100, "after_split_error_decay_rate": 0.5,
        "error_decay_rate": 0.995, "max_nodes": 100, "min_distance_for_update": 0.0,
        "max_iter": 10, "tol": None, "shuffle": True, "random_state": None, "verbose": 0,
        "device": "auto", "n_threads": None,
    }, positional=16)

    _parameter_constraints = {
        "n_start_nodes": [integer(2)],
        "step": [real(0, 1, closed="both")],
        "neighbour_step": [real(0, 1, closed="both")],
        "max_edge_age": [integer(1)],
        "n_iter_before_neuron_added": [integer(1)],
        "after_split_error_decay_rate": [real(0, 1, closed="both")],
        "error_decay_rate": [real(0, 1, closed="both")],
        "max_nodes": [integer(1)],
        "min_distance_for_update": [NON_NEGATIVE],
        "max_iter": [integer(1)],
        "tol": [NON_NEGATIVE, None],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def _check_more(self):
        if self.max_nodes < self.n_start_nodes:
            raise expected("GrowingNeuralGas", "max_nodes",
                           f"at least n_start_nodes={self.n_start_nodes}", self.max_nodes)

    # -- state <-> working graph --------------------------------------------------
    def _load(self, device, n_features):
        """Fixed-capacity working state from the learned attributes."""
        cap = int(self.max_nodes)
        W = torch.zeros(cap, n_features, device=device, dtype=torch.float32)
        k = self.nodes_.shape[0]
        W[:k] = torch.as_tensor(self.nodes_, dtype=torch.float32)
        err = np.zeros(cap)
        err[:k] = self.errors_
        active = np.zeros(cap, dtype=bool)
        active[:k] = True
        edges = {i: {} for i in range(cap)}  # node → {neighbour: age}
        for (i, j), age in zip(self.edges_.tolist(), self.edge_ages_.tolist()):
            edges[i][j] = age
            edges[j][i] = age
        return W, err, active, edges

    def _store(self, W, err, active, edges):
        idx = np.flatnonzero(active)
        remap = {int(old): new for new, old in enumerate(idx)}
        self.nodes_ = W[torch.as_tensor(idx, device=W.device)].cpu().numpy().astype(np.float64)
        self.errors_ = err[idx].copy()
        pairs, ages = [], []
        for i in idx.tolist():
            for j, age in edges[i].items():
                if i < j:
                    pairs.append((remap[i], remap[j]))
                    ages.append(age)
        self.edges_ = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        self.edge_ages_ = np.asarray(ages, dtype=np.int64)
        self.n_nodes_ = len(idx)

    # -- training -----------------------------------------------------------------
    def _train(self, X, n_epochs, rng):
        with self._threads():
            return self._train_loop(X, n_epochs, rng, self._device())

    def _train_loop(self, X, n_epochs, rng, device):
        W, err, active, edges = self._load(device, X.shape[1])
        inactive_inf = torch.as_tensor(np.where(active, 0.0, np.inf), device=device, dtype=torch.float32)
        Xt = torch.as_tensor(X, device=device, dtype=torch.float32)
        eps_b, eps_n = float(self.step), float(self.neighbour_step)
        a_max, lam = int(self.max_edge_age), int(self.n_iter_before_neuron_added)
        alpha, decay = float(self.after_split_error_decay_rate), float(self.error_decay_rate)
        min_d2 = float(self.min_distance_for_update) ** 2
        cap = int(self.max_nodes)
        t = int(self.n_updates_)
        n_epochs_run = 0
        for epoch in range(n_epochs):
            start, active_at_start = W.clone(), active.copy()
            order = rng.permutation(len(X)) if self.shuffle else np.arange(len(X))
            for i in order.tolist():
                x = Xt[i]
                d2 = ((W - x) ** 2).sum(1) + inactive_inf  # squared distances, (cap,)
                vals, idx = torch.topk(d2, 2, largest=False)
                (d1, _), (s1, s2) = vals.tolist(), idx.tolist()
                # 2. age the winner's edges, accumulate its squared error
                nbrs = edges[s1]
                for n in nbrs:
                    nbrs[n] += 1
                    edges[n][s1] += 1
                err[s1] += d1
                # 3. move the winner and its neighbours towards x
                if d1 >= min_d2:
                    W[s1] += eps_b * (x - W[s1])
                    if nbrs and eps_n > 0:
                        nb = torch.as_tensor(list(nbrs), device=device)
                        W[nb] += eps_n * (x - W[nb])
                # 4. connect s1–s2 (age 0)
                nbrs[s2] = 0
                edges[s2][s1] = 0
                # 5. prune old edges, then nodes left without edges
                old = [n for n, age in nbrs.items() if age > a_max]
                for n in old:
                    del nbrs[n]
                    del edges[n][s1]
                    if not edges[n]:
                        active[n] = False
                        inactive_inf[n] = float("inf")
                        err[n] = 0.0
                t += 1
                # 6. insert a node every λ inputs
                if t % lam == 0 and active.sum() < cap:
                    self._insert(W, err, active, edges, inactive_inf, alpha)
                # 7. decay every error
                err *= decay
            n_epochs_run += 1
            d2 = torch.cdist(Xt, W, compute_mode="donot_use_mm_for_euclid_dist")  # (n, cap)
            d2.square_().add_(inactive_inf)
            self.loss_curve_.append(float(d2.min(1).values.mean()))
            if self.verbose:
                logger.info("[GrowingNeuralGas] epoch %d: %d nodes", epoch + 1, int(active.sum()))
            if self.tol is not None and np.array_equal(active, active_at_start):
                rows = torch.as_tensor(np.flatnonzero(active), device=device)
                moved = torch.linalg.vector_norm(W[rows] - start[rows], dim=1).max()
                if float(moved) <= self.tol:
                    break
        self.n_updates_ = t
        self._store(W, err, active, edges)
        return n_epochs_run

    def _insert(self, W, err, active, edges, inactive_inf, alpha):
        masked = np.where(active, err, -np.inf)
        q = int(np.argmax(masked))
        if not edges[q]:
            return
        f = max(edges[q], key=lambda n: err[n])
        r = int(np.flatnonzero(~active)[0])
        W[r] = 0.5 * (W[q] + W[f])
        active[r] = True
        inactive_inf[r] = 0.0
        del edges[q][f]
        del edges[f][q]
        edges[q][r] = edges[r][q] = 0
        edges[f][r] = edges[r][f] = 0
        err[q] *= alpha
        err[f] *= alpha
        err[r] = err[q]

    def fit(self, X, y=None):
        """Grow the graph on ``X`` for ``max_iter`` epochs. Returns self."""
        self._validate_params()
        X = validate(self, X, reset=True)
        rng = check_random_state(self.random_state)
        self._init_graph(X, rng)
        self.n_iter_ = self._train(X, int(self.max_iter), rng)
        self.labels_ = self.predict(X)
        return self

    def _init_graph(self, X, rng):
        k = int(self.n_start_nodes)
        idx = rng.choice(len(X), size=k, replace=len(X) < k)
        nodes = X[idx].astype(np.float64)
        # Coincident start nodes would tie forever: nudge duplicates apart.
        nodes = nodes + 1e-6 * rng.standard_normal(nodes.shape) * (np.std(X) + 1e-12)
        self.nodes_ = nodes
        self.errors_ = np.zeros(k)
        self.edges_ = np.zeros((0, 2), dtype=np.int64)
        self.edge_ages_ = np.zeros(0, dtype=np.int64)
        self.n_nodes_ = k
        self.n_updates_ = 0
        self.loss_curve_ = []

    def partial_fit(self, X, y=None):
        """One epoch over ``X`` (initialising the graph from ``X`` on the first call). Returns self."""
        self._validate_params()
        first = not hasattr(self, "nodes_")
        X = validate(self, X, reset=first)
        if first or not hasattr(self, "random_state_"):
            self.random_state_ = check_random_state(self.random_state)
        if first:
            self._init_graph(X, self.random_state_)
        self.n_iter_ = getattr(self, "n_iter_", 0) + self._train(X, 1, self.random_state_)
        self.labels_ = self.predict(X)
        return self

    # -- inference ----------------------------------------------------------------
    def _distances(self, X):
        device = self._device()
        dtype = torch.float64 if device.type == "cpu" else torch.float32
        Xt = torch.as_tensor(X, device=device, dtype=dtype)
        Wt = torch.as_tensor(self.nodes_, device=device, dtype=dtype)
        return torch.cdist(Xt, Wt)

    def transform(self, X):
        """Euclidean distance of each sample to each node, (n_samples, n_nodes)."""
        X = self._fitted_data(X)
        return self._distances(X).cpu().numpy().astype(np.float64)

    def predict(self, X):
        """Index of the nearest node of each sample, (n_samples,)."""
        X = self._fitted_data(X)
        return self._distances(X).argmin(1).cpu().numpy()

    def score(self, X, y=None):
        """Negative mean squared quantization error (higher is better)."""
        d = self.transform(X)
        return -float(np.mean(d.min(1) ** 2))
