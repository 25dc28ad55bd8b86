"""`neuralab train/evaluate --data FILE` on the user's own data, and `neuralab export`."""

import json

import numpy as np
import pytest
import torch

from neuralab import storage
from neuralab.cli import _fit_to_input, main

_FAST = ["--no-progress", "--batch-size", "16", "--augment", "none", "--step-decay", "0", "0"]


def _stripes(n_per_class=24, size=16, seed=0):
    """Images of 2 classes: horizontal (0) or vertical (1) stripes, with noise."""
    rng = np.random.default_rng(seed)
    base = (np.arange(size) // 2 % 2).astype(np.float32)
    imgs, labels = [], []
    for k in range(2):
        for _ in range(n_per_class):
            img = np.tile(base[:, None], (1, size)) if k == 0 else np.tile(base[None, :], (size, 1))
            imgs.append(np.clip(img + 0.2 * rng.standard_normal((size, size)), 0, 1))
            labels.append(k)
    return np.stack(imgs).astype(np.float32), np.array(labels)


def test_train_on_an_npz_of_images_then_evaluate(tmp_path, capsys):
    x, y = _stripes()
    path = tmp_path / "stripes.npz"
    np.savez(path, x=x, y=y)                             # (N, 16, 16): resized to lenet5's (1, 32, 32)
    out = tmp_path / "run"
    assert main(["train", "lenet5", "--data", str(path), "--epochs", "4", "--out", str(out)] + _FAST) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.9               # stripes are easy: a fixed-seed threshold
    assert len(metrics["confusion_matrix"]) == 2         # --num-classes comes from the data
    assert sum(map(sum, metrics["confusion_matrix"])) == 10   # 20 % of 48, stratified
    capsys.readouterr()
    assert main(["evaluate", str(out / "model.safetensors"), "--data", str(path), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert again["samples"] == 10


def test_train_on_a_csv_with_named_labels(tmp_path, capsys):
    rng = np.random.default_rng(1)
    names = np.array(["setosa", "versicolor", "virginica"])
    y = rng.integers(0, 3, 90)
    centers = np.array([[0, 3, 0, 1], [3, -2, 1, 0], [-3, -2, 2, 2]], dtype=float)
    x = centers[y] + 0.5 * rng.standard_normal((90, 4))
    path = tmp_path / "flowers.csv"
    lines = ["f1,f2,species,f3,f4"] + [f"{a:.4f},{b:.4f},{names[k]},{c:.4f},{d:.4f}"
                                       for (a, b, c, d), k in zip(x, y)]
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    assert main(["train", "mixture_of_experts", "--input-shape", "4", "--data", str(path),
                 "--label-column", "species", "--epochs", "15", "--out", str(out)] + _FAST) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["classes"] == ["setosa", "versicolor", "virginica"]
    assert metrics["test_accuracy"] >= 0.9
    assert storage.read_metadata(out / "model.safetensors")["user"]["classes"] == metrics["classes"]


def test_train_on_an_image_folder(tmp_path):
    from PIL import Image

    x, y = _stripes(n_per_class=12, size=20)
    root = tmp_path / "images"
    for i, (img, k) in enumerate(zip(x, y)):
        folder = root / ("horizontal" if k == 0 else "vertical")
        folder.mkdir(parents=True, exist_ok=True)
        rgb = (np.stack([img] * 3, axis=-1) * 255).astype(np.uint8)
        Image.fromarray(rgb).save(folder / f"{i}.png")
    (root / "horizontal" / "notes.txt").write_text("not an image, ignored")
    out = tmp_path / "run"
    assert main(["train", "lenet5", "--data", str(root), "--epochs", "4", "--out", str(out)] + _FAST) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["classes"] == ["horizontal", "vertical"]
    assert metrics["test_accuracy"] >= 0.8
    assert sum(map(sum, metrics["confusion_matrix"])) == 5     # 20 % of 24


def test_images_are_fitted_to_the_model_input():
    x = np.random.default_rng(0).random((3, 8, 8, 3)).astype(np.float32)      # channels-last RGB
    got = _fit_to_input(x, (1, 16, 16), "x.npz")
    assert got.shape == (3, 1, 16, 16)
    want = torch.nn.functional.interpolate(torch.from_numpy(x.transpose(0, 3, 1, 2).mean(1, keepdims=True)),
                                           size=(16, 16), mode="bilinear", antialias=True).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    gray = np.ones((2, 5, 5), dtype=np.float32)
    assert _fit_to_input(gray, (3, 5, 5), "x.npz").shape == (2, 3, 5, 5)
    assert _fit_to_input(np.ones((2, 2, 2)), (4,), "x.npz").shape == (2, 4)


def _err(capsys, argv):
    code = None
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    return code, err


@pytest.fixture
def files(tmp_path):
    x, y = _stripes(4, 8)
    good = tmp_path / "good.npz"
    np.savez(good, x=x, y=y)
    f = {"good": good}
    f["keys"] = tmp_path / "keys.npz"
    np.savez(f["keys"], images=x, labels=y)
    f["object"] = tmp_path / "object.npz"
    np.savez(f["object"], x=x, y=np.array([{"a": 1}] * len(y), dtype=object))
    f["half"] = tmp_path / "half.npz"
    np.savez(f["half"], x=x, y=y + 0.5)
    f["count"] = tmp_path / "count.npz"
    np.savez(f["count"], x=x, y=y[:-1])
    f["truncated"] = tmp_path / "truncated.npz"
    f["truncated"].write_bytes(good.read_bytes()[:200])
    f["nolabel"] = tmp_path / "nolabel.csv"
    f["nolabel"].write_text("a,b,c\n1,2,3\n")
    f["text"] = tmp_path / "text.csv"
    f["text"].write_text("a,b,label\n1,2,0\n1,oops,1\n")
    f["ragged"] = tmp_path / "ragged.csv"
    f["ragged"].write_text("a,b,label\n1,2,0\n1,1\n")
    f["one_class"] = tmp_path / "one_class"
    (f["one_class"] / "cats").mkdir(parents=True)
    f["broken"] = tmp_path / "broken"
    for k in ("a", "b"):
        (f["broken"] / k).mkdir(parents=True)
        (f["broken"] / k / "x.png").write_bytes(b"not a png")
    f["other"] = tmp_path / "data.json"
    f["other"].write_text("{}")
    return f


BAD_DATA = {
    "missing": (lambda f: f["good"].parent / "nope.npz", r"which does not exist"),
    "keys": (lambda f: f["keys"], r"expected arrays named x and y .*received \['images', 'labels'\]"),
    "object": (lambda f: f["object"], r"received an object array \(it needs pickle"),
    "half": (lambda f: f["half"], r"expected integer class labels, received 0.5 at sample 0"),
    "count": (lambda f: f["count"], r"expected one label per sample, received 8 samples and 7 labels"),
    "truncated": (lambda f: f["truncated"], r"not a readable .npz file"),
    "nolabel": (lambda f: f["nolabel"], r"expected a label column 'label', received the columns "
                                        r"\['a', 'b', 'c'\]; pass --label-column NAME"),
    "text": (lambda f: f["text"], r"line 3: expected numeric features, received 'oops'"),
    "ragged": (lambda f: f["ragged"], r"line 3: expected 3 fields, received 2"),
    "one_class": (lambda f: f["one_class"], r"expected an image folder with one sub-folder per class "
                                            r"\(at least 2\), received 1 sub-folder"),
    "broken": (lambda f: f["broken"], r"expected image files, cannot read '.*x.png'"),
    "other": (lambda f: f["other"], r"expected 'digits', a .npz file .*received a file of another kind"),
}


@pytest.mark.parametrize("case", list(BAD_DATA))
def test_bad_data_files_end_in_one_line(files, tmp_path, capsys, case):
    pick, message = BAD_DATA[case]
    out = tmp_path / "run"
    code, err = _err(capsys, ["train", "lenet5", "--data", str(pick(files)), "--out", str(out)] + _FAST)
    assert code == 2
    assert err.startswith("neuralab train: DataError: --data ") and err.count("\n") == 1
    assert __import__("re").search(message, err), err
    assert not out.exists()                              # a failed run leaves no folder behind


BAD_FLAGS = {
    "lr": (["train", "lenet5", "--lr", "-1"], r"^neuralab train: argument --lr: expected a positive "
                                              r"number, received '-1'"),
    "epochs": (["train", "lenet5", "--epochs", "x"], r"argument --epochs: expected an integer >= 1"),
    "split": (["train", "lenet5", "--validation-split", "1.5"], r"expected a fraction in \[0, 1\)"),
    "decay": (["train", "lenet5", "--step-decay", "abc", "3"],
              r"^neuralab train: ConfigError: --step-decay: expected FACTOR > 0 and EVERY >= 1 .*received "
              r"'abc' '3'"),
    "device": (["train", "lenet5", "--device", "cuda"],
               r"^neuralab train: ConfigError: expected device 'auto' or 'cpu' on this machine"),
    "device name": (["train", "lenet5", "--device", "gpu7"], r"ConfigError: expected device 'auto', 'cpu'"),
    "dense": (["calc", "dense", "--in", "-1", "--out", "3"],
              r"^neuralab calc dense: argument --in: expected an integer >= 1, received '-1'"),
    "conv": (["calc", "conv", "--input", "0", "--kernel", "3"], r"argument --input: expected an integer >= 1"),
    "rf": (["calc", "rf", "--layers", "5:1,2:x"],
           r"^neuralab calc: --layers: expected F:S or F:S:D items of positive integers such as 5:1,2:2, "
           r"received '2:x'"),
    "rf zero": (["calc", "rf", "--layers", "5:0"], r"received '5:0'"),
    "classes": (["train", "lenet5", "--num-classes", "0"], r"argument --num-classes: expected an integer"),
}


@pytest.mark.parametrize("case", list(BAD_FLAGS))
def test_bad_flags_end_in_one_line_and_a_non_zero_exit(tmp_path, capsys, case):
    argv, message = BAD_FLAGS[case]
    if argv[0] == "train":
        argv = argv + ["--out", str(tmp_path / "run"), "--no-progress"]
    code, err = _err(capsys, argv)
    assert code == 2 and err.count("\n") == 1, err
    assert __import__("re").search(message, err), err
    assert not (tmp_path / "run").exists()


def test_out_below_a_file_and_saving_errors(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, err = _err(capsys, ["train", "lenet5", "--out", str(blocker / "run")] + _FAST)
    assert code == 2
    assert f"--out: expected a folder path, received '{blocker / 'run'}', which is below the file" in err
    code, err = _err(capsys, ["train", "lenet5", "--out", str(blocker)] + _FAST)
    assert code == 2 and "--out: expected a folder, received the file" in err


def test_version_and_summary_list(capsys):
    import neuralab

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out == f"neuralab {neuralab.__version__}\n"
    assert main(["summary", "--list"]) == 0
    names = capsys.readouterr().out.split()
    assert {"lenet5", "resnet18", "vgg16"} <= set(names) and names == sorted(names)


def test_export_a_saved_model_to_onnx(tmp_path, capsys):
    import onnx
    import onnxruntime as ort

    from neuralab import architectures

    torch.manual_seed(0)
    net = architectures.create("lenet5", num_classes=4)
    path = tmp_path / "lenet.safetensors"
    storage.save(net, path)
    assert main(["export", str(path), "--onnx", str(tmp_path / "out" / "lenet.onnx")]) == 0
    line = capsys.readouterr().out
    assert "wrote" in line and "dynamic batch axis" in line and "onnxruntime matches PyTorch" in line
    model = onnx.load(str(tmp_path / "out" / "lenet.onnx"))
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    session = ort.InferenceSession(str(tmp_path / "out" / "lenet.onnx"), providers=["CPUExecutionProvider"])
    x = torch.randn(7, 1, 32, 32)                        # a batch size the export never saw
    net.eval()
    with torch.no_grad():
        want = net(x).numpy()
    got = session.run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert main(["export", "lenet5", "--onnx", str(tmp_path / "fresh.onnx"), "--no-verify"]) == 0
    assert (tmp_path / "fresh.onnx").stat().st_size > 100_000
    code, err = _err(capsys, ["export", str(tmp_path / "missing.safetensors")])
    assert code == 2 and err.startswith("neuralab export: ")
