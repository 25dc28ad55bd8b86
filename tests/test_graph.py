"""The layer algebra: joins, parallels, shapes, configs, summaries and their errors."""

import json

import pytest
import torch
import torch.nn.functional as F

import neuralab as nl
from neuralab import layers as L
from neuralab.errors import ConfigError, DTypeError, ShapeError
from neuralab.graph import Network


def lenet5():
    return (L.Input((1, 32, 32))
            >> L.Convolution(6, 5) >> L.Relu() >> L.MaxPooling(2)
            >> L.Convolution(16, 5) >> L.Relu() >> L.MaxPooling(2)
            >> L.Reshape() >> L.Relu(120) >> L.Relu(84) >> L.Softmax(10))


def test_lenet5_parameters_and_shape():
    net = lenet5()
    assert nl.arithmetic.count_parameters(net) == 61_706
    assert net.output_shape == (10,)
    assert net.input_shape == (1, 32, 32)
    out = net(torch.randn(3, 1, 32, 32))
    assert out.shape == (3, 10)
    torch.testing.assert_close(out.sum(1), torch.ones(3))


def test_summary_prints_table_with_totals_and_receptive_fields():
    lines = []
    lenet5().summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Total parameters: 61,706" in text
    assert "(16, 5, 5)" in text and "48,120" in text
    # receptive field after conv5-pool2-conv5-pool2 is 16 (CS230 formula)
    pool_line = [l for l in lines if l.startswith("max_pooling") and "(16, 5, 5)" in l][0]
    assert pool_line.split()[-1] == "16"


def test_receptive_fields_match_arithmetic():
    net = lenet5()
    rf = net.receptive_fields()
    spatial = [l for l in net.layers if l.kernel_geometry() is not None]
    assert rf[spatial[-1].name] == (nl.arithmetic.receptive_field(spatial),) * 2


def test_sequential_equals_manual_torch():
    torch.manual_seed(0)
    net = L.Input(4) >> L.Tanh(5) >> L.Sigmoid(2)
    x = torch.randn(7, 4)
    a, b = net.layers[1], net.layers[2]
    ref = torch.sigmoid(F.linear(torch.tanh(F.linear(x, a.weight, a.bias)), b.weight, b.bias))
    torch.testing.assert_close(net(x), ref)


def test_residual_block():
    torch.manual_seed(0)
    block = L.Convolution(3, 3, padding="same") >> L.Relu()
    net = L.Input((3, 6, 6)) >> (block | L.Identity()) >> L.Elementwise("add")
    assert net.output_shape == (3, 6, 6)
    x = torch.randn(2, 3, 6, 6)
    conv = net.layers[1]
    ref = F.relu(F.conv2d(x, conv.weight, conv.bias, padding=1)) + x
    torch.testing.assert_close(net(x), ref)


def test_inception_block_and_connections():
    x = L.Input((4, 8, 8))
    branches = (L.Convolution(2, 1)
                | (L.Convolution(2, 1) >> L.Convolution(3, 3, padding="same"))
                | (L.MaxPooling(3, 1, padding="same") >> L.Convolution(1, 1)))
    net = x >> branches >> L.Concatenate()
    assert net.output_shape == (6, 8, 8)
    assert net(torch.randn(2, 4, 8, 8)).shape == (2, 6, 8, 8)
    concat = net.layers[-1]
    assert len(net.predecessors(concat)) == 3


def test_multiple_inputs_and_outputs():
    a, b = L.Input(3, name="a"), L.Input(5, name="b")
    net = (a | b) >> L.Concatenate() >> (L.Linear(2) | L.Sigmoid(4))
    assert net.input_shape == [(3,), (5,)]
    assert net.output_shape == [(2,), (4,)]
    y1, y2 = net(torch.randn(6, 3), torch.randn(6, 5))
    assert y1.shape == (6, 2) and y2.shape == (6, 4)


def test_join_parallel_repeat_functions():
    net = nl.join(L.Input(4), nl.repeat(L.Relu(4), 3), L.Linear(1))
    assert len(net.layers) == 5
    dense = [l for l in net.layers if isinstance(l, L.Relu)]
    assert len({id(l.weight) for l in dense}) == 3  # independent copies
    par = nl.parallel(L.Relu(), L.Tanh())
    assert len(par.output_layers) == 2


