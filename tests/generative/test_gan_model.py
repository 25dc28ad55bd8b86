"""GAN on the Trainer: the step equals a hand-written torch step, checks, resume, NaN guard, warnings."""

import copy
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neuralab import layers as L
from neuralab.errors import ConfigError, DataError, DTypeError, ShapeError, TrainingError
from neuralab.generative import (GAN, GANMonitor, GANTrainer, GANWarning, SampleGrids,
                                 dcgan_discriminator, dcgan_generator, gradient_penalty)
from neuralab.training import Callback, Checkpoint


def _mlps(latent=4, out=2, h=16, seed=0):
    torch.manual_seed(seed)
    g = nn.Sequential(nn.Linear(latent, h), nn.ReLU(), nn.Linear(h, out))
    d = nn.Sequential(nn.Linear(out, h), nn.ReLU(), nn.Linear(h, 1))
    return g, d


def _hand_step(G, D, x, latent, loss, *, betas, lr, d_steps=1, seed, smoothing=0.0, gp_weight=10.0):
    """One GAN step written from the formulas in plain torch, with the Trainer's seeding."""
    torch.manual_seed(seed)
    go = torch.optim.Adam(G.parameters(), lr, betas=betas)
    do = torch.optim.Adam(D.parameters(), lr, betas=betas)
    n = x.shape[0]
    batches = torch.Generator().manual_seed(seed)       # the Trainer's generator draws the extra batches
    data = x
    for i in range(d_steps):
        if i:
            x = data[torch.randint(0, data.shape[0], (n,), generator=batches)]
        z = torch.randn(n, latent)
        with torch.no_grad():
            fake = G(z)
        lr_, lf = D(x).reshape(-1), D(fake).reshape(-1)
        if loss == "wasserstein_gp":
            eps = torch.rand(n)
            mixed = (eps[:, None] * x + (1 - eps[:, None]) * fake).requires_grad_(True)
            (g,) = torch.autograd.grad(D(mixed).sum(), mixed, create_graph=True)
            dl = lf.mean() - lr_.mean() + gp_weight * ((g.norm(dim=1) - 1) ** 2).mean()
        else:
            t = 1 - smoothing
            dl = (-(t * F.logsigmoid(lr_) + (1 - t) * F.logsigmoid(-lr_)).mean()
                  - F.logsigmoid(-lf).mean())
        do.zero_grad()
        dl.backward()
        do.step()
    lf = D(G(torch.randn(n, latent))).reshape(-1)
    gl = {"non_saturating": -F.logsigmoid(lf).mean(), "minimax": F.logsigmoid(-lf).mean(),
          "wasserstein_gp": -lf.mean()}[loss]
    go.zero_grad()
    gl.backward()
    go.step()
    return dl.item(), gl.item()


@pytest.mark.parametrize("loss,d_steps,smoothing", [("non_saturating", 1, 0.0), ("minimax", 2, 0.1),
                                                    ("wasserstein_gp", 3, 0.0)])
def test_train_step_equals_hand_written_torch_step(loss, d_steps, smoothing):
    G, D = _mlps()
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    x = torch.randn(8, 2)
    gan = GAN(G, D, loss=loss, latent_dim=4, d_steps=d_steps, label_smoothing=smoothing, warn=False)
    h = GANTrainer(gan, progress=False, seed=3).fit(x, epochs=1, batch_size=8, shuffle=False)
    dl, gl = _hand_step(G2, D2, x, 4, loss, betas=gan.betas, lr=gan.g_lr, d_steps=d_steps, seed=3,
                        smoothing=smoothing)
    assert h["d_loss"][0] == pytest.approx(dl, rel=1e-5) and h["g_loss"][0] == pytest.approx(gl, rel=1e-5)
    for a, b in zip(list(G.parameters()) + list(D.parameters()),
                    list(G2.parameters()) + list(D2.parameters())):
        assert torch.allclose(a, b, atol=1e-7)
    if loss == "wasserstein_gp":
        assert "gp" in h and h["gp"][0] >= 0


