import pytest
import torch

import neuralab.optimizers as nopt
from neuralab import registry
from neuralab.errors import ConfigError, DTypeError

OURS = {
    "rprop+": nopt.RPropPlus, "rprop_plus": nopt.RPropPlus,
    "irprop+": nopt.IRPropPlus, "irprop_plus": nopt.IRPropPlus,
    "lm": nopt.LevenbergMarquardt, "levenberg_marquardt": nopt.LevenbergMarquardt,
    "newton": nopt.Newton, "hessian": nopt.Newton,
    "newton_cg": nopt.NewtonCG, "truncated_newton": nopt.NewtonCG,
    "hessian_diagonal": nopt.HessianDiagonal,
    "cg": nopt.ConjugateGradient, "conjugate_gradient": nopt.ConjugateGradient,
    "bfgs": nopt.QuasiNewton, "dfp": nopt.QuasiNewton, "psb": nopt.QuasiNewton,
    "sr1": nopt.QuasiNewton, "quasi_newton": nopt.QuasiNewton,
}
TORCH = {
    "sgd": (torch.optim.SGD, 0.01, {"momentum": 0}),
    "momentum": (torch.optim.SGD, 0.01, {"momentum": 0.9, "nesterov": False}),
    "nesterov": (torch.optim.SGD, 0.01, {"momentum": 0.9, "nesterov": True}),
    "adam": (torch.optim.Adam, 1e-3, {}),
    "adamax": (torch.optim.Adamax, 2e-3, {}),
    "rmsprop": (torch.optim.RMSprop, 1e-3, {}),
    "adadelta": (torch.optim.Adadelta, 1.0, {}),
    "adagrad": (torch.optim.Adagrad, 1e-2, {}),
    "rprop": (torch.optim.Rprop, 1e-2, {}),
    "adamw": (torch.optim.AdamW, 1e-3, {}),
    "lbfgs": (torch.optim.LBFGS, 1.0, {"line_search_fn": "strong_wolfe"}),
}


def params():
    return torch.nn.Linear(2, 1).double().parameters()


@pytest.mark.parametrize("name,cls", OURS.items())
def test_our_names_create_our_classes(name, cls):
    opt = nopt.create(name.upper(), params())
    assert type(opt) is cls
    assert isinstance(opt, torch.optim.Optimizer)
    assert opt.full_batch is (cls not in (nopt.IRPropPlus, nopt.RPropPlus))
    expected = {nopt.IRPropPlus: "gradient", nopt.RPropPlus: "gradient",
                nopt.LevenbergMarquardt: "residuals"}.get(cls, "loss")
    assert opt.objective == expected
    if name in ("bfgs", "dfp", "psb", "sr1"):
        assert opt.param_groups[0]["update"] == name


@pytest.mark.parametrize("name,spec", TORCH.items())
def test_torch_names_and_default_lr(name, spec):
    cls, lr, fixed = spec
    opt = nopt.create(name, params())
    assert type(opt) is cls
    assert opt.param_groups[0]["lr"] == lr
    for key, value in fixed.items():
        assert opt.param_groups[0][key] == value
    assert nopt.create(name, params(), lr=0.5).param_groups[0]["lr"] == 0.5


def test_names_and_registry_factories():
    expected = set(TORCH) | {"rprop+", "irprop+", "lm", "newton", "newton_cg", "hessian_diagonal",
                             "cg", "bfgs", "dfp", "psb", "sr1", "quasi_newton"}
    assert set(nopt.names()) == expected
    factory = registry.optimizers.lookup("Levenberg-Marquardt")
    opt = factory(params(), lr=None, mu=0.5)
    assert isinstance(opt, nopt.LevenbergMarquardt) and opt.param_groups[0]["mu"] == 0.5
    assert nopt.names("*newton*") == ["newton", "newton_cg", "quasi_newton"]


def test_class_and_instance_specs():
    opt = nopt.create(torch.optim.SGD, params(), lr=0.3)
    assert type(opt) is torch.optim.SGD and opt.param_groups[0]["lr"] == 0.3
    assert type(nopt.create(nopt.QuasiNewton, params())) is nopt.QuasiNewton
    inst = torch.optim.Adam(params())
    assert nopt.create(inst, None) is inst
    with pytest.warns(UserWarning, match="ignored"):
        assert nopt.create(inst, None, lr=1.0) is inst


