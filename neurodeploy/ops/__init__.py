"""Spiking-transformer operators of CSDformer, SpikeZIP-TF and SpikedAttention as integer IR
nodes with reference semantics and Lava builders. Importing this package registers them (IR
node types, reference kernels, Lava builders); Lava itself is imported only when a network is
built."""
from . import csdformer, spikedattention, spikezip  # noqa: F401
from .common import OpNode, SpikeCounter

__all__ = ["OpNode", "SpikeCounter", "csdformer", "spikezip", "spikedattention"]
