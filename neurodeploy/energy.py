"""Operation counts and ESTIMATED energy of one inference (spec/loihi-targets.md section 3).

Counts (per inference = mean over the batch; from the reference simulator's integer traces):

* ``synops`` - synaptic operations: every non-zero message (binary or graded spike) times the
  synapses it drives. Dense: ``N_out`` per input (a dense synapse list is processed whole, zero
  weights included); Conv: per input position the (output position, tap) pairs reaching it times
  ``C_out / groups``; SumPool: the windows covering the input; a source read directly by a neuron
  group or operator (no synapse node): 1 per element (an identity synapse); the spike x spike
  products: ``n`` per element of the left operand ports (a, C_a / T_a), ``m`` per element of the
  right ones (b, C_b / T_b); TDEC max-pool: the windows covering the input. Synapse operations
  are charged to the neuron group that reads the synapse (the synapses live on its cores).
* ``neuron_updates`` - neurons x steps of every neuron group on neurocores; ``active_updates``
  those neuron-steps in which the output is non-zero or any state variable changed (the rest are
  *inactive* updates, Davies 2018's cheaper case).
* ``spikes`` - non-zero outputs sent (graded messages count as one each); Inputs included.
* ``messages`` - spikes x destination cores (without a placement: one per consumer layer; a
  network output counts one message to the host); ``hop_messages`` = messages x mean hops, from a
  placement (:class:`neurodeploy.place.Placement`, a mapping layer -> mean hops, or a callable).
* ``host_ops`` - elements processed by host operators (not on neurocores, no neurocore energy).
* ``ann_macs`` - multiply-accumulates of the float ANN the network came from, from the IR shapes:
  Dense ``N_in * N_out``; Conv ``outputs * C_in/groups * kH * kW``; SumPool ``outputs * kH * kW``;
  products ``G * M * K * N``. Host operators (softmax, LayerNorm) are not counted.

Energy (every figure is ESTIMATED; "measured" is reserved for numbers read from hardware):

* ``loihi``: ``synops * synop_pj + active * neuron_update_active_pj + inactive *
  neuron_update_inactive_pj + messages * tile_spike_pj + hop_messages * (hop_ew_pj + hop_ns_pj)/2``
  (hop direction unknown: the mean of the two). Loihi 1 figures of Davies et al. 2018 (Table 2)
  used as upper bounds for Loihi 2 (no primary Loihi 2 per-op table exists). Static power (0.23 -
  0.28 W per chip measured on Oheo Gulch) is not included: it needs the wall-clock time.
* ``seed_papers_45nm``: SNN ``synops * horowitz_ac_pj`` (0.9 pJ) against ANN ``ann_macs *
  horowitz_mac_pj`` (4.6 pJ), the accounting of the SpikeZIP-TF / SpikedAttention tables.

Constants come from the target file's ``[energy]`` table when it has them (targets/loihi2.toml);
:data:`DEFAULT_CONSTANTS` (same values, with their sources) fill the gaps.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from . import ir
from .errors import NeurodeployError
from .sim.traces import Traces
from .targets import Target, load_target

__all__ = ["DEFAULT_CONSTANTS", "LayerCounts", "EnergyReport", "count_operations",
           "estimate_energy", "hops_from_placement", "ann_macs", "energy_constants"]

_DAVIES = "Davies et al. 2018, IEEE Micro, Table 2 (Loihi 1, 0.75 V)"
_HOROWITZ = "Horowitz, ISSCC 2014 (45 nm, 0.9 V)"
#: name -> (value in pJ, source). Used where the target file has no such key.
DEFAULT_CONSTANTS: dict[str, tuple[float, str]] = {
    "synop_pj": (23.6, f"{_DAVIES}: energy per synaptic spike op (min)"),
    "neuron_update_active_pj": (81.0, f"{_DAVIES}: neuron update, active"),
    "neuron_update_inactive_pj": (52.0, f"{_DAVIES}: neuron update, inactive"),
    "tile_spike_pj": (1.7, f"{_DAVIES}: within-tile spike energy"),
    "hop_ew_pj": (3.0, f"{_DAVIES}: energy per tile hop, east-west"),
    "hop_ns_pj": (4.0, f"{_DAVIES}: energy per tile hop, north-south"),
    "horowitz_ac_pj": (0.9, f"{_HOROWITZ}: 32-bit float add (the papers' E_AC)"),
    "horowitz_mac_pj": (4.6, f"{_HOROWITZ}: 3.7 pJ mult + 0.9 pJ add (the papers' E_MAC)"),
}

Hops = Mapping[str, float] | Callable[[str], float] | Any


@dataclass
class LayerCounts:
    """Counts of one layer (a neuron group, operator or input with its fan-in), per inference.
    ``where``: 'neurocore', 'host' (host operator) or 'input' (spikes injected by the host)."""
    name: str
    op: str
    where: str
    neurons: int
    synops: float = 0.0
    neuron_updates: float = 0.0
    active_updates: float = 0.0
    spikes: float = 0.0
    destinations: float = 0.0
    messages: float = 0.0
    mean_hops: float = 0.0
    hop_messages: float = 0.0
    host_ops: float = 0.0
    ann_macs: int = 0
    energy_pj: float = 0.0

    @property
    def inactive_updates(self) -> float:
        return self.neuron_updates - self.active_updates


@dataclass
class EnergyReport:
    """Counts per layer and in total, and the ESTIMATED energies (see the module docstring)."""
    steps: int
    batch: int
    layers: list[LayerCounts]
    total: LayerCounts
    synaptic_depth: int
    first_output_step: int | None
    energy: dict[str, dict[str, Any]]
    constants: dict[str, dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    kind: str = "estimated"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for la, src in zip(d["layers"] + [d["total"]], self.layers + [self.total]):
            la["inactive_updates"] = src.inactive_updates
        return d

    def layer(self, name: str) -> LayerCounts:
        return next(la for la in self.layers if la.name == name)


# -- constants ---------------------------------------------------------------------------------
def energy_constants(target: Target | str | None = "loihi2") -> dict[str, dict[str, Any]]:
    """``name -> {value (pJ), source}``: the target's ``[energy]`` values, else the defaults."""
    t = None if target is None else load_target(target)
    out = {}
    for key, (value, source) in DEFAULT_CONSTANTS.items():
        if t is not None and isinstance(t.energy.get(key), (int, float)):
            out[key] = {"value": float(t.energy[key]), "unit": "pJ",
                        "source": f"target '{t.name}' [energy] {key} ({source})"}
        else:
            out[key] = {"value": value, "unit": "pJ", "source": source}
    return out


