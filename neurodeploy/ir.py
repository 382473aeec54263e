"""The integer network IR: a small typed graph that every later stage reads.

A :class:`Network` is an ordered list of named nodes. Each node names the nodes it reads from
(``sources``). Node kinds:

* sources     - :class:`Input` (binary or graded spikes, one value per neuron per step);
* synapses    - :class:`Dense`, :class:`Conv`, :class:`SumPool`: integer weights, produce a current
                that arrives **one step later** (plus the synaptic delay, for Dense);
* wiring      - :class:`Flatten`, :class:`Concat`: rearrange spikes, no latency, no state;
* neurons     - :class:`Cuba`: current-based leaky integrate-and-fire with Loihi's fixed-point
                arithmetic; sums the currents of all its sources (as a Lava InPort does).

Shapes follow torch/netx order: ``(C, H, W)`` for images, ``(N,)`` for vectors. All parameters are
Python ints or integer numpy arrays and are validated against the legal ranges of the Loihi 2
fields they become (see :data:`LIMITS`). Arithmetic semantics (rounding, wrap, saturation, timing)
are defined by :mod:`neurodeploy.sim.reference`; the Lava backend reproduces them exactly.

Weights are stored as integer *mantissas* ``w`` with a shared exponent ``weight_exp``; the current a
synapse delivers is ``floor(sum_j w_ij * s_j * 2**weight_exp)`` (an arithmetic shift). The legal
mantissa range depends on the sign mode Lava derives from the matrix (mixed, excitatory-only or
inhibitory-only) and on ``num_weight_bits`` (1..8).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, Iterable, Iterator, Sequence

import numpy as np

from .errors import IRError, RangeError

__all__ = [
    "LIMITS", "SignMode", "Node", "Input", "Dense", "Conv", "SumPool", "Flatten", "Concat", "Cuba",
    "Network", "sign_mode", "weight_range", "register_node", "NODE_TYPES",
]

#: Legal integer ranges (inclusive) of the Loihi 2 fields as Lava's fixed-point models use them.
#: Sources: spec/lava.md section 3 (hardware ranges to enforce at export), section 2.1 (LIF widths).
LIMITS: dict[str, tuple[int, int]] = {
    "weight_exp": (-7, 7),          # shared weight exponent (nengo-loihi's Loihi range)
    "num_weight_bits": (1, 8),      # weight mantissa bits (Lava: num_weight_bits <= 8)
    "delay": (0, 62),               # synaptic delay in steps (6-bit field; netx clips at 62)
    "i_decay": (0, 4096),           # current decay, 12-bit, in 1/4096 per step (netx iDecay)
    "v_decay": (0, 4095),           # voltage decay, 12-bit, in 1/4096 per step (netx vDecay)
    "vth": (0, 2**17 - 1),          # threshold mantissa, 17 bits, compared as vth << 6
    "bias_mant": (-4096, 4095),     # bias mantissa, 13-bit signed
    "bias_exp": (0, 7),             # bias exponent, 3-bit unsigned
    "refractory": (0, 63),          # refractory period in steps (6-bit)
    "message_bits": (0, 24),        # 0: binary spikes; 1..24: graded spike payload bits
    "state": (-2**23, 2**23 - 1),   # u and v are 24-bit two's complement registers
}


def _check_range(layer: str, name: str, value, lo: int | None = None,
                 hi: int | None = None) -> None:
    lo_, hi_ = LIMITS[name] if lo is None else (lo, hi)
    arr = np.asarray(value)
    if arr.size == 0:
        return
    if not np.issubdtype(arr.dtype, np.integer):
        raise RangeError("must be an integer", layer=layer, field=name, value=arr.dtype,
                         limit="integer dtype")
    bad = (arr < lo_) | (arr > hi_)
    if bad.any():
        worst = arr[bad].flat[0]
        raise RangeError("out of range", layer=layer, field=name, value=int(worst),
                         limit=f"[{lo_}, {hi_}]")


def _as_int_array(layer: str, name: str, value) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and \
                np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise RangeError("must hold integers", layer=layer, field=name, value=str(arr.dtype),
                             limit="integer values")
    return arr.astype(np.int64)


class SignMode(IntEnum):
    """Lava's synapse sign modes (``lava.utils.weightutils.SignMode``)."""
    NULL = 0
    MIXED = 1
    EXCITATORY = 2
    INHIBITORY = 3


