"""The examples in every module's docstrings run and print what they say.

Every module of the package is collected (pkgutil walks it), so a new module's
examples are tested the moment it exists.
"""

import doctest
import importlib
import pkgutil

import pytest

import neuralab

SKIP = {"neuralab.__main__"}  # runs the CLI on import


def _modules():
    names = ["neuralab"]
    for info in pkgutil.walk_packages(neuralab.__path__, prefix="neuralab."):
        if info.name not in SKIP:
            names.append(info.name)
    return sorted(names)


MODULES = _modules()


def test_the_collector_sees_the_whole_package():
    assert len(MODULES) > 60 and "neuralab.training.trainer" in MODULES and "neuralab.layers.conv" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
