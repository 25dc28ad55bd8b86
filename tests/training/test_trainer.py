"""The training engine: structured data, the Trainer override point, reproducibility, traps."""

import copy
import logging
import math
import re

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import neuralab as nl
from neuralab import layers as L
from neuralab.errors import ConfigError, DataError, StorageError, TrainingError
from neuralab.training import Checkpoint, EarlyStopping, LambdaCallback, Trainer, evaluate, fit, predict


# ----------------------------------------------------------------------------- data and models
def _two_inputs(n=120, seed=0):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(n, 10, generator=g), torch.randn(n, 5, generator=g)
    y = ((a[:, 0] + b[:, 0]) > 0).long() + (a[:, 1] > 1).long()
    return a, b, y


def _two_input_net():
    return ((L.Input(10, name="left") | L.Input(5, name="right")) >> L.Concatenate()
            >> L.Relu(16) >> L.Softmax(3))


def _two_output_net():
    return L.Input(4) >> L.Relu(16) >> (L.Softmax(3, name="cls") | L.Linear(1, name="reg"))


def _two_output_data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long(), x[:, 2:3] * 2 - x[:, 3:4]


class _PairDataset(Dataset):
    def __init__(self, a, b, y):
        self.a, self.b, self.y = a, b, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return (self.a[i], self.b[i]), self.y[i]


# ----------------------------------------------------------------------------- several inputs
@pytest.mark.parametrize("form", ["tuple", "list", "dict", "dataset", "dataloader"])
def test_two_input_network_trains_in_every_form(form, tmp_path):
    a, b, y = _two_inputs()
    nl.set_seed(0)
    net = _two_input_net()
    kw = dict(epochs=25, lr=0.02, metrics="accuracy", progress=False, seed=0)
    if form == "tuple":
        h = net.fit((a, b), y, **kw)
    elif form == "list":
        h = net.fit([a.numpy(), b.numpy()], y.numpy(), **kw)
    elif form == "dict":
        h = net.fit({"right": b, "left": a}, y, **kw)
    elif form == "dataset":
        h = net.fit(_PairDataset(a, b, y), **kw)
    else:
        h = net.fit(DataLoader(_PairDataset(a, b, y), batch_size=32, shuffle=True), **kw)
    assert h["accuracy"][-1] > 0.85
    scores = net.evaluate((a, b), y, metrics=["accuracy"])
    assert scores["accuracy"] > 0.85
    out = net.predict({"left": a, "right": b})
    assert out.shape == (120, 3)
    np.testing.assert_allclose(out, net(a, b).detach().numpy(), rtol=1e-6)
    nl.save(net, tmp_path / "two.safetensors")
    again = nl.load(tmp_path / "two.safetensors")
    np.testing.assert_allclose(again.predict((a, b)), out, rtol=1e-6)


def test_structure_mismatches_name_expected_and_received():
    a, b, y = _two_inputs(20)
    net = _two_input_net()
    before = copy.deepcopy(net.state_dict())
    with pytest.raises(DataError, match=r"x: expected 2 arrays, one per input \('left', 'right'\), "
                                        r"received 3"):
        net.fit((a, b, b), y, epochs=1, progress=False)
    with pytest.raises(DataError, match=r"expected a dict with the input names 'left', 'right', "
                                        r"received keys 'left', 'middle' \('middle' name no input\)"):
        net.fit({"left": a, "middle": b}, y, epochs=1, progress=False)
    with pytest.raises(DataError, match=r"inputs must have the same number of samples \(axis 0\): "
                                        r"received x\[left\] with 20, x\[right\] with 19"):
        net.fit((a, b[:19]), y, epochs=1, progress=False)
    with pytest.raises(DataError, match=r"the network has 2 inputs \('left', 'right'\): expected a "
                                        r"tuple/list of 2 arrays"):
        net.fit(a, y, epochs=1, progress=False)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


