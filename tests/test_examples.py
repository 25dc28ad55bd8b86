"""The scripts in examples/ run to the end and print what they promise."""

import pathlib
import runpy

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def test_layer_algebra_example(capsys):
    runpy.run_path(str(EXAMPLES / "01_layer_algebra.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "Total parameters: 61,706" in out and "inception output: (24, 28, 28)" in out
    assert "ShapeError:" in out


@pytest.mark.slow
def test_train_digits_example(capsys):
    runpy.run_path(str(EXAMPLES / "02_train_digits.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "reloaded:" in out


def test_levenberg_marquardt_example(capsys):
    runpy.run_path(str(EXAMPLES / "03_levenberg_marquardt.py"), run_name="__main__")
    out = capsys.readouterr().out
    mse = float(out.split("final MSE:")[1].split()[0])
    assert mse < 1e-6


def test_custom_trainer_example(capsys):
    runpy.run_path(str(EXAMPLES / "10_custom_trainer.py"), run_name="__main__")
    out = capsys.readouterr().out
    first, last = (float(v) for v in out.split("epoch 1 ")[1].split(", epoch 6 ")[:1] + out.split("epoch 6 ")[1].split(",")[:1])
    assert last < first / 1.5
    assert "after resuming to epoch 8" in out
