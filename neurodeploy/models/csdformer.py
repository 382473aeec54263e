"""CSDformer tailored transformer (spec/algorithms.md section 1), as a QANN for conversion.

Structure (every ``Q`` is an :class:`LSQQuantizer` of kind ``"csd"``: integers ``[0, L]``, L = T):

* Tokenizer (Spikingformer order): ``conv0 -> BN0``, then for i >= 1
  ``Q_i -> [max-pool] -> conv_i -> BN_i``; 2-D convs with odd kernels and "same" padding, no bias
  (BN follows); max-pool has kernel = stride = ``pool`` (non-overlapping, no padding) so that
  TDEC-MP windows do not overlap. Output ``(B, C, H', W')`` -> tokens ``(B, N = H'W', D)``.
* Block (residual stream = BN outputs, i.e. currents; each consumer starts with a quantizer):
  ``x = x + TSA(x)``, ``x = x + TMLP(x)``.

  - TSA: ``h = Q_in(x)``; ``q, k, v = Q(BN(h W))`` (linear without bias, BN per feature);
    per head ``A = Q_attn(ReLU(q k^T * scale) / N)`` (NReLU, ``scale = 1/sqrt(d_head)``,
    N = token count; no softmax); ``o = Q_out(A v)``; ``TSA = BN(o W_proj)``.
  - TMLP (pre-activation ``ReLU -> Linear -> BN``): ``BN2(W2 Q2(BN1(W1 Q1(x))))``.
* Head: ``Q_final(x) -> mean over tokens (GAP) -> Linear(D, classes)`` (bias).

With quantizers disabled (``set_quantization(model, False)``) every ``Q`` is a ReLU: the float ANN.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from .common import ConfigBase, TokenBatchNorm
from .quant import LSQQuantizer

__all__ = ["CSDformerConfig", "CSDformer", "TailoredAttention", "TailoredMLP", "Tokenizer",
           "CSDFORMER_PRESETS"]


@dataclasses.dataclass(frozen=True)
class CSDformerConfig(ConfigBase):
    """CSDformer hyper-parameters.

    ``input_shape`` = (channels, height, width); ``tokenizer_channels[i]`` is conv i's output
    width (the last must equal ``embed_dim``); ``tokenizer_pool[i]`` puts a max-pool before conv i
    (entry 0 must be False); ``levels`` = L = T (quantizer range [0, L]).
    """

    input_shape: tuple[int, int, int] = (3, 32, 32)
    num_classes: int = 10
    embed_dim: int = 384
    depth: int = 4
    heads: int = 12
    mlp_ratio: float = 4.0
    tokenizer_channels: tuple[int, ...] = (48, 96, 192, 384, 384)
    tokenizer_pool: tuple[bool, ...] = (False, False, False, True, True)
    kernel: tuple[int, int] = (3, 3)
    pool: tuple[int, int] = (2, 2)
    levels: int = 4

    def __post_init__(self) -> None:
        if len(self.input_shape) != 3:
            raise ValueError("input_shape must be (channels, height, width)")
        if len(self.tokenizer_channels) != len(self.tokenizer_pool) or not self.tokenizer_channels:
            raise ValueError("tokenizer_channels and tokenizer_pool need the same non-zero length")
        if self.tokenizer_pool[0]:
            raise ValueError("tokenizer_pool[0] must be False (pooling acts on quantized outputs)")
        if self.tokenizer_channels[-1] != self.embed_dim:
            raise ValueError("the last tokenizer channel count must equal embed_dim")
        if self.embed_dim % self.heads:
            raise ValueError("embed_dim must be divisible by heads")
        if any(k % 2 == 0 for k in self.kernel):
            raise ValueError("kernel sizes must be odd ('same' padding)")
        if self.levels < 1:
            raise ValueError("levels must be >= 1")
        h, w = self.grid
        if h < 1 or w < 1:
            raise ValueError(f"input {self.input_shape} is too small for the pooling")

    @property
    def grid(self) -> tuple[int, int]:
        """Token grid (H', W') after the tokenizer's max-pools."""
        h, w = self.input_shape[1:]
        for p in self.tokenizer_pool:
            if p:
                h, w = h // self.pool[0], w // self.pool[1]
        return h, w

    @property
    def tokens(self) -> int:
        """Sequence length N (the NReLU divisor)."""
        return self.grid[0] * self.grid[1]

    @property
    def hidden_dim(self) -> int:
        return int(round(self.embed_dim * self.mlp_ratio))


def _q(levels: int) -> LSQQuantizer:
    return LSQQuantizer(levels, "csd")


