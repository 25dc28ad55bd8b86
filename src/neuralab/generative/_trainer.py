"""GANTrainer: the Trainer with an adversarial ``train_step`` (D then G, two optimizers)."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from ..training import Trainer
from ._gan import GAN, GANMonitor
from ._losses import discriminator_loss, generator_loss, gradient_penalty

__all__ = ["GANTrainer"]


class _Game(nn.Module):
    """What the Trainer holds: the GAN, seen as "real samples (and labels) in, D's scores out".

    The engine probes its module on a first batch of the data; a GAN's data are real
    samples, which the discriminator reads, so that is this module's forward. Its
    ``state_dict`` (the checkpoints') holds G and D under ``gan.``.
    """

    def __init__(self, gan: GAN):
        super().__init__()
        self.gan = gan

    def forward(self, x, labels=None):
        return self.gan.discriminate(x, None if labels is None else labels.long())


class GANTrainer(Trainer):
    """Trains a :class:`GAN`: :meth:`train_step` alternates discriminator and generator updates.

    The generator's Adam is the default optimizer (``optimizers["optimizer"]``), the
    discriminator's is ``optimizers["discriminator"]``; both are checkpointed and follow
    an ``lr_schedule``. Everything else (epochs, shuffling, progress, callbacks,
    checkpoint/resume, the NaN guard, seeds, device) is the :class:`~neuralab.training.Trainer`'s.

    Step logs (epoch means in the History): ``d_loss``, ``g_loss``, ``loss`` (= ``g_loss``),
    ``d_real`` and ``d_fake`` (D's mean output on real and fake samples: probabilities
    for the cross-entropy losses, critic scores for wasserstein_gp) and ``gp`` (the
    gradient penalty, wasserstein_gp only) and ``info_loss`` (Q's cross-entropy on the
    code, ``info_codes`` only; ``g_loss`` includes ``info_weight`` times it).

    Args:
        gan: the :class:`GAN` to train.
        **kwargs: :class:`~neuralab.training.Trainer` arguments (callbacks, progress,
            device, seed, lr_schedule); not optimizer/lr/loss, which the GAN sets.
    """

    def __init__(self, gan: GAN, **kwargs):
        for key in ("optimizer", "lr", "loss"):
            if key in kwargs:
                raise TypeError(f"GANTrainer: `{key}` is set by the GAN (g_lr, d_lr, betas, loss)")
        self.gan = gan
        g_opt, d_opt = gan.make_optimizers()
        super().__init__(_Game(gan), optimizer=g_opt, loss=None, **kwargs)
        self.optimizers["discriminator"] = d_opt

    def fit(self, x=None, y=None, **kwargs):
        """Train on real samples ``x`` (labels ``y`` for a conditional GAN); see :meth:`GAN.fit`."""
        xt, labels = self.gan.check_data(x, y, owner="GANTrainer.fit")
        m = self.gan.pack
        if m > 1:
            batch_size = kwargs.get("batch_size", 32)
            if not isinstance(batch_size, int) or batch_size % m:
                raise ConfigError(f"GANTrainer.fit: expected `batch_size` to be a multiple of "
                                  f"pack={m}, received {batch_size!r}")
            kwargs["batch_size"] = batch_size
            kwargs["drop_last"] = True          # every batch splits into whole packs
        if self.gan.warn:
            self.callbacks.append(GANMonitor(self.gan, xt, labels))
        data = xt if labels is None else (xt, labels)
        self._real = (xt, labels)      # extra critic steps draw fresh real batches from here
        try:
            return super().fit(data, None, **kwargs)
        finally:
            if self.gan.warn:
                self.callbacks.pop()

    def _fresh_batch(self, n: int, device):
        """``n`` real samples drawn uniformly (with replacement) with the run's generator."""
        xt, labels = self._real
        idx = torch.randint(0, xt.shape[0], (n,), generator=self.generator)
        return xt[idx].to(device), (None if labels is None else labels[idx].to(device))

    def _noise_std(self) -> float:
        sigma0 = self.gan.instance_noise
        if not sigma0:
            return 0.0
        return sigma0 * max(0.0, 1.0 - self.epoch / max(1, self.epochs))

    def train_step(self, batch) -> dict:
        gan = self.gan
        xs, _ = batch
        real = xs[0]
        n = real.shape[0]
        k = gan.n_classes
        real_labels = xs[1].long() if k else None
        g_opt, d_opt = self.optimizers["optimizer"], self.optimizers["discriminator"]
        sigma = self._noise_std()
        real_target = 1.0 - gan.label_smoothing
        wgan = gan.loss == "wasserstein_gp"
        device = real.device

        def noisy(t):
            return t + sigma * torch.randn_like(t) if sigma else t

        # -- discriminator (critic) updates ------------------------------------------------
        gan.discriminator.requires_grad_(True)
        for i in range(gan.d_steps):
            if i:                        # WGAN-GP's protocol: every critic step sees a fresh real batch
                real, real_labels = self._fresh_batch(n, device)
            z = torch.randn(n, gan.latent_dim, device=device)
            fake_labels = torch.randint(0, k, (n,), device=device) if k else None
            codes = gan.random_codes(n)
            with torch.no_grad():
                fake = gan.generate(z, fake_labels, codes)
            d_real = gan.discriminate(noisy(real), real_labels)
            d_fake = gan.discriminate(noisy(fake), fake_labels)
            d_loss = discriminator_loss(d_real, d_fake, gan.loss, real_label=real_target)
            if wgan:
                if k:  # interpolate within a class: pair each real sample with a fake of its label
                    with torch.no_grad():
                        fake_same = gan.generate(torch.randn(n, gan.latent_dim, device=device), real_labels)

                    def critic(x):
                        return gan.discriminate(x, real_labels)
                    gp = gradient_penalty(critic, real, fake_same, weight=gan.gp_weight)
                else:
                    gp = gradient_penalty(gan.discriminate, real, fake, weight=gan.gp_weight)
                d_loss = d_loss + gp
            d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            d_opt.step()

        # -- generator update (D frozen: no weight gradients computed for it) -----------------
        gan.discriminator.requires_grad_(False)
        try:
            z = torch.randn(n, gan.latent_dim, device=device)
            fake_labels = torch.randint(0, k, (n,), device=device) if k else None
            codes = gan.random_codes(n)
            fake = gan.generate(z, fake_labels, codes)
            g_loss = generator_loss(gan.discriminate(noisy(fake), fake_labels), gan.loss)
            if codes is not None:              # InfoGAN: Q recovers the code (Q trains with G)
                info = gan.info_loss(fake, codes)
                g_loss = g_loss + gan.info_weight * info
            g_opt.zero_grad(set_to_none=True)
            g_loss.backward()
            g_opt.step()
            gan.update_ema()
        finally:
            gan.discriminator.requires_grad_(True)

        with torch.no_grad():
            if wgan:
                p_real, p_fake = d_real.mean(), d_fake.mean()
            else:
                p_real, p_fake = torch.sigmoid(d_real).mean(), torch.sigmoid(d_fake).mean()
        logs = {"loss": g_loss.detach(), "d_loss": d_loss.detach(), "g_loss": g_loss.detach(),
                "d_real": p_real, "d_fake": p_fake}
        if wgan:
            logs["gp"] = gp.detach()
        if gan.info_codes:
            logs["info_loss"] = info.detach()
        return logs
