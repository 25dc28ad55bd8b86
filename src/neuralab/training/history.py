"""History: what ``fit`` returns, one entry per epoch."""

from __future__ import annotations

import json
import math
import os
from typing import Any

from ..errors import UnknownKeyError
from ..validation import check_choice, check_int, check_path, expected

__all__ = ["History", "jsonable"]


def jsonable(value: Any) -> Any:
    """Convert tensors, NumPy scalars/arrays, tuples and non-finite floats to plain JSON values."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    tolist = getattr(value, "tolist", None)
    if tolist is not None:  # torch.Tensor, numpy array or scalar
        return jsonable(tolist())
    return repr(value)


class History:
    """Per-epoch record of a training run.

    Attributes:
        history: ``{"loss": [...], "val_loss": [...], "<metric>": [...],
            "val_<metric>": [...], "lr": [...], "time": [...], "optimizer": [...]}``,
            one value per epoch; ``"optimizer"`` holds the optimizer's
            ``last_info`` dict of each epoch when it has one. JSON-serialisable.
        epoch: the (0-based) epoch indices recorded.

    Example:
        >>> h = History()
        >>> h.append(0, {"loss": 1.0, "lr": 0.1, "time": 0.5})
        >>> h.append(1, {"loss": 0.5, "lr": 0.1, "time": 0.4})
        >>> h["loss"]
        [1.0, 0.5]
    """

    def __init__(self, history: dict | None = None, epoch: list | None = None):
        self.history: dict[str, list] = {k: list(v) for k, v in (history or {}).items()}
        self.epoch: list[int] = list(epoch or [])

    def append(self, epoch: int, logs: dict) -> None:
        """Record one epoch's values (missing keys of earlier epochs are filled with None)."""
        n = len(self.epoch)
        for key, value in logs.items():
            col = self.history.setdefault(key, [None] * n)
            col.append(jsonable(value))
        for key, col in self.history.items():
            if len(col) < n + 1:
                col.append(None)
        self.epoch.append(int(epoch))

    def __getitem__(self, key: str) -> list:
        try:
            return self.history[key]
        except (KeyError, TypeError):  # TypeError: an unhashable key
            recorded = ", ".join(repr(k) for k in self.history) or "none yet"
            raise expected("History", "key", f"a recorded quantity: {recorded} (fit records the "
                           "metrics=[...] it is given, and their val_ twins with validation_data=)",
                           key, error=UnknownKeyError) from None

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def __len__(self) -> int:
        return len(self.epoch)

    def to_dict(self) -> dict:
        """``{"epoch": [...], "history": {...}}``, JSON-serialisable."""
        return {"epoch": list(self.epoch), "history": jsonable(self.history)}

    @classmethod
    def from_dict(cls, data: dict) -> "History":
        return cls(data.get("history"), data.get("epoch"))

    def to_json(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_dict` as JSON."""
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh, indent=1)

    def plot(self, path: str | os.PathLike, keys: list[str] | None = None, dpi: int = 100) -> str:
        """Write learning curves to a PNG file (matplotlib's Agg backend, no display needed).

        One panel per quantity: the loss, then each metric, each with its
        ``val_`` twin when present, then the learning rate if it changed.

        Args:
            path: the PNG file to write (parent folders are created).
            keys: quantities to plot (default: every recorded numeric one except
                ``time``/``lr``, plus ``lr`` when it varies).
            dpi: resolution (default 100).

        Returns:
            The path written.
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        path = check_path("History.plot", "path", path, kind="file")
        dpi = check_int("History.plot", "dpi", dpi, low=1)
        if keys is not None:
            if isinstance(keys, str):
                keys = [keys]
            keys = [check_choice("History.plot", "keys", k, list(self.history), normalize=False) for k in keys]
        if keys is None:
            keys = [
                k for k in self.history
                if not k.startswith("val_") and k not in ("time", "lr", "optimizer")
                and any(isinstance(v, (int, float)) for v in self.history[k])
            ]
            lrs = [v for v in self.history.get("lr", []) if isinstance(v, (int, float))]
            if len(set(lrs)) > 1:
                keys.append("lr")
        if not keys:
            keys = ["loss"]
        fig = Figure(figsize=(4.5 * len(keys), 3.5))
        FigureCanvasAgg(fig)
        epochs = [e + 1 for e in self.epoch]
        for i, key in enumerate(keys):
            ax = fig.add_subplot(1, len(keys), i + 1)
            for name in (key, "val_" + key):
                values = self.history.get(name)
                if values:
                    pts = [(e, v) for e, v in zip(epochs, values) if isinstance(v, (int, float))]
                    if pts:
                        ax.plot(*zip(*pts), marker="o" if len(pts) < 30 else None, label=name)
            ax.set_xlabel("epoch")
            ax.set_title(key)
            ax.grid(alpha=0.3)
            ax.legend()
        fig.tight_layout()
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fig.savefig(path, dpi=dpi, format="png")
        return path

    def __repr__(self) -> str:
        last = {k: v[-1] for k, v in self.history.items() if v and k != "optimizer"}
        return f"History(epochs={len(self.epoch)}, last={last})"
