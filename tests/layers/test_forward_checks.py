"""Forward-pass checks: torch's own refusals (dtype, width, index) explained as neuralab errors.

Each case first shows that plain PyTorch refuses the same input (the reference:
the check must not reject what torch accepts), then that neuralab names the
expected and the received value.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import neuralab as nl
from neuralab import layers as L
from neuralab.errors import ConfigError, DataError, ShapeError


def _mlp():
    nl.set_seed(0)
    return L.Input(3) >> L.Relu(8) >> L.Softmax(2)


def test_torch_itself_refuses_a_float64_batch_into_float32_weights():
    with pytest.raises(RuntimeError):
        torch.nn.Linear(3, 8)(torch.randn(2, 3, dtype=torch.float64))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_float_batch_of_another_dtype_into_a_network(dtype):
    net = _mlp()
    with pytest.raises(DataError, match=rf"layer 'relu-1' \(Relu\): expected an input of dtype "
                                        rf"torch.float32 \(the dtype of its weights\), received {dtype}"):
        net(torch.randn(2, 3).to(dtype))


def test_integer_batch_into_a_float_network():
    net = _mlp()
    with pytest.raises(DataError, match=r"expected an input of floating dtype torch.float32, received "
                                        r"integer dtype torch.int64"):
        net(torch.ones(2, 3, dtype=torch.int64))


def test_a_float64_network_takes_float64():
    net = _mlp().double()
    x = torch.randn(2, 3, dtype=torch.float64)
    assert net(x).dtype == torch.float64
    with pytest.raises(DataError, match=r"expected an input of dtype torch.float64 .*received torch.float32"):
        net(x.float())


def test_convolution_and_lstm_dtype_messages():
    conv = L.Convolution(4, 3)
    conv(torch.randn(1, 2, 8, 8))
    with pytest.raises(DataError, match=r"\(Convolution\): expected an input of dtype torch.float32"):
        conv(torch.randn(1, 2, 8, 8, dtype=torch.float64))
    lstm = L.LSTM(4)
    lstm(torch.randn(2, 5, 3))
    with pytest.raises(DataError, match=r"\(LSTM\): expected an input of dtype torch.float32 .*received "
                                        r"torch.float64"):
        lstm(torch.randn(2, 5, 3, dtype=torch.float64))


def test_fit_and_predict_convert_float64_and_integer_arrays():
    net = _mlp()
    x64 = np.random.default_rng(0).normal(size=(16, 3))
    want = net(torch.as_tensor(x64, dtype=torch.float32)).detach().numpy()
    np.testing.assert_allclose(net.predict(x64), want, rtol=1e-6)
    ints = np.arange(48).reshape(16, 3) % 5
    np.testing.assert_allclose(net.predict(ints), net(torch.as_tensor(ints, dtype=torch.float32))
                               .detach().numpy(), rtol=1e-6)
    h = net.fit(x64, (x64[:, 0] > 0).astype(np.int64), epochs=1, progress=False, seed=0)
    assert np.isfinite(h["loss"][0])


def test_embedding_index_outside_the_vocabulary():
    emb = L.Embedding(5, 3)
    with pytest.raises(IndexError):  # the reference: torch's own refusal
        F.embedding(torch.tensor([[1, 7]]), torch.zeros(5, 3))
    with pytest.raises(DataError, match=r"expected indices in \[0, 5\) for its vocabulary of 5, received "
                                        r"index 7 \(indices range over \[1, 7\]\)"):
        emb(torch.tensor([[1, 7]]))
    with pytest.raises(DataError, match=r"received index -2 "):
        emb(torch.tensor([[-2, 1]]))
    idx = torch.tensor([[0, 4, 2]])
    torch.testing.assert_close(emb(idx), F.embedding(idx, emb.weight))


def test_embedding_index_out_of_range_in_a_network_and_in_predict():
    net = L.Input(6, dtype="int64") >> L.Embedding(10, 4) >> L.LSTM(3) >> L.Linear(2)
    with pytest.raises(DataError, match=r"received index 12 "):
        net(torch.tensor([[1, 2, 3, 4, 5, 12]]))
    with pytest.raises(DataError, match=r"vocabulary of 10, received index 10 "):
        net.predict(np.array([[1, 2, 3, 4, 5, 10]]))


def test_lazily_built_layer_called_with_another_width():
    dense = L.Relu(8)
    dense(torch.randn(2, 3))
    with pytest.raises(RuntimeError):  # the reference: the same weights in plain torch
        F.linear(torch.randn(2, 5), dense.weight)
    with pytest.raises(ShapeError, match=r"layer 'relu-\d+' \(Relu\) was built for input shape \(3,\) but "
                                         r"received \(5,\)"):
        dense(torch.randn(2, 5))
    conv = L.Convolution(4, 3)
    conv(torch.randn(1, 2, 8, 8))
    with pytest.raises(ShapeError, match=r"built for input shape \(2, 8, 8\) but received \(3, 8, 8\)"):
        conv(torch.randn(1, 3, 8, 8))


def test_lazily_built_network_called_with_another_width():
    net = L.Relu(8) >> L.Linear(2)
    net(torch.randn(2, 3))
    with pytest.raises(ShapeError, match=r"expects samples of shape \(3,\), .* samples of shape \(5,\)"):
        net(torch.randn(2, 5))


def test_other_failures_are_not_rewritten():
    class Broken(L.Identity):
        def forward(self, x):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="^boom$"):
        Broken()(torch.randn(2, 3))


@pytest.mark.parametrize("name", ["layers", "forward", "parameters", "fit", "summary", "name", "training",
                                  "input_layers", "_order"])
def test_layer_named_like_a_network_attribute(name):
    with pytest.raises(ConfigError, match=rf"Relu: expected `name` to be a name that is not a Network "
                                          rf"attribute .*received '{name}'"):
        L.Relu(4, name=name)


def test_a_renamed_layer_is_refused_when_the_network_forms():
    layer = L.Relu(4)
    layer.name, layer.auto_named = "layers", False  # set after construction: still refused
    with pytest.raises(ConfigError, match=r"expected `name` to be a name that is not a Network attribute"):
        L.Input(3) >> layer


def test_reserved_names_cover_every_attribute_a_network_sets():
    net = L.Input(3) >> (L.Relu(4) | L.Identity()) >> L.Concatenate()
    net(torch.randn(2, 3))
    assert set(vars(net)) <= nl.Network.reserved_names()
    ok = L.Input(3) >> L.Relu(4, name="hidden") >> L.Linear(2, name="output")
    assert [layer.name for layer in ok.layers][1:] == ["hidden", "output"]


def test_branching_network_explains_the_failing_layer_too():
    nl.set_seed(0)
    net = L.Input(3) >> (L.Relu(3, name="branch") | L.Identity()) >> L.Elementwise("add") >> L.Linear(2)
    assert not net._is_chain
    with pytest.raises(DataError, match=r"layer 'branch' \(Relu\): expected an input of dtype torch.float32"):
        net(torch.randn(2, 3, dtype=torch.float64))

    class Broken(L.Identity):
        def forward(self, x):
            raise RuntimeError("boom")

    for graph in (L.Input(3) >> Broken() >> L.Linear(2),
                  L.Input(3) >> (Broken() | L.Identity()) >> L.Elementwise("add")):
        with pytest.raises(RuntimeError, match="^boom$"):
            graph(torch.randn(2, 3))


def test_batch_norm_with_one_value_per_channel_in_training_mode():
    net = L.Input(4) >> L.Relu(8) >> L.BatchNorm() >> L.Linear(2)
    with pytest.raises(ValueError):                    # torch's own refusal, for reference
        torch.nn.functional.batch_norm(torch.zeros(1, 8), None, None, training=True)
    with pytest.raises(DataError, match=r"BatchNorm\): expected more than one value per channel .*"
                                        r"received a batch of shape \(1, 8\).*net.eval\(\)"):
        net(torch.zeros(1, 4))
    conv_bn = L.BatchNorm()
    with pytest.raises(DataError, match=r"\(1, 3, 1, 1\)"):
        conv_bn(torch.zeros(1, 3, 1, 1))
    assert conv_bn(torch.zeros(1, 3, 2, 2)).shape == (1, 3, 2, 2)   # 4 values per channel: fine
    net.eval()
    assert net(torch.zeros(1, 4)).shape == (1, 2)                   # running statistics
