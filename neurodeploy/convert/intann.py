"""The integer IR evaluated as an ANN: one shot, no time steps (a rung of the accuracy ladder).

Every node is replaced by what its spike train *adds up to* over its window (its "total"):
a synapse's total is the integer weight matrix times its source's total; a DIF neuron's total is
``clip(floor((sum of input totals + T * bias + v0) / theta), 0, T)``; an ST-BIF+ neuron's is
``clip(floor((X + bias + v0) / theta), S_min, S_max)``; TDEC/SESA products are ``w * (A @ B)``
of their operands' totals; TDEC max-pool is the max of the counts; the difference-method host
operators are ``f(total input)``; a Readout's total is its accumulated membrane. This is the
integer QANN the methods promise to reproduce exactly (CSDformer with D >= T-1, SpikeZIP-TF
after equilibrium); the reference SNN is checked against it sample by sample.

SpikedAttention's phase operators have no exact one-shot form (fixed-point growth ``v * B``
floors every step); :func:`evaluate` handles them with the ideal phase code, see
:mod:`neurodeploy.convert.spikedattention`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import ir
from ..errors import UnsupportedError
from ..ops.common import SpikeCounter, matmul_operands
from ..ops.csdformer import Dif, GlobalSumPool, Readout, TdecMatmul, TdecMaxPool
from ..ops.spikezip import SpikeLayerNorm, SpikeSoftmax, StBif, int_layer_norm, int_softmax
from ..sim.reference import _conv_int
from .nodes import Relay, TokenDense

__all__ = ["evaluate", "TOTALS"]

#: node type -> fn(node, list of source totals (B, *shape) int64) -> total (B, *shape)
TOTALS: dict[type, Callable] = {}


def total(node_type: type):
    def register(fn):
        TOTALS[node_type] = fn
        return fn
    return register


def _sum(xs):
    out = xs[0].astype(np.int64)
    for x in xs[1:]:
        out = out + x
    return out


@total(ir.Flatten)
def _flatten(n, xs):
    return xs[0].reshape(xs[0].shape[0], -1)


@total(ir.Conv)
def _conv(n, xs):
    return _conv_int(xs[0], n.weight.astype(np.int64) << int(n.weight_exp), n.stride, n.padding,
                     n.dilation, n.groups)


@total(ir.Dense)
def _dense(n, xs):
    if n.weight_exp < 0:
        raise UnsupportedError("a negative weight exponent floors every step: no one-shot "
                               "integer form", layer=n.name, field="weight_exp")
    return (xs[0].reshape(xs[0].shape[0], -1) @ n.weight.T.astype(np.int64)) << n.weight_exp


@total(TokenDense)
def _token_dense(n, xs):
    x = xs[0].reshape(xs[0].shape[0], -1)
    acc = (x[:, n.in_index] @ n.weight.T.astype(np.int64)) << n.weight_exp
    out = np.zeros((x.shape[0], int(np.prod(n.shape))), np.int64)
    out[:, n.out_index] = acc
    return out.reshape(x.shape[0], *n.shape)


@total(Relay)
def _relay(n, xs):
    x = _sum(xs).reshape(xs[0].shape[0], -1)
    if n.index is not None:
        x = x[:, n.index]
    return x.reshape(x.shape[0], *n.shape)


@total(Dif)
def _dif(n, xs):
    x = _sum(xs) + np.asarray(n.T) * n.bias + n.v0
    return np.clip(np.floor_divide(x, n.theta), 0, n.T)


@total(StBif)
def _stbif(n, xs):
    x = _sum(xs) + n.bias + n.v0
    return np.clip(np.floor_divide(x, n.theta), n.s_min, n.s_max)


@total(SpikeCounter)
def _counter(n, xs):
    return _sum(xs)


@total(TdecMatmul)
def _tdec(n, xs):
    a, b = matmul_operands(xs[0], xs[1], n.groups, n.m, n.k, n.n, n.transpose_b)
    out = int(n.weight) * (a @ b)
    return out.reshape(out.shape[0], -1)


@total(TdecMaxPool)
def _maxpool(n, xs):
    return n.pooled(xs[0])


@total(GlobalSumPool)
def _gsp(n, xs):
    x = xs[0]
    if x.ndim == 4:
        return x.sum(axis=(-1, -2))
    return x.reshape(x.shape[0], int(n.tokens), -1).sum(axis=1)


@total(Readout)
def _readout(n, xs):
    return _sum(xs)


@total(SpikeSoftmax)
def _softmax(n, xs):
    return int_softmax(_sum(xs), int(n.n), int(n.in_frac), int(n.out_frac))


@total(SpikeLayerNorm)
def _layer_norm(n, xs):
    return int_layer_norm(_sum(xs), int(n.n), n.gamma, int(n.gamma_shift), n.beta, int(n.eps),
                          int(n.out_frac))


def evaluate(net: ir.Network, inputs: dict[str, np.ndarray], output: str,
             batch: int = 256) -> np.ndarray:
    """Totals of node ``output`` for input totals ``{input name: (B, *shape) int64}``."""
    n = next(iter(inputs.values())).shape[0]
    outs = []
    for i in range(0, n, batch):
        tot: dict[str, np.ndarray] = {k: np.asarray(v[i:i + batch], np.int64)
                                      for k, v in inputs.items()}
        for node in net:
            if isinstance(node, ir.Input):
                continue
            fn = TOTALS.get(type(node))
            if fn is None:
                raise UnsupportedError("no one-shot integer (ANN) form for this node type",
                                       layer=node.name, field="op", value=node.op)
            tot[node.name] = fn(node, [tot[s] for s in node.sources])
        outs.append(tot[output])
    return np.concatenate(outs)
