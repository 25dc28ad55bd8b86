"""GAN: a generator and a discriminator trained against each other on the Trainer."""

from __future__ import annotations

import copy
import math
import numbers
import warnings

import numpy as np
import torch
from torch import nn

from .. import layers as L
from ..errors import ConfigError, DataError, DTypeError, ShapeError, format_shape
from ..training import Callback
from ..validation import check_bool, check_choice, check_int, check_number, expected
from ._losses import LOSSES

__all__ = ["GAN", "GANWarning", "output_range_of"]

# A BCE discriminator whose epoch loss is within this of its floor has "won".
D_COLLAPSE_MARGIN = 0.01
# Samples whose mean pairwise distance is below this share of the real data's have collapsed.
DIVERSITY_RATIO = 0.1
_MONITOR_SAMPLES = 256


class GANWarning(UserWarning):
    """Training went on, but the adversarial game looks broken (a winning discriminator,
    collapsed samples)."""


def _name(module: nn.Module) -> str:
    name = getattr(module, "name", None)
    return f"'{name}' ({type(module).__name__})" if isinstance(name, str) else type(module).__name__


def output_range_of(module: nn.Module) -> tuple[float, float] | None:
    """The range of a generator's output read from its last layer: tanh → (−1, 1), sigmoid →
    (0, 1), anything else → None (unbounded or unknown).

    >>> from neuralab.generative import dcgan_generator
    >>> output_range_of(dcgan_generator(8, (1, 8, 8), width=4))
    (-1.0, 1.0)
    """
    last = None
    outputs = getattr(module, "output_layers", None)
    if isinstance(outputs, list) and len(outputs) == 1:
        last = outputs[0]
    elif isinstance(module, nn.Sequential) and len(module):
        last = module[-1]
    elif isinstance(module, (nn.Tanh, nn.Sigmoid, L.Tanh, L.Sigmoid)):
        last = module
    if isinstance(last, (nn.Tanh, L.Tanh)):
        return (-1.0, 1.0)
    if isinstance(last, (nn.Sigmoid, L.Sigmoid)):
        return (0.0, 1.0)
    return None


def _probe(module: nn.Module, x: torch.Tensor, what: str):
    """``module(x)``, with a failure inside it reported as a ShapeError that says ``what``."""
    try:
        return module(x)
    except (RuntimeError, ValueError) as exc:
        raise ShapeError(f"GAN: {what}: {exc}") from None


def _one_hot(labels: torch.Tensor, k: int, dtype) -> torch.Tensor:
    return torch.nn.functional.one_hot(labels, k).to(dtype)


