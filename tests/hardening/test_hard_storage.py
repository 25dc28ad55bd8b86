"""Hostile and corrupt model files, and saves that die: StorageError / target-named OSErrors only."""

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

import pytest
import torch
from safetensors.torch import load_file, save_file

import neuralab as nl
from neuralab import architectures, storage
from neuralab import layers as L
from neuralab.errors import StorageError


def _net():
    torch.manual_seed(0)
    return L.Input((1, 8, 8)) >> L.Convolution(4, 3) >> L.Relu() >> L.Reshape() >> L.Softmax(10)


def _rewrite_config(src, dst, edit):
    """Copy ``src`` to ``dst`` with the same tensors and an edited config (what an attacker does)."""
    meta = storage.read_metadata(src)
    config = edit(json.loads(json.dumps(meta["config"])))
    save_file(load_file(src), str(dst), metadata={"neuralab": "1", "class": meta["class"],
                                                  "config": json.dumps(config)})


def _set_units(config, name, units):
    for layer in config["layers"]:
        if layer["config"]["name"] == name:
            layer["config"]["n_units"] = units
    return config


def test_a_config_asking_for_a_huge_layer_is_refused_before_allocation(tmp_path, memory_cap):
    good = tmp_path / "good.safetensors"
    nl.save(_net(), good)
    bad = tmp_path / "bad.safetensors"
    # 10**7 units x 144 inputs: 5.8 GB of float32 that the 3 KB file could never fill
    _rewrite_config(good, bad, lambda c: _set_units(c, "softmax-1", 10**7))
    assert bad.stat().st_size < 10_000
    with memory_cap(), pytest.raises(StorageError, match=r"asks for more than the file holds .*expected "
                                                         r"the 4 stored tensors .*stopped at "
                                                         r"Softmax.weight of shape \(10000000, 144\); "
                                                         r"nothing was allocated"):
        nl.load(bad)                              # an allocation would fail with a torch error
    # a smaller lie (11 units instead of 10) passes the budget but not the header shapes
    _rewrite_config(good, bad, lambda c: _set_units(c, "softmax-1", 11))
    with pytest.raises(StorageError, match=r"does not match the stored tensors .*'softmax-1.weight': "
                                           r"expected the stored shape \(10, 144\), the config implies "
                                           r"\(11, 144\)"):
        nl.load(bad)


def test_num_classes_ten_to_the_twelve_and_a_million_blocks(tmp_path):
    good = tmp_path / "lenet.safetensors"
    nl.save(architectures.create("lenet5"), good)
    bad = tmp_path / "bad.safetensors"
    _rewrite_config(good, bad, lambda c: dict(c, num_classes=10**12))
    with pytest.raises(StorageError, match=r"stopped at .* of shape \(1000000000000, 84\)"):
        nl.load(bad)
    _rewrite_config(good, bad, lambda c: dict(c, num_classes=10**40))
    with pytest.raises(StorageError, match=r"cannot rebuild") as info:
        nl.load(bad)
    assert "\n" not in str(info.value)            # torch's C++ frames are cut off
    _rewrite_config(good, bad, lambda c: dict(c, num_classes="ten"))
    with pytest.raises(StorageError, match=r"cannot rebuild the model: .*num_classes.*received 'ten'"):
        nl.load(bad)
    _rewrite_config(good, bad, lambda c: dict(c, input_shape=[1, 4000, 4000]))
    with pytest.raises(StorageError, match=r"the file holds|does not match the stored tensors"):
        nl.load(bad)


def _set_key(key, value, layer=None):
    def edit(config):
        for entry in config["layers"]:
            if layer is None or entry["class"] == layer:
                if key in entry["config"]:
                    entry["config"][key] = value
        return config
    return edit


