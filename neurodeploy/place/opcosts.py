"""Cost models of the spiking-transformer operators (:mod:`neurodeploy.ops`) for the placement.

Neuron kinds select the target's ``[neuron_units]`` (DIF/IF: ``dif``; ST-BIF+: ``st_bif``; TDEC,
SESA and phase products, spike counters, traces: ``tdec``; WOSS: ``woss``, whose slices hold whole
softmax rows). Their direct (non-synaptic) sources are identity fan-ins (one input axon and one
synapse per neuron, the generic model of :mod:`.resources`). Operators flagged ``host = True``
(Spike-Softmax, Spike-LayerNorm) are host operators - not on neurocores.
"""
from __future__ import annotations

from .. import ir
from ..convert.nodes import Relay, TokenDense
from ..ops import csdformer as csd
from ..ops import spikedattention as sa
from ..ops import spikezip as sz
from .resources import FanIn, HostOp, Neurons, NodeContext, NodeCost, Synapse, cost_model

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


@cost_model(TokenDense)
def _token_dense(node: TokenDense, ctx: NodeContext) -> NodeCost:
    """Per-token linear: every output neuron reads D_in inputs of its own token. Costed as a
    sparse fan-in (indices stored), an upper bound of the shared-weight 1x1-conv layout the chip
    could use; a slice of c neurons reads about c * D_in / D_out input axons."""
    d_out, d_in = (int(v) for v in node.weight.shape)
    return Synapse(FanIn("", "sparse", 0, weight_bits=int(node.num_weight_bits),
                         syn_per_neuron=float(d_in), axons_coef=(0.0, d_in / d_out, 0.0, 0.0)))


@cost_model(Relay)
def _relay(node: Relay, ctx: NodeContext) -> NodeCost:
    return Neurons("cuba", note="delay line (Relay): one compartment per element; on the chip an "
                                "axonal or synaptic delay")
