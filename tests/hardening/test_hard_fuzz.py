"""Fuzzing the loaders: mutated model files, configs and checkpoints give neuralab errors only,
quickly and without large allocations (never a raw exception, a hang or an out-of-memory)."""

import copy
import json
import resource

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file
from torch import nn

import neuralab as nl
from neuralab import layers as L
from neuralab import storage
from neuralab.errors import NeuralabError
from neuralab.training import Checkpoint, fit, load_checkpoint
from neuralab.training.checkpoint import check_optimizer_state, check_resume_state

_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                       HealthCheck.too_slow])


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KB


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    net = (L.Input((1, 6, 6)) >> L.Convolution(3, 3) >> L.BatchNorm() >> L.Relu()
           >> L.Reshape() >> L.Relu(8) >> L.Softmax(4))
    path = tmp_path_factory.mktemp("fuzz") / "net.safetensors"
    nl.save(net, path, metadata={"run": 1})
    return path


def _attempt(call, no_hang, memory_cap):
    """Run ``call``: success or a NeuralabError are fine; a hang (a minute) or an allocation
    of more than 2 GB is an error that fails the example."""
    with no_hang(), memory_cap():
        try:
            call()
        except NeuralabError:
            pass


@settings(max_examples=60, **_SETTINGS)
@given(data=st.data())
def test_mutated_model_bytes(model_file, tmp_path, data, no_hang, memory_cap):
    raw = bytearray(model_file.read_bytes())
    header_end = 8 + int.from_bytes(raw[:8], "little")
    kind = data.draw(st.sampled_from(["flip", "truncate", "insert", "length"]))
    if kind == "flip":                                   # mostly inside the JSON header
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, header_end - 1) | st.integers(0, len(raw) - 1))
            raw[i] = data.draw(st.integers(0, 255))
    elif kind == "truncate":
        raw = raw[:data.draw(st.integers(0, len(raw) - 1))]
    elif kind == "insert":
        i = data.draw(st.integers(0, len(raw)))
        raw[i:i] = data.draw(st.binary(min_size=1, max_size=64))
    else:                                                # a lying header length
        raw[:8] = data.draw(st.integers(0, 2**64 - 1)).to_bytes(8, "little")
    path = tmp_path / "mutant.safetensors"
    path.write_bytes(bytes(raw))
    before = _maxrss_mb()
    _attempt(lambda: nl.load(path), no_hang, memory_cap)
    _attempt(lambda: storage.read_metadata(path), no_hang, memory_cap)
    assert _maxrss_mb() - before < 500


_HOSTILE = st.one_of(
    st.integers(-10**15, 10**15), st.sampled_from([0, -1, 10**12, 2**63, 10**40]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8), st.none(), st.booleans(),
    st.lists(st.integers(-3, 10**9), max_size=4), st.just({"class": "Relu", "config": {}}),
    st.just([[[[[[]]]]]]), st.just({"__tensor__": "w"}),
)


def _paths(value, prefix=()):
    """Every path into a JSON tree."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


def _replace(tree, path, new):
    if not path:
        return new
    tree = copy.deepcopy(tree)
    node = tree
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = new
    return tree


@settings(max_examples=80, **_SETTINGS)
@given(data=st.data())
def test_mutated_configs(model_file, tmp_path, data, no_hang, memory_cap):
    meta = storage.read_metadata(model_file)
    paths = list(_paths(meta["config"]))
    where = data.draw(st.sampled_from(paths))
    config = _replace(meta["config"], where, data.draw(_HOSTILE))
    cls = data.draw(st.sampled_from([meta["class"], meta["class"], "Relu", "LSTM", "Network", "os.system"]))
    path = tmp_path / "mutant.safetensors"
    save_file(load_file(str(model_file)), str(path),
              metadata={"neuralab": "1", "class": cls, "config": json.dumps(config)})
    before = _maxrss_mb()
    _attempt(lambda: nl.load(path), no_hang, memory_cap)
    assert _maxrss_mb() - before < 500


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("ck")
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 3, generator=g), torch.randint(0, 2, (32,), generator=g)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    fit(net, x, y, optimizer="adam", epochs=1, batch_size=16, progress=False, callbacks=[Checkpoint(root)])
    return root / "checkpoint.safetensors", net


@settings(max_examples=60, **_SETTINGS)
@given(data=st.data())
def test_mutated_checkpoints(checkpoint, tmp_path, data, no_hang, memory_cap):
    path, net = checkpoint
    model_state, optim, meta = load_checkpoint(path)
    header = storage._read_metadata_strings(str(path))
    tensors = load_file(str(path))
    which = data.draw(st.sampled_from(["state", "optimizer", "bytes"]))
    target = tmp_path / "mutant.safetensors"
    if which == "bytes":
        raw = bytearray(path.read_bytes())
        for _ in range(data.draw(st.integers(1, 6))):
            raw[data.draw(st.integers(0, min(len(raw), 8 + 4096) - 1))] = data.draw(st.integers(0, 255))
        target.write_bytes(bytes(raw))
    else:
        tree = json.loads(header[which])
        where = data.draw(st.sampled_from(list(_paths(tree))))
        header = dict(header, **{which: json.dumps(_replace(tree, where, data.draw(_HOSTILE)))})
        save_file(tensors, str(target), metadata=header)
    opt = torch.optim.Adam(net.parameters())

    def resume_checks():
        _, optim2, meta2 = load_checkpoint(target)
        check_resume_state(str(target), meta2)
        if optim2 is not None:
            check_optimizer_state(str(target), "optimizer", opt, optim2)
            opt.load_state_dict(optim2)            # what passed the checks loads without error

    _attempt(resume_checks, no_hang, memory_cap)
