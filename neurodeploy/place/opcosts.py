"""Cost models of the spiking-transformer operators (:mod:`neurodeploy.ops`) for the placement.

Neuron kinds select the target's ``[neuron_units]`` (DIF/IF: ``dif``; ST-BIF+: ``st_bif``; TDEC,
SESA and phase products, spike counters, traces: ``tdec``; WOSS: ``woss``, whose slices hold whole
softmax rows). Their direct (non-synaptic) sources are identity fan-ins (one input axon and one
synapse per neuron, the generic model of :mod:`.resources`). Operators flagged ``host = True``
(Spike-Softmax, Spike-LayerNorm) are host operators - not on neurocores.
"""
from __future__ import annotations

from .. import ir
from ..ops import csdformer as csd
from ..ops import spikedattention as sa
from ..ops import spikezip as sz
from .resources import HostOp, Neurons, NodeContext, NodeCost, cost_model

__all__: list[str] = []


@cost_model(csd.Dif, csd.IfNeuron)
def _dif(node: ir.Node, ctx: NodeContext) -> NodeCost:
    return Neurons("dif")


@cost_model(sz.StBif)
def _st_bif(node: ir.Node, ctx: NodeContext) -> NodeCost:
    return Neurons("st_bif")


@cost_model(csd.SpikeCounter, csd.TdecMatmul, csd.TdecMaxPool, csd.GlobalSumPool, csd.Readout,
            sa.PhaseNeuron, sa.PhaseTrace, sa.PhaseMatmul)
def _tdec(node: ir.Node, ctx: NodeContext) -> NodeCost:
    return Neurons("tdec")


@cost_model(sa.WossSoftmax)
def _woss(node: ir.Node, ctx: NodeContext) -> NodeCost:
    return Neurons("woss", align=int(node.n))


@cost_model(sz.SpikeSoftmax, sz.SpikeLayerNorm)
def _host(node: ir.Node, ctx: NodeContext) -> NodeCost:
    return HostOp()
