"""Placement invariance: rebuild a network with one IR node (one Lava process) per core slice.

:func:`partition_network` turns ``net`` and a :class:`~.partition.Placement` into a network in
which every placed layer is split into its slices:

* neuron groups and elementwise operators (Cuba, DIF/IF, ST-BIF+, phase neurons, traces, spike
  counters, readouts): one node per slice with the slice's per-neuron parameters; WOSS softmax
  slices must hold whole rows;
* spike x spike products (TDEC / SESA / phase): one node per (group, row range) block of the
  slice's outputs (a partial row becomes its own block), reading only the operand rows and
  columns it needs;
* synapses are split by output slice (Dense rows; Conv output channels, kept as a Conv when
  the slice holds whole feature maps and the source is split by channels only, otherwise the
  slice's rows of the unrolled convolution as a Dense) and by input piece (one synapse per
  source slice, all summed by the receiving neurons, as the input axons of a core are). A Dense
  with ``weight_exp < 0`` floors its sum once, so its inputs are gathered instead of split;
* where a consumer needs a subset or a permutation of a producer's slices, a :class:`Gather`
  node routes them (no latency, no state: the axon routing of the chip; in Lava a small process
  that receives and sends in the same step, as Lava 0.10 cannot compile ConcatPorts).

Host operators and inputs stay whole. :func:`merge_traces` reassembles the slices' traces into
the original layers, so a run of the partitioned network can be compared with np.array_equal
against the unpartitioned one. The arithmetic is identical except at register wrap points: an
unrolled convolution wraps its current at int32 (Dense) instead of 24 bits (Conv), so equality
holds for runs without overflow events (the reference reports every one).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import numpy as np

from .. import ir
from ..errors import UnsupportedError
from ..lava.backend import builder
from ..sim.reference import Kernel, kernel, message_bits_of
from ..sim.traces import Traces
from .partition import Placement
from .resources import layers_from_network

__all__ = ["Gather", "Partitioned", "partition_network", "merge_traces"]

SEP = "~"     # piece names: <layer>~<slice>[~<block>]; synapse pieces: <syn>~<piece>~<source>


@ir.register_node
@dataclass(eq=False)
class Gather(ir.Node):
    """Routing node: ``out = concat(flattened sources)[index]`` shaped ``shape``; no latency,
    no state. ``message_bits``: payload bits of the routed spikes (0 = binary)."""
    index: np.ndarray = None
    shape: tuple[int, ...] = ()
    message_bits: int = 0
    op: ClassVar[str] = "gather"
    array_fields: ClassVar[tuple[str, ...]] = ("index",)

    def output_shape(self, in_shapes):
        return self.shape

    def validate(self, in_shapes):
        self._n_sources(in_shapes, None)
        total = sum(int(np.prod(s)) for s in in_shapes)
        if self.index is None or self.index.size != int(np.prod(self.shape)) or \
                (self.index.size and (self.index.min() < 0 or self.index.max() >= total)):
            raise ir.IRError("index must select prod(shape) elements of the sources",
                             layer=self.name, field="index", limit=f"[0, {total})")


@kernel(Gather)
class GatherKernel(Kernel):
    def step(self, inputs):
        flat = np.concatenate([x.reshape(x.shape[0], -1) for x in inputs], axis=1)
        return flat[:, self.node.index].reshape(flat.shape[0], *self.node.shape)


_GATHER_PROCS: dict[int, tuple[type, type]] = {}


def _gather_process(n: int) -> tuple[type, type]:
    """Lava Process class with InPorts ``in_0..in_{n-1}`` and its fixed_pt model (cached)."""
    if n in _GATHER_PROCS:
        return _GATHER_PROCS[n]
    from lava.magma.core.decorator import implements, requires, tag
    from lava.magma.core.model.py.model import PyLoihiProcessModel
    from lava.magma.core.model.py.ports import PyInPort, PyOutPort
    from lava.magma.core.model.py.type import LavaPyType
    from lava.magma.core.process.ports.ports import InPort, OutPort
    from lava.magma.core.process.process import AbstractProcess
    from lava.magma.core.resources import CPU
    from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

    def init(self, *, shapes: list[tuple], shape: tuple, index: np.ndarray, name: str) -> None:
        AbstractProcess.__init__(self, shapes=shapes, shape=shape, index=index, name=name)
        for i, s in enumerate(shapes):
            setattr(self, f"in_{i}", InPort(shape=s))
        self.s_out = OutPort(shape=shape)

    proc = type(f"GatherProc{n}", (AbstractProcess,), {"__init__": init})

    def run_spk(self) -> None:
        xs = [np.transpose(getattr(self, f"in_{i}").recv()).reshape(-1) for i in range(n)]
        p = self.proc_params
        out = np.concatenate(xs)[p["index"]].reshape(tuple(p["shape"])[::-1])
        self.s_out.send(np.transpose(out).astype(np.int32))

    attrs: dict[str, Any] = {f"in_{i}": LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
                             for i in range(n)}
    attrs.update(s_out=LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24), run_spk=run_spk)
    model = type(f"PyGather{n}Fixed", (PyLoihiProcessModel,), attrs)
    model = implements(proc=proc, protocol=LoihiProtocol)(requires(CPU)(tag("fixed_pt")(model)))
    _GATHER_PROCS[n] = (proc, model)
    return proc, model


@builder(Gather)
def _build_gather(node: Gather, ctx) -> Any:
    proc_cls, model = _gather_process(len(node.sources))
    shapes = [tuple(ctx.shapes[s][::-1]) for s in node.sources]
    # Lava layout is reversed: out[lava] = transpose(torch out); the model works in torch order
    proc = proc_cls(shapes=shapes, shape=tuple(node.shape[::-1]), index=node.index,
                    name=node.name)
    for i, s in enumerate(node.sources):
        ctx.ports[s].connect(getattr(proc, f"in_{i}"))
    ctx.neurons[node.name] = proc
    ctx.models[proc] = model       # keyed by instance: Lava then skips its model discovery
    return proc.s_out


# -- the partitioned network ---------------------------------------------------------------------
@dataclass
class Piece:
    """One IR node of a split layer: ``idx`` = original flat (C-order) output indices, in the
    node's own flat order; ``shape`` its output shape; ``core`` its slice's core."""
    name: str
    idx: np.ndarray
    shape: tuple[int, ...]
    core: int = -1


@dataclass
class Partitioned:
    """Result of :func:`partition_network`: the network, and per original layer its pieces."""
    network: ir.Network
    pieces: dict[str, list[Piece]]
    shapes: dict[str, tuple[int, ...]]
    notes: list[str] = field(default_factory=list)

    def layer_of(self) -> dict[str, str]:
        """Piece node name -> original layer name."""
        return {p.name: la for la, ps in self.pieces.items() for p in ps}


def merge_traces(traces: Traces, parts: Partitioned) -> Traces:
    """Reassemble the traces of the pieces into the original layers (routing nodes dropped)."""
    out = Traces(traces.backend, traces.steps, overflow=list(traces.overflow))
    for layer, pieces in parts.pieces.items():
        if not all(p.name in traces.data for p in pieces):
            continue
        for var in traces.data[pieces[0].name]:
            first = traces.data[pieces[0].name][var]
            batch, steps = first.shape[0], first.shape[-1]
            n = int(np.prod(parts.shapes[layer]))
            flat = np.zeros((batch, n, steps), dtype=np.int64)
            for p in pieces:
                flat[:, p.idx, :] = traces.data[p.name][var].reshape(batch, -1, steps)
            out.data.setdefault(layer, {})[var] = flat.reshape(batch, *parts.shapes[layer],
                                                               steps)
    return out


def _grid_index(shape: tuple[int, ...], c0: int, c1: int, p0: int, p1: int) -> np.ndarray:
    """Original flat indices of the grid rectangle (see :mod:`.resources`), sorted."""
    c = np.arange(c0, c1)[:, None]
    p = np.arange(p0, p1)[None, :]
    if len(shape) == 3:
        h, w = shape[1], shape[2]
        idx = c * h * w + (p % h) * w + p // h
    else:
        idx = c * (int(np.prod(shape[1:])) if len(shape) > 1 else 1) + p
    return np.sort(idx.reshape(-1))


def _elementwise(node: ir.Node) -> bool:
    from ..ops.common import OpNode
    if isinstance(node, ir.Cuba):
        return True
    return isinstance(node, OpNode) and node.ports == ("a_in",) and \
        type(node).__name__ not in ("WossSoftmax",) and not node.host


def _slice_params(node: ir.Node, idx: np.ndarray, shape: tuple[int, ...]) -> dict[str, Any]:
    """The node's per-neuron array parameters restricted to ``idx`` (flat), shaped ``shape``."""
    out: dict[str, Any] = {"shape": shape}
    full = tuple(node.shape)
    for f in dataclasses.fields(node):
        v = getattr(node, f.name)
        if f.name in ("name", "sources", "shape", "table") or not isinstance(v, np.ndarray) \
                or v.ndim == 0:
            continue
        out[f.name] = np.broadcast_to(v, full).reshape(-1)[idx].reshape(shape)
    return out


