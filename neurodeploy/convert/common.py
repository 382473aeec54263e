"""Shared machinery of the converters: BN folding, integer scaling with an error report, token
layouts, the input encoding and the :class:`Builder` that assembles an IR network.

Units. Every integer current is a count of a per-neuron *unit* ``u`` (float, in the units of the
torch pre-activation). A synapse whose presynaptic spike is worth ``a`` (the upstream quantizer
step, or the input LSB) gets mantissas ``w_int = round(W a / u)`` (8-bit, ``weight_exp = 0``, so
per-step currents add up exactly), the receiving neuron's threshold is ``theta = round(s / u)``
for a quantizer step ``s``, biases are ``round(b / u)`` (spread over the window where the neuron
adds its bias every step). ``u`` is chosen per output neuron as ``max|W a| / 127`` so every row
uses the full 8-bit mantissa range; neurons fed by several synapses (the residual stream) share
one unit per feature, the largest their synapses need.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import ir

__all__ = ["fold_bn", "QuantReport", "Builder", "Encoding", "units_for", "ratio", "channel_major",
           "head_major", "token_major", "layout_vec", "WMAX", "THETA_MAX"]

WMAX = 127                       #: largest mixed-sign 8-bit weight mantissa used
THETA_MAX = 2**22                #: largest threshold (leaves headroom in the 24-bit membrane)


def fold_bn(weight: torch.Tensor, bias: torch.Tensor | None,
            bn: nn.Module | None) -> tuple[np.ndarray, np.ndarray]:
    """Fold an eval-mode BatchNorm after a linear/conv into (W', b') (float64, rows = outputs)."""
    w = weight.detach().double().numpy().copy()
    b = np.zeros(w.shape[0]) if bias is None else bias.detach().double().numpy().copy()
    if bn is not None:
        g = (bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)).numpy()
        b = (b - bn.running_mean.detach().double().numpy()) * g + bn.bias.detach().double().numpy()
        w = w * g.reshape(-1, *([1] * (w.ndim - 1)))
    return w, b


def units_for(rows: np.ndarray, floor: np.ndarray | float) -> np.ndarray:
    """Per-row unit ``max|row| / 127``, at least ``floor`` (keeps thresholds <= THETA_MAX)."""
    m = np.abs(rows.reshape(rows.shape[0], -1)).max(axis=1) / WMAX
    return np.maximum(m, floor)


def ratio(x: float, max_den: int = WMAX, max_num: int = THETA_MAX) -> tuple[int, int]:
    """Integers (num, den), den <= max_den, num <= max_num, with num/den closest to x > 0."""
    best = None
    for den in range(1, max_den + 1):
        num = min(max(int(np.floor(x * den + 0.5)), 1), max_num)
        err = abs(num / den - x)
        if best is None or err < best[0] - 1e-15:
            best = (err, num, den)
    assert best is not None
    return best[1], best[2]


_ = Fraction  # (kept for readers: ratio() is a bounded best rational approximation)


@dataclass
class QuantReport:
    """Float vs integer parameters, per layer and quantity (weights, thresholds, biases, constants).

    ``max_abs`` is in the float parameter's own units; ``max_rel`` is relative to the largest float
    magnitude of that quantity in the layer (weights, biases) or elementwise (thresholds, scales).
    """
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, layer: str, quantity: str, exact: np.ndarray, approx: np.ndarray,
            elementwise: bool = False) -> None:
        exact, approx = np.asarray(exact, float), np.asarray(approx, float)
        err = np.abs(approx - exact)
        if elementwise:
            rel = float((err / np.maximum(np.abs(exact), 1e-30)).max(initial=0))
        else:
            rel = float(err.max(initial=0) / max(float(np.abs(exact).max(initial=0)), 1e-30))
        self.rows.append(dict(layer=layer, quantity=quantity, n=int(exact.size),
                              max_abs=float(err.max(initial=0)), max_rel=rel))

    def format(self) -> str:
        w = max([len(r["layer"]) for r in self.rows] + [5])
        lines = [f"{'layer':{w}s}  {'quantity':10s}  {'count':>7s}  {'max abs err':>12s}  "
                 f"{'max rel err':>11s}"]
        for r in self.rows:
            lines.append(f"{r['layer']:{w}s}  {r['quantity']:10s}  {r['n']:7d}  "
                         f"{r['max_abs']:12.3e}  {r['max_rel']:11.3e}")
        return "\n".join(lines)


@dataclass
class Encoding:
    """How a float sample becomes input spikes: ``round_half_up(x * scale)`` clipped to the
    signed ``bits``-bit graded range, sent once in step 1 (the analog encoding of SpikeZIP-TF;
    zeros afterwards). ``scale`` is a power of two or the data set's exact LSB inverse."""
    input: str
    scale: float
    bits: int
    shape: tuple[int, ...]

    def as_dict(self) -> dict[str, Any]:
        return dict(kind="graded-once", input=self.input, scale=self.scale, bits=self.bits,
                    step=1, shape=list(self.shape))

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Encoding":
        return Encoding(d["input"], float(d["scale"]), int(d["bits"]), tuple(d["shape"]))

    @property
    def lsb(self) -> float:
        return 1.0 / self.scale

    def integers(self, x: np.ndarray) -> np.ndarray:
        """Integer input values (B, *shape), int64."""
        lo, hi = -2 ** (self.bits - 1), 2 ** (self.bits - 1) - 1
        return np.clip(np.floor(np.asarray(x, np.float64) * self.scale + 0.5), lo, hi) \
            .astype(np.int64).reshape(len(x), *self.shape)

    def spikes(self, x: np.ndarray, steps: int) -> np.ndarray:
        """Input trains (B, *shape, steps): the integers in step 1, zeros after."""
        q = self.integers(x)
        out = np.zeros((*q.shape, steps), np.int64)
        out[..., 0] = q
        return out


