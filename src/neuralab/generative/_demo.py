"""``neuralab demo gan``: the 8-Gaussian ring, a DCGAN and a conditional DCGAN on digits, measured.

Writes into ``out_dir``:

- ``ring.png``: real points, generated points and the 8 modes;
- ``digits_classifier.safetensors``: the classifier whose features FID uses (and its verdicts);
- ``dcgan_samples.png`` (100 samples), ``dcgan_epochs/epoch_NNN.png`` (the same latent
  vectors over training), ``dcgan_interpolation.png`` (latent strips);
- ``conditional_samples.png`` (one row per requested digit);
- ``losses.png``: the D and G loss curves of the three runs.

and returns the metrics (the CLI writes them to ``metrics.json``)::

    {"ring": {"modes_covered", "high_quality_fraction", ...},
     "classifier": {"test_accuracy", "real_test_confident_fraction", ...},
     "dcgan": {"confident_fraction", "class_entropy", "fid", "fid_floor", ...},
     "conditional": {"class_accuracy", ...}}

The recipes (each reported in metrics.json beside its figures; no truncation anywhere):

- ring: the non-saturating GAN of the unrolled-GAN / VEEGAN / PacGAN experiments (ring
  radius 2, std 0.02; MLPs of width 128; Adam, β1 0.5), lr 1e-3 decaying linearly to 0,
  PacGAN packing as set by ``RING_PACK``; the last iterate is sampled. "High quality" is
  their definition: within 3σ of the nearest mode; a mode is covered by ≥ 2 % of the samples.
- judge: the digits classifier (trained on the train split only); ``classifier`` reports its
  test accuracy and ``real_test_confident_fraction``, the share of the real held-out digits it
  classifies with confidence > 0.9: the ceiling of the DCGAN's ``confident_fraction``.
- DCGAN: non-saturating loss, Adam β1 0.5, lr 5e-4 for both players decaying linearly to 0
  over 60 epochs, batch 32, generator width 64, latent z of 32 plus InfoGAN's 10-valued
  categorical code (``info_codes=10``: a small Q network recovers the code from the sample,
  weight 3; unsupervised, no labels),
  samples from an EMA (β = 0.99) of the generator's weights, with z and the code drawn from
  their prior. The code lets the generator keep the ten digit classes apart instead of
  spending latent mass on in-between shapes (a plain-torch run of the same schedule at
  generator width 128: 0.73 confident without the code, 0.81 with it at weight 1). Weight 3
  was chosen over 1 and 2 on the DCGAN section at seeds 0, 1, 2 (confident 0.868 / 0.809 /
  0.888; weight 2: 0.883 / 0.795 / 0.881; weight 1: 0.817 / 0.768 / 0.899).
- conditional DCGAN: Adam 2e-4, β1 0.5 (the DCGAN paper's), batch 64; its last iterate is sampled.
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

import numpy as np
import torch

__all__ = ["run", "FULL", "QUICK"]

# Budgets: the full demo takes about three minutes of CPU on one thread; quick, seconds.
FULL = dict(ring_points=8192, ring_epochs=375, ring_batch=256, ring_width=128, classifier_epochs=20,
            digits=None, dcgan_epochs=60, dcgan_batch=32, dcgan_lr=5e-4, dcgan_decay=True, cond_epochs=15,
            g_width=128, dcgan_g_width=64, d_width=64, q_width=32, n_eval=1000, grid_every=10)
QUICK = dict(ring_points=256, ring_epochs=1, ring_batch=128, ring_width=16, classifier_epochs=1,
             digits=256, dcgan_epochs=1, dcgan_batch=64, dcgan_lr=5e-4, dcgan_decay=True, cond_epochs=1,
             g_width=8, dcgan_g_width=8, d_width=8, q_width=4, n_eval=100, grid_every=1)
EMA = 0.99             # the DCGAN samples from an EMA of the generator's weights
INFO_CODES = 10        # the DCGAN's InfoGAN code: a uniform 10-valued latent beside z
INFO_WEIGHT = 3.0

RING_STD = 0.02
RING_LATENT = 8
RING_LR = 1e-3
RING_PACK = 2          # PacGAN: D scores pairs of samples, which exposes unequal modes
LATENT = 32


def _uniform(fan_in: int):
    """torch.nn.Linear's default initialisation, U(±1/√fan_in): the ring GAN needs its small scale."""
    from .. import init

    bound = 1.0 / math.sqrt(fan_in)
    return {"weight": init.Uniform(-bound, bound), "bias": init.Uniform(-bound, bound)}