def _pack(x: torch.Tensor, m: int) -> torch.Tensor:
    """PacGAN's packing: groups of ``m`` consecutive samples concatenated on axis 1."""
    if m == 1:
        return x
    n = x.shape[0]
    if n % m:
        raise DataError(f"GAN: expected a batch whose size is a multiple of pack={m}, received {n}")
    return x.reshape(n // m, m * x.shape[1], *x.shape[2:])


def _condition(x: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
    """Append class information to a batch: features for vectors, constant planes for maps."""
    n, k = onehot.shape
    if x.dim() == 2:
        return torch.cat([x, onehot], 1)
    planes = onehot.reshape(n, k, *([1] * (x.dim() - 2))).expand(n, k, *x.shape[2:])
    return torch.cat([x, planes], 1)


class GAN(nn.Module):
    """A generative adversarial network: generator G and discriminator D trained in turn.

    Each training step, on a batch of real samples ``x`` (Goodfellow et al., 2014):

    1. ``d_steps`` times: draw ``z ~ N(0, I)``, update D on its loss over ``x``
       (real) and ``G(z)`` (fake), with its own optimizer and learning rate (critic steps
       after the first draw a fresh real batch from the data, as WGAN-GP prescribes);
    2. draw fresh ``z``, update G on its loss over ``D(G(z))``.

    The losses (:func:`discriminator_loss`, :func:`generator_loss`) are
    "non_saturating" (G minimises ``−log σ(D(G(z)))``), "minimax" (G minimises
    ``log(1 − σ(D(G(z))))``) or "wasserstein_gp" (a critic with the gradient penalty
    ``λ·(‖∇D(x̂)‖ − 1)²``). D returns logits; both networks may be any neuralab
    network or torch module.

    **Conditional GAN** (``n_classes=K``, Mirza & Osindero, 2014): G receives ``[z, onehot(y)]``
    (``latent_dim + K`` features), D receives the sample with the one-hot class appended
    (as K constant channels for images, K features for vectors); ``fit`` needs the labels.

    **Categorical latent code** (``info_codes=C``, InfoGAN, Chen et al., 2016): G receives
    ``[z, onehot(y), onehot(c)]`` with ``c`` uniform on ``0..C−1`` (part of the prior: sampling
    draws it too), and an auxiliary network Q (``info_network``, samples → C logits) is trained
    with G to recover ``c`` from ``G(z, c)``: G's loss gains ``info_weight·CE(Q(G(z, c)), c)``,
    the variational lower bound on the mutual information ``I(c; G(z, c))`` (up to the
    constant ``H(c)``). With a C-valued code G can make disconnected modes (e.g. ten digit
    classes) without spending latent mass on samples between them. Unsupervised: Q never
    sees real labels.

    **Stabilisers**: one-sided label smoothing (real target ``1 − label_smoothing``);
    instance noise (Gaussian noise of std σ added to D's real and fake inputs, σ annealed
    linearly from ``instance_noise`` to 0 over the run); a :class:`GANWarning` when D's
    loss falls to its floor (G's gradient vanishes) or when the samples' diversity falls
    below 10 % of the data's (mode collapse).

    Training runs on :class:`neuralab.training.Trainer` (:class:`GANTrainer` overrides
    ``train_step``): progress, callbacks, checkpoints/resume and the NaN guard come with it.

    Args:
        generator: maps ``(N, latent_dim [+ n_classes] [+ info_codes])`` noise to samples ``(N, *S)``.
        discriminator: maps samples ``(N, *S)`` (plus the class channels) to ``(N, 1)`` or ``(N,)``.
        loss: "non_saturating" (default), "minimax" or "wasserstein_gp".
        latent_dim: size of z; default read from the generator's ``input_shape``.
        n_classes: number of classes of a conditional GAN (default None: unconditional).
        d_steps: discriminator updates per generator update (default 1; 5 for WGAN-GP).
        g_lr, d_lr: Adam learning rates (default 2e-4, DCGAN's; 1e-4 for wasserstein_gp).
        betas: Adam's (β1, β2) (default (0.5, 0.999); (0.0, 0.9) for wasserstein_gp).
        label_smoothing: one-sided smoothing of the real target in [0, 1) (default 0).
        instance_noise: initial std of the instance noise (default 0: none).
        gp_weight: λ of the gradient penalty (default 10; wasserstein_gp only).
        output_range: range of G's output, checked against the real data: "auto"
            (default: read from G's last layer, tanh → (−1, 1)), a ``(low, high)`` pair or None.
        ema: decay β of an exponential moving average of G's weights, updated after every
            G step, ``θ_ema ← β·θ_ema + (1 − β)·θ`` (e.g. 0.999); :meth:`sample` then draws
            from the average, which is smoother than the last iterate (default None: off).
        pack: PacGAN's packing (Lin et al., 2018): D scores groups of ``pack`` samples
            concatenated on axis 1 (vectors: features, images: channels), so it can see a
            lack of diversity; build D for ``pack × C`` input channels (default 1: off).
        info_codes: C, the number of values of a categorical latent code (default 0: none).
        info_network: Q, a module mapping samples ``(N, *S)`` to C logits ``(N, C)``
            (required with ``info_codes``); trained by G's optimizer, with G's learning rate.
        info_weight: λ of the code term in G's loss (default 1, InfoGAN's for discrete codes).
        warn: emit the collapse warnings (default True).

    Attributes:
        generator, discriminator, generator_ema (or None), info_network (or None),
        latent_dim, n_classes, info_codes, sample_shape, output_range.

    >>> import torch
    >>> from neuralab.generative import GAN, dcgan_generator, dcgan_discriminator
    >>> gan = GAN(dcgan_generator(16, (1, 8, 8), width=8), dcgan_discriminator((1, 8, 8), width=8))
    >>> gan.latent_dim, gan.sample_shape, tuple(gan.sample(4, seed=0).shape)
    (16, (1, 8, 8), (4, 1, 8, 8))
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, *, loss: str = "non_saturating",
                 latent_dim: int | None = None, n_classes: int | None = None, d_steps: int = 1,
                 g_lr: float | None = None, d_lr: float | None = None, betas=None,
                 label_smoothing: float = 0.0, instance_noise: float = 0.0, gp_weight: float = 10.0,
                 output_range="auto", ema: float | None = None, pack: int = 1,
                 info_codes: int = 0, info_network: nn.Module | None = None, info_weight: float = 1.0,
                 warn: bool = True):
        super().__init__()
        owner = "GAN"
        for name, module in (("generator", generator), ("discriminator", discriminator)):
            if not isinstance(module, nn.Module):
                raise expected(owner, name, "a torch.nn.Module", type(module).__name__, error=DTypeError)
        self.loss = check_choice(owner, "loss", loss, LOSSES)
        wgan = self.loss == "wasserstein_gp"
        self.n_classes = check_int(owner, "n_classes", n_classes, low=2, allow_none=True)
        self.d_steps = check_int(owner, "d_steps", d_steps, low=1)
        default_lr = 1e-4 if wgan else 2e-4
        self.g_lr = check_number(owner, "g_lr", default_lr if g_lr is None else g_lr, low=0.0,
                                 low_open=True)
        self.d_lr = check_number(owner, "d_lr", default_lr if d_lr is None else d_lr, low=0.0,
                                 low_open=True)
        betas = ((0.0, 0.9) if wgan else (0.5, 0.999)) if betas is None else betas
        if (not isinstance(betas, (tuple, list)) or len(betas) != 2
                or not all(isinstance(b, numbers.Real) and 0 <= b < 1 for b in betas)):
            raise expected(owner, "betas", "a pair (β1, β2) of numbers in [0, 1)", betas)
        self.betas = (float(betas[0]), float(betas[1]))
        self.label_smoothing = check_number(owner, "label_smoothing", label_smoothing, low=0.0,
                                            high=1.0, high_open=True)
        if wgan and self.label_smoothing:
            raise ConfigError("GAN: label_smoothing applies to the cross-entropy losses "
                              "('non_saturating', 'minimax'), not to 'wasserstein_gp'")
        self.instance_noise = check_number(owner, "instance_noise", instance_noise, low=0.0)
        self.gp_weight = check_number(owner, "gp_weight", gp_weight, low=0.0)
        self.warn = check_bool(owner, "warn", warn)
        self.pack = check_int(owner, "pack", pack, low=1)
        self.ema = check_number(owner, "ema", ema, low=0.0, high=1.0, high_open=True, allow_none=True)
        self.info_codes = check_int(owner, "info_codes", info_codes, low=0)
        if self.info_codes == 1:
            raise ConfigError("GAN: expected `info_codes` = 0 (no code) or at least 2 values of the "
                              "categorical code, received 1")
        if self.info_codes and info_network is None:
            raise ConfigError(f"GAN: info_codes={self.info_codes} needs `info_network`, a module "
                              f"mapping samples to {self.info_codes} logits; received None")
        if info_network is not None:
            if not self.info_codes:
                raise ConfigError("GAN: received an `info_network` but info_codes=0; set info_codes "
                                  "to the number of values of the categorical code")
            if not isinstance(info_network, nn.Module):
                raise expected(owner, "info_network", "a torch.nn.Module", type(info_network).__name__,
                               error=DTypeError)
        self.info_weight = check_number(owner, "info_weight", info_weight, low=0.0)
        self.generator = generator
        self.discriminator = discriminator
        self.info_network = info_network
        self.latent_dim = self._latent_dim(latent_dim)
        self.sample_shape = self._check_pair()
        self.output_range = self._output_range(output_range)
        self.generator_ema = None
        if self.ema is not None:
            self.generator_ema = copy.deepcopy(generator).requires_grad_(False)

    # ----------------------------------------------------------------- construction checks
    @property
    def _k(self) -> int:
        return self.n_classes or 0

    @property
    def _extra(self) -> int:
        """Generator inputs beside z: the one-hot class and the one-hot code."""
        return self._k + self.info_codes

    def _extra_text(self) -> str:
        parts = ([f"{self._k} one-hot class inputs"] if self._k else []) + (
            [f"{self.info_codes} one-hot code inputs"] if self.info_codes else [])
        return " and ".join(parts)

    def _latent_dim(self, latent_dim) -> int:
        shape = getattr(self.generator, "input_shape", None)
        known = isinstance(shape, tuple) and len(shape) == 1 and isinstance(shape[0], int)
        if latent_dim is None:
            if not known:
                raise ConfigError(f"GAN: expected `latent_dim` (the size of z) for the generator "
                                  f"{_name(self.generator)}, whose input shape is not known; "
                                  "received latent_dim=None")
            latent_dim = shape[0] - self._extra
            if latent_dim < 1:
                raise ShapeError(f"GAN: the generator {_name(self.generator)} takes {shape[0]} "
                                 f"inputs, which leaves no latent vector beside the "
                                 f"{self._extra_text()}")
            return latent_dim
        latent_dim = check_int("GAN", "latent_dim", latent_dim, low=1)
        if known and shape[0] != latent_dim + self._extra:
            extra = f" + n_classes {self._k}" if self._k else ""
            extra += f" + info_codes {self.info_codes}" if self.info_codes else ""
            raise ShapeError(f"GAN: the generator {_name(self.generator)} takes inputs of shape "
                             f"{format_shape(shape)}, but latent_dim {latent_dim}{extra} gives "
                             f"{format_shape((latent_dim + self._extra,))}")
        return latent_dim

    def _check_pair(self) -> tuple:
        """Probe G and D once (eval mode, no grad): builds lazy modules, checks that they fit."""
        g, d = self.generator, self.discriminator
        modes = (g.training, d.training)
        g.eval()
        d.eval()
        try:
            with torch.no_grad():
                m = self.pack
                z = torch.zeros(2 * m, self.latent_dim + self._extra, device=self._device_of(g))
                fake = _probe(g, z, f"the generator {_name(g)} does not accept noise of shape "
                                    f"{format_shape(tuple(z.shape[1:]))} (latent_dim "
                                    f"{self.latent_dim} + {self._k} classes + {self.info_codes} codes)")
                if not isinstance(fake, torch.Tensor) or fake.dim() < 2:
                    raise ShapeError(f"GAN: expected the generator {_name(g)} to return a batch of "
                                     f"samples (N, ...), received "
                                     f"{getattr(fake, 'shape', type(fake).__name__)}")
                sample_shape = tuple(fake.shape[1:])
                d_in = getattr(d, "input_shape", None)
                want = ((sample_shape[0] + self._k) * m, *sample_shape[1:])
                if isinstance(d_in, tuple) and None not in d_in and tuple(d_in) != want:
                    cond = f" plus {self._k} class channels" if self._k else ""
                    if m > 1:
                        cond += f", packed {m} to a discriminator input"
                    raise ShapeError(
                        f"GAN: the generator {_name(g)} outputs {format_shape(sample_shape)}{cond}, "
                        f"so the discriminator should take {format_shape(want)}, but the "
                        f"discriminator {_name(d)} expects {format_shape(d_in)}")
                d_input = fake
                if self._k:
                    onehot = _one_hot(torch.zeros(2 * m, dtype=torch.long, device=fake.device),
                                      self._k, fake.dtype)
                    d_input = _condition(fake, onehot)
                d_input = _pack(d_input, m)
                scores = _probe(d, d_input, f"the discriminator {_name(d)} does not accept the "
                                            f"generator {_name(g)}'s samples of shape "
                                            f"{format_shape(sample_shape)}")
                if not isinstance(scores, torch.Tensor) or scores.shape[0] != 2 or scores[0].numel() != 1:
                    raise ShapeError(f"GAN: expected the discriminator {_name(d)} to return one score "
                                     f"per sample, shape (1,), received "
                                     f"{format_shape(tuple(scores.shape[1:]))}")
                if self.info_network is not None:
                    q = self.info_network
                    was_q = q.training
                    q.eval()
                    try:
                        logits = _probe(q, fake, f"the info_network {_name(q)} does not accept the "
                                                 f"generator's samples of shape {format_shape(sample_shape)}")
                    finally:
                        q.train(was_q)
                    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (fake.shape[0], self.info_codes):
                        raise ShapeError(f"GAN: expected the info_network {_name(q)} to return "
                                         f"{self.info_codes} logits per sample (info_codes), received "
                                         f"{format_shape(tuple(getattr(logits, 'shape', ())[1:]))}")
        finally:
            g.train(modes[0])
            d.train(modes[1])
        return sample_shape

    def _output_range(self, spec):
        if isinstance(spec, str) and spec == "auto":
            return output_range_of(self.generator)
        if spec is None:
            return None
        if (isinstance(spec, (tuple, list)) and len(spec) == 2
                and all(isinstance(v, numbers.Real) and math.isfinite(v) for v in spec) and spec[0] < spec[1]):
            return (float(spec[0]), float(spec[1]))
        raise expected("GAN", "output_range", "'auto', None or a pair (low, high) with low < high", spec)

    @staticmethod
    def _device_of(module: nn.Module) -> torch.device:
        for p in module.parameters():
            return p.device
        return torch.device("cpu")

    # ----------------------------------------------------------------- the two players
    def noise(self, n: int, *, generator: torch.Generator | None = None,
              truncation: float | None = None) -> torch.Tensor:
        """``n`` latent vectors ``z ~ N(0, I)``, shape ``(n, latent_dim)``.

        With ``truncation=t`` each entry is drawn from N(0, 1) truncated to [−t, t] (entries
        outside are redrawn): BigGAN's truncation trick, trading diversity for fidelity.
        """
        device = self._device_of(self.generator)
        z = torch.randn(n, self.latent_dim, generator=generator, device=device)
        if truncation is not None:
            t = check_number("GAN.noise", "truncation", truncation, low=0.0, low_open=True)
            for _ in range(100):
                bad = z.abs() > t
                if not bool(bad.any()):
                    break
                z = torch.where(bad, torch.randn(z.shape, generator=generator, device=device), z)
            z = z.clamp(-t, t)
        return z

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None, codes: torch.Tensor | None = None,
                 *, generator: nn.Module | None = None) -> torch.Tensor:
        """``G(z)`` (conditional: ``G([z, onehot(labels)])``; with a code, ``onehot(codes)``
        appended last), shape ``(N, *sample_shape)``."""
        if self._k:
            z = torch.cat([z, _one_hot(labels, self._k, z.dtype)], 1)
        if self.info_codes:
            z = torch.cat([z, _one_hot(codes, self.info_codes, z.dtype)], 1)
        return (self.generator if generator is None else generator)(z)

    def random_codes(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor | None:
        """``n`` codes drawn uniformly from ``0..info_codes−1`` (None without a code)."""
        if not self.info_codes:
            return None
        return torch.randint(0, self.info_codes, (n,), generator=generator,
                             device=self._device_of(self.generator))

    def info_loss(self, fake: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """InfoGAN's code term ``CE(Q(fake), codes)`` (mean cross-entropy of Q's logits)."""
        return torch.nn.functional.cross_entropy(self.info_network(fake), codes)

    @torch.no_grad()
    def update_ema(self) -> None:
        """``θ_ema ← β·θ_ema + (1 − β)·θ_G`` (buffers such as BatchNorm statistics are copied)."""
        if self.generator_ema is None:
            return
        for pe, p in zip(self.generator_ema.parameters(), self.generator.parameters()):
            pe.lerp_(p.detach(), 1.0 - self.ema)
        for be, b in zip(self.generator_ema.buffers(), self.generator.buffers()):
            be.copy_(b)

    @property
    def sampler(self) -> nn.Module:
        """The generator :meth:`sample` uses: the EMA copy when ``ema`` is set, else G itself."""
        return self.generator if self.generator_ema is None else self.generator_ema

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``D(x)`` (conditional: on ``x`` with the one-hot class appended): scores ``(N,)``.

        With ``pack=m``, consecutive groups of m samples share one score: ``(N / m,)``.
        """
        if self._k:
            x = _condition(x, _one_hot(labels, self._k, x.dtype))
        return self.discriminator(_pack(x, self.pack)).reshape(-1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The generator: ``gan(z)`` is ``G(z)``."""
        return self.generate(z, labels)

    def check_labels(self, labels, n: int | None = None, *, owner: str = "GAN") -> torch.Tensor | None:
        """Validate class labels: integers in ``[0, n_classes)``, one per sample."""
        if not self._k:
            if labels is not None:
                raise ConfigError(f"{owner}: received class labels, but this GAN is unconditional; "
                                  "build it with GAN(..., n_classes=K) to condition on classes")
            return None
        if labels is None:
            raise DataError(f"{owner}: expected class labels (integers in [0, {self._k})) for a "
                            f"conditional GAN with n_classes={self._k}, received None")
        t = labels if isinstance(labels, torch.Tensor) else torch.as_tensor(np.asarray(labels))
        if t.dtype.is_floating_point or t.dtype == torch.bool or t.dtype.is_complex:
            if t.dtype.is_floating_point and torch.all(t == t.round()):
                t = t.long()
            else:
                raise DataError(f"{owner}: expected integer class labels, received dtype {t.dtype}")
        t = t.long().reshape(-1)
        if n is not None and t.numel() != n:
            raise DataError(f"{owner}: expected {n} class labels, one per sample, received {t.numel()}")
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= self._k):
            bad = int(t.min()) if int(t.min()) < 0 else int(t.max())
            raise DataError(f"{owner}: expected class labels in [0, {self._k}) for n_classes="
                            f"{self._k}, received the label {bad}")
        return t

    @torch.no_grad()
    def sample(self, n: int, *, labels=None, seed: int | None = None, z: torch.Tensor | None = None,
               truncation: float | None = None, codes=None) -> torch.Tensor:
        """``n`` samples ``G(z)`` in eval mode (BatchNorm running statistics).

        Args:
            n: number of samples.
            labels: the classes of a conditional GAN, ``(n,)`` (default: ``0, 1, …, K−1, 0, …``).
            seed: seed of z (default: torch's global generator).
            z: explicit latent vectors ``(n, latent_dim)`` instead of random ones.
            truncation: draw z from N(0, 1) truncated to [−t, t] (see :meth:`noise`; default
                None: the full normal, as in training).
            codes: values of the categorical code, ``(n,)`` (``info_codes`` only; default:
                drawn uniformly, after z, from the same seeded generator: the prior).

        Returns: a tensor ``(n, *sample_shape)`` on the generator's device.
        """
        n = check_int("GAN.sample", "n", n, low=1)
        if self._k and labels is None:
            labels = torch.arange(n) % self._k
        labels = self.check_labels(labels, n, owner="GAN.sample")
        gen = None
        if seed is not None:
            gen = torch.Generator(device=self._device_of(self.generator))
            gen.manual_seed(check_int("GAN.sample", "seed", seed, low=0))
        if z is None:
            z = self.noise(n, generator=gen, truncation=truncation)
        elif tuple(z.shape) != (n, self.latent_dim):
            raise ShapeError(f"GAN.sample: expected `z` of shape ({n}, {self.latent_dim}), "
                             f"received {tuple(z.shape)}")
        if labels is not None:
            labels = labels.to(z.device)
        codes = self._codes(codes, n, gen)
        g = self.sampler
        was = g.training
        g.eval()
        try:
            return self.generate(z, labels, codes, generator=g)
        finally:
            g.train(was)

    def _codes(self, codes, n: int, gen) -> torch.Tensor | None:
        if not self.info_codes:
            if codes is not None:
                raise ConfigError("GAN.sample: received `codes`, but this GAN has no categorical "
                                  "code; build it with GAN(..., info_codes=C, info_network=Q)")
            return None
        if codes is None:
            return self.random_codes(n, generator=gen)
        t = torch.as_tensor(codes).reshape(-1)
        if t.dtype.is_floating_point or t.dtype == torch.bool or t.numel() != n:
            raise DataError(f"GAN.sample: expected {n} integer codes, received {t.numel()} of dtype {t.dtype}")
        if int(t.min()) < 0 or int(t.max()) >= self.info_codes:
            raise DataError(f"GAN.sample: expected codes in [0, {self.info_codes}), received values in "
                            f"[{int(t.min())}, {int(t.max())}]")
        return t.long().to(self._device_of(self.generator))

    def interpolate(self, n_steps: int = 8, *, seed: int = 0, label: int | None = None) -> torch.Tensor:
        """Samples along the straight line between two random latent vectors (a latent strip).

        ``z_t = (1 − t)·z_0 + t·z_1`` for ``t = 0, 1/(n−1), …, 1``.

        Returns: ``(n_steps, *sample_shape)``.
        """
        n_steps = check_int("GAN.interpolate", "n_steps", n_steps, low=2)
        gen = torch.Generator(device=self._device_of(self.generator))
        gen.manual_seed(check_int("GAN.interpolate", "seed", seed, low=0))
        ends = self.noise(2, generator=gen)
        t = torch.linspace(0, 1, n_steps, device=ends.device)[:, None]
        z = (1 - t) * ends[0] + t * ends[1]
        labels = None
        if self._k:
            labels = torch.full((n_steps,), 0 if label is None else int(label), dtype=torch.long)
        codes = self.random_codes(1, generator=gen)          # one code along the strip
        return self.sample(n_steps, z=z, labels=labels,
                           codes=None if codes is None else codes.expand(n_steps))

    # ----------------------------------------------------------------- training
    def make_optimizers(self) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        """Fresh Adam optimizers ``(for G [and Q], for D)`` with their own learning rates."""
        params = list(self.generator.parameters())
        if self.info_network is not None:
            params += list(self.info_network.parameters())
        g = torch.optim.Adam(params, lr=self.g_lr, betas=self.betas)
        d = torch.optim.Adam(self.discriminator.parameters(), lr=self.d_lr, betas=self.betas)
        return g, d

    def check_data(self, x, y=None, *, owner: str = "GAN.fit") -> tuple[torch.Tensor, torch.Tensor | None]:
        """Validate real samples (shape, finiteness, the generator's output range) and labels."""
        if isinstance(x, torch.Tensor):
            t = x.detach()
        else:
            try:
                arr = np.asarray(x)
            except (TypeError, ValueError):
                raise DataError(f"{owner}: expected an array of real samples, received "
                                f"{type(x).__name__}") from None
            if arr.dtype.kind not in "fiub":
                raise DataError(f"{owner}: expected an array of numbers, received dtype {arr.dtype}")
            t = torch.from_numpy(np.ascontiguousarray(arr))
        t = t.float() if not t.dtype.is_floating_point or t.dtype == torch.float16 else t
        if t.dim() < 2 or tuple(t.shape[1:]) != self.sample_shape:
            raise ShapeError(f"{owner}: expected real samples of shape (N, "
                             f"{', '.join(map(str, self.sample_shape))}) like the generator "
                             f"{_name(self.generator)}'s output, received {tuple(t.shape)}")
        if t.shape[0] == 0:
            raise DataError(f"{owner}: expected at least one real sample, received none")
        if not torch.isfinite(t).all():
            raise DataError(f"{owner}: expected finite real samples, received NaN or infinite values")
        if self.output_range is not None:
            lo, hi = self.output_range
            mn, mx = float(t.min()), float(t.max())
            tol = 1e-5 * (hi - lo)
            if mn < lo - tol or mx > hi + tol:
                raise DataError(
                    f"{owner}: expected real samples in [{lo:g}, {hi:g}], the range of the generator "
                    f"{_name(self.generator)}'s output, received values in [{mn:g}, {mx:g}]; rescale "
                    f"them, e.g. x = {hi - lo:g} * (x - {mn:g}) / {mx - mn:g} + {lo:g}")
        labels = self.check_labels(y, t.shape[0], owner=owner)
        return t, labels

    def fit(self, x, y=None, *, epochs: int = 10, batch_size: int = 64, callbacks=None,
            progress=False, seed: int | None = 0, device="auto", resume_from=None, lr_schedule=None):
        """Train on real samples ``x`` (and their labels ``y`` for a conditional GAN).

        Args:
            x: real samples ``(N, *sample_shape)`` within the generator's output range.
            y: class labels ``(N,)`` (conditional GANs only).
            epochs: passes over ``x`` (default 10; with ``resume_from`` the total).
            batch_size: real samples per step (default 64).
            callbacks: :mod:`neuralab.training` callbacks (e.g. ``Checkpoint``,
                :class:`SampleGrids`).
            progress: progress bar / lines (default False).
            seed: seed of the run (default 0).
            device: "auto", "cpu", "cuda", … (default "auto").
            resume_from: a checkpoint written by ``Checkpoint`` to continue from.
            lr_schedule: a :mod:`neuralab.schedules` schedule applied to both learning rates
                per epoch (e.g. ``polynomial_decay(epochs)``: linear decay to 0).

        Returns: the :class:`~neuralab.training.History` with ``d_loss``, ``g_loss``,
        ``d_real``/``d_fake`` (mean D outputs; sigmoid probabilities for the BCE losses),
        for wasserstein_gp ``gp`` and with ``info_codes`` ``info_loss``, per epoch.
        """
        from ._trainer import GANTrainer

        xt, labels = self.check_data(x, y)
        trainer = GANTrainer(self, callbacks=callbacks, progress=progress, seed=seed, device=device,
                             lr_schedule=lr_schedule)
        return trainer.fit(xt, labels, epochs=epochs, batch_size=batch_size, resume_from=resume_from)

    def extra_repr(self) -> str:
        parts = [f"loss={self.loss!r}", f"latent_dim={self.latent_dim}"]
        if self.n_classes:
            parts.append(f"n_classes={self.n_classes}")
        if self.d_steps != 1:
            parts.append(f"d_steps={self.d_steps}")
        if self.info_codes:
            parts.append(f"info_codes={self.info_codes}")
        return ", ".join(parts)


class GANMonitor(Callback):
    """Warns (:class:`GANWarning`) when the adversarial game breaks down.

    - discriminator collapse (cross-entropy losses), checked every epoch: the epoch's
      ``d_loss`` is within 0.01 of its floor ``H(t)`` (0 without label smoothing): D tells
      real from fake perfectly and G's gradient has vanished;
    - mode collapse: the diversity ratio (mean pairwise distance between 256 samples over
      that between 256 real samples) falls below 10 % after having been at least twice
      as high in an earlier epoch, or is still below 10 % at the end of a run of 5 or
      more epochs. (An untrained generator starts with tiny outputs, so a low ratio early
      in a run is no sign of collapse.)

    Attributes: ratios: the diversity ratio after each epoch.
    """

    def __init__(self, gan: GAN, real: torch.Tensor, labels: torch.Tensor | None):
        self.gan = gan
        g = torch.Generator().manual_seed(12345)
        idx = torch.randperm(real.shape[0], generator=g)[:_MONITOR_SAMPLES]
        self.real = real[idx].float().cpu()
        self.real_diversity = _diversity(self.real)
        t = 1.0 - gan.label_smoothing
        self.d_floor = 0.0 if t >= 1 else -(t * math.log(t) + (1 - t) * math.log(1 - t))
        self.ratios: list[float] = []
        self.warned: set[str] = set()

    def diversity_ratio(self, seed: int = 0) -> float:
        """Samples' mean pairwise distance over the real data's."""
        n = self.real.shape[0]
        labels = torch.arange(n) % self.gan.n_classes if self.gan.n_classes else None
        fake = self.gan.sample(n, labels=labels, seed=seed).float().cpu()
        return _diversity(fake) / self.real_diversity if self.real_diversity > 0 else 1.0

    def _warn(self, key: str, message: str) -> None:
        if key not in self.warned:
            self.warned.add(key)
            warnings.warn(message, GANWarning, stacklevel=3)

    def _collapse(self, epoch: int, ratio: float) -> None:
        self._warn("m", f"GAN: mode collapse after epoch {epoch + 1}: the samples' mean pairwise "
                        f"distance is {ratio:.1%} of the real data's (warning below "
                        f"{DIVERSITY_RATIO:.0%}); the generator covers few modes: try the "
                        "wasserstein_gp loss, instance noise or a lower g_lr")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        d_loss = logs.get("d_loss")
        if (self.gan.loss != "wasserstein_gp" and d_loss is not None
                and float(d_loss) - self.d_floor < D_COLLAPSE_MARGIN):
            self._warn("d", f"GAN: the discriminator's loss collapsed to {float(d_loss):.2g} in epoch "
                            f"{epoch + 1} (floor {self.d_floor:.3g}): it tells real from fake perfectly "
                            "and the generator's gradient has vanished; try label_smoothing=0.1, "
                            "instance_noise=0.1, a lower d_lr or a smaller discriminator")
        ratio = self.diversity_ratio(seed=epoch)
        if ratio < DIVERSITY_RATIO and self.ratios and max(self.ratios) >= 2 * ratio:
            self._collapse(epoch, ratio)
        self.ratios.append(ratio)

    def on_train_end(self, logs=None):
        if len(self.ratios) >= 5 and self.ratios[-1] < DIVERSITY_RATIO:
            self._collapse(len(self.ratios) - 1, self.ratios[-1])


def _diversity(x: torch.Tensor) -> float:
    """Mean pairwise Euclidean distance within a batch."""
    flat = x.reshape(x.shape[0], -1).float()
    n = flat.shape[0]
    if n < 2:
        return 0.0
    return float(torch.pdist(flat).sum() * 2 / (n * (n - 1)))
