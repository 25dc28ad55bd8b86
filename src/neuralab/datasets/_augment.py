"""Data augmentation as a torch Dataset."""

from __future__ import annotations

import numbers

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError, DataError

__all__ = ["RandomShift"]


class RandomShift(torch.utils.data.Dataset):
    """Images shifted by a random whole number of pixels each time they are read.

    Each access draws ``dx, dy`` uniformly from ``[-max_shift, max_shift]`` and
    moves the image by that much, filling the uncovered border with zeros
    (no wrap-around). Targets are returned unchanged. Pass it to ``fit`` in
    place of ``(x, y)``: every epoch then sees new shifts.

    Args:
        x: images ``(N, C, H, W)`` (NumPy array or tensor).
        y: targets ``(N, ...)``.
        max_shift: largest shift in pixels (default 2).
        seed: seed of the shifts (default 0).

    >>> import numpy as np
    >>> data = RandomShift(np.ones((4, 1, 6, 6), np.float32), np.arange(4), max_shift=1)
    >>> image, label = data[2]
    >>> tuple(image.shape), int(label), float(image.sum()) >= 25
    ((1, 6, 6), 2, True)
    """

    def __init__(self, x, y, max_shift: int = 2, seed: int = 0):
        if (isinstance(max_shift, bool) or not isinstance(max_shift, numbers.Integral)
                or max_shift < 0):
            raise ConfigError(f"RandomShift: `max_shift` must be a non-negative int, "
                              f"received {max_shift!r}")
        x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
        y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
        if x.dim() != 4:
            raise DataError(f"RandomShift expects images (N, C, H, W), received shape "
                            f"{tuple(x.shape)}")
        if len(x) != len(y):
            raise DataError(f"RandomShift: x has {len(x)} samples but y has {len(y)}")
        m = int(max_shift)
        self.max_shift = m
        self.height, self.width = x.shape[2], x.shape[3]
        self.padded = F.pad(x, (m, m, m, m)) if m else x  # (N, C, H + 2m, W + 2m)
        self.y = y
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index):
        m = self.max_shift
        if m:
            dy, dx = (torch.randint(0, 2 * m + 1, (2,), generator=self.generator)).tolist()
        else:
            dy = dx = 0
        image = self.padded[index, :, dy:dy + self.height, dx:dx + self.width]
        return image, self.y[index]
