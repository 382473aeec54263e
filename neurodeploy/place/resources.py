"""Per-core resource model: what a slice of a layer demands from a neurocore.

A *layer* is one neuron group plus the synapses that feed it (its fan-in). Neurons of a layer are
laid out as a ``channels x positions`` grid (``(N,)`` -> N x 1; ``(C, H, W)`` -> C x H*W with
positions in x-major order ``x * H + y``, so that a contiguous position range is a band of image
columns, as Intel's compiler tiles convolutions). A *slice* is a rectangle ``c x p`` of that grid
and goes to one core. Its demand vector, in :data:`neurodeploy.targets.BUDGETS` order:

* ``neurons``: ``c * p * units_per_neuron(kind)`` (target ``[neuron_units]``; CUBA = 1);
* ``synmem`` (units of ``unit_bits``): the sum over fan-ins of
  - dense: one synapse list per input axon holding the ``c*p`` synapses of the slice; a list of n
    synapses costs, per block of ``block_synapses``, ``ceil((n_b*(w+d) + header) / unit_bits)``
    (nengo-loihi's ``bits_per_axon`` form; dense weights store no index);
  - sparse: the same with ``index_bits = clamp(ceil(log2(c*p)))`` added per synapse;
  - conv / pooling (shared weights): per (input channel of a touched group, kernel tap) one list of
    the slice's output channels: ``ceil(n / conv_weights_per_unit) + conv_header_units`` units
    (fitted to the Loihi 2 log; ``conv_weights_per_unit = 0`` selects the indexed bits formula,
    i.e. nengo-loihi's population weights). Independent of the spatial tile: shared weights are
    stored once per core;
  - identity (element-wise copy, residual add): one synapse per neuron;
  - host (spikes injected by the host straight into the neurons): no synapses;
* ``axon_in``: dense/sparse: input neurons read (one axon each); conv: ``conv_axons_per_fanin``
  + ``conv_axons_per_input_position`` x positions read; identity: ``c*p``; host: 1;
* ``axon_map`` (fan-out entries): one per neuron and dense-type consumer layer (the log shows one
  entry per neuron even with 12 destination cores), ``conv_map_per_position`` per position and
  conv consumer layer, one per neuron for network outputs (read by the host);
* ``neuron_groups``: ``Layer.groups`` (1 for every IR neuron kind).

Derivation of the Loihi 2 constants (``targets/loihi2.toml [synmem]``) from the compiler logs in
lava-dl's notebooks (spec 1.2): 32-bit units, blocks of 128 synapses and a 10-bit block header give
1, 3, 5, 12, 13, 26 units for lists of 1, 10, 17, 43, 50, 100 8-bit synapses; the logs show 1, 3,
5 (12,800 / 2,560 axons), 12 (MNIST 9,408 / 784), 13, 26 (SDNN; 24 LIF) - so a dense core holds
about 3.9-4.2 synapses per unit, as the spec's 4.1 says. Conv rows of PilotNet-SNN (81, 864,
2,160, 2,880 units for C_out 24, 36, 64, 64 and C_in*9 lists) fit exactly with 16 weights per unit
plus one header unit per list; the 36->48 row (1,620 logged) is under-estimated by 20 %.

Cost models are looked up by IR node class (walking the MRO) in a registry; other engineers
register their operators with ``@cost_model(MyNode)``. A cost function receives the node and a
:class:`NodeContext` and returns a :class:`Neurons`, :class:`HostOp`, :class:`Synapse`,
:class:`Wiring` or :class:`Source`. Unregistered classes get the documented generic fallback:
a delayed (synapse-like) node is charged as a dense all-to-all fan-in (an upper bound), any other
node as a CUBA-cost neuron group of its output size; both are flagged in ``Layer.note``. A node
class with ``host = True`` (the operators' flag) and no registered model is a host operator.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import numpy as np

from .. import ir
from ..errors import IRError
from ..targets import BUDGETS, Target

__all__ = ["FanIn", "Layer", "Neurons", "HostOp", "Synapse", "Wiring", "Source", "NodeContext",
           "cost_model", "lookup_cost_model", "layers_from_network", "finalize_layers",
           "slice_demand", "list_units", "HOST_NOTE", "GENERIC_NOTE"]

HOST_NOTE = "host operator — not on neurocores"
GENERIC_NOTE = "no cost model registered: generic upper-bound estimate"


@dataclass
class FanIn:
    """One source of a layer's input current. ``n_in``: source neurons read by the whole layer.

    kind: ``dense`` | ``sparse`` | ``conv`` | ``identity`` | ``host``. Traffic mapping: ``pos_map``
    (``all``: every source position; ``same``: the same positions; ``window``: the receptive field
    along x given by ``window = (kernel_x, stride_x, pad_x, dilation_x)``) and ``chan_map``
    (``all`` | ``same``). Sparse axons/synapses: ``axons = min(n_in, a0 + ac*c + ap*p + an*c*p)``
    and ``synapses = syn_per_neuron * c * p`` for a ``c x p`` slice.
    """
    source: str
    kind: str
    n_in: int
    weight_bits: int = 8
    delay_bits: int = 0
    cin: int = 0                     # conv: input channels per group
    taps: int = 0                    # conv: kH * kW
    groups: int = 1
    cout: int = 0
    in_hw: tuple[int, int] = (1, 1)  # conv: source (H, W)
    axons_coef: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    syn_per_neuron: float = 0.0
    pos_map: str = "all"
    chan_map: str = "all"
    window: tuple[int, int, int, int] | None = None


@dataclass
class Layer:
    """A neuron group and its fan-in, as the partitioner sees it (sizes in neurons)."""
    name: str
    channels: int
    positions: int = 1
    kind: str = "cuba"
    fanin: list[FanIn] = field(default_factory=list)
    host: bool = False
    groups: int = 1
    hw: tuple[int, int] | None = None    # (H, W) with positions = H * W, x-major
    note: str = ""
    align: int = 1                       # channel cuts at multiples of align (row-wise ops)
    # filled by finalize_layers(): fan-out entries per neuron and per position
    map_per_neuron: float = 0.0
    map_conv_consumers: int = 0

    @property
    def size(self) -> int:
        return self.channels * self.positions


# -- cost-model registry ----------------------------------------------------------------------
@dataclass
class Neurons:
    """A neuron group on neurocores. ``kind`` selects the target's ``[neuron_units]`` entry."""
    kind: str = "cuba"
    groups: int = 1
    note: str = ""
    align: int = 1          # slices hold multiples of this many channels (e.g. softmax rows)


