"""SpikedAttention ANN (spec/algorithms.md section 3): a BatchNorm + ReLU transformer.

No LayerNorm and no GELU (the method cannot convert them; spec 3.1). Softmax is kept in the ANN;
in the SNN it becomes WOSS. Every neuron slot is a :class:`PhaseQuantizer` (one-spike phase code,
base B, window T) whose scale is calibrated by :func:`calibrate` (max |x|, no retraining):

* ``input_slot`` (unipolar) on the image (pixels in [0, 1]);
* ``patch_embed`` Conv2d (kernel = stride = patch, bias) -> ``embed_bn`` (BatchNorm2d) -> + pos
  embedding (a constant bias) -> ``embed_slot``;
* block: ``h = norm1_slot(BN1(x))``; ``q, k, v = q_slot/k_slot/v_slot(Linear(h))`` (bias);
  ``z = qk_slot(q k^T * scale)``; ``A = softmax(z)`` (:class:`WOSSSoftmax`);
  ``o = av_slot(A v)``; ``x = x + attn_slot(proj(o))``;
  ``h = norm2_slot(BN2(x))``; ``x = x + fc2(mlp_bn(mlp_slot(ReLU(fc1(h)))))``
  (``Batch_Mlp`` order fc1 -> ReLU -> BN -> fc2; ``mlp_slot`` is unipolar, the BN folds into fc2);
* head: ``final_slot(BN(x))`` -> mean over tokens -> ``Linear``.

Slots are bipolar (``signed=True``) except ``input_slot`` and ``mlp_slot`` (after a ReLU).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import torch
from torch import Tensor, nn

from .common import ConfigBase, TokenBatchNorm
from .quant import PhaseQuantizer, WOSSSoftmax

__all__ = ["SpikedAttentionConfig", "SpikedTransformer", "calibrate"]


@dataclasses.dataclass(frozen=True)
class SpikedAttentionConfig(ConfigBase):
    """Hyper-parameters; ``base`` = B > 1, ``timesteps`` = T (per-stage window, spec 3.3)."""

    input_shape: tuple[int, int, int] = (3, 32, 32)
    num_classes: int = 10
    patch: tuple[int, int] = (4, 4)
    patch_kernel: tuple[int, int] | None = None
    embed_dim: int = 192
    depth: int = 6
    heads: int = 3
    mlp_ratio: float = 4.0
    base: float = 1.4
    timesteps: int = 16

    def __post_init__(self) -> None:
        c, h, w = self.input_shape
        if h % self.patch[0] or w % self.patch[1]:
            raise ValueError(f"input {self.input_shape} is not divisible into {self.patch} patches")
        if any((k - p) % 2 or k < p for k, p in zip(self.kernel, self.patch)):
            raise ValueError("patch_kernel - patch must be even and >= 0 (symmetric padding)")
        if self.embed_dim % self.heads:
            raise ValueError("embed_dim must be divisible by heads")
        if not self.base > 1 or self.timesteps < 1:
            raise ValueError("base must be > 1 and timesteps >= 1")

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


class SpikedAttentionBlock(nn.Module):
    def __init__(self, cfg: SpikedAttentionConfig) -> None:
        super().__init__()
        d, b, t = cfg.embed_dim, cfg.base, cfg.timesteps
        self.heads, self.scale = cfg.heads, (d // cfg.heads) ** -0.5
        self.norm1, self.norm1_slot = TokenBatchNorm(d), PhaseQuantizer(b, t)
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.q_slot, self.k_slot, self.v_slot = (PhaseQuantizer(b, t) for _ in "qkv")
        self.qk_slot, self.softmax = PhaseQuantizer(b, t), WOSSSoftmax(b, t)
        self.av_slot = PhaseQuantizer(b, t)
        self.proj, self.attn_slot = nn.Linear(d, d), PhaseQuantizer(b, t)
        self.norm2, self.norm2_slot = TokenBatchNorm(d), PhaseQuantizer(b, t)
        self.fc1, self.mlp_slot = nn.Linear(d, cfg.hidden_dim), PhaseQuantizer(b, t, signed=False)
        self.mlp_bn, self.fc2 = TokenBatchNorm(cfg.hidden_dim), nn.Linear(cfg.hidden_dim, d)

    def _heads(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        return x.reshape(b, n, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm1_slot(self.norm1(x))
        q = self._heads(self.q_slot(self.q(h)))
        k = self._heads(self.k_slot(self.k(h)))
        v = self._heads(self.v_slot(self.v(h)))
        a = self.softmax(self.qk_slot(q @ k.transpose(-2, -1) * self.scale))
        o = self.av_slot(a @ v).transpose(1, 2).flatten(2)
        x = x + self.attn_slot(self.proj(o))
        h = self.norm2_slot(self.norm2(x))
        return x + self.fc2(self.mlp_bn(self.mlp_slot(torch.relu(self.fc1(h)))))


class SpikedTransformer(nn.Module):
    """SpikedAttention ANN; input ``(B, C, H, W)`` in [0, 1], output logits ``(B, classes)``."""

    def __init__(self, cfg: SpikedAttentionConfig) -> None:
        super().__init__()
        self.config = cfg
        d, b, t = cfg.embed_dim, cfg.base, cfg.timesteps
        self.input_slot = PhaseQuantizer(b, t, signed=False)
        self.patch_embed = nn.Conv2d(cfg.input_shape[0], d, cfg.kernel, cfg.patch, cfg.padding)
        self.embed_bn = nn.BatchNorm2d(d)
        self.pos_embed = nn.Parameter(torch.randn(1, cfg.patches, d) * 0.02)
        self.embed_slot = PhaseQuantizer(b, t)
        self.blocks = nn.ModuleList(SpikedAttentionBlock(cfg) for _ in range(cfg.depth))
        self.norm, self.final_slot = TokenBatchNorm(d), PhaseQuantizer(b, t)
        self.head = nn.Linear(d, cfg.num_classes)

    def forward(self, img: Tensor) -> Tensor:
        x = self.embed_bn(self.patch_embed(self.input_slot(img)))
        x = self.embed_slot(x.flatten(2).transpose(1, 2) + self.pos_embed)
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.final_slot(self.norm(x)).mean(dim=1))


@torch.no_grad()
def calibrate(model: nn.Module, loader: Iterable[Tensor | tuple[Tensor, ...]]) -> None:
    """Max-activation calibration (spec 3.1), no retraining.

    Runs the float ANN (eval mode, BN running statistics) over ``loader`` (tensors of images or
    ``(images, labels, ...)`` tuples) and sets every :class:`PhaseQuantizer`'s ``scale`` to the
    largest |activation| it saw (one scalar per neuron slot). Afterwards the model is left in
    ``"quant"`` mode: its forward is the phase-coded QANN.
    """
    slots = [m for m in model.modules() if isinstance(m, (PhaseQuantizer, WOSSSoftmax))]
    for m in slots:
        m.mode = "calibrate"
        if isinstance(m, PhaseQuantizer):
            m.scale.zero_()
    model.eval()
    for batch in loader:
        model(batch[0] if isinstance(batch, (tuple, list)) else batch)
    for m in slots:
        m.mode = "quant"
