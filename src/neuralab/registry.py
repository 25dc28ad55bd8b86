"""One registry per kind of component.

A registry maps names to classes or factories and turns any of three things
into an object: a name (``"relu"``), a config (``{"class": "Relu", "config":
{...}}``) or an object that is already built. Unknown names raise
:class:`~neuralab.errors.ConfigError` listing the choices.

Registries live on the ground floor so that modules on the same floor can find
each other's components without importing each other: a registry imports the
module that fills it the first time it is asked for something.

    >>> from neuralab.registry import Registry
    >>> colors = Registry("color")
    >>> @colors.register("red")
    ... class Red:
    ...     pass
    >>> type(colors.get("red")).__name__
    'Red'
    >>> colors.names("r*")
    ['red']
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import re
from typing import Any, Iterable

from .errors import ConfigError
from .validation import expected

__all__ = [
    "Registry",
    "layers",
    "initializers",
    "losses",
    "metrics",
    "regularizers",
    "schedules",
    "optimizers",
    "architectures",
    "estimators",
]


def _normalize(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


class Registry:
    """A name → class/factory table for one kind of component.

    Args:
        kind: what the registry holds, used in error messages ("layer", "loss" …).
        populate: modules imported on first lookup; they register their entries.
        instantiate: when False (registries of plain functions such as losses),
            ``get(name)`` returns the registered function itself.
    """

    def __init__(
        self,
        kind: str,
        populate: Iterable[str] = (),
        instantiate: bool = True,
    ):
        self.kind = kind
        self.instantiate = instantiate
        self._populate = tuple(populate)
        self._populated = False
        self._entries: dict[str, Any] = {}
        self._canonical: dict[str, str] = {}

    # -- registration -------------------------------------------------------
    def register(self, name: str | None = None, *aliases: str, obj: Any = None):
        """Register ``obj`` (or decorate it) under ``name`` and ``aliases``.

        Names are case-insensitive and ``-``/``_`` are interchangeable.
        """

        def decorator(target):
            primary = name or getattr(target, "__name__")
            for key in (primary, *aliases):
                norm = _normalize(key)
                existing = self._entries.get(norm)
                if existing is not None and existing is not target:
                    raise ConfigError(
                        f"{self.kind} name {key!r} is already registered to {existing!r}"
                    )
                self._entries[norm] = target
                self._canonical.setdefault(norm, primary)
            return target

        if obj is not None:
            return decorator(obj)
        return decorator

    def _ensure_populated(self) -> None:
        if not self._populated:
            self._populated = True
            for module in self._populate:
                importlib.import_module(module)

    # -- lookup -------------------------------------------------------------
    def __contains__(self, name: str) -> bool:
        self._ensure_populated()
        return isinstance(name, str) and _normalize(name) in self._entries

    def lookup(self, name: str) -> Any:
        """Return the registered class or factory for ``name`` (not an instance)."""
        self._ensure_populated()
        if not isinstance(name, str):
            raise ConfigError(
                f"expected a {self.kind} name as a string, received {type(name).__name__}"
            )
        try:
            return self._entries[_normalize(name)]
        except KeyError:
            raise ConfigError(
                f"unknown {self.kind} {name!r}; expected one of: {', '.join(self.names())}"
            ) from None

    def get(self, spec: Any, **kwargs) -> Any:
        """Turn a name, a config dict or an object into an object.

        - a string: looks the name up and calls it with ``kwargs``;
        - a dict ``{"class": NAME, "config": {...}}``: calls NAME(**config);
        - anything else is returned unchanged (already an object).
        """
        if isinstance(spec, str):
            target = self.lookup(spec)
            if not self.instantiate and not kwargs:
                return target
            try:
                return target(**kwargs)
            except TypeError as exc:
                raise self._misspelt(spec, target, kwargs, exc) from None
        if isinstance(spec, dict):
            if "class" not in spec:
                raise ConfigError(
                    f"a {self.kind} config must be a dict with keys 'class' and 'config'; "
                    f"received keys {sorted(spec)}"
                )
            config = dict(spec.get("config") or {})
            config.update(kwargs)
            target = self.lookup(spec["class"])
            from_config = getattr(target, "from_config", None)
            try:
                return target(**config) if from_config is None else from_config(config)
            except TypeError as exc:
                raise self._misspelt(spec["class"], target, config, exc) from None
        return spec

    def _misspelt(self, name: str, target: Any, kwargs: dict, exc: TypeError) -> Exception:
        """A ConfigError naming the keyword ``target`` refused and listing those it takes; else ``exc``."""
        found = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if found is None or found.group(1) not in kwargs:
            return exc
        try:
            params = inspect.signature(target).parameters.values()
        except (TypeError, ValueError):
            params = []
        takes = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        more = ", …" if any(p.kind is p.VAR_KEYWORD for p in params) else ""
        bad = found.group(1)
        return expected(f"{self.kind} {name!r}", bad, f"one of its arguments ({', '.join(takes)}{more})",
                        kwargs[bad])

    def names(self, pattern: str = "*") -> list[str]:
        """Registered primary names matching a glob pattern, sorted."""
        self._ensure_populated()
        primaries = {self._canonical[k] for k in self._entries if k == _normalize(self._canonical[k])}
        return sorted(n for n in primaries if fnmatch.fnmatch(_normalize(n), _normalize(pattern)))

    def items(self) -> list[tuple[str, Any]]:
        """(primary name, entry) pairs, sorted by name."""
        return [(n, self.lookup(n)) for n in self.names()]

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self.names())} entries)"


# architectures register their Network subclasses here too, so a saved model rebuilds
layers = Registry(
    "layer", populate=["neuralab.layers", "neuralab.graph", "neuralab.architectures", "neuralab.vision.detection"]
)
initializers = Registry("initializer", populate=["neuralab.init"])
losses = Registry("loss", populate=["neuralab.losses"], instantiate=False)
metrics = Registry("metric", populate=["neuralab.training.metrics"], instantiate=False)
regularizers = Registry("regularizer", populate=["neuralab.regularizers"])
schedules = Registry("schedule", populate=["neuralab.schedules"])
optimizers = Registry("optimizer", populate=["neuralab.optimizers"])
architectures = Registry("architecture", populate=["neuralab.architectures", "neuralab.vision.detection"])
estimators = Registry("estimator", populate=["neuralab.classic._all"])
