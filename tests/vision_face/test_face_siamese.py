"""Triplet/contrastive losses against hand formulas and PyTorch; miners against brute force."""

import itertools

import pytest
import torch
from torch import nn

from neuralab import layers as L
from neuralab.errors import ConfigError, DTypeError, ShapeError
from neuralab.vision.face import (Siamese, TripletMiner, contrastive_loss, pairwise_distances,
                                  train_triplet, triplet_loss)


def test_triplet_loss_is_cs230s_formula_by_hand():
    a = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    p = torch.tensor([[0.3, 0.4], [1.0, 1.0]])
    n = torch.tensor([[0.6, 0.8], [1.0, 1.2]])
    # row 0: 0.25 − 1.0 + 0.2 < 0 → 0; row 1: 0 − 0.04 + 0.2 = 0.16
    per = triplet_loss(a, p, n, margin=0.2, reduction="none")
    assert per.tolist() == pytest.approx([0.0, 0.16])
    assert float(triplet_loss(a, p, n, margin=0.2)) == pytest.approx(0.08)
    assert float(triplet_loss(a, p, n, margin=0.2, reduction="sum")) == pytest.approx(0.16)


@pytest.mark.parametrize("margin", [0.05, 0.3, 1.5])
def test_unsquared_triplet_loss_equals_torch(margin):
    g = torch.Generator().manual_seed(0)
    a, p, n = (torch.randn(16, 5, generator=g) for _ in range(3))
    ref = torch.nn.functional.triplet_margin_loss(a, p, n, margin=margin, eps=0.0)
    assert float(triplet_loss(a, p, n, margin, squared=False)) == pytest.approx(float(ref), rel=1e-5)
    ref_mod = torch.nn.TripletMarginLoss(margin=margin, eps=0.0, reduction="none")(a, p, n)
    torch.testing.assert_close(triplet_loss(a, p, n, margin, squared=False, reduction="none"), ref_mod)


def test_contrastive_loss_by_hand():
    a = torch.zeros(3, 2)
    b = torch.tensor([[0.6, 0.8], [0.6, 0.8], [3.0, 4.0]])   # distances 1, 1, 5
    same = torch.tensor([1, 0, 0])
    per = contrastive_loss(a, b, same, margin=2.0, reduction="none")
    assert per.tolist() == pytest.approx([1.0, 1.0, 0.0])  # d², (2 − 1)², max(2 − 5, 0)²


def test_loss_bad_input():
    a = torch.zeros(2, 3)
    with pytest.raises(ConfigError, match=r"triplet_loss: expected `margin` to be a finite number >= 0, received -0.1"):
        triplet_loss(a, a, a, margin=-0.1)
    with pytest.raises(ShapeError, match=r"expected `negative` to have the shape of `anchor` \(2, 3\), received \(2, 4\)"):
        triplet_loss(a, a, torch.zeros(2, 4))
    with pytest.raises(ConfigError, match="contrastive_loss: expected `margin`"):
        contrastive_loss(a, a, [1, 0], margin=-1)
    with pytest.raises(ShapeError, match=r"expected `b` to have the shape of `a`"):
        contrastive_loss(a, torch.zeros(3, 3), [1, 0])
    with pytest.raises(DTypeError, match="a tensor of embeddings"):
        triplet_loss([[0.0]], a, a)
    with pytest.raises(ConfigError, match="one of 'mean', 'sum', 'none'"):
        triplet_loss(a, a, a, reduction="max")


