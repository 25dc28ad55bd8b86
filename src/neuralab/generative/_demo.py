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
     "classifier": {"test_accuracy"},
     "dcgan": {"confident_fraction", "class_entropy", "fid", "fid_floor", ...},
     "conditional": {"class_accuracy", ...}}
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

import numpy as np
import torch

__all__ = ["run", "FULL", "QUICK"]

# Budgets: the full demo runs in a few minutes on one CPU thread; quick in seconds.
FULL = dict(ring_points=8192, ring_epochs=128, ring_batch=256, ring_width=128, classifier_epochs=20,
            digits=None, dcgan_epochs=40, dcgan_batch=32, cond_epochs=15, g_width=128, d_width=64,
            n_eval=1000, grid_every=5)
QUICK = dict(ring_points=256, ring_epochs=1, ring_batch=128, ring_width=16, classifier_epochs=1,
             digits=256, dcgan_epochs=1, dcgan_batch=64, cond_epochs=1, g_width=8, d_width=8,
             n_eval=100, grid_every=1)
EMA = 0.99             # the DCGAN samples from an EMA of the generator's weights

RING_STD = 0.02
LATENT = 32


def _uniform(fan_in: int):
    """torch.nn.Linear's default initialisation, U(±1/√fan_in): the ring GAN needs its small scale."""
    from .. import init

    bound = 1.0 / math.sqrt(fan_in)
    return {"weight": init.Uniform(-bound, bound), "bias": init.Uniform(-bound, bound)}


def _ring_gan(seed: int, width: int = 128):
    """WGAN-GP on the ring: the BCE losses collapse to a few of the 8 modes at this budget."""
    from .. import layers as L
    from ._gan import GAN

    torch.manual_seed(seed)
    g = (L.Input((8,)) >> L.Relu(width, **_uniform(8)) >> L.Relu(width, **_uniform(width))
         >> L.Linear(2, **_uniform(width)))
    d = (L.Input((2,)) >> L.LeakyRelu(width, alpha=0.2, **_uniform(2))
         >> L.LeakyRelu(width, alpha=0.2, **_uniform(width)) >> L.Linear(1, **_uniform(width)))
    return GAN(g, d, loss="wasserstein_gp", d_steps=5, g_lr=5e-4, d_lr=5e-4, betas=(0.5, 0.9),
               gp_weight=1.0, warn=False)


def _digits_gan(seed: int, n_classes: int | None = None, g_width: int = 128, d_width: int = 64,
                ema: float | None = None):
    from ._gan import GAN
    from ._networks import dcgan_discriminator, dcgan_generator

    torch.manual_seed(seed)
    k = n_classes or 0
    g = dcgan_generator(LATENT, (1, 8, 8), width=g_width, extra_layers=1, n_classes=k)
    d = dcgan_discriminator((1, 8, 8), width=d_width, extra_layers=1, n_classes=k)
    return GAN(g, d, n_classes=n_classes, g_lr=2e-4, d_lr=2e-4, ema=ema)


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


