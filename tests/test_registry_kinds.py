import pytest

from neuralab import registry
from neuralab.errors import ConfigError
from neuralab.registry import Registry


def test_get_by_name_config_or_object():
    reg = Registry("widget")

    @reg.register("Knob", "dial")
    class Knob:
        def __init__(self, size=1):
            self.size = size

    assert reg.get("knob").size == 1
    assert reg.get("DIAL", size=3).size == 3
    assert reg.get({"class": "Knob", "config": {"size": 5}}).size == 5
    obj = Knob()
    assert reg.get(obj) is obj
    assert reg.names() == ["Knob"] and reg.names("k*") == ["Knob"]


def test_unknown_name_lists_choices():
    with pytest.raises(ConfigError, match=r"unknown layer 'Conv9D'; expected one of: .*Convolution"):
        registry.layers.lookup("Conv9D")
    with pytest.raises(ConfigError, match=r"keys 'class' and 'config'; received keys \['type'\]"):
        registry.layers.get({"type": "Relu"})


def test_duplicate_registration_rejected():
    reg = Registry("thing")
    reg.register("a", obj=int)
    with pytest.raises(ConfigError, match="already registered"):
        reg.register("a", obj=float)


def test_every_layer_is_registered_under_its_class_name():
    # storage saves type(module).__name__ and load looks it up: the two must agree
    for name, cls in registry.layers.items():
        if cls.__module__.startswith("neuralab."):
            assert cls.__name__ == name
