"""The reference simulator: the definition of neurodeploy's integer semantics.

Each IR node kind has a *kernel* (registered with :func:`kernel`) that advances its state by one
step for a whole batch at once, in int64 numpy. The kernels reproduce Lava's ``fixed_pt`` models
bit for bit (spec/lava.md section 2), including their quirks, and make every wrap or saturation
visible: each is recorded as an :class:`OverflowEvent`, or raised as StateOverflowError in strict
mode.

Timing (as in Lava): steps count from 1. Inputs, wiring and neurons act within the step they
receive a value; synapses (``Node.delayed``) deliver in step t what arrived in step t-1-delay.
One step runs: every synapse emits its buffer; every other node runs in ``Network.step_order()``;
every synapse absorbs its source's output of this step.
"""
from __future__ import annotations

from typing import Callable, ClassVar, Mapping

import numpy as np

from .. import ir
from ..errors import IRError, NeurodeployError, StateOverflowError
from .arith import (
    INT32_MAX,
    INT32_MIN,
    STATE_MAX,
    ExactMatmul,
    fits,
    int_matmul,
    shift,
    wrap,
    wrap32,
)
from .traces import OverflowEvent, Traces

__all__ = ["KERNELS", "kernel", "Kernel", "SimContext", "ReferenceSimulator", "message_bits_of",
           "simulate"]

KERNELS: dict[type, type["Kernel"]] = {}


def kernel(node_type: type) -> Callable[[type["Kernel"]], type["Kernel"]]:
    """Class decorator registering the reference kernel of an IR node type."""
    def register(cls: type["Kernel"]) -> type["Kernel"]:
        KERNELS[node_type] = cls
        return cls
    return register


def message_bits_of(net: ir.Network, name: str) -> int:
    """Payload bits of the spikes a node emits (0 = binary), following wiring to its origins."""
    node = net[name]
    if isinstance(node, (ir.Flatten, ir.Concat)):
        return max(message_bits_of(net, s) for s in node.sources)
    return int(getattr(node, "message_bits", 0))


class SimContext:
    """Run-wide settings and the overflow log shared by all kernels."""

    def __init__(self, net: ir.Network, strict: bool) -> None:
        self.net, self.strict = net, strict
        self.step = 0
        self.sample_offset = 0
        self.events: dict[tuple[str, str], OverflowEvent] = {}

    def check(self, layer: str, variable: str, bad: np.ndarray, values: np.ndarray,
              limit: str) -> None:
        """Record (or, strict, raise for) the entries of ``values`` flagged in ``bad``."""
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            self.record(layer, variable, int(bad.sum()), idx, int(values[idx]), limit)

    def record(self, layer: str, variable: str, count: int, index: tuple, value: int,
               limit: str) -> None:
        """``count`` values of ``variable`` did not fit ``limit``; the first at ``index``
        (sample, *neuron) had ``value``."""
        index = tuple(int(i) for i in index)
        if self.strict:
            raise StateOverflowError(f"{variable} does not fit {limit}", layer=layer,
                                     field=variable, neuron=index[1:], step=self.step,
                                     value=value, limit=limit)
        ev = self.events.get((layer, variable))
        if ev is None:
            self.events[(layer, variable)] = OverflowEvent(
                layer, variable, count, index[1:], self.step, value, limit,
                sample=index[0] + self.sample_offset)
        else:
            ev.count += count


class Kernel:
    """One node's state and step function. Arrays are (batch, *shape) int64."""
    #: variables recorded each step, besides the output 's' of neuron-like nodes
    probes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, node: ir.Node, in_shapes: list[tuple], out_shape: tuple, batch: int,
                 ctx: SimContext) -> None:
        self.node, self.in_shapes, self.out_shape = node, in_shapes, out_shape
        self.batch, self.ctx = batch, ctx

    def step(self, inputs: list[np.ndarray]) -> np.ndarray:
        """Output of this step from this step's inputs (non-delayed nodes)."""
        raise NotImplementedError

    def emit(self) -> np.ndarray:
        """Output of this step from earlier inputs (delayed nodes)."""
        raise NotImplementedError

    def absorb(self, x: np.ndarray) -> None:
        """Take this step's input (delayed nodes)."""
        raise NotImplementedError

    @classmethod
    def probe_names(cls, node: ir.Node) -> tuple[str, ...]:
        """State variables recorded for ``node`` (the Lava process has Vars of these names)."""
        return cls.probes

    def state(self) -> dict[str, np.ndarray]:
        return {p: getattr(self, p) for p in self.probe_names(self.node)}