def test_pairwise_distances_equal_cdist():
    x = torch.randn(7, 4, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(pairwise_distances(x, squared=False), torch.cdist(x, x), atol=1e-5, rtol=0)


def brute_force(emb, labels, strategy, margin):
    d = ((emb[:, None] - emb[None]) ** 2).sum(-1).numpy()
    lab = labels.tolist()
    n = len(lab)
    out = []
    if strategy == "all":
        for a, p, q in itertools.product(range(n), repeat=3):
            if a != p and lab[a] == lab[p] and lab[q] != lab[a]:
                out.append((a, p, q))
    elif strategy == "hard":
        for a in range(n):
            pos = [p for p in range(n) if p != a and lab[p] == lab[a]]
            neg = [q for q in range(n) if lab[q] != lab[a]]
            if pos and neg:
                out.append((a, max(pos, key=lambda p: (d[a, p], -p)), min(neg, key=lambda q: (d[a, q], q))))
    else:
        for a in range(n):
            for p in range(n):
                if a == p or lab[a] != lab[p]:
                    continue
                ok = [q for q in range(n) if lab[q] != lab[a] and d[a, p] < d[a, q] < d[a, p] + margin]
                if ok:
                    out.append((a, p, min(ok, key=lambda q: (d[a, q], q))))
    return sorted(out)


@pytest.mark.parametrize("strategy", ["all", "hard", "semi-hard"])
@pytest.mark.parametrize("seed", [0, 1])
def test_miners_pick_what_brute_force_picks(strategy, seed):
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(12, 3, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 3, (12,), generator=g)
    a, p, q = TripletMiner(strategy, margin=1.0)(emb, labels)
    got = sorted(zip(a.tolist(), p.tolist(), q.tolist()))
    assert got == brute_force(emb, labels, strategy, 1.0)
    assert len(got) > 0


def test_miner_loss_and_bad_strategy():
    emb = torch.tensor([[0.0], [0.1], [0.15], [2.0]], requires_grad=True)
    loss = TripletMiner("hard", margin=0.5).loss(emb, torch.tensor([0, 0, 1, 1]))
    loss.backward()
    assert loss.item() > 0 and emb.grad is not None
    with pytest.raises(ConfigError, match="one of 'all', 'hard', 'semi-hard'"):
        TripletMiner("easy")
    with pytest.raises(ConfigError, match="expected `margin`"):
        TripletMiner("hard", margin=-1)


def test_siamese_shares_one_encoder_and_normalises():
    net = Siamese(nn.Sequential(nn.Flatten(), nn.Linear(4, 3)))
    a, b = torch.randn(2, 1, 2, 2), torch.randn(3, 1, 2, 2)
    za, zb = net(a, b)
    torch.testing.assert_close(za, net(a))
    torch.testing.assert_close(zb.norm(dim=1), torch.ones(3))
    raw = Siamese(net.encoder, normalize=False)
    torch.testing.assert_close(raw(a), net.encoder(a))
    with torch.no_grad():
        d = net.distance(a[:1], a[:1])
    assert float(d) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(DTypeError, match="torch.nn.Module"):
        Siamese(lambda x: x)


def test_train_triplet_separates_two_digit_classes():
    from sklearn.datasets import load_digits

    torch.manual_seed(0)
    d = load_digits()
    keep = d.target < 3
    x = torch.tensor(d.images[keep][:, None] / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target[keep])
    enc = L.Input((1, 8, 8)) >> L.Reshape() >> L.Relu(32) >> L.Linear(8)
    model = Siamese(enc)
    probe = torch.arange(0, len(x), 9)
    before = TripletMiner("all", 0.2).loss(model(x[probe]), y[probe]).item()
    hist = train_triplet(model, x, y, miner=TripletMiner("hard", 0.2), epochs=3,
                         batches_per_epoch=20, classes_per_batch=3, samples_per_class=8)
    after = TripletMiner("all", 0.2).loss(model(x[probe]), y[probe]).item()
    assert after < 0.5 * before and len(hist["loss"]) == 3


def _digits_012():
    from sklearn.datasets import load_digits

    d = load_digits()
    keep = d.target < 3
    return (torch.tensor(d.images[keep][:, None] / 16.0, dtype=torch.float32)[:240],
            torch.tensor(d.target[keep])[:240])


def _small_siamese():
    torch.manual_seed(0)
    return Siamese(L.Input((1, 8, 8)) >> L.Reshape() >> L.Relu(16) >> L.Linear(8))


def test_triplet_trainer_mines_in_train_step_and_learns():
    from neuralab.vision.face import TripletTrainer

    x, y = _digits_012()
    model = _small_siamese()
    probe = torch.arange(0, len(x), 6)
    before = TripletMiner("all", 0.2).loss(model(x[probe]), y[probe]).item()
    h = TripletTrainer(model, miner=TripletMiner("hard", 0.2), lr=1e-2).fit(x, y, epochs=8,
                                                                           batch_size=48)
    after = TripletMiner("all", 0.2).loss(model(x[probe]), y[probe]).item()
    assert after < 0.75 * before and len(h["loss"]) == 8 and min(h["triplets"]) > 0


def test_triplet_trainer_resumes_bitwise_from_a_checkpoint(tmp_path):
    from neuralab.training import Checkpoint
    from neuralab.vision.face import TripletTrainer

    x, y = _digits_012()
    straight = _small_siamese()
    TripletTrainer(straight, miner=TripletMiner("hard", 0.2)).fit(x, y, epochs=3, batch_size=48)
    first = _small_siamese()
    TripletTrainer(first, miner=TripletMiner("hard", 0.2),
                   callbacks=[Checkpoint(tmp_path)]).fit(x, y, epochs=2, batch_size=48)
    resumed = _small_siamese()
    TripletTrainer(resumed, miner=TripletMiner("hard", 0.2)).fit(x, y, epochs=3, batch_size=48,
                                                                 resume_from=tmp_path)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_triplet_trainer_needs_labels():
    from neuralab.errors import DataError
    from neuralab.vision.face import TripletTrainer

    with pytest.raises(DataError, match="identity labels y"):
        TripletTrainer(_small_siamese()).fit(torch.zeros(8, 1, 8, 8), epochs=1)


def test_info_nce_with_two_views_is_simclrs_cross_entropy():
    """SimCLR's NT-Xent: cross-entropy over each sample's similarities, its other view the target."""
    from neuralab.vision.face import info_nce_loss

    g = torch.Generator().manual_seed(0)
    z = torch.randn(10, 4, generator=g, dtype=torch.float64)
    labels = torch.arange(5).repeat(2)  # sample i and i + 5 are two views of one image
    zn = torch.nn.functional.normalize(z, dim=1)
    logits = (zn @ zn.T / 0.5).fill_diagonal_(float("-inf"))
    partner = (torch.arange(10) + 5) % 10
    ref = torch.nn.functional.cross_entropy(logits, partner)
    assert float(info_nce_loss(z, labels, temperature=0.5)) == pytest.approx(float(ref), rel=1e-12)


def test_info_nce_with_many_positives_averages_over_them_by_hand():
    from neuralab.vision.face import info_nce_loss

    z = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-1.0, 0.0]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 0, 1])  # sample 3 has no positive: left out
    s = z @ z.T  # rows are unit vectors, τ = 1
    per = []
    for i in range(3):
        denom = sum(torch.exp(s[i, k]) for k in range(4) if k != i)
        per.append(-sum(torch.log(torch.exp(s[i, p]) / denom) for p in range(3) if p != i) / 2)
    assert float(info_nce_loss(z, labels, temperature=1.0)) == pytest.approx(float(sum(per) / 3))
    none = info_nce_loss(z, labels, temperature=1.0, reduction="none")
    assert none[3] == 0 and none[:3].tolist() == pytest.approx([float(p) for p in per])
    with pytest.raises(ConfigError, match="expected `temperature` to be a finite number > 0"):
        info_nce_loss(z, labels, temperature=0.0)
    with pytest.raises(ShapeError, match=r"expected `labels` of shape \(4,\), received \(3,\)"):
        info_nce_loss(z, labels[:3])


