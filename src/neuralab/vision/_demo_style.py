"""``neuralab demo style``: neural style transfer on the pretrained EfficientNet-Lite0, offline.

Content: scikit-learn's bundled photo ``china.jpg``; style: scikit-image's
bundled immunohistochemistry micrograph (brown cells, blue nuclei). 100 L-BFGS
steps at 256 px (``quick``: 5 steps at 96 px). Writes ``result.png`` (the
stylised image), ``panel.png`` (content | style | result) and ``costs.png``
(J, J_content, J_style per step).

:func:`stylise_files` is what ``neuralab style CONTENT STYLE --out result.png``
runs: image files in, the stylised image (and its cost curves) out.
"""

from __future__ import annotations

from pathlib import Path

from ..validation import check_path, expected
from .style import transfer

__all__ = ["run", "stylise_files"]

ALPHA, BETA = 1.0, 1e7


def run(out_dir, *, quick: bool = False, seed: int = 0) -> dict:
    """Run the demo, write its pictures into ``out_dir`` and return its metrics (JSON-able)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from skimage import data
    from sklearn.datasets import load_sample_image

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    content, style = load_sample_image("china.jpg"), data.immunohistochemistry()
    size, steps = (96, 5) if quick else (256, 100)
    result = transfer(content, style, alpha=ALPHA, beta=BETA, steps=steps, size=size,
                      optimizer="lbfgs", seed=seed)
    h = result.history

    plt.imsave(out / "result.png", result.image)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, img, title in zip(axes, (content, style, result.image),
                              ("content (china.jpg)", "style (immunohistochemistry)",
                               f"result ({steps} L-BFGS steps, {size} px)")):
        ax.imshow(img)
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / "panel.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for key, weight, label in (("total", 1.0, "J = αJ_content + βJ_style"),
                               ("content", ALPHA, "αJ_content"), ("style", BETA, "βJ_style")):
        ax.plot([v * weight for v in h[key]], label=label)
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_xlabel("step")
    ax.set_ylabel("cost")
    ax.set_title("style transfer costs (EfficientNet-Lite0)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "costs.png", dpi=100)
    plt.close(fig)

    style_drop = 1.0 - h["style"][-1] / h["style"][0]
    return {
        "backbone": "efficientnet_lite0",
        "alpha": ALPHA,
        "beta": BETA,
        "size": list(result.image.shape[:2]),
        "steps": result.steps,
        "style_cost_start": h["style"][0],
        "style_cost_end": h["style"][-1],
        "style_cost_drop": style_drop,
        "content_cost_end": h["content"][-1],
        "content_cost_of_style_image": result.reference["content"],
        "transfer_seconds": result.seconds,
        "seconds_per_step": result.seconds / max(result.steps, 1),
    }


def _read_rgb(path):
    import matplotlib.image as mpimg
    import numpy as np

    from ..errors import DataError

    try:
        image = mpimg.imread(str(path))
    except (OSError, ValueError) as exc:
        raise DataError(f"style: cannot read the image {str(path)!r} ({exc})") from None
    if image.ndim == 2:                      # grayscale → RGB
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 4:   # drop the alpha channel
        image = image[:, :, :3]
    return image


def stylise_files(content_path, style_path, out_path, *, steps: int = 100, size: int = 256,
                  alpha: float = ALPHA, beta: float = BETA, optimizer: str = "lbfgs",
                  progress: bool | str = True, seed: int = 0) -> dict:
    """Read two image files, run :func:`~neuralab.vision.style.transfer`, write the result.

    Writes ``out_path`` (the stylised image; PNG or any format matplotlib writes)
    and ``<out_path stem>-costs.png`` beside it. Grayscale images become RGB and an
    alpha channel is dropped. Returns the metrics (JSON-able).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from matplotlib.backend_bases import FigureCanvasBase

    out = Path(check_path("style", "out", out_path, kind="file"))
    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    if out.suffix.lower().lstrip(".") not in formats:  # checked before the run, not after it
        raise expected("style", "out", "an image file name ending in ." + ", .".join(formats),
                       str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    result = transfer(_read_rgb(content_path), _read_rgb(style_path), alpha=alpha, beta=beta,
                      steps=steps, size=size, optimizer=optimizer, progress=progress, seed=seed)
    plt.imsave(out, result.image)
    h = result.history
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, weight, label in (("total", 1.0, "J"), ("content", alpha, "αJ_content"),
                               ("style", beta, "βJ_style")):
        ax.plot([v * weight for v in h[key]], label=label)
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_xlabel("step")
    ax.legend()
    fig.tight_layout()
    costs = out.with_name(out.stem + "-costs.png")
    fig.savefig(costs, dpi=100)
    plt.close(fig)
    return {"result": str(out), "costs": str(costs), "steps": result.steps,
            "style_cost_drop": 1.0 - h["style"][-1] / h["style"][0] if h["style"][0] > 0 else 0.0,
            "content_cost_end": h["content"][-1], "seconds": result.seconds}