# ----------------------------------------------------------------------------- several outputs
def test_two_outputs_weighted_losses_match_a_hand_computation():
    x, labels, target = _two_output_data()
    nl.set_seed(0)
    net = _two_output_net()
    h = net.fit(x, {"cls": labels, "reg": target}, loss={"cls": "categorical_crossentropy", "reg": "mse"},
                loss_weights={"cls": 1.0, "reg": 0.5}, metrics={"cls": "accuracy"}, epochs=40,
                lr=0.02, progress=False, seed=0)
    assert {"loss", "cls_loss", "reg_loss", "cls_accuracy"} <= set(h.history)
    assert h["cls_accuracy"][-1] > 0.85 and h["reg_loss"][-1] < h["reg_loss"][0] / 4
    scores = net.evaluate(x, (labels, target), loss=["categorical_crossentropy", "mse"], loss_weights=[1, 0.5])
    probs, reg = net.predict(x)
    cce = -np.log(np.clip(probs[np.arange(len(labels)), labels.numpy()], 1e-7, 1)).mean()
    mse = ((reg - target.numpy()) ** 2).mean()
    assert scores["cls_loss"] == pytest.approx(cce, rel=1e-5)
    assert scores["reg_loss"] == pytest.approx(mse, rel=1e-5)
    assert scores["loss"] == pytest.approx(cce + 0.5 * mse, rel=1e-5)


def test_one_callable_loss_sees_every_output():
    x, labels, target = _two_output_data(64)
    seen = []

    def joint(outs, ys):
        seen.append((len(outs), len(ys)))
        return nn.functional.nll_loss(torch.log(outs[0]), ys[0]) + ((outs[1] - ys[1]) ** 2).mean()

    nl.set_seed(0)
    net = _two_output_net()
    h = net.fit(x, (labels, target), loss=joint, epochs=3, progress=False)
    assert seen and seen[0] == (2, 2) and math.isfinite(h["loss"][-1])


def test_loss_structure_errors():
    x, labels, target = _two_output_data(16)
    net = _two_output_net()
    with pytest.raises(ConfigError, match=r"expected `loss` with one entry per output \(2: 'cls', 'reg'\), "
                                          r"received 3"):
        net.fit(x, (labels, target), loss=["mse"] * 3, epochs=1, progress=False)
    with pytest.raises(ConfigError, match=r"expected `loss_weights` keyed by the output names 'cls', 'reg'"):
        net.fit(x, (labels, target), loss=["cce", "mse"], loss_weights={"cls": 1, "box": 2}, epochs=1,
                progress=False)
    with pytest.raises(DataError, match=r"y: expected 2 arrays, one per output \('cls', 'reg'\), received 3"):
        net.fit(x, (labels, target, target), epochs=1, progress=False)


# ----------------------------------------------------------------------------- the override point
class _AutoEncoderTrainer(Trainer):
    """Encoder and decoder with separate optimizers; only train_step is written."""

    def __init__(self, model, **kw):
        super().__init__(model, optimizer=None, loss=None, **kw)
        self.optimizers["encoder"] = torch.optim.Adam(model.encoder.parameters(), lr=0.01)
        self.optimizers["decoder"] = torch.optim.SGD(model.decoder.parameters(), lr=0.1, momentum=0.9)
        self.nan_at = None

    def train_step(self, batch):
        (x,), _ = batch
        for opt in self.optimizers.values():
            opt.zero_grad()
        loss = ((self.module(x) - x) ** 2).mean()
        loss.backward()
        for opt in self.optimizers.values():
            opt.step()
        if self.nan_at is not None and self.global_step >= self.nan_at:
            loss = loss * float("nan")
        return {"loss": loss.detach(), "code_norm": self.module.encoder(x).norm(dim=1).mean().detach()}


class _AutoEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(8, 3), nn.Tanh())
        self.decoder = nn.Linear(3, 8)

    def forward(self, x):
        return self.decoder(self.encoder(x))


def _ae_data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(64, 3, generator=g) @ torch.randn(3, 8, generator=g)


def test_a_trainer_overriding_only_train_step_gets_the_loop(tmp_path, capsys):
    x = _ae_data()
    torch.manual_seed(0)
    ends = []
    trainer = _AutoEncoderTrainer(_AutoEncoder(), progress="line", seed=0,
                                  callbacks=[LambdaCallback(on_epoch_end=lambda e, logs: ends.append(e))])
    h = trainer.fit(x, epochs=6, batch_size=16)
    assert ends == list(range(6)) and len(h["code_norm"]) == 6
    assert h["loss"][-1] < h["loss"][0] / 2
    assert "epoch 6/6 - loss" in capsys.readouterr().err
    assert trainer.global_step == 6 * 4


