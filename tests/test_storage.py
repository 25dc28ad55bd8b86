"""nl.save / nl.load: one .safetensors file, atomic, no pickle, clear errors on foreign files."""

import json
import os
import pickle

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from neuralab import registry, storage
from neuralab.errors import StorageError


@registry.layers.register("_TestTinyStorageNet")
class _TinyNet(nn.Module):
    """A small registered module with a JSON config, standing in for a Network."""

    def __init__(self, inputs=3, hidden=5, outputs=2):
        super().__init__()
        self.inputs, self.hidden, self.outputs = inputs, hidden, outputs
        self.body = nn.Sequential(nn.Linear(inputs, hidden), nn.Tanh(), nn.Linear(hidden, outputs))
        self.register_buffer("scale", torch.ones(outputs))

    def forward(self, x):
        return self.body(x) * self.scale

    def get_config(self):
        return {"inputs": self.inputs, "hidden": self.hidden, "outputs": self.outputs}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def test_round_trip_rebuilds_and_loads_weights(tmp_path):
    torch.manual_seed(0)
    net = _TinyNet(4, 7, 3)
    with torch.no_grad():
        net.scale.fill_(2.0)
    path = tmp_path / "sub" / "net.safetensors"
    storage.save(net, path, metadata={"accuracy": 0.98, "epochs": 3})
    meta = storage.read_metadata(path)
    assert meta["class"] == "_TestTinyStorageNet" and meta["config"] == {"inputs": 4, "hidden": 7, "outputs": 3}
    assert meta["user"] == {"accuracy": 0.98, "epochs": 3}
    again = storage.load(path)
    assert isinstance(again, _TinyNet) and again.hidden == 7
    x = torch.randn(5, 4)
    torch.testing.assert_close(again(x), net(x), rtol=0, atol=0)
    assert os.listdir(path.parent) == ["net.safetensors"]  # no temporary file left


def test_overwrite_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "net.safetensors"
    storage.save(_TinyNet(), path)
    good = path.read_bytes()

    def boom(src, dst):
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="power cut"):
        storage.save(_TinyNet(hidden=9), path)
    assert path.read_bytes() == good and os.listdir(tmp_path) == ["net.safetensors"]


def test_weights_only_files(tmp_path):
    net = nn.Linear(3, 2)
    path = tmp_path / "linear.safetensors"
    storage.save(net, path)
    with pytest.raises(StorageError, match=r"holds weights only .*load_weights\(module, path\)"):
        storage.load(path)
    other = nn.Linear(3, 2)
    storage.load_weights(other, path)
    assert torch.equal(other.weight, net.weight)
    with pytest.raises(StorageError, match=r"the weights do not fit Linear"):
        storage.load_weights(nn.Linear(4, 2), path)


class _Explode:
    def __reduce__(self):
        return (open, (os.environ["NEURALAB_PWNED"], "w"))


def test_pickle_is_refused_and_never_executed(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("NEURALAB_PWNED", str(marker))
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps({"weights": _Explode()}))
    with pytest.raises(StorageError, match=r"is not a valid safetensors file \(a pickle, a foreign or a truncated"):
        storage.load(path)
    torch.save({"w": torch.ones(2)}, tmp_path / "torch.pt")  # torch's zip+pickle format
    with pytest.raises(StorageError, match=r"not a valid safetensors file"):
        storage.load(tmp_path / "torch.pt")
    assert not marker.exists()


def test_truncated_file(tmp_path):
    path = tmp_path / "net.safetensors"
    storage.save(_TinyNet(), path)
    data = path.read_bytes()
    path.write_bytes(data[:-20])
    with pytest.raises(StorageError, match=r"is truncated: the header describes more tensor data than the \d+ bytes the file holds"):
        storage.load(path)
    path.write_bytes(data[:5])
    with pytest.raises(StorageError, match=r"expected at least an 8-byte header, received 5 bytes"):
        storage.load(path)


def test_malformed_metadata_and_unknown_layer(tmp_path):
    tensors = {"w": torch.ones(2)}
    bad_json = tmp_path / "bad.safetensors"
    save_file(tensors, bad_json, metadata={"neuralab": "1", "class": "_TestTinyStorageNet", "config": "{oops"})
    with pytest.raises(StorageError, match=r"the 'config' metadata is not valid JSON"):
        storage.load(bad_json)
    unknown = tmp_path / "unknown.safetensors"
    save_file(tensors, unknown, metadata={"neuralab": "1", "class": "os.system", "config": json.dumps({})})
    with pytest.raises(StorageError, match=r"cannot rebuild the model: unknown layer 'os.system'; expected one of"):
        storage.load(unknown)
    foreign = tmp_path / "foreign.safetensors"
    save_file(tensors, foreign)
    with pytest.raises(StorageError, match=r"a safetensors file but not a neuralab one: expected the metadata key"):
        storage.load(foreign)
    wrong = tmp_path / "wrong.safetensors"
    save_file(tensors, wrong, metadata={"neuralab": "1", "class": "_TestTinyStorageNet", "config": json.dumps({})})
    with pytest.raises(StorageError, match=r"the config of _TestTinyStorageNet does not match the stored "
                                           r"tensors .*the file lacks: 'body.0.bias'.*does not build: 'w'"):
        storage.load(wrong)
    with pytest.raises(StorageError, match=r"no model file at"):
        storage.load(tmp_path / "missing.safetensors")


def test_garbage_header(tmp_path):
    path = tmp_path / "garbage.safetensors"
    header = b"not json at all"
    path.write_bytes(len(header).to_bytes(8, "little") + header)
    with pytest.raises(StorageError, match=r"its header is not JSON"):
        storage.load(path)


def test_special_files_and_deep_metadata(tmp_path):
    import json
    import os

    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(StorageError, match=r"expected a regular .safetensors file, received a FIFO"):
        storage.load(fifo)                      # never blocks waiting for a writer
    loop = tmp_path / "loop.safetensors"
    os.symlink(loop, loop)
    with pytest.raises(StorageError, match=r"cannot open .*loop.safetensors"):
        storage.load(loop)
    deep = "[" * 200_000 + "]" * 200_000
    from safetensors.torch import save_file

    path = tmp_path / "deep.safetensors"
    save_file({"w": torch.zeros(1)}, str(path), metadata={"neuralab": "1", "config": deep})
    with pytest.raises(StorageError, match=r"the 'config' metadata is nested too deeply"):
        storage.load(path)
    assert json.loads("[[1]]") == [[1]]