@dataclass
class HostOp:
    """An operator that runs on the host / embedded CPU (e.g. Spike-Softmax): never placed."""
    note: str = HOST_NOTE


@dataclass
class Synapse:
    """A synapse op: ``fanin`` is the template (``source`` and ``n_in`` filled by the builder)."""
    fanin: FanIn


@dataclass
class Wiring:
    """Zero-cost rearrangement (Flatten, Concat): sources pass through."""


@dataclass
class Source:
    """External input sent by the host (not on neurocores)."""


NodeCost = Neurons | HostOp | Synapse | Wiring | Source


@dataclass
class NodeContext:
    """What a cost function may use: input/output shapes and the network."""
    in_shapes: list[tuple[int, ...]]
    out_shape: tuple[int, ...]
    network: ir.Network


CostFn = Callable[[ir.Node, NodeContext], NodeCost]
_REGISTRY: dict[type, CostFn] = {}


def cost_model(*classes: type) -> Callable[[CostFn], CostFn]:
    """Decorator: register ``fn(node, ctx) -> NodeCost`` as the cost model of node classes."""
    def deco(fn: CostFn) -> CostFn:
        for c in classes:
            _REGISTRY[c] = fn
        return fn
    return deco


def lookup_cost_model(cls: type) -> CostFn | None:
    """The registered cost function of ``cls`` or of its nearest registered base class."""
    for base in cls.__mro__:
        if base in _REGISTRY:
            return _REGISTRY[base]
    return None


def _bits_for(n: int) -> int:
    return max(1, int(n).bit_length())


@cost_model(ir.Input)
def _input_cost(node: ir.Node, ctx: NodeContext) -> NodeCost:
    return Source()


@cost_model(ir.Flatten, ir.Concat)
def _wiring_cost(node: ir.Node, ctx: NodeContext) -> NodeCost:
    return Wiring()


@cost_model(ir.Cuba)
def _cuba_cost(node: ir.Node, ctx: NodeContext) -> NodeCost:
    return Neurons("cuba")


@cost_model(ir.Dense)
def _dense_cost(node: ir.Dense, ctx: NodeContext) -> NodeCost:
    return Synapse(FanIn("", "dense", int(node.weight.shape[1]),
                         weight_bits=int(node.num_weight_bits),
                         delay_bits=_bits_for(node.max_delay) if node.max_delay else 0))


