"""predict(..., probabilities=True): probabilities from logits networks and Softmax networks alike."""

import numpy as np
import pytest
import torch
from scipy.special import expit, softmax

import neuralab as nl
from neuralab import layers as L
from neuralab.errors import ConfigError

X = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)


def test_logits_network_gets_softmax():
    nl.set_seed(0)
    net = L.Input(4) >> L.Relu(8) >> L.Linear(3)
    logits = net.predict(X)
    probs = net.predict(X, probabilities=True)
    np.testing.assert_allclose(probs, softmax(logits, axis=1), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)


def test_softmax_network_is_unchanged():
    nl.set_seed(0)
    net = L.Input(4) >> L.Relu(8) >> L.Softmax(3)
    np.testing.assert_array_equal(net.predict(X, probabilities=True), net.predict(X))
    torch_net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(dim=1))
    np.testing.assert_array_equal(nl.training.predict(torch_net, X, probabilities=True),
                                  nl.training.predict(torch_net, X))


def test_one_unit_logits_get_sigmoid_and_a_sigmoid_output_is_unchanged():
    nl.set_seed(0)
    logit = L.Input(4) >> L.Linear(1)
    np.testing.assert_allclose(logit.predict(X, probabilities=True), expit(logit.predict(X)), rtol=1e-5)
    sig = L.Input(4) >> L.Sigmoid(1)
    np.testing.assert_array_equal(sig.predict(X, probabilities=True), sig.predict(X))


def test_a_registered_architecture_returns_logits_and_probabilities_on_request():
    from neuralab import architectures

    torch.manual_seed(0)
    net = architectures.create("lenet5", input_shape=(1, 32, 32), num_classes=10)
    x = np.random.default_rng(1).normal(size=(3, 1, 32, 32)).astype(np.float32)
    logits = net.predict(x)
    assert not np.allclose(logits.sum(axis=1), 1.0)            # logits, not probabilities
    np.testing.assert_allclose(net.predict(x, probabilities=True), softmax(logits, axis=1), rtol=1e-5,
                               atol=1e-7)


def test_several_outputs_each_get_their_own_rule():
    nl.set_seed(0)
    inp = L.Input(4)
    net = inp >> (L.Linear(3, name="logits") | L.Softmax(2, name="probs"))
    raw = net.predict(X)
    probs = net.predict(X, probabilities=True)
    np.testing.assert_allclose(probs[0], softmax(raw[0], axis=1), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(probs[1], raw[1])


def test_probabilities_must_be_a_bool():
    with pytest.raises(ConfigError, match=r"predict: expected `probabilities` to be True or False, received 'yes'"):
        nl.training.predict(torch.nn.Identity(), X, probabilities="yes")
