"""Network.fit/predict/evaluate are neuralab.training's functions: same docs, signatures, results."""

import inspect
import pydoc

import numpy as np
import pytest
import torch

import neuralab as nl
from neuralab import layers as L
from neuralab import training


@pytest.mark.parametrize("name", ["fit", "predict", "evaluate"])
def test_help_shows_the_whole_training_docstring(name):
    net = L.Input(2) >> L.Softmax(2)
    text = pydoc.render_doc(getattr(net, name), renderer=pydoc.plaintext)
    for line in inspect.cleandoc(getattr(training, name).__doc__).splitlines():
        assert line.strip() in text
    want = list(inspect.signature(getattr(training, name)).parameters)[1:]   # without `module`
    assert list(inspect.signature(getattr(net, name)).parameters) == want


def test_the_delegated_methods_train_and_predict_like_the_functions():
    x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    y = (x[:, 0] > x[:, 1]).astype(np.int64)
    nl.set_seed(0)
    a = L.Input(2) >> L.Relu(8) >> L.Linear(2)
    b = a.clone()
    b.load_state_dict(a.state_dict())
    ha = a.fit(x, y, epochs=3, progress=False, seed=1)
    hb = training.fit(b, x, y, epochs=3, progress=False, seed=1)
    assert ha["loss"] == hb["loss"]
    np.testing.assert_array_equal(a.predict(x), training.predict(b, x))
    assert a.evaluate(x, y) == training.evaluate(b, x, y)
    assert isinstance(a.predict(torch.as_tensor(x)), np.ndarray)
