"""GAN benchmark: neuralab's GAN on the Trainer against a plain PyTorch loop of the same DCGAN.

Two measurements, both with the pytorch/examples DCGAN hyperparameters (Adam, lr 2e-4,
β = (0.5, 0.999), non-saturating loss, one D step per G step, separate BN batches for
real and fake):

* ``step``: seconds per training step (one D and one G update) for the same networks
  (the torch copy has the neuralab weights), the same batch, one thread; setting
  ``digits8`` is an 8×8 DCGAN of the demo's shape (generator width 128 as its conditional
  DCGAN, batch 64), ``rgb32`` a 32×32×3 DCGAN (width 32,
  batch 64) on random images. Median over ``repeats`` runs, the two alternating so both
  see the same machine load; ``ratio = neuralab / torch`` (target ≤ 1.05).
* ``fid``: the demo's DCGAN trained for the same number of epochs on the digits by both
  loops; FID on the features of the digits classifier (1,000 samples against the test
  split) beside the floor FID(test, train); ``demo_recipe`` is the same budget in epochs
  with the demo's settings (batch, learning rate and schedule, generator width, InfoGAN code,
  generator EMA).

Run: ``.venv/bin/python benchmarks/gan.py [--repeats 5] [--epochs 30] [--threads 1]`` prints JSON.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from neuralab.generative import GAN, dcgan_discriminator, dcgan_generator, features, fid


def _torch_loop(G, D, latent, betas=(0.5, 0.999), lr=2e-4):
    """The plain loop of pytorch/examples/dcgan (logits + BCE-with-logits), as a step function."""
    g_opt = torch.optim.Adam(G.parameters(), lr=lr, betas=betas)
    d_opt = torch.optim.Adam(D.parameters(), lr=lr, betas=betas)

    def step(real):
        n = real.shape[0]
        z = torch.randn(n, latent)
        with torch.no_grad():
            fake = G(z)
        d_real, d_fake = D(real).reshape(-1), D(fake).reshape(-1)
        d_loss = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                  + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()
        out = D(G(torch.randn(n, latent))).reshape(-1)
        g_loss = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        return d_loss.item(), g_loss.item()

    return step


def _nets(setting):
    torch.manual_seed(0)
    if setting == "digits8":
        latent, shape = 32, (1, 8, 8)
        g = dcgan_generator(latent, shape, width=128, extra_layers=1)
        d = dcgan_discriminator(shape, width=64, extra_layers=1)
    else:
        latent, shape = 64, (3, 32, 32)
        g = dcgan_generator(latent, shape, width=32)
        d = dcgan_discriminator(shape, width=32)
    return latent, shape, g, d


def time_steps(setting: str, repeats: int, steps: int, batch: int = 64) -> dict:
    latent, shape, g, d = _nets(setting)
    x = torch.rand(steps * batch, *shape) * 2 - 1
    ours_t, torch_t = [], []
    for r in range(repeats + 1):                       # the first round warms up
        gan = GAN(copy.deepcopy(g), copy.deepcopy(d), warn=False)
        t0 = time.perf_counter()
        gan.fit(x, epochs=1, batch_size=batch, seed=r)
        t_ours = (time.perf_counter() - t0) / steps
        step = _torch_loop(copy.deepcopy(g), copy.deepcopy(d), latent)
        t0 = time.perf_counter()
        for i in range(steps):
            step(x[i * batch:(i + 1) * batch])
        t_torch = (time.perf_counter() - t0) / steps
        if r:
            ours_t.append(t_ours)
            torch_t.append(t_torch)
    a, b = statistics.median(ours_t), statistics.median(torch_t)
    return {"neuralab_s_per_step": round(a, 5), "torch_s_per_step": round(b, 5),
            "ratio": round(a / b, 3), "batch": batch, "steps": steps, "repeats": repeats}


def fid_equal_budget(epochs: int, seed: int = 0) -> dict:
    from neuralab.datasets import load_digits
    from neuralab.generative import digits_classifier

    split = load_digits()
    x_train, x_test = split.x_train * 2 - 1, split.x_test * 2 - 1
    clf = digits_classifier(seed=seed)
    f_test = features(clf, x_test)
    latent, _, g, d = _nets("digits8")

    gan = GAN(copy.deepcopy(g), copy.deepcopy(d), warn=False)
    t0 = time.perf_counter()
    gan.fit(x_train, epochs=epochs, batch_size=64, seed=seed)
    t_ours = time.perf_counter() - t0
    ours = fid(f_test, features(clf, gan.sample(1000, seed=seed)))

    G, D = copy.deepcopy(g), copy.deepcopy(d)
    step = _torch_loop(G, D, latent)
    xt = torch.from_numpy(x_train)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), 64):
            step(xt[perm[i:i + 64]])
    t_torch = time.perf_counter() - t0
    G.eval()
    with torch.no_grad():
        fake = G(torch.randn(1000, latent, generator=torch.Generator().manual_seed(seed)))
    theirs = fid(f_test, features(clf, fake))
    recipe = _demo_recipe(x_train, epochs, seed)
    recipe["fid"] = round(fid(f_test, features(clf, recipe.pop("samples"))), 3)
    return {"epochs": epochs, "neuralab_fid": round(ours, 3), "torch_fid": round(theirs, 3),
            "fid_floor": round(fid(f_test, features(clf, x_train)), 3),
            "neuralab_seconds": round(t_ours, 1), "torch_seconds": round(t_torch, 1),
            "demo_recipe": recipe}


def _demo_recipe(x_train, epochs: int, seed: int) -> dict:
    """The demo's DCGAN settings (batch, learning rate, schedule, generator width, InfoGAN code,
    generator EMA) for the same number of epochs: what the recipe buys over the pytorch/examples
    defaults."""
    from neuralab.generative import _demo
    from neuralab.schedules import polynomial_decay

    cfg = _demo.FULL
    gan = _demo._digits_gan(seed, None, cfg["dcgan_g_width"], cfg["d_width"], ema=_demo.EMA, lr=cfg["dcgan_lr"],
                            info_codes=_demo.INFO_CODES, q_width=cfg["q_width"])
    t0 = time.perf_counter()
    gan.fit(x_train, epochs=epochs, batch_size=cfg["dcgan_batch"], seed=seed,
            lr_schedule=polynomial_decay(epochs) if cfg["dcgan_decay"] else None)
    return {"seconds": round(time.perf_counter() - t0, 1), "batch_size": cfg["dcgan_batch"],
            "lr": cfg["dcgan_lr"], "ema": _demo.EMA, "lr_decay": cfg["dcgan_decay"],
            "g_width": cfg["dcgan_g_width"], "info_codes": _demo.INFO_CODES,
            "samples": gan.sample(1000, seed=seed)}


def run(repeats: int = 5, steps: int = 40, epochs: int = 30, threads: int = 1) -> dict:
    torch.set_num_threads(threads)
    warnings.simplefilter("ignore")
    return {"step": {s: time_steps(s, repeats, steps) for s in ("digits8", "rgb32")},
            "fid": fid_equal_budget(epochs)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    np.random.seed(0)
    result = run(args.repeats, args.steps, args.epochs, args.threads)
    result["threads"] = args.threads
    print(json.dumps(result, indent=2))
