"""Architecture registry: name -> (config class, model class), and named presets."""
from __future__ import annotations

from torch import nn

from .common import ConfigBase
from .csdformer import CSDFORMER_PRESETS, CSDformer, CSDformerConfig
from .spikedattention import SpikedAttentionConfig, SpikedTransformer
from .spikezip import QViT, SpikeZIPConfig

__all__ = ["ARCHITECTURES", "PRESETS", "build_model", "arch_of"]

#: Architecture name -> (config dataclass, model class). The name is stored in checkpoints.
ARCHITECTURES: dict[str, tuple[type[ConfigBase], type[nn.Module]]] = {
    "csdformer": (CSDformerConfig, CSDformer),
    "spikezip": (SpikeZIPConfig, QViT),
    "spikedattention": (SpikedAttentionConfig, SpikedTransformer),
}

#: Named full-size presets: preset name -> (architecture name, config).
PRESETS: dict[str, tuple[str, ConfigBase]] = {
    name: ("csdformer", cfg) for name, cfg in CSDFORMER_PRESETS.items()}


def build_model(arch: str, config: ConfigBase | None = None) -> nn.Module:
    """Instantiate architecture ``arch`` (random weights) with ``config`` (default config if None).

    ``arch`` may also be a preset name (then ``config`` must be None).
    """
    if arch in PRESETS and config is None:
        arch, config = PRESETS[arch]
    if arch not in ARCHITECTURES:
        raise KeyError(f"unknown architecture {arch!r}; known: {sorted(ARCHITECTURES)}"
                       f" and presets {sorted(PRESETS)}")
    cfg_cls, model_cls = ARCHITECTURES[arch]
    return model_cls(config if config is not None else cfg_cls())


def arch_of(model: nn.Module) -> str:
    """The registry name of a model instance."""
    for name, (_, cls) in ARCHITECTURES.items():
        if type(model) is cls:
            return name
    raise KeyError(f"{type(model).__name__} is not a registered architecture")
