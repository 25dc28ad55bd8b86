"""The feeds: one global permutation per epoch split by rank; one evaluation path for arrays and Datasets."""

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from neuralab import layers as L
from neuralab.errors import DataError
from neuralab.training import _data, _feed, evaluate, fit


class Pairs(Dataset):
    def __init__(self, x, y=None):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i] if self.y is None else (self.x[i], self.y[i])


X = torch.arange(46, dtype=torch.float32).reshape(23, 2)
Y = torch.arange(23) % 3


def _feed_batches(shuffle, seed, epochs=2):
    g = torch.Generator().manual_seed(seed)
    feed = _feed.StreamFeed(_data.Stream(dataset=Pairs(X, Y)), 5, shuffle, False, g, torch.device("cpu"),
                            torch.nn.Linear(2, 3))
    return [[xb[0].clone() for xb, _ in feed.batches(e)] for e in range(epochs)]


@pytest.mark.parametrize("shuffle", [True, False])
def test_a_single_process_sees_the_batches_of_torchs_own_dataloader(shuffle):
    g = torch.Generator().manual_seed(7)
    loader = DataLoader(Pairs(X, Y), batch_size=5, shuffle=shuffle, generator=g)   # the reference
    want = [[xb.clone() for xb, _ in loader] for _ in range(2)]
    got = _feed_batches(shuffle, 7)
    assert len(got[0]) == len(want[0]) == 5
    for a, b in zip(got, want):
        for p, q in zip(a, b):
            torch.testing.assert_close(p, q, rtol=0, atol=0)
    if shuffle:
        assert not torch.equal(torch.cat(got[0]), torch.cat(got[1]))          # reshuffled each epoch


def test_ranks_split_each_global_batch_of_the_same_permutation():
    def shares(rank, world):
        g = torch.Generator().manual_seed(3)
        return [list(b) for _ in range(2)
                for b in [*_feed.GlobalBatches(23, 6, True, False, g, rank, world)]]

    one = shares(0, 1)
    r0, r1 = shares(0, 2), shares(1, 2)
    assert len(r0) == len(r1) == len(one) == 8                                # 4 steps x 2 epochs
    for whole, a, b in zip(one, r0, r1):
        assert a == whole[0::2] and b == whole[1::2]
    three = [shares(r, 3) for r in range(3)]                                  # batch 23 - 18 = 5 >= 3
    assert all(len(s) == 8 for s in three)


def test_evaluate_takes_one_path_for_arrays_and_datasets():
    torch.manual_seed(0)
    net = L.Input(2) >> L.Relu(4) >> L.Linear(3)
    fit(net, X / 46, Y, epochs=1, progress=False, seed=0)
    a = evaluate(net, X / 46, Y, metrics="accuracy", batch_size=7)
    b = evaluate(net, Pairs(X / 46, Y), metrics="accuracy", batch_size=7)
    assert a.keys() == b.keys() == {"loss", "accuracy"}
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-6) and a["accuracy"] == b["accuracy"]
    with pytest.raises(DataError, match=r"^evaluate: expected targets y for x, received y=None$"):
        evaluate(net, X, None)
    with pytest.raises(DataError, match=r"^evaluate: the dataset yields inputs only: expected \(input, "
                                        r"target\) pairs$"):
        evaluate(net, Pairs(X))
    with pytest.raises(DataError, match=r"^fit: the dataset yields inputs only"):
        fit(net, Pairs(X), progress=False)