def encoding_for(x_train: np.ndarray, shape: tuple[int, ...], bits: int = 8) -> Encoding:
    """Exact encoding when the data are multiples of 1/16 in [0, 1] (digits), else the largest
    power-of-two scale that keeps every training value within ``bits`` signed bits."""
    x = np.asarray(x_train, np.float64)
    if x.min() >= 0 and x.max() <= 1 and np.all(np.abs(x * 16 - np.round(x * 16)) < 1e-9):
        return Encoding("input", 16.0, 6, shape)
    m = float(np.abs(x).max())
    scale = 2.0 ** np.floor(np.log2((2 ** (bits - 1) - 1) / m))
    return Encoding("input", float(scale), bits, shape)


# -- layouts (flat index of token t, channel c) ---------------------------------------------------
def channel_major(n: int, d: int) -> np.ndarray:
    """(N, D) index map of the conv order (C, H, W) flattened: c * N + t."""
    return np.arange(d)[None, :] * n + np.arange(n)[:, None]


def token_major(n: int, d: int, offset: int = 0) -> np.ndarray:
    """(N, D) index map of token-major vectors: (t + offset) * D + c."""
    return (np.arange(n)[:, None] + offset) * d + np.arange(d)[None, :]


def head_major(n: int, d: int, heads: int) -> np.ndarray:
    """(N, D) index map of (heads, N, D/heads) vectors: g N dh + t dh + j for c = g dh + j."""
    dh = d // heads
    c = np.arange(d)
    return (c // dh)[None, :] * n * dh + np.arange(n)[:, None] * dh + (c % dh)[None, :]


def layout_vec(per_channel: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Spread a per-channel vector (D,) over a flat layout given by its (N, D) index map."""
    out = np.zeros(index.size, dtype=np.asarray(per_channel).dtype)
    out[index] = np.broadcast_to(per_channel, index.shape)
    return out


class Builder:
    """Accumulates IR nodes, each neuron/synapse's output window and the quantisation report.

    ``emit[name]`` = e: the node's output can be non-zero only in steps e+1 .. e+T (window
    bookkeeping of the converters; T = the method's window).
    """

    def __init__(self, name: str) -> None:
        self.net = ir.Network(name=name)
        self.emit: dict[str, int] = {}
        self.report = QuantReport()

    def add(self, node: ir.Node, emit: int) -> str:
        self.net.add(node)
        self.emit[node.name] = int(emit)
        return node.name
