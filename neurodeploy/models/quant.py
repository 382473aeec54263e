"""Activation quantizers of the three methods, written for exact conversion.

Every quantizer here is an explicit module with its integer range and its float step, so that a
converter can read them without running the model:

* :class:`LSQQuantizer` - ``x_hat = s * clip(floor(x/s + 1/2), qmin, qmax)`` with a learned step
  ``s`` (LSQ, straight-through estimator). Rounding is ROUND-HALF-UP (``floor(v + 1/2)``), never
  ``torch.round`` (half-to-even): an IF neuron started at V0 = theta/2 reproduces exactly this.

  - ``kind="csd"`` (CSDformer): unsigned ``[0, L]``, ``L`` = levels = time window T. With
    ``lambda = s * L`` this is QCFS ``(lambda/L) clip(floor(x L/lambda + 1/2), 0, L)`` (spec 1.3).
  - ``kind="sym"`` (SpikeZIP-TF ``MyQuan(sym=True)``): ``[-L/2, L/2 - 1]``.
  - ``kind="unsigned"`` (SpikeZIP-TF ``MyQuan(sym=False)``): ``[0, L - 1]``.

  Initialisation (spec 1.3, SpikeZIP-TF's LSQ): on the first training forward
  ``s = 2 mean|x| / sqrt(qmax)``; the gradient of ``s`` is scaled by ``1/sqrt(qmax * n)``, n =
  elements per sample (LSQ's N_F; SpikeZIP-TF uses the whole tensor, which moved s too slowly
  in our short CPU runs).
* :class:`PhaseQuantizer` - SpikedAttention's one-spike phase code (spec 3.2, convention a'):
  value ``sign * scale * B**-k`` for spike step ``k`` in ``0..T-1``; the neuron fires at the first
  ``k`` with ``|x|/scale >= (B**-k + B**-(k+1)) / 2`` (nearest power of B in the linear domain);
  below the last threshold it stays silent (value 0). ``scale`` is calibrated (max |x|), not
  trained.
* :class:`WOSSSoftmax` - SpikedAttention's winner-oriented spike-shift softmax (spec 3.5, the
  recommended nearest-rounding variant): ``k_j = floor((z_max - z_j)/ln B + 1/2)``, silent for
  ``k_j > T-1``, ``p_j = B**-k_j / sum_i B**-k_i``.

A quantizer with ``enabled = False`` is the float ANN's activation: ReLU for unsigned ranges and
identity for signed ones (and plain softmax for :class:`WOSSSoftmax`).
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

__all__ = ["round_half_up", "round_half_up_ste", "grad_scale", "LSQQuantizer", "PhaseQuantizer",
           "WOSSSoftmax", "quantizers", "set_quantization"]

QuantKind = Literal["csd", "sym", "unsigned"]


def round_half_up(x: Tensor) -> Tensor:
    """``floor(x + 1/2)``: ties go up (2.5 -> 3, -2.5 -> -2), unlike ``torch.round``."""
    return torch.floor(x + 0.5)


def round_half_up_ste(x: Tensor) -> Tensor:
    """Round-half-up in the forward pass, identity gradient (straight-through estimator)."""
    return x + (round_half_up(x) - x).detach()


def grad_scale(x: Tensor, g: float) -> Tensor:
    """Value ``x``, gradient multiplied by ``g`` (LSQ's step-size gradient scaling)."""
    return (x - x * g).detach() + x * g


def _range(kind: QuantKind, levels: int) -> tuple[int, int]:
    if kind == "csd":
        return 0, levels
    if kind == "sym":
        if levels < 2 or levels % 2:
            raise ValueError(f"sym quantizer needs an even level count >= 2, got {levels}")
        return -(levels // 2), levels // 2 - 1
    if kind == "unsigned":
        return 0, levels - 1
    raise ValueError(f"unknown quantizer kind {kind!r}")


class LSQQuantizer(nn.Module):
    """LSQ activation quantizer, per tensor, round-half-up.

    Args:
        levels: quantization level count L (CSDformer: L = T; SpikeZIP-TF: ``level``).
        kind: ``"csd"`` -> integers ``[0, L]``; ``"sym"`` -> ``[-L/2, L/2-1]``;
            ``"unsigned"`` -> ``[0, L-1]``.

    Attributes:
        s: learned step (float32 parameter, in the units of the input activation).
        initialized: bool buffer; False until the first training forward sets ``s`` (LSQ init).
        qmin, qmax: the integer range (Python ints); ``integer(x)`` lies in it.
    """

    def __init__(self, levels: int, kind: QuantKind = "csd") -> None:
        super().__init__()
        self.levels, self.kind = int(levels), kind
        self.qmin, self.qmax = _range(kind, self.levels)
        self.s = nn.Parameter(torch.tensor(1.0))
        self.register_buffer("initialized", torch.tensor(False))
        self.enabled = True

    @property
    def step(self) -> float:
        """The quantization step s (float): one integer level is worth ``step`` input units."""
        return float(self.s.detach())

    @property
    def signed(self) -> bool:
        return self.qmin < 0

    def extra_repr(self) -> str:
        return f"kind={self.kind}, levels={self.levels}, range=[{self.qmin}, {self.qmax}]"

    def forward(self, x: Tensor) -> Tensor:
        if not self.enabled:
            return x if self.signed else torch.relu(x)
        pos = max(self.qmax, 1)
        if self.training and not bool(self.initialized):
            with torch.no_grad():
                self.s.copy_((2 * x.detach().abs().mean() / math.sqrt(pos)).clamp_min(1e-4))
                self.initialized.fill_(True)
        # LSQ gradient scale 1/sqrt(qmax * features per sample); only when training, so that the
        # eval forward is exactly integer(x) * s (grad_scale's detach trick can move s by an ulp)
        s = grad_scale(self.s, 1.0 / math.sqrt(pos * x[0].numel())) if self.training else self.s
        v = torch.clamp(x / s, self.qmin, self.qmax)
        return round_half_up_ste(v) * s

    @torch.no_grad()
    def integer(self, x: Tensor) -> Tensor:
        """Integer level ``clip(floor(x/s + 1/2), qmin, qmax)`` as int64 (forward = level * s)."""
        q = torch.clamp(round_half_up(x / self.s.to(x.dtype)), self.qmin, self.qmax)
        return q.to(torch.int64)


class PhaseQuantizer(nn.Module):
    """SpikedAttention neuron slot: one spike in a T-step window, value ``sign*scale*B**-k``.

    Modes: ``"float"`` (identity: the float ANN), ``"calibrate"`` (identity, records
    ``scale = max |x|`` over everything seen), ``"quant"`` (the phase-coded value).

    Attributes:
        scale: float buffer, the calibrated full-scale value s (input units); 0 = uncalibrated.
        base: B > 1; T: window length in steps; signed: bipolar (True) or ReLU/unipolar neuron.
    """

    def __init__(self, base: float, T: int, signed: bool = True) -> None:
        super().__init__()
        if not base > 1 or T < 1:
            raise ValueError(f"phase code needs base > 1 and T >= 1, got B={base}, T={T}")
        self.base, self.T, self.signed = float(base), int(T), bool(signed)
        self.register_buffer("scale", torch.tensor(0.0))
        self.mode: Literal["float", "calibrate", "quant"] = "float"

    def extra_repr(self) -> str:
        return f"base={self.base}, T={self.T}, signed={self.signed}"

    def thresholds(self, dtype: torch.dtype = torch.float64) -> Tensor:
        """Normalised firing thresholds ``(B**-k + B**-(k+1))/2`` for k = 0..T-1 (decreasing)."""
        k = torch.arange(self.T, dtype=dtype)
        return (self.base ** -k + self.base ** -(k + 1)) / 2

    def _steps(self, x: Tensor) -> Tensor:
        """Spike step k per element (int64), T where the neuron stays silent."""
        a = x.abs() / self.scale.to(x.dtype) if self.signed else x / self.scale.to(x.dtype)
        thr = self.thresholds(x.dtype).to(x.device)
        return (a.unsqueeze(-1) < thr).sum(-1)

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "calibrate":
            m = (x.abs() if self.signed else torch.relu(x)).max().detach().to(self.scale.dtype)
            self.scale.copy_(torch.maximum(self.scale, m))
            return x
        if self.mode == "float":
            return x
        if float(self.scale) <= 0:
            raise RuntimeError("PhaseQuantizer used in 'quant' mode before calibration")
        k = self._steps(x)
        val = torch.where(k < self.T, self.base ** (-k.to(x.dtype)), torch.zeros_like(x))
        sign = torch.sign(x) if self.signed else (x > 0).to(x.dtype)
        return sign * val * self.scale.to(x.dtype)

    @torch.no_grad()
    def integer(self, x: Tensor) -> Tensor:
        """Signed spike code (int64): ``sign * (k + 1)`` for a spike at step k, 0 when silent."""
        k = self._steps(x)
        code = torch.where(k < self.T, k + 1, torch.zeros_like(k))
        sign = torch.sign(x).to(torch.int64) if self.signed else (x > 0).to(torch.int64)
        return sign * code


class WOSSSoftmax(nn.Module):
    """Softmax over the last axis; in ``"quant"`` mode the WOSS phase-coded softmax.

    ``k_j = floor((max_i z_i - z_j) / ln B + 1/2)`` (spike step, the winner fires at k = 0),
    ``p_j = B**-k_j / sum_i B**-k_i`` with silent neurons (k_j > T-1) contributing 0.
    """

    def __init__(self, base: float, T: int) -> None:
        super().__init__()
        self.base, self.T = float(base), int(T)
        self.mode: Literal["float", "calibrate", "quant"] = "float"

    def extra_repr(self) -> str:
        return f"base={self.base}, T={self.T}"

    def _steps(self, z: Tensor) -> Tensor:
        d = z.max(dim=-1, keepdim=True).values - z
        return round_half_up(d / math.log(self.base)).to(torch.int64)

    def forward(self, z: Tensor) -> Tensor:
        if self.mode != "quant":
            return torch.softmax(z, dim=-1)
        k = self._steps(z)
        p = torch.where(k < self.T, self.base ** (-k.to(z.dtype)), torch.zeros_like(z))
        return p / p.sum(dim=-1, keepdim=True)

    @torch.no_grad()
    def integer(self, z: Tensor) -> Tensor:
        """Spike step k_j per element (int64), -1 where the neuron stays silent."""
        k = self._steps(z)
        return torch.where(k < self.T, k, torch.full_like(k, -1))


def quantizers(model: nn.Module) -> dict[str, nn.Module]:
    """Every quantizer module of ``model`` by qualified name, in forward-definition order."""
    kinds = (LSQQuantizer, PhaseQuantizer, WOSSSoftmax)
    return {n: m for n, m in model.named_modules() if isinstance(m, kinds)}


def set_quantization(model: nn.Module, enabled: bool) -> None:
    """Switch every LSQ quantizer on (QANN) or off (float ANN: ReLU / identity)."""
    for m in model.modules():
        if isinstance(m, LSQQuantizer):
            m.enabled = enabled
        elif isinstance(m, (PhaseQuantizer, WOSSSoftmax)):
            m.mode = "quant" if enabled else "float"
