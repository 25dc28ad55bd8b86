"""Faces: a Haar cascade on LFW crops, triplet loss, verification and a 1:K lookup.

Runs in a few seconds; `neuralab demo faces` is the full-size version.
"""

import numpy as np
import torch

from neuralab.vision.face import (FaceDatabase, FaceVerifier, HaarCascade, TripletMiner,
                                  load_lfw_windows, triplet_loss)

torch.manual_seed(0)

# 1. Detection: a small Viola–Jones cascade on scikit-image's lfw_subset (25×25 windows).
x, y, x_test, y_test = load_lfw_windows(test_size=0.25, seed=0)
cascade = HaarCascade(n_stages=3, features_per_stage=800, max_stumps_per_stage=15,
                      negative_images=None).fit(x, y)
pred = cascade.predict(x_test)
print(f"cascade: {len(cascade.stages_)} stages, {cascade.n_stumps_} stumps; "
      f"held-out faces found {pred[y_test == 1].mean():.0%}, "
      f"non-faces accepted {pred[y_test == 0].mean():.0%}")

# 2. The triplet loss, CS230's max(‖f(A) − f(P)‖² − ‖f(A) − f(N)‖² + α, 0).
a, p, n = torch.tensor([[0.0, 0.0]]), torch.tensor([[0.3, 0.0]]), torch.tensor([[0.5, 0.0]])
print("triplet loss:", round(float(triplet_loss(a, p, n, margin=0.2)), 4))  # 0.09 − 0.25 + 0.2

# 3. Mining: for each anchor, the farthest positive and the nearest negative in the batch.
emb = torch.tensor([[0.0], [0.1], [1.0], [0.3]])
anchors, positives, negatives = TripletMiner("hard")(emb, torch.tensor([0, 0, 1, 1]))
print("hard triplets:", list(zip(anchors.tolist(), positives.tolist(), negatives.tolist())))

# 4. Verification (1:1) with a threshold from a validation ROC, then recognition (1:K).
rng = np.random.default_rng(0)
centres = torch.tensor(rng.normal(size=(5, 8)), dtype=torch.float32)
def samples(k, n):  # noqa: E302 - identity k's "images" are noisy copies of its centre
    return centres[k] + 0.15 * torch.randn(n, 8)
va = torch.cat([samples(k, 10) for k in range(5)])
vb = torch.cat([samples(k if i % 2 else (k + 1) % 5, 1) for k in range(5) for i in range(10)])
same = np.array([i % 2 == 1 for k in range(5) for i in range(10)])
verifier = FaceVerifier().fit(va, vb, same)
print(f"verifier: threshold {verifier.threshold_:.3f}, validation EER {verifier.eer_:.2f}")
db = FaceDatabase(threshold=verifier)
for k in range(3):
    db.enroll(f"person-{k}", samples(k, 1))   # one-shot: one image per identity
name, distance = db.identify(samples(1, 1)[0])
stranger, _ = db.identify(samples(4, 1)[0])
print(f"identify: {name} (distance {distance:.3f}); a stranger is {stranger}")

# 5. S-norm: each distance in units of the two images' own spread of distances to a cohort of
#    known identities (other than their own), so that τ carries over to identities never seen.
ids_a = np.repeat(np.arange(5), 10)
ids_b = np.array([k if i % 2 else (k + 1) % 5 for k in range(5) for i in range(10)])
normed = FaceVerifier(cohort=torch.cat([samples(k, 20) for k in range(5)]),
                      cohort_labels=np.repeat(np.arange(5), 20))
normed.fit(va, vb, same, identities=(ids_a, ids_b))
print(f"S-norm verifier: threshold {normed.threshold_:.2f}, validation EER {normed.eer_:.2f}")
