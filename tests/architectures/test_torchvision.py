"""load_torchvision_state_dict against plain nn.Module replicas of torchvision's models.

torchvision is not installed: each replica below is written from torchvision's
published layout (module names, ceil-mode poolings, BatchNorm ε), with its own
weights; the neuralab model loads the replica's state dict and must give the
same outputs.
"""

import pytest
import torch
from torch import nn

from neuralab import architectures as A
from neuralab.errors import ConfigError, ShapeError, StorageError


# -- replicas ------------------------------------------------------------------------------------
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class TVResNet(nn.Module):
    def __init__(self, block, layers, num_classes):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make(block, 64, layers[0], 1)
        self.layer2 = self._make(block, 128, layers[1], 2)
        self.layer3 = self._make(block, 256, layers[2], 2)
        self.layer4 = self._make(block, 512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

    def _make(self, block, planes, n, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion))
        blocks = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        blocks += [block(self.inplanes, planes) for _ in range(1, n)]
        return nn.Sequential(*blocks)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class TVVGG(nn.Module):
    def __init__(self, cfg, batch_norm, num_classes, hidden, pool):
        super().__init__()
        layers, c = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers.append(nn.Conv2d(c, v, 3, padding=1))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(v))
                layers.append(nn.ReLU(inplace=True))
                c = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((pool, pool))
        self.classifier = nn.Sequential(
            nn.Linear(c * pool * pool, hidden), nn.ReLU(True), nn.Dropout(),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(),
            nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class TVAlexNet(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(True), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(True), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(True),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(True),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(True), nn.MaxPool2d(3, 2))
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(), nn.Linear(256 * 36, 4096), nn.ReLU(True),
            nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(True), nn.Linear(4096, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class Fire(nn.Module):
    def __init__(self, inplanes, squeeze, e1, e3):
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze, 1)
        self.expand1x1 = nn.Conv2d(squeeze, e1, 1)
        self.expand3x3 = nn.Conv2d(squeeze, e3, 3, padding=1)

    def forward(self, x):
        x = torch.relu(self.squeeze(x))
        return torch.cat([torch.relu(self.expand1x1(x)), torch.relu(self.expand3x3(x))], 1)


class TVSqueezeNet(nn.Module):
    def __init__(self, version, num_classes):
        super().__init__()
        pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)  # noqa: E731
        if version == "1_0":
            self.features = nn.Sequential(
                nn.Conv2d(3, 96, 7, 2), nn.ReLU(True), pool(),
                Fire(96, 16, 64, 64), Fire(128, 16, 64, 64), Fire(128, 32, 128, 128), pool(),
                Fire(256, 32, 128, 128), Fire(256, 48, 192, 192), Fire(384, 48, 192, 192),
                Fire(384, 64, 256, 256), pool(), Fire(512, 64, 256, 256))
        else:
            self.features = nn.Sequential(
                nn.Conv2d(3, 64, 3, 2), nn.ReLU(True), pool(),
                Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), pool(),
                Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), pool(),
                Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256),
                Fire(512, 64, 256, 256))
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(512, num_classes, 1),
                                        nn.ReLU(True), nn.AdaptiveAvgPool2d((1, 1)))

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