def _conv_fanin(cin: int, kernel: tuple[int, int], groups: int, cout: int, stride, padding,
                dilation, in_shape: tuple[int, ...], weight_bits: int) -> FanIn:
    c, h, w = in_shape
    return FanIn("", "conv", c * h * w, weight_bits=weight_bits, cin=cin,
                 taps=kernel[0] * kernel[1], groups=groups, cout=cout, in_hw=(h, w),
                 pos_map="window", chan_map="all" if groups == 1 else "same",
                 window=(kernel[1], stride[1], padding[1], dilation[1]))


@cost_model(ir.Conv)
def _conv_cost(node: ir.Conv, ctx: NodeContext) -> NodeCost:
    co, ci, kh, kw = node.weight.shape
    return Synapse(_conv_fanin(ci, (kh, kw), node.groups, co, node.stride, node.padding,
                               node.dilation, ctx.in_shapes[0], int(node.num_weight_bits)))


@cost_model(ir.SumPool)
def _pool_cost(node: ir.SumPool, ctx: NodeContext) -> NodeCost:
    ch = ctx.in_shapes[0][0]
    return Synapse(_conv_fanin(1, node.kernel, ch, ch, node.stride, node.padding, (1, 1),
                               ctx.in_shapes[0], int(node.num_weight_bits)))


# -- building layers from an IR network ----------------------------------------------------------
def _grid(shape: Sequence[int]) -> tuple[int, int, tuple[int, int] | None]:
    shape = tuple(int(s) for s in shape)
    if len(shape) == 3:
        return shape[0], shape[1] * shape[2], (shape[1], shape[2])
    if len(shape) <= 1:
        return (shape[0] if shape else 1), 1, None
    return shape[0], int(np.prod(shape[1:])), None


def layers_from_network(net: ir.Network) -> list[Layer]:
    """One :class:`Layer` per neuron group / host operator of ``net``, in step order.

    Fan-ins are resolved through wiring nodes (Flatten, Concat) to the producing layers; Input
    nodes are host sources. Call :func:`finalize_layers` (done by the partitioner) for fan-out.
    """
    shapes = net.shapes()
    costs: dict[str, NodeCost] = {}
    notes: dict[str, str] = {}
    for n in net.nodes:
        ctx = NodeContext([shapes[s] for s in n.sources], shapes[n.name], net)
        fn = lookup_cost_model(type(n))
        if fn is None and getattr(type(n), "host", False) is True:
            costs[n.name] = HostOp()          # operators flagged host=True (ops.common.OpNode)
        elif fn is None:
            notes[n.name] = GENERIC_NOTE
            costs[n.name] = (Synapse(FanIn("", "dense", 0)) if n.delayed
                             else Neurons(getattr(n, "op", "generic")))
        else:
            costs[n.name] = fn(n, ctx)

    def producers(name: str) -> list[tuple[str, int]]:
        if isinstance(costs[name], Wiring):
            return [p for s in net[name].sources for p in producers(s)]
        return [(name, int(np.prod(shapes[name])))]

    layers: list[Layer] = []
    for n in net.step_order():
        cost = costs[n.name]
        if not isinstance(cost, (Neurons, HostOp)):
            continue
        c, p, hw = _grid(shapes[n.name])
        layer = Layer(n.name, c, p, hw=hw, host=isinstance(cost, HostOp),
                      kind=cost.kind if isinstance(cost, Neurons) else "host",
                      groups=cost.groups if isinstance(cost, Neurons) else 1,
                      align=cost.align if isinstance(cost, Neurons) else 1,
                      note="; ".join(x for x in (cost.note, notes.get(n.name, "")) if x))
        for s in n.sources:
            sc = costs[s]
            if isinstance(sc, Synapse):
                src = net[s].sources[0] if net[s].sources else None
                if src is None:
                    raise IRError("synapse has no source", layer=s, field="sources")
                for prod, size in producers(src):
                    layer.fanin.append(replace(sc.fanin, source=prod, n_in=size))
                if notes.get(s):
                    layer.note = "; ".join(x for x in (layer.note, f"{s}: {notes[s]}") if x)
            else:
                for prod, size in producers(s):
                    kind = "host" if isinstance(costs[prod], Source) else "identity"
                    layer.fanin.append(FanIn(prod, kind, size, pos_map="same", chan_map="same"))
        layers.append(layer)
    return layers


