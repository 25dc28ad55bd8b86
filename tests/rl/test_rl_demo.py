"""`neuralab demo rl --quick` and examples/09_rl.py run and report what they promise."""

import json
import pathlib
import runpy

from neuralab import cli

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def test_demo_rl_quick(tmp_path):
    assert cli.main(["demo", "rl", "--quick", "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    grid = metrics["gridworld"]
    assert grid["fig_3_5_max_abs_error"] < 0.05 and grid["fig_4_1_max_abs_error"] < 1e-6
    assert abs(grid["v_star_A"] - 24.419) < 1e-3
    lake = metrics["frozenlake_q_learning"]
    assert abs(lake["optimal_exact_success"] - 0.7402) < 1e-4
    assert 0.0 <= lake["success_rate"] <= 1.0
    assert metrics["cartpole_dqn"]["steps"] == 1000
    for name in ("gridworld_values", "gridworld_random", "frozenlake_values",
                 "frozenlake_returns", "cartpole_returns"):
        picture = tmp_path / f"{name}.png"
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_rl_example(capsys):
    runpy.run_path(str(EXAMPLES / "09_rl.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "v*(A) = 24.4" in out
    assert "FrozenLake optimal value of the start: 0.542" in out
    rate = float(out.split("Q-learning success rate:")[1].split()[0])
    best = float(out.split("(optimal policy:")[1].split(")")[0])
    assert rate >= best - 0.1  # 200 episodes each: σ ≈ 0.03


def test_plots_check_shapes_and_write_pngs(tmp_path):
    import numpy as np
    import pytest

    from neuralab.errors import ShapeError
    from neuralab.rl import plot

    with pytest.raises(ShapeError, match=r"plot_values: expected `values` of shape \(16,\), "
                                         r"received shape \(15,\)"):
        plot.plot_values(np.zeros(15), (4, 4), tmp_path / "v.png")
    path = plot.plot_returns([1.0, 2.0, 3.0], tmp_path / "r.png", window=2, threshold=2.5)
    assert pathlib.Path(path).read_bytes()[:4] == b"\x89PNG"
    assert plot.running_mean([2.0, 4.0, 6.0], window=5).tolist() == [2.0, 3.0, 4.0]