# -- structure: fan-outs, consumers, ANN MACs ------------------------------------------------------
def _is_synapse(n: ir.Node) -> bool:
    """Weighted synapse ops (their output is a current one step later): every delayed node."""
    return bool(n.delayed)


def _synapses_behind(net: ir.Network, name: str) -> list[ir.Node] | None:
    """The synapses whose currents reach a consumer through ``name`` (a synapse, or wiring that
    only rearranges synapse currents); None when ``name`` carries spikes."""
    n = net[name]
    if _is_synapse(n):
        return [n]
    if _is_wiring(n):
        found = [_synapses_behind(net, s) for s in n.sources]
        if all(f is not None for f in found):
            return [x for f in found for x in f]
    return None


def _is_wiring(n: ir.Node) -> bool:
    return isinstance(n, (ir.Flatten, ir.Concat))


def _conv_fanout(in_shape: tuple[int, ...], out_shape: tuple[int, ...], kernel, stride, padding,
                 dilation, per_tap: int) -> np.ndarray:
    """Synapses driven by each input element (C, H, W): (output position, tap) pairs x per_tap."""
    c, h, w = in_shape
    oh, ow = out_shape[1:]
    cnt = np.zeros((h + 2 * padding[0] + dilation[0] * kernel[0],
                    w + 2 * padding[1] + dilation[1] * kernel[1]), np.int64)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            y0, x0 = i * dilation[0], j * dilation[1]
            cnt[y0:y0 + stride[0] * (oh - 1) + 1:stride[0],
                x0:x0 + stride[1] * (ow - 1) + 1:stride[1]] += 1
    cnt = cnt[padding[0]:padding[0] + h, padding[1]:padding[1] + w]
    return np.broadcast_to(cnt * per_tap, (c, h, w))


