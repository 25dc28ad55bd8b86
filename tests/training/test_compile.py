"""fit(compile=True): the steps run through torch.compile and give the plain run's losses."""

import numpy as np
import pytest
import torch

import neuralab as nl
from neuralab import layers as L
from neuralab.errors import ConfigError
from neuralab.training import Trainer, fit


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 4, generator=g)
    return x, (x[:, 0] + x[:, 1] > 0).long()


def _net():
    nl.set_seed(0)
    return L.Input(4) >> L.Relu(16) >> L.Tanh(8) >> L.Linear(2)   # no dropout: inductor draws its own


@pytest.mark.slow
def test_compiled_run_gives_the_same_losses_and_weights():
    torch._dynamo.reset()
    x, y = _data()
    plain, compiled = _net(), _net()
    kw = dict(epochs=3, batch_size=32, metrics="accuracy", validation_split=0.25, progress=False, seed=0)
    h0 = fit(plain, x, y, **kw)
    seen = []
    trainer = Trainer(compiled, progress=False, seed=0, metrics="accuracy", compile=True)
    real_compile = torch.compile

    def spy(model, *args, **kwargs):
        seen.append(model)
        return real_compile(model, *args, **kwargs)

    torch.compile, saved = spy, torch.compile
    try:
        h1 = trainer.fit(x, y, epochs=3, batch_size=32, validation_split=0.25)
    finally:
        torch.compile = saved
    assert seen == [compiled]                                   # the steps went through torch.compile
    assert type(trainer.model).__name__ == "OptimizedModule"
    np.testing.assert_allclose(h1["loss"], h0["loss"], rtol=1e-5)
    np.testing.assert_allclose(h1["val_loss"], h0["val_loss"], rtol=1e-5)
    for p, q in zip(plain.parameters(), compiled.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_compile_must_be_a_bool():
    with pytest.raises(ConfigError, match=r"fit: expected `compile` to be True or False, received 1"):
        fit(torch.nn.Linear(4, 2), *_data(), compile=1, progress=False)
