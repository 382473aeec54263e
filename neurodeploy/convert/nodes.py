"""Two small IR nodes the converters need besides :mod:`neurodeploy.ir` and :mod:`neurodeploy.ops`.

* :class:`TokenDense` - a per-token linear layer (the same ``(D_out, D_in)`` integer matrix applied
  to each of ``N`` tokens) as ONE synapse node, with explicit index maps for its input and output
  layouts (token-major, channel-major, head-major, or with a class-token offset). It is exactly a
  :class:`~neurodeploy.ir.Dense` whose (N*D_out, N*D_in) matrix is block-diagonal up to those
  permutations, stored compactly (D_out*D_in weights + 2 index maps instead of N^2 D_out D_in).
  Timing and arithmetic are Dense's (1 step of latency, ``floor(sum w s 2**weight_exp)``, Lava's
  int32 graded path); the Lava backend builds the expanded Dense (small models only).
* :class:`Relay` - sums its sources, optionally gathers them through an index map (a permutation
  or reshape), and delays the result by ``delay`` steps (0..255). The converters use it for the
  residual stream: the currents of earlier stream contributions are relayed so that they reach a
  consumer neuron inside its integration window (CSDformer DIF windows, SpikedAttention phase
  windows). On Loihi 2 this is what synaptic/axonal delays (<= 62 steps per hop) or a relay
  compartment chain do; the node states that in ``hardware_note``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import ir
from ..errors import IRError
from ..lava.backend import BUILDERS, builder
from ..ops.common import OpKernel, OpNode, _sum, build_op, fit
from ..sim.arith import INT32_MAX, INT32_MIN, shift, wrap32
from ..sim.reference import Kernel, kernel, message_bits_of

__all__ = ["TokenDense", "Relay", "expand_token_dense"]


@ir.register_node
@dataclass(eq=False)
class TokenDense(ir._Synapse):
    """Per-token linear synapse: ``out[out_index[t, j]] = sum_i w[j, i] * in[in_index[t, i]]``.

    ``weight``: (D_out, D_in) int mantissas (8-bit, shared ``weight_exp``); ``in_index``:
    (N, D_in) flat positions in the C-ordered source; ``out_index``: (N, D_out) distinct flat
    positions in the output of shape ``shape`` (positions not written stay 0). Current arrives one
    step after the spikes (as Dense); binary sources count spikes, graded ones their payload.
    """
    in_index: np.ndarray = None
    out_index: np.ndarray = None
    shape: tuple[int, ...] = ()
    op: ClassVar[str] = "token_dense"
    array_fields: ClassVar[tuple[str, ...]] = ("weight", "in_index", "out_index")

    def output_shape(self, in_shapes):
        return self.shape

    def validate(self, in_shapes):
        self._n_sources(in_shapes)
        self._validate_weights()
        w, ii, oi = self.weight, self.in_index, self.out_index
        if w.ndim != 2 or ii is None or oi is None or ii.ndim != 2 or oi.ndim != 2 or \
                ii.shape != (oi.shape[0], w.shape[1]) or oi.shape[1] != w.shape[0]:
            raise IRError("need weight (D_out, D_in), in_index (N, D_in), out_index (N, D_out)",
                          layer=self.name, field="weight",
                          value=(np.shape(w), np.shape(ii), np.shape(oi)))
        n_in, n_out = int(np.prod(in_shapes[0])), int(np.prod(self.shape))
        ir._check_range(self.name, "in_index", ii, 0, n_in - 1)
        ir._check_range(self.name, "out_index", oi, 0, n_out - 1)
        if np.unique(oi).size != oi.size:
            raise IRError("out_index positions must be distinct", layer=self.name,
                          field="out_index")


def expand_token_dense(node: TokenDense, n_in: int) -> np.ndarray:
    """The equivalent Dense weight matrix (n_out, n_in), int64."""
    n_out = int(np.prod(node.shape))
    m = np.zeros((n_out, n_in), np.int64)
    for t in range(node.in_index.shape[0]):
        m[np.ix_(node.out_index[t], node.in_index[t])] += node.weight
    return m


@kernel(TokenDense)
class TokenDenseKernel(Kernel):
    """Reference kernel: Dense's arithmetic (``DenseKernel`` without delays) on the compact form."""

    def __init__(self, node: TokenDense, in_shapes, out_shape, batch, ctx):
        super().__init__(node, in_shapes, out_shape, batch, ctx)
        self.graded = message_bits_of(ctx.net, node.sources[0]) > 0
        self.nt = 8 - int(node.num_weight_bits) + int(node.sign_mode == ir.SignMode.MIXED)
        self.buf = np.zeros((batch, int(np.prod(out_shape))), np.int64)
        self.w_t = node.weight.T.astype(np.int64)
        self.idle = True

    def emit(self):
        out = self.buf
        if self.idle:                           # no spikes last step: no current (fast path)
            return np.zeros((self.batch, *self.out_shape), np.int64)
        bad = (out < INT32_MIN) | (out > INT32_MAX)
        self.ctx.check(self.node.name, "a_out", bad, out, "int32 synaptic message")
        return wrap32(out).reshape(self.batch, *self.out_shape)

    def absorb(self, x):
        n, exp = self.node, int(self.node.weight_exp)
        flat = x.reshape(x.shape[0], -1)
        self.idle = not flat.any()              # phase-coded / windowed layers are mostly silent
        if self.idle:
            return
        s = flat if self.graded else (flat != 0).astype(np.int64)
        acc = s[:, n.in_index] @ self.w_t                         # (B, N, D_out), exact int64
        if self.graded:
            scaled = acc << self.nt
            self.ctx.check(n.name, "a_accum", (scaled < INT32_MIN) | (scaled > INT32_MAX),
                           scaled, "int32 dendritic accumulator")
            acc = wrap32(shift(wrap32(scaled), exp - self.nt))
        elif exp:
            acc = shift(acc, exp)
        out = np.zeros_like(self.buf)
        out[:, n.out_index] = acc
        self.buf = out