def test_unknown_name_lists_choices():
    with pytest.raises(ConfigError, match=r"unknown optimizer 'adamx'; expected one of: .*bfgs.*lm"):
        nopt.create("adamx", params())


def test_bad_spec_type():
    with pytest.raises(DTypeError, match="optimizer must be a name, a config dict.*received int. Names: adadelta"):
        nopt.create(3, params())
    with pytest.raises(DTypeError, match=r"must be a dict \{\"class\": name, \"config\": \{...\}\}; received keys \['name'\]"):
        nopt.create({"name": "adam"}, params())
    with pytest.raises(DTypeError, match="factory '<lambda>' returned int, not a torch.optim.Optimizer"):
        nopt.create(lambda p, **kw: 3, params())


def test_create_takes_what_fit_takes():
    """Names, config dicts, classes, factories and instances: one front door."""
    import functools

    opt = nopt.create({"class": "CG", "config": {"update": "liu_storey"}}, params(), lr=0.5)
    assert type(opt) is nopt.ConjugateGradient
    assert opt.defaults["update"] == "liu_storey" and opt.defaults["lr"] == 0.5
    opt = nopt.create(functools.partial(torch.optim.SGD, momentum=0.5), params(), lr=0.2)
    assert type(opt) is torch.optim.SGD and opt.defaults["momentum"] == 0.5
    assert opt.defaults["lr"] == 0.2
    opt = nopt.create(lambda p: torch.optim.Adam(p, lr=0.3), params())
    assert opt.defaults["lr"] == 0.3


@pytest.mark.parametrize("spec", ["cg", {"class": "cg", "config": {}}, nopt.ConjugateGradient])
def test_create_names_a_keyword_the_optimizer_does_not_take(spec):
    """A misspelt option was torch's raw TypeError from the constructor."""
    with pytest.raises(ConfigError, match=r"optimizers.create: optimizer '(cg|ConjugateGradient)' does "
                                          r"not take `method`; expected some of lr, update, .*orthogonality "
                                          r"in its keyword arguments"):
        nopt.create(spec, [torch.nn.Parameter(torch.zeros(2))], method="polak_ribiere")


def test_create_still_takes_the_factories_own_options():
    w = torch.nn.Parameter(torch.zeros(3))
    assert isinstance(nopt.create("bfgs", [w], strict=True), nopt.QuasiNewton)
    with pytest.raises(ConfigError, match=r"optimizer 'sgd' does not take `momentun`; expected some of "
                                          r".*momentum"):
        nopt.create("sgd", [w], momentun=0.9)


def test_registry_get_works_or_fails_clearly():
    opt = registry.optimizers.get("adam", params=params(), lr=0.2)
    assert type(opt) is torch.optim.Adam and opt.defaults["lr"] == 0.2
    opt = registry.optimizers.get({"class": "lm", "config": {"mu": 0.5}}, params=params())
    assert type(opt) is nopt.LevenbergMarquardt and opt.defaults["mu"] == 0.5
    msg = r"optimizer 'adam' needs the parameters it optimises: registry.optimizers.get\('adam', params="
    with pytest.raises(ConfigError, match=msg):
        registry.optimizers.get("adam")
    with pytest.raises(ConfigError, match="optimizer 'bfgs' needs the parameters"):
        registry.optimizers.get({"class": "bfgs", "config": {}})


