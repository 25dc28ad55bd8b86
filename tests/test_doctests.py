"""The examples in every module's docstrings run and print what they say.

Every module of the package is collected (pkgutil walks it), so a new module's
examples are tested the moment it exists. The modules in HAS_EXAMPLES must
also keep at least one example (a chapter's public modules document by example).
"""

import doctest
import importlib
import pkgutil

import pytest

import neuralab

SKIP = {"neuralab.__main__"}  # runs the CLI on import

HAS_EXAMPLES = {
    # optimizers
    "neuralab.optimizers", "neuralab.optimizers._memory", "neuralab.optimizers._closures",
    "neuralab.optimizers.conjugate_gradient", "neuralab.optimizers.irprop",
    "neuralab.optimizers.newton", "neuralab.optimizers.quasi_newton",
    "neuralab.optimizers.levenberg_marquardt",
    # detection
    "neuralab.vision.boxes", "neuralab.vision.detection", "neuralab.vision.detection._nms",
    "neuralab.vision.detection._anchors", "neuralab.vision.detection._metrics",
    "neuralab.vision.detection._yolo", "neuralab.vision.detection._roi",
    "neuralab.vision.detection._rcnn", "neuralab.vision.detection._landmarks",
    "neuralab.vision.detection._train", "neuralab.datasets._shapes",
    "neuralab.vision.detection._darknet",
    # faces
    "neuralab.vision.face", "neuralab.vision.face._haar", "neuralab.vision.face._boost",
    "neuralab.vision.face._cascade", "neuralab.vision.face._siamese",
    "neuralab.vision.face._verify", "neuralab.vision.face._train", "neuralab.vision.face._data",
}


def _modules():
    names = ["neuralab"]
    for info in pkgutil.walk_packages(neuralab.__path__, prefix="neuralab."):
        if info.name not in SKIP:
            names.append(info.name)
    return sorted(names)


MODULES = _modules()


def test_the_collector_sees_the_whole_package():
    assert len(MODULES) > 60 and "neuralab.training.trainer" in MODULES and "neuralab.layers.conv" in MODULES
    assert HAS_EXAMPLES <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    if name in HAS_EXAMPLES:
        assert result.attempted > 0, f"{name} lost its docstring examples"