HUGE = {  # a small honest file, and a config edit asking for tens of gigabytes or more
    "convolution filters": (lambda: _net(), _set_key("filters", 10**9)),
    "input shape": (lambda: _net(), _set_key("shape", [1, 10**5, 10**5], "Input")),
    "LSTM units": (lambda: L.Input((7, 3)) >> L.LSTM(5) >> L.Softmax(2),
                   _set_key("n_units", 10**6, "LSTM")),
    "embedding vocabulary": (lambda: L.Input((7,)) >> L.Embedding(10, 4) >> L.Reshape()
                             >> L.Softmax(2), _set_key("input_size", 10**11)),
    "embedding width": (lambda: L.Input((7,)) >> L.Embedding(10, 4) >> L.Reshape()
                        >> L.Softmax(2), _set_key("output_size", 10**10)),
    "VGG hidden units": (lambda: architectures.create("vgg16", hidden_units=8, pool_size=1,
                                                      input_shape=(3, 32, 32), num_classes=3),
                         lambda c: dict(c, hidden_units=10**9)),
}


@pytest.mark.parametrize("case", list(HUGE))
def test_huge_layers_of_every_kind_are_refused_before_allocation(tmp_path, case, memory_cap):
    build, edit = HUGE[case]
    torch.manual_seed(0)
    good, bad = tmp_path / "good.safetensors", tmp_path / "bad.safetensors"
    nl.save(build(), good)
    _rewrite_config(good, bad, edit)
    with memory_cap(), pytest.raises(StorageError, match=r"asks for more than the file holds .*"
                                                         r"nothing was allocated"):
        nl.load(bad)


def test_a_million_residual_blocks_stop_within_the_tensor_budget(tmp_path, memory_cap, no_hang):
    good = tmp_path / "r18.safetensors"
    nl.save(architectures.create("resnet18", num_classes=4, input_shape=(3, 32, 32)), good)
    bad = tmp_path / "bad.safetensors"
    _rewrite_config(good, bad, lambda c: dict(c, layers=[10**6, 2, 2, 2]))
    with memory_cap(), no_hang(), pytest.raises(
            StorageError, match=r"expected the 102 stored tensors .* received a config that had "
                                r"already asked for 269 tensors"):
        nl.load(bad)


def test_the_meta_check_lets_every_architecture_through(tmp_path):
    """The pre-check must not refuse honest files: one small and one big architecture round-trip."""
    for name, kw in (("lenet5", {}), ("squeezenet1_1", {"num_classes": 3, "input_shape": (3, 64, 64)})):
        torch.manual_seed(0)
        net = architectures.create(name, **kw)
        path = tmp_path / f"{name}.safetensors"
        nl.save(net, path)
        again = nl.load(path)
        x = torch.randn(2, *net.input_shape)
        net.eval(), again.eval()
        torch.testing.assert_close(again(x), net(x), rtol=0, atol=0)


def test_crafted_class_and_config_shapes(tmp_path):
    path = tmp_path / "x.safetensors"
    tensors = {"w": torch.zeros(2)}
    cases = [
        ({"neuralab": "1", "class": "Network", "config": json.dumps({"layers": "oops"})}, r"cannot rebuild"),
        ({"neuralab": "1", "class": "Network", "config": json.dumps({"layers": [{"class": "Relu"}],
                                                                      "edges": 3})}, r"cannot rebuild"),
        ({"neuralab": "1", "class": "Network", "config": "[1, 2]"}, r"expected the 'config' metadata to "
                                                                    r"be a JSON object, received list"),
        ({"neuralab": "1", "class": "builtins.eval", "config": "{}"}, r"unknown layer 'builtins.eval'"),
        ({"neuralab": "1", "class": "Relu", "config": json.dumps({"n_units": -4})}, r"cannot rebuild"),
        ({"neuralab": "1", "class": "Relu", "config": json.dumps({"n_units": 3, "zz": 1})}, r"cannot rebuild"),
    ]
    for metadata, message in cases:
        save_file(tensors, str(path), metadata=metadata)
        with pytest.raises(StorageError, match=message):
            nl.load(path)