def test_separate_learning_rates_and_optimizers():
    G, D = _mlps()
    gan = GAN(G, D, latent_dim=4, g_lr=1e-3, d_lr=4e-4, betas=(0.0, 0.9))
    t = GANTrainer(gan, progress=False)
    g_opt, d_opt = t.optimizers["optimizer"], t.optimizers["discriminator"]
    assert g_opt.param_groups[0]["lr"] == 1e-3 and d_opt.param_groups[0]["lr"] == 4e-4
    assert {id(p) for p in g_opt.param_groups[0]["params"]} == {id(p) for p in G.parameters()}
    assert {id(p) for p in d_opt.param_groups[0]["params"]} == {id(p) for p in D.parameters()}
    assert GAN(G, D, latent_dim=4, loss="wasserstein_gp").betas == (0.0, 0.9)


def test_conditional_gan_feeds_the_class_to_both_players():
    seen = {}

    class G(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3 + 4, 2)

        def forward(self, z):
            seen["g"] = z.detach().clone()
            return torch.tanh(self.lin(z))

    class D(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2 + 4, 1)

        def forward(self, x):
            seen["d"] = x.detach().clone()
            return self.lin(x)

    gan = GAN(G(), D(), latent_dim=3, n_classes=4, warn=False)
    out = gan.sample(6, labels=[0, 1, 2, 3, 3, 1])
    assert out.shape == (6, 2)
    assert torch.equal(seen["g"][:, 3:].argmax(1), torch.tensor([0, 1, 2, 3, 3, 1]))
    assert torch.equal(seen["g"][:, 3:].sum(1), torch.ones(6))
    x = torch.rand(12, 2) * 2 - 1
    y = torch.arange(12) % 4
    gan.fit(x, y, epochs=1, batch_size=12)
    assert seen["d"].shape == (12, 6)
    # images: the one-hot class becomes constant planes
    g = dcgan_generator(8, (1, 8, 8), width=4, n_classes=3)
    d = dcgan_discriminator((1, 8, 8), width=4, n_classes=3)
    cgan = GAN(g, d, n_classes=3)
    assert cgan.latent_dim == 8
    assert cgan.discriminate(torch.zeros(2, 1, 8, 8), torch.tensor([0, 2])).shape == (2,)


