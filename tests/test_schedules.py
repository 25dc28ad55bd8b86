"""Learning-rate schedules against their formulas and as torch schedulers."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from neuralab import registry, schedules
from neuralab.errors import ConfigError


@given(factor=st.floats(0.01, 1.0), every=st.integers(1, 10), epoch=st.integers(0, 100))
def test_step_decay_formula(factor, every, epoch):
    assert schedules.step_decay(factor, every).factor(epoch) == pytest.approx(factor ** (epoch // every))


@given(rate=st.floats(0.01, 1.0), every=st.integers(1, 10), epoch=st.integers(0, 100), stair=st.booleans())
def test_exponential_decay_formula(rate, every, epoch, stair):
    t = epoch // every if stair else epoch / every
    assert schedules.exponential_decay(rate, every, stair).factor(epoch) == pytest.approx(rate ** t)


@given(total=st.integers(1, 50), power=st.floats(0.1, 3.0), end=st.floats(0.0, 1.0), epoch=st.integers(0, 80))
def test_polynomial_decay_formula(total, power, end, epoch):
    s = schedules.polynomial_decay(total, power, end)
    want = (1 - end) * (1 - min(epoch, total) / total) ** power + end
    assert s.factor(epoch) == pytest.approx(want)
    assert s(epoch, base_lr=0.2) == pytest.approx(0.2 * want)


@pytest.mark.parametrize("schedule", [schedules.step_decay(0.3, 2), schedules.exponential_decay(0.8),
                                      schedules.polynomial_decay(4, power=2.0, end_factor=0.1)])
def test_as_torch_follows_the_schedule(schedule):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    sched = schedule.as_torch(opt)
    assert isinstance(sched, torch.optim.lr_scheduler.LRScheduler)
    for epoch in range(7):
        assert opt.param_groups[0]["lr"] == pytest.approx(0.5 * schedule.factor(epoch))
        opt.step()
        sched.step()


def test_registry_and_errors():
    s = registry.schedules.get("step_decay", factor=0.1, every=3)
    assert isinstance(s, schedules.StepDecay) and s.get_config() == {"factor": 0.1, "every": 3}
    assert math.isclose(registry.schedules.get({"class": "exponential", "config": {"rate": 0.5}}).factor(2), 0.25)
    with pytest.raises(ConfigError, match=r"step_decay: expected `factor` <= 1, received 2"):
        schedules.step_decay(2.0)
    with pytest.raises(ConfigError, match=r"step_decay: expected an integer for `every`, received '10'"):
        schedules.step_decay(0.5, every="10")
    with pytest.raises(ConfigError, match=r"exponential_decay: expected `rate` > 0, received 0"):
        schedules.exponential_decay(0)
    with pytest.raises(ConfigError, match=r"polynomial_decay: expected `epochs` >= 1, received 0"):
        schedules.polynomial_decay(0)
