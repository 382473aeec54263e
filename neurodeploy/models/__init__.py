"""Torch architectures of the three conversion methods (QANNs), their quantizers and checkpoints.

* :mod:`.quant` - LSQ (round-half-up), phase-code and WOSS quantizers;
* :mod:`.csdformer`, :mod:`.spikezip`, :mod:`.spikedattention` - the architectures;
* :mod:`.registry` - ``ARCHITECTURES`` (name -> (config class, model class)) and ``PRESETS``;
* :mod:`.io` - ``save_checkpoint`` / ``load_checkpoint`` (``weights_only=True``).
"""
from .csdformer import CSDformer, CSDformerConfig
from .io import Checkpoint, load_checkpoint, save_checkpoint
from .quant import LSQQuantizer, PhaseQuantizer, WOSSSoftmax, quantizers, set_quantization
from .registry import ARCHITECTURES, PRESETS, arch_of, build_model
from .spikedattention import SpikedAttentionConfig, SpikedTransformer, calibrate
from .spikezip import QViT, SpikeZIPConfig

__all__ = [
    "ARCHITECTURES", "PRESETS", "build_model", "arch_of", "Checkpoint", "load_checkpoint",
    "save_checkpoint", "LSQQuantizer", "PhaseQuantizer", "WOSSSoftmax", "quantizers",
    "set_quantization", "CSDformer", "CSDformerConfig", "QViT", "SpikeZIPConfig",
    "SpikedTransformer", "SpikedAttentionConfig", "calibrate",
]
