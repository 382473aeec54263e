"""CSDformer operators (spec/algorithms.md section 1): IF/DIF neurons, TDEC products, TDEC
max-pool, global sum pooling and the membrane-potential readout.

Design decisions ([I] items of the spec, taken here):

* **DIF neuron** (Algorithm 1 as reconstructed): window start ``s``, local step tau = t - s.
  Integration in tau = 1..T (``v += a + bias``; input outside the window is ignored), firing in
  tau = D+1..D+T (``v >= theta`` and ``count < T``: spike, ``v -= theta``; at most one spike per
  step, soft reset). ``v0 = theta // 2`` realises round-half-up exactly for every integer theta
  (for odd theta, floor((X + (theta-1)/2)/theta) == floor(X/theta + 1/2) for integer X).
  With D >= T-1 no spike can fire before the input is complete and T firing steps remain, so
  the count is exactly ``clip(floor((X + v0)/theta), 0, T)`` for any input timing (proved by
  tests/test_ops_csdformer.py). The firing-window gating *is* the pipelining: a consumer of a
  DIF layer starting at s integrates from s + D (+1 per synapse hop). Measured error for
  D < T-1 (T = 4, uneven mixed-sign 4-step inputs, theta = 16, seed 0, 20 000 neurons):
  fraction of wrong counts D=0: 19.3 %, D=1: 12.8 %, D=2: 6.0 %, D=3: 0 (pinned by a test).
* **IF neuron**: the DIF neuron with D = 0 (firing in the integration window).
* **TDEC product** (Eq. 13, add-only form): ``A_t = a_t @ C_b(t) + (C_a(t) - a_t) @ b_t`` with
  the running spike counts C (:class:`~neurodeploy.ops.common.SpikeCounter` nodes, counts
  include step t). Every term is a binary spike times an integer count; sum over the window =
  ``(sum a)(sum b)`` exactly. The constant scales (theta_Q theta_K / T^2, 1/sqrt(d), 1/N) are
  absorbed into the *threshold* of the receiving DIF neuron (Theta' = Theta / c, rounded) and an
  optional integer ``weight`` multiplier. Operands are flat vectors viewed (G, M, K) and
  (G, K, N), or (G, N, K) with ``transpose_b`` (K for Q K^T); G = heads.
* **TDEC max-pool** (Eq. 10): ``Y_t = maxpool(C_t) - maxpool(C_{t-1})`` from the counts of a
  SpikeCounter; binary for binary inputs (checked: any other value is an overflow event).
* **Residual current addition**: the stream is a sum of currents; a neuron InPort sums all its
  sources, and the skip path is a Dense with ``delay`` = :func:`residual_delay` (Lava
  DelayDense), so no separate operator is needed.
* **Global average pooling**: :class:`GlobalSumPool` sums spikes over tokens/pixels; the 1/N is
  absorbed into the next layer's threshold or weights.
* **Head readout**: :class:`Readout` accumulates its input current in its window and emits the
  membrane potential (graded, 24 bits); argmax of the last step is the prediction.

Timing: every operator here receives and sends in the same step (0 latency); each synapse adds
1 step; a DIF layer shifts its output window by D.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import ir
from ..lava.backend import builder
from .common import (
    STATE24,
    OpNode,
    SpikeCounter,
    _MatmulBase,
    _sum,
    build_op,
    fit,
    matmul_operands,
    op_kernel,
    per_neuron,
)

__all__ = ["Dif", "IfNeuron", "TdecMatmul", "TdecMaxPool", "GlobalSumPool", "Readout",
           "SpikeCounter", "residual_delay", "quantize_round_half_up"]


def quantize_round_half_up(x: np.ndarray, theta, lo: int, hi) -> np.ndarray:
    """The integer quantizer the neurons realise: ``clip(floor(x/theta + 1/2), lo, hi)``
    computed exactly as ``floor((x + theta//2) / theta)`` on integers."""
    x = np.asarray(x, np.int64)
    theta = np.asarray(theta, np.int64)
    return np.clip((x + theta // 2) // theta, lo, hi)


def residual_delay(neuron_layers: int, delay: int, synapses: int = 0) -> int:
    """Steps a skip path must be delayed to meet the main path that crosses ``neuron_layers``
    DIF layers of delay D and ``synapses`` extra synapse hops."""
    return neuron_layers * delay + synapses


@op_kernel
@ir.register_node
@dataclass(eq=False)
class Dif(OpNode):
    """Delayed integrate-and-fire neuron (CSDformer Algorithm 1), unsigned binary output.

    Parameters (scalars or per-neuron int arrays): ``theta`` threshold in current units
    (1..2**23-1); ``v0`` initial potential (default ``theta // 2``); ``T`` window (1..127);
    ``delay`` D (0..254, default T-1); ``start`` window start (0..2**16); ``bias`` added on
    each integration step (24-bit signed). State: ``v`` 24-bit signed, ``count`` 8-bit.
    """
    theta: np.ndarray = 1
    v0: np.ndarray | None = None
    T: np.ndarray = 4
    delay: np.ndarray | None = None
    start: np.ndarray = 0
    bias: np.ndarray = 0
    op: ClassVar[str] = "dif"
    array_fields: ClassVar[tuple[str, ...]] = ("theta", "v0", "T", "delay", "start", "bias")
    state_bits: ClassVar[dict[str, int]] = {"v": 24, "count": 8}
    hardware_note: ClassVar[str] = (
        "neurocore: IF neuron with soft reset, V0 = theta/2 and a firing window gated by the "
        "step counter (integrate tau in [1,T], fire tau in [D+1, D+T], count < T): microcode "
        "neuron on Loihi 2; binary spikes; adds D steps per layer")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.v0 is None:
            self.v0 = np.asarray(self.theta, np.int64) // 2
        if self.delay is None:
            self.delay = self._default_delay()

    def _default_delay(self) -> np.ndarray:
        return np.asarray(self.T, np.int64) - 1

    def check_params(self):
        sh = self.shape
        per_neuron(self.name, "theta", self.theta, sh, 1, STATE24[1])
        per_neuron(self.name, "v0", self.v0, sh, *STATE24)
        per_neuron(self.name, "T", self.T, sh, 1, 127)
        per_neuron(self.name, "delay", self.delay, sh, 0, 254)
        per_neuron(self.name, "start", self.start, sh, 0, 2**16)
        per_neuron(self.name, "bias", self.bias, sh, *STATE24)

    def init_state(self, batch):
        st = super().init_state(batch)
        st["v"] = st["v"] + np.broadcast_to(self.v0, self.shape)
        return st

    def step(self, st, inputs, t, check):
        tau = t - self.start
        T, D = self.T, self.delay
        integ = (tau >= 1) & (tau <= T)
        v = fit(check, "v", st["v"] + np.where(integ, _sum(inputs) + self.bias, 0), 24)
        fire = (tau > D) & (tau <= D + T) & (v >= self.theta) & (st["count"] < T)
        st["v"] = v - np.where(fire, self.theta, 0)
        st["count"] = st["count"] + fire
        return fire.astype(np.int64)


@op_kernel
@ir.register_node
@dataclass(eq=False)
class IfNeuron(Dif):
    """Integrate-and-fire neuron: a :class:`Dif` with delay 0 by default (fires while it
    integrates; exact only when the input arrives early enough, see the module notes)."""
    op: ClassVar[str] = "if_neuron"

    def _default_delay(self) -> np.ndarray:
        return np.zeros_like(np.asarray(self.T, np.int64))


@op_kernel
@ir.register_node
@dataclass(eq=False)
class TdecMatmul(_MatmulBase):
    """TDEC spike x spike product (add-only 2-term form), sources ``(a, b, C_a, C_b)``.

    ``out_t = weight * (a_t @ C_b(t) + (C_a(t) - a_t) @ b_t)`` on binary spikes a, b and their
    running counts C (SpikeCounter). ``weight`` is an integer scale mantissa (-128..127) for
    constants not absorbed into the receiver's threshold. Output graded, ``out_bits`` signed
    (<= K * T^2 * |weight| in a step). Stateless, latency 0.
    """
    weight: int = 1
    op: ClassVar[str] = "tdec_matmul"
    ports: ClassVar[tuple[str, ...]] = ("a_in", "b_in", "ca_in", "cb_in")
    hardware_note: ClassVar[str] = (
        "neurocore: accumulate-only; each binary spike of a adds the partner's count C_b "
        "(graded spike payload of the counter bits, or a local counter copy per receiver); "
        "needs graded spikes and a dynamic (count-valued) synaptic operand: microcode")

    def validate(self, in_shapes):
        super().validate(in_shapes)
        ir._check_range(self.name, "weight", self.weight, -128, 127)

    def _terms(self, a, b, ca, cb):
        return a @ cb + (ca - a) @ b

    def step(self, st, inputs, t, check):
        g, m, k, n, tb = self.groups, self.m, self.k, self.n, self.transpose_b
        a, b = matmul_operands(inputs[0], inputs[1], g, m, k, n, tb)
        ca, cb = matmul_operands(inputs[2], inputs[3], g, m, k, n, tb)
        out = int(self.weight) * self._terms(a, b, ca, cb)
        out = out.reshape(*out.shape[:-3], -1)
        return fit(check, "out", out, int(self.out_bits))


@op_kernel
@ir.register_node
@dataclass(eq=False)
class TdecMaxPool(OpNode):
    """TDEC max-pool over the counts of a SpikeCounter, (C, H, W) -> (C, OH, OW), no padding.

    ``Y_t = maxpool(C_t) - m``, ``m = maxpool(C_t)``: binary for binary spike counts; state
    ``m`` (8-bit, the previous pooled count). Latency 0.
    """
    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] | None = None
    op: ClassVar[str] = "tdec_max_pool"
    state_bits: ClassVar[dict[str, int]] = {"m": 8}
    ports: ClassVar[tuple[str, ...]] = ("x_in",)
    hardware_note: ClassVar[str] = (
        "neurocore: per-window max of the input counters (graded counter spikes in, max over "
        "the window, compare with the stored max): not a native synapse operation, needs a "
        "microcode max helper neuron; binary spikes out")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.kernel = ir._pair(self.name, "kernel", self.kernel)
        self.stride = self.kernel if self.stride is None else ir._pair(self.name, "stride",
                                                                         self.stride)

    def output_shape(self, in_shapes):
        c, h, w = in_shapes[0]
        oh, ow = ir.conv_output_hw((h, w), self.kernel, self.stride, (0, 0), (1, 1))
        return (int(c), int(oh), int(ow))

    def validate(self, in_shapes):
        self._n_sources(in_shapes, 1)
        if len(in_shapes[0]) != 3 or min(self.kernel) < 1 or min(self.stride) < 1:
            raise ir.IRError("max-pool needs a (C, H, W) source, kernel and stride >= 1",
                             layer=self.name, field="kernel", value=(in_shapes[0], self.kernel))
        self.shape = self.output_shape(in_shapes)
        if min(self.shape) < 1:
            raise ir.IRError("pool window larger than the input", layer=self.name,
                             field="kernel", value=self.kernel, limit=in_shapes[0])

    def pooled(self, c: np.ndarray) -> np.ndarray:
        (kh, kw), (sh, sw) = self.kernel, self.stride
        oh, ow = self.shape[1:]
        out = None
        for i in range(kh):
            for j in range(kw):
                win = c[..., i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
                out = win if out is None else np.maximum(out, win)
        return out

    def step(self, st, inputs, t, check):
        p = fit(check, "m", self.pooled(inputs[0]), 8)
        y = p - st["m"]
        st["m"] = p
        check("out", (y < 0) | (y > 1), y, "binary spike (0/1)")
        return y


@op_kernel
@ir.register_node
@dataclass(eq=False)
class GlobalSumPool(OpNode):
    """Global sum pooling: (C, H, W) -> (C,) over pixels, or flat (tokens * C,) token-major ->
    (C,) over tokens. Graded output of ``out_bits`` signed bits; 1/N is absorbed downstream.
    Stateless, latency 0."""
    tokens: int = 1
    out_bits: int = 16
    op: ClassVar[str] = "global_sum_pool"
    ports: ClassVar[tuple[str, ...]] = ("x_in",)
    hardware_note: ClassVar[str] = (
        "neurocore: equivalent to a Dense of ones (N inputs per output); as an operator it "
        "needs graded spikes of out_bits bits (no extra synapse step)")

    @property
    def message_bits(self) -> int:
        return int(self.out_bits)

    def output_shape(self, in_shapes):
        s = in_shapes[0]
        return (int(s[0]),) if len(s) == 3 else (int(s[0]) // int(self.tokens),)

    def validate(self, in_shapes):
        self._n_sources(in_shapes, 1)
        ir._check_range(self.name, "out_bits", self.out_bits, 2, 24)
        s = in_shapes[0]
        if len(s) not in (1, 3) or (len(s) == 1 and (self.tokens < 1 or s[0] % self.tokens)):
            raise ir.IRError("source must be (C, H, W) or (tokens * C,)", layer=self.name,
                             field="tokens", value=(s, self.tokens))
        self.shape = self.output_shape(in_shapes)
        self._rank = len(s)

    def step(self, st, inputs, t, check):
        x = inputs[0]
        if x.ndim == 4:
            y = x.sum(axis=(-1, -2))
        else:
            y = x.reshape(*x.shape[:-1], int(self.tokens), -1).sum(axis=-2)
        return fit(check, "out", y, int(self.out_bits))


@op_kernel
@ir.register_node
@dataclass(eq=False)
class Readout(OpNode):
    """Classification head read out as accumulated membrane potential (no firing).

    ``v += a`` in tau = 1..T of the window (T = 0: forever); emits ``v`` every step (graded,
    24-bit). State ``v`` 24-bit signed. Latency 0.
    """
    T: int = 0
    start: int = 0
    op: ClassVar[str] = "readout"
    state_bits: ClassVar[dict[str, int]] = {"v": 24}
    hardware_note: ClassVar[str] = (
        "neurocore: non-firing integrator; the host reads v after the window (or v is sent as "
        "a 24-bit graded spike)")

    @property
    def message_bits(self) -> int:
        return 24

    def check_params(self):
        ir._check_range(self.name, "T", self.T, 0, 2**16)
        ir._check_range(self.name, "start", self.start, 0, 2**16)

    def step(self, st, inputs, t, check):
        tau = t - int(self.start)
        on = tau >= 1 and (self.T == 0 or tau <= self.T)
        if on:
            st["v"] = fit(check, "v", st["v"] + _sum(inputs), 24)
        return st["v"].copy()


# -- Lava builders (Lava imported lazily) ------------------------------------------
def _builder_for(node_type: type, proc_name: str):
    def build(node, ctx):
        from ..lava.procs import csdformer as procs
        return build_op(node, ctx, getattr(procs, proc_name), procs.FIXED_PT_MODELS)
    builder(node_type)(build)


for _t, _p in ((SpikeCounter, "SpikeCounterProc"), (Dif, "DifProc"), (IfNeuron, "DifProc"),
               (TdecMatmul, "TdecMatmulProc"), (TdecMaxPool, "TdecMaxPoolProc"),
               (GlobalSumPool, "GlobalSumPoolProc"), (Readout, "ReadoutProc")):
    _builder_for(_t, _p)