@builder(TokenDense)
def _build_token_dense(node: TokenDense, ctx):
    src_shape = ctx.shapes[node.sources[0]]
    if len(src_shape) != 1 or len(node.shape) != 1:
        raise IRError("the Lava backend needs flat (1-D) TokenDense source and output",
                      layer=node.name, field="shape")
    dense = ir.Dense(node.name, sources=node.sources,
                     weight=expand_token_dense(node, int(src_shape[0])),
                     weight_exp=node.weight_exp, num_weight_bits=node.num_weight_bits)
    return BUILDERS[ir.Dense](dense, ctx)


# -- Relay -----------------------------------------------------------------------------------------
@dataclass(eq=False)
class Relay(OpNode):
    """``out_t = gather(sum of sources at step t - delay)``, 0 when t <= delay.

    ``index`` (optional, int array of ``prod(shape)`` entries): output i reads flat input
    position ``index[i]``; None keeps the order (then ``shape`` may only reshape). ``bits``: the
    payload width of what is relayed (0 binary spikes, else graded, signed); values are checked
    against it (24 by default for currents). State: a ``delay``-slot ring buffer (not probed).
    """
    delay: int = 0
    index: np.ndarray | None = None
    bits: int = 24
    op: ClassVar[str] = "relay"
    array_fields: ClassVar[tuple[str, ...]] = ("index",)
    ports: ClassVar[tuple[str, ...]] = ("a_in",)
    hardware_note: ClassVar[str] = (
        "neurocore: synaptic/axonal delays of the relayed contributions (Loihi 2: <= 62 steps "
        "per synapse; longer delays chain relay compartments); a gather without delay is "
        "wiring (free)")

    @property
    def message_bits(self) -> int:
        return int(self.bits)

    def validate(self, in_shapes):
        self._n_sources(in_shapes, None)
        if not in_shapes or any(tuple(s) != tuple(in_shapes[0]) for s in in_shapes):
            raise IRError("relay sources must share one shape", layer=self.name,
                          field="sources", value=list(in_shapes))
        if not self.shape:
            self.shape = tuple(int(d) for d in in_shapes[0])
        n_in, n_out = int(np.prod(in_shapes[0])), int(np.prod(self.shape))
        ir._check_range(self.name, "delay", self.delay, 0, 255)
        ir._check_range(self.name, "bits", self.bits, 0, 24)
        if self.index is None:
            if n_in != n_out:
                raise IRError("without index the relay can only reshape", layer=self.name,
                              field="shape", value=self.shape, limit=tuple(in_shapes[0]))
        elif self.index.shape != (n_out,):
            raise IRError("index needs one entry per output", layer=self.name, field="index",
                          value=self.index.shape, limit=(n_out,))
        else:
            ir._check_range(self.name, "index", self.index, 0, n_in - 1)
        self._src_ndim = len(in_shapes[0])

    def init_state(self, batch):
        n = int(np.prod(self.shape))
        return {"buf": np.zeros((*batch, max(int(self.delay), 1), n), np.int64)}

    def step(self, st, inputs, t, check):
        x = _sum(inputs)
        lead = x.shape[:x.ndim - int(self._src_ndim)]
        flat = x.reshape(*lead, -1)
        if self.index is not None:
            flat = flat[..., self.index]
        if self.bits:
            flat = fit(check, "out", flat, int(self.bits))
        d = int(self.delay)
        if d:
            slot = t % d
            out = st["buf"][..., slot, :].copy()
            st["buf"][..., slot, :] = flat
        else:
            out = flat
        return out.reshape(*lead, *self.shape)


@kernel(Relay)
class RelayKernel(OpKernel):
    """OpKernel without probing the ring buffer (only the relayed output is recorded)."""

    @classmethod
    def probe_names(cls, node):
        return ()

    def state(self):
        return {}


ir.register_node(Relay)


@builder(Relay)
def _build_relay(node: Relay, ctx):
    from .procs.relay import FIXED_PT_MODELS, RelayProc
    return build_op(node, ctx, RelayProc, FIXED_PT_MODELS)
