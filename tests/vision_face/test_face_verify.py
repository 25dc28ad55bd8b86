"""ROC/EER against scikit-learn; verification and the 1:K database."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_curve as sk_roc_curve

from neuralab.errors import DataError, NotFittedError, ShapeError
from neuralab.vision.face import FaceDatabase, FaceVerifier, equal_error_rate, roc_curve


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_equals_sklearn_on_the_same_scores(seed):
    rng = np.random.default_rng(seed)
    same = rng.random(200) < 0.5
    d = np.where(same, rng.normal(0.5, 0.3, 200), rng.normal(1.2, 0.4, 200)).round(2)  # with ties
    far, tar, tau = roc_curve(d, same)
    ref_fpr, ref_tpr, ref_thr = sk_roc_curve(same, -d, drop_intermediate=False)
    np.testing.assert_allclose(far, ref_fpr)
    np.testing.assert_allclose(tar, ref_tpr)
    np.testing.assert_allclose(tau[1:], -ref_thr[1:])
    eer, t = equal_error_rate(d, same)
    i = np.argmin(np.abs(ref_fpr - (1 - ref_tpr)))
    assert eer == pytest.approx((ref_fpr[i] + 1 - ref_tpr[i]) / 2)
    assert t == pytest.approx(-ref_thr[i])


def test_verifier_threshold_at_a_target_false_accept_rate():
    rng = np.random.default_rng(3)
    za = torch.zeros(400, 2)
    same = np.arange(400) % 2 == 0
    r = np.where(same, rng.uniform(0, 1, 400), rng.uniform(0.5, 2, 400))
    zb = torch.tensor(np.stack([r, np.zeros(400)], 1), dtype=torch.float32)
    v = FaceVerifier(squared=False, target_far=0.05).fit(za, zb, same)
    accepted, d = v.verify(za, zb)
    far = accepted.numpy()[~same].mean()
    neg = d[~same].sort().values
    assert far <= 0.05 and float(neg[9]) <= v.threshold_ < float(neg[10])
    eer = FaceVerifier(squared=False).fit(za, zb, same)
    assert 0 < eer.eer_ < 0.3 and 0.4 < eer.threshold_ < 1.0


def test_verifier_errors():
    with pytest.raises(NotFittedError, match="no threshold yet"):
        FaceVerifier().verify(torch.zeros(1, 2), torch.zeros(1, 2))
    with pytest.raises(ShapeError, match=r"embeddings of one shape, received \(1, 2\) and \(1, 3\)"):
        FaceVerifier(threshold=1.0).verify(torch.zeros(1, 2), torch.zeros(1, 3))
    with pytest.raises(DataError, match="both same-identity and different-identity pairs"):
        FaceVerifier().fit(torch.zeros(2, 2), torch.ones(2, 2), [1, 1])


def test_database_identifies_rejects_and_complains():
    db = FaceDatabase(threshold=0.5)
    with pytest.raises(NotFittedError, match="FaceDatabase is empty: enroll"):
        db.identify(torch.zeros(2))
    db.enroll("ada", torch.tensor([[0.0, 0.0], [0.0, 0.2]]))
    db.enroll("bob", torch.tensor([[1.0, 1.0]]))
    names, d = db.identify(torch.tensor([[0.0, 0.25], [0.9, 1.0], [3.0, 3.0]]))
    assert names == ["ada", "bob", None]
    assert d.tolist() == pytest.approx([0.0025, 0.01, 8.0])
    assert db.identify(torch.tensor([0.0, 0.1]))[0] == "ada"
    with pytest.raises(ShapeError, match="embeddings of size 2 like those enrolled, received 3"):
        db.enroll("cy", torch.zeros(1, 3))
    with pytest.raises(DataError, match="at least one image for 'cy'"):
        db.enroll("cy", torch.zeros(0, 2))
    db.remove("ada")
    db.remove("bob")
    with pytest.raises(NotFittedError, match="empty"):
        db.identify(torch.zeros(2))


def test_database_uses_the_verifier_threshold_and_embedder():
    enc = torch.nn.Flatten()
    v = FaceVerifier(enc, threshold=0.3)
    db = FaceDatabase(threshold=v)
    db.enroll("ones", torch.ones(1, 1, 2, 2))
    assert db.identify(torch.ones(1, 2, 2)) == ("ones", 0.0)
    assert db.identify(torch.zeros(1, 2, 2))[0] is None
    with pytest.raises(ShapeError, match=r"samples of shape \(1, 2, 2\)"):
        db.identify(torch.zeros(3, 3))
