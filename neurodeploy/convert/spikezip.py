"""SpikeZIP-TF QViT -> integer IR (spec/algorithms.md section 2; ops in
:mod:`neurodeploy.ops.spikezip`).

Mapping (no time windows: every layer runs pipelined until it is quiescent, T_eq):

* every LSQ quantizer (``sym`` [-L/2, L/2-1] or ``unsigned`` [0, L-1]) becomes an
  :class:`~neurodeploy.ops.spikezip.StBif` population (ST-BIF+): ``theta = round(s / u)`` for the
  unit ``u`` of its input current, ``v0 = theta // 2`` (round-half-up), tracer clamp
  ``[S_min, S_max]`` = the quantizer's integer range, the bias of the linear layer before it
  injected ONCE (t = 1, SpikeZIP-TF's ``realize_time = 1``). At equilibrium its spike count is
  ``clip(floor((X + bias + v0) / theta), S_min, S_max)`` exactly, for any input timing;
* patch-embedding conv -> :class:`~neurodeploy.ir.Conv` (graded input, the image at t = 1 only);
  ``qkv``, ``proj``, ``fc1``, ``fc2`` -> :class:`~neurodeploy.convert.nodes.TokenDense`
  (8-bit mantissas, ``weight_exp`` 0, unit per output row ``max|W a| / 127``);
* ``Q K^T`` and ``A V`` -> SESA (:class:`~neurodeploy.ops.spikezip.SesaMatmul` on bipolar spikes
  and their signed running counts); ``s_q s_k / sqrt(d)`` becomes an integer multiplier times
  ``2**-in_frac`` (the Spike-Softmax input unit, the only rounded constant of the attention);
  ``s_o / (s_a s_v)`` becomes a (threshold, multiplier) pair, the best rational approximation
  with a multiplier <= 127;
* ``softmax`` -> Spike-Softmax and every ``LayerNorm`` -> Spike-LayerNorm: HOST operators - not
  on neurocores (difference method: ``sum_t o_t = f(sum_t x_t)``; integer fixed point as the
  ops define them). LayerNorm's ``gamma / s`` and ``beta / s`` (s = the next quantizer's step)
  are folded into its integer ``gamma``/``beta``, so the next threshold is an exact integer;
* the residual stream is a sum of currents in one unit ``u_st``: each contribution (embedding,
  ``proj_quant``, ``fc2_quant`` spikes) reaches every later LayerNorm through its own diagonal
  TokenDense of weight ``m * 2**e`` ~ ``s_i / u_st`` (excitatory 8-bit mantissa m in 128..255,
  ``u_st`` searched so that the worst relative rounding of these 2 * depth + 1 ratios is
  smallest); class token + position embedding enter as a :class:`StreamConst` injected once at
  t = 1; LayerNorm ``eps`` becomes ``eps / u_st**2``;
* head: ``final_quant`` spikes of the class token (or all patch tokens, ``pool = "mean"``) ->
  Dense -> :class:`~neurodeploy.ops.csdformer.Readout` (accumulated output, no firing); class
  score = readout ``v`` after the last step + integer head bias (metadata).

Steps. SpikeZIP-TF is exact at equilibrium, so the window must let every neuron settle. After
its last input an ST-BIF+ neuron fires once per step, monotonically, until it is in equilibrium:
at most ``S_max - S_min`` spikes (the tracer travels its range at most once). So a node's last
active step is bounded by the longest path from the input (step 1) with +1 per synapse and
``+ (S_max - S_min - 1)`` per ST-BIF+ layer (SESA, counters and host operators add 0: they only
react to changes of their inputs). :func:`settle_bound` computes it; ``steps`` = the readout's
bound, so the accumulated head output equals the integer ANN (:mod:`.intann`) for every input.
Measured quiescence is far earlier (``tools/spikezip_ladder.py`` reports it).

Layouts: the stream, the LayerNorm/norm-quantizer populations and the MLP are token-major
(t * D + c, class token first); Q, K, V, the attention map and A V are head-major (g, t, j).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .. import ir
from ..lava.backend import builder
from ..models.spikezip import QViT
from ..ops.common import OpNode, SpikeCounter, build_op, fit, op_kernel
from ..ops.csdformer import Readout, TdecMatmul
from ..ops.spikezip import SesaMatmul, SpikeLayerNorm, SpikeSoftmax, StBif
from .common import (
    THETA_MAX,
    WMAX,
    Builder,
    Encoding,
    channel_major,
    head_major,
    layout_vec,
    ratio,
    token_major,
    units_for,
)
from .intann import TOTALS, total
from .nodes import Relay, TokenDense

__all__ = ["convert_spikezip", "StreamConst", "settle_bound", "stream_unit", "LN_GAMMA_MAX"]

LN_GAMMA_MAX = 2**15 - 1          #: largest |gamma|, |beta| of the integer LayerNorm
LN_FRAC = 15                      #: LayerNorm out_frac = gamma_shift (norm in Q15)
SOFTMAX_FRAC = 15                 #: Spike-Softmax output unit 2**-15
EPS_MAX = 2**16                   #: largest integer LayerNorm eps
STREAM_EXP_MAX = 7                #: largest weight_exp of a stream synapse
STREAM_MANT = 255                 #: excitatory 8-bit mantissa of the stream synapses


# -- the constant injected once (class token + position embedding) --------------------------------
@op_kernel
@ir.register_node
@dataclass(eq=False)
class StreamConst(OpNode):
    """A constant current vector ``value`` emitted once, in step ``at`` (0 in every other step).

    SpikeZIP-TF injects the class token and the position embedding at t = 0 only (spec 2.4).
    No sources; graded output of ``bits`` signed bits. State ``done`` (1 once emitted).
    """
    value: np.ndarray = 0
    at: int = 1
    bits: int = 24
    op: ClassVar[str] = "stream_const"
    ports: ClassVar[tuple[str, ...]] = ()
    array_fields: ClassVar[tuple[str, ...]] = ("value",)
    state_bits: ClassVar[dict[str, int]] = {"done": 2}
    hardware_note: ClassVar[str] = (
        "neurocore: a bias enabled for one step (or one graded spike from the host at t = 1) "
        "fanned out to its consumers; no input")

    @property
    def message_bits(self) -> int:
        return int(self.bits)

    def check_params(self):
        ir._check_range(self.name, "bits", self.bits, 2, 24)
        ir._check_range(self.name, "at", self.at, 1, 2**16)
        lo, hi = -(1 << (int(self.bits) - 1)), (1 << (int(self.bits) - 1)) - 1
        ir._check_range(self.name, "value", self.value, lo, hi)
        if self.value.size != int(np.prod(self.shape)):
            raise ir.IRError("value needs one entry per output", layer=self.name, field="value",
                             value=self.value.shape, limit=self.shape)

    def step(self, st, inputs, t, check):
        now = int(t) == int(self.at)
        out = np.broadcast_to(self.value.reshape(self.shape), st["done"].shape) * int(now)
        st["done"] = st["done"] | int(now)
        return fit(check, "out", out.astype(np.int64), int(self.bits))


@total(StreamConst)
def _const_total(n: StreamConst, xs):
    return n.value.reshape(1, *n.shape).astype(np.int64)      # broadcasts over the batch


total(SesaMatmul)(TOTALS[TdecMatmul])                          # sum_t SESA = w * (A @ B)


@builder(StreamConst)
def _build_const(node: StreamConst, ctx):
    from .procs.stream_const import FIXED_PT_MODELS, StreamConstProc
    return build_op(node, ctx, StreamConstProc, FIXED_PT_MODELS)


# -- settling bound --------------------------------------------------------------------------------
def settle_bound(net: ir.Network, input_last: int = 1) -> dict[str, int]:
    """Per node, a step after which its output never changes again (an upper bound), for inputs
    that end at step ``input_last``. Synapses add 1 (+ their delays), ST-BIF+ populations
    ``S_max - S_min - 1`` after their last input (or their bias step), SESA / counters / host
    operators / wiring 0; a :class:`StreamConst` is done at its step."""
    last: dict[str, int] = {}
    for node in net:
        src = max((last[s] for s in node.sources), default=0)
        if isinstance(node, ir.Input):
            last[node.name] = int(input_last)
        elif isinstance(node, StreamConst):
            last[node.name] = int(node.at)
        elif node.delayed:
            extra = int(getattr(node, "max_delay", 0) or 0)
            last[node.name] = src + 1 + extra
        elif isinstance(node, StBif):
            span = int(np.max(np.asarray(node.s_max) - np.asarray(node.s_min)))
            start = max(src, int(node.start) + 1)
            last[node.name] = start + max(span - 1, 0)
        elif isinstance(node, (SesaMatmul, SpikeCounter, SpikeSoftmax, SpikeLayerNorm, Readout,
                               Relay, ir.Flatten, ir.Concat)):
            last[node.name] = src + int(getattr(node, "delay", 0) or 0)
        else:
            raise ir.IRError("no settling bound for this node type", layer=node.name,
                             field="op", value=node.op)
    return last


# -- scale choices ---------------------------------------------------------------------------------
def _mant_exp(r: np.ndarray, mant: int = STREAM_MANT, emax: int = STREAM_EXP_MAX):
    """Nearest ``m * 2**e`` (0 <= e <= emax, m <= mant) to each r > 0."""
    r = np.asarray(r, float)
    e = np.clip(np.ceil(np.log2(np.maximum(r, 1e-300) / (mant + 0.5))), 0, emax).astype(int)
    m = np.clip(np.floor(r / 2.0**e + 0.5), 1, mant).astype(np.int64)
    return m, e


def stream_unit(steps: list[float], grid: int = 4096) -> float:
    """The stream unit u: each contribution step s_i becomes a weight ``m_i 2**e_i ~ s_i / u``;
    u is searched over one octave (largest weight 128..255 * 2**7) for the smallest worst
    relative rounding error."""
    s = np.asarray(steps, float)
    top = s.max() / (STREAM_MANT * 2.0**STREAM_EXP_MAX)
    best = None
    for u in top * 2.0 ** (np.arange(grid) / grid):
        m, e = _mant_exp(s / u)
        err = float(np.max(np.abs(m * 2.0**e - s / u) / (s / u)))
        if best is None or err < best[0]:
            best = (err, float(u))
    assert best is not None
    return best[1]


# -- the converter ---------------------------------------------------------------------------------
def convert_spikezip(model: QViT, enc: Encoding, steps: int | None = None
                     ) -> tuple[ir.Network, dict[str, Any], Builder]:
    """Build the integer IR. ``steps`` overrides the settling bound (shorter windows are exact
    only for the inputs that settle in time). Returns (network, metadata fragment, builder)."""
    cfg = model.config
    d, heads, p = cfg.embed_dim, cfg.heads, cfg.patches
    n, dh = p + 1, d // heads
    bld = Builder("spikezip")
    rep = bld.report
    tm, hm = token_major(n, d), head_major(n, d, heads)
    bld.add(ir.Input(enc.input, shape=enc.shape, message_bits=enc.bits), 0)

    def f64(t):
        return t.detach().double().numpy().copy()

    def stbif(name, srcs, q, u, bias=None, index=None, shape=None) -> str:
        u = np.asarray(u, float)
        theta = np.clip(np.floor(q.step / u + 0.5), 1, THETA_MAX).astype(np.int64)
        rep.add(name, "threshold", np.full(u.shape, q.step), theta * u, elementwise=True)
        b = np.zeros(u.shape, np.int64)
        if bias is not None:
            b = np.floor(bias / u + 0.5).astype(np.int64)
            rep.add(name, "bias", bias, b * u)
        if index is not None:
            theta, b = layout_vec(theta, index), layout_vec(b, index)
        size = int(index.size) if index is not None else None
        return bld.add(StBif(name, sources=tuple(srcs), shape=shape or (size,), theta=theta,
                             s_min=q.qmin, s_max=q.qmax, bias=b), 0)

    def weights(name, w, a, u):
        ur = np.asarray(u, float).reshape(-1, *([1] * (w.ndim - 1)))
        wi = np.floor(w * a / ur + 0.5).astype(np.int64)
        rep.add(name, "weight", w, wi * ur / a)
        return wi

    def token_dense(name, src, w, a, u, in_idx, out_idx) -> str:
        wi = weights(name, w, a, u)
        return bld.add(TokenDense(name, sources=(src,), weight=wi, in_index=in_idx,
                                  out_index=out_idx, shape=(int(out_idx.size),)), 0)

    # ---- residual stream unit ----------------------------------------------------------------
    contrib_steps = [model.embed_quant.step]
    for blk in model.blocks:
        contrib_steps += [blk.attn.proj_quant.step, blk.mlp.fc2_quant.step]
    u_st = stream_unit(contrib_steps)

    def stream_synapse(name, src, s, in_idx, out_idx) -> str:
        m, e = _mant_exp(np.array([s / u_st]))
        rep.add(name, "weight", np.array([s]), m * 2.0**e * u_st)
        w = np.diag(np.full(d, int(m[0]), np.int64))
        return bld.add(TokenDense(name, sources=(src,), weight=w, weight_exp=int(e[0]),
                                  in_index=in_idx, out_index=out_idx, shape=(n * d,)), 0)

    # ---- patch embedding -------------------------------------------------------------------------
    pe = model.patch_embed
    w_e, b_e = f64(pe.weight), f64(pe.bias)
    q_e = model.embed_quant
    u_e = units_for(w_e * enc.lsb, q_e.step / THETA_MAX)
    conv = bld.add(ir.Conv("embed_conv", sources=(enc.input,), weight=weights(
        "embed_conv", w_e, enc.lsb, u_e), stride=pe.stride, padding=pe.padding), 0)
    flat = bld.add(ir.Flatten("embed_flat", sources=(conv,)), 0)
    cm_p = channel_major(p, d)
    emb = stbif("embed", [flat], q_e, u_e, b_e, cm_p)
    stream = [stream_synapse("embed_stream", emb, q_e.step, cm_p, token_major(p, d, offset=1))]
    const = f64(model.pos_embed)[0]
    const[0] += f64(model.cls_token)[0, 0]
    ci = np.floor(const / u_st + 0.5).astype(np.int64)
    rep.add("cls_pos", "constant", const, ci * u_st)
    stream.append(bld.add(StreamConst("cls_pos", shape=(n * d,), value=ci.reshape(-1)), 0))

    def layer_norm(name, ln, q) -> str:
        """Spike-LayerNorm of the stream folded with the next quantizer's step; returns the
        ST-BIF+ population of that quantizer."""
        g, b = f64(ln.weight), f64(ln.bias)
        big = max(float(np.abs(g).max()), float(np.abs(b).max()), 1e-12)
        theta = int(np.clip(np.floor(LN_GAMMA_MAX * q.step / big), 1, THETA_MAX))
        u_o = q.step / theta                                   # exact threshold
        gi = np.floor(g / u_o + 0.5).astype(np.int64)
        bi = np.floor(b / u_o + 0.5).astype(np.int64)
        rep.add(f"{name}_ln", "weight", g, gi * u_o)
        rep.add(f"{name}_ln", "bias", b, bi * u_o)
        eps = ln.eps / u_st**2
        ei = int(np.clip(np.floor(eps + 0.5), 1, EPS_MAX))
        rep.add(f"{name}_ln", "constant", np.array([eps]), np.array([ei]), elementwise=True)
        ln_node = bld.add(SpikeLayerNorm(f"{name}_ln", sources=tuple(stream), shape=(n * d,),
                                         n=d, gamma=gi, gamma_shift=LN_FRAC, beta=bi, eps=ei,
                                         out_frac=LN_FRAC, out_bits=24), 0)
        u = np.full(d, u_o)
        return stbif(f"{name}_quant", [ln_node], q, u, None, tm)

    # ---- blocks ----------------------------------------------------------------------------------
    for bi_, blk in enumerate(model.blocks):
        at, ml = blk.attn, blk.mlp
        pfx = f"b{bi_}"
        h = layer_norm(f"{pfx}_norm1", blk.norm1, blk.norm1_quant)
        s_in = blk.norm1_quant.step
        w_qkv, b_qkv = f64(at.qkv.weight), f64(at.qkv.bias)
        qkv = {}
        for i, kind in enumerate("qkv"):
            q = getattr(at, f"{kind}_quant")
            w, b = w_qkv[i * d:(i + 1) * d], b_qkv[i * d:(i + 1) * d]
            u = units_for(w * s_in, q.step / THETA_MAX)
            syn = token_dense(f"{pfx}_{kind}_lin", h, w, s_in, u, tm, hm)
            qkv[kind] = stbif(f"{pfx}_{kind}", [syn], q, u, b, hm)
            bld.add(SpikeCounter(f"{pfx}_{kind}_count", sources=(qkv[kind],)), 0)
        sq, sk, sv = at.q_quant.step, at.k_quant.step, at.v_quant.step
        c = sq * sk * at.scale                                  # logit per unit of Q_int K_int
        frac = int(np.clip(np.floor(np.log2((WMAX + 0.5) / c)), 0, 16))
        w_qk = int(np.clip(np.floor(c * 2**frac + 0.5), 1, WMAX))
        rep.add(f"{pfx}_qk", "constant", np.array([c]), np.array([w_qk / 2**frac]),
                elementwise=True)
        qk = bld.add(SesaMatmul(f"{pfx}_qk", sources=(qkv["q"], qkv["k"], f"{pfx}_q_count",
                                                       f"{pfx}_k_count"),
                                groups=heads, m=n, k=dh, n=n, transpose_b=True, weight=w_qk), 0)
        sm = bld.add(SpikeSoftmax(f"{pfx}_softmax", sources=(qk,), shape=(heads * n * n,), n=n,
                                  in_frac=frac, out_frac=SOFTMAX_FRAC,
                                  out_bits=SOFTMAX_FRAC + 2), 0)
        attn = stbif(f"{pfx}_attn", [sm], at.attn_quant, np.array(2.0**-SOFTMAX_FRAC), None,
                     None, (heads * n * n,))
        cnt = bld.add(SpikeCounter(f"{pfx}_attn_count", sources=(attn,)), 0)
        so = at.after_attn_quant.step
        th_o, w_o = ratio(so / (at.attn_quant.step * sv))
        rep.add(f"{pfx}_out", "constant", np.array([so / (at.attn_quant.step * sv)]),
                np.array([th_o / w_o]), elementwise=True)
        av = bld.add(SesaMatmul(f"{pfx}_av", sources=(attn, qkv["v"], cnt, f"{pfx}_v_count"),
                                groups=heads, m=n, k=n, n=dh, weight=w_o), 0)
        q_o = at.after_attn_quant
        rep.add(f"{pfx}_out", "threshold", np.array([th_o]), np.array([th_o]), elementwise=True)
        out = bld.add(StBif(f"{pfx}_out", sources=(av,), shape=(n * d,), theta=th_o,
                            s_min=q_o.qmin, s_max=q_o.qmax), 0)
        w_p, b_p = f64(at.proj.weight), f64(at.proj.bias)
        u_p = units_for(w_p * so, at.proj_quant.step / THETA_MAX)
        proj = token_dense(f"{pfx}_proj", out, w_p, so, u_p, hm, tm)
        pq = stbif(f"{pfx}_proj_quant", [proj], at.proj_quant, u_p, b_p, tm)
        stream.append(stream_synapse(f"{pfx}_proj_stream", pq, at.proj_quant.step, tm, tm))

        h2 = layer_norm(f"{pfx}_norm2", blk.norm2, blk.norm2_quant)
        s2 = blk.norm2_quant.step
        w1, b1 = f64(ml.fc1.weight), f64(ml.fc1.bias)
        hid = w1.shape[0]
        tmh = token_major(n, hid)
        u1 = units_for(w1 * s2, ml.act_quant.step / THETA_MAX)
        f1 = token_dense(f"{pfx}_fc1", h2, w1, s2, u1, tm, tmh)
        act = stbif(f"{pfx}_act", [f1], ml.act_quant, u1, b1, tmh)
        sa = ml.act_quant.step
        w2, b2 = f64(ml.fc2.weight), f64(ml.fc2.bias)
        u2 = units_for(w2 * sa, ml.fc2_quant.step / THETA_MAX)
        f2 = token_dense(f"{pfx}_fc2", act, w2, sa, u2, tmh, tm)
        fq = stbif(f"{pfx}_fc2_quant", [f2], ml.fc2_quant, u2, b2, tm)
        stream.append(stream_synapse(f"{pfx}_fc2_stream", fq, ml.fc2_quant.step, tm, tm))

    # ---- head ------------------------------------------------------------------------------------
    fin = layer_norm("final", model.norm, model.final_quant)
    sf = model.final_quant.step
    wh, bh = f64(model.head.weight), f64(model.head.bias)
    tokens = [0] if cfg.pool == "cls" else list(range(1, n))
    per = wh * sf / len(tokens)
    u_h = float(np.abs(per).max() / WMAX)
    wi = np.floor(per / u_h + 0.5).astype(np.int64)
    rep.add("head", "weight", wh, wi * u_h * len(tokens) / sf)
    w_full = np.zeros((wh.shape[0], n * d), np.int64)
    for t in tokens:
        w_full[:, tm[t]] = wi
    bias_h = np.floor(bh / u_h + 0.5).astype(np.int64)
    rep.add("head", "bias", bh, bias_h * u_h)
    fc = bld.add(ir.Dense("head", sources=(fin,), weight=w_full), 0)
    ro = bld.add(Readout("readout", sources=(fc,), T=0, start=0), 0)
    bld.net.validate()
    bound = settle_bound(bld.net)
    t_end = int(bound[ro]) if steps is None else int(steps)
    if t_end < 1:
        raise ir.IRError("steps must be >= 1", field="steps", value=t_end)
    meta = dict(steps=t_end, readout=dict(node=ro, variable="s", step=t_end,
                                          bias=bias_h.tolist(), unit=u_h),
                quantization=dict(method="spikezip", levels=cfg.levels, neuron="ST-BIF+",
                                  v0="theta // 2", settle_bound=int(bound[ro]),
                                  steps_rule="settling bound (every neuron quiescent)"
                                  if steps is None else "given",
                                  stream_unit=u_st, weight_bits=8, weight_exp=0,
                                  stream_weight_exp=f"0..{STREAM_EXP_MAX}",
                                  softmax_out_frac=SOFTMAX_FRAC, layer_norm_out_frac=LN_FRAC,
                                  constants_at=1, rounding="round-half-up"))
    return bld.net, meta, bld