def sign_mode(weight: np.ndarray) -> SignMode:
    """The sign mode Lava derives from a weight matrix (all-zero counts as excitatory)."""
    w = np.asarray(weight)
    if w.size == 0 or w.min() >= 0:
        return SignMode.EXCITATORY
    if w.max() <= 0:
        return SignMode.INHIBITORY
    return SignMode.MIXED


def weight_range(mode: SignMode, num_weight_bits: int) -> tuple[int, int]:
    """Inclusive mantissa range for ``num_weight_bits`` bits in a sign mode.

    Mixed-sign weights spend one bit on the sign: ``[-2**(b-1), 2**(b-1) - 1]``; excitatory-only
    ``[0, 2**b - 1]``; inhibitory-only ``[-(2**b - 1), 0]``.
    """
    b = num_weight_bits
    if mode == SignMode.MIXED:
        return -(2 ** (b - 1)), 2 ** (b - 1) - 1
    if mode == SignMode.INHIBITORY:
        return -(2 ** b - 1), 0
    return 0, 2 ** b - 1


NODE_TYPES: dict[str, type["Node"]] = {}


def register_node(cls: type["Node"]) -> type["Node"]:
    """Class decorator: make a node kind known to the bundle reader/writer by its ``op`` name."""
    NODE_TYPES[cls.op] = cls
    return cls