class Tokenizer(nn.Module):
    """Convolutional tokenizer: ``conv0, bn0, (quant_i, [pool_i], conv_i, bn_i)...``."""

    def __init__(self, cfg: CSDformerConfig) -> None:
        super().__init__()
        cin = cfg.input_shape[0]
        pad = (cfg.kernel[0] // 2, cfg.kernel[1] // 2)
        self.convs, self.bns = nn.ModuleList(), nn.ModuleList()
        self.quants, self.pools = nn.ModuleList(), nn.ModuleList()
        for i, (cout, pool) in enumerate(zip(cfg.tokenizer_channels, cfg.tokenizer_pool)):
            if i > 0:
                self.quants.append(_q(cfg.levels))
                self.pools.append(nn.MaxPool2d(cfg.pool, cfg.pool) if pool else nn.Identity())
            self.convs.append(nn.Conv2d(cin, cout, cfg.kernel, padding=pad, bias=False))
            self.bns.append(nn.BatchNorm2d(cout))
            cin = cout

    def forward(self, img: Tensor) -> Tensor:
        x = self.bns[0](self.convs[0](img))
        for quant, pool, conv, bn in zip(self.quants, self.pools, self.convs[1:], self.bns[1:]):
            x = bn(conv(pool(quant(x))))
        return x.flatten(2).transpose(1, 2)  # (B, N, D), row-major over the token grid


class TailoredAttention(nn.Module):
    """TSA: quantized Q/K/V, NReLU(Q K^T / sqrt(d)) quantized, times V, quantized, proj + BN.

    Constants a converter absorbs into thresholds: ``scale`` (1/sqrt(d_head)) and ``seq_len`` (N).
    """

    def __init__(self, dim: int, heads: int, seq_len: int, levels: int) -> None:
        super().__init__()
        self.heads, self.seq_len = heads, seq_len
        self.scale = (dim // heads) ** -0.5
        self.in_quant = _q(levels)
        for n in ("q", "k", "v"):
            setattr(self, f"{n}_linear", nn.Linear(dim, dim, bias=False))
            setattr(self, f"{n}_bn", TokenBatchNorm(dim))
            setattr(self, f"{n}_quant", _q(levels))
        self.attn_quant = _q(levels)
        self.out_quant = _q(levels)
        self.proj_linear = nn.Linear(dim, dim, bias=False)
        self.proj_bn = TokenBatchNorm(dim)

    def _heads(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        return x.reshape(b, n, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x: Tensor) -> Tensor:
        h = self.in_quant(x)
        q = self._heads(self.q_quant(self.q_bn(self.q_linear(h))))
        k = self._heads(self.k_quant(self.k_bn(self.k_linear(h))))
        v = self._heads(self.v_quant(self.v_bn(self.v_linear(h))))
        a = self.attn_quant(torch.relu(q @ k.transpose(-2, -1) * self.scale) / self.seq_len)
        o = (a @ v).transpose(1, 2).flatten(2)
        return self.proj_bn(self.proj_linear(self.out_quant(o)))


class TailoredMLP(nn.Module):
    """Pre-activation MLP: ``Q1 -> fc1 -> BN1 -> Q2 -> fc2 -> BN2`` (linears without bias)."""

    def __init__(self, dim: int, hidden: int, levels: int) -> None:
        super().__init__()
        self.quant1, self.fc1, self.bn1 = _q(levels), nn.Linear(dim, hidden, False), \
            TokenBatchNorm(hidden)
        self.quant2, self.fc2, self.bn2 = _q(levels), nn.Linear(hidden, dim, False), \
            TokenBatchNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn2(self.fc2(self.quant2(self.bn1(self.fc1(self.quant1(x))))))


class CSDBlock(nn.Module):
    def __init__(self, cfg: CSDformerConfig) -> None:
        super().__init__()
        self.attn = TailoredAttention(cfg.embed_dim, cfg.heads, cfg.tokens, cfg.levels)
        self.mlp = TailoredMLP(cfg.embed_dim, cfg.hidden_dim, cfg.levels)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)


class CSDformer(nn.Module):
    """CSDformer QANN; input ``(B, C, H, W)`` float, output logits ``(B, num_classes)``."""

    def __init__(self, cfg: CSDformerConfig) -> None:
        super().__init__()
        self.config = cfg
        self.tokenizer = Tokenizer(cfg)
        self.blocks = nn.ModuleList(CSDBlock(cfg) for _ in range(cfg.depth))
        self.final_quant = _q(cfg.levels)
        self.head = nn.Linear(cfg.embed_dim, cfg.num_classes)

    def forward(self, img: Tensor) -> Tensor:
        x = self.tokenizer(img)
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.final_quant(x).mean(dim=1))


def _imagenet(dim: int, heads: int) -> CSDformerConfig:
    return CSDformerConfig(input_shape=(3, 224, 224), num_classes=1000, embed_dim=dim, depth=8,
                           heads=heads, tokenizer_channels=(dim // 8, dim // 4, dim // 2, dim, dim),
                           tokenizer_pool=(False, True, True, True, True))


#: Full-size configurations of the paper (spec 4.1), random weights: placement/performance work.
CSDFORMER_PRESETS: dict[str, CSDformerConfig] = {
    "csdformer-8-384": _imagenet(384, 12),
    "csdformer-8-512": _imagenet(512, 8),
    "csdformer-8-768": _imagenet(768, 12),
    "csdformer-4-384": CSDformerConfig(),
}

#: Parameter counts printed in the paper (spec 4.1), in millions.
PAPER_PARAMS_M = {"csdformer-8-384": 16.81, "csdformer-8-512": 29.68, "csdformer-8-768": 66.34,
                  "csdformer-4-384": 9.32}
