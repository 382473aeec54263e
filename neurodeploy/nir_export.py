"""Export the subset of a network that NIR (the Neuromorphic Intermediate Representation, package
``nir``) can express, so that other simulators can load the standard layers.

Node mapping (IR -> NIR):

* ``Input``   -> ``nir.Input`` (shape without batch or time);
* ``Dense``   -> ``nir.Linear`` with weight ``w * 2**weight_exp`` (the integer current one spike
  delivers); a delay equal for every synapse ``d > 0`` adds ``nir.Delay(d)``; per-synapse delays
  are not exportable;
* ``Conv``    -> ``nir.Conv2d`` (same weight scaling, stride, padding, dilation, groups, zero bias);
* ``SumPool`` -> ``nir.SumPool2d`` (+ ``nir.Scale`` when ``weight * 2**weight_exp != 1``);
* ``Flatten`` -> ``nir.Flatten`` (``start_dim=0``: NIR shapes carry no batch axis);
* ``Cuba``    -> ``nir.CubaLIF`` (binary, non-refractory neurons only), per neuron.

CUBA parameter mapping. Loihi's integer neuron (``neurodeploy.ir.Cuba``) per step is
``u += -u*i_decay/4096 + a*64``; ``v += -v*v_decay/4096 + u + bias``; spike when ``v > vth*64``,
then ``v = 0``. NIR's CubaLIF is the ODE ``tau_syn dI/dt = -I + w_in S``,
``tau_mem dv/dt = (v_leak - v) + r I``. With one step = one time unit (forward Euler, dt = 1),
current and voltage in units of 64 (``I = u/64``, ``v_NIR = v/64``)::

    tau_syn = 4096 / i_decay     tau_mem = 4096 / v_decay    (2**24 where the decay is 0)
    w_in    = tau_syn            (a spike carrying current a raises I by a)
    r       = tau_mem            (I is added to v once per step)
    v_leak  = tau_mem * bias / 64   (bias = bias_mant << bias_exp, added every step)
    v_threshold = vth,  v_reset = 0

A decay of 0 (no leak) has no finite NIR time constant: 2**24 steps makes the leak smaller than
one unit of the 24-bit state per step. A float simulator reproduces the integer dynamics only
approximately (no truncation of the decays, no 24-bit wrap, its own update order); the bundle
stays the bit-exact reference.

Not exportable (listed with the reason, with everything that depends on them): the spiking-
transformer operators (no NIR primitive), host operators, ``Concat``, graded or refractory CUBA,
per-synapse delays.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import ir
from .errors import UnsupportedError

__all__ = ["NirExport", "to_nir", "export_nir", "cuba_to_nir_params", "NO_LEAK_TAU"]

NO_LEAK_TAU = float(2 ** 24)


@dataclass
class NirExport:
    """Result of an export: the NIR graph, the IR nodes exported and the others with reasons."""
    graph: Any
    exported: list[str]
    not_exported: dict[str, str] = field(default_factory=dict)


def _nir():
    try:
        import nir
    except ImportError:  # pragma: no cover - nir is a dependency
        raise UnsupportedError("the 'nir' package is not installed (pip install nir)",
                               field="format", value="nir") from None
    return nir


def cuba_to_nir_params(node: ir.Cuba) -> dict[str, np.ndarray]:
    """The CubaLIF parameters (float64 arrays of the neuron shape) of a Cuba node."""
    def full(x) -> np.ndarray:
        return np.broadcast_to(np.asarray(x, np.float64), node.shape).copy()

    def tau(decay) -> np.ndarray:
        d = full(decay)
        return np.where(d > 0, 4096.0 / np.where(d > 0, d, 1.0), NO_LEAK_TAU)
    tau_syn, tau_mem = tau(node.i_decay), tau(node.v_decay)
    bias = full(np.asarray(node.bias_mant, np.int64) << np.asarray(node.bias_exp, np.int64))
    return dict(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem.copy(),
                v_leak=tau_mem * bias / 64.0, v_threshold=full(node.vth),
                v_reset=np.zeros(node.shape), w_in=tau_syn.copy())


def _scaled(node) -> np.ndarray:
    return np.asarray(node.weight, np.float64) * 2.0 ** int(node.weight_exp)


def _convert(n: ir.Node, shapes: dict[str, tuple[int, ...]], nir) -> tuple[list, str]:
    """[(name, nir node)] for one IR node (a chain; the last one is the node's output)."""
    if isinstance(n, ir.Input):
        return [(n.name, nir.Input(input_type={"input": np.array(n.shape)}))], ""
    if isinstance(n, ir.Dense):
        out = [(n.name, nir.Linear(weight=_scaled(n)))]
        if n.delay is not None and n.max_delay > 0:
            d = np.unique(n.delay)
            if d.size != 1:
                return [], "per-synapse delays (NIR Delay is per signal element)"
            out.append((f"{n.name}.delay", nir.Delay(delay=np.full(shapes[n.name],
                                                                    float(d[0])))))
        return out, ""
    if isinstance(n, ir.Conv):
        c, h, w = shapes[n.sources[0]]
        return [(n.name, nir.Conv2d(input_shape=(h, w), weight=_scaled(n), stride=n.stride,
                                    padding=n.padding, dilation=n.dilation, groups=n.groups,
                                    bias=np.zeros(n.weight.shape[0])))], ""
    if isinstance(n, ir.SumPool):
        out = [(n.name, nir.SumPool2d(kernel_size=np.array(n.kernel), stride=np.array(n.stride),
                                      padding=np.array(n.padding)))]
        factor = float(_scaled(n))
        if factor != 1.0:
            out.append((f"{n.name}.scale", nir.Scale(scale=np.full(shapes[n.name], factor))))
        return out, ""
    if isinstance(n, ir.Flatten):
        return [(n.name, nir.Flatten(input_type={"input": np.array(shapes[n.sources[0]])},
                                     start_dim=0, end_dim=-1))], ""
    if isinstance(n, ir.Cuba):
        if n.message_bits or n.refractory:
            return [], "graded or refractory CUBA (NIR CubaLIF is binary, non-refractory)"
        return [(n.name, nir.CubaLIF(**cuba_to_nir_params(n)))], ""
    if isinstance(n, ir.Concat):
        return [], "concat has no NIR primitive"
    if getattr(n, "host", False):
        return [], f"host operator '{n.op}' (not on neurocores) has no NIR primitive"
    return [], f"spiking-transformer operator '{n.op}' has no NIR primitive"


def to_nir(network: ir.Network) -> NirExport:
    """The NIR graph of the exportable part of ``network`` (see the module docstring). Nodes
    read by no exported node get an ``Output`` node (``<name>.out``)."""
    nir = _nir()
    shapes = network.validate().shapes()
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    head: dict[str, str] = {}        # IR node -> NIR node carrying its output
    skipped: dict[str, str] = {}
    for n in _topo(network):
        bad = [s for s in n.sources if s not in head]
        if bad:
            skipped[n.name] = f"reads non-exported node '{bad[0]}'"
            continue
        chain, why = _convert(n, shapes, nir)
        if not chain:
            skipped[n.name] = why
            continue
        for s in n.sources:
            edges.append((head[s], chain[0][0]))
        for (a, _), (b, _) in zip(chain[:-1], chain[1:]):
            edges.append((a, b))
        nodes.update(dict(chain))
        head[n.name] = chain[-1][0]
    read = {a for a, _ in edges}
    for name, tail in head.items():
        if tail not in read and not isinstance(network[name], ir.Input):
            out = f"{name}.out"
            nodes[out] = nir.Output(output_type={"output": np.array(shapes[name])})
            edges.append((tail, out))
    if not any(isinstance(v, nir.Output) for v in nodes.values()):
        raise UnsupportedError("nothing NIR can express beyond the inputs",
                               layer=network.name, field="format", value="nir",
                               limit=f"not exportable: {skipped}")
    meta = {"producer": "neurodeploy", "network": network.name,
            "cuba_mapping": "dt = 1 step; I = u/64, v = v/64; tau = 4096/decay (2**24 for 0); "
                            "w_in = tau_syn; r = tau_mem; v_leak = tau_mem*bias/64",
            "not_exported": "; ".join(f"{k}: {v}" for k, v in skipped.items()) or "none"}
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=False)
    return NirExport(graph, list(head), skipped)


def _topo(network: ir.Network) -> list[ir.Node]:
    """Nodes in an order where every node follows its sources (loops: file order)."""
    done: set[str] = set()
    order: list[ir.Node] = []
    pending = list(network.nodes)
    while pending:
        ready = [n for n in pending if all(s in done for s in n.sources)] or pending[:1]
        for n in ready:
            order.append(n)
            done.add(n.name)
            pending.remove(n)
    return order


def export_nir(bundle_path: str | os.PathLike, out_path: str | os.PathLike) -> NirExport:
    """Read a bundle and write the NIR file of its exportable part (``nir.write``), atomically.

    Returns the :class:`NirExport` (exported and not-exported nodes with reasons)."""
    import tempfile

    from .bundle import read_bundle
    nir = _nir()
    result = to_nir(read_bundle(bundle_path))
    out_path = os.fspath(out_path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(out_path)), suffix=".tmp",
                               prefix=".nir-")
    os.close(fd)
    try:
        nir.write(tmp, result.graph)
        os.replace(tmp, out_path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return result
