"""Registry, published parameter counts, bad arguments and too-small inputs."""

import pytest
import torch

from neuralab import architectures as A
from neuralab import registry
from neuralab.errors import ConfigError, ShapeError

FACTORIES = ["alexnet", "googlenet", "lenet5", "mixture_of_experts", "resnet18", "resnet34",
             "resnet50", "squeezenet1_0", "squeezenet1_1", "vgg16", "vgg19"]

# published counts (1000 classes, 3×224×224; LeNet-5: 10 classes, 1×32×32)
PUBLISHED = {
    "lenet5": 61_706,
    "alexnet": 61_100_840,
    "squeezenet1_0": 1_248_424,
    "squeezenet1_1": 1_235_496,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "googlenet": 6_624_904,
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
}
BIG = {"vgg16", "vgg19", "alexnet"}


def test_names_and_globs():
    assert set(A.names()) >= set(FACTORIES) and A.names() == sorted(A.names())
    assert A.names("resnet*") == ["resnet18", "resnet34", "resnet50"]
    assert A.names("squeezenet*") == ["squeezenet1_0", "squeezenet1_1"]
    assert registry.architectures.names("vgg*") == ["vgg16", "vgg19"]


def test_unknown_name_lists_the_registered_ones():
    with pytest.raises(ConfigError, match=r"unknown architecture 'resnet19'; expected one of: "
                                          r"alexnet, .*googlenet, .*lenet5"):
        A.create("resnet19")


def test_aliases():
    assert isinstance(A.create("inception_v1", input_shape=(3, 31, 31)), A.GoogLeNet)
    assert isinstance(A.create("LeNet"), A.LeNet5)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in BIG else n
                                  for n in PUBLISHED])
def test_published_parameter_counts(name):
    net = A.create(name)
    assert sum(p.numel() for p in net.parameters()) == PUBLISHED[name]
    assert net.output_shape == ((10,) if name == "lenet5" else (1000,))


def test_lenet_counts_by_hand():
    net = A.lenet5()
    per_layer = {layer.name: sum(p.numel() for p in layer.parameters()) for layer in net.layers}
    # CS230: conv (F·F·C + 1)·K, dense (N_in + 1)·N_out
    assert per_layer["conv1"] == (5 * 5 * 1 + 1) * 6
    assert per_layer["conv2"] == (5 * 5 * 6 + 1) * 16
    assert per_layer["fc1"] == (16 * 5 * 5 + 1) * 120
    assert per_layer["fc2"] == (120 + 1) * 84
    assert per_layer["output"] == (84 + 1) * 10


def test_variants_are_data():
    wide = A.resnet50(input_shape=(3, 32, 32), width_per_group=128)  # Wide ResNet-50-2
    assert sum(p.numel() for p in wide.parameters()) == 68_883_240
    bn = A.vgg16(input_shape=(3, 32, 32), batch_norm=True)
    # each of the 13 convolutions gains a BatchNorm with γ and β
    assert sum(p.numel() for p in bn.parameters()) == 138_357_544 + 2 * (
        2 * 64 + 2 * 128 + 3 * 256 + 6 * 512)
    assert A.create("resnet18", num_classes=7, input_shape=(1, 40, 30)).output_shape == (7,)


@pytest.mark.parametrize("name,size,layer", [
    ("vgg16", 16, "pool5"),
    ("vgg16", 31, "pool5"),
    ("alexnet", 62, "pool5"),
    ("lenet5", 15, "pool2"),
    ("squeezenet1_0", 28, "pool3"),
    ("squeezenet1_1", 24, "pool3"),
    ("googlenet", 30, "maxpool4"),
])
def test_too_small_input_names_the_first_empty_layer(name, size, layer):
    channels = 1 if name == "lenet5" else 3
    with pytest.raises(ShapeError, match=rf"input \({channels}, {size}, {size}\) is too small "
                                         rf".*minimum.*layer '{layer}'.*output would be empty"):
        A.create(name, num_classes=10, input_shape=(channels, size, size))


