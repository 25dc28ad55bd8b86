"""The docstring examples of neuralab.vision.face run and print what they say."""

import doctest
import importlib

import pytest

MODULES = ["neuralab.vision.face", "neuralab.vision.face._haar", "neuralab.vision.face._boost",
           "neuralab.vision.face._cascade", "neuralab.vision.face._siamese",
           "neuralab.vision.face._verify", "neuralab.vision.face._train",
           "neuralab.vision.face._data"]


@pytest.mark.parametrize("name", MODULES)
def test_face_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