def test_a_custom_trainer_resumes_bitwise(tmp_path):
    x = _ae_data()
    torch.manual_seed(0)
    straight = _AutoEncoderTrainer(_AutoEncoder(), progress=False, seed=3)
    straight.fit(x, epochs=4, batch_size=16)
    torch.manual_seed(0)
    first = _AutoEncoderTrainer(_AutoEncoder(), progress=False, seed=3, callbacks=[Checkpoint(tmp_path)])
    first.fit(x, epochs=2, batch_size=16)
    torch.manual_seed(99)  # a different fresh model: resume must overwrite it all
    second = _AutoEncoderTrainer(_AutoEncoder(), progress=False, seed=3, callbacks=[Checkpoint(tmp_path)])
    h = second.fit(x, epochs=4, batch_size=16, resume_from=tmp_path)
    assert len(h["loss"]) == 4 and h["loss"] == straight.history["loss"]
    for k, v in straight.module.state_dict().items():
        assert torch.equal(v, second.module.state_dict()[k]), k
    for name in ("encoder", "decoder"):
        a = straight.optimizers[name].state_dict()["state"]
        b = second.optimizers[name].state_dict()["state"]
        assert all(torch.equal(a[i][key], b[i][key]) for i in a for key in a[i] if torch.is_tensor(a[i][key]))


def test_a_custom_trainer_gets_the_nan_guard():
    trainer = _AutoEncoderTrainer(_AutoEncoder(), progress=False, seed=0)
    trainer.nan_at = 5
    with pytest.raises(TrainingError, match=r"the loss became NaN at epoch 2 of 3, step 2 of 4"):
        trainer.fit(_ae_data(), epochs=3, batch_size=16)


def test_a_trainer_without_data_runs_steps_per_epoch():
    class Counter(Trainer):
        def train_step(self, batch):
            assert batch is None
            return {"reward": float(self.global_step)}

    h = Counter(nn.Linear(1, 1), optimizer=None, loss=None, progress=False).fit(
        None, epochs=2, steps_per_epoch=5)
    assert h["reward"] == [2.0, 7.0]
    with pytest.raises(DataError, match=r"expected training data x, or x=None with steps_per_epoch"):
        Counter(nn.Linear(1, 1), optimizer=None, loss=None).fit(None, epochs=1)


# ----------------------------------------------------------------------------- second-order hand-off
def test_irprop_plus_backtracks_under_fit():
    """A first step of 10 overshoots w* = 3: the loss rises and the gradient flips sign."""
    x, y = torch.ones(8, 1), torch.full((8, 1), 3.0)
    net = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(0.5)
    reverted, weights = [], []

    def record(step, logs):
        reverted.append(cb.trainer.optimizer.last_info["backtracked"])
        weights.append(float(net.weight.detach()))

    cb = LambdaCallback(on_batch_end=record)
    fit(net, x, y, optimizer="irprop+", lr=10.0, loss="mse", epochs=3, batch_size=8, shuffle=False,
        callbacks=[cb], progress=False)
    assert weights[0] == pytest.approx(10.5)      # 0.5 - sign(g) * 10
    assert reverted[1] == 1                       # the rise undid the move of the one weight …
    assert weights[1] == pytest.approx(0.5)       # … back where it was
    torch_net = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        torch_net.weight.fill_(0.5)
    fit(torch_net, x, y, optimizer="rprop", lr=10.0, loss="mse", epochs=2, batch_size=8, shuffle=False,
        progress=False)
    assert float(torch_net.weight) != pytest.approx(0.5)  # iRPROP- never goes back


# ----------------------------------------------------------------------------- reproducibility
def test_two_fits_from_the_same_set_seed_are_bitwise_equal():
    def run():
        nl.set_seed(7)
        net = L.Input(4) >> L.Relu(16) >> L.Dropout(0.2) >> L.Softmax(3)
        x, labels, _ = _two_output_data(64)
        net.fit(x, labels, epochs=3, progress=False, seed=7)
        return net.state_dict()

    a, b = run(), run()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_layer_names_are_numbered_within_their_network():
    def build():
        return L.Input((5, 3)) >> L.LSTM(4, return_sequences=True) >> L.GRU(4) >> L.Relu(8) >> L.Softmax(2)

    other = L.Input(2) >> L.Relu(3)  # built in between: must not shift the numbers
    a, b = build(), build()
    assert [l.name for l in a.layers] == ["input-1", "lstm-1", "gru-1", "relu-1", "softmax-1"]
    assert list(a.state_dict()) == list(b.state_dict())
    b.load_state_dict(a.state_dict())
    assert [l.name for l in other.layers] == ["input-1", "relu-1"]