def test_sample_is_seeded_and_interpolation_ends_at_its_endpoints():
    g = dcgan_generator(8, (1, 8, 8), width=4)
    gan = GAN(g, dcgan_discriminator((1, 8, 8), width=4))
    assert torch.equal(gan.sample(5, seed=7), gan.sample(5, seed=7))
    assert not torch.equal(gan.sample(5, seed=7), gan.sample(5, seed=8))
    strip = gan.interpolate(5, seed=2)
    ends = torch.randn(2, 8, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(strip[0], gan.sample(1, z=ends[:1])[0], atol=1e-6)
    assert torch.allclose(strip[-1], gan.sample(1, z=ends[1:])[0], atol=1e-6)
    assert g.training                                          # sampling restores train mode


def test_construction_errors_name_what_was_expected():
    g = dcgan_generator(8, (1, 8, 8), width=4)
    with pytest.raises(ShapeError, match=r"generator 'network.*' \(Network\) outputs \(1, 8, 8\).*"
                                         r"discriminator 'network.*' \(Network\) expects \(1, 16, 16\)"):
        GAN(g, dcgan_discriminator((1, 16, 16), width=4))
    with pytest.raises(ShapeError, match=r"plus 10 class channels.*\(11, 8, 8\)"):
        GAN(dcgan_generator(8, (1, 8, 8), width=4, n_classes=10), dcgan_discriminator((1, 8, 8), width=4),
            n_classes=10)
    G, D = _mlps()
    with pytest.raises(ConfigError, match="expected `latent_dim` .* received latent_dim=None"):
        GAN(G, D)
    with pytest.raises(ConfigError, match="expected `latent_dim` to be an integer >= 1, received 0"):
        GAN(G, D, latent_dim=0)
    with pytest.raises(ShapeError, match=r"does not accept noise of shape \(5,\)"):
        GAN(G, D, latent_dim=5)
    with pytest.raises(ShapeError, match=r"takes inputs of shape \(8,\), but latent_dim 6"):
        GAN(g, dcgan_discriminator((1, 8, 8), width=4), latent_dim=6)
    with pytest.raises(ShapeError, match=r"one score per sample, shape \(1,\), received \(3,\)"):
        GAN(G, nn.Linear(2, 3), latent_dim=4)
    with pytest.raises(DTypeError, match="expected `discriminator` to be a torch.nn.Module"):
        GAN(G, "d", latent_dim=4)
    with pytest.raises(ConfigError, match="`loss` to be one of"):
        GAN(G, D, latent_dim=4, loss="hinge")
    with pytest.raises(ConfigError, match="label_smoothing applies to the cross-entropy"):
        GAN(G, D, latent_dim=4, loss="wasserstein_gp", label_smoothing=0.1)


def test_data_errors():
    gan = GAN(dcgan_generator(8, (1, 8, 8), width=4), dcgan_discriminator((1, 8, 8), width=4))
    digits = np.random.default_rng(0).integers(0, 17, (20, 1, 8, 8)).astype(np.float32)
    with pytest.raises(DataError, match=r"expected real samples in \[-1, 1\], the range of the generator "
                                        r".*received values in \[0, 16\]; rescale them, e.g. x = 2 \* "
                                        r"\(x - 0\) / 16 \+ -1"):
        gan.fit(digits)
    with pytest.raises(ShapeError, match=r"expected real samples of shape \(N, 1, 8, 8\).*\(20, 64\)"):
        gan.fit(np.zeros((20, 64), np.float32))
    with pytest.raises(ConfigError, match="unconditional"):
        gan.fit(np.zeros((4, 1, 8, 8), np.float32), np.zeros(4, np.int64))
    cgan = GAN(dcgan_generator(8, (1, 8, 8), width=4, n_classes=3),
               dcgan_discriminator((1, 8, 8), width=4, n_classes=3), n_classes=3)
    x = np.zeros((4, 1, 8, 8), np.float32)
    with pytest.raises(DataError, match=r"class labels in \[0, 3\) for n_classes=3, received the label 3"):
        cgan.fit(x, np.array([0, 1, 2, 3]))
    with pytest.raises(DataError, match=r"expected class labels .* received None"):
        cgan.fit(x)
    with pytest.raises(DataError, match="expected 4 class labels, one per sample, received 3"):
        cgan.fit(x, [0, 1, 2])
    with pytest.raises(DataError, match="received the label -1"):
        cgan.sample(2, labels=[0, -1])


def _ring_gan(seed=0, **kw):
    torch.manual_seed(seed)
    g = L.Input((4,)) >> L.Relu(16) >> L.Linear(2)
    d = L.Input((2,)) >> L.Relu(16) >> L.Linear(1)
    return GAN(g, d, g_lr=1e-3, d_lr=1e-3, **kw)


def test_checkpoint_resume_is_bitwise(tmp_path):
    x = torch.randn(64, 2)
    full = _ring_gan()
    h_full = full.fit(x, epochs=4, batch_size=16, seed=1)
    part = _ring_gan()
    part.fit(x, epochs=2, batch_size=16, seed=1, callbacks=[Checkpoint(tmp_path / "ck")])
    resumed = _ring_gan(seed=99)                               # different weights before the resume
    h_res = resumed.fit(x, epochs=4, batch_size=16, seed=1, resume_from=tmp_path / "ck")
    assert h_res["d_loss"] == h_full["d_loss"] and h_res["g_loss"] == h_full["g_loss"]
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_resume_with_critic_steps_ema_and_schedule_is_bitwise(tmp_path):
    # WGAN-GP with 2 critic steps (the second draws a fresh batch from the run's generator),
    # an EMA generator and a decaying learning rate: 3 + 3 epochs equal 6 epochs exactly.
    from neuralab.schedules import polynomial_decay

    x = torch.randn(64, 2)

    def build(seed):
        return _ring_gan(seed, loss="wasserstein_gp", d_steps=2, ema=0.9, warn=False)

    def run(gan, epochs, **kw):
        return gan.fit(x, epochs=epochs, batch_size=16, seed=3, lr_schedule=polynomial_decay(6), **kw)

    full = build(0)
    h_full = run(full, 6)
    part = build(0)
    run(part, 3, callbacks=[Checkpoint(tmp_path / "ck")])
    resumed = build(7)
    h_res = run(resumed, 6, resume_from=tmp_path / "ck")
    assert h_res["d_loss"] == h_full["d_loss"] and h_res["gp"] == h_full["gp"]
    assert len(h_res["d_loss"]) == 6
    keys = list(full.state_dict())
    assert any(k.startswith("generator_ema.") for k in keys)
    for k in keys:
        assert torch.equal(full.state_dict()[k], resumed.state_dict()[k]), k
    assert torch.equal(full.sample(8, seed=0), resumed.sample(8, seed=0))


def test_nan_guard_stops_training():
    gan = _ring_gan(warn=False)
    gan.discriminator.layers[-1].bias.data.fill_(float("nan"))
    with pytest.raises(TrainingError, match=r"became NaN at epoch 1 of 2, step 1"):
        gan.fit(torch.randn(32, 2), epochs=2, batch_size=16)


def test_discriminator_collapse_warns():
    # a generator that cannot move (g_lr tiny) against a learning discriminator: D wins
    x = torch.randn(2048, 2) * 0.1 + 3.0
    gan = _ring_gan()
    gan.g_lr, gan.d_lr = 1e-12, 0.05
    with pytest.warns(GANWarning, match="discriminator's loss collapsed"):
        h = gan.fit(x, epochs=6, batch_size=64)
    assert h["d_loss"][-1] < 0.01 and h["d_real"][-1] > 0.99 and h["d_fake"][-1] < 0.01


def test_mode_collapse_warns():
    class Constant(nn.Module):                                 # ignores z: one mode
        def __init__(self):
            super().__init__()
            self.point = nn.Parameter(torch.zeros(2))

        def forward(self, z):
            return self.point.expand(z.shape[0], 2) + 0 * z[:, :2]

    G, D = Constant(), _mlps()[1]
    gan = GAN(G, D, latent_dim=4)
    with pytest.warns(GANWarning, match="mode collapse"):
        gan.fit(torch.randn(64, 2), epochs=5, batch_size=32)
    # and a diverse generator does not trigger it
    monitor = GANMonitor(GAN(*_mlps(), latent_dim=4), torch.randn(64, 2) * 0.3, None)
    assert monitor.diversity_ratio() > 0.1


def test_instance_noise_anneals_to_zero():
    gan = _ring_gan(instance_noise=0.5)
    t = GANTrainer(gan, progress=False)
    t.epochs = 4
    stds = []
    for e in range(4):
        t.epoch = e
        stds.append(t._noise_std())
    assert stds == [0.5, 0.375, 0.25, 0.125]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GANWarning)
        h = gan.fit(torch.randn(32, 2), epochs=2, batch_size=16)
    assert len(h["d_loss"]) == 2


