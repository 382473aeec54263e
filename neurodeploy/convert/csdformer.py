"""CSDformer QANN -> integer IR (spec/algorithms.md section 1; ops in :mod:`neurodeploy.ops`).

Mapping (T = L = ``levels``, DIF delay D = T-1 by default, which is exact for any input timing):

* every LSQ quantizer (kind "csd", integers [0, L]) becomes a
  :class:`~neurodeploy.ops.csdformer.Dif` population: ``theta = round(s / u)``,
  ``v0 = theta // 2`` (round-half-up), bias (folded BN, in units ``u``) added on each of the
  T integration steps;
* convs (+BN) -> :class:`~neurodeploy.ir.Conv`; max-pool -> SpikeCounter + TdecMaxPool;
  token-wise linears (+BN) -> :class:`~neurodeploy.convert.nodes.TokenDense`;
* Q K^T and A V -> SpikeCounters + :class:`~neurodeploy.ops.csdformer.TdecMatmul`; the constants
  ``1/sqrt(d)``, ``1/N`` and the LSQ steps become a (threshold, weight multiplier) pair, the best
  rational approximation with a multiplier <= 127 (the error is in the report);
* V's DIF waits 2D (it is consumed one DIF stage later than K);
* residual stream = currents in one unit per feature; every stream consumer (a DIF) reads the
  newest contribution directly and the older ones through a :class:`~neurodeploy.convert.nodes.
  Relay` chain that delays them into its integration window;
* head: final DIF -> global sum pool (1/N absorbed into the head weights) -> Dense -> Readout
  (accumulated membrane); class score = readout ``v`` after the last step + integer head bias
  (metadata), in units ``readout.unit`` of the float logits.

Layouts: the stream and all (D, tokens) populations are channel-major (c * N + t, the conv
order); Q, K, V, the attention map and A V are head-major (g, t, j) as the TDEC products need.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import ir
from ..models.csdformer import CSDformer
from ..ops.csdformer import Dif, GlobalSumPool, Readout, SpikeCounter, TdecMatmul, TdecMaxPool
from .common import (
    THETA_MAX,
    WMAX,
    Builder,
    Encoding,
    channel_major,
    fold_bn,
    head_major,
    layout_vec,
    ratio,
    units_for,
)
from .nodes import Relay, TokenDense

__all__ = ["convert_csdformer"]


def convert_csdformer(model: CSDformer, enc: Encoding, delay: int | None = None
                      ) -> tuple[ir.Network, dict[str, Any], Builder]:
    """Build the integer IR. Returns (network, metadata fragment, builder with the report)."""
    cfg = model.config
    T = cfg.levels
    D = T - 1 if delay is None else int(delay)
    bld = Builder("csdformer")
    rep = bld.report
    tok = model.tokenizer
    n_tok, dim, heads = cfg.tokens, cfg.embed_dim, cfg.heads
    dh = dim // heads
    cm, hm = channel_major(n_tok, dim), head_major(n_tok, dim, heads)
    bld.add(ir.Input(enc.input, shape=enc.shape, message_bits=enc.bits), 0)

    def dif(name, src, theta_full, bias_full, start, dly, shape) -> str:
        return bld.add(Dif(name, sources=tuple(src), shape=shape, theta=theta_full,
                           T=T, delay=dly, start=start, bias=bias_full), start + dly)

    def neuron_params(layer, s, u, b):
        theta = np.clip(np.floor(s / u + 0.5), 1, THETA_MAX).astype(np.int64)
        bias = np.floor(b / (T * u) + 0.5).astype(np.int64)
        rep.add(layer, "threshold", np.full(u.shape, s), theta * u, elementwise=True)
        rep.add(layer, "bias", b, T * bias * u)
        return theta, bias

    def weights(layer, w, a, u):
        wi = np.floor(w * a / u.reshape(-1, *([1] * (w.ndim - 1))) + 0.5).astype(np.int64)
        rep.add(layer, "weight", w, wi * u.reshape(-1, *([1] * (w.ndim - 1))) / a)
        return wi

    # ---- stream units (shared by every contribution to a feature) ------------------------------
    convs, bns = tok.convs, tok.bns
    w_last, b_last = fold_bn(convs[-1].weight, None, bns[-1])
    a_last = tok.quants[-1].step if len(convs) > 1 else enc.lsb
    contrib = [np.abs(w_last.reshape(dim, -1)).max(1) * a_last]
    folded = []
    for blk in model.blocks:
        at, ml = blk.attn, blk.mlp
        wp, bp = fold_bn(at.proj_linear.weight, None, at.proj_bn)
        w2, b2 = fold_bn(ml.fc2.weight, None, ml.bn2)
        folded.append((wp, bp, w2, b2))
        contrib += [np.abs(wp).max(1) * at.out_quant.step, np.abs(w2).max(1) * ml.quant2.step]
    consumers = [q.step for blk in model.blocks for q in (blk.attn.in_quant, blk.mlp.quant1)]
    consumers.append(model.final_quant.step)
    u_st = np.maximum(np.max(contrib, axis=0) / WMAX, max(consumers) / THETA_MAX)

    # ---- tokenizer -----------------------------------------------------------------------------
    src, a, e = enc.input, enc.lsb, 0
    cur_shape: tuple[int, ...] = ()
    u, b = np.ones(1), np.zeros(1)
    pad = (cfg.kernel[0] // 2, cfg.kernel[1] // 2)
    for i, (conv, bn) in enumerate(zip(convs, bns)):
        if i > 0:
            q = tok.quants[i - 1]
            c = cur_shape[0]
            theta, bias = neuron_params(f"tok{i}.quant", q.step, u, b)
            src = dif(f"tok{i}_q", [src], theta.reshape(c, 1, 1), bias.reshape(c, 1, 1), e, D,
                      cur_shape)
            e = bld.emit[src]
            a = q.step
            if cfg.tokenizer_pool[i]:
                cnt = bld.add(SpikeCounter(f"tok{i}_count", sources=(src,)), e)
                src = bld.add(TdecMaxPool(f"tok{i}_pool", sources=(cnt,), kernel=cfg.pool), e)
        w, b = fold_bn(conv.weight, None, bn)
        last = i == len(convs) - 1
        u = u_st if last else units_for(w * a, q_next_step(tok, i) / THETA_MAX)
        wi = weights(f"tok{i}.conv", w, a, u)
        name = bld.add(ir.Conv(f"tok{i}_conv", sources=(src,), weight=wi, padding=pad), e + 1)
        e += 1
        cur_shape = bld.net.shapes()[name]
        src = name
    x0 = bld.add(ir.Flatten("tok_flat", sources=(src,)), e)

    # ---- blocks --------------------------------------------------------------------------------
    stream_bias = b_last.copy()
    older: list[str] = []
    newest = x0
    last_start = None

    def consumer(name: str, q) -> str:
        nonlocal older, last_start
        start = bld.emit[newest]
        srcs = [newest]
        if older:
            relay = bld.add(Relay(f"{name}_relay", sources=tuple(older),
                                  delay=start - last_start), start)
            srcs.insert(0, relay)
        older, last_start = srcs, start
        theta, bias = neuron_params(f"{name}", q.step, u_st, stream_bias)
        return dif(name, srcs, layout_vec(theta, cm), layout_vec(bias, cm), start, D,
                   (dim * n_tok,))

    def token_dense(name, src, w, a, u, in_idx, out_idx, emit) -> str:
        wi = weights(name, w, a, u)
        return bld.add(TokenDense(name, sources=(src,), weight=wi, in_index=in_idx,
                                  out_index=out_idx, shape=(int(out_idx.size),)), emit)

    for bi, blk in enumerate(model.blocks):
        at, ml = blk.attn, blk.mlp
        p = f"b{bi}"
        h = consumer(f"{p}_in", at.in_quant)
        e = bld.emit[h]
        qkv = {}
        for kind in "qkv":
            lin, bn, q = (getattr(at, f"{kind}_{x}") for x in ("linear", "bn", "quant"))
            w, b = fold_bn(lin.weight, None, bn)
            u = units_for(w * at.in_quant.step, q.step / THETA_MAX)
            syn = token_dense(f"{p}_{kind}_lin", h, w, at.in_quant.step, u, cm, hm, e + 1)
            theta, bias = neuron_params(f"{p}_{kind}", q.step, u, b)
            qkv[kind] = dif(f"{p}_{kind}", [syn], layout_vec(theta, hm), layout_vec(bias, hm),
                            e + 1, 2 * D if kind == "v" else D, (dim * n_tok,))
            bld.add(SpikeCounter(f"{p}_{kind}_count", sources=(qkv[kind],)), bld.emit[qkv[kind]])
        e = bld.emit[qkv["q"]]
        sq, sk, sv = at.q_quant.step, at.k_quant.step, at.v_quant.step
        th_a, w_a = ratio(n_tok * at.attn_quant.step / (sq * sk * at.scale))
        rep.add(f"{p}_attn", "constant", n_tok * at.attn_quant.step / (sq * sk * at.scale),
                th_a / w_a, elementwise=True)
        qk = bld.add(TdecMatmul(f"{p}_qk", sources=(qkv["q"], qkv["k"], f"{p}_q_count",
                                                     f"{p}_k_count"),
                                groups=heads, m=n_tok, k=dh, n=n_tok, transpose_b=True,
                                weight=w_a), e)
        attn = dif(f"{p}_attn", [qk], th_a, 0, e, D, (heads * n_tok * n_tok,))
        e = bld.emit[attn]
        cnt = bld.add(SpikeCounter(f"{p}_attn_count", sources=(attn,)), e)
        so = at.out_quant.step
        th_o, w_o = ratio(so / (at.attn_quant.step * sv))
        rep.add(f"{p}_out", "constant", so / (at.attn_quant.step * sv), th_o / w_o,
                elementwise=True)
        av = bld.add(TdecMatmul(f"{p}_av", sources=(attn, qkv["v"], cnt, f"{p}_v_count"),
                                groups=heads, m=n_tok, k=n_tok, n=dh, weight=w_o), e)
        out = dif(f"{p}_out", [av], th_o, 0, e, D, (dim * n_tok,))
        wp, bp, w2, b2 = folded[bi]
        newest = token_dense(f"{p}_proj", out, wp, so, u_st, hm, cm, bld.emit[out] + 1)
        stream_bias = stream_bias + bp
        h1 = consumer(f"{p}_mlp1", ml.quant1)
        w1, b1 = fold_bn(ml.fc1.weight, None, ml.bn1)
        hid = w1.shape[0]
        u1 = units_for(w1 * ml.quant1.step, ml.quant2.step / THETA_MAX)
        cmh = channel_major(n_tok, hid)
        f1 = token_dense(f"{p}_fc1", h1, w1, ml.quant1.step, u1, cm, cmh, bld.emit[h1] + 1)
        theta, bias = neuron_params(f"{p}_mlp2", ml.quant2.step, u1, b1)
        h2 = dif(f"{p}_mlp2", [f1], layout_vec(theta, cmh), layout_vec(bias, cmh),
                 bld.emit[f1], D, (hid * n_tok,))
        newest = token_dense(f"{p}_fc2", h2, w2, ml.quant2.step, u_st, cmh, cm,
                             bld.emit[h2] + 1)
        stream_bias = stream_bias + b2

    # ---- head ------------------------------------------------------------------------------------
    fin = consumer("final", model.final_quant)
    e = bld.emit[fin]
    img = bld.add(Relay("final_grid", sources=(fin,), delay=0, bits=0,
                        shape=(dim, *cfg.grid)), e)
    gsp = bld.add(GlobalSumPool("gap", sources=(img,), out_bits=16), e)
    wh = model.head.weight.detach().double().numpy()
    bh = model.head.bias.detach().double().numpy()
    sf = model.final_quant.step
    u_h = float(np.abs(wh).max() * sf / n_tok / WMAX)
    wi = np.floor(wh * sf / n_tok / u_h + 0.5).astype(np.int64)
    rep.add("head", "weight", wh, wi * u_h * n_tok / sf)
    bias_h = np.floor(bh / u_h + 0.5).astype(np.int64)
    rep.add("head", "bias", bh, bias_h * u_h)
    fc = bld.add(ir.Dense("head", sources=(gsp,), weight=wi), e + 1)
    ro = bld.add(Readout("readout", sources=(fc,), T=T, start=e + 1), e + 1)
    steps = e + 1 + T
    bld.net.validate()
    meta = dict(steps=int(steps), readout=dict(node=ro, variable="s", step=int(steps),
                                               bias=bias_h.tolist(), unit=u_h),
                quantization=dict(method="csdformer", levels=T, window=T, dif_delay=D,
                                  neuron="DIF", weight_bits=8, weight_exp=0,
                                  rounding="round-half-up"))
    return bld.net, meta, bld


def q_next_step(tok, i: int) -> float:
    """LSQ step of the quantizer after tokenizer conv i (it receives that conv's current)."""
    return tok.quants[i].step