def _ring_gan(seed: int, width: int = 128):
    """The non-saturating GAN of the ring papers: MLPs 8→128→128→2 and 2→128→128→1, Adam β1 0.5.

    With a learning rate decaying linearly to 0 the samples settle into the modes; the
    last iterate is sampled (no EMA, no truncation).
    """
    from .. import layers as L
    from ._gan import GAN

    torch.manual_seed(seed)
    g = (L.Input((RING_LATENT,)) >> L.Relu(width, **_uniform(RING_LATENT))
         >> L.Relu(width, **_uniform(width)) >> L.Linear(2, **_uniform(width)))
    d = (L.Input((2 * RING_PACK,)) >> L.LeakyRelu(width, alpha=0.2, **_uniform(2 * RING_PACK))
         >> L.LeakyRelu(width, alpha=0.2, **_uniform(width)) >> L.Linear(1, **_uniform(width)))
    return GAN(g, d, loss="non_saturating", g_lr=RING_LR, d_lr=RING_LR, betas=(0.5, 0.999), pack=RING_PACK,
               warn=False)


def _code_network(width: int, codes: int):
    """InfoGAN's Q on 8×8 samples: two 3×3 convolutions with 2×2 max pooling, then the code logits."""
    from .. import layers as L

    return (L.Input((1, 8, 8)) >> L.Convolution(width, 3, padding="same") >> L.LeakyRelu(alpha=0.2)
            >> L.MaxPooling(2) >> L.Convolution(2 * width, 3, padding="same") >> L.LeakyRelu(alpha=0.2)
            >> L.MaxPooling(2) >> L.Reshape() >> L.Linear(codes))


def _digits_gan(seed: int, n_classes: int | None = None, g_width: int = 128, d_width: int = 64,
                ema: float | None = None, lr: float = 2e-4, info_codes: int = 0, q_width: int = 32):
    from ._gan import GAN
    from ._networks import dcgan_discriminator, dcgan_generator

    torch.manual_seed(seed)
    k = n_classes or 0
    g = dcgan_generator(LATENT, (1, 8, 8), width=g_width, extra_layers=1, n_classes=k + info_codes)
    d = dcgan_discriminator((1, 8, 8), width=d_width, extra_layers=1, n_classes=k)
    q = _code_network(q_width, info_codes) if info_codes else None
    return GAN(g, d, n_classes=n_classes, g_lr=lr, d_lr=lr, ema=ema, latent_dim=LATENT,
               info_codes=info_codes, info_network=q, info_weight=INFO_WEIGHT)


def _scatter(path: Path, real: np.ndarray, fake: np.ndarray, modes: np.ndarray) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter(real[:, 0], real[:, 1], s=3, alpha=0.3, label="real")
    ax.scatter(fake[:, 0], fake[:, 1], s=3, alpha=0.5, label="generated")
    ax.scatter(modes[:, 0], modes[:, 1], marker="x", c="k", label="modes")
    ax.set_aspect("equal")
    ax.legend(loc="upper right")
    ax.set_title("8-Gaussian ring")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _losses(path: Path, histories: dict) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5 * len(histories), 3.5))
    FigureCanvasAgg(fig)
    for i, (name, h) in enumerate(histories.items()):
        ax = fig.add_subplot(1, len(histories), i + 1)
        epochs = [e + 1 for e in h.epoch]
        for key in ("d_loss", "g_loss"):
            ax.plot(epochs, h[key], marker="o" if len(epochs) < 30 else None, label=key)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


@torch.no_grad()
def _probabilities(classifier, x: torch.Tensor) -> np.ndarray:
    return torch.softmax(classifier(x), 1).numpy()