@kernel(ir.Input)
class InputKernel(Kernel):
    """Sends ``data[..., t-1]`` in step t (zeros once the data is exhausted)."""

    def bind(self, data: np.ndarray) -> None:
        self.data = data                  # (batch, *shape, T)
        self.silence = np.zeros((self.batch, *self.out_shape), dtype=np.int64)

    def step(self, inputs):
        t = self.ctx.step
        return self.data[..., t - 1] if t <= self.data.shape[-1] else self.silence


@kernel(ir.Flatten)
class FlattenKernel(Kernel):
    def step(self, inputs):
        return inputs[0].reshape(inputs[0].shape[0], -1)


@kernel(ir.Concat)
class ConcatKernel(Kernel):
    def step(self, inputs):
        return np.concatenate(inputs, axis=self.node.axis + 1)


class _SynapseKernel(Kernel):
    """Shared set-up: Lava's weight pre-shift ``nt`` and the binary/graded input path.

    The Lava backend hands Lava ``w << nt`` with ``weight_exp - nt`` (nt = 8 - num_weight_bits +
    mixed), the only encoding that Lava's weight truncation leaves exact; graded accumulators
    are int32 at that scale, so their wrap point depends on nt.
    """

    def __init__(self, node, in_shapes, out_shape, batch, ctx):
        super().__init__(node, in_shapes, out_shape, batch, ctx)
        self.graded = message_bits_of(ctx.net, node.sources[0]) > 0
        mixed = int(node.sign_mode == ir.SignMode.MIXED)
        self.nt = 8 - int(node.num_weight_bits) + mixed
        self.exp = int(node.weight_exp)
        src = ctx.net[node.sources[0]]
        bits = message_bits_of(ctx.net, src.name)
        self.max_in = 1 if bits == 0 else 2 ** max(bits - 1, 0)

    def _graded_scale(self, acc: np.ndarray, variable: str) -> np.ndarray:
        """Lava's graded path: int32 dot at scale 2**nt, then the exponent shift (int32)."""
        scaled = acc << self.nt
        self.ctx.check(self.node.name, variable, (scaled < -2**31) | (scaled > INT32_MAX),
                       scaled, "int32 dendritic accumulator")
        return wrap32(shift(wrap32(scaled), self.exp - self.nt))


