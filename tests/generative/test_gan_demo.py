"""`neuralab demo gan --quick` writes its metrics and pictures; examples/08_gan.py runs."""

import json
import pathlib
import runpy

import numpy as np
import pytest
import torch

from neuralab.errors import StorageError
from neuralab.generative import DigitsClassifier, features

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def test_demo_quick_writes_metrics_and_pictures(tmp_path):
    from neuralab import cli

    assert cli.main(["demo", "gan", "--quick", "--out", str(tmp_path)]) in (0, None)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {"modes_covered", "high_quality_fraction"} <= set(metrics["ring"])
    assert {"confident_fraction", "class_entropy", "fid", "fid_floor"} <= set(metrics["dcgan"])
    assert {"class_accuracy"} <= set(metrics["conditional"])
    assert 0 <= metrics["dcgan"]["class_entropy"] <= np.log(10) + 1e-9
    assert metrics["dcgan"]["fid_floor"] >= 0 and metrics["dcgan"]["fid"] >= 0
    for name in ("ring.png", "dcgan_samples.png", "dcgan_interpolation.png", "conditional_samples.png",
                 "losses.png", "dcgan_epochs/epoch_001.png", "digits_classifier.safetensors"):
        assert (tmp_path / name).stat().st_size > 100, name
    # the shipped classifier reloads (safetensors, no pickle) and gives the same features
    clf = DigitsClassifier.load(tmp_path / "digits_classifier.safetensors")
    x = torch.rand(70, 1, 8, 8) * 2 - 1
    again = DigitsClassifier.load(tmp_path / "digits_classifier.safetensors")
    assert np.array_equal(features(clf, x), features(again, x)) and features(clf, x).shape == (70, 64)


def test_classifier_load_rejects_other_files(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(1)}, str(tmp_path / "other.safetensors"), metadata={"format": "x"})
    with pytest.raises(StorageError, match="not a DigitsClassifier file"):
        DigitsClassifier.load(tmp_path / "other.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(StorageError, match="cannot read"):
        DigitsClassifier.load(tmp_path / "junk.safetensors")


def test_example_runs(capsys):
    runpy.run_path(str(EXAMPLES / "08_gan.py"), run_name="__main__")
    out = capsys.readouterr().out
    line = out.split("FID(real, generated):")[1].split("\n")[0]
    before, after = float(line.split()[0]), float(line.split("before training,")[1].split()[0])
    assert before > 3 and after < before / 10                  # 3.29 → 0.12
    assert "modes covered by real ring data: 8 of 8" in out
    assert "conditional DCGAN samples: (20, 1, 16, 16)" in out
