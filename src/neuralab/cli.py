"""The ``neuralab`` command: train, evaluate, summarise, compute CNN arithmetic.

    neuralab train lenet5 --data digits            # the main job: writes runs/lenet5/
    neuralab evaluate runs/lenet5/model.safetensors --data digits
    neuralab summary resnet18 --input-shape 3,224,224
    neuralab calc conv --input 32 --kernel 5 --stride 1 --padding same

Run any subcommand with ``--help`` for its options.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["main", "build_parser"]

DATASETS = ("digits",)

# `neuralab demo CHAPTER`: each chapter's demo is a function
# ``run(out_dir: Path, *, quick: bool = False, seed: int = 0) -> dict`` that writes its
# pictures into ``out_dir`` and returns the metrics; the CLI writes metrics.json.
DEMOS = {
    "detection": ("neuralab.vision._demo_detection", "object detection: IoU, NMS, anchors, YOLO on shapes"),
    "faces": ("neuralab.vision._demo_face", "faces: Haar cascade, Siamese embeddings, verification"),
    "style": ("neuralab.vision._demo_style", "neural style transfer on a pretrained backbone"),
    "sequences": ("neuralab.sequences._demo", "recurrent networks: Reber grammar, language model, BLEU"),
    "gan": ("neuralab.generative._demo", "GANs: the 8-Gaussian ring, DCGAN and conditional DCGAN on digits, FID"),
    "rl": ("neuralab.rl._demo", "reinforcement learning: value iteration, Q-learning, DQN"),
}

# other names a reader may type (the issues and the cheat sheets use them)
DEMO_ALIASES = {"face": "faces", "gans": "gan", "sequence": "sequences", "style-transfer": "style",
                "reinforcement": "rl"}

# ----------------------------------------------------------------------------- helpers
def _shape(text: str) -> tuple:
    try:
        values = tuple(int(v) for v in text.replace("x", ",").strip().rstrip(",").split(","))  # "1,,32" is an error
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a shape such as 3,224,224, received {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(
            f"expected positive integers such as 3,224,224, received {text!r}")
    return values


def _value(convert, ok, expected: str, name: str):
    """An argparse type: ``convert(text)``, then ``ok(value)``, else a one-line ``expected …`` error."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, received {text!r}")
        return value
    parse.__name__ = name
    return parse


def _int_at_least(low: int):
    return _value(int, lambda v: v >= low, f"an integer >= {low}", f"integer >= {low}")


_positive_float = _value(float, lambda v: math.isfinite(v) and v > 0, "a positive number", "positive number")


