"""Crafted checkpoint states are refused with StorageError before any of them is applied."""

import copy

import pytest
import torch
from torch import nn

from neuralab.errors import StorageError
from neuralab.training import Checkpoint, EarlyStopping, fit, load_checkpoint, save_checkpoint


def _data():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (48,), generator=g)
    x = torch.tensor([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])[y] + 0.6 * torch.randn(48, 2, generator=g)
    return x, y


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3))


_KW = dict(epochs=2, batch_size=16, progress=False, seed=0)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Checkpoints of a 2-epoch run: Adam + EarlyStopping, and SGD + a LambdaLR scheduler."""
    root = tmp_path_factory.mktemp("ck")
    x, y = _data()
    fit(_net(), x, y, optimizer="adam", callbacks=[EarlyStopping(monitor="loss", patience=5),
                                                   Checkpoint(root / "adam")], **_KW)
    net = _net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 0.5 ** e)
    fit(net, x, y, optimizer=opt, lr_schedule=sched, callbacks=[Checkpoint(root / "sgd")], **_KW)
    return {"adam": load_checkpoint(root / "adam" / "checkpoint.safetensors"),
            "sgd": load_checkpoint(root / "sgd" / "checkpoint.safetensors")}


def _resume_adam(path, epochs=3):
    x, y = _data()
    net = _net(7)
    before = copy.deepcopy(net.state_dict())
    try:
        fit(net, x, y, optimizer="adam", callbacks=[EarlyStopping(monitor="loss", patience=5)],
            resume_from=path, **dict(_KW, epochs=epochs))
    finally:
        # a refused checkpoint leaves the module as it was
        assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def _resume_sgd(path):
    x, y = _data()
    net = _net(7)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 0.5 ** e)
    fit(net, x, y, optimizer=opt, lr_schedule=sched, resume_from=path, **dict(_KW, epochs=3))


def _craft(written, which, tmp_path, edit):
    model_state, optim, meta = copy.deepcopy(written[which])
    edit(model_state, optim, meta)
    path = tmp_path / "crafted.safetensors"
    save_checkpoint(path, model_state=model_state, optimizer_state=optim, meta=meta)
    return path


def _set(key, value):
    def edit(model_state, optim, meta):
        meta[key] = value
    return edit


ADAM_CASES = {
    "epoch abc": (_set("epoch", "abc"), r"expected 'epoch' to be a non-negative integer, received str 'abc'"),
    "epoch -1": (_set("epoch", -1), r"expected 'epoch' to be a non-negative integer, received int -1"),
    "step 1.5": (_set("global_step", 1.5), r"expected 'global_step' to be a non-negative integer"),
    "no rng": (lambda m, o, meta: meta.pop("rng"), r"expected the RNG states 'rng'"),
    "float rng": (lambda m, o, meta: meta["rng"].__setitem__("torch", meta["rng"]["torch"].float()),
                  r"expected rng\['torch'\] to be a uint8 tensor of shape \(\d+,\), received a float32 "
                  r"tensor"),
    "short rng": (lambda m, o, meta: meta["rng"].__setitem__("generator", meta["rng"]["generator"][:10]),
                  r"expected rng\['generator'\] to be a uint8 tensor of shape \(\d+,\), received a uint8 "
                  r"tensor of shape \(10,\)"),
    "numpy key": (lambda m, o, meta: meta["rng"].__setitem__("numpy", ("MT19937", [1, 2], 0, 0, 0.0)),
                  r"expected rng\['numpy'\]\[1\] to be an int64 tensor of 624 values"),
    "python state": (lambda m, o, meta: meta["rng"].__setitem__("python", (3, (1, 2), None)),
                     r"expected rng\['python'\] to be Python's random.getstate\(\)"),
    "string lr": (lambda m, optim, meta: optim["param_groups"][0].__setitem__("lr", "0.1"),
                  r"param_groups\[0\]\['lr'\] to be a number, received str '0.1'"),
    "betas": (lambda m, optim, meta: optim["param_groups"][0].__setitem__("betas", (0.9,)),
              r"param_groups\[0\]\['betas'\] to be a list of 2 items"),
    "exp_avg shape": (lambda m, optim, meta: optim["state"][0].__setitem__("exp_avg", torch.zeros(3, 3)),
                      r"state\[0\]\['exp_avg'\] to be a tensor of the parameter's shape \(8, 2\), "
                      r"received a float32 tensor of shape \(3, 3\)"),
    "int exp_avg": (lambda m, optim, meta: optim["state"][0].__setitem__(
        "exp_avg", torch.zeros(8, 2, dtype=torch.int64)), r"to be a floating-point tensor"),
    "stray param": (lambda m, optim, meta: optim["state"].__setitem__(99, {"exp_avg": torch.zeros(2)}),
                    r"state\[99\] to be the state of one of its 4 parameters"),
    "groups": (lambda m, optim, meta: optim["param_groups"].append(dict(optim["param_groups"][0])),
               r"param_groups to be a list of 1 groups"),
    "history": (_set("history", [1, 2]), r"expected 'history' to be \{'epoch'"),
    "best weights": (lambda m, o, meta: meta["callbacks"][0]["state"].__setitem__(
        "best_state", {"0.weight": torch.zeros(2)}), r"expected the EarlyStopping state\['best_state'\] "
                                                     r"to have the keys"),
    "best": (lambda m, o, meta: meta["callbacks"][0]["state"].__setitem__("best", "low"),
             r"EarlyStopping state\['best'\] to be a number or None, received str 'low'"),
    "no state key": (lambda m, optim, meta: optim.pop("state"),   # found by test_hard_fuzz
                     r"to be \{'state': \{...\}, 'param_groups': \[...\]\}"),
    "optimizer list": (lambda m, optim, meta: optim.__setitem__("param_groups", "x"),
                       r"to be \{'state': \{...\}, 'param_groups': \[...\]\}"),
}


# cases known to reach torch (strict xfail, so a fix shows here); none today
_OPEN: dict[str, str] = {}


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.xfail(reason=_OPEN[c], strict=True))
                                  if c in _OPEN else c for c in ADAM_CASES])
def test_crafted_training_state_is_refused(written, tmp_path, case):
    edit, message = ADAM_CASES[case]
    path = _craft(written, "adam", tmp_path, edit)
    with pytest.raises(StorageError, match=r"crafted.safetensors.*" + message):
        _resume_adam(path)


SCHEDULER_CASES = {
    # LRScheduler.load_state_dict does self.__dict__.update(state): an extra key would overwrite any
    # attribute (here the optimizer it drives)
    "extra key": (lambda sd: sd.__setitem__("optimizer", "pwned"), r"unexpected \['optimizer'\]"),
    "lambda dict": (lambda sd: sd.__setitem__("lr_lambdas", [{"__call__": 1}]),
                    r"\['lr_lambdas'\]\[0\] to be None, received dict"),
    "last epoch": (lambda sd: sd.__setitem__("last_epoch", "1"), r"\['last_epoch'\] to be a number"),
    "base lrs": (lambda sd: sd.__setitem__("base_lrs", [0.1, 0.2]), r"\['base_lrs'\] to be a list of 1"),
    "not a dict": (lambda sd: sd.clear() or sd.__setitem__("x", 1), r"to have the keys"),
}


@pytest.mark.parametrize("case", list(SCHEDULER_CASES))
def test_hostile_scheduler_state_is_refused(written, tmp_path, case):
    edit, message = SCHEDULER_CASES[case]
    path = _craft(written, "sgd", tmp_path, lambda m, o, meta: edit(meta["torch_scheduler"]))
    with pytest.raises(StorageError, match=r"the LR scheduler state.*" + message):
        _resume_sgd(path)


def test_malformed_encodings_in_the_metadata(written, tmp_path):
    import json

    from safetensors.torch import load_file, save_file

    from neuralab import storage

    path = _craft(written, "adam", tmp_path, lambda *a: None)
    header = storage._read_metadata_strings(str(path))
    tensors = load_file(str(path))
    for state in ({"__tensor__": [1]}, {"__items__": 5}, {"__float__": "abc"}, {"__dict__": []},
                  {"__tensor__": "nope"}):
        save_file(tensors, str(path), metadata=dict(header, state=json.dumps(state)))
        with pytest.raises(StorageError, match=r"malformed checkpoint metadata|refers to a missing tensor"):
            load_checkpoint(path)
    save_file(tensors, str(path), metadata=dict(header, state=json.dumps([1, 2])))
    with pytest.raises(StorageError, match=r"expected the training state to be a dict, received list"):
        _resume_adam(path)


def test_the_untouched_checkpoint_still_resumes(written, tmp_path):
    path = _craft(written, "adam", tmp_path, lambda *a: None)
    x, y = _data()
    net = _net(7)
    h = fit(net, x, y, optimizer="adam", callbacks=[EarlyStopping(monitor="loss", patience=5)],
            resume_from=path, **dict(_KW, epochs=3))
    assert h.epoch == [0, 1, 2]
    _resume_sgd(_craft(written, "sgd", tmp_path, lambda *a: None))


@pytest.mark.parametrize("optimizer", ["bfgs", "lm"])
def test_second_order_resume_is_bitwise(tmp_path, optimizer):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(40, 3, generator=g)
    y = torch.sin(x.sum(1, keepdim=True))
    kw = dict(optimizer=optimizer, loss="mse", batch_size=40, progress=False, seed=0)

    def net():
        torch.manual_seed(3)
        return nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 1))

    full = net()
    fit(full, x, y, epochs=4, **kw)
    first = net()
    fit(first, x, y, epochs=2, callbacks=[Checkpoint(tmp_path)], **kw)
    resumed = net()
    fit(resumed, x, y, epochs=4, resume_from=tmp_path, **kw)
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_mis_shaped_checkpoint_weights_change_nothing(written, tmp_path):
    def edit(model_state, optim, meta):
        model_state["0.weight"] = torch.zeros(5, 2)
        model_state["9.bias"] = torch.zeros(1)

    path = _craft(written, "adam", tmp_path, edit)
    with pytest.raises(StorageError, match=r"the checkpoint weights do not fit Sequential: unexpected "
                                           r"\['9.bias'\]; mis-shaped 0.weight: expected \(8, 2\), "
                                           r"received \(5, 2\)"):
        _resume_adam(path)