def run(out_dir, *, quick: bool = False, seed: int = 0) -> dict:
    """Run the chapter end to end; write the pictures into ``out_dir``; return the metrics."""
    import matplotlib

    matplotlib.use("Agg")
    from ..datasets import load_digits
    from ..schedules import polynomial_decay
    from ._data import make_gaussian_ring
    from ._metrics import class_coverage, digits_classifier, features, fid, mode_coverage
    from ._plots import SampleGrids, sample_grid, save_image

    cfg = QUICK if quick else FULL
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics: dict = {"quick": bool(quick), "seed": seed}
    histories = {}

    # -- 1. the 8-Gaussian ring: are all modes covered, and sharply? ---------------------
    t0 = time.perf_counter()
    x_ring, modes = make_gaussian_ring(cfg["ring_points"], std=RING_STD, seed=seed)
    ring = _ring_gan(seed, cfg["ring_width"])
    histories["ring"] = ring.fit(x_ring, epochs=cfg["ring_epochs"], batch_size=cfg["ring_batch"],
                                 seed=seed, lr_schedule=polynomial_decay(cfg["ring_epochs"]))
    fake_ring = ring.sample(cfg["n_eval"], seed=seed + 1).numpy()
    cover = mode_coverage(fake_ring, modes, RING_STD)
    metrics["ring"] = {"modes_covered": cover["modes_covered"], "n_modes": cover["n_modes"],
                       "high_quality_fraction": round(cover["high_quality_fraction"], 4),
                       "std": RING_STD, "epochs": cfg["ring_epochs"], "loss": "wasserstein_gp", "d_steps": 5,
                       "steps": cfg["ring_epochs"] * (cfg["ring_points"] // cfg["ring_batch"]),
                       "seconds": round(time.perf_counter() - t0, 1)}
    _scatter(out / "ring.png", x_ring[: cfg["n_eval"]], fake_ring, modes)

    # -- 2. the judge: a digits classifier trained with neuralab ---------------------------
    split = load_digits()
    x_train, x_test = split.x_train * 2 - 1, split.x_test * 2 - 1          # tanh's range
    y_train = split.y_train
    if cfg["digits"]:
        x_train, y_train = x_train[: cfg["digits"]], y_train[: cfg["digits"]]
    classifier = digits_classifier(epochs=cfg["classifier_epochs"], seed=seed)
    classifier.save(out / "digits_classifier.safetensors")
    test_acc = float((_probabilities(classifier, torch.from_numpy(x_test)).argmax(1)
                      == split.y_test).mean())
    metrics["classifier"] = {"test_accuracy": round(test_acc, 4),
                             "epochs": cfg["classifier_epochs"]}
    feats_test = features(classifier, x_test)
    fid_floor = fid(feats_test, features(classifier, split.x_train * 2 - 1))

    # -- 3. DCGAN on digits ------------------------------------------------------------------
    t0 = time.perf_counter()
    dcgan = _digits_gan(seed, None, cfg["g_width"], cfg["d_width"], ema=EMA)
    grids = SampleGrids(dcgan, out / "dcgan_epochs", n=64, every=cfg["grid_every"], seed=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        histories["dcgan"] = dcgan.fit(x_train, epochs=cfg["dcgan_epochs"],
                                       batch_size=cfg["dcgan_batch"], seed=seed, callbacks=[grids])
    fake = dcgan.sample(cfg["n_eval"], seed=seed)
    cov = class_coverage(_probabilities(classifier, fake))
    metrics["dcgan"] = {
        "confident_fraction": round(cov["confident_fraction"], 4),
        "class_entropy": round(cov["class_entropy"], 4),
        "class_entropy_ratio": round(cov["class_entropy"] / math.log(10), 4),
        "class_histogram": cov["class_histogram"],
        "fid": round(fid(feats_test, features(classifier, fake)), 3),
        "fid_floor": round(fid_floor, 3),
        "epochs": cfg["dcgan_epochs"], "batch_size": cfg["dcgan_batch"], "ema": EMA,
        "n_samples": cfg["n_eval"],
        "warnings": [str(w.message) for w in caught if "GAN" in str(w.message)],
        "seconds": round(time.perf_counter() - t0, 1),
    }
    save_image(out / "dcgan_samples.png", sample_grid(fake[:100], nrow=10))
    strips = torch.cat([dcgan.interpolate(10, seed=seed + i) for i in range(5)])
    save_image(out / "dcgan_interpolation.png", sample_grid(strips, nrow=10))

    # -- 4. conditional DCGAN: does it draw the digit it is asked for? ----------------------
    t0 = time.perf_counter()
    cgan = _digits_gan(seed, 10, cfg["g_width"], cfg["d_width"])
    histories["conditional"] = cgan.fit(x_train, y_train, epochs=cfg["cond_epochs"],
                                        batch_size=64, seed=seed)
    wanted = torch.arange(cfg["n_eval"]) % 10
    cfake = cgan.sample(cfg["n_eval"], labels=wanted, seed=seed)
    cprob = _probabilities(classifier, cfake)
    ccov = class_coverage(cprob)
    metrics["conditional"] = {
        "class_accuracy": round(float((cprob.argmax(1) == wanted.numpy()).mean()), 4),
        "confident_fraction": round(ccov["confident_fraction"], 4),
        "fid": round(fid(feats_test, features(classifier, cfake)), 3),
        "epochs": cfg["cond_epochs"], "seconds": round(time.perf_counter() - t0, 1),
    }
    rows = cgan.sample(100, labels=torch.arange(100) // 10, seed=seed)     # row r: digit r
    save_image(out / "conditional_samples.png", sample_grid(rows, nrow=10))
    _losses(out / "losses.png", histories)
    return metrics