def test_sample_grids_callback_writes_one_picture_per_epoch(tmp_path):
    gan = GAN(dcgan_generator(8, (1, 8, 8), width=4), dcgan_discriminator((1, 8, 8), width=4), warn=False)
    cb = SampleGrids(gan, tmp_path / "grids", n=16)
    gan.fit(torch.rand(32, 1, 8, 8) * 2 - 1, epochs=2, batch_size=16, callbacks=[cb])
    assert [p.rsplit("/", 1)[1] for p in cb.paths] == ["epoch_001.png", "epoch_002.png"]
    assert (tmp_path / "grids" / "epoch_002.png").stat().st_size > 100


def test_gradient_penalty_of_conditional_critic_uses_the_real_labels():
    cgan = GAN(dcgan_generator(8, (1, 8, 8), width=4, n_classes=2),
               dcgan_discriminator((1, 8, 8), width=4, n_classes=2, norm="layer"), n_classes=2,
               loss="wasserstein_gp", warn=False)
    h = cgan.fit(torch.rand(16, 1, 8, 8) * 2 - 1, torch.arange(16) % 2, epochs=1, batch_size=8)
    assert h["gp"][0] > 0
    x = torch.rand(4, 1, 8, 8)
    gp = gradient_penalty(lambda v: cgan.discriminate(v, torch.tensor([0, 1, 0, 1])), x, x.flip(0))
    assert gp.item() >= 0