@dataclass(eq=False)
class Node:
    """Base node. ``name`` is unique in a network; ``sources`` are the names of the nodes read."""
    name: str
    sources: tuple[str, ...] = ()

    op: ClassVar[str] = "node"
    #: True for nodes whose output at step t depends on inputs up to step t-1 only (Lava's synapse
    #: processes send last step's buffer before receiving). Such nodes may close feedback loops.
    delayed: ClassVar[bool] = False
    #: names of the integer array fields (serialised as datasets by the bundle writer)
    array_fields: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            raise IRError("node name must be a non-empty string without '/'", layer=str(self.name))
        if isinstance(self.sources, str):
            self.sources = (self.sources,)
        self.sources = tuple(self.sources)
        if "shape" in self.__dataclass_fields__:     # nodes that declare their output shape
            self.shape = tuple(int(s) for s in np.asarray(self.shape).reshape(-1))
        for f in self.array_fields:
            value = getattr(self, f)
            if value is not None:
                setattr(self, f, _as_int_array(self.name, f, value))

    # -- shape inference and validation -------------------------------------------------------
    def output_shape(self, in_shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
        raise NotImplementedError

    def validate(self, in_shapes: Sequence[tuple[int, ...]]) -> None:
        """Raise RangeError/IRError if a parameter is out of range or shapes do not fit."""

    def params(self) -> dict:
        """All fields except name and sources (used by the bundle writer and by equality)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in ("name", "sources")}

    def same_as(self, other: "Node") -> bool:
        """Structural equality: same kind, name, sources and identical parameter arrays."""
        if type(self) is not type(other) or self.name != other.name or \
                self.sources != other.sources:
            return False
        a, b = self.params(), other.params()
        return all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) if a[k] is not None
                   else b[k] is None for k in a)

    def _n_sources(self, in_shapes, n: int | None = 1) -> None:
        if n is not None and len(in_shapes) != n:
            raise IRError(f"expects {n} source(s), got {len(in_shapes)}", layer=self.name,
                          field="sources")


def _pair(layer: str, name: str, value) -> tuple[int, int]:
    arr = np.asarray(value, dtype=np.int64).reshape(-1)
    if arr.size == 1:
        return int(arr[0]), int(arr[0])
    if arr.size == 2:
        return int(arr[0]), int(arr[1])
    raise IRError("must be a scalar or a (y, x) pair", layer=layer, field=name, value=arr.tolist())


@register_node
@dataclass(eq=False)
class Input(Node):
    """External input: one value per neuron per step, sent in the step it is given (no latency).

    ``message_bits == 0``: binary spikes (0/1). ``message_bits = m > 0``: graded spikes, signed
    integers in ``[-2**(m-1), 2**(m-1) - 1]``.
    """
    shape: tuple[int, ...] = ()
    message_bits: int = 0
    op: ClassVar[str] = "input"

    def output_shape(self, in_shapes):
        return self.shape

    def validate(self, in_shapes):
        self._n_sources(in_shapes, 0)
        if not self.shape or min(self.shape) < 1:
            raise IRError("input shape must be non-empty and positive", layer=self.name,
                          field="shape", value=self.shape)
        _check_range(self.name, "message_bits", self.message_bits)

    def value_range(self) -> tuple[int, int]:
        if self.message_bits == 0:
            return 0, 1
        return -(2 ** (self.message_bits - 1)), 2 ** (self.message_bits - 1) - 1


@dataclass(eq=False)
class _Synapse(Node):
    """Common part of the weighted synapse ops: mantissas, exponent, weight bits."""
    weight: np.ndarray = None
    weight_exp: int = 0
    num_weight_bits: int = 8
    delayed: ClassVar[bool] = True
    array_fields: ClassVar[tuple[str, ...]] = ("weight",)
    exp_range: ClassVar[tuple[int, int]] = LIMITS["weight_exp"]

    def _validate_weights(self) -> None:
        if self.weight is None:
            raise IRError("weight is missing", layer=self.name, field="weight")
        _check_range(self.name, "num_weight_bits", self.num_weight_bits)
        _check_range(self.name, "weight_exp", self.weight_exp, *self.exp_range)
        lo, hi = weight_range(sign_mode(self.weight), int(self.num_weight_bits))
        _check_range(self.name, "weight", self.weight, lo, hi)

    @property
    def sign_mode(self) -> SignMode:
        return sign_mode(self.weight)


@register_node
@dataclass(eq=False)
class Dense(_Synapse):
    """Fully connected synapse, weight shape (N_out, N_in); optional per-synapse delay (steps).

    Current at the neuron in step t: ``floor(sum_j w_ij s_j(t - 1 - d_ij) * 2**weight_exp)``.
    """
    delay: np.ndarray | None = None
    op: ClassVar[str] = "dense"
    array_fields: ClassVar[tuple[str, ...]] = ("weight", "delay")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.delay is not None and self.weight is not None:
            if self.delay.ndim == 0:
                self.delay = np.full(self.weight.shape, int(self.delay), dtype=np.int64)

    def output_shape(self, in_shapes):
        return (int(self.weight.shape[0]),)

    def validate(self, in_shapes):
        self._n_sources(in_shapes)
        self._validate_weights()
        if self.weight.ndim != 2:
            raise IRError("dense weight must be 2-D (N_out, N_in)", layer=self.name,
                          field="weight", value=self.weight.shape)
        n_in = int(np.prod(in_shapes[0]))
        if len(in_shapes[0]) != 1 or self.weight.shape[1] != n_in:
            raise IRError("dense weight columns must match a 1-D source (flatten images first)",
                          layer=self.name, field="weight", value=self.weight.shape,
                          limit=f"(N_out, {n_in}) with source shape {tuple(in_shapes[0])}")
        if self.delay is not None:
            if self.delay.shape != self.weight.shape:
                raise IRError("delay must have the weight's shape", layer=self.name,
                              field="delay", value=self.delay.shape, limit=self.weight.shape)
            _check_range(self.name, "delay", self.delay)

    @property
    def max_delay(self) -> int:
        return 0 if self.delay is None else int(self.delay.max(initial=0))


def conv_output_hw(hw: tuple[int, int], kernel: tuple[int, int], stride, padding, dilation):
    """Output (H, W) of a 2-D convolution (torch's formula)."""
    return tuple((hw[i] + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1
                 for i in range(2))


@register_node
@dataclass(eq=False)
class Conv(_Synapse):
    """2-D convolution (torch ``conv2d`` semantics), weight (C_out, C_in/groups, kH, kW).

    ``stride``, ``padding``, ``dilation`` are (y, x) pairs. Lava's Conv model applies no weight
    exponent, so only ``weight_exp >= 0`` can be emulated (the backend pre-multiplies).
    """
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    op: ClassVar[str] = "conv"
    exp_range: ClassVar[tuple[int, int]] = (0, LIMITS["weight_exp"][1])

    def __post_init__(self) -> None:
        super().__post_init__()
        self.stride = _pair(self.name, "stride", self.stride)
        self.padding = _pair(self.name, "padding", self.padding)
        self.dilation = _pair(self.name, "dilation", self.dilation)
        self.groups = int(self.groups)

    def output_shape(self, in_shapes):
        c, h, w = in_shapes[0]
        oh, ow = conv_output_hw((h, w), self.weight.shape[2:4], self.stride, self.padding,
                                self.dilation)
        return (int(self.weight.shape[0]), int(oh), int(ow))

    def validate(self, in_shapes):
        self._n_sources(in_shapes)
        self._validate_weights()
        if self.weight.ndim != 4:
            raise IRError("conv weight must be 4-D (C_out, C_in/groups, kH, kW)",
                          layer=self.name, field="weight", value=self.weight.shape)
        if len(in_shapes[0]) != 3:
            raise IRError("conv source must be (C, H, W)", layer=self.name, field="sources",
                          value=in_shapes[0])
        c_in = in_shapes[0][0]
        g = self.groups
        if g < 1 or c_in % g or self.weight.shape[0] % g or self.weight.shape[1] * g != c_in:
            raise IRError("groups must divide C_in and C_out, weight.shape[1] == C_in/groups",
                          layer=self.name, field="groups", value=g,
                          limit=f"C_in={c_in}, weight {self.weight.shape}")
        if min(self.stride) < 1 or min(self.dilation) < 1 or min(self.padding) < 0:
            raise IRError("stride, dilation >= 1 and padding >= 0 required", layer=self.name,
                          field="stride/padding/dilation",
                          value=(self.stride, self.padding, self.dilation))
        if min(self.output_shape(in_shapes)) < 1:
            raise IRError("kernel larger than the padded input", layer=self.name, field="weight",
                          value=self.weight.shape, limit=f"input {in_shapes[0]}")


@register_node
@dataclass(eq=False)
class SumPool(_Synapse):
    """Sum pooling: each output is ``weight * sum`` of its (kH, kW) window, per channel.

    ``weight`` is a single mantissa (0-d). Runs as a depthwise Conv in Lava; netx 0.6.0 cannot load
    pooling layers, so bundles carry it in the neurodeploy extension.
    """
    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] | None = None
    padding: tuple[int, int] = (0, 0)
    op: ClassVar[str] = "sum_pool"
    exp_range: ClassVar[tuple[int, int]] = (0, LIMITS["weight_exp"][1])

    def __post_init__(self) -> None:
        super().__post_init__()
        self.kernel = _pair(self.name, "kernel", self.kernel)
        self.stride = self.kernel if self.stride is None else _pair(self.name, "stride",
                                                                      self.stride)
        self.padding = _pair(self.name, "padding", self.padding)

    def output_shape(self, in_shapes):
        c, h, w = in_shapes[0]
        oh, ow = conv_output_hw((h, w), self.kernel, self.stride, self.padding, (1, 1))
        return (int(c), int(oh), int(ow))

    def validate(self, in_shapes):
        self._n_sources(in_shapes)
        self._validate_weights()
        if self.weight.ndim != 0:
            raise IRError("sum-pool weight is a single mantissa", layer=self.name, field="weight",
                          value=self.weight.shape, limit="()")
        if len(in_shapes[0]) != 3:
            raise IRError("sum-pool source must be (C, H, W)", layer=self.name, field="sources",
                          value=in_shapes[0])
        if min(self.kernel) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise IRError("kernel, stride >= 1 and padding >= 0 required", layer=self.name,
                          field="kernel/stride/padding",
                          value=(self.kernel, self.stride, self.padding))
        if min(self.output_shape(in_shapes)) < 1:
            raise IRError("pool window larger than the padded input", layer=self.name,
                          field="kernel", value=self.kernel, limit=f"input {in_shapes[0]}")

    def conv_weight(self, channels: int) -> np.ndarray:
        """The equivalent depthwise conv weight (C, 1, kH, kW)."""
        return np.full((channels, 1, *self.kernel), int(self.weight), dtype=np.int64)


@register_node
@dataclass(eq=False)
class Flatten(Node):
    """Flatten a (C, H, W) spike map to (C*H*W,) in torch's C order."""
    op: ClassVar[str] = "flatten"

    def output_shape(self, in_shapes):
        return (int(np.prod(in_shapes[0])),)

    def validate(self, in_shapes):
        self._n_sources(in_shapes)


@register_node
@dataclass(eq=False)
class Concat(Node):
    """Concatenate spike maps along ``axis`` (0: channels of (C,H,W) or neurons of (N,))."""
    axis: int = 0
    op: ClassVar[str] = "concat"

    def output_shape(self, in_shapes):
        out = list(in_shapes[0])
        out[self.axis] = sum(s[self.axis] for s in in_shapes)
        return tuple(out)

    def validate(self, in_shapes):
        self._n_sources(in_shapes, None)
        if len(in_shapes) < 2:
            raise IRError("concat needs at least two sources", layer=self.name, field="sources")
        ranks = {len(s) for s in in_shapes}
        if len(ranks) != 1 or not 0 <= self.axis < len(in_shapes[0]):
            raise IRError("sources must have one rank and axis must be within it",
                          layer=self.name, field="axis", value=self.axis,
                          limit=f"shapes {list(in_shapes)}")
        for s in in_shapes:
            if tuple(d for i, d in enumerate(s) if i != self.axis) != \
                    tuple(d for i, d in enumerate(in_shapes[0]) if i != self.axis):
                raise IRError("sources differ outside the concat axis", layer=self.name,
                              field="sources", value=list(in_shapes))


@register_node
@dataclass(eq=False)
class Cuba(Node):
    """Current-based LIF neurons with Loihi's fixed-point dynamics (Lava ``PyLifModelBitAcc``).

    Per step t (all integers, 24-bit state)::

        u = trunc(u * (4096 - i_decay) / 4096) + (a << 6)          # wraps into 24 bits
        v = sat24(trunc(v * (4096 - v_decay) / 4096) + u + (bias_mant << bias_exp))
        spike = v > (vth << 6);   v = 0 where spike                  # u is not reset

    ``a`` is the sum of the currents of all sources. ``refractory = R > 0``: for R steps after a
    spike, v stays 0 and no spike is emitted (u keeps integrating). ``message_bits = m > 0``:
    graded spikes whose payload is ``min(v_before_reset >> 6, 2**m - 1)`` (the voltage in threshold
    units, as slayer's graded CUBA emits it); binary spikes otherwise.
    ``i_decay``, ``v_decay``, ``vth`` may be scalars or per-neuron arrays.
    """
    shape: tuple[int, ...] = ()
    i_decay: np.ndarray = 4096
    v_decay: np.ndarray = 0
    vth: np.ndarray = 1
    bias_mant: np.ndarray = 0
    bias_exp: np.ndarray = 0
    refractory: int = 0
    message_bits: int = 0
    op: ClassVar[str] = "cuba"
    array_fields: ClassVar[tuple[str, ...]] = ("i_decay", "v_decay", "vth", "bias_mant",
                                               "bias_exp")

    def output_shape(self, in_shapes):
        return self.shape

    def validate(self, in_shapes):
        self._n_sources(in_shapes, None)
        for s in in_shapes:
            if tuple(s) != self.shape:
                raise IRError("every source current must have the neuron shape", layer=self.name,
                              field="shape", value=tuple(s), limit=self.shape)
        for f in self.array_fields:
            _check_range(self.name, f, getattr(self, f))
            arr = getattr(self, f)
            try:
                np.broadcast_to(arr, self.shape)
            except ValueError:
                raise IRError("parameter does not broadcast to the neuron shape",
                              layer=self.name, field=f, value=arr.shape, limit=self.shape) \
                    from None
        _check_range(self.name, "refractory", self.refractory)
        _check_range(self.name, "message_bits", self.message_bits)
        if self.message_bits and np.any(self.vth < 1):
            raise RangeError("graded neurons need vth >= 1 (a 0 payload would be no spike)",
                             layer=self.name, field="vth", value=int(np.min(self.vth)),
                             limit="[1, 131071]")

    @property
    def bias(self) -> np.ndarray:
        """Per-neuron bias added to v each step, ``bias_mant << bias_exp`` (int64)."""
        return np.broadcast_to(self.bias_mant << self.bias_exp, self.shape).astype(np.int64)


@dataclass(eq=False)
class Network:
    """An ordered, validated graph of nodes. ``nodes`` keep insertion order (the file order)."""
    nodes: list[Node] = field(default_factory=list)
    name: str = "network"

    def __post_init__(self) -> None:
        self.nodes = list(self.nodes)

    # -- construction ----------------------------------------------------------------------------
    def add(self, node: Node) -> Node:
        if any(n.name == node.name for n in self.nodes):
            raise IRError("duplicate node name", layer=node.name, field="name")
        self.nodes.append(node)
        return node

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def __getitem__(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def of_type(self, *types: type) -> list[Node]:
        return [n for n in self.nodes if isinstance(n, types)]

    @property
    def inputs(self) -> list[Input]:
        return self.of_type(Input)

    # -- analysis ---------------------------------------------------------------------------------
    def consumers(self, name: str) -> list[Node]:
        return [n for n in self.nodes if name in n.sources]

    def outputs(self) -> list[Node]:
        """Nodes that no other node reads (the network's outputs)."""
        read = {s for n in self.nodes for s in n.sources}
        return [n for n in self.nodes if n.name not in read]

    def step_order(self) -> list[Node]:
        """Evaluation order within one step: a topological order of the graph in which the edges
        *into* delayed nodes (synapses) are ignored, since those read last step's values.
        Raises IRError on a loop that no delayed node breaks."""
        names = {n.name: n for n in self.nodes}
        for n in self.nodes:
            for s in n.sources:
                if s not in names:
                    raise IRError("reads an unknown node", layer=n.name, field="sources", value=s)
        deps = {n.name: ([] if n.delayed else list(n.sources)) for n in self.nodes}
        order, state = [], {}

        def visit(name: str, path: tuple[str, ...]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                raise IRError("zero-latency loop (needs a synapse in the loop)", layer=name,
                              field="sources", value=" -> ".join(path + (name,)))
            state[name] = 1
            for d in deps[name]:
                visit(d, path + (name,))
            state[name] = 2
            order.append(names[name])

        for n in self.nodes:
            visit(n.name, ())
        return order

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Output shape of every node (validates each node on the way)."""
        shapes: dict[str, tuple[int, ...]] = {}
        pending = list(self.nodes)
        while pending:
            progressed = False
            for n in list(pending):
                if all(s in shapes for s in n.sources) or (
                        isinstance(n, Cuba) and n.shape):
                    known = [shapes[s] for s in n.sources if s in shapes]
                    if len(known) == len(n.sources):
                        n.validate(known)
                    shapes[n.name] = tuple(n.output_shape(known))
                    pending.remove(n)
                    progressed = True
            if not progressed:
                raise IRError("cannot infer shapes (loop without neurons?)",
                              layer=pending[0].name, field="sources")
        # neurons in loops were given a shape before their sources were known: validate now
        for n in self.nodes:
            n.validate([shapes[s] for s in n.sources])
        return shapes

    def validate(self) -> "Network":
        """Check names, references, loops, shapes and every parameter range. Returns self."""
        seen = set()
        for n in self.nodes:
            if n.name in seen:
                raise IRError("duplicate node name", layer=n.name, field="name")
            seen.add(n.name)
        if not self.inputs:
            raise IRError("network has no input node", layer=self.name, field="nodes")
        self.step_order()
        self.shapes()
        return self

    def same_as(self, other: "Network") -> bool:
        return len(self) == len(other) and all(a.same_as(b) for a, b in zip(self, other))

    def neuron_groups(self) -> list[Node]:
        """Nodes with probed state (everything that is not wiring or a synapse)."""
        return [n for n in self.nodes if not n.delayed and not isinstance(n, (Flatten, Concat))]


def chain(nodes: Iterable[Node], name: str = "network") -> Network:
    """Build a network from nodes whose missing ``sources`` default to the previous node."""
    net = Network(name=name)
    prev = None
    for n in nodes:
        if not n.sources and prev is not None and not isinstance(n, Input):
            n.sources = (prev.name,)
        net.add(n)
        prev = n
    return net