def test_resume_after_rebuilding_the_model_cell(tmp_path):
    x, labels, _ = _two_output_data(64)

    def cell():
        return L.Input(4) >> L.Relu(8) >> L.Softmax(3)

    cell().fit(x, labels, epochs=2, progress=False, seed=0, callbacks=[Checkpoint(tmp_path)])
    h = cell().fit(x, labels, epochs=3, progress=False, seed=0, resume_from=tmp_path)
    assert len(h["loss"]) == 3


# ----------------------------------------------------------------------------- the silent traps
def test_softmax_twice_is_detected_and_handled():
    x, labels, _ = _two_output_data(64)
    net = L.Input(4) >> L.Relu(8) >> L.Softmax(3)
    with pytest.warns(UserWarning, match=r"already applies softmax.*using 'categorical_crossentropy'"):
        h = net.fit(x, labels, loss="softmax_crossentropy", epochs=1, progress=False)
    probs = net.predict(x)
    cce = -np.log(probs[np.arange(64), labels.numpy()]).mean()
    assert evaluate(net, x, labels, loss="categorical_crossentropy")["loss"] == pytest.approx(cce, rel=1e-4)
    assert math.isfinite(h["loss"][0])


def test_auto_loss_on_integer_regression_targets_suggests_mse():
    x = torch.randn(32, 3)
    y = torch.randint(0, 10, (32,))
    with pytest.raises(DataError, match=r"integer targets in \[0, 9\] for a one-unit output.*loss='mse'"):
        fit(nn.Linear(3, 1), x, y, epochs=1, progress=False)
    h = fit(nn.Linear(3, 1), x, y.float().unsqueeze(1), loss="mse", epochs=1, progress=False)
    assert math.isfinite(h["loss"][0])


def test_keras_names_and_string_metrics():
    x, labels, _ = _two_output_data(64)
    net = L.Input(4) >> L.Relu(8) >> L.Softmax(3)
    h = net.fit(x, labels, optimizer="adamw", loss="sparse_categorical_crossentropy", metrics="accuracy",
                epochs=2, progress=False)
    assert "accuracy" in h.history and len(h["accuracy"]) == 2


def test_early_stopping_says_when_it_stopped(caplog):
    x = torch.linspace(-1, 1, 32).unsqueeze(1)
    with caplog.at_level(logging.INFO, logger="neuralab.training"):
        fit(nn.Linear(1, 1), x, 3 * x, optimizer="sgd", lr=0.0, epochs=20, progress=False,
            callbacks=[EarlyStopping(monitor="loss", patience=2)])
    assert any("EarlyStopping: stopped after epoch 3 of 20" in r.getMessage() for r in caplog.records)


# ----------------------------------------------------------------------------- failure paths
def test_nan_stop_restores_early_stoppings_best_weights(tmp_path):
    x = torch.linspace(-1, 1, 32).unsqueeze(1)
    net = nn.Linear(1, 1)
    stop = EarlyStopping(monitor="loss", patience=50)
    blow = {"epoch": 3}

    def poison(epoch, logs):
        if epoch == blow["epoch"]:
            with torch.no_grad():
                net.weight.fill_(float("nan"))

    with pytest.raises(TrainingError, match=r"weights of epoch \d+ \(best loss .*\) were restored: the model "
                                            r"in memory is usable"):
        fit(net, x, 3 * x, optimizer="sgd", lr=0.1, epochs=10, progress=False, batch_size=32,
            callbacks=[stop, LambdaCallback(on_epoch_begin=poison)])
    assert bool(torch.isfinite(net.weight).all())
    nl.save(net, tmp_path / "ok.safetensors")


def test_nan_stop_restores_the_weights_the_failed_epoch_started_from(tmp_path):
    """Reference: the same seeded run stopped after the last finite epoch."""
    x = torch.linspace(-1, 1, 32).unsqueeze(1)
    torch.manual_seed(0)
    reference = nn.Linear(1, 1)
    net = nn.Linear(1, 1)
    net.load_state_dict(reference.state_dict())
    kw = dict(optimizer="sgd", lr=0.1, progress=False, batch_size=8, seed=0,
              lr_schedule=lambda epoch: 1.0 if epoch < 2 else 1e30)  # epoch 3 diverges
    last = format(fit(reference, x, 3 * x, epochs=2, **kw)["loss"][-1], ".4g")
    with pytest.raises(TrainingError, match=r"at epoch 3 .*The weights of the end of epoch 2 \(loss "
                                            + re.escape(last) + r"\) were restored: the model in "
                                            r"memory is finite and can be saved"):
        fit(net, x, 3 * x, epochs=5, **kw)
    torch.testing.assert_close(net.state_dict(), reference.state_dict(), rtol=0, atol=0)
    nl.save(net, tmp_path / "kept.safetensors")