def test_generator_ema_is_the_moving_average_and_what_sample_draws():
    G, D = _mlps()
    gan = GAN(G, D, latent_dim=4, ema=0.9, warn=False)
    before = [p.detach().clone() for p in G.parameters()]
    gan.fit(torch.randn(8, 2), epochs=1, batch_size=8)           # one G step
    for pe, p0, p in zip(gan.generator_ema.parameters(), before, G.parameters()):
        assert torch.allclose(pe, 0.9 * p0 + 0.1 * p.detach(), atol=1e-7)
    z = torch.randn(3, 4)
    assert torch.allclose(gan.sample(3, z=z), gan.generator_ema(z))
    assert not torch.allclose(gan.sample(3, z=z), G(z))
    assert any(k.startswith("generator_ema.") for k in gan.state_dict())   # checkpointed
    with pytest.raises(ConfigError, match=r"expected `ema` to be a finite number >= 0 and < 1"):
        GAN(G, D, latent_dim=4, ema=1.0)


def test_packing_scores_groups_of_samples():
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    D = nn.Sequential(nn.Linear(2 * 3, 16), nn.ReLU(), nn.Linear(16, 1))   # sees 3 points at once
    gan = GAN(G, D, latent_dim=4, pack=3, warn=False)
    x = torch.randn(6, 2)
    assert torch.allclose(gan.discriminate(x), D(x.reshape(2, 6)).reshape(-1))
    h = gan.fit(torch.randn(40, 2), epochs=1, batch_size=12)            # 3 batches, the rest dropped
    assert len(h["d_loss"]) == 1
    with pytest.raises(ConfigError, match="multiple of pack=3, received 10"):
        gan.fit(torch.randn(40, 2), epochs=1, batch_size=10)
    with pytest.raises(ShapeError, match=r"packed 3 to a discriminator input.*\(3, 8, 8\)"):
        GAN(dcgan_generator(8, (1, 8, 8), width=4), dcgan_discriminator((1, 8, 8), width=4), pack=3)
    GAN(dcgan_generator(8, (1, 8, 8), width=4), dcgan_discriminator((3, 8, 8), width=4), pack=3)


def test_truncation_draws_a_truncated_normal():
    from scipy.stats import truncnorm

    gan = GAN(*_mlps(), latent_dim=4)
    z = gan.noise(20000, generator=torch.Generator().manual_seed(0), truncation=1.0)
    assert z.abs().max() <= 1.0
    assert z.std().item() == pytest.approx(truncnorm(-1, 1).std(), rel=0.02)     # 0.5396
    assert gan.sample(5, seed=1, truncation=0.5).shape == (5, 2)
    with pytest.raises(ConfigError, match="`truncation` to be a finite number > 0"):
        gan.sample(5, truncation=0)


def test_lr_schedule_scales_both_learning_rates():
    from neuralab.schedules import polynomial_decay

    gan = _ring_gan(warn=False)
    seen = []

    class Spy(Callback):
        def on_epoch_end(self, epoch, logs=None):
            opts = self.trainer.optimizers
            seen.append((opts["optimizer"].param_groups[0]["lr"], opts["discriminator"].param_groups[0]["lr"]))

    gan.fit(torch.randn(32, 2), epochs=4, batch_size=16, lr_schedule=polynomial_decay(4), callbacks=[Spy()])
    assert seen == [pytest.approx((1e-3 * f, 1e-3 * f)) for f in (1.0, 0.75, 0.5, 0.25)]
