"""InfoGAN's categorical code (GAN(info_codes=C, info_network=Q)): the step equals a hand-written
torch step, sampling draws the code from its prior, bad input is refused, and a short run makes
the code mean something (checked by nearest clusters, not by Q)."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neuralab import layers as L
from neuralab.errors import ConfigError, DataError, DTypeError, ShapeError
from neuralab.generative import GAN, GANTrainer


def _nets(latent=4, codes=3, h=16, seed=0):
    torch.manual_seed(seed)
    g = nn.Sequential(nn.Linear(latent + codes, h), nn.ReLU(), nn.Linear(h, 2))
    d = nn.Sequential(nn.Linear(2, h), nn.ReLU(), nn.Linear(h, 1))
    q = nn.Sequential(nn.Linear(2, h), nn.ReLU(), nn.Linear(h, codes))
    return g, d, q


def test_info_step_equals_hand_written_torch_step():
    G, D, Q = _nets()
    G2, D2, Q2 = copy.deepcopy(G), copy.deepcopy(D), copy.deepcopy(Q)
    x = torch.randn(8, 2)
    gan = GAN(G, D, latent_dim=4, info_codes=3, info_network=Q, info_weight=0.7, warn=False)
    h = GANTrainer(gan, progress=False, seed=5).fit(x, epochs=1, batch_size=8, shuffle=False)
    # the formulas, with the Trainer's seeding: z then c for D's fakes, again for G's
    torch.manual_seed(5)
    go = torch.optim.Adam(list(G2.parameters()) + list(Q2.parameters()), gan.g_lr, betas=gan.betas)
    do = torch.optim.Adam(D2.parameters(), gan.d_lr, betas=gan.betas)
    z, c = torch.randn(8, 4), torch.randint(0, 3, (8,))
    with torch.no_grad():
        fake = G2(torch.cat([z, F.one_hot(c, 3).float()], 1))
    dl = -F.logsigmoid(D2(x)).mean() - F.logsigmoid(-D2(fake)).mean()
    do.zero_grad()
    dl.backward()
    do.step()
    z, c = torch.randn(8, 4), torch.randint(0, 3, (8,))
    fake = G2(torch.cat([z, F.one_hot(c, 3).float()], 1))
    q_logp = torch.log_softmax(Q2(fake), 1)[torch.arange(8), c]
    gl = -F.logsigmoid(D2(fake)).mean() - 0.7 * q_logp.mean()
    go.zero_grad()
    gl.backward()
    go.step()
    assert h["d_loss"][0] == pytest.approx(dl.item(), rel=1e-5)
    assert h["g_loss"][0] == pytest.approx(gl.item(), rel=1e-5)
    assert h["info_loss"][0] == pytest.approx(-q_logp.mean().item(), rel=1e-5)
    for a, b in zip([*G.parameters(), *D.parameters(), *Q.parameters()],
                    [*G2.parameters(), *D2.parameters(), *Q2.parameters()]):
        assert torch.allclose(a, b, atol=1e-7)


def test_sample_draws_the_code_from_its_prior_or_takes_it():
    G, D, Q = _nets()
    net = L.Input((7,)) >> L.Relu(16) >> L.Linear(2)
    assert GAN(net, D, info_codes=3, info_network=Q).latent_dim == 4     # read from G: 7 − 3
    gan = GAN(G, D, latent_dim=4, info_codes=3, info_network=Q)
    gen = torch.Generator().manual_seed(9)
    z, c = torch.randn(6, 4, generator=gen), torch.randint(0, 3, (6,), generator=gen)
    expected = G(torch.cat([z, F.one_hot(c, 3).float()], 1))
    assert torch.allclose(gan.sample(6, seed=9), expected, atol=1e-6)
    fixed = torch.tensor([2, 2, 0, 1, 0, 2])
    assert torch.allclose(gan.sample(6, z=z, codes=fixed),
                          G(torch.cat([z, F.one_hot(fixed, 3).float()], 1)), atol=1e-6)
    strip = gan.interpolate(4, seed=1)                     # one code along the strip
    gen = torch.Generator().manual_seed(1)
    ends = torch.randn(2, 4, generator=gen)
    code = torch.randint(0, 3, (1,), generator=gen)
    assert torch.allclose(strip[0], gan.sample(1, z=ends[:1], codes=code)[0], atol=1e-6)
    assert torch.allclose(strip[-1], gan.sample(1, z=ends[1:], codes=code)[0], atol=1e-6)


def test_info_errors():
    G, D, Q = _nets()
    with pytest.raises(ConfigError, match="info_codes=3 needs `info_network`"):
        GAN(G, D, latent_dim=4, info_codes=3)
    with pytest.raises(ConfigError, match="received an `info_network` but info_codes=0"):
        GAN(G, D, latent_dim=7, info_network=Q)
    with pytest.raises(ConfigError, match="at least 2 values .* received 1"):
        GAN(G, D, latent_dim=4, info_codes=1, info_network=Q)
    with pytest.raises(ShapeError, match=r"info_network .* to return 3 logits per sample .* received \(5,\)"):
        GAN(G, D, latent_dim=4, info_codes=3, info_network=nn.Linear(2, 5))
    with pytest.raises(ShapeError, match=r"takes inputs of shape \(7,\), but latent_dim 5 \+ info_codes 3"):
        GAN(L.Input((7,)) >> L.Linear(2), D, latent_dim=5, info_codes=3, info_network=Q)
    with pytest.raises(DTypeError, match="info_network.*a torch.nn.Module.*received.*function"):
        GAN(G, D, latent_dim=4, info_codes=3, info_network=lambda x: x)
    with pytest.raises(ShapeError, match="takes 3 inputs, which leaves no latent vector beside "
                                         "the 3 one-hot code inputs"):
        GAN(L.Input((3,)) >> L.Linear(2), D, info_codes=3, info_network=Q)
    gan = GAN(G, D, latent_dim=4, info_codes=3, info_network=Q)
    with pytest.raises(DataError, match=r"codes in \[0, 3\), received values in \[0, 3\]"):
        gan.sample(2, codes=[0, 3])
    with pytest.raises(DataError, match="expected 2 integer codes, received 3"):
        gan.sample(2, codes=[0, 1, 2])
    with pytest.raises(ConfigError, match="has no categorical code"):
        GAN(G, D, latent_dim=7).sample(2, codes=[0, 1])


def test_code_learns_the_clusters():
    # Four well-separated 2-D clusters. With a 4-valued code, InfoGAN's G should give each code
    # its own cluster. Judged by the nearest cluster centre (not by Q): the clustering accuracy
    # of the best one-to-one map code → cluster (Hungarian). 128 steps. Measured: 1.0 with the
    # code term, 0.25 without it (info_weight=0: every code draws the same cluster).
    from scipy.optimize import linear_sum_assignment

    rng = np.random.default_rng(0)
    centres = np.array([[2.0, 2.0], [-2.0, 2.0], [-2.0, -2.0], [2.0, -2.0]], np.float32)
    x = centres[rng.integers(0, 4, 2048)] + 0.1 * rng.standard_normal((2048, 2)).astype(np.float32)

    def accuracy(weight):
        torch.manual_seed(0)
        h = 32
        g = nn.Sequential(nn.Linear(4 + 4, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 2))
        d = nn.Sequential(nn.Linear(2, h), nn.LeakyReLU(0.2), nn.Linear(h, 1))
        q = nn.Sequential(nn.Linear(2, h), nn.LeakyReLU(0.2), nn.Linear(h, 4))
        gan = GAN(g, d, latent_dim=4, info_codes=4, info_network=q, info_weight=weight,
                  g_lr=2e-3, d_lr=2e-3, output_range=None, warn=False)
        gan.fit(x, epochs=8, batch_size=128, seed=0)
        codes = np.arange(800) % 4
        s = gan.sample(800, codes=codes, seed=1).numpy()
        nearest = ((s[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
        counts = np.zeros((4, 4))
        np.add.at(counts, (codes, nearest), 1)
        rows, cols = linear_sum_assignment(-counts)
        return counts[rows, cols].sum() / 800

    with_code, without = accuracy(1.0), accuracy(0.0)
    assert with_code >= 0.9, with_code
    assert without <= 0.6, without
