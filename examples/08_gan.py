"""A GAN in a few lines: a generator and a discriminator trained against each other.

Run: .venv/bin/python examples/08_gan.py   (a few seconds on one CPU core)
The full chapter (8-Gaussian ring, DCGAN and conditional DCGAN on digits, FID):
`neuralab demo gan`.
"""

import numpy as np
import torch

from neuralab import layers as L
from neuralab.generative import (GAN, dcgan_discriminator, dcgan_generator, fid, make_gaussian_ring,
                                 mode_coverage, sample_grid)

torch.manual_seed(0)

# 1. Real data: a tilted 2-D Gaussian. G maps 4-D noise to points, D scores points (logits).
rng = np.random.default_rng(0)
x = (rng.normal(size=(2048, 2)) @ np.array([[0.5, 0.0], [0.3, 0.3]]).T + [1.0, -1.0]).astype(np.float32)
generator = L.Input((4,)) >> L.Relu(32) >> L.Relu(32) >> L.Linear(2)
discriminator = L.Input((2,)) >> L.LeakyRelu(32, alpha=0.2) >> L.LeakyRelu(32, alpha=0.2) >> L.Linear(1)
gan = GAN(generator, discriminator, loss="non_saturating", g_lr=5e-3, d_lr=5e-3, betas=(0.0, 0.9))

# FID: the Fréchet distance between Gaussians fitted to two sample sets (here: the points).
before = fid(x[:1000], gan.sample(1000, seed=1).numpy())
history = gan.fit(x, epochs=12, batch_size=128)         # the Trainer: progress, callbacks, resume
after = fid(x[:1000], gan.sample(1000, seed=1).numpy())
print(f"epoch 12: d_loss {history['d_loss'][-1]:.3f}, g_loss {history['g_loss'][-1]:.3f}")
print(f"FID(real, generated): {before:.3f} before training, {after:.3f} after "
      f"(two real halves: {fid(x[:1000], x[1000:2000]):.3f})")

# 2. Mode coverage on a mixture with known modes (the demo trains a GAN on this ring).
ring, modes = make_gaussian_ring(1000, std=0.02, seed=0)
print("modes covered by real ring data:", mode_coverage(ring, modes, std=0.02)["modes_covered"], "of 8")

# 3. The DCGAN recipe for images, and a conditional one (the class goes to both players).
cgan = GAN(dcgan_generator(32, (1, 16, 16), n_classes=10),
           dcgan_discriminator((1, 16, 16), n_classes=10), n_classes=10)
images = cgan.sample(20, labels=np.arange(20) % 10, seed=0)
print("conditional DCGAN samples:", tuple(images.shape), "grid:", sample_grid(images, nrow=10).shape)
