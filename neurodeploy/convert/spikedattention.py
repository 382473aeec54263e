"""SpikedAttention ANN (calibrated, no retraining) -> integer IR (spec/algorithms.md section 3; ops
in :mod:`neurodeploy.ops.spikedattention`).

Mapping (BERT-path a' convention: a spike at phase k of a slot with scale s carries
``sign * s * B**-k``; T = ``timesteps`` per stage, every neuron waits W = T):

* **base** B in fixed point ``base_num / 2**base_shift``, the smallest shift <= 12 whose relative
  error is < 5e-4 (B = 1.4 -> 717/512 = 1.40039). Every threshold, table and constant below is
  computed for that fixed-point B, so the SNN is one consistent phase code;
* **every PhaseQuantizer slot** becomes a :class:`~neurodeploy.ops.spikedattention.PhaseNeuron`
  population: per neuron the integer current unit ``u`` (float, the value of one unit of input
  current at phase 0) is chosen so that full scale is ``U = s / u = 2**14`` units whenever the
  8-bit mantissas (``weight_exp`` 0..7) allow it; ``vth = round(U B**(T-1) (1 + 1/B) / 2)``
  (``phase_vth``), so the neuron fires at the nearest power of B of ``a = x / s``. Bipolar
  slots -> bipolar neurons, ReLU slots (``mlp_slot``, ``input_slot``) -> unipolar. ``U = 2**14``
  keeps the 24-bit membrane free of overflow up to ``|a| = 3.3`` and the fixed-point growth's
  floor error below 0.03 % of full scale;
* **biases** (linear biases, folded BatchNorm offsets, the position embedding) are added by the
  neuron on each of its T integration steps, so they are divided by ``sum_{j<T} B**-j``
  (the a'-convention form of the authors' ``modif_bias`` divisor);
* **BatchNorm** folds into the linear/conv before it (``embed_bn``), into ``fc2``'s columns
  (``mlp_bn``, which sits after ``mlp_slot``) or, for the norms that read the residual stream
  (``norm1``, ``norm2``, the final norm), into the synapses from every stream contribution to
  that consumer;
* **the residual stream** is never a population: it is the sum of the currents of its
  contributions (``embed_slot`` spikes, each block's ``attn_slot`` spikes and ``fc2`` of its
  ``mlp_slot`` spikes). Each consumer gets its own synapse from each contribution (weights
  ``g s`` or ``g W_fc2' s``, g = the consumer's BN gain); the contribution's *spikes* are delayed
  by :class:`~neurodeploy.convert.nodes.Relay` chains (bipolar: 2-bit payload) so they arrive
  with the consumer's integration window (axonal delays on the chip);
* **Q K^T and A V**: :class:`PhaseTrace` of both operands + :class:`PhaseMatmul` (trace-driven,
  exact in the phase-weighted sum); the table ``L[k] = round(2**frac B**-k)`` has the largest
  ``frac <= 17`` that keeps the receiving slot's U <= 2**14; the constants ``1/sqrt(d)``, the
  operand scales and ``2**frac`` end up in the receiver's threshold (nothing else is rounded);
* **softmax**: ``qk_slot`` spikes -> a 1x1 :class:`TokenDense` of weight ``w_z`` (127 * 2**7)
  -> :class:`WossSoftmax` rows of N keys: winner inhibition, threshold falling by
  ``c = round(Z ln B)`` per step (``Z = w_z B**(T-1) / s_z`` membrane units per logit),
  nearest-rounded spike times, and the ops' **integer row normalisation: a spike shift by the
  power of B nearest to the row's spike sum** (table of ``frac`` 16) instead of the authors'
  membrane division. The normalised attention is a one-spike phase code of unit 1;
* **pipeline schedule** (spec 3.3): a slot's window starts one stage after its producer's
  (``start' = start + W + 1`` after a synapse, ``+ W`` after a 0-latency product); V waits
  ``3T + 1`` steps so its spikes meet the softmax's, which fire one product stage and one
  synapse later than K's;
* **input**: the bundle's graded-once input (pixel * 16, step 1) -> a 1x1 Conv of weight 2**10
  -> :class:`PhaseInputNeuron` (unipolar, the model's ``input_slot``, U = 2**14): it re-encodes
  the pixel into the one-spike base-B code (the role of the authors' ``One_LIFNode_convert``);
* **head**: ``final_slot`` spikes -> Dense (token mean and head weights, 10 x N*D) ->
  :class:`PhaseReadout` (the authors' ``final_bool``: integrate T steps with growth B, no
  firing). Class score = readout ``v`` after the last step + integer head bias (metadata), in
  units ``readout.unit`` of the float logits; the unit bounds ``|v| < 2**22`` for every input.

The integer-ANN rung (:mod:`.intann`) of this IR is the **ideal phase code**: the same integer
weights, thresholds, biases, tables, WOSS constants and shift normalisation, with the growth
``v * B`` exact (float64) instead of floored each step and every input of a window arriving
at its nominal phase. Totals are phase values: a spike train's total is ``sign * R[k]``,
``R[k] = round(2**30 B**-k)``; a synapse's total is its weights times that (so ``2**30`` times
the phase-weighted current ``sum_k B**-k U_k``). The reference SNN differs from it only by the
per-step floors of the fixed-point growth and the rounding of the trace tables (measured by the
ladder, ``neurodeploy verify --dataset``).

Layouts: stream consumers and the MLP are channel-major (c * N + t, the conv order); Q, K, V, the
attention map and A V are head-major (g, t, j).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .. import ir
from ..lava.backend import builder
from ..models.spikedattention import SpikedTransformer
from ..ops.common import STATE24, _sum, build_op, fit, matmul_operands, op_kernel, per_neuron
from ..ops.spikedattention import (
    PhaseMatmul,
    PhaseNeuron,
    PhaseTrace,
    WossSoftmax,
    _Phase,
    phase_table,
)
from .common import WMAX, Builder, Encoding, channel_major, fold_bn, head_major, layout_vec
from .intann import total
from .nodes import Relay, TokenDense

__all__ = ["convert_spikedattention", "PhaseInputNeuron", "PhaseReadout", "fixed_base",
           "PHASE_UNIT", "TOTAL_FRAC"]

PHASE_UNIT = 2**14          #: full-scale input current U of every phase neuron (when weights allow)
EXP_MAX = 7                 #: largest weight exponent used
FRAC_MAX = 17               #: largest trace-table fraction (PhaseMatmul currents stay < 2**23)
FRAC_MIN = 4
WOSS_FRAC = 16              #: WOSS normalisation table fraction
HEAD_HEADROOM = 2**22       #: bound on |readout v| for any input
TOTAL_FRAC = 30             #: fixed-point fraction of the integer-ANN phase values
VMAX = 2**23 - 1


def fixed_base(base: float, max_shift: int = 12, tol: float = 5e-4) -> tuple[int, int]:
    """``(base_num, base_shift)``: the smallest shift (7..max_shift) with |num/2**shift - B| / B
    < tol (else the best at ``max_shift``)."""
    for shift in range(7, max_shift + 1):
        num = int(np.floor(base * 2**shift + 0.5))
        if abs(num / 2**shift - base) / base < tol or shift == max_shift:
            return num, shift
    raise AssertionError("unreachable")


# -- two node types of this converter ----------------------------------------------------------
@ir.register_node
@dataclass(eq=False)
class PhaseInputNeuron(PhaseNeuron):
    """A :class:`PhaseNeuron` (same parameters, dynamics and Lava process) that reads the raw
    graded input through one synapse: the input slot. Only the integer-ANN rung treats it
    differently (its input total is a plain phase-0 current, not a phase value)."""
    op: ClassVar[str] = "phase_input"


@ir.register_node
@dataclass(eq=False)
class PhaseReadout(_Phase):
    """Non-firing phase integrator (the head readout, SpikedAttention's ``final_bool``): in
    tau = 1..T of its window ``v <- floor(v B) + input + bias``; afterwards v holds. Emits v
    every step (graded, 24 bits). State ``v`` 24-bit signed."""
    bias: np.ndarray = 0
    op: ClassVar[str] = "phase_readout"
    array_fields: ClassVar[tuple[str, ...]] = ("bias",)
    state_bits: ClassVar[dict[str, int]] = {"v": 24}
    hardware_note: ClassVar[str] = (
        "neurocore: microcode integrator with fixed-point growth v*B and a window counter, no "
        "threshold; the host reads v after the window (or v is sent as a 24-bit graded spike)")

    @property
    def message_bits(self) -> int:
        return 24

    def check_params(self):
        self._check_base()
        per_neuron(self.name, "bias", self.bias, self.shape, *STATE24)

    def step(self, st, inputs, t, check):
        tau = t - int(self.start)
        if 1 <= tau <= int(self.T):
            st["v"] = fit(check, "v", self.grow(st["v"]) + _sum(inputs) + self.bias, 24)
        return st["v"].copy()


op_kernel(PhaseInputNeuron)
op_kernel(PhaseReadout)


@builder(PhaseInputNeuron)
def _build_input_neuron(node, ctx):
    from ..lava.procs import spikedattention as procs
    return build_op(node, ctx, procs.PhaseNeuronProc, procs.FIXED_PT_MODELS)


@builder(PhaseReadout)
def _build_readout(node, ctx):
    from .procs import spikedattention as procs
    return build_op(node, ctx, procs.PhaseReadoutProc, procs.FIXED_PT_MODELS)


def _register_cost_model() -> None:
    from ..place.resources import Neurons, cost_model

    @cost_model(PhaseReadout)
    def _readout(node, ctx):
        return Neurons("tdec")


_register_cost_model()


# -- the integer-ANN rung: the ideal phase code ------------------------------------------------
def _b(node) -> float:
    return int(node.base_num) / 2**int(node.base_shift)


def _levels(b: float, T: int) -> np.ndarray:
    """``R[k] = round(2**TOTAL_FRAC B**-k)``, k = 0..T (R[T] = 0: silent)."""
    r = np.floor(2.0**TOTAL_FRAC * b ** -np.arange(T, dtype=float) + 0.5).astype(np.int64)
    return np.append(r, 0)


def _membrane(node, x: np.ndarray) -> np.ndarray:
    """Ideal V_T of a phase integrator whose phase-weighted input is ``x`` (float)."""
    b, T = _b(node), int(node.T)
    bias = np.asarray(getattr(node, "bias", 0), float)
    return b ** (T - 1) * x + bias * sum(b**j for j in range(T))


def _fire(node, v: np.ndarray) -> np.ndarray:
    """Phase value ``sign * R[k]`` of a PhaseNeuron with ideal membrane ``v``."""
    b, T = _b(node), int(node.T)
    if not node.bipolar:
        v = np.maximum(v, 0.0)
    mag, vth = np.abs(v), np.asarray(node.vth, float)
    k = np.full(v.shape, T)
    for j in range(T - 1, -1, -1):
        k = np.where(mag * b**j >= vth, j, k)
    return np.sign(v).astype(np.int64) * _levels(b, T)[k]


@total(PhaseNeuron)
def _pn_total(n, xs):
    return _fire(n, _membrane(n, _sum(xs) / 2.0**TOTAL_FRAC))


@total(PhaseInputNeuron)
def _input_total(n, xs):
    return _fire(n, _membrane(n, _sum(xs).astype(float)))


@total(PhaseReadout)
def _readout_total(n, xs):
    return np.floor(_membrane(n, _sum(xs) / 2.0**TOTAL_FRAC) + 0.5).astype(np.int64)


@total(PhaseTrace)
def _trace_total(n, xs):
    x = _sum(xs)
    tab = np.asarray(n.table, np.int64)
    lv = np.log(np.maximum(np.abs(x), 1) / 2.0**TOTAL_FRAC)     # -k ln B
    lt = np.log(np.maximum(tab, 1) / float(tab[0]))
    k = np.searchsorted(-(lt[:-1] + lt[1:]) / 2, -lv)          # nearest level (log domain)
    return np.where(x != 0, np.sign(x) * tab[k], 0)


@total(PhaseMatmul)
def _matmul_total(n, xs):
    """A pair with phases k_a >= k_b adds ``T_b * a`` (the later spike weighs B**-k_a, the
    partner's trace table[k_b]): ``sum_k B**-k U_k`` exactly, in units 2**-TOTAL_FRAC."""
    a, b = matmul_operands(xs[0], xs[1], n.groups, n.m, n.k, n.n, n.transpose_b)
    ta, tb = matmul_operands(xs[2], xs[3], n.groups, n.m, n.k, n.n, n.transpose_b)
    out = np.zeros((*a.shape[:-1], b.shape[-1]), np.int64)
    for j in range(a.shape[-1]):
        aj, taj = a[..., j:j + 1], ta[..., j:j + 1]             # (B, G, M, 1)
        bj, tbj = b[..., j:j + 1, :], tb[..., j:j + 1, :]       # (B, G, 1, N)
        out += np.where(np.abs(aj) <= np.abs(bj), tbj * aj, taj * bj)
    return out.reshape(out.shape[0], -1)


@total(WossSoftmax)
def _woss_total(n, xs):
    b, T, c, m = _b(n), int(n.T), float(n.c), int(n.n)
    v = b ** (T - 1) * (_sum(xs) / 2.0**TOTAL_FRAC)
    rows = v.reshape(v.shape[0], -1, m)
    rows = rows - rows.max(axis=-1, keepdims=True)
    kj = np.clip(np.ceil((-2 * rows - c) / (2 * c)), 0, 4 * T).astype(np.int64)
    tab = np.asarray(n.table, np.int64)
    lk = np.where(kj < T, tab[np.minimum(kj, T - 1)], 0)
    tot = lk.sum(axis=-1, keepdims=True)
    shift = np.argmin(np.abs(tab * tot[..., None] - (1 << (2 * int(n.frac)))), axis=-1)
    ph = np.minimum(kj + shift, T)
    return _levels(b, T)[ph].reshape(v.shape[0], -1)


# -- the converter -----------------------------------------------------------------------------
def _f64(t) -> np.ndarray:
    return t.detach().double().numpy().copy()


def _bn(bn) -> tuple[np.ndarray, np.ndarray]:
    """Eval BatchNorm as ``g x + beta`` (per channel)."""
    g = _f64(bn.weight) / np.sqrt(_f64(bn.running_var) + bn.eps)
    return g, _f64(bn.bias) - _f64(bn.running_mean) * g


def _mant_exp(wf: np.ndarray) -> tuple[np.ndarray, int]:
    """8-bit mixed-sign mantissas and one exponent 0..7 with ``mant * 2**e ~ wf``."""
    big = float(np.abs(wf).max(initial=0))
    e = int(np.clip(np.ceil(np.log2(max(big, 1e-300) / (WMAX + 0.5))), 0, EXP_MAX))
    m = np.clip(np.floor(wf / 2.0**e + 0.5), -WMAX, WMAX).astype(np.int64)
    return m, e


def _unit(s: float, row_max: np.ndarray | float) -> np.ndarray:
    """Current unit per neuron: full scale ``PHASE_UNIT`` unless the 8-bit mantissas with
    exponent <= 7 cannot reach it."""
    return np.maximum(s / PHASE_UNIT, np.asarray(row_max, float) / (WMAX * 2**EXP_MAX))


def convert_spikedattention(model: SpikedTransformer, enc: Encoding
                            ) -> tuple[ir.Network, dict[str, Any], Builder]:
    """Build the integer IR. Returns (network, metadata fragment, builder with the report)."""
    cfg = model.config
    T = int(cfg.timesteps)
    num, shift = fixed_base(cfg.base)
    b = num / 2**shift
    bias_div = sum(b**-j for j in range(T))                    # sum_{j<T} B**-j
    n_tok, dim, heads = cfg.patches, cfg.embed_dim, cfg.heads
    dh, hid = dim // heads, cfg.hidden_dim
    cm, hm, cmh = channel_major(n_tok, dim), head_major(n_tok, dim, heads), \
        channel_major(n_tok, hid)
    base = dict(base_num=num, base_shift=shift, T=T)
    bld = Builder("spikedattention")
    rep = bld.report
    bld.add(ir.Input(enc.input, shape=enc.shape, message_bits=enc.bits), 0)
    starts: dict[str, int] = {}

    def neuron(name, srcs, slot, u, start, shape, bias_f=None, index=None, wait=T,
               cls=PhaseNeuron) -> str:
        s = float(slot.scale)
        u = np.asarray(u, float)
        vth_f = s / u * b ** (T - 1) * (1 + 1 / b) / 2
        vth = np.clip(np.floor(vth_f + 0.5), 1, VMAX).astype(np.int64)
        rep.add(name, "threshold", vth_f, vth, elementwise=True)
        bias = np.zeros(np.shape(vth), np.int64)
        if bias_f is not None:
            bias = np.floor(bias_f / (u * bias_div) + 0.5).astype(np.int64)
            rep.add(name, "bias", bias_f, bias * u * bias_div)
        if index is not None:
            vth, bias = layout_vec(vth, index), layout_vec(bias, index)
        if np.all(vth == vth.reshape(-1)[0]):
            vth = np.asarray(vth.reshape(-1)[0])
        starts[name] = int(start)
        return bld.add(cls(name, sources=tuple(srcs), shape=shape, vth=vth, bias=bias,
                           bipolar=bool(slot.signed), start=int(start), wait=int(wait), **base),
                       start + wait)

    def token_dense(name, src, wf, w, in_idx, out_idx) -> str:
        """``wf``: float weights in current units; ``w``: the float weights (report)."""
        m, e = _mant_exp(wf)
        rep.add(name, "weight", w, m * 2.0**e * (w / np.where(wf == 0, 1, wf)))
        return bld.add(TokenDense(name, sources=(src,), weight=m, weight_exp=e, in_index=in_idx,
                                  out_index=out_idx, shape=(int(out_idx.size),)), 0)

    # ---- input slot ------------------------------------------------------------------------
    s_in = float(model.input_slot.scale)
    p = int(np.clip(np.floor(np.log2(PHASE_UNIT * enc.lsb / s_in)), 0, 6 + EXP_MAX))
    m_in, e_in = (2**p, 0) if p < 6 else (64, p - 6)
    conv_in = bld.add(ir.Conv("input_conv", sources=(enc.input,),
                              weight=np.full((enc.shape[0], 1, 1, 1), m_in, np.int64),
                              weight_exp=e_in), 1)
    u_in = enc.lsb / (m_in * 2**e_in)
    x_in = neuron("input_slot", [conv_in], model.input_slot, u_in, 1, enc.shape,
                  cls=PhaseInputNeuron)

    # ---- patch embedding -------------------------------------------------------------------
    pe = model.patch_embed
    w_e, b_e = fold_bn(pe.weight, pe.bias, model.embed_bn)
    s_e = float(model.embed_slot.scale)
    u_e = _unit(s_e, np.abs(w_e.reshape(dim, -1)).max(1) * s_in)
    m, e = _mant_exp(w_e * s_in / u_e[:, None, None, None])
    rep.add("embed_conv", "weight", w_e, m * 2.0**e * u_e[:, None, None, None] / s_in)
    conv = bld.add(ir.Conv("embed_conv", sources=(x_in,), weight=m, weight_exp=e,
                           stride=tuple(pe.stride), padding=tuple(pe.padding)), 0)
    flat = bld.add(ir.Flatten("embed_flat", sources=(conv,)), 0)
    bias_e = b_e[None, :] + _f64(model.pos_embed)[0]            # (N, D): per token and channel
    st = starts[x_in] + T + 1
    emb = neuron("embed_slot", [flat], model.embed_slot, u_e, st, (n_tok * dim,),
                 bias_f=bias_e, index=cm)

    # ---- residual stream: contributions and their consumers ----------------------------------
    # a contribution: spikes (node, phase-0 step f: spikes at f + 1 + k), weights per consumer
    contribs: list[dict[str, Any]] = [dict(label="embed", node=emb, f=st + T, scale=s_e,
                                           w=None, bias=None, bits=2, idx=cm)]

    def consumer(name, bn, slot, start) -> str:
        g, beta = _bn(bn)
        mats = []
        for c in contribs:
            w = np.diag(g * c["scale"]) if c["w"] is None else g[:, None] * c["w"] * c["scale"]
            mats.append(w)
        u = _unit(float(slot.scale), np.max([np.abs(w).max(1) for w in mats], axis=0))
        bias_f = beta + g * sum(c["bias"] for c in contribs if c["bias"] is not None)
        syns = []
        for c, w in zip(contribs, mats):
            d = start - c["f"] - 1
            assert d >= 0, (name, c["label"], d)
            hops = 0
            while d > 0:
                hop = min(d, 255)
                c["node"] = bld.add(Relay(f"{c['label']}_to_{name}" + (f"_{hops}" if hops else ""),
                                          sources=(c["node"],), delay=hop, bits=c["bits"]), 0)
                c["f"] += hop
                d -= hop
                hops += 1
            syns.append(token_dense(f"{c['label']}_{name}", c["node"], w / u[:, None], w,
                                    c["idx"], cm))
        return neuron(name, syns, slot, u, start, (n_tok * dim,), bias_f=bias_f, index=cm)

    # ---- blocks ----------------------------------------------------------------------------
    fracs: dict[str, int] = {}
    woss_c: dict[str, int] = {}
    for bi, blk in enumerate(model.blocks):
        px = f"b{bi}"
        s_n1 = max(c["f"] for c in contribs) + 1
        h = consumer(f"{px}_norm1", blk.norm1, blk.norm1_slot, s_n1)
        s_h = float(blk.norm1_slot.scale)
        s_qkv = s_n1 + T + 1
        s_qk = s_qkv + T                       # product stage (0 latency after the operands)
        s_w = s_qk + T + 1                     # WOSS (after qk_slot + the 1x1 synapse)
        s_av = s_w + T
        qkv = {}
        for kind in "qkv":
            lin, slot = getattr(blk, kind), getattr(blk, f"{kind}_slot")
            w, bias = _f64(lin.weight), _f64(lin.bias)
            u = _unit(float(slot.scale), np.abs(w).max(1) * s_h)
            syn = token_dense(f"{px}_{kind}_lin", h, w * s_h / u[:, None], w, cm, hm)
            qkv[kind] = neuron(f"{px}_{kind}", [syn], slot, u, s_qkv, (n_tok * dim,),
                               bias_f=bias, index=hm,
                               wait=T if kind != "v" else s_av - s_qkv)
        sq, sk, sv = (float(getattr(blk, f"{k}_slot").scale) for k in "qkv")
        sz, so = float(blk.qk_slot.scale), float(blk.av_slot.scale)
        # Q K^T: trace-driven product into qk_slot
        f_qk = int(np.clip(np.floor(np.log2(PHASE_UNIT * blk.scale * sq * sk / sz)),
                           FRAC_MIN, FRAC_MAX))
        tab = phase_table(num, shift, T, f_qk)
        tq = bld.add(PhaseTrace(f"{px}_q_trace", sources=(qkv["q"],), table=tab, start=s_qk), 0)
        tk = bld.add(PhaseTrace(f"{px}_k_trace", sources=(qkv["k"],), table=tab, start=s_qk), 0)
        qk = bld.add(PhaseMatmul(f"{px}_qk", sources=(qkv["q"], qkv["k"], tq, tk), groups=heads,
                                 m=n_tok, k=dh, n=n_tok, transpose_b=True, table=tab,
                                 start=s_qk), 0)
        z = neuron(f"{px}_qk_slot", [qk], blk.qk_slot, blk.scale * sq * sk / 2**f_qk, s_qk,
                   (heads * n_tok * n_tok,))
        # WOSS softmax
        n_att = heads * n_tok * n_tok
        w_z = WMAX * 2**EXP_MAX
        ar = np.arange(n_att).reshape(-1, 1)
        syn = bld.add(TokenDense(f"{px}_softmax_in", sources=(z,), weight=np.array([[WMAX]]),
                                 weight_exp=EXP_MAX, in_index=ar, out_index=ar,
                                 shape=(n_att,)), 0)
        zunit = w_z * b ** (T - 1) / sz                         # membrane units per logit
        c_f = zunit * np.log(b)
        c = int(np.clip(np.floor(c_f + 0.5), 1, VMAX))
        rep.add(f"{px}_softmax", "constant", np.array([c_f]), np.array([c]), elementwise=True)
        attn = bld.add(WossSoftmax(f"{px}_softmax", sources=(syn,), shape=(n_att,), n=n_tok,
                                   c=c, table=phase_table(num, shift, T, WOSS_FRAC),
                                   frac=WOSS_FRAC, start=s_w, **base), 0)
        starts[attn] = s_w
        woss_c[attn] = c
        # A V: trace-driven product into av_slot
        f_av = int(np.clip(np.floor(np.log2(PHASE_UNIT * sv / so)), FRAC_MIN, FRAC_MAX))
        tab = phase_table(num, shift, T, f_av)
        ta = bld.add(PhaseTrace(f"{px}_attn_trace", sources=(attn,), table=tab, start=s_av), 0)
        tv = bld.add(PhaseTrace(f"{px}_v_trace", sources=(qkv["v"],), table=tab, start=s_av), 0)
        av = bld.add(PhaseMatmul(f"{px}_av", sources=(attn, qkv["v"], ta, tv), groups=heads,
                                 m=n_tok, k=n_tok, n=dh, table=tab, start=s_av), 0)
        o = neuron(f"{px}_av_slot", [av], blk.av_slot, sv / 2**f_av, s_av, (n_tok * dim,))
        fracs.update({qk: f_qk, av: f_av})
        # projection -> attn_slot (a stream contribution)
        s_at = s_av + T + 1
        w, bias = _f64(blk.proj.weight), _f64(blk.proj.bias)
        u = _unit(float(blk.attn_slot.scale), np.abs(w).max(1) * so)
        syn = token_dense(f"{px}_proj", o, w * so / u[:, None], w, hm, cm)
        at = neuron(f"{px}_attn_slot", [syn], blk.attn_slot, u, s_at, (n_tok * dim,),
                    bias_f=bias, index=cm)
        contribs.append(dict(label=f"{px}_attn", node=at, f=s_at + T,
                             scale=float(blk.attn_slot.scale), w=None, bias=None, bits=2, idx=cm))
        # MLP: norm2 -> fc1 -> ReLU slot -> (mlp_bn folded into) fc2 (a stream contribution)
        s_n2 = s_at + T + 1
        h2 = consumer(f"{px}_norm2", blk.norm2, blk.norm2_slot, s_n2)
        s_h2 = float(blk.norm2_slot.scale)
        s_m = s_n2 + T + 1
        w1, b1 = _f64(blk.fc1.weight), _f64(blk.fc1.bias)
        u1 = _unit(float(blk.mlp_slot.scale), np.abs(w1).max(1) * s_h2)
        f1 = token_dense(f"{px}_fc1", h2, w1 * s_h2 / u1[:, None], w1, cm, cmh)
        mlp = neuron(f"{px}_mlp_slot", [f1], blk.mlp_slot, u1, s_m, (n_tok * hid,),
                     bias_f=b1, index=cmh)
        gm, bm = _bn(blk.mlp_bn)
        w2, b2 = _f64(blk.fc2.weight), _f64(blk.fc2.bias)
        contribs.append(dict(label=f"{px}_fc2", node=mlp, f=s_m + T,
                             scale=float(blk.mlp_slot.scale), w=w2 * gm[None, :],
                             bias=b2 + w2 @ bm, bits=0, idx=cmh))

    # ---- head --------------------------------------------------------------------------------
    s_f = max(c["f"] for c in contribs) + 1
    fin = consumer("final", model.norm, model.final_slot, s_f)
    sfin = float(model.final_slot.scale)
    wh, bh = _f64(model.head.weight), _f64(model.head.bias)
    gain = b ** (T - 1)
    u_h = max(float(np.abs(wh).sum(1).max()) * sfin * gain / HEAD_HEADROOM,
              float(np.abs(wh).max()) * sfin / n_tok / (WMAX * 2**EXP_MAX))
    m, e = _mant_exp(wh * sfin / n_tok / u_h)
    rep.add("head", "weight", wh, m * 2.0**e * u_h * n_tok / sfin)
    w_full = np.zeros((wh.shape[0], n_tok * dim), np.int64)
    for t in range(n_tok):
        w_full[:, cm[t]] = m
    fc = bld.add(ir.Dense("head", sources=(fin,), weight=w_full, weight_exp=e), 0)
    s_r = s_f + T + 1
    ro = bld.add(PhaseReadout("readout", sources=(fc,), shape=(wh.shape[0],), start=s_r,
                              **base), 0)
    starts[ro] = s_r
    unit = u_h / gain                                           # logit per unit of readout v
    bias_h = np.floor(bh / unit + 0.5).astype(np.int64)
    rep.add("head", "bias", bh, bias_h * unit)
    steps = s_r + T
    bld.net.validate()
    meta = dict(steps=int(steps),
                readout=dict(node=ro, variable="s", step=int(steps), bias=bias_h.tolist(),
                             unit=unit),
                quantization=dict(
                    method="spikedattention", neuron="one-spike phase (a' convention)",
                    base=float(cfg.base), base_num=num, base_shift=shift, base_fixed=b,
                    window=T, wait=T, v_wait=3 * T + 1, phase_unit=PHASE_UNIT,
                    bias_divisor=bias_div, trace_frac=fracs, woss_frac=WOSS_FRAC,
                    woss_c=woss_c, woss_rounding="nearest",
                    woss_normalisation="spike shift by the power of B nearest to the row sum",
                    stage_starts=starts, weight_bits=8, weight_exp=f"0..{EXP_MAX}",
                    rounding="round-half-up",
                    int_ann="ideal phase code: integer parameters, exact growth B (float64)"))
    return bld.net, meta, bld
