"""The docstring examples of the detection chapter run and print what they say."""

import doctest
import importlib

import pytest

MODULES = ["neuralab.vision.boxes", "neuralab.vision.detection",
           "neuralab.vision.detection._nms", "neuralab.vision.detection._anchors",
           "neuralab.vision.detection._metrics", "neuralab.vision.detection._yolo",
           "neuralab.vision.detection._roi", "neuralab.vision.detection._rcnn",
           "neuralab.vision.detection._landmarks", "neuralab.vision.detection._train",
           "neuralab.datasets._shapes", "neuralab.vision.detection._darknet"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
