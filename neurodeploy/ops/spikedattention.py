"""SpikedAttention operators (spec/algorithms.md section 3, BERT-path a' convention): one-spike
phase-coded neuron, phase trace, trace-driven product and the WOSS softmax population.

Integer design decisions [I]:

* **Base B in fixed point**: ``B = base_num / 2**base_shift`` (e.g. 147/128 = 1.1484 for 1.15,
  179/128 = 1.398 for 1.4); growth ``v <- (v * base_num) >> base_shift`` (floor).
* **PhaseNeuron** (``One_LIFNode`` with wait W): window start s, tau = t - s. Integration
  tau = 1..T: ``v <- B v + a + bias``, so an input spike at phase k weighs ``B**(T-1-k)``.
  Wait: v frozen until tau = W. Firing tau = W+1..W+T, phase k = tau - W - 1: one spike ever
  (``fired``), +1 if ``v >= vth`` (-1 if bipolar and ``v <= -vth``), else ``v <- B v``.
  Unipolar neurons clamp v to 0 when the firing phase starts. With ``vth = phase_vth(U, B, T)
  = round(U B**(T-1) (1 + 1/B) / 2)`` the spike phase is the nearest power of B (linear
  midpoints) to ``a = V_T / (U B**(T-1))`` and the value carried is ``s B**-k``.
  Measured (seed 0, 4000 values a ~ U(-1, 1), U = 4096, |a| >= B**-(T-1)): B = 147/128,
  T = 16: mean relative error 3.5 %, max 7.3 % (bound (B-1)/(B+1) = 6.9 % plus floor rounding
  of the fixed-point growth); B = 179/128, T = 12: mean 8.3 %, max 17.7 % (pinned by a test).
* **PhaseTrace**: latches ``sign * L[k]`` at the neuron's spike, ``L[k] = round(2**frac
  B**-k)`` (an int table, the global trace); emits it every step (graded).
* **PhaseMatmul** (trace-driven product, sources ``(a, b, T_a, T_b)``):
  ``U_t = a_t @ T_b + T_a @ b_t - g_t (a_t @ b_t)``, ``g_t = L[t - start - 1]``. A pair with
  spikes at phases k_a, k_b contributes once, at max(k_a, k_b), the value L[min]; hence the
  phase-weighted sum is exact in integers: ``sum_t L[k_t] U_t == T_a(final) @ T_b(final)``
  (test). The receiver is a PhaseNeuron whose window starts with the operands' firing window.
* **WOSS softmax** (rows of n): integrate as a PhaseNeuron; at the first firing step the row's
  winner inhibits the row by its potential (``v -= max_row v``, so v = Z (z - z_max) <= 0);
  the threshold falls linearly by ``c = round(Z ln B)`` per step with nearest rounding: neuron j
  fires at phase ``k_j + l``, ``k_j`` = first k with ``2 v + (2k + 1) c >= 0``.
  **Row normalisation (the authors divide the A V membrane by the spike sum)**: here a spike
  *shift* l per row = the power of B nearest (linear) to the row sum ``sum_j L[k_j]``, i.e.
  ``argmin_l |L[l] * sum - 2**(2 frac)|``, applied to every spike time of the row, so the
  output stays a one-spike phase code (no divider on the receiving neurons; on Loihi 2 it needs
  a row-wide max and sum, i.e. an embedded-CPU or microcode helper, and a LUT compare).
  Measured mean L1 error vs float softmax (rows of 8, logits ~ N(0, 2**2), 2000 rows, seed 0,
  logit unit Z = 256, frac = 12): B = 147/128, T = 40: 0.042; B = 179/128, T = 16: 0.097
  (pinned by a test; the spec's division-normalised round variant: 0.035 / 0.073 - the shift
  normalisation costs up to a factor B**(1/2) on the row sum).

Timing: all recv-then-send, 0 latency; a PhaseNeuron's output window starts W steps after its
integration window (stage latency W = T); each synapse hop adds 1 step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import ir
from ..errors import IRError
from ..lava.backend import builder
from .common import (
    STATE24,
    OpNode,
    _MatmulBase,
    _sum,
    build_op,
    fit,
    matmul_operands,
    op_kernel,
    per_neuron,
)

__all__ = ["PhaseNeuron", "PhaseTrace", "PhaseMatmul", "WossSoftmax", "phase_vth",
           "phase_table", "phase_decode", "woss_step"]


def phase_vth(unit: float, base_num: int, base_shift: int, T: int) -> int:
    """Threshold placing the spike phase at the nearest power of B of ``V_T / (unit B**(T-1))``."""
    b = base_num / 2**base_shift
    return int(round(unit * b ** (T - 1) * (1 + 1 / b) / 2))


def phase_table(base_num: int, base_shift: int, T: int, frac: int) -> np.ndarray:
    """The global trace table ``L[k] = round(2**frac * B**-k)``, k = 0..T-1 (int64)."""
    b = base_num / 2**base_shift
    return np.array([round(2**frac * b ** -k) for k in range(T)], dtype=np.int64)


def phase_decode(spikes: np.ndarray, base_num: int, base_shift: int, start: int) -> np.ndarray:
    """Float value ``sum_t s_t B**-(t - start - 1)`` of phase-coded trains (..., steps)."""
    b = base_num / 2**base_shift
    t = np.arange(1, spikes.shape[-1] + 1)
    w = np.where(t > start, b ** -(t - start - 1.0), 0.0)
    return (spikes * w).sum(-1)


def woss_step(base_num: int, base_shift: int) -> float:
    """ln B of the fixed-point base (multiply by the logit unit Z to get ``c``)."""
    return math.log(base_num / 2**base_shift)


@dataclass(eq=False)
class _Phase(OpNode):
    base_num: int = 147
    base_shift: int = 7
    T: int = 8
    start: int = 0

    def _check_base(self):
        ir._check_range(self.name, "base_shift", self.base_shift, 1, 15)
        ir._check_range(self.name, "base_num", self.base_num, 2**self.base_shift + 1,
                        2**(self.base_shift + 1))
        ir._check_range(self.name, "T", self.T, 1, 64)
        ir._check_range(self.name, "start", self.start, 0, 2**16)

    def grow(self, v: np.ndarray) -> np.ndarray:
        return (v * int(self.base_num)) >> int(self.base_shift)


@op_kernel
@ir.register_node
@dataclass(eq=False)
class PhaseNeuron(_Phase):
    """One-spike phase-coded neuron (see the module notes). Params: ``base_num``/``base_shift``
    (B), ``T`` (1..64), ``wait`` (T..255, default T), ``start``, ``vth`` (per neuron,
    1..2**23-1), ``bias`` (per neuron, per integration step), ``bipolar``. State: ``v`` 24-bit
    signed, ``fired`` 1 bit. Output +1 (-1 if bipolar), at most once per window."""
    wait: int | None = None
    vth: np.ndarray = 1
    bias: np.ndarray = 0
    bipolar: bool = False
    op: ClassVar[str] = "phase_neuron"
    array_fields: ClassVar[tuple[str, ...]] = ("vth", "bias")
    state_bits: ClassVar[dict[str, int]] = {"v": 24, "fired": 1}
    hardware_note: ClassVar[str] = (
        "neurocore: microcode neuron with fixed-point growth v*B (multiply + shift), a wait "
        "(window) counter and a one-spike block; binary (unipolar) or 2-bit signed graded "
        "(bipolar) spikes; consumers need W-step delays (axon delays or relays) between stages")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.wait is None:
            self.wait = int(self.T)

    @property
    def message_bits(self) -> int:
        return 2 if self.bipolar else 0

    def check_params(self):
        self._check_base()
        ir._check_range(self.name, "wait", self.wait, int(self.T), 255)
        per_neuron(self.name, "vth", self.vth, self.shape, 1, STATE24[1])
        per_neuron(self.name, "bias", self.bias, self.shape, *STATE24)

    def step(self, st, inputs, t, check):
        tau, T, W = t - int(self.start), int(self.T), int(self.wait)
        v, fired = st["v"], st["fired"]
        if 1 <= tau <= T:
            v = fit(check, "v", self.grow(v) + _sum(inputs) + self.bias, 24)
        out = np.zeros_like(v)
        if W < tau <= W + T:
            if tau == W + 1 and not self.bipolar:
                v = np.maximum(v, 0)
            free = fired == 0
            pos = free & (v >= self.vth)
            neg = free & (v <= -self.vth) if self.bipolar else np.zeros_like(pos)
            out = pos.astype(np.int64) - neg
            fired = fired | pos | neg
            v = np.where(fired == 0, fit(check, "v", self.grow(v), 24), v)
        st["v"], st["fired"] = v, fired.astype(np.int64)
        return out


@op_kernel
@ir.register_node
@dataclass(eq=False)
class PhaseTrace(OpNode):
    """Latched trace of a phase-coded train: at the first spike (phase k = t - start - 1)
    ``trace = sign * table[k]``; emits ``trace`` every step (graded). State ``trace``
    (bits of the table + sign)."""
    table: np.ndarray = None
    start: int = 0
    op: ClassVar[str] = "phase_trace"
    array_fields: ClassVar[tuple[str, ...]] = ("table",)
    state_bits: ClassVar[dict[str, int]] = {"trace": 24}
    hardware_note: ClassVar[str] = (
        "neurocore: the neuron latches the global trace B**-k (LUT or a decaying register) at "
        "its spike and sends it as a graded spike (frac + 2 bits)")

    @property
    def message_bits(self) -> int:
        return int(np.max(self.table)).bit_length() + 1

    def check_params(self):
        if self.table is None or self.table.ndim != 1 or not 1 <= self.table.size <= 64:
            raise IRError("table must be a 1-D int array of 1..64 entries", layer=self.name,
                          field="table")
        ir._check_range(self.name, "table", self.table, 0, 2**20)
        ir._check_range(self.name, "start", self.start, 0, 2**16)

    def step(self, st, inputs, t, check):
        k = t - int(self.start) - 1
        x = _sum(inputs)
        if 0 <= k < self.table.size:
            st["trace"] = np.where((st["trace"] == 0) & (x != 0),
                                   np.sign(x) * self.table[k], st["trace"])
        return st["trace"].copy()


@op_kernel
@ir.register_node
@dataclass(eq=False)
class PhaseMatmul(_MatmulBase):
    """Trace-driven product of phase-coded trains, sources ``(a, b, T_a, T_b)``:
    ``U_t = a_t @ T_b + T_a @ b_t - g_t (a_t @ b_t)``, ``g_t = table[t - start - 1]``.
    Stateless, latency 0, graded output of ``out_bits``."""
    table: np.ndarray = None
    start: int = 0
    op: ClassVar[str] = "phase_matmul"
    ports: ClassVar[tuple[str, ...]] = ("a_in", "b_in", "ca_in", "cb_in")
    array_fields: ClassVar[tuple[str, ...]] = ("table",)
    hardware_note: ClassVar[str] = (
        "neurocore: each spike adds the partner's stored trace (graded payload B**-k in fixed "
        "point) minus the coincidence term g_t: microcode with graded spikes")

    def validate(self, in_shapes):
        super().validate(in_shapes)
        if self.table is None or self.table.ndim != 1 or not 1 <= self.table.size <= 64:
            raise IRError("table must be a 1-D int array of 1..64 entries", layer=self.name,
                          field="table")
        ir._check_range(self.name, "table", self.table, 0, 2**20)
        ir._check_range(self.name, "start", self.start, 0, 2**16)

    def step(self, st, inputs, t, check):
        g_, m, k, n, tb = self.groups, self.m, self.k, self.n, self.transpose_b
        a, b = matmul_operands(inputs[0], inputs[1], g_, m, k, n, tb)
        ta, tb_ = matmul_operands(inputs[2], inputs[3], g_, m, k, n, tb)
        ph = t - int(self.start) - 1
        g = int(self.table[ph]) if 0 <= ph < self.table.size else 0
        out = a @ tb_ + ta @ b - g * (a @ b)
        return fit(check, "out", out.reshape(*out.shape[:-3], -1), int(self.out_bits))


@op_kernel
@ir.register_node
@dataclass(eq=False)
class WossSoftmax(_Phase):
    """WOSS softmax population on rows of ``n`` (see the module notes). Params: B, ``T``,
    ``start``, ``c`` (threshold fall per step, 1..2**23-1), ``table`` (L[k], Q frac), ``frac``.
    State: ``v`` 24-bit, ``fired`` 1 bit, ``shift`` 8-bit (the row's normalisation shift).
    Integrates tau = 1..T, fires tau = T+1..2T (one spike per neuron)."""
    n: int = 1
    c: int = 1
    table: np.ndarray = None
    frac: int = 12
    op: ClassVar[str] = "woss"
    array_fields: ClassVar[tuple[str, ...]] = ("table",)
    state_bits: ClassVar[dict[str, int]] = {"v": 24, "fired": 1, "shift": 8}
    hardware_note: ClassVar[str] = (
        "neurocore + helper: growth v*B (microcode), a row-wide winner inhibition (row max "
        "broadcast as a graded spike), a linearly falling threshold, one spike per neuron; the "
        "row normalisation shift needs a row sum and LUT compare (embedded CPU or microcode)")

    def check_params(self):
        self._check_base()
        ir._check_range(self.name, "n", self.n, 1, 4096)
        ir._check_range(self.name, "c", self.c, 1, STATE24[1])
        ir._check_range(self.name, "frac", self.frac, 1, 20)
        if self.table is None or self.table.shape != (int(self.T),):
            raise IRError("table must have T entries", layer=self.name, field="table",
                          limit=(int(self.T),))
        ir._check_range(self.name, "table", self.table, 0, 2**self.frac)
        if len(self.shape) != 1 or self.shape[0] % self.n:
            raise IRError("WOSS takes flat (rows * n,) vectors", layer=self.name, field="n",
                          value=(self.shape, self.n))

    def step(self, st, inputs, t, check):
        tau, T, c, n = t - int(self.start), int(self.T), int(self.c), int(self.n)
        v = st["v"]
        if 1 <= tau <= T:
            v = fit(check, "v", self.grow(v) + _sum(inputs), 24)
        if tau == T + 1:
            rows = v.reshape(*v.shape[:-1], -1, n)
            rows = rows - rows.max(axis=-1, keepdims=True)          # winner inhibition
            kj = np.maximum(0, (-2 * rows - c + 2 * c - 1) // (2 * c))
            lk = np.where(kj < T, self.table[np.minimum(kj, T - 1)], 0)
            total = lk.sum(axis=-1, keepdims=True)
            err = np.abs(self.table * total - (1 << (2 * int(self.frac))))
            shift = np.argmin(err, axis=-1)[..., None]
            v = fit(check, "v", rows.reshape(v.shape), 24)
            st["shift"] = np.broadcast_to(shift, rows.shape).reshape(v.shape).astype(np.int64)
        out = np.zeros_like(v)
        if T < tau <= 2 * T:
            k = tau - T - 1 - st["shift"]
            fire = (st["fired"] == 0) & (k >= 0) & (2 * v + (2 * k + 1) * c >= 0)
            st["fired"] = st["fired"] | fire
            out = fire.astype(np.int64)
        st["v"] = v
        return out


def _builder_for(node_type: type, proc_name: str):
    def build(node, ctx):
        from ..lava.procs import spikedattention as procs
        return build_op(node, ctx, getattr(procs, proc_name), procs.FIXED_PT_MODELS)
    builder(node_type)(build)


for _t, _p in ((PhaseNeuron, "PhaseNeuronProc"), (PhaseTrace, "PhaseTraceProc"),
               (PhaseMatmul, "PhaseMatmulProc"), (WossSoftmax, "WossSoftmaxProc")):
    _builder_for(_t, _p)
