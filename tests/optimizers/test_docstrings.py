"""Every optimizer module's docstring examples run (the suite-wide list covers other modules)."""

import doctest
import importlib

import pytest

MODULES = ["neuralab.optimizers", "neuralab.optimizers._memory", "neuralab.optimizers._closures",
           "neuralab.optimizers.conjugate_gradient", "neuralab.optimizers.irprop",
           "neuralab.optimizers.newton", "neuralab.optimizers.quasi_newton",
           "neuralab.optimizers.levenberg_marquardt"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name),
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