class BasicConv2d(nn.Module):
    def __init__(self, cin, cout, **kw):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=False, **kw)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    def __init__(self, cin, c1, c3r, c3, c5r, c5, proj):
        super().__init__()
        self.branch1 = BasicConv2d(cin, c1, kernel_size=1)
        self.branch2 = nn.Sequential(BasicConv2d(cin, c3r, kernel_size=1),
                                     BasicConv2d(c3r, c3, kernel_size=3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(cin, c5r, kernel_size=1),
                                     BasicConv2d(c5r, c5, kernel_size=3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True),
                                     BasicConv2d(cin, proj, kernel_size=1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class TVGoogLeNet(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        for name in ("4a", "4b", "4c", "4d", "4e"):
            x = getattr(self, f"inception{name}")(x)
        x = self.inception5b(self.inception5a(self.maxpool4(x)))
        return self.fc(torch.flatten(x.mean(dim=(2, 3)), 1))


# -- helpers --------------------------------------------------------------------------------------
def randomise(module):
    """Random BatchNorm statistics and affine terms, so a mis-mapped buffer shows.

    Running variances are small (1e-3 … 1e-2, with γ scaled to match) so that
    the ε of the normalisation (1e-5 vs GoogLeNet's 1e-3) changes the output.
    """
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                var = torch.rand(n, generator=gen) * 0.009 + 0.001
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_var.copy_(var)
                m.weight.copy_(var.sqrt() * (torch.rand(n, generator=gen) + 0.5))
                m.bias.copy_(torch.randn(n, generator=gen) * 0.1)
    return module.eval()


def check_same_outputs(net, replica, shape, tol=1e-4):
    torch.manual_seed(4)
    randomise(replica)
    state = replica.state_dict()
    A.load_torchvision_state_dict(net, state)
    net.eval()
    x = torch.randn(2, *shape)
    with torch.no_grad():
        expected, got = replica(x), net(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=tol, atol=tol)
    # the inverse gives back the same keys and tensors
    back = A.to_torchvision_state_dict(net)
    assert set(back) == {k for k in state if not k.endswith("num_batches_tracked")}
    for k, v in back.items():
        assert torch.equal(v, state[k]), k


# -- tests ----------------------------------------------------------------------------------------
def test_resnet18_matches_replica():
    torch.manual_seed(0)
    check_same_outputs(A.resnet18(num_classes=10, input_shape=(3, 45, 45)),
                       TVResNet(BasicBlock, [2, 2, 2, 2], 10), (3, 45, 45))


def test_resnet50_matches_replica():
    torch.manual_seed(0)
    check_same_outputs(A.resnet50(num_classes=10, input_shape=(3, 33, 33)),
                       TVResNet(Bottleneck, [3, 4, 6, 3], 10), (3, 33, 33))


@pytest.mark.parametrize("batch_norm", [False, True])
def test_vgg_layout_matches_replica(batch_norm):
    cfg = [8, 8, "M", 16, "M", 16, "M"]
    net = A.VGG(cfg, num_classes=5, input_shape=(3, 20, 20), batch_norm=batch_norm,
                hidden_units=32, pool_size=3)
    check_same_outputs(net, TVVGG(cfg, batch_norm, 5, 32, 3), (3, 20, 20))


@pytest.mark.slow
def test_vgg16_key_names_and_shapes():
    # torchvision's vgg16 features: conv at these Sequential indices (cfg D)
    conv_indices = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    channels = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    expected, c = {}, 3
    for i, k in zip(conv_indices, channels):
        expected[f"features.{i}.weight"] = (k, c, 3, 3)
        expected[f"features.{i}.bias"] = (k,)
        c = k
    for i, (o, n) in zip((0, 3, 6), ((4096, 25088), (4096, 4096), (1000, 4096))):
        expected[f"classifier.{i}.weight"] = (o, n)
        expected[f"classifier.{i}.bias"] = (o,)
    got = A.to_torchvision_state_dict(A.vgg16(input_shape=(3, 32, 32)))
    assert {k: tuple(v.shape) for k, v in got.items()} == expected


@pytest.mark.slow
def test_alexnet_matches_replica():
    torch.manual_seed(0)
    check_same_outputs(A.alexnet(num_classes=10, input_shape=(3, 67, 67)),
                       TVAlexNet(10), (3, 67, 67))


@pytest.mark.parametrize("version", ["1_0", "1_1"])
def test_squeezenet_matches_replica(version):
    # 61×61 makes every ceil-mode pooling keep a partial window
    torch.manual_seed(0)
    net = A.create(f"squeezenet{version}", num_classes=10, input_shape=(3, 61, 61))
    check_same_outputs(net, TVSqueezeNet(version, 10), (3, 61, 61))


def test_googlenet_matches_replica():
    torch.manual_seed(0)
    check_same_outputs(A.googlenet(num_classes=10, input_shape=(3, 71, 71)),
                       TVGoogLeNet(10), (3, 71, 71))


def test_googlenet_ignores_auxiliary_heads():
    net = A.googlenet(num_classes=10, input_shape=(3, 31, 31))
    state = dict(A.to_torchvision_state_dict(net))
    state["aux1.conv.conv.weight"] = torch.zeros(128, 512, 1, 1)
    state["aux2.fc2.bias"] = torch.zeros(10)
    state["conv1.bn.num_batches_tracked"] = torch.tensor(5)
    A.load_torchvision_state_dict(net, state)


# -- bad state dicts ------------------------------------------------------------------------------
@pytest.fixture
def small_resnet():
    return A.resnet18(num_classes=10, input_shape=(3, 8, 8))


def test_missing_keys_are_listed(small_resnet):
    state = A.to_torchvision_state_dict(small_resnet)
    del state["layer3.1.bn2.running_var"], state["fc.bias"]
    with pytest.raises(StorageError, match=r"missing keys: 'fc\.bias', 'layer3\.1\.bn2\.running_var'"):
        A.load_torchvision_state_dict(small_resnet, state)


def test_extra_keys_are_listed(small_resnet):
    state = dict(A.to_torchvision_state_dict(small_resnet))
    state["layer5.0.conv1.weight"] = torch.zeros(1)
    with pytest.raises(StorageError, match=r"unexpected keys: 'layer5\.0\.conv1\.weight'"):
        A.load_torchvision_state_dict(small_resnet, state)


def test_misshaped_keys_are_listed(small_resnet):
    state = dict(A.to_torchvision_state_dict(small_resnet))
    state["fc.weight"] = torch.zeros(1000, 512)
    before = small_resnet.layer("conv1").weight.clone()
    state["conv1.weight"] = before + 1
    with pytest.raises(ShapeError, match=r"fc\.weight: expected \(10, 512\), received \(1000, 512\)"):
        A.load_torchvision_state_dict(small_resnet, state)
    # nothing was loaded
    assert torch.equal(small_resnet.layer("conv1").weight, before)


def test_architectures_without_counterpart(small_resnet):
    with pytest.raises(ConfigError, match=r"LeNet5 has no torchvision counterpart; torchvision "
                                          r"weights load into AlexNet, VGG"):
        A.load_torchvision_state_dict(A.lenet5(), {})


def test_reads_files_and_prefixes(small_resnet, tmp_path):
    state = {f"module.{k}": v.clone() + 0.5 for k, v in
             A.to_torchvision_state_dict(small_resnet).items()}
    path = tmp_path / "resnet.pth"
    torch.save(state, path)
    A.load_torchvision_state_dict(small_resnet, str(path))
    torch.testing.assert_close(small_resnet.layer("fc").bias, state["module.fc.bias"])
    with pytest.raises(StorageError, match="no state-dict file at"):
        A.load_torchvision_state_dict(small_resnet, str(tmp_path / "missing.pth"))
    (tmp_path / "junk.pth").write_bytes(b"not a zip")
    with pytest.raises(StorageError, match="is not a torch state-dict file"):
        A.load_torchvision_state_dict(small_resnet, str(tmp_path / "junk.pth"))
