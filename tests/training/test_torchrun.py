"""`fit` under a real `torchrun --nproc_per_node=2` (gloo on CPU) equals one process.

The other DDP test spawns processes itself; this one runs the launcher a user
runs, as the README shows it, on shuffled arrays with a checkpoint callback.
"""

import subprocess
import sys
import textwrap

import pytest
import torch

import neuralab as nl

SCRIPT = textwrap.dedent("""
    import os, sys
    import numpy as np
    import torch
    import neuralab as nl
    from neuralab import layers as L

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 5)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    nl.set_seed(0)
    net = L.Input(5) >> L.Relu(16) >> L.Softmax(2)
    net.fit(x, y, epochs=3, batch_size=16, seed=0, progress=False,
            callbacks=[nl.callbacks.Checkpoint(sys.argv[2])])
    if int(os.environ.get("RANK", "0")) == 0:
        nl.save(net, sys.argv[1])
""")


@pytest.mark.slow
def test_torchrun_two_processes_equal_one(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    run = dict(cwd=tmp_path, capture_output=True, text=True, timeout=300)
    launched = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                               "--nproc_per_node=2", str(script), "ddp.safetensors", "ck-ddp"], **run)
    assert launched.returncode == 0, launched.stderr[-2000:]
    single = subprocess.run([sys.executable, str(script), "one.safetensors", "ck-one"], **run)
    assert single.returncode == 0, single.stderr[-2000:]
    ddp, one = (nl.load(tmp_path / f).state_dict() for f in ("ddp.safetensors", "one.safetensors"))
    assert ddp.keys() == one.keys()
    for k in ddp:
        torch.testing.assert_close(ddp[k], one[k], rtol=0, atol=1e-6)
    assert sorted(p.name for p in (tmp_path / "ck-ddp").iterdir()) == \
        sorted(p.name for p in (tmp_path / "ck-one").iterdir())            # rank 0 writes what one process writes
