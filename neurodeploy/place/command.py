"""``neurodeploy place BUNDLE``: place a bundle on a target, report, plot, store the placement.

Spike activity (``--activity X.npy``) is measured by running the reference simulator on the given
input spikes: the rate of a neuron is its number of non-zero outputs (binary or graded spikes)
divided by samples x steps, in spikes per neuron per step. Without data the placement counts one
spike per neuron per step (fan-out counts).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .. import ir
from ..errors import NeurodeployError
from .partition import Placement, place_command

__all__ = ["measure_activity", "place_bundle", "store_placement"]


def measure_activity(net: ir.Network, data: dict[str, np.ndarray],
                     steps: int | None = None) -> dict[str, np.ndarray]:
    """Per-neuron spike rates (spikes per neuron per step, float64 arrays of each node's shape)
    of every probed node, from a reference run on ``data`` ({input name: (batch, *shape, T)})."""
    from ..sim.reference import simulate
    tr = simulate(net, data, steps)
    out: dict[str, np.ndarray] = {}
    for layer, var in tr.variables():
        if var == "s":
            s = tr[layer, var] != 0                      # (batch, *shape, steps)
            out[layer] = s.mean(axis=(0, s.ndim - 1))
    for node in net.inputs:                               # inputs: rates of the data itself
        d = data[node.name] != 0
        out[node.name] = d.mean(axis=(0, d.ndim - 1))
    return out


def _finite(x: Any) -> Any:
    """NaN / inf floats (e.g. a baseline traffic not computed) as None, for strict JSON."""
    if isinstance(x, float):
        return x if np.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


def store_placement(bundle: str | Path, placement: Placement | dict[str, Any]) -> None:
    """Store ``placement`` (its :meth:`Placement.to_dict` JSON) in the bundle's metadata under
    ``'placement'``, keeping the network, the other metadata and the golden vectors. The write
    is atomic (:func:`~neurodeploy.bundle.write_bundle`)."""
    from ..bundle import read_bundle, read_golden, read_metadata, write_bundle
    d = placement.to_dict() if isinstance(placement, Placement) else dict(placement)
    meta = read_metadata(bundle)
    meta["placement"] = d
    write_bundle(read_bundle(bundle), bundle, metadata=meta, golden=read_golden(bundle))


def place_bundle(bundle: str, target: str = "loihi2", chips: int | None = None,
                 activity: str | None = None, as_json: bool = False, plot: str | None = None,
                 write: bool = False, seed: int = 0,
                 net: ir.Network | None = None) -> tuple[str, dict[str, Any]]:
    """Place the network of ``bundle``; returns (printed text, placement dict). ``activity``: an
    input .npy/.npz run through the reference simulator for spike rates. ``plot``: write the
    per-core utilisation heatmap (PNG). ``write``: store the placement in the bundle."""
    if net is None:
        from ..bundle import read_bundle
        net = read_bundle(bundle)
    rates = None
    if activity is not None:
        from ..cli import load_input
        rates = measure_activity(net, load_input(activity, net))
    if chips is not None and chips < 1:
        raise NeurodeployError("must be at least 1", field="--chips", value=chips)
    text, d = place_command(net, target, chips=chips, activity=rates, as_json=as_json, seed=seed)
    d = _finite(d)
    d["activity"] = "measured (reference simulator)" if rates is not None else "fan-out counts"
    extra = []
    if plot:
        try:
            Placement.from_dict(d).plot(plot)
        except OSError as exc:
            raise NeurodeployError(f"cannot write the plot ({exc.strerror or exc})", file=plot,
                                   field="--plot") from None
        extra.append(f"plot written to {plot}")
    if write:
        store_placement(bundle, d)
        extra.append(f"placement stored in {bundle} (metadata 'placement')")
    if as_json:
        return json.dumps(d, indent=1), d
    text += f"\nspike activity: {d['activity']}"
    return "\n".join([text, *extra]), d