@pytest.mark.parametrize("name", ["alexnet", "googlenet", "lenet5", "squeezenet1_0",
                                  "squeezenet1_1", "resnet18"])
def test_minimum_input_size_is_admitted(name):
    channels = 1 if name == "lenet5" else 3
    cls = {"alexnet": A.AlexNet, "googlenet": A.GoogLeNet, "lenet5": A.LeNet5,
           "squeezenet1_0": A.SqueezeNet, "squeezenet1_1": A.SqueezeNet, "resnet18": A.ResNet}
    net = A.create(name, num_classes=3, input_shape=(channels, 64, 64))
    m = net.minimum_input_size
    A.create(name, num_classes=3, input_shape=(channels, m, m))
    if m > 1:
        with pytest.raises(ShapeError, match="too small"):
            A.create(name, num_classes=3, input_shape=(channels, m - 1, m - 1))
    assert isinstance(net, cls[name])


@pytest.mark.parametrize("call,error,match", [
    (lambda: A.resnet18(num_classes=0), ConfigError, r"ResNet: expected `num_classes` to be an integer >= 1, received 0"),
    (lambda: A.lenet5(num_classes=2.5), ConfigError, r"expected `num_classes` to be an integer >= 1, received 2.5"),
    (lambda: A.resnet18(input_shape=(3, 224)), ShapeError, r"image shape \(C, H, W\).*received \(3, 224\)"),
    (lambda: A.lenet5(input_shape=(1, 0, 32)), ShapeError, r"image shape \(C, H, W\)"),
    (lambda: A.ResNet(block="wide"), ConfigError, r"expected `block` to be one of 'basic', 'bottleneck', received 'wide'"),
    (lambda: A.ResNet(layers=[2, 2, 2]), ConfigError, r"expected `layers` to be 4 positive block counts, e.g. \[2, 2, 2, 2\], received \[2, 2, 2\]"),
    (lambda: A.resnet18(groups=2), ConfigError, r"basic blocks support only groups=1"),
    (lambda: A.resnet50(width_per_group=0), ConfigError, r"ResNet: expected `width_per_group` to be an integer >= 1, received 0"),
    (lambda: A.VGG(layers=["M", 64]), ConfigError, r"VGG: expected `layers` to be a list of positive filter counts and 'M'.*received \['M', 64\]"),
    (lambda: A.VGG(layers=[8, "M"], hidden_units=0, input_shape=(3, 8, 8)), ConfigError, r"VGG: expected `hidden_units` to be an integer >= 1, received 0"),
    (lambda: A.VGG(layers=[8, "M"], pool_size=0, input_shape=(3, 8, 8)), ConfigError, r"VGG: expected `pool_size` to be an integer >= 1, received 0"),
    (lambda: A.SqueezeNet("2_0"), ConfigError, r"SqueezeNet: expected `version` to be one of '1_0', '1_1', received '2_0'"),
    (lambda: A.LeNet5(activation="sigmoid"), ConfigError, r"LeNet5: expected `activation` to be one of 'relu', 'tanh', received 'sigmoid'"),
    (lambda: A.LeNet5(pooling="min"), ConfigError, r"LeNet5: expected `pooling` to be one of 'max', 'average', received 'min'"),
    (lambda: A.googlenet(dropout=1.0), ConfigError, r"GoogLeNet: expected `dropout` to be a finite number >= 0 and < 1, received 1.0"),
    (lambda: A.AdaptiveAveragePooling(0), ConfigError, r"`output_size` must be a positive int"),
])
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_reset_classifier_rejects_bad_sizes():
    net = A.lenet5()
    with pytest.raises(ConfigError, match=r"LeNet5: expected `num_classes` to be an integer >= 1, received -1"):
        net.reset_classifier(-1)
    assert net.output_shape == (10,)
    assert torch.isfinite(net(torch.zeros(1, 1, 32, 32))).all()
