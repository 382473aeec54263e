"""SpikeZIP-TF QViT (spec/algorithms.md section 2): a ViT with ReLU MLP, LayerNorm and softmax.

Quantizers sit where SpikeZIP-TF's ``myquan_replace`` / ``QAttention`` put them (spec 2.1);
``sym`` = :class:`LSQQuantizer` kind ``"sym"`` (integers ``[-L/2, L/2-1]``), ``uns`` = kind
``"unsigned"`` (``[0, L-1]``):

* patch embedding ``Conv2d(kernel = stride = patch, bias)`` -> ``embed_quant`` (sym); then the
  class token is prepended and the position embedding added (both injected at t = 0 in the SNN);
* block: ``x = x + Attn(norm1_quant(LN1(x)))``; ``x = x + MLP(norm2_quant(LN2(x)))`` (sym);
* attention: ``qkv`` linear (bias) -> ``q_quant, k_quant, v_quant`` (sym); ``q = q * scale``
  (``scale = 1/sqrt(d_head)``, applied to the quantized q); ``A = attn_quant(softmax(q k^T))``
  (uns); ``o = after_attn_quant(A v)`` (sym); ``proj_quant(proj(o))`` (sym);
* MLP: ``fc1`` -> ``act_quant`` (uns, replaces the ReLU) -> ``fc2`` -> ``fc2_quant`` (sym);
* head: ``final_quant(LN(x))`` (sym) -> class token (or token mean) -> ``Linear``.

LayerNorm and softmax are kept: they deploy as host operators (Spike-LN / Spike-Softmax), never
on neurocores. With quantizers disabled the model is the float ReLU ViT.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from .common import ConfigBase
from .quant import LSQQuantizer

__all__ = ["SpikeZIPConfig", "QViT", "QAttention", "QMlp"]


@dataclasses.dataclass(frozen=True)
class SpikeZIPConfig(ConfigBase):
    """QViT hyper-parameters; ``levels`` = L (even), the SNN runs T = 2L steps (spec 2.4)."""

    input_shape: tuple[int, int, int] = (3, 32, 32)
    num_classes: int = 10
    patch: tuple[int, int] = (4, 4)
    patch_kernel: tuple[int, int] | None = None
    embed_dim: int = 384
    depth: int = 12
    heads: int = 6
    mlp_ratio: float = 4.0
    levels: int = 16
    pool: str = "cls"

    def __post_init__(self) -> None:
        c, h, w = self.input_shape
        if h % self.patch[0] or w % self.patch[1]:
            raise ValueError(f"input {self.input_shape} is not divisible into {self.patch} patches")
        if any((k - p) % 2 or k < p for k, p in zip(self.kernel, self.patch)):
            raise ValueError("patch_kernel - patch must be even and >= 0 (symmetric padding)")
        if self.embed_dim % self.heads:
            raise ValueError("embed_dim must be divisible by heads")
        if self.levels < 2 or self.levels % 2:
            raise ValueError("levels must be even and >= 2 (symmetric range [-L/2, L/2-1])")
        if self.pool not in ("cls", "mean"):
            raise ValueError("pool must be 'cls' or 'mean'")

    @property
    def kernel(self) -> tuple[int, int]:
        """Patch-embedding conv kernel (= ``patch`` unless ``patch_kernel`` overlaps patches)."""
        return self.patch_kernel or self.patch

    @property
    def padding(self) -> tuple[int, int]:
        """Zero padding of the patch-embedding conv: ``(kernel - patch) / 2`` per axis."""
        return ((self.kernel[0] - self.patch[0]) // 2, (self.kernel[1] - self.patch[1]) // 2)

    @property
    def patches(self) -> int:
        return (self.input_shape[1] // self.patch[0]) * (self.input_shape[2] // self.patch[1])

    @property
    def hidden_dim(self) -> int:
        return int(round(self.embed_dim * self.mlp_ratio))


class QAttention(nn.Module):
    """SpikeZIP-TF ``QAttention`` (softmax kept)."""

    def __init__(self, dim: int, heads: int, levels: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_quant, self.k_quant, self.v_quant = (LSQQuantizer(levels, "sym") for _ in "qkv")
        self.attn_quant = LSQQuantizer(levels, "unsigned")
        self.after_attn_quant = LSQQuantizer(levels, "sym")
        self.proj = nn.Linear(dim, dim)
        self.proj_quant = LSQQuantizer(levels, "sym")

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q = self.q_quant(q) * self.scale
        k, v = self.k_quant(k), self.v_quant(v)
        a = self.attn_quant(torch.softmax(q @ k.transpose(-2, -1), dim=-1))
        o = self.after_attn_quant((a @ v).transpose(1, 2).reshape(b, n, d))
        return self.proj_quant(self.proj(o))


class QMlp(nn.Module):
    """``fc1 -> act_quant (unsigned, the ReLU) -> fc2 -> fc2_quant (sym)``."""

    def __init__(self, dim: int, hidden: int, levels: int) -> None:
        super().__init__()
        self.fc1, self.act_quant = nn.Linear(dim, hidden), LSQQuantizer(levels, "unsigned")
        self.fc2, self.fc2_quant = nn.Linear(hidden, dim), LSQQuantizer(levels, "sym")

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2_quant(self.fc2(self.act_quant(self.fc1(x))))


class QBlock(nn.Module):
    def __init__(self, cfg: SpikeZIPConfig) -> None:
        super().__init__()
        d, lv = cfg.embed_dim, cfg.levels
        self.norm1, self.norm1_quant = nn.LayerNorm(d), LSQQuantizer(lv, "sym")
        self.attn = QAttention(d, cfg.heads, lv)
        self.norm2, self.norm2_quant = nn.LayerNorm(d), LSQQuantizer(lv, "sym")
        self.mlp = QMlp(d, cfg.hidden_dim, lv)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1_quant(self.norm1(x)))
        return x + self.mlp(self.norm2_quant(self.norm2(x)))


class QViT(nn.Module):
    """SpikeZIP-TF QViT; input ``(B, C, H, W)`` float, output logits ``(B, num_classes)``."""

    def __init__(self, cfg: SpikeZIPConfig) -> None:
        super().__init__()
        self.config = cfg
        d = cfg.embed_dim
        self.patch_embed = nn.Conv2d(cfg.input_shape[0], d, cfg.kernel, cfg.patch, cfg.padding)
        self.embed_quant = LSQQuantizer(cfg.levels, "sym")
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.randn(1, cfg.patches + 1, d) * 0.02)
        self.blocks = nn.ModuleList(QBlock(cfg) for _ in range(cfg.depth))
        self.norm, self.final_quant = nn.LayerNorm(d), LSQQuantizer(cfg.levels, "sym")
        self.head = nn.Linear(d, cfg.num_classes)

    def forward(self, img: Tensor) -> Tensor:
        x = self.embed_quant(self.patch_embed(img).flatten(2).transpose(1, 2))
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        x = self.final_quant(self.norm(x))
        return self.head(x[:, 0] if self.config.pool == "cls" else x[:, 1:].mean(dim=1))
