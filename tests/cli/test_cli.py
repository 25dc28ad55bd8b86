"""The `neuralab` command end to end (small runs) and its --help texts."""

import json
import subprocess
import sys

import pytest

from neuralab.cli import build_parser, main


def test_calc_conv_matches_cs230(capsys):
    assert main(["calc", "conv", "--input", "32", "--kernel", "5", "--stride", "2",
                 "--padding", "same", "--channels", "3", "--filters", "6", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    # same: O = ceil(32/2) = 16; total padding 2*16 - 32 + 5 - 2 = 3 -> (1, 2)
    assert result["output"] == 16 and (result["pad_start"], result["pad_end"]) == (1, 2)
    assert result["parameters"] == (5 * 5 * 3 + 1) * 6


def test_calc_rf_and_dense(capsys):
    assert main(["calc", "rf", "--layers", "5:1,2:2,5:1,2:2"]) == 0
    assert "receptive field: 16" in capsys.readouterr().out
    assert main(["calc", "dense", "--in", "400", "--out", "120"]) == 0
    assert "48120" in capsys.readouterr().out


def test_calc_bad_input_is_a_clear_error(capsys):
    assert main(["calc", "conv", "--input", "3", "--kernel", "5"]) == 2
    assert "does not fit an input of size 3" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["calc", "conv", "--input", "3", "--kernel", "2", "--padding", "sane"])
    assert "expected 'valid', 'same', 'full' or a non-negative int" in capsys.readouterr().err


def test_every_subcommand_has_complete_help():
    parser = build_parser()
    for argv in (["train"], ["evaluate"], ["summary"], ["calc"], ["calc", "conv"],
                 ["calc", "rf"], ["calc", "dense"]):
        with pytest.raises(SystemExit):
            parser.parse_args(argv + ["--help"])
    out = subprocess.run([sys.executable, "-m", "neuralab", "train", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for option in ("--data", "--epochs", "--optimizer", "--lr", "--batch-size", "--out",
                   "--seed", "--device"):
        assert option in out


def test_summary_of_an_architecture(capsys):
    assert main(["summary", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert "Total parameters: 61,706" in out and "Receptive field" in out


def test_summary_unknown_architecture_lists_names(capsys):
    assert main(["summary", "lenet9"]) == 2
    err = capsys.readouterr().err
    assert "unknown architecture 'lenet9'" in err and "lenet5" in err


@pytest.mark.slow
def test_train_then_evaluate_writes_the_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "lenet5", "--data", "digits", "--epochs", "2", "--out", str(out),
                 "--no-progress", "--batch-size", "64", "--augment", "none"]) == 0
    for name in ("model.safetensors", "metrics.json", "curves.png", "confusion.png"):
        assert (out / name).stat().st_size > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["train_seconds"] > 0
    assert metrics["test_accuracy"] > 0.5 and metrics["test_loss"] > 0
    assert sum(map(sum, metrics["confusion_matrix"])) == 360
    capsys.readouterr()
    assert main(["evaluate", str(out / "model.safetensors"), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["test_accuracy"] == pytest.approx(metrics["test_accuracy"])


def test_train_rejects_bad_shapes_and_threads(capsys, tmp_path):
    with pytest.raises(SystemExit):
        main(["train", "lenet5", "--input-shape", "1,a,32"])
    assert "expected a shape such as 3,224,224, received '1,a,32'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["train", "lenet5", "--threads", "0", "--out", str(tmp_path)])
    assert info.value.code == 2
    assert capsys.readouterr().err == ("neuralab train: argument --threads: expected an integer >= 1, "
                                       "received '0' (see neuralab train --help)\n")
    assert main(["train", "lenet5", "--input-shape", "1,32,40", "--out", str(tmp_path / "r"),
                 "--no-progress"]) == 2
    assert "digits are square images; the model expects (1, 32, 40)" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_train_with_a_dense_second_order_optimizer_too_big_for_memory(capsys, tmp_path):
    """bfgs on LeNet-5 (61,706 parameters: 15 GB of P×P matrices) runs as limited-memory BFGS."""
    with pytest.warns(RuntimeWarning, match=r"'bfgs' would need about 15\.2 GB for 61,706 parameters.*"
                                            r"limited-memory BFGS"):
        code = main(["train", "lenet5", "--optimizer", "bfgs", "--epochs", "1", "--out", str(tmp_path),
                     "--no-progress"])
    assert code == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["optimizer"] == "bfgs" and metrics["epochs"] == 1


def test_a_warning_in_the_shell_is_one_line_naming_the_command(tmp_path):
    """Not Python's "file:line: RuntimeWarning: ..." followed by the library line that warned."""
    run = subprocess.run([sys.executable, "-m", "neuralab", "train", "lenet5", "--optimizer", "newton",
                          "--epochs", "1", "--threads", "1", "--no-progress", "--out", str(tmp_path)],
                         capture_output=True, text=True, check=True)
    warned = [line for line in run.stderr.splitlines() if "warning" in line.lower()]
    assert warned and all(line.startswith("neuralab train: warning: ") for line in warned), run.stderr
    assert "would need about 60.9 GB for 61,706 parameters" in run.stderr
    assert "RuntimeWarning" not in run.stderr and ".py:" not in run.stderr


def test_demo_lists_the_chapters_and_rejects_unknown_ones(capsys):
    assert main(["demo", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("detection", "faces", "style", "sequences", "gan", "rl"))
    assert main(["demo", "chess"]) == 2
    assert "expected a chapter, one of detection" in capsys.readouterr().err


def test_evaluate_a_hostile_file_is_one_line(tmp_path, capsys):
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "deep.safetensors"
    save_file({"w": torch.zeros(1)}, str(path), metadata={"neuralab": "1", "class": "Network",
                                                          "config": "[" * 100_000 + "]" * 100_000})
    assert main(["evaluate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neuralab evaluate: StorageError: ") and err.count("\n") == 1
    assert "nested too deeply" in err


def test_a_failed_demo_leaves_no_empty_folder(tmp_path, capsys, monkeypatch):
    import types

    from neuralab import cli
    from neuralab.errors import DataError

    def run(out_dir, *, quick=False, seed=0):
        raise DataError("demo: expected data, received none")

    monkeypatch.setitem(sys.modules, "_nl_failing_demo", types.SimpleNamespace(run=run))
    monkeypatch.setitem(cli.DEMOS, "failing", ("_nl_failing_demo", "a demo that fails"))
    out = tmp_path / "a" / "b"
    assert main(["demo", "failing", "--out", str(out)]) == 2
    assert capsys.readouterr().err == "neuralab demo: DataError: demo: expected data, received none\n"
    assert not out.exists()
    monkeypatch.setitem(cli.DEMO_ALIASES, "fail", "failing")          # another name for it
    assert main(["demo", "fail", "--out", str(out)]) == 2
    assert "DataError: demo: expected data" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["demo", "failing", "--out", str(tmp_path / "file" / "run")]) == 2
    assert "which is below the file" in capsys.readouterr().err


def test_number_flags_say_what_they_expected(capsys):
    for flag, value, expected in (("--lr", "-1", "a positive number"), ("--lr", "nan", "a positive number"),
                                  ("--validation-split", "1", "a fraction in [0, 1)"),
                                  ("--test-split", "0", "a fraction in (0, 1)"),
                                  ("--epochs", "2.5", "an integer >= 1")):
        with pytest.raises(SystemExit) as info:
            main(["train", "lenet5", flag, value])
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert err == (f"neuralab train: argument {flag}: expected {expected}, received {value!r} "
                       "(see neuralab train --help)\n"), err


def test_train_writes_tensorboard_events(tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert main(["train", "lenet5", "--epochs", "2", "--no-progress", "--out", str(tmp_path / "run"),
                 "--tensorboard", str(tmp_path / "tb")]) == 0
    history = json.loads((tmp_path / "run" / "metrics.json").read_text())["history"]
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [round(e.value, 5) for e in events.Scalars("loss")] == [round(v, 5) for v in history["loss"]]


def test_input_shape_with_an_empty_axis_is_refused_not_dropped(capsys):
    # '1,,32' and '1,x,32' used to become (1, 32) and the error then named a shape the user never typed
    for text in ("1,,32", "1,x,32"):
        with pytest.raises(SystemExit):
            main(["summary", "lenet5", "--input-shape", text])
        assert f"expected a shape such as 3,224,224, received '{text}'" in capsys.readouterr().err
    assert main(["summary", "lenet5", "--input-shape", "1x32x32,"]) == 0