def test_nan_stop_in_the_first_epoch_restores_the_initial_weights():
    x = torch.linspace(-1, 1, 32).unsqueeze(1)
    net = nn.Linear(1, 1)
    initial = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(TrainingError, match=r"weights of the start of training were restored"):
        fit(net, x, 3 * x, optimizer="sgd", lr=1e6, epochs=30, batch_size=1, progress=False)
    torch.testing.assert_close(net.state_dict(), initial, rtol=0, atol=0)


def test_nan_stop_from_non_finite_starting_weights_says_the_model_is_not_usable():
    x = torch.linspace(-1, 1, 32).unsqueeze(1)
    net = nn.Linear(1, 1)

    def poison(epoch, logs):  # before the epoch starts: nothing finite to go back to
        if epoch == 1:
            with torch.no_grad():
                net.weight.fill_(float("nan"))

    with pytest.raises(TrainingError, match=r"non-finite weights of the failed step: do not save it"):
        fit(net, x, 3 * x, optimizer="sgd", lr=0.1, epochs=5, progress=False,
            callbacks=[LambdaCallback(on_epoch_begin=poison)])


def test_save_refuses_nonfinite_weights(tmp_path):
    good = nn.Linear(2, 1)
    path = tmp_path / "model.safetensors"
    nl.save(good, path)
    before = path.read_bytes()
    bad = nn.Linear(2, 1)
    with torch.no_grad():
        bad.bias.fill_(float("inf"))
    with pytest.raises(StorageError, match=r"expected finite weights, received NaN/inf in 1 tensor\(s\) "
                                           r"\(bias\).*was not written"):
        nl.save(bad, path)
    assert path.read_bytes() == before
    nl.save(bad, tmp_path / "forced.safetensors", allow_nonfinite=True)


# ----------------------------------------------------------------------------- bad input
def test_batchnorm_last_batch_of_one_is_dropped_with_a_note():
    x, labels, _ = _two_output_data(33)
    net = L.Input(4) >> L.Linear(8) >> L.BatchNorm() >> L.Relu() >> L.Softmax(3)
    with pytest.warns(UserWarning, match=r"33 samples in batches of 16 leave a last batch of one sample"):
        h = net.fit(x, labels, batch_size=16, epochs=2, progress=False)
    assert math.isfinite(h["loss"][-1])


@pytest.mark.parametrize("kwargs, message", [
    ({"lr": -0.1}, r"fit: expected `lr` to be a finite number >= 0 or None, received -0.1"),
    ({"lr": float("nan")}, r"fit: expected `lr` to be a finite number >= 0 or None, received nan"),
    ({"lr": "fast"}, r"fit: expected `lr` to be a finite number >= 0 or None, received 'fast'"),
    ({"optimizer": "sgd", "optimizer_kwargs": {"momentun": 0.9}},
     r"fit: optimizer 'sgd' does not take `momentun`; expected some of .*momentum"),
    ({"optimizer": torch.optim.Adam, "optimizer_kwargs": {"beta": 0.9}},
     r"fit: optimizer 'Adam' does not take `beta`; expected some of .*betas"),
    ({"clip_grad_norm": 0}, r"fit: expected `clip_grad_norm` to be a finite number > 0 or None, received 0"),
    ({"seed": -1}, r"fit: expected `seed` to be an integer >= 0 or None, received -1"),
])
def test_bad_arguments_name_expected_and_received(kwargs, message):
    x, labels, _ = _two_output_data(16)
    net = nn.Linear(4, 3)
    before = copy.deepcopy(net.state_dict())
    with pytest.raises(ConfigError, match=message):
        fit(net, x, labels, epochs=1, progress=False, **kwargs)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_cuda_on_a_machine_without_it():
    with pytest.raises(ConfigError, match=r"expected device 'auto' or 'cpu' on this machine, which has no "
                                          r"CUDA; received 'cuda'"):
        fit(nn.Linear(4, 3), torch.randn(8, 4), torch.zeros(8).long(), device="cuda", progress=False)