@kernel(ir.Dense)
class DenseKernel(_SynapseKernel):
    """Lava Dense / DelayDense (bit-accurate models). Current: floor(sum w s 2**e), int32 sent."""

    def __init__(self, node: ir.Dense, in_shapes, out_shape, batch, ctx):
        super().__init__(node, in_shapes, out_shape, batch, ctx)
        self.w_t = node.weight.T.astype(np.int64)
        self.bound = float(np.abs(node.weight).sum(axis=1).max(initial=0)) * self.max_in
        self.matmul = ExactMatmul(self.w_t, self.bound)
        self.window = None
        if node.delay is None:
            self.buf = np.zeros((batch, *out_shape), dtype=np.int64)
        else:
            self.slots = node.max_delay + 1
            self.buf = np.zeros((batch, out_shape[0], self.slots), dtype=np.int64)
            self.masks = [(node.delay == k).T for k in range(self.slots)]

    def _current(self, s: np.ndarray, w_t: np.ndarray) -> np.ndarray:
        product = self.matmul if w_t is self.w_t else (lambda x: int_matmul(x, w_t, self.bound))
        if not self.graded:
            acc = product(s != 0)
            return acc if self.exp == 0 else shift(acc, self.exp)
        acc = product(s)
        if self.node.delay is None:      # Dense: int32 dot product
            return self._graded_scale(acc, "a_accum")
        return shift(acc << self.nt, self.exp - self.nt)   # DelayDense: int64 row sums

    def precompute(self, data: np.ndarray, steps: int) -> None:
        """Currents of a whole input window at once, stored (steps, batch, N_out), for a binary
        synapse without delays whose source is known in advance (an Input, data shaped
        (batch, N_in, T)): one batched product instead of one per step."""
        if self.graded or self.node.delay is not None:
            return
        self.window = self.matmul.over_time(data[..., :steps] != 0)   # (N_out, batch, T)

    def _windowed(self, t: int) -> np.ndarray:
        if t > self.window.shape[-1]:
            return np.zeros((self.batch, self.window.shape[0]), dtype=np.int64)
        acc = self.window[..., t - 1].T.astype(np.int64)
        return acc if self.exp == 0 else shift(acc, self.exp)

    def emit(self):
        out = self.buf if self.node.delay is None else self.buf[..., 0]
        if fits(out, INT32_MIN, INT32_MAX):
            return out
        self.ctx.check(self.node.name, "a_out", (out < INT32_MIN) | (out > INT32_MAX), out,
                       "int32 synaptic message")
        return wrap32(out)

    def absorb(self, x):
        if self.window is not None:
            self.buf = self._windowed(self.ctx.step)
            return
        if self.node.delay is None:
            self.buf = self._current(x, self.w_t)
            return
        # DelayDense: per-delay-slot current, shifted per slot, accumulated in an int32 buffer
        self.buf[..., 0] = 0
        self.buf = np.roll(self.buf, -1, axis=-1)
        for k, mask in enumerate(self.masks):
            if mask.any():
                self.buf[..., k] = wrap32(self.buf[..., k] + self._current(x, self.w_t * mask))


def _conv_int(x: np.ndarray, w: np.ndarray, stride, padding, dilation, groups) -> np.ndarray:
    """Exact integer 2-D convolution (torch conv2d semantics), x (B,C,H,W), w (O,C/g,kh,kw)."""
    b, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])))
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((b, o, oh, ow), dtype=np.int64)
    og = o // groups
    for i in range(kh):
        for j in range(kw):
            y0, x0 = i * dilation[0], j * dilation[1]
            patch = xp[:, :, y0:y0 + stride[0] * (oh - 1) + 1:stride[0],
                       x0:x0 + stride[1] * (ow - 1) + 1:stride[1]]
            for g in range(groups):
                pg = patch[:, g * cg:(g + 1) * cg]
                wg = w[g * og:(g + 1) * og, :, i, j]
                out[:, g * og:(g + 1) * og] += np.einsum("bchw,oc->bohw", pg, wg)
    return out


@kernel(ir.Conv)
class ConvKernel(_SynapseKernel):
    """Lava Conv (fixed_pt): exact integer conv of w*2**e, cast to int32, wrapped to 24 bits."""

    def __init__(self, node, in_shapes, out_shape, batch, ctx):
        super().__init__(node, in_shapes, out_shape, batch, ctx)
        self.w = self._weight() << self.exp
        self.buf = np.zeros((batch, *out_shape), dtype=np.int64)

    def _weight(self) -> np.ndarray:
        return self.node.weight.astype(np.int64)

    def _conv(self, s: np.ndarray) -> np.ndarray:
        n = self.node
        return _conv_int(s, self.w, n.stride, n.padding, (1, 1) if isinstance(n, ir.SumPool)
                         else n.dilation, self.in_shapes[0][0] if isinstance(n, ir.SumPool)
                         else n.groups)

    def emit(self):
        return self.buf

    def absorb(self, x):
        s = x if self.graded else (x != 0).astype(np.int64)
        out = self._conv(s)
        self.ctx.check(self.node.name, "a_out", (out < -STATE_MAX) | (out >= STATE_MAX), out,
                       "24-bit conv output")
        # Lava computes the conv in float64 and casts to int32: out-of-range values become
        # INT32_MIN (the x86 'integer indefinite'), then the 24-bit wrap applies.
        out = np.where((out < -2**31) | (out > INT32_MAX), -2**31, out)
        self.buf = wrap(out, 24)


