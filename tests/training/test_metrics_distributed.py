"""Metrics against scikit-learn; the DistributedDataParallel path with gloo."""

import copy

import numpy as np
import pytest
import torch
import torch.distributed as tdist
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, top_k_accuracy_score

from _datasets import Pairs

from neuralab import registry, storage
from neuralab.errors import ConfigError
from neuralab.training import fit, metrics


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 30), c=st.integers(3, 7), k=st.integers(1, 3), seed=st.integers(0, 1000))
def test_accuracy_and_top_k_match_sklearn(n, c, k, seed):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(n, c, generator=g)
    labels = torch.randint(0, c, (n,), generator=g)
    assert float(metrics.accuracy(scores, labels)) == pytest.approx(accuracy_score(labels, scores.argmax(1)))
    assert float(metrics.accuracy(scores, F.one_hot(labels, c))) == pytest.approx(
        accuracy_score(labels, scores.argmax(1)))
    want = top_k_accuracy_score(labels.numpy(), scores.numpy(), k=k, labels=list(range(c)))
    assert float(metrics.top_k(scores, labels, k=k)) == pytest.approx(want)
    assert float(metrics.get(f"top{k}")[1](scores, labels)) == pytest.approx(want)


def test_binary_accuracy_thresholds():
    p = torch.tensor([[0.2], [0.7], [0.6], [0.1]])
    t = torch.tensor([0, 1, 0, 1])
    assert float(metrics.accuracy(p, t)) == 0.5
    assert float(metrics.accuracy(p - 0.5, t, threshold=0.0)) == 0.5


def test_metric_registry_and_errors():
    assert registry.metrics.get("acc") is metrics.accuracy
    assert metrics.get("top_3")[0] == "top3" and metrics.get("mse")[1] is metrics.mse
    assert metrics.get(metrics.mae)[0] == "mae"
    with pytest.raises(ConfigError, match=r"unknown metric 'f1'; expected one of: accuracy, mae, mse, top_k"):
        metrics.get("f1")
    with pytest.raises(ConfigError, match=r"expected a metric name or a callable"):
        metrics.get(3)


def _blobs_mlp():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (96,), generator=g)
    x = torch.tensor([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])[y] + 0.6 * torch.randn(96, 2, generator=g)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    return x, y, net


_KW = dict(optimizer="sgd", lr=0.1, epochs=2, batch_size=16, metrics=["accuracy"], progress=False, seed=4)


def test_single_process_group_uses_ddp_and_matches_plain_fit(tmp_path):
    x, y, a = _blobs_mlp()
    b = copy.deepcopy(a)
    tdist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        h_ddp = fit(a, x, y, **_KW)
    finally:
        tdist.destroy_process_group()
    h_plain = fit(b, x, y, **_KW)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6)
    np.testing.assert_allclose(h_ddp["loss"], h_plain["loss"], rtol=1e-6)


def _dataset():
    x, y, _ = _blobs_mlp()
    return Pairs(x, y)


def _runs(root, rank=0):
    """The scenarios compared between 2 gloo processes and 1 process, in the same order."""
    import contextlib
    import io
    import os

    from neuralab.training import Checkpoint

    results = {}
    x, y, net = _blobs_mlp()                            # arrays: every rank takes its share of a batch
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        h = fit(net, x, y, **dict(_KW, progress="line"))
    results["arrays"] = (net, h, err.getvalue())
    _, _, net = _blobs_mlp()                            # a Dataset in order: batch 16 = 2 x 8
    h = fit(net, _dataset(), **dict(_KW, shuffle=False))
    results["dataset"] = (net, h, "")
    _, _, net = _blobs_mlp()                            # a shuffled Dataset: one global permutation per
    h = fit(net, _dataset(), **dict(_KW, batch_size=12))  # epoch, split by rank (12 = 2 x 6; 96 = 8 x 12)
    results["dataset_shuffled"] = (net, h, "")
    _, _, net = _blobs_mlp()                            # shuffled arrays with an uneven last batch
    h = fit(net, x[:90], y[:90], **dict(_KW, batch_size=20))  # (4 x 20 + 10: shares of 10 and 5)
    results["arrays_uneven"] = (net, h, "")
    _, _, net = _blobs_mlp()                            # checkpoint after 2 epochs, resume to 3
    ck = os.path.join(root, f"ck-rank{rank}")
    fit(net, x, y, callbacks=[Checkpoint(ck)], **_KW)
    if tdist.is_initialized():
        tdist.barrier()                                 # rank 0 has written its checkpoint
    _, _, net = _blobs_mlp()
    h = fit(net, x, y, resume_from=os.path.join(root, "ck-rank0"), **dict(_KW, epochs=3))
    results["resumed"] = (net, h, "")
    return results


def _worker(rank, world, port, root):
    import os

    torch.set_num_threads(1)
    # what torchrun sets: fit joins this process group by itself (env://, gloo on CPU)
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    try:
        for key, (net, h, err) in _runs(root, rank).items():
            storage.save(net, f"{root}/{key}-rank{rank}.safetensors",
                         metadata={"loss": h["loss"], "accuracy": h["accuracy"], "stderr": err,
                                   "world": tdist.get_world_size()})
    finally:
        if tdist.is_initialized():
            tdist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_on_the_global_batch(tmp_path):
    """DDP on 2 CPU processes (gloo, joined from torchrun's environment variables) gives the weights
    of 1 process on the same global batch: shuffled arrays, a Dataset in order and shuffled (one
    global permutation per epoch split by rank), and a checkpoint resumed under DDP; only rank 0 writes."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ddp = tmp_path / "ddp"
    ddp.mkdir()
    mp.spawn(_worker, args=(2, port, str(ddp)), nprocs=2, join=True)
    one = tmp_path / "one"
    one.mkdir()
    single = _runs(str(one))
    for key, (net, h, _) in single.items():
        for rank in (0, 1):                              # the two replicas agree, and equal 1 process
            path = ddp / f"{key}-rank{rank}.safetensors"
            got = copy.deepcopy(net)
            storage.load_weights(got, path)
            for a, b in zip(got.state_dict().values(), net.state_dict().values()):
                torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
            meta = storage.read_metadata(path)["user"]
            assert meta["world"] == 2
            np.testing.assert_allclose(meta["loss"], h["loss"], rtol=1e-6)
            np.testing.assert_allclose(meta["accuracy"], h["accuracy"], rtol=1e-6)
    assert len(single["resumed"][1]["loss"]) == 3
    assert (ddp / "ck-rank0" / "checkpoint.safetensors").exists()
    assert not (ddp / "ck-rank1").exists()              # checkpoints: rank 0 only
    logs = {r: storage.read_metadata(ddp / f"arrays-rank{r}.safetensors")["user"]["stderr"]
            for r in (0, 1)}
    assert logs[0].startswith("epoch 1/2 - loss ") and "epoch 2/2 - loss " in logs[0]
    assert logs[1] == ""                                # progress lines: rank 0 only
