"""Networks built with the layer algebra.

- ``a >> b`` joins: every output of ``a`` feeds ``b``'s input(s);
- ``a | b`` runs ``a`` and ``b`` side by side on the same input(s);
- ``join(*items)``, ``parallel(*items)``, ``repeat(block, n)``.

The result is always a flat :class:`Network` (a ``torch.nn.Module``) whose
submodules are the layers, keyed by their names. Shapes propagate from
``Input`` layers as soon as the graph is formed, so a mismatch fails at the
line that wrote it::

    >>> import neuralab as nl
    >>> from neuralab import layers as L
    >>> net = L.Input(10) >> L.Relu(32) >> L.Softmax(3)
    >>> net.output_shape
    (3,)
    >>> block = L.Relu(10) >> L.Linear(10)
    >>> residual = L.Input(10) >> (block | L.Identity()) >> L.Elementwise("add")
    >>> residual.output_shape
    (10,)
"""

from __future__ import annotations

import types
from typing import Sequence

import torch
from torch import nn

from . import arithmetic
from . import registry
from .errors import ConfigError, DTypeError, NeuralabError, ShapeError, format_shape
from .layers.base import Algebra, Layer, base_name, shapes_match
from .validation import expected

__all__ = ["Network", "join", "parallel", "repeat"]



_module_call = nn.Module.__call__


def _as_network(item) -> "Network":
    if isinstance(item, Network):
        return item
    if isinstance(item, Layer):
        return Network(inputs=[item], outputs=[item], preds={item: []})
    raise DTypeError(
        f"the layer algebra joins neuralab layers and networks, received "
        f"{type(item).__name__} ({item!r:.80})"
    )


def _auto(layer) -> bool:
    return bool(getattr(layer, "auto_named", False))


def _number_layers(order: list) -> None:
    """Name the automatically named layers ``<kind>-<k>``, counted within this network in order.

    Explicit names are kept and their numbers skipped, so the names do not depend
    on what else the process has built.
    """
    taken = {layer.name for layer in order if not _auto(layer)}
    counts: dict[str, int] = {}
    for layer in order:
        if not _auto(layer):
            continue
        stem = base_name(type(layer))
        k = counts.get(stem, 0) + 1
        while f"{stem}-{k}" in taken:
            k += 1
        counts[stem] = k
        layer.name = f"{stem}-{k}"
        taken.add(layer.name)


def _union(graphs: Sequence["Network"]) -> dict:
    preds: dict[Layer, list[Layer]] = {}
    names: dict[str, Layer] = {}
    for g in graphs:
        for layer in g._order:
            other = names.get(layer.name)
            if (other is not None and other is not layer
                    and not (_auto(other) and _auto(layer))):  # auto names are renumbered
                raise ConfigError(
                    f"two different layers are named {layer.name!r}; layer names must be "
                    "unique within a network"
                )
            names[layer.name] = layer
            merged = preds.setdefault(layer, [])
            for p in g._preds[layer]:
                if p not in merged:
                    merged.append(p)
    return preds


def join(*items) -> "Network":
    """Chain layers/networks left to right: ``join(a, b, c)`` is ``a >> b >> c``."""
    if not items:
        raise ConfigError("join needs at least one layer or network")
    graphs = [_as_network(i) for i in items]
    result = graphs[0]
    for g in graphs[1:]:
        result = _join_two(result, g)
    return result


def _join_two(a: "Network", b: "Network") -> "Network":
    preds = _union([a, b])
    outs, ins = a._outputs, b._inputs
    for layer in ins:
        if isinstance(layer, _input_cls()):
            raise ShapeError(
                f"cannot connect {_names(outs)} into input layer '{layer.name}': an Input "
                "starts a network and takes no predecessors"
            )
    if len(ins) == 1:
        target = ins[0]
        if target.n_inputs == 1 and len(outs) > 1:
            raise ShapeError(
                f"layer '{target.name}' ({type(target).__name__}) takes one input but would "
                f"receive {len(outs)}, from {_names(outs)}; merge them first with "
                "Concatenate, Elementwise or GatedAverage"
            )
        pairs = [(o, target) for o in outs]
    elif len(outs) == 1:
        pairs = [(outs[0], t) for t in ins]
    elif len(outs) == len(ins):
        pairs = list(zip(outs, ins))
    else:
        raise ShapeError(
            f"cannot join {len(outs)} outputs ({_names(outs)}) to {len(ins)} inputs "
            f"({_names(ins)}); their counts must match or one side must have a single layer"
        )
    for src, dst in pairs:
        if src is dst:
            raise ShapeError(f"layer '{src.name}' cannot be connected to itself")
        if src not in preds[dst]:
            preds[dst].append(src)
    return Network(inputs=list(a._inputs), outputs=list(b._outputs), preds=preds)


