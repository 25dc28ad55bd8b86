"""`neuralab demo sequences --quick` writes its metrics and pictures; the example runs."""

import json
import pathlib
import runpy

import pytest

from neuralab.cli import main

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "07_sequences.py"


@pytest.mark.slow
def test_quick_demo_writes_metrics_and_pictures(tmp_path, capsys):
    assert main(["demo", "sequences", "--quick", "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["chapter"] == "sequences" and metrics["quick"] is True
    for part in ("long_lag", "embedded_reber", "language_model", "date_translation", "skipgram"):
        assert part in metrics
    assert metrics["long_lag"]["simple_rnn"]["grad_ratio_first_to_last"] < 1e-3
    assert metrics["language_model"]["val_perplexity"] > 1
    for picture in ("gradient_norms.png", "reber_curves.png", "attention.png", "embeddings.png"):
        assert (tmp_path / picture).stat().st_size > 5000
    assert "temperature 0.3" in (tmp_path / "samples.txt").read_text()


def test_sequences_example(capsys):
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "padded steps are zero: True" in out
    assert float(out.split("tagging accuracy on real steps:")[1].split()[0]) > 0.95
    greedy = float(out.split("greedy:")[1].split(")")[0].split(",")[-1])
    beam = float(out.split("beam:")[1].split(")")[0].split(",")[-1])
    assert beam > greedy  # the wider beam finds the likelier sequence
    assert "BLEU: 0.9554" in out
