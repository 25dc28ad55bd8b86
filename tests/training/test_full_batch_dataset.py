"""Full-batch (second-order) training on a Dataset of (x, class label) pairs."""

import numpy as np
import torch

from _datasets import Pairs

import neuralab as nl
from neuralab import layers as L


def test_lm_on_a_dataset_of_labels_equals_lm_on_arrays():
    """mse on class labels compares with one-hot rows, whether the labels come as arrays or a Dataset."""
    d = nl.datasets.load_digits(flat=True)
    x, y = d.x_train[:120], d.y_train[:120]
    runs = []
    for data in ((x, y), (Pairs(torch.from_numpy(x), torch.from_numpy(y)),)):
        nl.set_seed(0)
        net = L.Input(64) >> L.Tanh(6) >> L.Softmax(10)
        history = net.fit(*data, optimizer="lm", loss="mse", epochs=3, progress=False, seed=0)
        runs.append((history["loss"], net))
    (loss_a, net_a), (loss_d, net_d) = runs
    np.testing.assert_allclose(loss_a, loss_d, rtol=1e-5)
    assert loss_a[-1] < loss_a[0]
    onehot = np.eye(10)[y]
    mse = float(np.mean((net_d.predict(x) - onehot) ** 2))      # the loss, by hand
    assert abs(mse - loss_d[-1]) < 1e-5