def parallel(*items) -> "Network":
    """Run layers/networks side by side: ``parallel(a, b)`` is ``a | b``."""
    if not items:
        raise ConfigError("parallel needs at least one layer or network")
    graphs = [_as_network(i) for i in items]
    preds = _union(graphs)
    inputs, outputs = [], []
    for g in graphs:
        inputs += [i for i in g._inputs if i not in inputs]
        outputs += [o for o in g._outputs if o not in outputs]
    return Network(inputs=inputs, outputs=outputs, preds=preds)


def repeat(block, n: int) -> "Network":
    """``n`` fresh copies of ``block`` (a layer or network) joined in a chain.

    The copies have their own weights and names; ``block`` itself is not used.

    >>> from neuralab import layers as L
    >>> net = L.Input(8) >> repeat(L.Relu(8), 3)
    >>> len(net.layers)
    4
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"repeat: `n` must be a positive integer, received {n!r}")
    graph = _as_network(block)
    return join(*[graph.clone() for _ in range(n)])


class _InplaceCall:
    """Runs a layer in place on an input that nothing else reads (see ``Network._plan``).

    Falls back to the ordinary call when the layer has hooks, so hooks still fire.
    """

    __slots__ = ("layer", "target")

    def __init__(self, layer, target: int):
        self.layer = layer
        self.target = target

    def __call__(self, *xs):
        layer = self.layer
        if layer._forward_hooks or layer._forward_pre_hooks:
            return layer(*xs)
        return layer.forward_inplace(self.target, *xs)


class _Delegated:
    """A Network method that is a function of :mod:`neuralab.training` with ``module=self``.

    The training floor sits above the graph, so it is imported when the method is first
    looked up; the method then carries that function's whole docstring and signature,
    so ``help(net.fit)`` shows ``fit``'s documentation.
    """

    def __init__(self, name: str, summary: str):
        self.name, self.summary, self._method = name, summary, None

    def _function(self):
        if self._method is None:
            import functools

            from . import training

            target = getattr(training, self.name)

            @functools.wraps(target)
            def method(network, *args, **kwargs):
                return target(network, *args, **kwargs)

            method.__doc__ = f"{self.summary}\n\n{target.__doc__}"
            method.__qualname__ = f"Network.{self.name}"
            self._method = method
        return self._method

    def __get__(self, obj, cls=None):
        method = self._function()
        return method if obj is None else types.MethodType(method, obj)


def _input_cls():
    from .layers.core import Input

    return Input


def _names(layers) -> str:
    return ", ".join(f"'{l.name}'" for l in layers)


@registry.layers.register("Network")
class Network(Algebra, nn.Module):
    """A directed acyclic graph of layers, built with ``>>``, ``|``, ``join``, ``parallel``.

    Attributes:
        layers: the layers in topological (execution) order.
        input_layers / output_layers: the entry and exit layers.
        input_shape / output_shape: per-sample shapes (a list when there are several).

    Calling a network runs its layers in order. With several input layers it
    takes one tensor per input (in ``input_layers`` order), or one tensor that
    feeds all of them; with several outputs it returns a tuple.
    """

    # attributes a network sets on itself (besides nn.Module's): no layer may be named so
    _INSTANCE_ATTRS = ("name", "_preds", "_inputs", "_outputs", "_order", "_entry_index",
                       "_free_after", "_exec", "_out_idx", "_is_chain")
    _reserved: frozenset | None = None

    @classmethod
    def reserved_names(cls) -> frozenset:
        """Names a layer of a network cannot have: the network's own attributes.

        >>> {"layers", "forward", "parameters", "fit", "name"} <= Network.reserved_names()
        True
        """
        if Network._reserved is None:
            Network._reserved = frozenset(dir(Network)) | frozenset(vars(nn.Module())) | frozenset(
                Network._INSTANCE_ATTRS)
        return Network._reserved

    def __init__(self, inputs: list, outputs: list, preds: dict, *, name: str | None = None):
        super().__init__()
        self.name = name or "network"
        self._form(inputs, outputs, preds)

    def _form(self, inputs: list, outputs: list, preds: dict) -> None:
        """(Re)build the structure: order, submodules, execution plan, shapes."""
        for key in list(self._modules):
            del self._modules[key]
        self._preds = {layer: list(ps) for layer, ps in preds.items()}
        self._inputs = list(inputs)
        self._outputs = list(outputs)
        self._order = self._topological_order()
        _number_layers(self._order)
        for layer in self._order:
            if layer.name in self.reserved_names() or hasattr(self, layer.name):
                raise expected(f"layer '{layer.name}'", "name", "a name that is not a Network "
                               "attribute (layers, forward, parameters, …)", layer.name)
            self.add_module(layer.name, layer)
        self._propagate_shapes()
        self._plan()  # after the shapes: in-place decisions depend on which layers are built

    def replace(self, old, new=None) -> "Network":
        """Swap layers in place, keeping their connections: ``net.replace(old, new)``.

        ``old`` is a layer or its name, or a dict ``{old: new, …}`` to swap several
        at once. Shapes are re-checked first: on a ShapeError the network is left
        unchanged. Returns the network.

        >>> from neuralab import layers as L
        >>> net = L.Input(4) >> L.Relu(8, name="hidden") >> L.Linear(2, name="out")
        >>> net.replace("out", L.Linear(3, name="out3")).output_shape
        (3,)
        """
        mapping = old if isinstance(old, dict) else {old: new}
        resolved = {}
        for key, value in mapping.items():
            layer = self.layer(key) if isinstance(key, str) else key
            if layer not in self._preds:
                raise ConfigError(f"layer {getattr(layer, 'name', layer)!r} is not in network "
                                  f"'{self.name}'")
            if not isinstance(value, Layer):
                raise DTypeError(f"replace expects a neuralab layer for '{layer.name}', "
                                 f"received {type(value).__name__}")
            resolved[layer] = value
        preds = {resolved.get(l, l): [resolved.get(p, p) for p in ps]
                 for l, ps in self._preds.items()}
        inputs = [resolved.get(l, l) for l in self._inputs]
        outputs = [resolved.get(l, l) for l in self._outputs]
        Network(inputs, outputs, preds)  # validates shapes before touching self
        self._form(inputs, outputs, preds)
        return self

    # -- structure ----------------------------------------------------------------
    def _topological_order(self) -> list:
        nodes = list(self._preds)
        succs = {n: [] for n in nodes}
        indegree = {n: 0 for n in nodes}
        for n in nodes:
            for p in self._preds[n]:
                if p not in succs:
                    raise ShapeError(f"layer '{n.name}' is fed by '{p.name}', which is not in "
                                     "the network")
                succs[p].append(n)
                indegree[n] += 1
        ready = [n for n in nodes if indegree[n] == 0]
        order = []
        while ready:
            n = ready.pop(0)
            order.append(n)
            for s in succs[n]:
                indegree[s] -= 1
                if indegree[s] == 0:
                    ready.append(s)
        if len(order) != len(nodes):
            cyclic = [n.name for n in nodes if n not in order]
            raise ShapeError(f"the network has a cycle through layers {cyclic}")
        entries = [n for n in order if not self._preds[n]]
        for e in entries:
            if e not in self._inputs:
                self._inputs.append(e)
        self._inputs = [i for i in self._inputs if not self._preds[i]]
        return order

    def _plan(self) -> None:
        index = {layer: i for i, layer in enumerate(self._order)}
        self._entry_index = {layer: k for k, layer in enumerate(self._inputs)}
        srcs_of = [tuple(index[p] for p in self._preds[layer]) for layer in self._order]
        last_use, consumers = {}, {}
        for i, srcs in enumerate(srcs_of):
            for s in srcs:
                last_use[s] = i
                consumers[s] = consumers.get(s, 0) + 1
        out_idx = [index[o] for o in self._outputs]
        # slots that can be freed right after step i (never an output)
        self._free_after = [
            tuple(s for s, last in last_use.items() if last == i and s not in out_idx)
            for i in range(len(self._order))
        ]

        def owned(slot: int) -> bool:
            # a value this step may overwrite: a fresh tensor that nothing else reads,
            # that is not an output, and that its producer did not save for backward
            producer = self._order[slot]
            return (consumers.get(slot) == 1 and slot not in out_idx and producer.built
                    and getattr(producer, "fresh_output", False))

        plan = []
        for i, (layer, srcs) in enumerate(zip(self._order, srcs_of)):
            # nn.Module's own call: the network explains a failure itself (see forward), so the
            # layer's explaining __call__ is skipped for speed
            call = types.MethodType(_module_call, layer)
            inplace = getattr(layer, "forward_inplace", None)
            if inplace is not None and layer.built and srcs:
                target = next((k for k, s in enumerate(srcs) if owned(s)), None)
                if target is not None and layer.supports_inplace(target):
                    call = _InplaceCall(layer, target)
            plan.append((call, srcs))
        self._exec = plan
        self._out_idx = out_idx
        self._is_chain = (
            len(self._inputs) == 1 and len(self._outputs) == 1
            and all(len(srcs) == (0 if i == 0 else 1) and (i == 0 or srcs[0] == i - 1)
                    for i, (_, srcs) in enumerate(plan))
            and out_idx[0] == len(plan) - 1
        )

    def _propagate_shapes(self, entry_shapes: dict | None = None) -> bool:
        """Build every layer whose input shape is known; True when all are built."""
        shapes: dict[Layer, tuple] = {}
        for layer in self._order:
            preds = self._preds[layer]
            if not preds:
                if entry_shapes is not None and layer in entry_shapes:
                    self._build_layer(layer, entry_shapes[layer], None)
                if layer.built:
                    shapes[layer] = layer.output_shape
                continue
            if not all(p in shapes for p in preds):
                continue
            incoming = [shapes[p] for p in preds]
            if layer.n_inputs == 1:
                if len(incoming) != 1:
                    raise ShapeError(
                        f"layer '{layer.name}' ({type(layer).__name__}) takes one input but "
                        f"receives {len(incoming)}, from {_names(preds)}"
                    )
                incoming = incoming[0]
            self._build_layer(layer, incoming, preds)
            shapes[layer] = layer.output_shape
        return all(layer.built for layer in self._order)

    @staticmethod
    def _build_layer(layer, shape, preds) -> None:
        try:
            layer.build(shape)
        except ShapeError as exc:
            if preds is None:
                raise
            sources = ", ".join(
                f"'{p.name}' (output {format_shape(p.output_shape)})" for p in preds)
            raise ShapeError(
                f"cannot connect {sources} to layer '{layer.name}' ({type(layer).__name__}): "
                f"{exc}"
            ) from None

    # -- public structure -------------------------------------------------------------
    @property
    def layers(self) -> list:
        return list(self._order)

    @property
    def input_layers(self) -> list:
        return list(self._inputs)

    @property
    def output_layers(self) -> list:
        return list(self._outputs)

    @property
    def built(self) -> bool:
        return all(layer.built for layer in self._order)

    def _entry_shape(self, layer):
        if not layer.built:
            return None
        return layer.input_shape

    @property
    def input_shape(self):
        shapes = [self._entry_shape(l) for l in self._inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [l.output_shape if l.built else None for l in self._outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def layer(self, name: str) -> Layer:
        """The layer called ``name``."""
        for layer in self._order:
            if layer.name == name:
                return layer
        raise ConfigError(f"network has no layer {name!r}; layers: "
                          f"{', '.join(l.name for l in self._order)}")

    def predecessors(self, layer) -> list:
        """The layers feeding ``layer`` (a layer or its name), in order."""
        if isinstance(layer, str):
            layer = self.layer(layer)
        return list(self._preds[layer])

    def __len__(self) -> int:
        return len(self._order)

    # -- running ----------------------------------------------------------------------------
    def _check_inputs(self, xs):
        n = len(self._inputs)
        if len(xs) == 1 and n > 1:
            xs = xs * n
        if len(xs) != n:
            raise ShapeError(
                f"network '{self.name}' has {n} input(s) ({_names(self._inputs)}) but was "
                f"called with {len(xs)} tensors"
            )
        for k, (layer, x) in enumerate(zip(self._inputs, xs)):
            if not isinstance(x, torch.Tensor):
                raise DTypeError(
                    f"network input {k} ('{layer.name}') expects a torch.Tensor, received "
                    f"{type(x).__name__}; use net.predict(...) for NumPy arrays"
                )
            if layer.built:
                expected = layer.input_shape
                got = tuple(x.shape[1:])
                if not (isinstance(expected, tuple) and shapes_match(expected, got)):
                    raise ShapeError(
                        f"network input {k} ('{layer.name}') expects samples of shape "
                        f"{format_shape(expected)}, received a batch of shape "
                        f"{tuple(x.shape)}, i.e. samples of shape {format_shape(got)}"
                    )
        if n > 1 and len({x.shape[0] for x in xs if x.dim()}) > 1:
            raise ShapeError(f"network '{self.name}': expected one batch size for its inputs "
                             f"({_names(self._inputs)}), received batches of "
                             f"{', '.join(str(x.shape[0]) if x.dim() else '?' for x in xs)} samples")
        return xs

    def _lazy_build(self, xs):
        shapes = {layer: tuple(x.shape[1:]) for layer, x in zip(self._inputs, xs)}
        self._propagate_shapes(shapes)
        if not self.built:
            missing = [l.name for l in self._order if not l.built]
            raise ShapeError(f"could not infer the shapes of layers {missing}")
        self._plan()
        ref = xs[0]
        self.to(device=ref.device)
        if ref.is_floating_point():
            self.to(dtype=ref.dtype)

    def forward(self, *xs):
        xs = self._check_inputs(xs)
        if not self.built:
            self._lazy_build(xs)
        i = 0
        if self._is_chain:
            x = xs[0]
            try:
                for i, (call, _) in enumerate(self._exec):
                    x = call(x)
            except (RuntimeError, ValueError) as exc:
                self._explain(exc, i, (x,))
            return x
        values: list = [None] * len(self._exec)
        entry = self._entry_index
        try:
            for i, (call, srcs) in enumerate(self._exec):
                if not srcs:
                    values[i] = call(xs[entry[self._order[i]]])
                elif len(srcs) == 1:
                    values[i] = call(values[srcs[0]])
                else:
                    values[i] = call(*[values[s] for s in srcs])
                for s in self._free_after[i]:
                    values[s] = None
        except (RuntimeError, ValueError) as exc:
            srcs = self._exec[i][1]
            self._explain(exc, i, [xs[entry[self._order[i]]]] if not srcs else [values[s] for s in srcs])
        if len(self._out_idx) == 1:
            return values[self._out_idx[0]]
        return tuple(values[i] for i in self._out_idx)

    def _explain(self, exc, i: int, inputs) -> None:
        """Re-raise the failure of step ``i`` as the layer explains it (dtype, shape), or as it is."""
        if isinstance(exc, NeuralabError):
            raise exc
        problem = self._order[i].explain_failure(inputs)
        if problem is None:
            raise exc
        raise problem from exc

    # -- training (delegated to neuralab.training, imported on first use to keep floors) -------
    fit = _Delegated("fit", "Train the network: :func:`neuralab.training.fit` with ``module=self``.")
    predict = _Delegated("predict", "Outputs for ``x`` as NumPy arrays: :func:`neuralab.training.predict`.")
    evaluate = _Delegated("evaluate", "Loss and metrics on ``(x, y)``: :func:`neuralab.training.evaluate`.")

    # -- copies and configs ------------------------------------------------------------------------
    def clone(self) -> "Network":
        """A copy with fresh layers (new names and weights), not yet built unless it starts at an Input."""
        mapping = {}
        for layer in self._order:
            config = layer.get_config()
            config.pop("name", None)
            mapping[layer] = type(layer).from_config(config)
        preds = {mapping[l]: [mapping[p] for p in ps] for l, ps in self._preds.items()}
        return Network([mapping[i] for i in self._inputs], [mapping[o] for o in self._outputs],
                       preds)

    def get_config(self) -> dict:
        """A JSON-serialisable description: layers, their connections, inputs and outputs."""
        layers = []
        for layer in self._order:
            entry = {"class": type(layer).__name__, "config": layer.get_config()}
            if layer.built and not self._preds[layer]:
                shape = layer.input_shape
                entry["input_shape"] = ([list(s) for s in shape] if isinstance(shape, list)
                                        else list(shape))
            layers.append(entry)
        return {
            "name": self.name,
            "layers": layers,
            "edges": {l.name: [p.name for p in self._preds[l]] for l in self._order},
            "inputs": [l.name for l in self._inputs],
            "outputs": [l.name for l in self._outputs],
        }

    @classmethod
    def from_config(cls, config: dict) -> "Network":
        """Rebuild a network from :meth:`get_config`'s output (weights freshly initialised)."""
        try:
            by_name = {}
            for entry in config["layers"]:
                layer = registry.layers.get({"class": entry["class"], "config": entry["config"]})
                if not isinstance(layer, Layer):
                    raise ConfigError(f"config entry {entry['class']!r} is not a layer")
                shape = entry.get("input_shape")
                if shape is not None and not layer.built:
                    layer.build([tuple(s) for s in shape] if layer.n_inputs != 1
                                else tuple(shape))
                by_name[layer.name] = layer
            preds = {by_name[n]: [by_name[p] for p in ps] for n, ps in config["edges"].items()}
            inputs = [by_name[n] for n in config["inputs"]]
            outputs = [by_name[n] for n in config["outputs"]]
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"malformed network config: missing or invalid entry {exc}") from None
        return cls(inputs, outputs, preds, name=config.get("name"))

    # -- summary -------------------------------------------------------------------------------
    def receptive_fields(self) -> dict:
        """Receptive field (per spatial axis) of every layer's output, None when not spatial.

        Uses :func:`neuralab.arithmetic.receptive_field_step` along the graph; with
        branches, the widest incoming field is kept.
        """
        fields: dict = {}
        for layer in self._order:
            preds = self._preds[layer]
            if not preds:
                shape = layer.input_shape if layer.built else None
                spatial = isinstance(shape, tuple) and len(shape) >= 2
                incoming = ([(1, 1)] * (len(shape) - 1)) if spatial else None
            else:
                ins = [fields[p] for p in preds if fields[p] is not None]
                incoming = max(ins, key=lambda f: tuple(r for r, _ in f)) if ins else None
            out = layer.output_shape if layer.built else None
            if incoming is None or not (isinstance(out, tuple) and len(out) >= 2):
                fields[layer] = None
                continue
            geometry = layer.kernel_geometry()
            if geometry is None:
                fields[layer] = incoming if len(incoming) == len(out) - 1 else None
                continue
            fields[layer] = [arithmetic.receptive_field_step(rf, jump, k, s, d)
                             for (rf, jump), (k, s, d) in zip(incoming, geometry)]
        return {l.name: (None if f is None else tuple(r for r, _ in f)) for l, f in fields.items()}

    def summary(self, print_fn=print) -> None:
        """Print a table: layer, output shape, parameters, receptive field; then totals."""
        for line in self.summary_lines():
            print_fn(line)

    def summary_lines(self) -> list[str]:
        """The lines :meth:`summary` prints."""
        rf = self.receptive_fields()
        chain = self._is_chain
        rows = []
        for layer in self._order:
            own = sum(p.numel() for p in layer.parameters())
            field = rf[layer.name]
            field_text = "-" if field is None else (
                str(field[0]) if len(set(field)) == 1 else "×".join(map(str, field)))
            row = [f"{layer.name} ({type(layer).__name__})",
                   format_shape(layer.output_shape) if layer.built else "?",
                   f"{own:,}" if layer.built else "?", field_text]
            if not chain:
                row.append(", ".join(p.name for p in self._preds[layer]) or "-")
            rows.append(row)
        header = ["Layer (type)", "Output shape", "Params", "Receptive field"]
        if not chain:
            header.append("Connected to")
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]

        def fmt(cells):
            return "  ".join(c.ljust(w) if i != 2 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

        total = arithmetic.count_parameters(self)
        trainable = arithmetic.count_parameters(self, trainable_only=True)
        rule = "=" * len(fmt(header))
        lines = [f"Network '{self.name}'", rule, fmt(header), "-" * len(rule)]
        lines += [fmt(r) for r in rows]
        if not self.built:  # a chain without an Input: its layers get their weights at the first call
            lines += [rule, "Total parameters: unknown until the shapes are known: start the network with "
                            "L.Input(shape) or call it on a batch first"]
            return lines
        lines += [rule, f"Total parameters: {total:,}", f"Trainable parameters: {trainable:,}",
                  f"Non-trainable parameters: {total - trainable:,}"]
        return lines

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


