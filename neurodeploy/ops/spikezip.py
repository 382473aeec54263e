"""SpikeZIP-TF operators (spec/algorithms.md section 2): ST-BIF+ neuron, SESA product, and the
Spike-Softmax / Spike-LayerNorm HOST operators.

* **ST-BIF+** (Eq. 1): ``v += a`` (+ ``bias`` once, at the first step of the window, as the
  authors inject biases and constants only at t = 0); ``v >= theta and S < S_max``: +1 spike,
  ``v -= theta``; ``v < 0 and S > S_min``: -1 spike, ``v += theta``. ``v0 = theta // 2``. At
  equilibrium ``S = clip(floor((X + v0)/theta), S_min, S_max)`` = the symmetric quantizer,
  exactly for integer inputs (test). Output: bipolar spikes, a 2-bit signed graded payload.
* **SESA** (Eq. 4, 3-term form): ``O_t = C_a(t) @ b_t + a_t @ C_b(t) - a_t @ b_t`` on bipolar
  spikes and their signed running counts (SpikeCounter nodes); equal, term for term summed, to
  the 2-term TDEC form; the window sum is ``(sum a)(sum b)`` exactly.
* **Spike-Softmax / Spike-LayerNorm** (difference method, Eq. 5): ``X_t = X_{t-1} + x_t``,
  ``O_t = f(X_t)`` in integer fixed point, output ``o_t = O_t - O_{t-1}`` (``O_0 = 0``), so
  ``sum_t o_t = f(sum_t x_t)``. These are **host operators - not on neurocores**: exp,
  division and square root every step. Integer choices [I]:
  softmax: X in units of 2**-in_frac; ``exp(d) = 2**(d log2 e)`` with log2 e in Q24, the
  exponent truncated to Q8 and 2**(i/256) from a Q30 table, then the row sum and a
  round-half-up division to ``out_frac`` bits (relative error of each term < 0.3 %).
  LayerNorm: ``xc = n X - sum X`` (exact), ``r = isqrt((sum xc^2 + eps n^3) 2**32 // n)``,
  ``norm = floor(xc 2**(out_frac+16) / r)``, then ``(norm * gamma) >> gamma_shift + beta``;
  Python-int arithmetic (no wrap) on the host.

Timing: all recv-then-send, latency 0. ST-BIF+ is not windowed: layers run pipelined until
every neuron is quiescent (T_eq); ``start`` only delays the first step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import ir
from ..errors import IRError
from ..lava.backend import builder
from .common import STATE24, OpNode, SpikeCounter, _sum, build_op, fit, op_kernel, per_neuron
from .csdformer import TdecMatmul

__all__ = ["StBif", "SesaMatmul", "SpikeSoftmax", "SpikeLayerNorm", "SpikeCounter",
           "int_softmax", "int_layer_norm", "HOST_NOTE"]

HOST_NOTE = "host operator — not on neurocores"

LOG2E_Q24 = 24204406                                           # round(log2(e) * 2**24)
EXP2_Q30 = np.array([round(2.0 ** (i / 256) * 2**30) for i in range(256)], dtype=np.int64)


def int_softmax(x: np.ndarray, n: int, in_frac: int, out_frac: int) -> np.ndarray:
    """Integer softmax over rows of ``n`` of ``x`` (units 2**-in_frac) in units 2**-out_frac."""
    r = x.reshape(*x.shape[:-1], -1, n)
    d = r - r.max(axis=-1, keepdims=True)                            # <= 0
    q = (d * LOG2E_Q24) >> (16 + in_frac)                            # exponent in Q8 (floor)
    e = EXP2_Q30[q & 255] >> np.minimum(-(q >> 8), 62)
    s = e.sum(axis=-1, keepdims=True)
    return (((e << out_frac) + s // 2) // s).reshape(x.shape)


def int_layer_norm(x: np.ndarray, n: int, gamma: np.ndarray, gamma_shift: int, beta: np.ndarray,
                   eps: int, out_frac: int) -> np.ndarray:
    """Integer LayerNorm over rows of ``n`` (see the module notes); returns int64."""
    rows = x.reshape(-1, n)
    out = np.zeros_like(rows)
    g = np.broadcast_to(gamma, (n,))
    b = np.broadcast_to(beta, (n,))
    for i, row in enumerate(rows):
        xs = [int(v) for v in row]
        s1 = sum(xs)
        xc = [n * v - s1 for v in xs]
        r = math.isqrt(((sum(c * c for c in xc) + eps * n**3) << 32) // n)
        out[i] = [(((c << (out_frac + 16)) // r) * int(gj) >> gamma_shift) + int(bj)
                  for c, gj, bj in zip(xc, g, b)]
    return out.reshape(x.shape)


@op_kernel
@ir.register_node
@dataclass(eq=False)
class StBif(OpNode):
    """ST-BIF+ neuron (SpikeZIP-TF), bipolar output {-1, 0, +1} (2-bit graded payload).

    Per-neuron int params: ``theta`` (1..2**23-1), ``v0`` (default theta // 2), ``s_min``
    (-128..0), ``s_max`` (0..127), ``bias`` (24-bit, added once at tau = 1); scalar ``start``.
    State: ``v`` 24-bit signed, ``tracer`` (the spike tracer S) 8-bit signed.
    """
    theta: np.ndarray = 1
    v0: np.ndarray | None = None
    s_min: np.ndarray = -8
    s_max: np.ndarray = 7
    bias: np.ndarray = 0
    start: int = 0
    op: ClassVar[str] = "st_bif"
    array_fields: ClassVar[tuple[str, ...]] = ("theta", "v0", "s_min", "s_max", "bias")
    state_bits: ClassVar[dict[str, int]] = {"v": 24, "tracer": 8}
    hardware_note: ClassVar[str] = (
        "neurocore: microcode neuron with a spike tracer S clamped to [S_min, S_max] and "
        "bipolar spikes (2-bit signed graded payload, or two axons +/-); bias injected once")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.v0 is None:
            self.v0 = np.asarray(self.theta, np.int64) // 2

    @property
    def message_bits(self) -> int:
        return 2

    def check_params(self):
        sh = self.shape
        per_neuron(self.name, "theta", self.theta, sh, 1, STATE24[1])
        per_neuron(self.name, "v0", self.v0, sh, *STATE24)
        per_neuron(self.name, "s_min", self.s_min, sh, -128, 0)
        per_neuron(self.name, "s_max", self.s_max, sh, 0, 127)
        per_neuron(self.name, "bias", self.bias, sh, *STATE24)
        ir._check_range(self.name, "start", self.start, 0, 2**16)

    def init_state(self, batch):
        st = super().init_state(batch)
        st["v"] = st["v"] + np.broadcast_to(self.v0, self.shape)
        return st

    def step(self, st, inputs, t, check):
        tau = t - int(self.start)
        if tau < 1:
            return np.zeros_like(st["v"])
        a = _sum(inputs) + (self.bias if tau == 1 else 0)
        v = fit(check, "v", st["v"] + a, 24)
        s = st["tracer"]
        pos = (v >= self.theta) & (s < self.s_max)
        neg = (v < 0) & (s > self.s_min)
        st["v"] = v - np.where(pos, self.theta, 0) + np.where(neg, self.theta, 0)
        st["tracer"] = s + pos - neg
        return pos.astype(np.int64) - neg


@op_kernel
@ir.register_node
@dataclass(eq=False)
class SesaMatmul(TdecMatmul):
    """SESA product (3-term form) of bipolar spike trains, sources ``(a, b, C_a, C_b)``:
    ``out_t = weight * (C_a(t) @ b_t + a_t @ C_b(t) - a_t @ b_t)``. Stateless, latency 0."""
    op: ClassVar[str] = "sesa_matmul"
    hardware_note: ClassVar[str] = (
        "neurocore: each bipolar spike adds +/- the partner's signed tracer (graded payload of "
        "the counter bits) minus the coincidence term: microcode with graded spikes")

    def _terms(self, a, b, ca, cb):
        return ca @ b + a @ cb - a @ b


@dataclass(eq=False)
class _HostDiff(OpNode):
    """Difference-method host operator on rows of ``n``: state ``acc`` (24-bit) and ``o``."""
    n: int = 1
    out_frac: int = 8
    out_bits: int = 16
    host: ClassVar[bool] = True
    hardware_note: ClassVar[str] = HOST_NOTE
    state_bits: ClassVar[dict[str, int]] = {"acc": 24, "o": 16}

    @property
    def message_bits(self) -> int:
        return int(self.out_bits)

    def check_params(self):
        ir._check_range(self.name, "n", self.n, 1, 4096)
        ir._check_range(self.name, "out_frac", self.out_frac, 0, 15)
        ir._check_range(self.name, "out_bits", self.out_bits, 2, 24)
        if len(self.shape) != 1 or self.shape[0] % self.n:
            raise IRError("host operators take flat (rows * n,) vectors", layer=self.name,
                          field="n", value=(self.shape, self.n))

    def f(self, acc: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def step(self, st, inputs, t, check):
        st["acc"] = fit(check, "acc", st["acc"] + _sum(inputs), 24)
        o = fit(check, "o", self.f(st["acc"]), int(self.out_bits))
        out = fit(check, "out", o - st["o"], int(self.out_bits))
        st["o"] = o
        return out


@op_kernel
@ir.register_node
@dataclass(eq=False)
class SpikeSoftmax(_HostDiff):
    """Spike-Softmax (difference method), HOST operator - not on neurocores. Input currents in
    units 2**-in_frac per logit; output increments of the softmax in units 2**-out_frac."""
    in_frac: int = 4
    op: ClassVar[str] = "spike_softmax"

    def check_params(self):
        super().check_params()
        ir._check_range(self.name, "in_frac", self.in_frac, 0, 16)

    def f(self, acc):
        return int_softmax(acc, int(self.n), int(self.in_frac), int(self.out_frac))


@op_kernel
@ir.register_node
@dataclass(eq=False)
class SpikeLayerNorm(_HostDiff):
    """Spike-LayerNorm (difference method), HOST operator - not on neurocores. ``gamma``
    (per feature, 16-bit) with ``gamma_shift`` (0..15), ``beta`` (per feature, in output units),
    ``eps`` (>= 1, in input units squared)."""
    gamma: np.ndarray = 1
    gamma_shift: int = 0
    beta: np.ndarray = 0
    eps: int = 1
    op: ClassVar[str] = "spike_layer_norm"
    array_fields: ClassVar[tuple[str, ...]] = ("gamma", "beta")

    def check_params(self):
        super().check_params()
        per_neuron(self.name, "gamma", self.gamma, (self.n,), -2**15, 2**15 - 1)
        per_neuron(self.name, "beta", self.beta, (self.n,), -2**15, 2**15 - 1)
        ir._check_range(self.name, "gamma_shift", self.gamma_shift, 0, 15)
        ir._check_range(self.name, "eps", self.eps, 1, 2**16)

    def f(self, acc):
        return int_layer_norm(acc, int(self.n), self.gamma, int(self.gamma_shift), self.beta,
                              int(self.eps), int(self.out_frac))


def _builder_for(node_type: type, proc_name: str):
    def build(node, ctx):
        from ..lava.procs import spikezip as procs
        return build_op(node, ctx, getattr(procs, proc_name), procs.FIXED_PT_MODELS)
    builder(node_type)(build)


for _t, _p in ((StBif, "StBifProc"), (SesaMatmul, "SesaMatmulProc"),
               (SpikeSoftmax, "SpikeSoftmaxHostProc"), (SpikeLayerNorm, "SpikeLayerNormHostProc")):
    _builder_for(_t, _p)