def _ring(cfg: dict, out: Path, seed: int):
    """Section 1, the 8-Gaussian ring: are all modes covered, and sharply?"""
    from ..schedules import polynomial_decay
    from ._data import make_gaussian_ring
    from ._metrics import mode_coverage

    t0 = time.perf_counter()
    x_ring, modes = make_gaussian_ring(cfg["ring_points"], std=RING_STD, seed=seed)
    ring = _ring_gan(seed, cfg["ring_width"])
    history = ring.fit(x_ring, epochs=cfg["ring_epochs"], batch_size=cfg["ring_batch"], seed=seed,
                       lr_schedule=polynomial_decay(cfg["ring_epochs"]))
    fake_ring = ring.sample(cfg["n_eval"], seed=seed + 1).numpy()
    cover = mode_coverage(fake_ring, modes, RING_STD)
    metrics = {"modes_covered": cover["modes_covered"], "n_modes": cover["n_modes"],
               "high_quality_fraction": round(cover["high_quality_fraction"], 4),
               "mode_counts": cover["counts"], "std": RING_STD, "n_samples": cfg["n_eval"], "epochs": cfg["ring_epochs"],
               "batch_size": cfg["ring_batch"], "loss": "non_saturating", "lr": RING_LR,
               "lr_schedule": "linear decay to 0", "pack": RING_PACK, "ema": None,
               "truncation": None, "steps": cfg["ring_epochs"] * (cfg["ring_points"] // cfg["ring_batch"]),
               "seconds": round(time.perf_counter() - t0, 1)}
    _scatter(out / "ring.png", x_ring[: cfg["n_eval"]], fake_ring, modes)
    return metrics, history


def _judge(cfg: dict, out: Path, seed: int):
    """Section 2, the judge: a digits classifier trained with neuralab, and the FID floor."""
    from ..datasets import load_digits
    from ._metrics import class_coverage, digits_classifier, features, fid

    split = load_digits()
    x_test = split.x_test * 2 - 1                      # tanh's range
    classifier = digits_classifier(epochs=cfg["classifier_epochs"], seed=seed)
    classifier.save(out / "digits_classifier.safetensors")
    test_acc = float((_probabilities(classifier, torch.from_numpy(x_test)).argmax(1)
                      == split.y_test).mean())
    feats_test = features(classifier, x_test)
    fid_floor = fid(feats_test, features(classifier, split.x_train * 2 - 1))
    real = class_coverage(_probabilities(classifier, torch.from_numpy(x_test)))
    metrics = {"test_accuracy": round(test_acc, 4), "epochs": cfg["classifier_epochs"],
               "n_test": int(len(x_test)),
               # the ceiling of the DCGAN's confident_fraction: real held-out digits' score
               "real_test_confident_fraction": round(real["confident_fraction"], 4),
               "real_test_class_entropy_ratio": round(real["class_entropy"] / math.log(10), 4)}
    return classifier, feats_test, fid_floor, metrics


def _training_digits(cfg: dict):
    from ..datasets import load_digits

    split = load_digits()
    x_train, y_train = split.x_train * 2 - 1, split.y_train
    if cfg["digits"]:
        x_train, y_train = x_train[: cfg["digits"]], y_train[: cfg["digits"]]
    return x_train, y_train


def _dcgan(cfg: dict, out: Path, seed: int, classifier, feats_test, fid_floor):
    """Section 3, the DCGAN: confident, diverse samples, FID beside the floor."""
    from ..schedules import polynomial_decay
    from ._metrics import class_coverage, features, fid
    from ._plots import SampleGrids, sample_grid, save_image

    t0 = time.perf_counter()
    x_train, _ = _training_digits(cfg)
    dcgan = _digits_gan(seed, None, cfg["dcgan_g_width"], cfg["d_width"], ema=EMA, lr=cfg["dcgan_lr"],
                        info_codes=INFO_CODES, q_width=cfg["q_width"])
    grids = SampleGrids(dcgan, out / "dcgan_epochs", n=64, every=cfg["grid_every"], seed=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = dcgan.fit(x_train, epochs=cfg["dcgan_epochs"], batch_size=cfg["dcgan_batch"],
                            seed=seed, callbacks=[grids],
                            lr_schedule=polynomial_decay(cfg["dcgan_epochs"]) if cfg["dcgan_decay"] else None)
    fake = dcgan.sample(cfg["n_eval"], seed=seed)
    cov = class_coverage(_probabilities(classifier, fake))
    metrics = {
        "confident_fraction": round(cov["confident_fraction"], 4),
        "class_entropy": round(cov["class_entropy"], 4),
        "class_entropy_ratio": round(cov["class_entropy"] / math.log(10), 4),
        "class_histogram": cov["class_histogram"],
        "fid": round(fid(feats_test, features(classifier, fake)), 3),
        "fid_floor": round(fid_floor, 3),
        "epochs": cfg["dcgan_epochs"], "batch_size": cfg["dcgan_batch"], "lr": cfg["dcgan_lr"],
        "lr_schedule": "linear decay to 0" if cfg["dcgan_decay"] else None, "ema": EMA, "truncation": None,
        "info_codes": INFO_CODES, "info_weight": INFO_WEIGHT, "latent_dim": LATENT,
        "g_width": cfg["dcgan_g_width"], "d_width": cfg["d_width"], "q_width": cfg["q_width"],
        "loss": "non_saturating",
        "steps": cfg["dcgan_epochs"] * math.ceil(len(x_train) / cfg["dcgan_batch"]),
        "n_samples": cfg["n_eval"],
        "warnings": [str(w.message) for w in caught if "GAN" in str(w.message)],
        "seconds": round(time.perf_counter() - t0, 1),
    }
    save_image(out / "dcgan_samples.png", sample_grid(fake[:100], nrow=10))
    strips = torch.cat([dcgan.interpolate(10, seed=seed + i) for i in range(5)])
    save_image(out / "dcgan_interpolation.png", sample_grid(strips, nrow=10))
    return metrics, history


def _conditional(cfg: dict, out: Path, seed: int, classifier, feats_test):
    """Section 4, the conditional DCGAN: does it draw the digit it is asked for?"""
    from ._metrics import class_coverage, features, fid
    from ._plots import sample_grid, save_image

    t0 = time.perf_counter()
    x_train, y_train = _training_digits(cfg)
    cgan = _digits_gan(seed, 10, cfg["g_width"], cfg["d_width"])
    history = cgan.fit(x_train, y_train, epochs=cfg["cond_epochs"], batch_size=64, seed=seed)
    wanted = torch.arange(cfg["n_eval"]) % 10
    cfake = cgan.sample(cfg["n_eval"], labels=wanted, seed=seed)
    cprob = _probabilities(classifier, cfake)
    ccov = class_coverage(cprob)
    metrics = {
        "class_accuracy": round(float((cprob.argmax(1) == wanted.numpy()).mean()), 4),
        "confident_fraction": round(ccov["confident_fraction"], 4),
        "fid": round(fid(feats_test, features(classifier, cfake)), 3),
        "epochs": cfg["cond_epochs"], "batch_size": 64, "lr": 2e-4, "g_width": cfg["g_width"],
        "d_width": cfg["d_width"], "ema": None, "truncation": None,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    rows = cgan.sample(100, labels=torch.arange(100) // 10, seed=seed)     # row r: digit r
    save_image(out / "conditional_samples.png", sample_grid(rows, nrow=10))
    return metrics, history


def run(out_dir, *, quick: bool = False, seed: int = 0) -> dict:
    """Run the chapter end to end; write the pictures into ``out_dir``; return the metrics."""
    import matplotlib

    matplotlib.use("Agg")
    cfg = QUICK if quick else FULL
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    metrics: dict = {"quick": bool(quick), "seed": seed}
    histories = {}
    metrics["ring"], histories["ring"] = _ring(cfg, out, seed)
    classifier, feats_test, fid_floor, metrics["classifier"] = _judge(cfg, out, seed)
    metrics["dcgan"], histories["dcgan"] = _dcgan(cfg, out, seed, classifier, feats_test, fid_floor)
    metrics["conditional"], histories["conditional"] = _conditional(cfg, out, seed, classifier,
                                                                    feats_test)
    _losses(out / "losses.png", histories)
    metrics["seconds"] = round(time.perf_counter() - t0, 1)
    return metrics