@pytest.mark.parametrize("cls,kwargs,match", [
    (nopt.ConjugateGradient, {"update": "fletcher"},
     "ConjugateGradient: expected `update` to be one of 'fletcher_reeves', 'polak_ribiere', "
     "'hestenes_stiefel', 'dai_yuan', 'liu_storey', received 'fletcher'"),
    (nopt.QuasiNewton, {"update": "lbfgs"},
     "QuasiNewton: expected `update` to be one of 'bfgs', 'dfp', 'psb', 'sr1', received 'lbfgs'"),
    (nopt.QuasiNewton, {"update": "bfgs", "trust_region": True},
     "QuasiNewton\\(update='bfgs'\\): expected `trust_region` to be False \\(the trust region is "
     "the dense SR1's\\), received True"),
    (nopt.QuasiNewton, {"update": "sr1", "self_scaling": "yes"},
     "QuasiNewton\\(update='sr1'\\): expected `self_scaling` to be True or False, received 'yes'"),
    (nopt.QuasiNewton, {"update": "psb", "self_scaling": True},
     "QuasiNewton\\(update='psb'\\): expected `self_scaling` to be False or None \\(self-scaling "
     "grows the dense inverse approximation H of bfgs, dfp and sr1 with the line search\\), "
     "received True"),
    (nopt.QuasiNewton, {"history": 5, "self_scaling": True},
     "expected `self_scaling` to be False or None"),
    (nopt.QuasiNewton, {"update": "sr1", "trust_region": True, "self_scaling": True},
     "expected `self_scaling` to be False or None"),
    (nopt.QuasiNewton, {"line_search": "exact"},
     "QuasiNewton\\(update='bfgs'\\): expected `line_search` to be one of 'strong_wolfe', "
     "'armijo', received 'exact'"),
    (nopt.LevenbergMarquardt, {"damping": "fletcher"},
     "LevenbergMarquardt: expected `damping` to be one of 'identity', 'marquardt', received 'fletcher'"),
    (nopt.LevenbergMarquardt, {"mu": -1.0}, "expected `mu` to be a finite number >= 0, received -1.0"),
    (nopt.LevenbergMarquardt, {"mu_increase": 0.5},
     "expected `mu_increase` to be a finite number > 1, received 0.5"),
    (nopt.LevenbergMarquardt, {"mu_decrease": 2},
     "expected `mu_decrease` to be a finite number > 0 and < 1, received 2"),
    (nopt.LevenbergMarquardt, {"max_attempts": 0},
     "expected `max_attempts` to be an integer >= 1, received 0"),
    (nopt.LevenbergMarquardt, {"memory_limit": -5},
     "expected `memory_limit` to be a finite number > 0 or None, received -5"),
    (nopt.Newton, {"lr": 0.0}, "Newton: expected `lr` to be a finite number > 0, received 0.0"),
    (nopt.Newton, {"adaptive": "yes"}, "Newton: expected `adaptive` to be True or False, received 'yes'"),
    (nopt.Newton, {"modification": "cubic"},
     "Newton: expected `modification` to be one of 'absolute', 'shift', received 'cubic'"),
    (nopt.HessianDiagonal, {"min_eigval": float("nan")},
     "HessianDiagonal: expected `min_eigval` to be a finite number > 0, received nan"),
    (nopt.ConjugateGradient, {"restart_every": 0},
     "expected `restart_every` to be an integer >= 1 or None, received 0"),
    (nopt.ConjugateGradient, {"c2": 1.5}, "expected `c2` to be a finite number > 0 and < 1, received 1.5"),
    (nopt.IRPropPlus, {"etas": (1.2, 0.5)},
     r"IRPropPlus: expected `etas` to be \(eta_minus, eta_plus\) with 0 < eta_minus < 1 < eta_plus, "
     r"received \(1.2, 0.5\)"),
    (nopt.RPropPlus, {"step_sizes": (1.0, 0.1)},
     r"RPropPlus: expected `step_sizes` to be \(min, max\) with 0 <= min <= max, received \(1.0, 0.1\)"),
])
def test_bad_hyperparameters(cls, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        cls(params(), **kwargs)


def test_parameter_groups_and_dtypes_rejected():
    a = torch.nn.Parameter(torch.zeros(2))
    b = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    with pytest.raises(ConfigError, match="expected `params` to be one parameter group, received '2 groups'"):
        nopt.LevenbergMarquardt([{"params": [a]}, {"params": [b]}])
    with pytest.raises(ConfigError, match=r"parameters of one dtype, received \['torch.float32', 'torch.float64'\]"):
        nopt.QuasiNewton([a, b])


def test_step_needs_closure():
    opt = nopt.LevenbergMarquardt(params())
    with pytest.raises(ConfigError, match="step needs a closure.*residual vector"):
        opt.step()
    opt = nopt.Newton(params())
    with pytest.raises(ConfigError, match="step needs a closure.*returning the loss"):
        opt.step()


def test_lm_rejects_scalar_loss():
    net = torch.nn.Linear(2, 1).double()
    x = torch.ones(3, 2, dtype=torch.float64)
    opt = nopt.LevenbergMarquardt(net.parameters())
    msg = r"needs a closure that returns the residual vector.*received a scalar.*least-squares losses only \(l2, mse"
    with pytest.raises(ConfigError, match=msg):
        opt.step(lambda: net(x).pow(2).mean())
    closure = nopt.ResidualClosure(net, x, torch.zeros(3, 1, dtype=torch.float64),
                                   residual_fn=lambda p, t: (p - t).abs().sum())
    with pytest.raises(ConfigError, match=msg):
        opt.step(closure)


def test_loss_based_optimizers_reject_vector_closure():
    w = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    for opt in (nopt.Newton([w]), nopt.QuasiNewton([w]), nopt.HessianDiagonal([w])):
        with pytest.raises(ConfigError, match=r"returns a scalar loss \(0-d tensor\); received \(3,\)"):
            opt.step(lambda: w * 2)


def test_check_least_squares_loss():
    """One list: whatever the loss registry knows as mse or sse/l2, under any alias."""
    from neuralab import losses

    assert nopt.check_least_squares_loss("Sum-Squared-Error") == "sum_squared_error"
    for name in ("mse", "MSE", "mean_squared_error", "l2", "sse"):
        nopt.check_least_squares_loss(name)
    assert set(losses.SUM_OF_SQUARES) <= {"mse", "l2", "sse"}  # the loop's list agrees
    msg = (r"LevenbergMarquardt: expected `loss` to be a least-squares loss: 'l2' or 'mse' \(or an "
           r"alias\); for classification use one with a softmax output and class labels or one-hot "
           r"targets, received 'huber'")
    with pytest.raises(ConfigError, match=msg):
        nopt.check_least_squares_loss("huber")
    with pytest.raises(ConfigError, match="received 'sum_of_cubes'"):
        nopt.check_least_squares_loss("sum_of_cubes")


def test_closure_bad_inputs():
    net = torch.nn.Linear(2, 1)
    with pytest.raises(DTypeError, match="module must be a torch.nn.Module; received function"):
        nopt.ResidualClosure(lambda x: x, torch.ones(2, 2), torch.ones(2, 1))
    with pytest.raises(Exception, match=r"same number of samples.*inputs \[\(4, 2\)\] and targets \(3, 1\)"):
        nopt.ResidualClosure(net, torch.ones(4, 2), torch.ones(3, 1))
    with pytest.raises(DTypeError, match="inputs must be a torch.Tensor or a non-empty tuple"):
        nopt.LossClosure(net, [1, 2], torch.ones(2, 1), torch.nn.functional.mse_loss)
    with pytest.raises(DTypeError, match="loss_fn must be callable; received str"):
        nopt.LossClosure(net, torch.ones(2, 2), torch.ones(2, 1), "mse")


def test_closure_parameter_not_in_module():
    net = torch.nn.Linear(2, 1).double()
    stranger = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    closure = nopt.ResidualClosure(net, torch.ones(3, 2, dtype=torch.float64),
                                   torch.ones(3, 1, dtype=torch.float64))
    opt = nopt.LevenbergMarquardt([*net.parameters(), stranger])
    with pytest.raises(ConfigError, match=r"not in the closure's module \(shape \(1,\)\)"):
        opt.step(closure)


@pytest.mark.parametrize("name", ["bfgs", "cg", "newton", "newton_cg", "hessian_diagonal", "lm"])
def test_a_closure_that_calls_backward_is_a_clear_error(name):
    """torch.optim.LBFGS's closures call backward(); ours must not, and say so."""
    model = torch.nn.Linear(2, 1).double()
    opt = nopt.create(name, model.parameters())
    x, y = torch.randn(8, 2, dtype=torch.float64), torch.randn(8, 1, dtype=torch.float64)

    def closure():
        opt.zero_grad()
        r = (model(x) - y).reshape(-1)
        loss = r.pow(2).mean()
        loss.backward()
        return r if name == "lm" else loss

    with pytest.raises(ConfigError, match=r"\.step: expected a closure that returns the .* without "
                                          r"calling backward\(\) .*received one that calls backward"):
        opt.step(closure)
