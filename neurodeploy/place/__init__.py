"""Core placement onto Loihi targets: resource model, design-rule check, packing partitioner and
traffic-aware multi-chip placement. See :func:`place` and :func:`place_command`."""
from . import opcosts  # noqa: E402,F401  (registers the operators' cost models)
from .drc import DesignRuleError, Violation, check, require_placeable
from .partition import Placement, lower_bound, pack, place, place_command
from .resources import (
    GENERIC_NOTE,
    HOST_NOTE,
    FanIn,
    HostOp,
    Layer,
    Neurons,
    NodeContext,
    Source,
    Synapse,
    Wiring,
    cost_model,
    finalize_layers,
    layers_from_network,
    lookup_cost_model,
    slice_demand,
)
from .slicing import Slicing, halving_pieces, min_slicing
from .split import Gather, Partitioned, merge_traces, partition_network  # noqa: E402

__all__ = [
    "DesignRuleError", "Violation", "check", "require_placeable", "Placement", "lower_bound",
    "pack", "place", "place_command", "GENERIC_NOTE", "HOST_NOTE", "FanIn", "HostOp", "Layer",
    "Neurons", "NodeContext", "Source", "Synapse", "Wiring", "cost_model", "finalize_layers",
    "layers_from_network", "lookup_cost_model", "slice_demand", "Slicing", "halving_pieces",
    "min_slicing", "Gather", "Partitioned", "merge_traces", "partition_network",
]
