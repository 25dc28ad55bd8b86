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

# 1. Points on a ring of 8 Gaussians; G maps 8-D noise to points, D scores points (logits).
x, modes = make_gaussian_ring(1024, std=0.05, seed=0)
generator = L.Input((8,)) >> L.Relu(64) >> L.BatchNorm() >> L.Relu(64) >> L.Linear(2)
discriminator = L.Input((2,)) >> L.LeakyRelu(64, alpha=0.2) >> L.LeakyRelu(64, alpha=0.2) >> L.Linear(1)
gan = GAN(generator, discriminator, loss="non_saturating", g_lr=1e-3, d_lr=1e-3)
history = gan.fit(x, epochs=5, batch_size=128)           # the Trainer: progress, callbacks, resume
print(f"epoch 5: d_loss {history['d_loss'][-1]:.3f}, g_loss {history['g_loss'][-1]:.3f}")

samples = gan.sample(500, seed=1).numpy()
cover = mode_coverage(samples, modes, std=0.05)
print(f"modes covered: {cover['modes_covered']} of 8, "
      f"within 3 sigma of a mode: {cover['high_quality_fraction']:.0%}")

# 2. FID compares the Gaussians fitted to two sets of features (here: the points themselves).
print(f"FID(real, generated) = {fid(x[:500], samples):.3f}   FID(real, real) = "
      f"{fid(x[:500], x[500:1000]):.3f}")

# 3. The DCGAN recipe for images, and a conditional one (the class goes to both players).
cgan = GAN(dcgan_generator(32, (1, 16, 16), n_classes=10),
           dcgan_discriminator((1, 16, 16), n_classes=10), n_classes=10)
images = cgan.sample(20, labels=np.arange(20) % 10, seed=0)
print("conditional DCGAN samples:", tuple(images.shape), "grid:", sample_grid(images, nrow=10).shape)
