"""One battery over every registered architecture (timm's style): registering a
factory puts it under forward/backward, shape prediction, views and config round trip.

Each runs at the smallest input it admits, batch 2, to stay fast.
"""

import json

import pytest
import torch

from neuralab import architectures as A
from neuralab import registry
from neuralab.architectures import Model

SLOW = {"vgg16", "vgg19", "alexnet", "darknet53"}
# detection heads output grids/keypoints, not class scores: their contract is in tests/vision_detection
NOT_CLASSIFIERS = {"tiny_yolo", "landmark_net"}
CLASSIFIERS = [n for n in A.names() if n not in NOT_CLASSIFIERS]
NAMES = [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in CLASSIFIERS]


# the smallest input each architecture admits (H = W), as documented
MINIMUM = {"alexnet": 63, "googlenet": 31, "lenet5": 16, "resnet18": 1, "resnet34": 1,
           "resnet50": 1, "squeezenet1_0": 29, "squeezenet1_1": 25, "vgg16": 32, "vgg19": 32,
           "darknet53": 1}


def smallest(name):
    """Build ``name`` for 5 classes at the smallest input it admits."""
    if name == "mixture_of_experts":
        return A.create(name, num_classes=5, input_shape=(1, 8, 8)), (1, 8, 8)
    size = MINIMUM.get(name) or A.create(name, num_classes=5).minimum_input_size
    shape = (1 if name == "lenet5" else 3, size, size)
    net = A.create(name, num_classes=5, input_shape=shape)
    assert net.minimum_input_size == size
    return net, shape


def test_every_factory_is_covered():
    assert set(A.names()) >= {
        "alexnet", "googlenet", "lenet5", "mixture_of_experts", "resnet18", "resnet34",
        "resnet50", "squeezenet1_0", "squeezenet1_1", "vgg16", "vgg19"}


@pytest.mark.parametrize("name", NAMES)
def test_architecture_contract(name):
    torch.manual_seed(0)
    net, shape = smallest(name)
    assert isinstance(net, Model)
    assert isinstance(net, registry.layers.lookup(type(net).__name__))
    x = torch.randn(2, *shape)

    # forward + backward in training mode; predicted shape equals the real one
    net.train()
    y = net(x)
    assert tuple(y.shape) == (2,) + tuple(net.output_shape) == (2, 5)
    assert torch.isfinite(y).all()
    y.square().sum().backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0

    # features/head are views: head(features(x)) == net(x), no duplicated tensors
    net.eval()
    with torch.no_grad():
        out = net(x)
        feats = net.features(x)
        again = net.head(*feats) if isinstance(feats, tuple) else net.head(feats)
    torch.testing.assert_close(again, out, rtol=1e-5, atol=1e-6)
    if not isinstance(feats, tuple):
        assert tuple(feats.shape[1:]) == tuple(net.feature_shape)
    keys = list(net.state_dict())
    assert len(keys) == len(set(keys))
    assert not any(k.startswith(("head.", "features.", "_views")) for k in keys)
    n_tensors = len(list(net.parameters())) + len(list(net.buffers()))
    assert len(keys) == n_tensors

    # summary lists every layer with a shape and a receptive field column
    lines = net.summary_lines()
    assert "Receptive field" in lines[2]
    text = "\n".join(lines)
    assert all(layer.name in text for layer in net.layers)
    assert f"Total parameters: {sum(p.numel() for p in net.parameters()):,}" in text

    # config round trip through JSON and the layer registry: same layers, same outputs
    config = json.loads(json.dumps(net.get_config()))
    rebuilt = registry.layers.get({"class": type(net).__name__, "config": config})
    assert type(rebuilt) is type(net)
    assert [l.name for l in rebuilt.layers] == [l.name for l in net.layers]
    rebuilt.load_state_dict(net.state_dict())
    rebuilt.eval()
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), out, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in CLASSIFIERS if n not in SLOW])
def test_reset_classifier(name):
    torch.manual_seed(1)
    net, shape = smallest(name)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert net.reset_classifier(3) is net
    assert net.output_shape == (3,) and net.num_classes == 3
    x = torch.randn(2, *shape)
    net.eval()
    assert net(x).shape == (2, 3)
    after = net.state_dict()
    changed = {k for k in before if k not in after or after[k].shape != before[k].shape}
    assert changed, "the classifier should have new tensors"
    for k, v in after.items():
        if k in before and k not in changed and before[k].shape == v.shape:
            # every non-classifier tensor is kept
            layer = k.split(".")[0]
            if layer not in {c.split(".")[0] for c in changed}:
                assert torch.equal(v, before[k]), k
    # the new size survives a config round trip and the views follow
    rebuilt = type(net).from_config(json.loads(json.dumps(net.get_config())))
    rebuilt.load_state_dict(net.state_dict())
    rebuilt.eval()
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), net(x))
        feats = net.features(x)
        head = net.head(*feats) if isinstance(feats, tuple) else net.head(feats)
        torch.testing.assert_close(head, net(x))


@pytest.mark.parametrize("name", ["lenet5", "squeezenet1_1", "resnet18", "mixture_of_experts"])
def test_save_load_round_trip(name, tmp_path):
    storage = pytest.importorskip("neuralab.storage")
    torch.manual_seed(2)
    net, shape = smallest(name)
    x = torch.randn(2, *shape)
    net.train()
    net(x)  # move BatchNorm running statistics away from their initial values
    net.eval()
    path = tmp_path / f"{name}.safetensors"
    storage.save(net, path)
    loaded = storage.load(path)
    assert type(loaded) is type(net)
    loaded.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x), rtol=1e-5, atol=1e-6)


def test_device_and_dtype_follow_the_model():
    net = A.lenet5().double()
    net.reset_classifier(4)
    assert all(p.dtype == torch.float64 for p in net.parameters())
    assert net(torch.zeros(1, 1, 32, 32, dtype=torch.float64)).dtype == torch.float64


def test_deepcopy_keeps_views_consistent():
    import copy

    net = A.lenet5()
    net.features(torch.zeros(1, 1, 32, 32))  # create the view
    twin = copy.deepcopy(net)
    with torch.no_grad():
        twin.layer("conv1").weight.add_(1.0)
    x = torch.randn(2, 1, 32, 32)
    assert not torch.allclose(twin.features(x), net.features(x))
    torch.testing.assert_close(twin.features(x), twin._views["features"](x))
