"""Shared machinery of the spiking-transformer operators (:mod:`neurodeploy.ops`).

Every operator is an IR node (:class:`OpNode`) that *owns its integer semantics*: ``init_state``
creates its state arrays and ``step`` advances them by one step for a batch, in int64 numpy. The
reference kernel (:class:`OpKernel`) and the Lava process model (:mod:`neurodeploy.lava.procs`)
both call that one ``step``; the Lava side adds only the port plumbing (int32 channels, Lava's
reversed (W, H, C) layout, ``time_step``), which is what the ref-vs-Lava tests exercise.

Conventions (all operators):

* Steps count from 1 (as in Lava). A window parameter ``start`` s means local step tau = t - s,
  so the first step of the window is t = s + 1.
* Every operator receives and sends in the same step (recv-then-send): **0 steps of latency**.
  Only synapses (Dense, Conv, ...) add a step. Algorithmic delays (DIF ``delay``, phase ``wait``)
  are explicit parameters.
* Every state variable has the node's output shape and a declared width (``state_bits``); a
  value that does not fit is reported through the overflow check (strict mode raises
  StateOverflowError naming layer, variable, neuron and step) and wraps as the register would.
* Operators whose inputs are several different operands (products) read them in source order on
  separate ports; single-operand ops sum all their sources, as a Lava InPort does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar, Sequence

import numpy as np

from .. import ir
from ..errors import IRError
from ..sim.arith import wrap
from ..sim.reference import Kernel

__all__ = ["OpNode", "OpKernel", "fit", "Check", "per_neuron", "matmul_operands", "SpikeCounter",
           "no_check", "op_kernel"]

Check = Callable[[str, np.ndarray, np.ndarray, str], None]

STATE24 = (-2**23, 2**23 - 1)


def no_check(variable: str, bad: np.ndarray, values: np.ndarray, limit: str) -> None:
    """The Lava side's check: overflow is checked on the reference (strict mode), values wrap."""


def fit(check: Check, variable: str, x: np.ndarray, bits: int, signed: bool = True) -> np.ndarray:
    """Report entries of ``x`` outside a ``bits``-wide register and wrap them into it."""
    if signed:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    else:
        lo, hi = 0, (1 << bits) - 1
    bad = (x < lo) | (x > hi)
    check(variable, bad, x, f"{bits}-bit {'signed' if signed else 'unsigned'} [{lo}, {hi}]")
    return wrap(x, bits) if signed else x & hi


def per_neuron(layer: str, name: str, value, shape: tuple, lo: int, hi: int) -> np.ndarray:
    """Validate an integer scalar or per-neuron array in [lo, hi] that broadcasts to ``shape``."""
    ir._check_range(layer, name, value, lo, hi)
    try:
        np.broadcast_to(value, shape)
    except ValueError:
        raise IRError("parameter does not broadcast to the neuron shape", layer=layer,
                      field=name, value=np.shape(value), limit=shape) from None
    return np.asarray(value, dtype=np.int64)


def _sum(inputs: Sequence[np.ndarray]) -> np.ndarray:
    out = np.zeros_like(inputs[0], dtype=np.int64)
    for x in inputs:
        out = out + x
    return out


@dataclass(eq=False)
class OpNode(ir.Node):
    """Base of the operator nodes: an elementwise population of ``shape`` unless overridden."""
    shape: tuple[int, ...] = ()

    #: declared width (bits, two's complement unless noted) of every state variable
    state_bits: ClassVar[dict[str, int]] = {}
    #: what the operator needs on Loihi 2 (graded-spike bits, microcode, delays, CPU / host)
    hardware_note: ClassVar[str] = ""
    #: host operators run on the host / embedded CPU, never on neurocores
    host: ClassVar[bool] = False
    #: input ports in source order; ('a_in',) means "sum every source" (elementwise ops)
    ports: ClassVar[tuple[str, ...]] = ("a_in",)

    @property
    def message_bits(self) -> int:
        """Payload bits of the output (0 = binary spikes)."""
        return 0

    def output_shape(self, in_shapes):
        return self.shape

    def validate(self, in_shapes):
        if self.ports == ("a_in",):
            self._n_sources(in_shapes, None)
            if not in_shapes:
                raise IRError("needs at least one source", layer=self.name, field="sources")
            if not self.shape:          # shape defaults to the sources' shape
                self.shape = tuple(int(d) for d in in_shapes[0])
            for s in in_shapes:
                if tuple(s) != self.shape:
                    raise IRError("every source must have the neuron shape", layer=self.name,
                                  field="shape", value=tuple(s), limit=self.shape)
        else:
            self._n_sources(in_shapes, len(self.ports))
        if not self.shape or min(self.shape) < 1:
            raise IRError("shape must be non-empty and positive", layer=self.name,
                          field="shape", value=self.shape)
        self.check_params()

    def check_params(self) -> None:
        """Validate the operator's own parameters (ranges, consistency)."""

    def init_state(self, batch: tuple[int, ...]) -> dict[str, np.ndarray]:
        return {v: np.zeros((*batch, *self.shape), np.int64) for v in self.state_bits}

    def step(self, st: dict[str, np.ndarray], inputs: list[np.ndarray], t: int,
             check: Check) -> np.ndarray:
        """Advance ``st`` in place by step ``t``; return this step's output (int64)."""
        raise NotImplementedError