def _fraction(low_open: bool):
    return _value(float, (lambda v: 0 < v < 1) if low_open else (lambda v: 0 <= v < 1),
                  f"a fraction in {'(0' if low_open else '[0'}, 1)", "fraction")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``neuralab train: argument --lr: expected …`` (exit 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _padding(text: str):
    if text in ("valid", "same", "full"):
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'valid', 'same', 'full' or a non-negative int, received {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"padding must be non-negative, received {value}")
    return value


def _load_data(name: str, input_shape: tuple, seed: int, *, classes=None, test_split: float = 0.2,
               label_column: str | None = None):
    """Train/test arrays of data set ``name`` (or the user's file) shaped for ``input_shape``."""
    import numpy as np

    from .datasets import load_digits

    if name != "digits":
        return _user_data(name, input_shape, seed, classes=classes, test_split=test_split,
                          label_column=label_column)
    if len(input_shape) != 3 or input_shape[1] != input_shape[2]:
        from .errors import DataError

        raise DataError(f"--data digits: digits are square images; the model expects "
                        f"{input_shape}, which is not (C, S, S)")
    channels, size = input_shape[0], input_shape[1]
    split = load_digits(size=size, seed=seed)
    if channels != 1:
        split = split._replace(x_train=np.repeat(split.x_train, channels, axis=1),
                               x_test=np.repeat(split.x_test, channels, axis=1))
    return UserData(*split, classes=None, source="digits")


# ------------------------------------------------------------------ the user's own data
# `neuralab train ARCH --data FILE`: a .npz file with arrays x and y (or x_train, y_train,
# x_test, y_test), a .csv file with a label column, or a folder with one sub-folder of images
# per class. Images are resized to the model's input; labels may be integers or names.

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
_MIN_SAMPLES = 4


class UserData(NamedTuple):
    """Train/test arrays, the class names (None for integer labels) and where they came from."""

    x_train: Any
    y_train: Any
    x_test: Any
    y_test: Any
    classes: list | None = None
    source: str = ""


def _data_error(source: str, message: str):
    from .errors import DataError

    return DataError(f"--data {source}: {message}")


def _labels(y, source: str, classes: list | None):
    """Integer labels 0..K-1 from integer or string labels; ``classes`` fixes the name order."""
    import numpy as np

    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise _data_error(source, f"expected one class label per sample (shape (N,)), received labels "
                                  f"of shape {y.shape}")
    if y.dtype.kind in "US":
        names = sorted(set(y.tolist())) if classes is None else list(classes)
        index = {c: i for i, c in enumerate(names)}
        unknown = sorted(set(y.tolist()) - set(index))
        if unknown:
            raise _data_error(source, f"expected labels among the model's classes {names[:20]}, received "
                                      f"{unknown[:5]}")
        return np.array([index[v] for v in y.tolist()], dtype=np.int64), names
    if y.dtype.kind not in "iufb":
        raise _data_error(source, f"expected integer or string class labels, received dtype {y.dtype}")
    if y.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
        if len(bad):
            raise _data_error(source, f"expected integer class labels, received {float(y[bad[0]])!r} at sample "
                                      f"{bad[0]}")
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        raise _data_error(source, f"expected class labels >= 0, received {int(y.min())}")
    if classes is not None and len(y) and y.max() >= len(classes):
        raise _data_error(source, f"expected labels below the model's {len(classes)} classes, received "
                                  f"{int(y.max())}")
    return y, classes


def _read_npz(path: str):
    import zipfile

    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except ValueError as exc:
        if "pickle" in str(exc):
            raise _data_error(path, "expected numeric or string arrays, received an object array (it "
                                    "needs pickle, which neuralab never loads)") from None
        raise _data_error(path, f"not a readable .npz file ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise _data_error(path, f"not a readable .npz file (truncated or not a NumPy archive: "
                                f"{type(exc).__name__}: {exc})") from None
    lower = {k.lower(): k for k in arrays}
    if {"x_train", "y_train", "x_test", "y_test"} <= set(lower):
        return tuple(arrays[lower[k]] for k in ("x_train", "y_train", "x_test", "y_test"))
    if {"x", "y"} <= set(lower):
        return arrays[lower["x"]], arrays[lower["y"]]
    raise _data_error(path, f"expected arrays named x and y (or x_train, y_train, x_test, y_test), "
                            f"received {sorted(arrays) or 'no arrays'}")


def _read_csv(path: str, label_column: str | None):
    import csv

    import numpy as np

    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise _data_error(path, f"not a readable CSV file ({exc})") from None
    if not rows:
        raise _data_error(path, "expected a header and rows of numbers, received an empty file")

    def number(text):
        try:
            float(text)
            return True
        except ValueError:
            return False

    header = None if all(number(c) for c in rows[0]) else [c.strip() for c in rows[0]]
    body = rows[1:] if header else rows
    width = len(rows[0])
    if header is not None:
        wanted = label_column or "label"
        folded = [h.lower() for h in header]
        if wanted.lower() in folded:
            col = folded.index(wanted.lower())
        elif wanted.lstrip("-").isdigit() and -width <= int(wanted) < width:
            col = int(wanted) % width
        else:
            raise _data_error(path, f"expected a label column {wanted!r}, received the columns {header}; "
                                    "pass --label-column NAME")
    else:
        col = width - 1 if label_column is None else None
        if label_column is not None:
            if not (label_column.lstrip("-").isdigit() and -width <= int(label_column) < width):
                raise _data_error(path, f"the file has no header: expected --label-column to be a column "
                                        f"index below {width}, received {label_column!r}")
            col = int(label_column) % width
    if width < 2:
        raise _data_error(path, f"expected feature columns and a label column, received {width} column")
    features, labels = [], []
    for i, row in enumerate(body, start=2 if header else 1):
        if len(row) != width:
            raise _data_error(path, f"line {i}: expected {width} fields, received {len(row)}")
        labels.append(row[col].strip())
        values = [c for j, c in enumerate(row) if j != col]
        try:
            features.append([float(v) for v in values])
        except ValueError:
            bad = next(v for v in values if not number(v))
            raise _data_error(path, f"line {i}: expected numeric features, received {bad.strip()!r}") from None
    if all(number(v) for v in labels):
        y = np.array([float(v) for v in labels])
    else:
        y = np.array(labels)
    return np.array(features, dtype=np.float32).reshape(len(features), width - 1), y


def _list_image_folder(path: str):
    classes = sorted(d.name for d in os.scandir(path) if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        raise _data_error(path, f"expected an image folder with one sub-folder per class (at least 2), "
                                f"received {len(classes)} sub-folder{'' if len(classes) == 1 else 's'}")
    files, labels = [], []
    for k, name in enumerate(classes):
        found = sorted(e.path for e in os.scandir(os.path.join(path, name))
                       if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS))
        if not found:
            raise _data_error(path, f"expected images ({', '.join(IMAGE_EXTENSIONS[:4])} …) in every class "
                                    f"folder, received none in {name!r}")
        files += found
        labels += [name] * len(found)
    return files, labels, classes


def _read_images(files, input_shape: tuple, source: str):
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    if len(input_shape) != 3 or input_shape[0] not in (1, 3):
        raise _data_error(source, f"an image folder needs a model with input (1, H, W) or (3, H, W), "
                                  f"received a model with input {input_shape}")
    channels, height, width = input_shape
    out = np.empty((len(files), channels, height, width), dtype=np.float32)
    for i, f in enumerate(files):
        try:
            with Image.open(f) as im:
                im = im.convert("L" if channels == 1 else "RGB").resize((width, height), Image.BILINEAR)
                a = np.asarray(im, dtype=np.float32) / 255.0
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
            raise _data_error(source, f"expected image files, cannot read {f!r} ({exc})") from None
        out[i] = a[None] if channels == 1 else a.transpose(2, 0, 1)
    return out


def _fit_to_input(x, input_shape: tuple, source: str):
    """``x`` (N, …) as float32 samples of ``input_shape``: add a channel axis, move channels-last
    images to channels-first, match 1/3 channels, resize images (bilinear, antialiased)."""
    import numpy as np
    import torch

    x = np.asarray(x)
    if x.dtype.kind not in "iufb":
        raise _data_error(source, f"expected numeric samples, received dtype {x.dtype}")
    if x.dtype == np.uint8:  # 8-bit pixels 0..255: scaled to [0, 1] as image folders are
        x = x.astype(np.float32) / np.float32(255.0)
    x = x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise _data_error(source, "expected finite values, received NaN or infinity in x")
    sample = tuple(x.shape[1:])
    if sample == tuple(input_shape):
        return x
    if len(input_shape) == 1 and int(np.prod(sample)) == input_shape[0]:
        return x.reshape(len(x), -1)
    if len(input_shape) == 3 and len(sample) in (2, 3):
        if len(sample) == 2:
            x = x[:, None]
        elif sample[-1] in (1, 3) and sample[0] not in (1, 3):
            x = x.transpose(0, 3, 1, 2)             # (N, H, W, C) -> (N, C, H, W)
        c = x.shape[1]
        if c != input_shape[0]:
            if c == 1 and input_shape[0] == 3:
                x = np.repeat(x, 3, axis=1)
            elif c == 3 and input_shape[0] == 1:
                x = x.mean(axis=1, keepdims=True)
            else:
                raise _data_error(source, f"expected images with {input_shape[0]} channel(s) for the model "
                                          f"input {input_shape}, received samples of shape {sample}")
        if tuple(x.shape[2:]) != tuple(input_shape[1:]):
            t = torch.nn.functional.interpolate(torch.from_numpy(np.ascontiguousarray(x)),
                                                size=tuple(input_shape[1:]), mode="bilinear",
                                                align_corners=False, antialias=True)
            x = t.numpy()
        return np.ascontiguousarray(x, dtype=np.float32)
    raise _data_error(source, f"expected samples of shape {tuple(input_shape)} (the model's input) or "
                              f"images to resize to it, received samples of shape {sample}")


def _read_user_data(path: str, label_column: str | None):
    """``(x or image files, y, given split or None, kind)`` without shaping anything yet."""
    if not os.path.exists(path):
        raise _data_error(path, f"expected 'digits', a .npz or .csv file or an image folder, "
                                f"received {path!r}, which does not exist")
    if os.path.isdir(path):
        files, labels, classes = _list_image_folder(path)
        return files, labels, None, "images", classes
    lower = path.lower()
    if lower.endswith(".npz"):
        arrays = _read_npz(path)
        if len(arrays) == 4:
            return arrays[0], arrays[1], (arrays[2], arrays[3]), "npz", None
        return arrays[0], arrays[1], None, "npz", None
    if lower.endswith(".csv"):
        x, y = _read_csv(path, label_column)
        return x, y, None, "csv", None
    raise _data_error(path, "expected 'digits', a .npz file (arrays x, y), a .csv file with a label "
                            "column or a folder of class sub-folders, received a file of another kind")


def peek_classes(path: str, label_column: str | None = None) -> tuple[int, list | None]:
    """The number of classes of the user's data and their names (None for integer labels)."""
    x, y, given, kind, classes = _read_user_data(path, label_column)
    if classes is not None:
        return len(classes), classes
    ys = [y] if given is None else [y, given[1]]
    import numpy as np

    labels = [_labels(v, path, None) for v in ys]
    if labels[0][1] is not None:  # names
        names = sorted(set().union(*[set(np.asarray(v).tolist()) for v in ys]))
        return len(names), names
    return int(max(int(v.max()) if len(v) else 0 for v, _ in labels)) + 1, None


def _user_data(path: str, input_shape: tuple, seed: int, *, classes=None, test_split: float = 0.2,
               label_column: str | None = None) -> UserData:
    import numpy as np

    x, y, given, kind, folder_classes = _read_user_data(path, label_column)
    if folder_classes is not None:
        if classes is not None and list(classes) != list(folder_classes):
            missing = sorted(set(folder_classes) - set(classes))
            if missing:
                raise _data_error(path, f"expected the model's classes {list(classes)[:20]}, received "
                                        f"class folders {missing[:5]} it does not know")
        x = _read_images(x, input_shape, path)
        y, names = _labels(np.array(y), path, classes or folder_classes)
    else:
        if len(x) != len(y):
            raise _data_error(path, f"expected one label per sample, received {len(x)} samples and "
                                    f"{len(y)} labels")
        if classes is None and given is not None and np.asarray(y).dtype.kind in "US":
            classes = sorted(set(np.asarray(y).tolist()) | set(np.asarray(given[1]).tolist()))
        y, names = _labels(y, path, classes)
        if np.asarray(x).dtype == np.uint8:
            print(f"neuralab: --data {path}: uint8 samples (pixels 0-255) scaled to [0, 1] by "
                  f"dividing by 255, as images read from a folder are", file=sys.stderr)
        x = _fit_to_input(x, input_shape, path)
    if given is not None:
        x_test = _fit_to_input(given[0], input_shape, path)
        y_test, _ = _labels(given[1], path, names)
        if len(x_test) != len(y_test):
            raise _data_error(path, f"expected one label per test sample, received {len(x_test)} samples "
                                    f"and {len(y_test)} labels")
        return UserData(x, y, x_test, y_test, names, path)
    if len(x) < _MIN_SAMPLES:
        raise _data_error(path, f"expected at least {_MIN_SAMPLES} samples (a train and a test part), "
                                f"received {len(x)}")
    from sklearn.model_selection import train_test_split

    counts = np.bincount(y)
    n_test = max(1, int(round(test_split * len(y))))
    stratify = y if counts[counts > 0].min() >= 2 and n_test >= (counts > 0).sum() else None
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=n_test, random_state=seed, stratify=stratify)
    return UserData(x_tr, y_tr, x_te, y_te, names, path)


def _model_input_shape(model) -> tuple:
    shape = getattr(model, "input_shape", None)
    if isinstance(shape, tuple) and all(isinstance(s, int) for s in shape):
        return shape
    from .errors import ConfigError

    raise ConfigError("the model has no fixed input shape; build it from an Input layer")


def _confusion(y_true, y_pred, n_classes: int):
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(y_true, y_pred, labels=list(range(n_classes)))


def _plot_confusion(matrix, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = matrix.shape[0]
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(matrix, cmap="Blues")
    for i in range(n):
        for j in range(n):
            if matrix[i, j]:
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    accuracy = matrix.trace() / max(matrix.sum(), 1)
    ax.set_title(f"Confusion matrix (accuracy {accuracy:.2%})")
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _build_model(spec: str, args):
    """An architecture name or a .safetensors file → (model, display name)."""
    from . import architectures, storage

    if spec.endswith(".safetensors") or os.path.isfile(spec):
        return storage.load(spec), Path(spec).stem
    kwargs = {"num_classes": args.num_classes if args.num_classes is not None else 10}
    if getattr(args, "input_shape", None):
        kwargs["input_shape"] = args.input_shape
    return architectures.create(spec, **kwargs), spec


# ----------------------------------------------------------------------------- commands
def _check_out_folder(out: Path) -> None:
    """Refuse an output folder that cannot be created (below a file, not writable) before training."""
    from .errors import ConfigError

    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out: expected a folder, received the file {str(out)!r}")
    p = out
    while not p.exists():
        if p.parent == p:
            break
        p = p.parent
    if p.exists() and not p.is_dir():
        raise ConfigError(f"--out: expected a folder path, received {str(out)!r}, which is below the "
                          f"file {str(p)!r}")
    if p.exists() and not os.access(p, os.W_OK):
        raise ConfigError(f"--out: cannot write into {str(p)!r} (permission denied)")


def _model_for_data(args):
    """``(model, name, n_classes, classes)``: the model of ``train``, sized to the data's classes."""
    import torch

    from .errors import DataError

    classes = None
    if args.data == "digits":
        n_classes = 10
    else:
        n_classes, classes = peek_classes(args.data, args.label_column)
    if args.num_classes is None:
        args.num_classes = n_classes
    torch.manual_seed(args.seed)
    model, name = _build_model(args.model, args)
    out_shape = getattr(model, "output_shape", None)
    if isinstance(out_shape, tuple) and len(out_shape) == 1 and isinstance(out_shape[0], int) \
            and out_shape[0] < n_classes and args.data != "digits":
        raise DataError(f"--data {args.data}: the data has {n_classes} classes, but the model outputs "
                        f"{out_shape[0]}; expected a model with at least {n_classes} outputs "
                        f"(--num-classes {n_classes})")
    return model, name, n_classes, classes


def cmd_train(args) -> int:
    import numpy as np

    from . import storage
    from .training import evaluate, fit, predict
    from .training._setup import resolve_device

    _threads(args.threads)
    resolve_device(args.device)                       # --device cuda without CUDA fails here
    schedule = _schedule(args)
    model, name, n_classes, classes = _model_for_data(args)
    input_shape = _model_input_shape(model)
    out = Path(args.out or os.path.join("runs", name))
    _check_out_folder(out)
    split = _load_data(args.data, input_shape, args.split_seed, classes=classes,
                       test_split=args.test_split, label_column=args.label_column)
    present = np.unique(np.concatenate([split.y_train, split.y_test]))
    if len(present) < 2:  # as an image folder needs 2 class folders
        shown = present.tolist() if classes is None else [classes[int(k)] for k in present]
        raise _data_error(args.data, f"expected labels of at least 2 classes to train a classifier, "
                                     f"received one class only: {shown}")
    n_params = sum(p.numel() for p in model.parameters())
    print(f"neuralab: training {name} ({n_params:,} parameters) on {args.data}: "
          f"{len(split.x_train)} train / {len(split.x_test)} test samples, input {input_shape}")
    start = time.perf_counter()
    if args.augment == "shift" and len(input_shape) == 3:
        from .datasets import RandomShift

        train_data = (RandomShift(split.x_train, split.y_train, max_shift=args.max_shift,
                                  seed=args.seed), None)
    else:
        train_data = (split.x_train, split.y_train)
    callbacks = []
    if args.tensorboard:
        from .training.callbacks import TensorBoard

        callbacks.append(TensorBoard(args.tensorboard))
    lr = args.lr
    if lr is None and isinstance(args.optimizer, str) and args.optimizer.lower() == "adam":
        lr = 0.002
    history = fit(model, *train_data, optimizer=args.optimizer, lr=lr, loss=args.loss,
                  epochs=args.epochs, batch_size=args.batch_size, metrics=["accuracy"],
                  validation_split=args.validation_split, progress=not args.no_progress,
                  device=args.device, seed=args.seed, lr_schedule=schedule, callbacks=callbacks)
    seconds = time.perf_counter() - start
    scores = evaluate(model, split.x_test, split.y_test, loss=args.loss, metrics=["accuracy"])
    probs = predict(model, split.x_test)
    y_pred = np.asarray(probs).argmax(axis=1)
    n_classes = max(n_classes, int(max(split.y_train.max(), split.y_test.max())) + 1)
    matrix = _confusion(split.y_test, y_pred, n_classes)

    out.mkdir(parents=True, exist_ok=True)            # only now: a failed run leaves no folder
    meta = {"data": args.data, "test_accuracy": float(scores["accuracy"])}
    if split.classes is not None:
        meta["classes"] = list(split.classes)
    storage.save(model, out / "model.safetensors", metadata=meta)
    history.plot(out / "curves.png")
    _plot_confusion(matrix, out / "confusion.png")
    metrics = {
        "model": name,
        "data": args.data,
        "classes": split.classes,
        "parameters": n_params,
        "epochs": len(history),
        "train_seconds": round(seconds, 3),
        "test_accuracy": float(scores["accuracy"]),
        "test_loss": float(scores["loss"]),
        "optimizer": args.optimizer,
        "loss": args.loss,
        "lr": lr,
        "augment": args.augment if len(input_shape) == 3 else "none",
        "batch_size": args.batch_size,
        "seed": args.seed,
        "confusion_matrix": matrix.tolist(),
        "history": history.history,
    }
    _write_json(out / "metrics.json", metrics)
    correct = int(matrix.trace())
    print(f"neuralab: test accuracy {scores['accuracy']:.2%} ({correct}/{len(y_pred)}), "
          f"test loss {scores['loss']:.4f}, {metrics['epochs']} "
          f"epoch{'' if metrics['epochs'] == 1 else 's'} in {seconds:.1f} s")
    print(f"neuralab: wrote {out}/model.safetensors, metrics.json, curves.png, confusion.png")
    return 0


def _schedule(args):
    if not args.step_decay or args.step_decay == ["0", "0"]:
        return None
    import math

    from . import schedules
    from .errors import ConfigError

    factor, every = args.step_decay
    try:
        f, e = float(factor), int(every)
    except ValueError:
        f = e = None
    if f is None or not (math.isfinite(f) and f > 0) or e < 1:
        raise ConfigError(f"--step-decay: expected FACTOR > 0 and EVERY >= 1 (e.g. 0.3 8, or 0 0 for a "
                          f"constant rate), received {factor!r} {every!r}")
    return schedules.step_decay(f, every=e)


def cmd_evaluate(args) -> int:
    import numpy as np

    from . import storage
    from .training import evaluate, predict

    model = storage.load(args.model)
    user_meta = storage.read_metadata(args.model)["user"]
    classes = user_meta.get("classes") if isinstance(user_meta, dict) else None
    if classes is not None and not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
        classes = None
    split = _load_data(args.data, _model_input_shape(model), args.split_seed, classes=classes,
                       test_split=args.test_split, label_column=args.label_column)
    scores = evaluate(model, split.x_test, split.y_test, metrics=["accuracy"])
    y_pred = np.asarray(predict(model, split.x_test)).argmax(axis=1)
    result = {"model": str(args.model), "data": args.data,
              "test_accuracy": float(scores["accuracy"]), "test_loss": float(scores["loss"]),
              "samples": int(len(y_pred))}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"neuralab: {args.model} on {args.data} test split: accuracy "
              f"{result['test_accuracy']:.2%}, loss {result['test_loss']:.4f} "
              f"({result['samples']} samples)")
    return 0


def cmd_summary(args) -> int:
    if args.list or args.model is None:
        from . import architectures

        for name in architectures.names():
            print(name)
        return 0
    model, _ = _build_model(args.model, args)
    model.summary()
    return 0


def cmd_demo(args) -> int:
    import importlib

    from .errors import ConfigError

    if args.list or args.chapter is None:
        for name, (_, what) in DEMOS.items():
            print(f"{name:<10} {what}")
        return 0
    args.chapter = DEMO_ALIASES.get(args.chapter, args.chapter)
    if args.chapter not in DEMOS:
        raise ConfigError(f"demo: expected a chapter, one of {', '.join(DEMOS)}; received {args.chapter!r}")
    module_name, _ = DEMOS[args.chapter]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"demo {args.chapter!r} needs the module {exc.name!r}, which is not installed; "
                          "install neuralab with its extras (pip install 'neuralab[vision,rl,pretrained]')") from None
    _threads(args.threads)
    out = Path(args.out or os.path.join("runs", f"demo-{args.chapter}"))
    _check_out_folder(out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        metrics = module.run(out, quick=args.quick, seed=args.seed)
    except BaseException:
        if created and not any(out.iterdir()):       # a failed run leaves no empty folder
            out.rmdir()
        raise
    metrics = dict(metrics, seconds=round(time.perf_counter() - t0, 2), chapter=args.chapter)
    from .storage import atomic_write_bytes

    atomic_write_bytes(out / "metrics.json", (json.dumps(metrics, indent=2, default=float) + "\n").encode())
    for key, value in metrics.items():
        if isinstance(value, (int, float, str, bool)):
            print(f"neuralab demo {args.chapter}: {key} = {value}")
    print(f"neuralab: wrote {out}/ ({', '.join(sorted(p.name for p in out.iterdir()))})")
    return 0


def _threads(n) -> None:
    if n is None:
        return
    import torch

    if n < 1:
        from .errors import ConfigError

        raise ConfigError(f"--threads must be >= 1, received {n}")
    torch.set_num_threads(n)


def cmd_style(args) -> int:
    from .vision._demo_style import stylise_files

    m = stylise_files(args.content, args.style, args.out, steps=args.steps, size=args.size,
                      alpha=args.alpha, beta=args.beta, optimizer=args.optimizer, seed=args.seed)
    print(f"neuralab style: wrote {m['result']} and {m['costs']} "
          f"(J_style -{100 * m['style_cost_drop']:.0f}% in {m['steps']} steps)")
    return 0


def cmd_export(args) -> int:
    from .export import export_onnx

    model, name = _build_model(args.model, args)
    from_file = args.model.endswith(".safetensors") or os.path.isfile(args.model)
    target = args.onnx or (str(Path(args.model).with_suffix(".onnx")) if from_file else f"{name}.onnx")
    shape = getattr(model, "input_shape", None) or args.input_shape
    result = export_onnx(model, target, shape, exporter=args.exporter, verify=not args.no_verify)
    check = (f"; onnxruntime matches PyTorch at batch sizes {', '.join(map(str, result.batch_sizes))} "
             f"(max |difference| {result.max_error:.1e})" if args.no_verify is False else "")
    print(f"neuralab export: wrote {result.path} (input {result.input_names[0]} of shape "
          f"(batch, {', '.join(map(str, shape))}), dynamic batch axis, {result.exporter} exporter{check})")
    return 0


def cmd_calc(args) -> int:
    from . import arithmetic as A
    from .errors import NeuralabError

    try:
        if args.what == "conv":
            pad = A.padding(args.input, args.kernel, args.stride, args.padding, args.dilation)
            size = A.output_size(args.input, args.kernel, args.stride, args.padding, args.dilation)
            result = {"input": args.input, "kernel": args.kernel, "stride": args.stride,
                      "padding": args.padding, "dilation": args.dilation,
                      "pad_start": pad[0], "pad_end": pad[1], "output": size}
            lines = [f"output size: {size}",
                     f"padding: start {pad[0]}, end {pad[1]}",
                     f"formula: floor(({args.input} - {A.effective_kernel(args.kernel, args.dilation)}"
                     f" + {pad[0]} + {pad[1]}) / {args.stride}) + 1 = {size}"]
            if args.channels and args.filters:
                params = A.conv_parameters(args.kernel, args.channels, args.filters)
                result["parameters"] = params
                lines.append(f"parameters: ({args.kernel}*{args.kernel}*{args.channels} + 1)"
                             f"*{args.filters} = {params}")
        elif args.what == "rf":
            layers = []
            for item in args.layers.split(","):
                try:
                    parts = [int(v) for v in item.split(":")]
                except ValueError:
                    parts = []
                if len(parts) not in (2, 3) or any(v < 1 for v in parts):
                    raise ValueError(f"--layers: expected F:S or F:S:D items of positive integers such "
                                     f"as 5:1,2:2, received {item.strip()!r}")
                layers.append(tuple(parts))
            rf = A.receptive_field(layers)
            result = {"layers": layers, "receptive_field": rf}
            lines = [f"receptive field: {rf}"]
        else:  # dense
            params = A.dense_parameters(args.n_in, args.n_out)
            result = {"n_in": args.n_in, "n_out": args.n_out, "parameters": params}
            lines = [f"parameters: ({args.n_in} + 1)*{args.n_out} = {params}"]
    except (NeuralabError, ValueError) as exc:
        print(f"neuralab calc: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result) if args.json else "\n".join(lines))
    return 0


# ----------------------------------------------------------------------------- parser
def _command(sub, name: str, func, **kw) -> argparse.ArgumentParser:
    """A sub-command ``name`` of ``sub`` that runs ``func(args)``."""
    p = sub.add_parser(name, **kw)
    p.set_defaults(func=func)
    return p


def _model_args(p, with_shape=True, optional=False, classes_default="the data's, 10 for digits"):
    p.add_argument("model", nargs="?" if optional else None,
                   help="an architecture name (see `neuralab summary --list`) "
                        "or a .safetensors model file")
    p.add_argument("--num-classes", type=_int_at_least(1), default=None,
                   help=f"classes of a new architecture (default: {classes_default})")
    if with_shape:
        p.add_argument("--input-shape", type=_shape, default=None,
                       help="input shape C,H,W of a new architecture (default: the "
                            "architecture's own, e.g. 1,32,32 for lenet5)")


def _threads_arg(p, default, default_text):
    p.add_argument("--threads", type=_int_at_least(1), default=default,
                   help=f"CPU threads for torch (default: {default_text})")


def _data_args(p):
    p.add_argument("--data", default="digits", metavar="DATA",
                   help="data: digits (default: scikit-learn's 8x8 digits resized to the model's "
                        "input, fixed 80/20 split), or your own: a .npz file with arrays x and y "
                        "(or x_train, y_train, x_test, y_test), a .csv file with a label column, "
                        "or a folder with one sub-folder of images per class; images are resized "
                        "to the model's input and their pixels scaled to [0, 1] (uint8 arrays "
                        "too: divided by 255; other numbers are used as they are), labels may be "
                        "integers or names")
    p.add_argument("--label-column", default=None, metavar="NAME",
                   help="the label column of a .csv file (default: 'label'; the last column "
                        "of a file without a header); a name or a column index")
    p.add_argument("--test-split", type=_fraction(True), default=0.2,
                   help="fraction of your data held out as the test split (default: 0.2, "
                        "stratified, seeded by --split-seed)")


def _add_train(sub) -> None:
    """``neuralab train``."""
    t = _command(sub, "train", cmd_train, help="train a model and write runs/NAME/",
                 description="Train an architecture (or a saved model) on a bundled data "
                             "set or your own (.npz, .csv, an image folder); write "
                             "model.safetensors, metrics.json, curves.png and "
                             "confusion.png to the output folder.")
    _model_args(t)
    _data_args(t)
    t.add_argument("--epochs", type=_int_at_least(1), default=20, help="training epochs (default: 20)")
    t.add_argument("--optimizer", default="adam",
                   help="optimizer name: sgd, momentum, nesterov, adam, adamw, adamax, rmsprop, "
                        "adadelta, adagrad, rprop, rprop+, irprop+, or second order: lm, newton, "
                        "newton_cg, hessian_diagonal, cg, bfgs, dfp, psb, sr1, lbfgs; dense "
                        "second-order methods that do not fit in memory are replaced by one "
                        "that does, with a warning (default: adam)")
    t.add_argument("--loss", default="auto",
                   help="loss name: auto (default: chosen from the model's output and the labels), "
                        "softmax_crossentropy, categorical_crossentropy, mse (class labels become "
                        "one-hot rows: what --optimizer lm minimises), mae, hinge …")
    t.add_argument("--lr", type=_positive_float, default=None,
                   help="learning rate (default: 0.002 for adam, the digits recipe; "
                        "otherwise the optimizer's own)")
    t.add_argument("--batch-size", type=_int_at_least(1), default=32,
                   help="mini-batch size (default: 32)")
    t.add_argument("--validation-split", type=_fraction(False), default=0.0,
                   help="fraction of the training data held out for validation (default: 0)")
    t.add_argument("--step-decay", nargs=2, metavar=("FACTOR", "EVERY"), default=["0.3", "8"],
                   help="multiply the learning rate by FACTOR every EVERY epochs "
                        "(default: 0.3 8; '0 0' for a constant rate)")
    t.add_argument("--augment", choices=("shift", "none"), default="shift",
                   help="training-time augmentation: random pixel shifts (default) or none")
    t.add_argument("--max-shift", type=_int_at_least(0), default=2,
                   help="largest random shift in pixels for --augment shift (default: 2)")
    t.add_argument("--out", default=None, help="output folder (default: runs/NAME)")
    t.add_argument("--seed", type=_int_at_least(0), default=0, help="random seed (default: 0)")
    t.add_argument("--split-seed", type=_int_at_least(0), default=0,
                   help="seed of the train/test split (default: 0)")
    t.add_argument("--device", default="auto",
                   help="cpu, cuda, cuda:N or auto (CUDA when present; default)")
    _threads_arg(t, None, "torch's own; 1 is fastest for small models on a busy machine")
    t.add_argument("--tensorboard", metavar="DIR", default=None,
                   help="also write TensorBoard event files (scalars per epoch) to DIR "
                        "(pip install 'neuralab[tensorboard]')")
    t.add_argument("--no-progress", action="store_true", help="no progress bar or epoch lines")


def _add_evaluate(sub) -> None:
    """``neuralab evaluate``."""
    e = _command(sub, "evaluate", cmd_evaluate,
                 help="evaluate a saved model on a data set's test split",
                 description="Load a .safetensors model and report its loss and accuracy "
                             "on the test split of a data set (digits or your own file, "
                             "split as in train).")
    e.add_argument("model", help="a .safetensors model file written by neuralab")
    _data_args(e)
    e.add_argument("--split-seed", type=_int_at_least(0), default=0,
                   help="seed of the train/test split (default: 0, as in train)")
    e.add_argument("--json", action="store_true", help="print JSON")


def _add_summary(sub) -> None:
    """``neuralab summary``."""
    s = _command(sub, "summary", cmd_summary,
                 help="print a model's layers, shapes, parameters, receptive fields",
                 description="Build an architecture (or load a model file) and print its "
                             "summary table.")
    _model_args(s, optional=True, classes_default="10")
    s.add_argument("--list", action="store_true", help="list the registered architectures")


def _add_export(sub) -> None:
    """``neuralab export``."""
    x = _command(sub, "export", cmd_export,
                 help="export a model to ONNX (dynamic batch axis), checked with onnxruntime",
                 description="Export an architecture or a saved .safetensors model to ONNX "
                             "with a dynamic batch axis; onnxruntime's output is compared "
                             "with PyTorch's (pip install 'neuralab[export]').")
    _model_args(x, classes_default="10")
    x.add_argument("--onnx", nargs="?", const=None, default=None, metavar="OUT",
                   help="the .onnx file (default: the model file with .onnx, or ARCH.onnx)")
    x.add_argument("--exporter", choices=("auto", "torchscript", "dynamo"), default="auto",
                   help="auto (default: PyTorch's tracing exporter, then torch.export's if "
                        "tracing fails), torchscript or dynamo")
    x.add_argument("--no-verify", action="store_true",
                   help="skip the onnxruntime comparison")


def _add_demo(sub) -> None:
    """``neuralab demo``."""
    d = _command(sub, "demo", cmd_demo, help="run one chapter of the curriculum end to end",
                 description="Run a chapter's demo and write runs/demo-CHAPTER/ "
                             "(metrics.json and pictures).")
    d.add_argument("chapter", nargs="?", default=None, help="the chapter: " + ", ".join(DEMOS))
    d.add_argument("--list", action="store_true", help="list the chapters")
    d.add_argument("--quick", action="store_true", help="a short run (as in the tests)")
    d.add_argument("--seed", type=_int_at_least(0), default=0, help="random seed (default: 0)")
    d.add_argument("--out", default=None, help="output folder (default: runs/demo-CHAPTER)")
    _threads_arg(d, 1, "1, fastest for the demos' small models; more threads on a shared machine "
                      "can make them 20x slower")


def _add_style(sub) -> None:
    """``neuralab style``."""
    st = _command(sub, "style", cmd_style,
                  help="neural style transfer: paint CONTENT in the style of STYLE",
                  description="CS230's neural style transfer on a pretrained EfficientNet-Lite0 "
                              "(pip install 'neuralab[pretrained]'): minimise "
                              "alpha*J_content + beta*J_style over the image.")
    st.add_argument("content", help="the content image (PNG/JPEG)")
    st.add_argument("style", help="the style image (PNG/JPEG)")
    st.add_argument("--out", default="result.png", help="the result image (default: result.png)")
    st.add_argument("--steps", type=_int_at_least(1), default=100, help="optimizer steps (default: 100)")
    st.add_argument("--size", type=_int_at_least(32), default=256, help="longer side in pixels (default: 256)")
    st.add_argument("--alpha", type=float, default=1.0, help="content weight (default: 1)")
    st.add_argument("--beta", type=float, default=1e7, help="style weight (default: 1e7)")
    st.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs",
                    help="lbfgs (default) or adam")
    st.add_argument("--seed", type=_int_at_least(0), default=0, help="random seed (default: 0)")


def _add_calc(sub) -> None:
    """``neuralab calc conv|rf|dense``."""
    c = _command(sub, "calc", cmd_calc,
                 help="CS230 CNN arithmetic: output size, padding, receptive field, parameters",
                 description="CNN arithmetic from the CS230 cheat sheet.")
    csub = c.add_subparsers(dest="what", required=True, metavar="WHAT")
    conv = csub.add_parser("conv", help="output size and padding of a convolution or pooling",
                           description="O = floor((I - F' + P_start + P_end) / S) + 1, "
                                       "F' = d(F - 1) + 1.")
    conv.add_argument("--input", type=_int_at_least(1), required=True, help="input size I")
    conv.add_argument("--kernel", type=_int_at_least(1), required=True, help="filter size F")
    conv.add_argument("--stride", type=_int_at_least(1), default=1, help="stride S (default: 1)")
    conv.add_argument("--padding", type=_padding, default="valid",
                      help="valid (default), same, full, or an int")
    conv.add_argument("--dilation", type=_int_at_least(1), default=1, help="dilation d (default: 1)")
    conv.add_argument("--channels", type=_int_at_least(1), default=None, help="input channels C (for the "
                                                                 "parameter count)")
    conv.add_argument("--filters", type=_int_at_least(1), default=None, help="filters K (for the parameter "
                                                                "count)")
    conv.add_argument("--json", action="store_true", help="print JSON")
    rf = csub.add_parser("rf", help="receptive field of a stack of layers",
                         description="R = 1 + sum_j (F_j - 1) prod_{i<j} S_i.")
    rf.add_argument("--layers", required=True,
                    help="comma-separated F:S or F:S:D items, e.g. 5:1,2:2,5:1,2:2")
    rf.add_argument("--json", action="store_true", help="print JSON")
    dense = csub.add_parser("dense", help="parameters of a fully-connected layer",
                            description="(N_in + 1) * N_out.")
    dense.add_argument("--in", dest="n_in", type=_int_at_least(1), required=True,
                       help="input size N_in")
    dense.add_argument("--out", dest="n_out", type=_int_at_least(1), required=True,
                       help="output size N_out")
    dense.add_argument("--json", action="store_true", help="print JSON")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(
        prog="neuralab",
        description="neuralab: train, evaluate and inspect neural networks from the "
                    "deep-learning cheat sheets.")
    parser.add_argument("--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--version", action="version", version=f"neuralab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for add in (_add_train, _add_evaluate, _add_summary, _add_export, _add_demo, _add_style,
                _add_calc):
        add(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(message)s")
    from .errors import NeuralabError

    # a warning prints as one line naming the command, not as the library line that raised it
    formatwarning = warnings.formatwarning
    warnings.formatwarning = lambda message, *_args, **_kw: (
        f"neuralab {args.command}: warning: {message}\n")
    try:
        return args.func(args)
    except NeuralabError as exc:
        print(f"neuralab {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a folder we may not write: one line, not a traceback
        print(f"neuralab {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        warnings.formatwarning = formatwarning


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
