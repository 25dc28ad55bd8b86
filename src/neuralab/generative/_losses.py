"""The adversarial losses: minimax, non-saturating and Wasserstein with gradient penalty.

Every loss takes the discriminator's raw scores (logits; for the Wasserstein
critic, unbounded scores) and returns a scalar tensor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import ShapeError
from ..validation import check_choice, check_number

__all__ = ["LOSSES", "discriminator_loss", "generator_loss", "gradient_penalty"]

LOSSES = ("non_saturating", "minimax", "wasserstein_gp")


def _scores(owner: str, name: str, scores: torch.Tensor) -> torch.Tensor:
    if not isinstance(scores, torch.Tensor):
        scores = torch.as_tensor(scores, dtype=torch.float32)
    if scores.dim() == 0 or scores[0].numel() != 1:
        raise ShapeError(f"{owner}: expected `{name}` to hold one score per sample, shape (N,) or "
                         f"(N, 1), received shape {tuple(scores.shape)}")
    return scores.reshape(-1)


def discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor,
                       loss: str = "non_saturating", *, real_label: float = 1.0) -> torch.Tensor:
    """The discriminator's (critic's) loss on a batch of real and of generated samples.

    With ``σ`` the logistic sigmoid and ``t`` the target of real samples
    (``real_label``; 1, or e.g. 0.9 for one-sided label smoothing):

    - "minimax" and "non_saturating" (the same for the discriminator): binary
      cross-entropy, ``−mean[t·log σ(D(x)) + (1−t)·log(1−σ(D(x)))] − mean[log(1−σ(D(G(z))))]``;
    - "wasserstein_gp": the critic's ``mean D(G(z)) − mean D(x)`` (add
      :func:`gradient_penalty` for the GP term).

    Args:
        real_scores: logits on real samples, shape ``(N,)`` or ``(N, 1)``.
        fake_scores: logits on generated samples, shape ``(M,)`` or ``(M, 1)``.
        loss: "non_saturating" (default), "minimax" or "wasserstein_gp".
        real_label: target of the real samples in (0, 1] (BCE losses only).

    Returns: a scalar tensor.

    >>> import torch
    >>> real, fake = torch.tensor([2.0, 1.0]), torch.tensor([-1.0, 0.0])
    >>> round(discriminator_loss(real, fake).item(), 4)
    0.7233
    >>> discriminator_loss(real, fake, "wasserstein_gp").item()
    -2.0
    """
    loss = check_choice("discriminator_loss", "loss", loss, LOSSES)
    real_label = check_number("discriminator_loss", "real_label", real_label, low=0.0, high=1.0,
                              low_open=True)
    real = _scores("discriminator_loss", "real_scores", real_scores)
    fake = _scores("discriminator_loss", "fake_scores", fake_scores)
    if loss == "wasserstein_gp":
        return fake.mean() - real.mean()
    real_target = torch.full_like(real, real_label)
    return (F.binary_cross_entropy_with_logits(real, real_target)
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


def generator_loss(fake_scores: torch.Tensor, loss: str = "non_saturating") -> torch.Tensor:
    """The generator's loss on the discriminator's scores of its samples.

    - "minimax": Goodfellow's original ``mean log(1 − σ(D(G(z))))`` (= ``−mean softplus(D(G(z)))``),
      whose gradient vanishes while the discriminator wins;
    - "non_saturating": ``−mean log σ(D(G(z)))`` (= ``mean softplus(−D(G(z)))``);
    - "wasserstein_gp": ``−mean D(G(z))``.

    Args:
        fake_scores: logits (critic scores) on generated samples, shape ``(N,)`` or ``(N, 1)``.
        loss: "non_saturating" (default), "minimax" or "wasserstein_gp".

    Returns: a scalar tensor.

    >>> import torch
    >>> fake = torch.tensor([0.0, 0.0])
    >>> round(generator_loss(fake).item(), 4), round(generator_loss(fake, "minimax").item(), 4)
    (0.6931, -0.6931)
    """
    loss = check_choice("generator_loss", "loss", loss, LOSSES)
    fake = _scores("generator_loss", "fake_scores", fake_scores)
    if loss == "wasserstein_gp":
        return -fake.mean()
    if loss == "minimax":
        return -F.softplus(fake).mean()
    return F.softplus(-fake).mean()


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, *, weight: float = 10.0,
                     epsilon: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP's penalty (Gulrajani et al., 2017) on points between real and fake samples.

    ``x̂ = ε·x + (1 − ε)·x̃`` with ``ε ~ U[0, 1]`` per sample, and
    ``λ · mean_i (‖∇_x̂ D(x̂_i)‖₂ − 1)²``, the norm over all non-batch axes. The
    graph is kept (``create_graph=True``) so the penalty trains the critic.

    Args:
        critic: a callable mapping a batch ``(N, *S)`` to scores ``(N,)`` or ``(N, 1)``.
        real, fake: batches of the same shape ``(N, *S)``.
        weight: λ (default 10).
        epsilon: the mixing weights ``(N,)`` (default: drawn from U[0, 1]).

    Returns: a scalar tensor.

    >>> import torch
    >>> w = torch.tensor([3.0, 4.0])                 # D(x) = w·x has ‖∇D‖ = 5 everywhere
    >>> gradient_penalty(lambda x: x @ w, torch.zeros(4, 2), torch.ones(4, 2)).item()
    160.0
    """
    weight = check_number("gradient_penalty", "weight", weight, low=0.0)
    if real.shape != fake.shape:
        raise ShapeError(f"gradient_penalty: expected `real` and `fake` of the same shape, "
                         f"received {tuple(real.shape)} and {tuple(fake.shape)}")
    n = real.shape[0]
    if epsilon is None:
        epsilon = torch.rand(n, device=real.device, dtype=real.dtype)
    epsilon = epsilon.reshape(n, *([1] * (real.dim() - 1))).to(real)
    mixed = (epsilon * real.detach() + (1 - epsilon) * fake.detach()).requires_grad_(True)
    scores = _scores("gradient_penalty", "critic(x)", critic(mixed))
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    norms = grad.reshape(n, -1).norm(2, dim=1)
    return weight * ((norms - 1) ** 2).mean()