class OpKernel(Kernel):
    """Reference kernel of every :class:`OpNode`: delegates to ``node.step``."""

    def __init__(self, node: OpNode, in_shapes, out_shape, batch, ctx):
        super().__init__(node, in_shapes, out_shape, batch, ctx)
        self.st = node.init_state((batch,))

    @classmethod
    def probe_names(cls, node: OpNode) -> tuple[str, ...]:
        return tuple(node.state_bits)

    def state(self) -> dict[str, np.ndarray]:
        return dict(self.st)

    def _check(self, variable, bad, values, limit) -> None:
        self.ctx.check(self.node.name, variable, bad, values, limit)

    def step(self, inputs):
        return self.node.step(self.st, [np.asarray(x, np.int64) for x in inputs], self.ctx.step,
                              self._check)


def op_kernel(node_type: type) -> type:
    """Register :class:`OpKernel` as the reference kernel of ``node_type`` (class decorator)."""
    from ..sim.reference import kernel
    kernel(node_type)(OpKernel)
    return node_type


def build_op(node: OpNode, ctx, proc_cls: type, models: dict):
    """Generic Lava builder: one process per node, ports connected in source order."""
    shape = tuple(ctx.shapes[node.name][::-1])
    proc = proc_cls(node=node, shape=shape,
                    in_shapes=[tuple(ctx.shapes[s][::-1]) for s in node.sources],
                    name=node.name)
    if node.ports == ("a_in",):
        for s in node.sources:
            ctx.pending.append((node.name, s))
    else:
        for port, s in zip(node.ports, node.sources):
            ctx.ports[s].connect(getattr(proc, port))
    ctx.neurons[node.name] = proc
    ctx.models.update(models)
    return proc.s_out


# -- operand layout of the spike x spike products --------------------------------------------------
def matmul_operands(a: np.ndarray, b: np.ndarray, groups: int, m: int, k: int, n: int,
                    transpose_b: bool) -> tuple[np.ndarray, np.ndarray]:
    """View flat operands as (..., G, M, K) and (..., G, K, N) (``b`` stored (G, N, K) when
    ``transpose_b``, as K is for Q K^T)."""
    lead = a.shape[:-1]
    a = a.reshape(*lead, groups, m, k)
    if transpose_b:
        b = np.swapaxes(b.reshape(*lead, groups, n, k), -1, -2)
    else:
        b = b.reshape(*lead, groups, k, n)
    return a, b


@dataclass(eq=False)
class _MatmulBase(OpNode):
    """Shapes of a grouped product ``(G, M, K) @ (G, K, N) -> (G, M, N)`` on flat operands."""
    groups: int = 1
    m: int = 1
    k: int = 1
    n: int = 1
    transpose_b: bool = False
    out_bits: int = 24

    def __post_init__(self) -> None:
        self.shape = (int(self.groups) * int(self.m) * int(self.n),)
        super().__post_init__()

    @property
    def message_bits(self) -> int:
        return int(self.out_bits)

    def operand_shapes(self) -> list[tuple[int, ...]]:
        g, m, k, n = self.groups, self.m, self.k, self.n
        return [(g * m * k,), (g * k * n,)]

    def validate(self, in_shapes):
        super().validate(in_shapes)
        for d in ("groups", "m", "k", "n"):
            ir._check_range(self.name, d, getattr(self, d), 1, 2**16)
        ir._check_range(self.name, "out_bits", self.out_bits, 2, 24)
        want = self.operand_shapes()
        want = want + want if len(self.ports) == 4 else want
        for i, (s, w) in enumerate(zip(in_shapes, want)):
            if tuple(s) != w:
                raise IRError(f"operand {i} ({self.ports[i]}) has the wrong shape",
                              layer=self.name, field="sources", value=tuple(s), limit=w)


@op_kernel
@ir.register_node
@dataclass(eq=False)
class SpikeCounter(OpNode):
    """Spike counter (TDEC / SESA tracer): ``count += sum of inputs``; emits ``count`` every step.

    The running count S(t) includes step t's spikes; it is sent as a graded spike of ``bits``
    signed bits (8 by default: T <= 127 for unipolar, |S| <= 127 for bipolar trains).
    Latency 0. State: ``count`` (``bits`` signed).
    """
    bits: int = 8
    op: ClassVar[str] = "spike_counter"
    state_bits: ClassVar[dict[str, int]] = {"count": 8}
    hardware_note: ClassVar[str] = (
        "neurocore: integrate-only neuron (no threshold) sending its count as a graded spike "
        "every step; needs graded-spike payload of `bits` bits (microcode neuron)")

    @property
    def message_bits(self) -> int:
        return int(self.bits)

    def check_params(self):
        ir._check_range(self.name, "bits", self.bits, 2, 24)

    def step(self, st, inputs, t, check):
        st["count"] = fit(check, "count", st["count"] + _sum(inputs), int(self.bits))
        return st["count"].copy()
