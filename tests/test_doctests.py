"""The examples in docstrings run and print what they say."""

import doctest
import importlib

import pytest

MODULES = [
    "neuralab", "neuralab.errors", "neuralab.registry", "neuralab.arithmetic", "neuralab.init",
    "neuralab.graph", "neuralab.layers.activations", "neuralab.layers.conv",
    "neuralab.layers.core", "neuralab.layers.merge", "neuralab.layers.pooling",
    "neuralab.layers.recurrent", "neuralab.layers.stochastic",
    "neuralab.datasets._digits", "neuralab.datasets._synthetic", "neuralab.datasets._augment",
    "neuralab.cli", "neuralab.validation", "neuralab._seed", "neuralab.layers.base",
    "neuralab.training", "neuralab.training.trainer", "neuralab.training.fit",
    "neuralab.training.callbacks",
    "neuralab.classic.grnn", "neuralab.classic.sofm", "neuralab.classic.lvq",
    "neuralab.classic.cmac",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