def finalize_layers(layers: list[Layer], target: Target) -> list[Layer]:
    """Fill the fan-out fields (AxonMap model) from the consumers; returns ``layers``."""
    by_name = {la.name: la for la in layers}
    consumed: set[str] = set()
    for la in layers:
        la.map_per_neuron, la.map_conv_consumers = 0.0, 0
    for la in layers:
        for fi in la.fanin:
            src = by_name.get(fi.source)
            if src is None:
                continue
            consumed.add(src.name)
            if fi.kind == "conv":
                src.map_conv_consumers += 1
            else:
                src.map_per_neuron += 1.0
    for la in layers:
        if la.name not in consumed:
            la.map_per_neuron = max(la.map_per_neuron, 1.0)   # read by the host
    return layers


# -- demand of a slice -------------------------------------------------------------------------
def list_units(n: int, bits_per_synapse: int, target: Target) -> int:
    """SynMem units of one synapse list of ``n`` synapses (blocks of ``block_synapses``)."""
    sm = target.synmem
    if n <= 0:
        return 0
    full, rest = divmod(int(n), sm.block_synapses)
    unit = sm.unit_bits

    def block(k: int) -> int:
        return -(-(k * bits_per_synapse + sm.block_header_bits) // unit)
    return full * block(sm.block_synapses) + (block(rest) if rest else 0)


def _index_bits(n: int, target: Target) -> int:
    sm = target.synmem
    return min(sm.index_bits_max, max(sm.index_bits_min, math.ceil(math.log2(max(n, 2)))))


def _fanin_demand(fi: FanIn, c: int, p: int, layer: Layer, target: Target) -> tuple[int, int]:
    """(synmem units, input axons) of one fan-in for a ``c x p`` slice."""
    sm = target.synmem
    n = c * p
    if fi.kind == "host":
        return 0, 1
    if fi.kind == "identity":
        return n * list_units(1, fi.weight_bits, target), n
    if fi.kind == "dense":
        return fi.n_in * list_units(n, fi.weight_bits + fi.delay_bits, target), fi.n_in
    if fi.kind == "sparse":
        a0, ac, ap, an = fi.axons_coef
        axons = int(min(fi.n_in, math.ceil(a0 + ac * c + ap * p + an * n)))
        syn = fi.syn_per_neuron * n
        per_axon = math.ceil(syn / max(axons, 1))
        bits = fi.weight_bits + fi.delay_bits + _index_bits(n, target)
        return axons * list_units(per_axon, bits, target), axons
    if fi.kind == "conv":
        per_group = max(1, fi.cout // max(fi.groups, 1))
        touched = max(1, min(fi.groups, math.ceil(c / per_group)))
        per_list = min(c, per_group)
        lists = fi.cin * fi.taps * touched
        if sm.conv_weights_per_unit > 0:
            units = lists * (math.ceil(per_list / sm.conv_weights_per_unit)
                             + sm.conv_header_units)
        else:
            units = lists * list_units(per_list, fi.weight_bits + _index_bits(n, target), target)
        axons = sm.conv_axons_per_fanin
        if sm.conv_axons_per_input_position:
            h_in, w_in = fi.in_hw
            k, s, _, d = fi.window or (1, 1, 0, 1)
            frac = p / max(layer.positions, 1)
            read = min(h_in * w_in, math.ceil(frac * h_in * w_in) + (k - 1) * d * h_in)
            axons += sm.conv_axons_per_input_position * read
        return units, axons
    raise ValueError(f"unknown fan-in kind {fi.kind!r} in layer {layer.name}")


def slice_demand(layer: Layer, c: int, p: int, target: Target) -> np.ndarray:
    """Demand vector (int64, :data:`BUDGETS` order) of a ``c x p`` slice of ``layer``."""
    syn = axin = 0
    for fi in layer.fanin:
        s, a = _fanin_demand(fi, c, p, layer, target)
        syn += s
        axin += a
    n = c * p
    amap = math.ceil(n * layer.map_per_neuron
                     + p * layer.map_conv_consumers * target.synmem.conv_map_per_position)
    out = np.array([n * target.units_per_neuron(layer.kind), syn, axin, amap, layer.groups],
                   dtype=np.int64)
    assert out.shape == (len(BUDGETS),)
    return out