def test_deep_user_metadata_and_non_string_keys(tmp_path):
    path = tmp_path / "deep.safetensors"
    save_file({"w": torch.zeros(1)}, str(path),
              metadata={"neuralab": "1", "user": "{" * 100_000})
    with pytest.raises(StorageError, match=r"'user' metadata is (nested too deeply|not valid JSON)"):
        storage.read_metadata(path)
    save_file({"w": torch.zeros(1)}, str(path),
              metadata={"neuralab": "1", "user": '{"a": ' * 50_000 + "1" + "}" * 50_000})
    with pytest.raises(StorageError, match=r"'user' metadata is nested too deeply"):
        storage.read_metadata(path)


def test_deeply_nested_json_in_the_header_itself(tmp_path):
    """Nesting in the safetensors header (not a metadata string): serde's recursion limit."""
    path = tmp_path / "deep.safetensors"
    nl.save(_net(), path)
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = raw[8:8 + n].decode().rstrip()
    assert header.endswith("}")
    header = (header[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}").encode()
    path.write_bytes(len(header).to_bytes(8, "little") + header + raw[8 + n:])
    message = r"deep.safetensors' is not a valid safetensors file: its header is nested too deeply"
    for read in (storage.read_metadata, storage.load,
                 lambda p: storage.load_weights(_net(), p),
                 lambda p: architectures.load_torchvision_state_dict(
                     architectures.create("resnet18", num_classes=3), p)):
        with pytest.raises(StorageError, match=message):
            read(path)


def _special_files(tmp_path):
    fifo = tmp_path / "fifo.safetensors"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.safetensors"
    os.symlink(loop, loop)
    short = tempfile.mkdtemp(prefix="nl-")            # AF_UNIX paths are limited to ~100 bytes
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(os.path.join(short, "s.safetensors"))
    return sock, short, {
        "a FIFO": (fifo, r"expected a regular .safetensors file, received a FIFO at '.*fifo"),
        "a socket": (os.path.join(short, "s.safetensors"),
                     r"expected a regular .safetensors file, received a socket at"),
        "a symlink loop": (loop, r"cannot open '.*loop.safetensors': Too many levels of symbolic"),
        "a folder": (tmp_path, r"expected a .safetensors file, received the folder"),
    }


def test_every_reader_refuses_special_files_without_blocking(tmp_path, no_hang):
    from neuralab.training import load_checkpoint

    readers = {
        "load": storage.load, "read_metadata": storage.read_metadata,
        "load_weights": lambda p: storage.load_weights(_net(), p),
        "load_checkpoint": load_checkpoint,
        "load_torchvision_state_dict": lambda p: architectures.load_torchvision_state_dict(
            architectures.create("resnet18", num_classes=3, input_shape=(3, 32, 32)), p),
    }
    sock, short, cases = _special_files(tmp_path)
    try:
        for kind, (path, message) in cases.items():
            for name, read in readers.items():
                with no_hang(), pytest.raises(StorageError, match=message):   # a FIFO never blocks
                    read(path)
    finally:
        sock.close()
        shutil.rmtree(short)


# -------------------------------------------------------------------------------- saving
def test_saved_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "net.safetensors"
        nl.save(_net(), path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o644           # like torch.save, not mkstemp's 0600
        os.chmod(path, 0o600)                                       # a user who made it private
        nl.save(_net(), path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600           # stays private
        os.umask(0o077)
        other = tmp_path / "other.safetensors"
        nl.save(_net(), other)
        assert stat.S_IMODE(other.stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_errors_name_the_target_not_the_temporary(tmp_path, monkeypatch):
    target = tmp_path / "net.safetensors"
    real_open = os.open

    def refuse(path, flags, mode=0o777, **kw):
        if ".neuralab-tmp-" in os.fspath(path):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(PermissionError) as info:
        nl.save(_net(), target)
    assert str(target) in str(info.value) and ".neuralab-tmp" not in str(info.value)
    assert info.value.filename == str(target)
    monkeypatch.undo()

    def full(src, dst):
        raise OSError(28, "No space left on device", src)

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OSError, match=r"cannot write '.*net.safetensors': No space left on device") as info:
        nl.save(_net(), target)
    assert ".neuralab-tmp" not in str(info.value)
    assert os.listdir(tmp_path) == []                               # the temporary was removed
    monkeypatch.undo()
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(OSError, match=r"cannot create the folder of '.*a-file/run/net.safetensors'"):
        nl.save(_net(), blocker / "run" / "net.safetensors")
    with pytest.raises(IsADirectoryError, match=r"it is a folder"):
        nl.save(_net(), tmp_path)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_are_cleaned_on_the_next_save(tmp_path):
    host = socket.gethostname()
    dead = tmp_path / f".neuralab-tmp-{host}-{_dead_pid()}-0badf00d.part"
    alive = tmp_path / f".neuralab-tmp-{host}-{os.getpid()}-12345678.part"   # a save in progress
    old_legacy = tmp_path / ".tmp-dfj__kyg.part"                              # the old mkstemp names
    new_legacy = tmp_path / ".tmp-abcd1234.part"
    other_host = tmp_path / f".neuralab-tmp-elsewhere-{os.getpid()}-aaaaaaaa.part"
    mine = tmp_path / ".tmp-notes.part.txt"                                   # not ours at all
    for p in (dead, alive, old_legacy, new_legacy, other_host, mine):
        p.write_bytes(b"\0" * 1024)
    two_hours_ago = time.time() - 7200
    os.utime(old_legacy, (two_hours_ago, two_hours_ago))
    os.utime(other_host, (two_hours_ago, two_hours_ago))
    nl.save(_net(), tmp_path / "net.safetensors")
    left = set(os.listdir(tmp_path))
    assert left == {"net.safetensors", alive.name, new_legacy.name, other_host.name, mine.name}
    week_ago = time.time() - 7 * 24 * 3600
    os.utime(other_host, (week_ago, week_ago))
    assert storage.clean_stale_temporaries(tmp_path) == [str(other_host)]


_KILLED_SAVE = r"""
import os, sys, time, torch
from neuralab import storage
from neuralab import layers as L
path, ready = sys.argv[1], sys.argv[2]
torch.manual_seed(1)
net = L.Input((1, 8, 8)) >> L.Convolution(4, 3) >> L.Relu() >> L.Reshape() >> L.Softmax(10)
real_fsync = os.fsync
def hang(fd):                        # the data is written, the rename has not happened: kill me now
    open(ready, "w").close()
    time.sleep(600)
os.fsync = hang
storage.save(net, path)
"""


def test_a_save_killed_mid_write_keeps_the_old_file_and_the_next_save_cleans_up(tmp_path):
    path = tmp_path / "net.safetensors"
    old = _net()
    nl.save(old, path)
    ready = tmp_path / "ready"
    script = tmp_path / "killed.py"
    script.write_text(_KILLED_SAVE)
    proc = subprocess.Popen([sys.executable, str(script), str(path), str(ready)])
    try:
        for _ in range(600):
            if ready.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert ready.exists(), "the child never reached the write"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    leftovers = [n for n in os.listdir(tmp_path) if n.startswith(".neuralab-tmp-")]
    assert len(leftovers) == 1                                    # SIGKILL leaves the temporary …
    x = torch.randn(3, 1, 8, 8)
    torch.testing.assert_close(nl.load(path)(x), old(x))          # … and the previous file intact
    nl.save(_net(), path)                                         # the next save removes it
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".neuralab-tmp-")]


def test_load_weights_refuses_before_touching_the_module(tmp_path):
    path = tmp_path / "linear.safetensors"
    nl.save(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 2)), path)
    other = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 5))
    before = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(StorageError, match=r"the weights do not fit Sequential: mis-shaped 1.weight: "
                                           r"expected \(5, 2\), the file stores \(2, 2\)"):
        storage.load_weights(other, path)
    assert all(torch.equal(before[k], v) for k, v in other.state_dict().items())   # 0.* untouched
    with pytest.raises(StorageError, match=r"missing '2.bias', '2.weight'"):
        storage.load_weights(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 2),
                                                 torch.nn.Linear(2, 1)), path)
    part = torch.nn.Sequential(torch.nn.Linear(3, 2))
    storage.load_weights(part, path, strict=False)                                 # 0.* only