def _matmul_blocks(node, idx: np.ndarray) -> list[tuple[int, int, int, int, int, int]]:
    """(g0, g1, m0, m1, n0, n1) blocks covering the sorted contiguous flat range ``idx``."""
    M, N = int(node.m), int(node.n)
    a, b = int(idx[0]), int(idx[-1]) + 1
    if b - a != idx.size:
        raise UnsupportedError("product slices must be contiguous output ranges",
                               layer=node.name, field="slices")
    out, x = [], a
    while x < b:
        g, r = divmod(x, M * N)
        m, n = divmod(r, N)
        left = b - x
        if n or left < N:
            n1 = min(N, n + left)
            out.append((g, g + 1, m, m + 1, n, n1))
            x += n1 - n
        elif m or left < M * N:
            m1 = min(M, m + left // N)
            out.append((g, g + 1, m, m1, 0, N))
            x += (m1 - m) * N
        else:
            g1 = g + left // (M * N)
            out.append((g, g1, 0, M, 0, N))
            x += (g1 - g) * M * N
    return out


class _Builder:
    """State of one :func:`partition_network` call."""

    def __init__(self, net: ir.Network, placement: Placement) -> None:
        self.net = net.validate()
        self.shapes = net.shapes()
        self.layers = {la.name: la for la in layers_from_network(net)}
        self.slices: dict[str, list[tuple[int, int, int, int, int]]] = {}
        for name, c0, c1, p0, p1, core in placement.slices:
            if name not in self.layers:
                raise UnsupportedError("placement names a layer the network does not have",
                                       layer=str(name), field="placement")
            self.slices.setdefault(name, []).append((c0, c1, p0, p1, core))
        self.out: list[ir.Node] = []
        self.pieces: dict[str, list[Piece]] = {}
        self.specs: dict[str, list[tuple[Piece, tuple]]] = {}   # layer -> (piece, block)
        self.flat_cache: dict[str, str] = {}
        self.notes: list[str] = []

    # -- pieces of every producer -----------------------------------------------------------------
    def kind(self, node: ir.Node) -> str:
        """'slice' (elementwise, one node per slice), 'product' (blocks), 'keep' (whole)."""
        name = node.name
        if isinstance(node, ir.Input) or self.layers[name].host:
            return "keep"
        if _elementwise(node) or type(node).__name__ == "WossSoftmax":
            return "slice"
        if len(self.slices.get(name, [])) <= 1:
            return "keep"
        if hasattr(node, "transpose_b"):
            return "product"
        raise UnsupportedError(f"no slicing rule for {type(node).__name__} (keep it on one "
                               f"core)", layer=name, field="slices")

    def conv_ok(self, syn: ir.Node) -> bool:
        """Can ``syn`` stay a Conv (split by output channels and by input channel blocks)?"""
        if not (isinstance(syn, ir.Conv) and syn.groups == 1):
            return False
        src = self.net[syn.sources[0]]
        return isinstance(src, ir.Input) or (src.name in self.layers and self.is3d(src.name))

    def is3d(self, name: str) -> bool:
        """Do the pieces of layer ``name`` keep the (C, H, W) form (whole feature maps)?"""
        if name in self.memo3d:
            return self.memo3d[name]
        self.memo3d[name] = False                         # loops: assume flat
        node, shape = self.net[name], self.shapes[name]
        rects = self.slices.get(name, [])
        ok = len(shape) == 3 and self.kind(node) == "slice" and \
            all(p0 == 0 and p1 == shape[1] * shape[2] for _, _, p0, p1, _ in rects) and \
            all(self.conv_ok(self.net[s]) for s in node.sources)
        self.memo3d[name] = ok
        return ok

    def plan(self) -> None:
        self.memo3d: dict[str, bool] = {}
        for node in self.net:
            name = node.name
            if not (isinstance(node, ir.Input) or name in self.layers):
                continue
            shape = self.shapes[name]
            n = int(np.prod(shape))
            kind = self.kind(node)
            rects = sorted(self.slices.get(name, [(0, 1, 0, 1, -1)]))
            if kind == "keep":
                p = Piece(name, np.arange(n), shape, rects[0][4])
                self.pieces[name], self.specs[name] = [p], [(p, ())]
                continue
            if name not in self.slices:            # not placed: the whole layer
                la = self.layers[name]
                rects = [(0, la.channels, 0, la.positions, rects[0][4])]
            covered = np.zeros(n, dtype=np.int64)
            plist, specs = [], []
            for k, (c0, c1, p0, p1, core) in enumerate(rects):
                idx = _grid_index(shape, c0, c1, p0, p1)
                covered[idx] += 1
                pname = name if len(rects) == 1 else f"{name}{SEP}{k}"
                if kind == "slice":
                    if type(node).__name__ == "WossSoftmax" and \
                            (idx[0] % node.n or idx.size % node.n):
                        raise UnsupportedError(f"a WOSS slice must hold whole rows of {node.n}",
                                               layer=name, field="slices",
                                               value=(int(idx[0]), int(idx[-1]) + 1))
                    pshape = (c1 - c0, *shape[1:]) if self.is3d(name) else (idx.size,)
                    p = Piece(pname, idx, pshape, core)
                    plist.append(p)
                    specs.append((p, ()))
                else:
                    G, M, N = int(node.groups), int(node.m), int(node.n)
                    grid = np.arange(G * M * N).reshape(G, M, N)
                    for j, blk in enumerate(_matmul_blocks(node, idx)):
                        g0, g1, m0, m1, n0, n1 = blk
                        bidx = grid[g0:g1, m0:m1, n0:n1].reshape(-1)
                        p = Piece(f"{name}{SEP}{k}{SEP}{j}", bidx, (bidx.size,), core)
                        plist.append(p)
                        specs.append((p, blk))
            if not np.all(covered == 1):
                raise UnsupportedError("placement slices do not cover the layer exactly once",
                                       layer=name, field="placement")
            self.pieces[name] = plist
            self.specs[name] = specs
        self.loc: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name, plist in self.pieces.items():
            n = int(np.prod(self.shapes[name]))
            which, pos = np.empty(n, np.int64), np.empty(n, np.int64)
            for q, p in enumerate(plist):
                which[p.idx] = q
                pos[p.idx] = np.arange(p.idx.size)
            self.loc[name] = (which, pos)

    # -- views through wiring ---------------------------------------------------------------------
    def view(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(producer ids, flat indices) of every element of node ``name``'s output (C order)."""
        node = self.net[name]
        if isinstance(node, ir.Flatten):
            return self.view(node.sources[0])
        if isinstance(node, ir.Concat):
            parts = [self.view(s) for s in node.sources]
            shapes = [self.shapes[s] for s in node.sources]
            prod = np.concatenate([p.reshape(s) for (p, _), s in zip(parts, shapes)],
                                  axis=node.axis)
            idx = np.concatenate([i.reshape(s) for (_, i), s in zip(parts, shapes)],
                                 axis=node.axis)
            return prod.reshape(-1), idx.reshape(-1)
        if name not in self.pieces:
            raise UnsupportedError("reads a node that is neither a layer nor wiring",
                                   layer=name, field="sources")
        n = int(np.prod(self.shapes[name]))
        return np.full(n, self._pid(name)), np.arange(n)

    def _pid(self, name: str) -> int:
        if not hasattr(self, "_pids"):
            self._pids: dict[str, int] = {}
            self._pnames: list[str] = []
        if name not in self._pids:
            self._pids[name] = len(self._pnames)
            self._pnames.append(name)
        return self._pids[name]

    def _elements(self, prod: np.ndarray, idx: np.ndarray) -> tuple[list[Piece], np.ndarray,
                                                                    np.ndarray]:
        """Distinct pieces holding the elements (first-use order), each element's piece number
        in that list and its position in the piece."""
        keys = np.empty(idx.size, np.int64)
        pos = np.empty(idx.size, np.int64)
        for pid in np.unique(prod):
            sel = prod == pid
            which, at = self.loc[self._pnames[pid]]
            keys[sel] = pid * 1_000_000 + which[idx[sel]]
            pos[sel] = at[idx[sel]]
        uniq, first = np.unique(keys, return_index=True)
        order = uniq[np.argsort(first)]
        pieces = [self.pieces[self._pnames[k // 1_000_000]][k % 1_000_000] for k in order]
        srt = np.argsort(order)
        return pieces, srt[np.searchsorted(order[srt], keys)], pos

    def _flat(self, piece: Piece) -> str:
        """Name of a 1-D view of a piece (a Flatten node for multi-dimensional pieces)."""
        if len(piece.shape) <= 1:
            return piece.name
        if piece.name not in self.flat_cache:
            fl = f"{piece.name}{SEP}flat"
            self.out.append(ir.Flatten(fl, sources=(piece.name,)))
            self.flat_cache[piece.name] = fl
        return self.flat_cache[piece.name]

    def route(self, src: str, need: np.ndarray, shape: tuple[int, ...], label: str) -> str:
        """A node whose output is elements ``need`` of ``src``'s output, shaped ``shape``."""
        prod, idx = self.view(src)
        prod, idx = prod[need], idx[need]
        pieces, num, pos = self._elements(prod, idx)
        if len(pieces) == 1 and np.array_equal(pos, np.arange(pieces[0].idx.size)):
            p = pieces[0]
            if tuple(p.shape) == tuple(shape):
                return p.name
            if len(shape) == 1:
                return self._flat(p)
        offs = np.cumsum([0] + [p.idx.size for p in pieces])
        bits = max(message_bits_of(self.net, self._layer_of(p)) for p in pieces)
        g = Gather(f"{label}{SEP}route", sources=tuple(p.name for p in pieces),
                   index=offs[num] + pos, shape=shape, message_bits=bits)
        self.out.append(g)
        return g.name

    def _layer_of(self, piece: Piece) -> str:
        return piece.name.split(SEP)[0]

    # -- synapses ---------------------------------------------------------------------------------
    def synapse(self, syn: ir.Node, need: np.ndarray, out_shape: tuple[int, ...],
                label: str) -> list[str]:
        """Synapse pieces delivering ``syn``'s output elements ``need`` shaped ``out_shape``."""
        src = syn.sources[0]
        in_shape = self.shapes[src]
        if len(out_shape) == 3 and self.conv_ok(syn):
            co = need.reshape(out_shape)[:, 0, 0] // int(np.prod(out_shape[1:]))
            names = []
            for q, p in enumerate(self.pieces[src]):
                ci = p.idx.reshape(p.shape)[:, 0, 0] // int(np.prod(in_shape[1:]))
                c = dataclasses.replace(syn, name=f"{label}{SEP}{q}", sources=(p.name,),
                                        weight=syn.weight[co][:, ci])
                self.out.append(c)
                names.append(c.name)
            return names
        if isinstance(syn, ir.Dense):
            w = syn.weight[need]
            delay = None if syn.delay is None else syn.delay[need]
        elif isinstance(syn, (ir.Conv, ir.SumPool)):
            w, delay = _conv_rows(syn, in_shape, self.shapes[syn.name], need), None
        else:
            raise UnsupportedError(f"no slicing rule for synapse {type(syn).__name__}",
                                   layer=syn.name, field="slices")
        if len(out_shape) != 1:
            raise UnsupportedError("internal: unrolled synapse must feed a 1-D piece",
                                   layer=syn.name)
        prod, idx = self.view(src)
        pieces, num, pos = self._elements(prod, idx)
        exp = int(syn.weight_exp)
        if exp < 0 and len(pieces) > 1:         # one floor of the whole sum: route, don't split
            n_in = idx.size
            r = self.route(src, np.arange(n_in), (n_in,), f"{label}{SEP}in")
            d = ir.Dense(f"{label}{SEP}0", sources=(r,), weight=w, weight_exp=exp,
                         num_weight_bits=syn.num_weight_bits, delay=delay)
            self.out.append(d)
            self.notes.append(f"{syn.name}: weight_exp < 0, inputs routed to one synapse "
                              f"per slice")
            return [d.name]
        names = []
        for q, p in enumerate(pieces):
            cols = np.flatnonzero(num == q)
            wq = np.zeros((w.shape[0], p.idx.size), np.int64)
            np.add.at(wq, (slice(None), pos[cols]), w[:, cols])
            dq = None
            if delay is not None:
                dq = np.zeros_like(wq)
                dq[:, pos[cols]] = delay[:, cols]
            if q and not wq.any():
                continue
            d = ir.Dense(f"{label}{SEP}{q}", sources=(self._flat(p),), weight=wq,
                         weight_exp=exp, num_weight_bits=syn.num_weight_bits, delay=dq)
            self.out.append(d)
            names.append(d.name)
        return names

    # -- layers -----------------------------------------------------------------------------------
    def layer(self, node: ir.Node) -> None:
        kind = self.kind(node)
        for piece, blk in self.specs[node.name]:
            if kind == "product":
                self.product(node, piece, blk)
                continue
            sources: list[str] = []
            for s in node.sources:
                sn = self.net[s]
                label = f"{s}{SEP}{piece.name}"
                if sn.delayed:
                    sources += self.synapse(sn, piece.idx, piece.shape, label)
                elif kind == "slice":
                    sources.append(self.route(s, piece.idx, piece.shape, label))
                else:
                    n = int(np.prod(self.shapes[s]))
                    sources.append(self.route(s, np.arange(n), self.shapes[s], label))
            if kind == "keep":
                new = dataclasses.replace(node, sources=tuple(sources))
            else:
                kw = _slice_params(node, piece.idx, piece.shape)
                new = dataclasses.replace(node, name=piece.name, sources=tuple(sources), **kw)
            self.out.append(new)

    def product(self, node, piece: Piece, blk: tuple) -> None:
        g0, g1, m0, m1, n0, n1 = blk
        G, M, K, N = int(node.groups), int(node.m), int(node.k), int(node.n)
        a_idx = np.arange(G * M * K).reshape(G, M, K)[g0:g1, m0:m1, :].reshape(-1)
        if node.transpose_b:
            b_idx = np.arange(G * N * K).reshape(G, N, K)[g0:g1, n0:n1, :].reshape(-1)
        else:
            b_idx = np.arange(G * K * N).reshape(G, K, N)[g0:g1, :, n0:n1].reshape(-1)
        sources = []
        for port, s in enumerate(node.sources):
            if self.net[s].delayed:
                raise UnsupportedError("product operands must be spikes, not synapse currents",
                                       layer=node.name, field="sources")
            need = a_idx if port % 2 == 0 else b_idx
            sources.append(self.route(s, need, (need.size,), f"{s}{SEP}{piece.name}{SEP}{port}"))
        new = dataclasses.replace(node, name=piece.name, sources=tuple(sources), groups=g1 - g0,
                                  m=m1 - m0, n=n1 - n0)
        self.out.append(new)

    def build(self) -> Partitioned:
        self.plan()
        for node in self.net:
            if isinstance(node, ir.Input):
                self.out.append(node)
            elif node.name in self.pieces:
                self.layer(node)
            elif not (node.delayed or isinstance(node, (ir.Flatten, ir.Concat))):
                raise UnsupportedError("node is neither an input, a layer, wiring nor a synapse",
                                       layer=node.name)
        net = ir.Network(self.out, name=f"{self.net.name}.partitioned")
        net = ir.Network(net.step_order(), name=net.name)    # sources first (Lava build order)
        net.validate()
        return Partitioned(net, self.pieces, {k: self.shapes[k] for k in self.pieces},
                           sorted(set(self.notes)))


def _conv_rows(syn: ir.Node, in_shape: tuple[int, ...], out_shape: tuple[int, ...],
               need: np.ndarray) -> np.ndarray:
    """Rows ``need`` (flat output indices) of the convolution / sum pool as a dense matrix
    (len(need), C_in*H*W) of weight mantissas."""
    c_in, h, w = in_shape
    _, oh, ow = out_shape
    if isinstance(syn, ir.SumPool):
        wt, groups, stride, pad, dil = syn.conv_weight(c_in), c_in, syn.stride, syn.padding, \
            (1, 1)
    else:
        wt, groups, stride, pad, dil = syn.weight, syn.groups, syn.stride, syn.padding, \
            syn.dilation
    co, r = np.divmod(need, oh * ow)
    oy, ox = np.divmod(r, ow)
    cpg = wt.shape[1]
    ci0 = (co // (wt.shape[0] // groups)) * cpg
    out = np.zeros((need.size, c_in * h * w), np.int64)
    rows = np.arange(need.size)
    for ky in range(wt.shape[2]):
        for kx in range(wt.shape[3]):
            iy = oy * stride[0] - pad[0] + ky * dil[0]
            ix = ox * stride[1] - pad[1] + kx * dil[1]
            ok = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
            for c in range(cpg):
                col = (ci0 + c) * h * w + iy * w + ix
                out[rows[ok], col[ok]] += wt[co[ok], c, ky, kx]
    return out


def partition_network(net: ir.Network, placement: Placement | Mapping[str, Any]) -> Partitioned:
    """Split ``net`` into one node per core slice of ``placement`` (see the module notes).
    Raises UnsupportedError naming the layer where a slice cannot be realised."""
    if not isinstance(placement, Placement):
        placement = Placement.from_dict(placement)
    return _Builder(net, placement).build()