def test_lazy_network_infers_shapes_at_first_call():
    net = L.Convolution(4, 3) >> L.Relu() >> L.Reshape() >> L.Linear(2)
    assert not net.built and net.output_shape is None
    y = net(torch.randn(2, 1, 5, 5))
    assert y.shape == (2, 2) and net.built
    assert net.input_shape == (1, 5, 5)


def test_config_round_trip_rebuilds_the_same_network():
    net = L.Input((3, 8, 8)) >> (L.Convolution(4, 3, padding="same") | L.Identity()) \
        >> L.Concatenate() >> L.BatchNorm() >> L.GlobalPooling() >> L.Softmax(5)
    config = json.loads(json.dumps(net.get_config()))
    copy = Network.from_config(config)
    assert [l.name for l in copy.layers] == [l.name for l in net.layers]
    copy.load_state_dict(net.state_dict())
    net.eval(), copy.eval()
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(copy(x), net(x))
    assert copy.get_config() == net.get_config()


def test_network_works_in_a_plain_torch_loop():
    torch.manual_seed(0)
    net = L.Input(2) >> L.Tanh(8) >> L.Linear(1)
    x = torch.randn(64, 2)
    y = (x[:, :1] * x[:, 1:])
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    first = None
    for _ in range(200):
        loss = F.mse_loss(net(x), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * first


# -- errors ------------------------------------------------------------------------


def test_connect_mismatch_names_both_layers_and_shapes():
    with pytest.raises(ShapeError) as info:
        L.Input(3, name="inp") >> L.Relu(4, name="d1") >> (L.Linear(2, name="a") | L.Identity(name="i")) \
            >> L.Elementwise("add", name="sum")
    msg = str(info.value)
    assert "'a' (output (2,))" in msg and "'i' (output (4,))" in msg and "'sum'" in msg
    assert "equal shapes" in msg


def test_built_layer_reused_with_other_shape():
    dense = L.Relu(4, name="shared")
    L.Input(3, name="first") >> dense
    with pytest.raises(ShapeError, match=r"'second' \(output \(5,\)\) to layer 'shared'.*"
                                         r"built for input shape \(3,\) but received \(5,\)"):
        L.Input(5, name="second") >> dense


def test_dense_on_images_suggests_reshape():
    with pytest.raises(ShapeError, match=r"'img' \(output \(1, 8, 8\)\).*Reshape"):
        L.Input((1, 8, 8), name="img") >> L.Relu(10)


def test_too_small_input_names_the_layer():
    with pytest.raises(ShapeError, match=r"layer 'c2' \(Convolution\) cannot take input \(4, 2, 2\)"):
        L.Input((1, 6, 6)) >> L.Convolution(4, 5, name="c1") >> L.Convolution(4, 3, name="c2")


def test_forward_with_wrong_input_shape_says_which_input():
    net = L.Input((1, 8, 8), name="pixels") >> L.Reshape() >> L.Linear(2)
    with pytest.raises(ShapeError, match=r"input 0 \('pixels'\) expects samples of shape "
                                         r"\(1, 8, 8\), received a batch of shape \(2, 1, 9, 9\)"):
        net(torch.randn(2, 1, 9, 9))
    with pytest.raises(ShapeError, match="has 1 input.* called with 2 tensors"):
        net(torch.randn(2, 1, 8, 8), torch.randn(2, 1, 8, 8))
    with pytest.raises(DTypeError, match="expects a torch.Tensor, received ndarray"):
        import numpy as np

        net(np.zeros((2, 1, 8, 8)))


def test_merge_fed_into_single_input_layer():
    with pytest.raises(ShapeError, match=r"takes one input but would receive 2.*Concatenate"):
        L.Input(3) >> (L.Relu() | L.Tanh()) >> L.Relu(2)


def test_cannot_join_into_input_or_foreign_objects():
    with pytest.raises(ShapeError, match="into input layer"):
        L.Relu() >> L.Input(3)
    with pytest.raises(DTypeError, match="received Linear"):
        L.Relu() >> torch.nn.Linear(2, 2)
    with pytest.raises(ConfigError, match="`n` must be a positive integer, received 0"):
        nl.repeat(L.Relu(), 0)


def test_duplicate_names_rejected():
    with pytest.raises(ConfigError, match="two different layers are named 'x'"):
        L.Relu(name="x") >> L.Tanh(name="x")


# -- in-place execution ---------------------------------------------------------------


def _resnet_block_net():
    torch.manual_seed(0)
    x = L.Input((3, 6, 6), name="x")
    body = (L.Convolution(3, 3, padding="same", name="c1") >> L.BatchNorm(name="b1")
            >> L.Relu(name="r1") >> L.Convolution(3, 3, padding="same", name="c2")
            >> L.BatchNorm(name="b2"))
    return x >> (body | L.Identity(name="id")) >> L.Elementwise("add", name="add") \
        >> L.Relu(name="r2")


def test_inplace_plan_is_used_only_where_safe():
    from neuralab.graph import _InplaceCall

    net = _resnet_block_net()
    inplace = {call.layer.name for call, _ in net._exec if isinstance(call, _InplaceCall)}
    assert inplace == {"r1", "add", "r2"}
    # a value read twice, or an output, is never overwritten
    branchy = L.Input(3) >> L.Linear(3, name="lin") >> (L.Relu(name="a") | L.Tanh(name="b"))
    assert not any(isinstance(c, _InplaceCall) for c, _ in branchy._exec)


def test_inplace_execution_matches_functional_reference_and_gradients():
    net = _resnet_block_net().train()
    x = torch.randn(4, 3, 6, 6, requires_grad=True)
    x_copy = x.detach().clone()
    y = net(x)
    y.square().sum().backward()
    grads = [p.grad.clone() for p in net.parameters()]
    assert torch.equal(x.detach(), x_copy)  # the caller's tensor is untouched

    c1, b1, c2, b2 = (net.layer(n) for n in ("c1", "b1", "c2", "b2"))
    xr = x_copy.clone().requires_grad_(True)
    params = list(net.parameters())

    def bn(t, layer):
        return F.batch_norm(t, None, None, layer.gamma, layer.beta, True, 0.0, layer.epsilon)

    h = F.relu(bn(F.conv2d(xr, c1.weight, c1.bias, padding=1), b1))
    ref = F.relu(bn(F.conv2d(h, c2.weight, c2.bias, padding=1), b2) + xr)
    torch.testing.assert_close(y, ref)
    ref_grads = torch.autograd.grad(ref.square().sum(), [xr] + params)
    torch.testing.assert_close(x.grad, ref_grads[0])
    for g, r in zip(grads, ref_grads[1:]):
        torch.testing.assert_close(g, r)


def test_hooks_still_fire_on_inplace_layers():
    net = _resnet_block_net().eval()
    seen = []
    net.layer("r1").register_forward_hook(lambda m, i, o: seen.append(o.shape))
    with torch.no_grad():
        net(torch.randn(2, 3, 6, 6))
    assert seen == [torch.Size([2, 3, 6, 6])]


def test_replace_swaps_a_layer_and_rejects_bad_shapes():
    net = L.Input(4) >> L.Relu(8, name="hidden") >> L.Linear(2, name="out")
    hidden = net.layer("hidden")
    net.replace("out", L.Linear(5, name="out5"))
    assert net.output_shape == (5,) and net.layer("hidden") is hidden
    assert net(torch.randn(3, 4)).shape == (3, 5)
    before = [l.name for l in net.layers]
    with pytest.raises(ShapeError):
        net.replace("hidden", L.Relu(8, name="h2").build((3,)))
    assert [l.name for l in net.layers] == before  # unchanged after the failure


def test_replace_and_layer_lookup_errors():
    net = L.Input(4, name="in4") >> L.Relu(8, name="hidden")
    with pytest.raises(ConfigError, match=r"network has no layer 'nope'; layers: in4, hidden"):
        net.layer("nope")
    with pytest.raises(ConfigError, match=r"layer 'stranger' is not in network 'network'"):
        net.replace(L.Relu(name="stranger"), L.Relu())
    with pytest.raises(DTypeError, match=r"replace expects a neuralab layer for 'hidden', "
                                         r"received Linear"):
        net.replace("hidden", torch.nn.Linear(4, 8))