@kernel(ir.SumPool)
class SumPoolKernel(ConvKernel):
    """Sum pooling = depthwise Conv with a constant kernel (how the Lava backend runs it)."""

    def _weight(self) -> np.ndarray:
        return self.node.conv_weight(self.in_shapes[0][0])


@kernel(ir.Cuba)
class CubaKernel(Kernel):
    """Lava ``PyLifModelBitAcc`` step, int32 wrap points included, plus refractory/graded;
    the per-neuron arithmetic is :func:`neurodeploy.sim.cuba.cuba_step`."""
    probes = ("u", "v")

    def __init__(self, node: ir.Cuba, in_shapes, out_shape, batch, ctx):
        super().__init__(node, in_shapes, out_shape, batch, ctx)
        shape = (batch, *out_shape)
        self.u = np.zeros(shape, dtype=np.int64)
        self.v = np.zeros(shape, dtype=np.int64)
        self.ref = np.zeros(shape, dtype=np.int64)

        def flat(x):
            return np.ascontiguousarray(np.broadcast_to(x, out_shape), dtype=np.int64).ravel()
        self.params = (flat(node.i_decay), flat(node.v_decay), flat(node.vth) << 6,
                       flat(node.bias), int(node.refractory), int(node.message_bits))

    @classmethod
    def probe_names(cls, node: ir.Cuba) -> tuple[str, ...]:
        return ("u", "v", "ref") if node.refractory else ("u", "v")

    def step(self, inputs):
        from .cuba import EVENTS, LIMITS, cuba_step
        a = sum(inputs[1:], inputs[0]) if inputs else np.zeros_like(self.u)
        if not fits(a, INT32_MIN, INT32_MAX):           # an InPort sums its channels (int32)
            a = wrap32(a)
        out = np.empty_like(self.u)
        events = np.zeros((3, 3), dtype=np.int64)
        cuba_step(np.ascontiguousarray(a, dtype=np.int64).ravel(), self.u.ravel(),
                  self.v.ravel(), self.ref.ravel(), *self.params, out.ravel(), events)
        for row in np.flatnonzero(events[:, 0]):
            index = np.unravel_index(int(events[row, 1]), self.u.shape)
            self.ctx.record(self.node.name, EVENTS[row], int(events[row, 0]), index,
                            int(events[row, 2]), LIMITS[row])
        return out


