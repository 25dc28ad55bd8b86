"""load_torchvision_state_dict on truncated, foreign and special files: StorageError, never a crash."""

import os

import pytest
import torch
from safetensors.torch import save_file

from neuralab.architectures import create, load_torchvision_state_dict, to_torchvision_state_dict
from neuralab.errors import StorageError


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return create("resnet18", num_classes=3, input_shape=(3, 32, 32))


def test_truncated_safetensors_and_pth(net, tmp_path):
    state = {k: v.clone() for k, v in to_torchvision_state_dict(net).items()}
    st, pth = tmp_path / "w.safetensors", tmp_path / "w.pth"
    save_file(state, str(st))
    torch.save(state, pth)
    for path in (st, pth):
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StorageError, match=r"w.safetensors' is truncated: the header describes more "
                                           r"tensor data"):
        load_torchvision_state_dict(net, st)
    with pytest.raises(StorageError, match=r"w.pth' is not a torch state-dict file \(truncated or "
                                           r"foreign\?\): expected a complete file .*received one that fails to load"):
        load_torchvision_state_dict(net, pth)


def test_foreign_and_special_files(net, tmp_path):
    fifo = tmp_path / "w.pth"
    os.mkfifo(fifo)
    with pytest.raises(StorageError, match=r"received a FIFO"):
        load_torchvision_state_dict(net, fifo)                 # never blocks
    with pytest.raises(StorageError, match=r"received the folder"):
        load_torchvision_state_dict(net, tmp_path)
    with pytest.raises(StorageError, match=r"no state-dict file at"):
        load_torchvision_state_dict(net, tmp_path / "none.pth")
    odd = tmp_path / "list.pth"
    torch.save([torch.ones(2)], odd)
    with pytest.raises(StorageError, match=r"expected a state dict \(a dict of tensors\), received a list"):
        load_torchvision_state_dict(net, odd)
    keys = tmp_path / "keys.pth"
    torch.save({1: torch.ones(2)}, keys)
    with pytest.raises(StorageError, match=r"expected a state dict with string keys, received the key 1"):
        load_torchvision_state_dict(net, keys)


def test_a_wrapped_training_checkpoint_loads(net, tmp_path):
    state = to_torchvision_state_dict(net)
    path = tmp_path / "ck.pth"
    torch.save({"state_dict": state, "epoch": 3}, path)
    other = create("resnet18", num_classes=3, input_shape=(3, 32, 32))
    load_torchvision_state_dict(other, path)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), other.state_dict().values()))
