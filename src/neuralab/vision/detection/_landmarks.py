"""Landmark detection (CS230): a CNN regressing keypoints, and its error in pixels."""

from __future__ import annotations

import torch

from ... import layers as L
from ... import registry
from ...architectures._base import Model, build_model, check_image_shape
from ...errors import DataError, ShapeError
from ...validation import check_choice, check_int

__all__ = ["landmark_error", "LandmarkNet", "landmark_net"]


def _points(owner: str, name: str, value) -> torch.Tensor:
    value = torch.as_tensor(value)
    if not value.is_floating_point():
        value = value.to(torch.get_default_dtype())
    if value.dim() == 2 and value.shape[1] % 2 == 0:
        value = value.reshape(value.shape[0], -1, 2)
    if value.dim() != 3 or value.shape[-1] != 2:
        raise ShapeError(f"{owner}: expected `{name}` of shape (N, K, 2) or (N, 2K) as (x, y) "
                         f"points, received shape {tuple(value.shape)}")
    return value


def landmark_error(pred, true, *, reduction: str = "mean"):
    """Mean Euclidean distance between predicted and true landmarks.

    ``e = (1 / N K) Σ_n Σ_k ‖l̂_nk − l_nk‖₂`` in the points' own units (pixels
    for keypoints from :func:`~neuralab.datasets.make_shapes`).

    Args:
        pred, true: ``(N, K, 2)`` or ``(N, 2K)`` points ``(l_x, l_y)``.
        reduction: "mean" (a float), "none" (the ``(N, K)`` distances).

    Example:
        >>> landmark_error([[[0., 0.], [3., 4.]]], [[[0., 0.], [0., 0.]]])
        2.5
    """
    owner = "landmark_error"
    reduction = check_choice(owner, "reduction", reduction, ("mean", "none"))
    pred, true = _points(owner, "pred", pred), _points(owner, "true", true)
    for name, value in (("pred", pred), ("true", true)):
        if value.numel() == 0 or not bool(torch.isfinite(value).all()):
            raise DataError(f"{owner}: expected at least one point and finite values in `{name}`, received "
                            f"shape {tuple(value.shape)} with {int((~torch.isfinite(value)).sum())} NaN/inf")
    if pred.shape != true.shape:
        raise ShapeError(f"{owner}: expected `pred` and `true` of the same shape, received "
                         f"{tuple(pred.shape)} and {tuple(true.shape)}")
    dist = torch.linalg.vector_norm(pred - true, dim=-1)
    return dist if reduction == "none" else float(dist.mean())


@registry.layers.register("LandmarkNet")
class LandmarkNet(Model):
    """A CNN regressing K keypoints ``(l_1x, l_1y, …, l_Kx, l_Ky)`` relative to the image.

    Two conv–BN–ReLU–pool stages (``width``, 2·width filters), a third 3×3
    conv block without pooling (the flattened map keeps a quarter of the
    resolution, so positions stay readable), a dense ReLU layer and a linear
    output of 2K values ``l / S − ½`` (centred fractions of the side S).
    :meth:`encode` and :meth:`decode` convert pixels to targets and back;
    train with ``mse`` on ``encode(keypoints)``.

    Args:
        num_keypoints: K.
        input_shape: ``(C, H, W)``, at least 8×8 (default (3, 32, 32)).
        width: filters of the first stage (default 8).
        hidden: units of the dense layer (default 64).

    Shape: ``(N, C, H, W)`` → ``(N, 2K)``.

    Example:
        >>> net = LandmarkNet(3)
        >>> net.output_shape
        (6,)
        >>> import torch
        >>> net.decode(net.encode(torch.tensor([[[16., 8.], [0., 32.], [32., 32.]]]))).tolist()
        [[[16.0, 8.0], [0.0, 32.0], [32.0, 32.0]]]
    """

    minimum_input_size = 8

    def __init__(self, num_keypoints: int = 3, input_shape=(3, 32, 32), width: int = 8,
                 hidden: int = 64, *, num_classes: int | None = None, name: str = "landmark_net"):
        owner = "LandmarkNet"
        num_keypoints = check_int(owner, "num_keypoints", num_keypoints, low=1)
        if num_classes is not None:                 # reset_classifier / configs speak in outputs
            num_keypoints = check_int(owner, "num_classes", num_classes, low=2) // 2
        input_shape = check_image_shape(owner, input_shape)
        width = check_int(owner, "width", width, low=1)
        hidden = check_int(owner, "hidden", hidden, low=1)
        self.num_keypoints = num_keypoints
        self._args = {"input_shape": list(input_shape), "width": width, "hidden": hidden}

        def block(filters, i):
            return (L.Convolution(filters, 3, padding="same", bias=None, name=f"conv{i}")
                    >> L.BatchNorm(name=f"bn{i}") >> L.Relu(name=f"act{i}"))

        def build():
            return (L.Input(input_shape, name="input")
                    >> block(width, 1) >> L.MaxPooling(2, name="pool1")
                    >> block(2 * width, 2) >> L.MaxPooling(2, name="pool2")
                    >> block(2 * width, 3) >> L.Reshape(name="flatten")
                    >> L.Relu(hidden, name="fc") >> L.Linear(2 * num_keypoints, name="output"))

        graph = build_model(owner, build, self.minimum_input_size, input_shape)
        super().__init__(graph, name=name, feature_layer="act3", classifier_layer="output",
                         num_classes=2 * num_keypoints)

    def encode(self, keypoints) -> torch.Tensor:
        """Pixel keypoints ``(N, K, 2)`` → training targets ``(N, 2K)``: ``l / S − ½``."""
        _, h, w = self._args["input_shape"]
        points = _points("LandmarkNet.encode", "keypoints", keypoints)
        return (points / torch.tensor([w, h], dtype=points.dtype) - 0.5).reshape(len(points), -1)

    def decode(self, output: torch.Tensor) -> torch.Tensor:
        """Network output ``(N, 2K)`` → pixel keypoints ``(N, K, 2)``."""
        _, h, w = self._args["input_shape"]
        points = output.reshape(output.shape[0], -1, 2)
        return (points + 0.5) * torch.tensor([w, h], dtype=output.dtype, device=output.device)


@registry.architectures.register("landmark_net")
def landmark_net(num_keypoints: int = 3, input_shape=(3, 32, 32), **kwargs) -> LandmarkNet:
    """The keypoint regressor of the landmarks demo; see :class:`LandmarkNet`."""
    return LandmarkNet(num_keypoints, input_shape, **kwargs)
