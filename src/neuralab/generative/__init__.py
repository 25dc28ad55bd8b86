"""Generative adversarial networks, with quality measured rather than eyeballed.

- :class:`GAN` (``loss="non_saturating" | "minimax" | "wasserstein_gp"``, ``d_steps``,
  separate learning rates, conditional with ``n_classes``, InfoGAN's categorical code with
  ``info_codes``, label smoothing, instance noise, EMA, collapse warnings), trained by :class:`GANTrainer` on
  :class:`neuralab.training.Trainer`;
- :func:`dcgan_generator`, :func:`dcgan_discriminator`: the DCGAN recipe, 8×8 to 64×64;
- losses: :func:`discriminator_loss`, :func:`generator_loss`, :func:`gradient_penalty`;
- metrics: :func:`frechet_distance`, :func:`fid`, :func:`mode_coverage`,
  :func:`class_coverage`, and :class:`DigitsClassifier` (:func:`digits_classifier`,
  :func:`features`) for FID on digits;
- pictures: :func:`sample_grid`, :func:`save_image`, the :class:`SampleGrids` callback;
- data: :func:`make_gaussian_ring` (the 8-Gaussian ring).

    >>> import torch
    >>> from neuralab.generative import GAN, dcgan_generator, dcgan_discriminator
    >>> gan = GAN(dcgan_generator(32, (1, 8, 8), width=16), dcgan_discriminator((1, 8, 8), width=16))
    >>> x = torch.rand(128, 1, 8, 8) * 2 - 1              # real samples in tanh's range
    >>> history = gan.fit(x, epochs=2, batch_size=32)
    >>> sorted(k for k in history.history if k.startswith(("d_", "g_")))
    ['d_fake', 'd_loss', 'd_real', 'g_loss']
    >>> tuple(gan.sample(16, seed=0).shape)
    (16, 1, 8, 8)
"""

from ._data import make_gaussian_ring
from ._gan import GAN, GANMonitor, GANWarning, output_range_of
from ._losses import LOSSES, discriminator_loss, generator_loss, gradient_penalty
from ._metrics import (DigitsClassifier, class_coverage, digits_classifier, features, fid,
                       frechet_distance, mode_coverage)
from ._networks import dcgan_discriminator, dcgan_generator
from ._plots import SampleGrids, sample_grid, save_image
from ._trainer import GANTrainer

__all__ = [
    "GAN", "GANTrainer", "GANMonitor", "GANWarning", "LOSSES", "output_range_of",
    "dcgan_generator", "dcgan_discriminator",
    "discriminator_loss", "generator_loss", "gradient_penalty",
    "frechet_distance", "fid", "mode_coverage", "class_coverage", "DigitsClassifier", "digits_classifier", "features",
    "sample_grid", "save_image", "SampleGrids",
    "make_gaussian_ring",
]