def test_resuming_with_another_optimizer(tmp_path):
    x, labels, _ = _two_output_data(32)
    fit(nn.Linear(4, 3), x, labels, optimizer="adam", epochs=1, progress=False,
        callbacks=[Checkpoint(tmp_path)])
    with pytest.raises(ConfigError, match=r"expected to resume with the checkpoint's optimizers "
                                          r"\{'optimizer': 'Adam'\}, received \{'optimizer': 'SGD'\}"):
        fit(nn.Linear(4, 3), x, labels, optimizer="sgd", epochs=2, progress=False, resume_from=tmp_path)


def test_predict_of_a_plain_module_with_a_tuple_of_arrays():
    class Add(nn.Module):
        def forward(self, a, b):
            return a + b

    out = predict(Add(), (np.ones((3, 2), np.float32), np.full((3, 2), 2, np.float32)))
    assert out.tolist() == [[3.0, 3.0]] * 3


# ----------------------------------------------------------------------------- ragged sequences
def _ragged(n=120, seed=0):
    rng = np.random.default_rng(seed)
    xs = [rng.normal(size=(int(rng.integers(3, 12)), 2)).astype(np.float32) for _ in range(n)]
    return xs, [(np.cumsum(x[:, 0]) > 0).astype(np.int64) for x in xs]


def test_ragged_lists_train_with_one_target_per_sequence():
    xs, _ = _ragged()
    y = np.array([int(x[:, 0].sum() > 0) for x in xs])
    nl.set_seed(0)
    net = L.Input((None, 2)) >> L.LSTM(16, mask_value=0.0) >> L.Softmax(2)
    h = net.fit(xs, y, epochs=12, lr=0.01, metrics="accuracy", progress=False, seed=0)
    assert h["accuracy"][-1] > 0.9


def test_ragged_per_step_labels_leave_the_padding_out_of_the_loss():
    xs, ys = _ragged(60)
    nl.set_seed(0)
    net = L.Input((None, 2)) >> L.LSTM(8, mask_value=0.0, return_sequences=True) >> L.Linear(2)
    fit(net, xs, ys, loss="softmax_crossentropy", epochs=2, progress=False, seed=0)
    got = evaluate(net, xs, ys, loss="softmax_crossentropy", metrics="accuracy", batch_size=1000)
    net.eval()
    with torch.no_grad():  # by hand: each sequence alone, unpadded; mean over every real step
        logits = torch.cat([net(torch.from_numpy(x)[None])[0] for x in xs])
    labels = torch.from_numpy(np.concatenate(ys))
    assert got["loss"] == pytest.approx(float(nn.functional.cross_entropy(logits, labels)), rel=1e-4)
    assert got["accuracy"] == pytest.approx(float((logits.argmax(1) == labels).float().mean()), rel=1e-5)


def test_ragged_errors():
    xs, ys = _ragged(10)
    net = L.Input((None, 2)) >> L.LSTM(4, mask_value=0.0, return_sequences=True) >> L.Linear(2)
    with pytest.raises(DataError, match=r"y\[0\]: expected one target per step \(\d+\), received \d+"):
        fit(net, xs, [y[:-1] for y in ys], loss="softmax_crossentropy", epochs=1, progress=False)
    with pytest.raises(DataError, match=r"ragged per-step targets must be integer class labels"):
        fit(net, xs, [y.astype(np.float32) for y in ys], loss="mse", epochs=1, progress=False)
    with pytest.raises(DataError, match=r"must agree on every axis but the first; received steps of shapes"):
        fit(net, [np.zeros((3, 2)), np.zeros((4, 3))], [0, 1], epochs=1, progress=False)


def test_a_trainer_without_a_loss_accepts_any_output():
    class Detector(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)

        def forward(self, x):
            return [{"boxes": self.lin(x), "scores": x.sum(1)}]     # a list of dicts, per batch

    class DictTrainer(Trainer):
        def train_step(self, batch):
            (x,), _ = batch
            out = self.module(x)[0]
            loss = out["boxes"].square().mean()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            return {"loss": loss.detach()}

    h = DictTrainer(Detector(), loss=None, progress=False).fit(torch.randn(16, 2), epochs=2, batch_size=8)
    assert len(h["loss"]) == 2