def test_triplet_trainer_info_nce_with_instance_views_learns():
    from neuralab.vision.face import TripletTrainer, info_nce_loss

    x, y = _digits_012()
    model = _small_siamese()
    probe = torch.arange(0, len(x), 6)
    before = info_nce_loss(model(x[probe]), y[probe]).item()
    gen = torch.Generator().manual_seed(0)
    h = TripletTrainer(model, identity_loss="info-nce", instance_weight=1.0, lr=1e-2,
                       augment=lambda b: b + 0.05 * torch.randn(b.shape, generator=gen)
                       ).fit(x, y, epochs=6, batch_size=48)
    after = info_nce_loss(model(x[probe]), y[probe]).item()
    assert after < 0.75 * before and len(h["loss"]) == 6
    with pytest.raises(ConfigError, match="expected `augment` to be a callable when instance_weight > 0"):
        TripletTrainer(model, instance_weight=1.0)
    with pytest.raises(ConfigError, match="one of 'triplet', 'info-nce'"):
        TripletTrainer(model, identity_loss="softmax")


def test_view_average_is_the_mean_embedding_and_one_image_one_embedding():
    from neuralab.vision.face import ViewAverage

    torch.manual_seed(0)
    enc = Siamese(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 5)))
    views = [lambda x: x.flip(-1), lambda x: x.roll(1, -2), lambda x: 0.5 * x]
    tta = ViewAverage(enc, views)
    x = torch.randn(6, 1, 4, 4)
    with torch.no_grad():
        ref = torch.nn.functional.normalize(enc(x) + sum(enc(v(x)) for v in views), dim=1)
        got = tta(x)
        torch.testing.assert_close(got, ref)
        torch.testing.assert_close(tta(x[2:3]), got[2:3])  # independent of the batch it comes in
    assert repr(tta).startswith("ViewAverage(\n  views=3")
    with pytest.raises(DTypeError, match="expected `views` to be a sequence of callables"):
        ViewAverage(enc, [1])
    with pytest.raises(ShapeError, match=r"each view to keep the batch's shape \(6, 1, 4, 4\), "
                                         r"received \(6, 1, 2, 4\)"):
        ViewAverage(enc, [lambda x: x[..., :2, :]])(x)


def test_triplet_trainer_enters_each_image_as_several_views():
    from neuralab.vision.face import TripletTrainer, info_nce_loss

    x, y = _digits_012()
    seen = []

    def augment(b):
        seen.append(len(b))
        return b + 0.01

    model = _small_siamese()
    probe = torch.arange(0, len(x), 6)
    before = info_nce_loss(model(x[probe]), y[probe]).item()
    TripletTrainer(model, identity_loss="info-nce", views=3, augment=augment, lr=1e-2).fit(
        x, y, epochs=4, batch_size=48)
    assert seen[:3] == [48, 48, 48] and len(seen) == 3 * 4 * 5  # 3 views, 5 batches, 4 epochs
    assert info_nce_loss(model(x[probe]), y[probe]).item() < 0.75 * before
    with pytest.raises(ConfigError, match="expected `augment` to be a callable when views > 1"):
        TripletTrainer(model, views=2)
    with pytest.raises(ConfigError, match="expected `views` to be at least 2 when instance_weight"):
        TripletTrainer(model, views=1, instance_weight=1.0, augment=augment)