def _synapse_fanout(n: ir.Node, in_shape, out_shape) -> np.ndarray:
    in_index = getattr(n, "in_index", None)
    if in_index is not None:          # per-token dense: each use of an element drives D_out
        uses = np.bincount(np.asarray(in_index).ravel(), minlength=int(np.prod(in_shape)))
        return (uses * int(n.weight.shape[0])).reshape(in_shape)
    if isinstance(n, ir.Dense):
        return np.full(in_shape, int(n.weight.shape[0]), np.int64)
    if isinstance(n, ir.Conv):
        return _conv_fanout(in_shape, out_shape, n.weight.shape[2:4], n.stride, n.padding,
                            n.dilation, int(n.weight.shape[0]) // n.groups)
    return _conv_fanout(in_shape, out_shape, n.kernel, n.stride, n.padding, (1, 1), 1)


def _port_fanout(n: ir.Node, port: int, in_shape) -> np.ndarray | int:
    """Operations each element arriving on ``port`` of a (non-synapse) node drives."""
    from .ops.common import _MatmulBase
    from .ops.csdformer import TdecMaxPool
    if isinstance(n, _MatmulBase) and len(n.ports) > 1:
        return int(n.n) if port % 2 == 0 else int(n.m)
    if isinstance(n, TdecMaxPool):
        return _conv_fanout(in_shape, n.shape, n.kernel, n.stride, (0, 0), (1, 1), 1)
    return 1


def ann_macs(node: ir.Node, in_shapes: list[tuple[int, ...]], out_shape: tuple[int, ...]) -> int:
    """MACs of the float ANN layer this node stands for (0 for non-arithmetic nodes)."""
    from .ops.common import _MatmulBase
    out = int(np.prod(out_shape))
    if isinstance(node, ir.Dense):
        return int(node.weight.shape[0] * node.weight.shape[1])
    if isinstance(node, ir.Conv):
        return out * int(np.prod(node.weight.shape[1:4]))
    if isinstance(node, ir.SumPool):
        return out * int(node.kernel[0] * node.kernel[1])
    if isinstance(node, _MatmulBase):
        return int(node.groups * node.m * node.k * node.n)
    if getattr(node, "in_index", None) is not None:          # per-token dense
        return int(np.asarray(node.in_index).size * node.weight.shape[0])
    return 0


def _layers_reading(net: ir.Network, name: str) -> list[str]:
    """Layers (non-wiring, non-synapse nodes) that receive ``name``'s output, via synapses and
    wiring."""
    out: list[str] = []
    for c in net.consumers(name):
        if _is_wiring(c) or _is_synapse(c):
            out += [x for x in _layers_reading(net, c.name) if x not in out]
        elif c.name not in out:
            out.append(c.name)
    return out


def _depth(net: ir.Network) -> int:
    """Longest input-to-output path in steps: each synapse adds 1 + its largest delay."""
    memo: dict[str, int] = {}

    def d(name: str, stack: frozenset) -> int:
        if name in memo:
            return memo[name]
        if name in stack:
            return 0
        n = net[name]
        best = max((d(s, stack | {name}) for s in n.sources), default=0)
        best += (1 + getattr(n, "max_delay", 0)) if _is_synapse(n) else 0
        memo[name] = best
        return best
    return max((d(n.name, frozenset()) for n in net.outputs()), default=0)


# -- placement ---------------------------------------------------------------------------------
def hops_from_placement(placement: Any, network: ir.Network,
                        target: Target | str | None = None) -> dict[str, tuple[float, float]]:
    """``layer -> (destination cores per spike, mean hops per message)`` from a
    :class:`neurodeploy.place.Placement`.

    Upper-bound model: a spike of a layer goes to every core holding a slice of a layer that
    reads it (one message per destination core, as Loihi routes); hops are the placement's mesh
    distance (Manhattan between routers + ``chip_crossing_hops`` per chip boundary), averaged
    over source slices weighted by their neurons. Layers without slices (host, inputs) are absent.
    """
    t = load_target(target or placement.target)
    cols, rows = int(placement.mesh[0]), int(placement.mesh[1])
    gcols = math.ceil(math.sqrt(max(int(placement.chips), 1)))
    slots = np.asarray(placement.core_slots, np.int64).reshape(-1, 4)
    cx, cy = slots[:, 0] % gcols, slots[:, 0] // gcols
    gx, gy = cx * cols + slots[:, 1], cy * rows + slots[:, 2]
    cross = t.mesh.chip_crossing_hops
    cores: dict[str, list[tuple[int, int]]] = {}
    for layer, c0, c1, p0, p1, core in placement.slices:
        cores.setdefault(str(layer), []).append((int(core), (c1 - c0) * (p1 - p0)))
    out: dict[str, tuple[float, float]] = {}
    for name, src in cores.items():
        dst = sorted({c for r in _layers_reading(network, name) for c, _ in cores.get(r, [])})
        if not dst:
            continue
        s = np.array([c for c, _ in src])
        w = np.array([n for _, n in src], np.float64)
        dd = np.array(dst)
        dist = (np.abs(gx[s][:, None] - gx[dd][None]) + np.abs(gy[s][:, None] - gy[dd][None])
                + cross * (np.abs(cx[s][:, None] - cx[dd][None])
                           + np.abs(cy[s][:, None] - cy[dd][None])))
        out[name] = (float(len(dst)), float((dist.mean(1) * w).sum() / w.sum()))
    return out


def _hop_lookup(hops: Hops, network: ir.Network) -> Callable[[str], tuple[float | None, float]]:
    if hops is None:
        return lambda name: (None, 0.0)
    if hasattr(hops, "core_slots") and hasattr(hops, "slices"):
        table = hops_from_placement(hops, network)
        return lambda name: table.get(name, (None, 0.0))
    if isinstance(hops, Mapping):
        return lambda name: (None, float(hops.get(name, 0.0)))
    if callable(hops):
        return lambda name: (None, float(hops(name)))
    raise NeurodeployError("hops must be a Placement, a mapping layer -> mean hops or a "
                           "callable", field="placement", value=type(hops).__name__)


# -- counting ----------------------------------------------------------------------------------
def _nonzero_per_element(x: np.ndarray) -> np.ndarray:
    """Non-zero messages per element, summed over batch and steps -> (*shape,)."""
    return (x != 0).sum(axis=(0, x.ndim - 1))


def count_operations(network: ir.Network, inputs: Mapping[str, np.ndarray] | np.ndarray,
                     steps: int | None = None, *, traces: Traces | None = None,
                     hops: Hops = None) -> tuple[list[LayerCounts], int, int, list[str]]:
    """Per-layer counts (see the module docstring) of one run of the reference simulator on
    ``inputs`` (run here unless its ``traces`` are given). Returns (layers, steps, batch,
    notes)."""
    from .sim.reference import ReferenceSimulator
    sim = ReferenceSimulator(network)
    data = sim._bind_inputs(inputs)
    batch = int(next(iter(data.values())).shape[0])
    steps = int(next(iter(data.values())).shape[-1] if steps is None else steps)
    if traces is None:
        traces = sim.run(data, steps)
    net, shapes = sim.net, sim.shapes
    lookup = _hop_lookup(hops, net)
    notes: list[str] = []
    cache: dict[str, np.ndarray] = {}

    def output(name: str) -> np.ndarray:
        """(batch, *shape, steps) int64 output of any node (inputs, wiring, groups)."""
        if name in cache:
            return cache[name]
        n = net[name]
        if isinstance(n, ir.Input):
            x = data[name][..., :steps]
            if x.shape[-1] < steps:
                x = np.concatenate([x, np.zeros((*x.shape[:-1], steps - x.shape[-1]),
                                                np.int64)], -1)
        elif isinstance(n, ir.Flatten):
            x = output(n.sources[0]).reshape(batch, -1, steps)
        elif isinstance(n, ir.Concat):
            x = np.concatenate([output(s) for s in n.sources], axis=1 + n.axis)
        elif name in traces.data:
            x = traces.data[name]["s"]
        else:
            raise NeurodeployError("traces lack this layer's output", layer=name, field="s")
        cache[name] = x
        return x

    rows: list[LayerCounts] = []
    for n in net.nodes:
        if _is_synapse(n) or _is_wiring(n):
            continue
        host = bool(getattr(n, "host", False))
        where = "input" if isinstance(n, ir.Input) else "host" if host else "neurocore"
        size = int(np.prod(shapes[n.name]))
        row = LayerCounts(n.name, n.op, where, size)
        for port, s in enumerate(n.sources):
            synapses = _synapses_behind(net, s)
            feeds = [(x.sources[0], _synapse_fanout(x, shapes[x.sources[0]], shapes[x.name]))
                     for x in synapses] if synapses is not None else \
                [(s, _port_fanout(n, port, shapes[s]))]
            for x in synapses or []:
                row.ann_macs += ann_macs(x, [shapes[x.sources[0]]], shapes[x.name])
            for x_name, fan in feeds:
                active = _nonzero_per_element(output(x_name))
                if host:
                    row.host_ops += float(active.sum()) / batch
                else:
                    row.synops += float((active * fan).sum()) / batch
        row.ann_macs += ann_macs(n, [shapes[s] for s in n.sources], shapes[n.name])
        out = output(n.name)
        row.spikes = float((out != 0).sum()) / batch
        if where == "neurocore":
            row.neuron_updates = float(size * steps)
            row.active_updates = _active(n, traces.data.get(n.name, {}), batch) / batch
        readers = _layers_reading(net, n.name)
        dest, mean_hops = lookup(n.name)
        row.destinations = float(dest if dest is not None else max(len(readers), 1))
        row.messages = row.spikes * row.destinations
        row.mean_hops = mean_hops
        row.hop_messages = row.messages * mean_hops
        rows.append(row)
    if hops is None:
        notes.append("no placement given: messages x hops not counted (hops = 0)")
    if any(r.where == "host" for r in rows):
        notes.append("host operators (not on neurocores) carry no neurocore energy; their "
                     "element operations are listed as host_ops")
    return rows, steps, batch, notes


def _active(node: ir.Node, rec: Mapping[str, np.ndarray], batch: int) -> float:
    """Neuron-steps with a non-zero output or a state change from the previous step."""
    if "s" not in rec:
        return 0.0
    active = rec["s"] != 0
    init = node.init_state((batch,)) if hasattr(node, "init_state") else {}
    for var, arr in rec.items():
        if var == "s":
            continue
        prev = np.asarray(init.get(var, np.zeros(arr.shape[:-1], np.int64)))
        prev = np.broadcast_to(prev, arr.shape[:-1])[..., None]
        before = np.concatenate([prev, arr[..., :-1]], axis=-1)
        active |= arr != before
    return float(active.sum())


# -- energy ------------------------------------------------------------------------------------
def _loihi_pj(r: LayerCounts, c: dict[str, dict[str, Any]]) -> float:
    v = {k: d["value"] for k, d in c.items()}
    return (r.synops * v["synop_pj"] + r.active_updates * v["neuron_update_active_pj"]
            + r.inactive_updates * v["neuron_update_inactive_pj"]
            + r.messages * v["tile_spike_pj"]
            + r.hop_messages * (v["hop_ew_pj"] + v["hop_ns_pj"]) / 2)


def estimate_energy(network: ir.Network, inputs: Mapping[str, np.ndarray] | np.ndarray,
                    steps: int | None = None, *, target: Target | str | None = "loihi2",
                    traces: Traces | None = None, placement: Hops = None) -> EnergyReport:
    """Counts and ESTIMATED energy per inference of ``network`` on ``inputs`` (module docstring).

    ``placement``: a :class:`neurodeploy.place.Placement`, a mapping layer -> mean hops per
    message, or a callable ``layer -> mean hops``; None counts no hops."""
    if traces is None:
        from .sim.reference import ReferenceSimulator
        traces = ReferenceSimulator(network).run(inputs, steps)
    rows, steps, batch, notes = count_operations(network, inputs, steps, traces=traces,
                                                 hops=placement)
    const = energy_constants(target)
    total = LayerCounts("total", "-", "-", sum(r.neurons for r in rows if r.where != "input"))
    for r in rows:
        r.energy_pj = _loihi_pj(r, const)
        for f in ("synops", "neuron_updates", "active_updates", "spikes", "messages",
                  "hop_messages", "host_ops", "ann_macs", "energy_pj"):
            setattr(total, f, getattr(total, f) + getattr(r, f))
    total.destinations = total.messages / total.spikes if total.spikes else 0.0
    total.mean_hops = total.hop_messages / total.messages if total.messages else 0.0
    v = {k: d["value"] for k, d in const.items()}
    snn = total.synops * v["horowitz_ac_pj"]
    ann = total.ann_macs * v["horowitz_mac_pj"]
    energy = {
        "loihi": {
            "kind": "estimated", "total_pj": total.energy_pj,
            "terms_pj": {"synops": total.synops * v["synop_pj"],
                         "active_neuron_updates": total.active_updates
                         * v["neuron_update_active_pj"],
                         "inactive_neuron_updates": total.inactive_updates
                         * v["neuron_update_inactive_pj"],
                         "messages": total.messages * v["tile_spike_pj"],
                         "hops": total.hop_messages * (v["hop_ew_pj"] + v["hop_ns_pj"]) / 2},
            "source": _DAVIES + " per-op figures (Loihi 1, upper bound for Loihi 2); static "
                      "power not included"},
        "seed_papers_45nm": {
            "kind": "estimated", "snn_pj": snn, "ann_pj": ann,
            "ann_over_snn": ann / snn if snn else None,
            "source": f"{_HOROWITZ}: SNN synops x E_AC vs ANN MACs x E_MAC"},
    }
    notes.append("all energies are ESTIMATED from counts and published per-op constants; "
                 "'measured' is reserved for hardware numbers")
    first = None
    for name in [o.name for o in network.outputs() if o.name in traces.data]:
        hit = np.flatnonzero((traces.data[name]["s"] != 0).reshape(-1, steps).any(0))
        if hit.size and (first is None or hit[0] + 1 < first):
            first = int(hit[0]) + 1
    return EnergyReport(steps, batch, rows, total, _depth(network), first, energy, const, notes)