class ReferenceSimulator:
    """Runs an IR network on batches of integer input; records traces of every neuron group.

    ``strict=True`` raises StateOverflowError at the first value that would not fit its register.
    """

    def __init__(self, network: ir.Network, *, strict: bool = False) -> None:
        self.net = network.validate()
        self.strict = strict
        self.order = self.net.step_order()
        self.shapes = self.net.shapes()
        missing = [type(n).__name__ for n in self.net if type(n) not in KERNELS]
        if missing:
            raise IRError(f"no reference kernel for node type(s) {sorted(set(missing))}",
                          layer=self.net.name)

    def run(self, inputs: Mapping[str, np.ndarray] | np.ndarray, steps: int | None = None,
            probe: list[str] | None = None) -> Traces:
        """Simulate ``steps`` steps. ``inputs``: one array (a single Input node) or a mapping from
        Input names to int arrays shaped (batch, *shape, T) (a missing batch axis is added).
        ``probe``: names of the nodes whose output and state are recorded (default: all neuron
        groups)."""
        data = self._bind_inputs(inputs)
        batch = next(iter(data.values())).shape[0]
        if steps is None:
            steps = next(iter(data.values())).shape[-1]
        ctx = SimContext(self.net, self.strict)
        kernels = {}
        for n in self.net:
            in_shapes = [self.shapes[s] for s in n.sources]
            kernels[n.name] = KERNELS[type(n)](n, in_shapes, self.shapes[n.name], batch, ctx)
        for name, arr in data.items():
            kernels[name].bind(arr)
        self._precompute_input_synapses(kernels, steps)
        probed = [n.name for n in self.net.neuron_groups() if not isinstance(n, ir.Input)] \
            if probe is None else list(probe)
        # recorded time-major (contiguous writes), returned as (batch, *shape, steps) views
        records = {name: {v: np.zeros((steps, batch, *self.shapes[name]), np.int64)
                          for v in ("s", *kernels[name].probe_names(self.net[name]))}
                   for name in probed}
        synapses = [n.name for n in self.net if n.delayed]
        for t in range(1, steps + 1):
            ctx.step = t
            out = {name: kernels[name].emit() for name in synapses}
            for node in self.order:
                if not node.delayed:
                    out[node.name] = kernels[node.name].step([out[s] for s in node.sources])
            for name in synapses:
                kernels[name].absorb(out[self.net[name].sources[0]])
            for name in probed:
                rec = records[name]
                rec["s"][t - 1] = out[name]
                for var, value in kernels[name].state().items():
                    rec[var][t - 1] = value
        traces = Traces("ref", steps)
        traces.data = {name: {var: np.moveaxis(arr, 0, -1) for var, arr in rec.items()}
                       for name, rec in records.items()}
        traces.overflow = list(ctx.events.values())
        return traces

    def _precompute_input_synapses(self, kernels: dict[str, Kernel], steps: int) -> None:
        """Synapses fed (directly or through Flatten) by an Input see their whole input window
        before the run starts; let them compute all its currents in one product."""
        data = {n.name: kernels[n.name].data for n in self.net.inputs}
        for node in self.order:
            if isinstance(node, ir.Flatten) and node.sources[0] in data:
                d = data[node.sources[0]]
                data[node.name] = d.reshape(d.shape[0], -1, d.shape[-1])
        for node in self.net:
            src = node.sources[0] if node.sources else None
            if node.delayed and src in data and data[src].ndim == 3 and \
                    hasattr(kernels[node.name], "precompute"):
                kernels[node.name].precompute(data[src], steps)

    def _bind_inputs(self, inputs) -> dict[str, np.ndarray]:
        nodes = self.net.inputs
        if not isinstance(inputs, Mapping):
            if len(nodes) != 1:
                raise NeurodeployError("network has several inputs: pass a mapping by name",
                                       field="inputs", value=[n.name for n in nodes])
            inputs = {nodes[0].name: inputs}
        data = {}
        for node in nodes:
            if node.name not in inputs:
                raise NeurodeployError("no data for input", layer=node.name, field="inputs")
            data[node.name] = check_input(node, np.asarray(inputs[node.name]))
        batches = {a.shape[0] for a in data.values()}
        if len(batches) != 1:
            raise NeurodeployError("inputs disagree on the batch size", field="inputs",
                                   value=sorted(batches))
        return data


def check_input(node: ir.Input, arr: np.ndarray) -> np.ndarray:
    """Validate input data for an Input node; return int64 (batch, *shape, T)."""
    if arr.ndim == len(node.shape) + 1:
        arr = arr[None]
    if arr.ndim != len(node.shape) + 2 or tuple(arr.shape[1:-1]) != node.shape:
        raise NeurodeployError("input data must be shaped (*input_shape, steps) or "
                               "(batch, *input_shape, steps)", layer=node.name, field="shape",
                               value=tuple(arr.shape), limit=f"(batch, {node.shape}, steps)")
    if arr.size and not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool or
                         (np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr)))):
        raise NeurodeployError("input data must be integers", layer=node.name, field="dtype",
                               value=str(arr.dtype))
    arr = arr.astype(np.int64, copy=False)
    lo, hi = node.value_range()
    if arr.size and (arr.min() < lo or arr.max() > hi):
        bad = arr.min() if arr.min() < lo else arr.max()
        kind = "binary spikes" if node.message_bits == 0 else \
            f"{node.message_bits}-bit graded spikes"
        raise NeurodeployError(f"input values out of range for {kind}", layer=node.name,
                               field="values", value=int(bad), limit=f"[{lo}, {hi}]")
    return arr


def simulate(network: ir.Network, inputs, steps: int | None = None, *, strict: bool = False,
             probe: list[str] | None = None) -> Traces:
    """Convenience wrapper: ``ReferenceSimulator(network, strict=strict).run(inputs, steps)``."""
    return ReferenceSimulator(network, strict=strict).run(inputs, steps, probe)
