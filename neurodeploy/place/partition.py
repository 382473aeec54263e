"""Partitioning and placement: layers -> core slices -> packed cores -> chips and mesh positions.

Pipeline of :func:`place` (deterministic for a given ``seed``):

1. design-rule check (:mod:`.drc`); host operators are listed, never placed;
2. each layer is cut into the fewest slices that fit a core (:func:`.slicing.min_slicing`);
3. slices of different layers are PACKED onto cores; candidates, fewest cores wins (ties: the
   first): first-fit-decreasing on the max-normalised demand vector; interleaved pipeline windows
   chosen by dynamic programming (:func:`_window_pack`, small networks); first-fit-decreasing on
   slicings cut to 0.8 / 0.75 of a core (leaves room for memory-heavy pieces). Each is followed
   by an improvement pass that tries to empty the least-loaded cores;
4. cores are assigned to chips and mesh slots to minimise sum(messages x hops): the cheaper of
   a serpentine and a Hilbert-curve layout of the cores in pipeline order (the Hilbert curve keeps
   consecutive cores in compact 2-D blocks, across chips too), then weighted-median moves and
   pair swaps (seeded);
5. report: cores, chips, lower bound LB = max over budgets of ceil(total demand / capacity),
   Intel's one-layer-per-core halving baseline (:func:`.slicing.halving_pieces`, sequential core
   numbering, row-major slots) and traffic of our placement, of our cores placed sequentially and
   of the baseline.

Traffic model: a spike of a source neuron is one message to every other core that holds a slice
reading it (Loihi routes one message per destination core); its cost is the Manhattan hop count
between the routers, plus ``chip_crossing_hops`` per chip boundary. Spikes per neuron and step come
from ``activity`` (node name -> scalar or array of the node's shape, mean spikes per neuron per
step, e.g. measured by the reference simulator); without it every neuron counts 1 (fan-out counts,
as nengo-loihi's allocators do). Host operators and Input nodes carry no mesh traffic.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import numpy as np
import scipy.sparse as sp

from .. import ir
from ..errors import UnsupportedError
from ..targets import BUDGET_LABELS, BUDGETS, Target, load_target
from .drc import require_placeable
from .resources import HOST_NOTE, Layer, finalize_layers, layers_from_network, slice_demand
from .slicing import Slicing, halving_pieces, min_slicing

__all__ = ["Placement", "place", "place_command", "pack", "lower_bound", "Mesh2D"]

Activity = Mapping[str, Any] | None


# -- packing --------------------------------------------------------------------------------------
def pack(demands: np.ndarray, capacity: np.ndarray, improve: bool = True,
         group: np.ndarray | None = None) -> np.ndarray:
    """Bin-pack demand vectors (n x budgets) into cores; returns the core index of each item.

    First-fit-decreasing by (max, sum) of the normalised demand, then, if ``improve``, the
    least-loaded cores are emptied where their items fit elsewhere (first fit). Every core's
    summed demand stays <= ``capacity`` in every budget. With ``group`` (e.g. the layer index of
    each item), the open cores are tried in order of how close their items' mean group is to the
    item's group instead of in index order ("nearest fit": pipeline locality).
    """
    n = len(demands)
    cap = np.asarray(capacity, dtype=np.float64)
    d = np.asarray(demands, dtype=np.float64)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    norm = d / cap
    order = np.lexsort((-norm.sum(1), -norm.max(1)))
    # identical demand vectors are consecutive in this order: first fit places a run of q copies
    # by filling the open cores in index order with as many copies as fit, then new cores
    loads = np.zeros((n, d.shape[1]))
    gsum, gcnt = np.zeros(n), np.zeros(n)
    assign = np.full(n, -1, dtype=np.int64)
    nb = 0
    if group is not None:     # runs must not mix groups: sort by group inside equal demands
        order = np.lexsort((group, -norm.sum(1), -norm.max(1)))
    ds = d[order]
    brk = np.any(ds[1:] != ds[:-1], axis=1)
    if group is not None:
        brk |= group[order][1:] != group[order][:-1]
    brk = np.flatnonzero(brk) + 1
    for run in np.split(order, brk):
        v = d[run[0]]
        q = len(run)
        pos = v > 0
        got = np.zeros(0, dtype=np.int64)
        border = np.arange(nb)
        if nb:
            if group is not None:
                gm = gsum[:nb] / np.maximum(gcnt[:nb], 1)
                border = np.argsort(np.abs(gm - group[run[0]]), kind="stable")
            room = np.floor((cap[pos] - loads[border][:, pos]) / v[pos]).min(1) if pos.any() \
                else np.full(nb, q)
            room = np.maximum(room, 0).astype(np.int64)
            before = np.cumsum(room) - room
            got = np.clip(q - before, 0, room)
        per = int(np.floor(cap[pos] / v[pos]).min()) if pos.any() else q
        per = max(per, 1)
        rest = q - int(got.sum())
        new = -(-rest // per) if rest > 0 else 0
        take = np.concatenate([got, np.full(new, per, dtype=np.int64)])
        take[-1:] -= max(0, int(take.sum()) - q) if new else 0
        bins = np.repeat(np.concatenate([border, np.arange(nb, nb + new)]), take)
        assign[run] = bins
        np.add.at(loads, bins, v)
        if group is not None:
            np.add.at(gsum, bins, group[run].astype(np.float64))
            np.add.at(gcnt, bins, 1)
        nb += new
    if improve and nb > 1:
        assign, nb = _empty_bins(assign, d, cap, loads[:nb].copy())
    return assign


def _empty_bins(assign: np.ndarray, d: np.ndarray, cap: np.ndarray,
                loads: np.ndarray) -> tuple[np.ndarray, int]:
    """Try to dissolve cores, least loaded first, by first-fitting their items elsewhere."""
    alive = np.ones(len(loads), dtype=bool)
    for b in np.argsort((loads / cap).max(1), kind="stable")[: min(len(loads), 256)]:
        items = np.flatnonzero(assign == b)
        trial = loads.copy()
        moves = []
        for i in sorted(items, key=lambda i: -float((d[i] / cap).max())):
            ok = alive & np.all(trial + d[i] <= cap, axis=1)
            ok[b] = False
            if not ok.any():
                break
            j = int(np.argmax(ok))
            trial[j] += d[i]
            moves.append((i, j))
        else:
            for i, j in moves:
                assign[i] = j
            trial[b] = 0
            loads = trial
            alive[b] = False
    remap = -np.ones(len(loads), dtype=np.int64)
    remap[alive] = np.arange(alive.sum())
    return remap[assign], int(alive.sum())


def _improve(assign: np.ndarray, demands: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Run the core-emptying pass on an existing assignment."""
    if len(assign) == 0:
        return assign
    cap = np.asarray(capacity, dtype=np.float64)
    d = np.asarray(demands, dtype=np.float64)
    loads = np.zeros((int(assign.max()) + 1, d.shape[1]))
    np.add.at(loads, assign, d)
    return _empty_bins(assign.copy(), d, cap, loads)[0]


def lower_bound(total: np.ndarray, capacity: np.ndarray) -> dict[str, int]:
    """Per budget ceil(total demand / capacity); the global LB is their max."""
    return {b: int(math.ceil(t / c - 1e-12)) for b, t, c in zip(BUDGETS, total, capacity)}


# -- mesh ----------------------------------------------------------------------------------------
@dataclass
class Mesh2D:
    """Core slots of ``chips`` chips: chip grid x router mesh x cores per router."""
    target: Target
    chips: int

    def __post_init__(self) -> None:
        m, t = self.target.mesh, self.target
        self.gcols = math.ceil(math.sqrt(self.chips))
        per_chip = []
        for r in range(m.cols * m.rows):
            for k in range(m.cores_per_router):
                per_chip.append((r % m.cols, r // m.cols, k))
        per_chip = per_chip[: t.cores_per_chip]
        rows = []
        for ch in range(self.chips):
            cx, cy = ch % self.gcols, ch // self.gcols
            for x, y, k in per_chip:
                rows.append((ch, cx, cy, cx * m.cols + x, cy * m.rows + y, k, x, y))
        a = np.array(rows, dtype=np.int64)
        self.chip, self.cx, self.cy, self.gx, self.gy = a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4]
        self.k, self.x, self.y = a[:, 5], a[:, 6], a[:, 7]
        self.n = len(a)
        self.cross = t.mesh.chip_crossing_hops

    def dist(self, a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
        """Hops between slots (vectorised)."""
        return (np.abs(self.gx[a] - self.gx[b]) + np.abs(self.gy[a] - self.gy[b])
                + self.cross * (np.abs(self.cx[a] - self.cx[b]) + np.abs(self.cy[a] - self.cy[b])))

    def hilbert(self) -> np.ndarray:
        """Slots in Hilbert-curve order of their global router position (then core in router):
        consecutive cores fill compact 2-D blocks, across chip boundaries too."""
        n = 1 << max(1, int(max(self.gx.max(), self.gy.max())).bit_length())
        x, y = self.gx.copy(), self.gy.copy()
        d = np.zeros(self.n, dtype=np.int64)
        s = n // 2
        while s > 0:
            rx, ry = (x & s) > 0, (y & s) > 0
            d += s * s * ((3 * rx) ^ ry)
            flip = ~ry & rx
            x = np.where(flip, s - 1 - x, x)
            y = np.where(flip, s - 1 - y, y)
            x, y = np.where(~ry, y, x), np.where(~ry, x, y)
            s //= 2
        return np.lexsort((self.k, d))

    def serpentine(self) -> np.ndarray:
        """Slots in a locality-preserving order: chips in order, rows boustrophedon."""
        key = np.where(self.y % 2 == 0, self.x, -self.x)
        return np.lexsort((self.k, key, self.y, self.chip))


# -- traffic ---------------------------------------------------------------------------------------
def _prefix(layer: Layer, activity: Activity) -> np.ndarray | float:
    """2-D prefix sums of spikes per neuron in the (channels, positions) grid, or a scalar rate."""
    a = None if activity is None else activity.get(layer.name)
    if a is None:
        return 1.0
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 0:
        return float(arr)
    if layer.hw is not None and arr.size == layer.size:
        h, w = layer.hw
        arr = arr.reshape(layer.channels, h, w).transpose(0, 2, 1)
    arr = arr.reshape(layer.channels, layer.positions)
    out = np.zeros((layer.channels + 1, layer.positions + 1))
    out[1:, 1:] = arr.cumsum(0).cumsum(1)
    return out


def _rect_sum(pre: np.ndarray | float, c0, c1, p0, p1):
    if isinstance(pre, float):
        return pre * np.maximum(c1 - c0, 0) * np.maximum(p1 - p0, 0)
    c0, c1 = np.minimum(c0, c1), c1
    p0, p1 = np.minimum(p0, p1), p1
    return pre[c1, p1] - pre[c0, p1] - pre[c1, p0] + pre[c0, p0]


@dataclass
class _Plan:
    """Slices of all placed layers (arrays indexed by slice id)."""
    layers: list[Layer]
    rects: list[np.ndarray]   # per layer (n_l, 4): c0, c1, p0, p1
    layer_of: np.ndarray
    rect: np.ndarray          # (n, 4)
    demand: np.ndarray        # (n, budgets)
    first: list[int]          # first slice id of each layer


def _make_plan(layers: list[Layer], rects: list[list[tuple[int, int, int, int]]],
               target: Target) -> _Plan:
    lo, dem, first = [], [], []
    cache: dict[tuple[int, int, int], np.ndarray] = {}
    for li, (la, rs) in enumerate(zip(layers, rects)):
        first.append(len(lo))
        for c0, c1, p0, p1 in rs:
            key = (li, c1 - c0, p1 - p0)
            if key not in cache:
                cache[key] = slice_demand(la, c1 - c0, p1 - p0, target)
            lo.append(li)
            dem.append(cache[key])
    arr = [np.asarray(rs, dtype=np.int64).reshape(-1, 4) for rs in rects]
    return _Plan(layers, arr, np.array(lo, dtype=np.int64),
                 np.concatenate(arr) if arr else np.zeros((0, 4), dtype=np.int64),
                 np.array(dem, dtype=np.int64).reshape(-1, len(BUDGETS)), first)


def _read_range(fi, la: Layer, src: Layer, c0: int, c1: int, p0: int, p1: int):
    """Source rectangle (c0, c1, p0, p1) read by the consumer slice of ``la``."""
    if fi.chan_map == "same" and src.channels:
        sc0 = c0 * src.channels // la.channels
        sc1 = -(-c1 * src.channels // la.channels)
    else:
        sc0, sc1 = 0, src.channels
    if fi.pos_map == "same":
        sp0 = p0 * src.positions // la.positions
        sp1 = -(-p1 * src.positions // la.positions)
    elif fi.pos_map == "window" and fi.window is not None and la.hw is not None:
        k, s, pad, d = fi.window
        ho = la.hw[0]
        hi, wi = fi.in_hw
        x0, x1 = p0 // ho, (p1 - 1) // ho
        xa = max(0, x0 * s - pad)
        xb = min(wi - 1, x1 * s - pad + (k - 1) * d)
        sp0, sp1 = xa * hi, (xb + 1) * hi
        if src.positions != hi * wi:   # wiring changed the layout: read everything
            sp0, sp1 = 0, src.positions
    else:
        sp0, sp1 = 0, src.positions
    return sc0, sc1, sp0, sp1


def _edges(plan: _Plan, activity: Activity) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slice-level edges (source slice, consumer slice, spikes per step read)."""
    idx = {la.name: i for i, la in enumerate(plan.layers)}
    pre = [_prefix(la, activity) for la in plan.layers]
    S, T, W = [], [], []
    for li, la in enumerate(plan.layers):
        for fi in la.fanin:
            si = idx.get(fi.source)
            if si is None:
                continue
            src = plan.layers[si]
            r = plan.rects[si]
            for t, (c0, c1, p0, p1) in enumerate(plan.rects[li].tolist()):
                r0, r1, q0, q1 = _read_range(fi, la, src, c0, c1, p0, p1)
                a0, a1 = np.maximum(r[:, 0], r0), np.minimum(r[:, 1], r1)
                b0, b1 = np.maximum(r[:, 2], q0), np.minimum(r[:, 3], q1)
                hit = np.flatnonzero((a0 < a1) & (b0 < b1))
                if hit.size == 0:
                    continue
                w = np.asarray(_rect_sum(pre[si], a0[hit], a1[hit], b0[hit], b1[hit]),
                               dtype=np.float64).reshape(-1)
                keep = w > 0
                S.append(plan.first[si] + hit[keep])
                T.append(np.full(int(keep.sum()), plan.first[li] + t))
                W.append(w[keep])
    if not S:
        z = np.zeros(0, dtype=np.int64)
        return z, z, np.zeros(0)
    return np.concatenate(S), np.concatenate(T), np.concatenate(W)


def _blocks(la: Layer, s: Slicing) -> tuple[list[tuple[int, int]], int]:
    """Channel blocks of a layer and the number of units cut along the split axis."""
    if la.positions > 1:
        return list(zip(s.cc[:-1], s.cc[1:])), la.positions
    return [(0, la.channels)], la.channels


def _spread(la: Layer, s: Slicing, m: int) -> list[tuple[int, tuple[int, int, int, int]]]:
    """Cut a layer into (up to) ``m`` near-equal pieces; piece i goes to window core i."""
    blocks, n = _blocks(la, s)
    out = []
    if m < len(blocks):
        for b, (c0, c1) in enumerate(blocks):
            out.append((b % m, (c0, c1, 0, la.positions) if la.positions > 1
                        else (c0, c1, 0, 1)))
        return out
    core = 0
    for b, (c0, c1) in enumerate(blocks):
        al = 1 if la.positions > 1 else max(1, la.align)      # 1-D: whole rows of align
        cnt = min((n if la.positions > 1 else c1 - c0) // al,
                  m // len(blocks) + (1 if b < m % len(blocks) else 0))
        lo = 0 if la.positions > 1 else c0
        hi = n if la.positions > 1 else c1
        units = (hi - lo) // al
        cuts = [lo + al * ((units * i) // cnt) for i in range(cnt + 1)]
        cuts[-1] = hi
        for a, z in zip(cuts[:-1], cuts[1:]):
            out.append((core, (c0, c1, a, z) if la.positions > 1 else (a, z, 0, 1)))
            core += 1
    return out


def _window_pack(layers: list[Layer], slicings: list[Slicing], target: Target,
                 max_window: int = 6) -> tuple[list[list[tuple[int, int, int, int]]], np.ndarray]:
    """Interleaved packing of consecutive layers (pipeline windows), chosen by dynamic programming.

    A window of up to ``max_window`` consecutive layers shares m cores: every layer of the window
    is cut into m near-equal pieces and piece i of each goes to core i, so neuron-heavy and
    memory-heavy layers fill each other's residual budgets and per-token consumers sit on the
    core of their producer. m starts at the window's lower bound and grows until every core fits
    (then is bisected down); the partition of the layer sequence into windows minimises the total
    core count (single-layer windows are always feasible, so this never loses to one layer per
    core with minimal slicing)."""
    cap = np.asarray(target.capacity(), dtype=np.int64)
    memo: dict[tuple[int, int, int], np.ndarray] = {}

    def dem(li: int, r: tuple[int, int, int, int]) -> np.ndarray:
        key = (li, r[1] - r[0], r[3] - r[2])
        if key not in memo:
            memo[key] = slice_demand(layers[li], key[1], key[2], target)
        return memo[key]

    base = [sum(dem(li, r) for r in s.rects()) for li, s in enumerate(slicings)]
    kmin = [s.count for s in slicings]

    def loads_for(i: int, j: int, m: int) -> np.ndarray:
        loads = np.zeros((m, len(cap)), dtype=np.int64)
        for li in range(i, j):
            for core, r in _spread(layers[li], slicings[li], m):
                loads[core] += dem(li, r)
        return loads

    def cost(i: int, j: int) -> int | None:
        if j - i == 1:
            return kmin[i]
        total = np.sum([base[li] for li in range(i, j)], axis=0)
        m_hi = sum(kmin[i:j])
        m = max(max(kmin[i:j]), int(np.max(np.ceil(total / cap))))
        bad = m - 1
        while m < m_hi:
            ratio = float(np.max(loads_for(i, j, m) / cap))
            if ratio <= 1.0:
                break
            bad = m
            m = min(m_hi, max(m + 1, math.ceil(m * ratio)))
        else:
            return None if m > m_hi or np.any(loads_for(i, j, m) > cap) else m
        while m - bad > 1:     # bisect down to the smallest feasible m found
            mid = (m + bad) // 2
            if np.all(loads_for(i, j, mid) <= cap):
                m = mid
            else:
                bad = mid
        return m

    n = len(layers)
    best = [0] + [10**18] * n
    arg = [0] * (n + 1)
    msize: dict[tuple[int, int], int] = {}
    for j in range(1, n + 1):
        for i in range(max(0, j - max_window), j):
            c = cost(i, j)
            if c is not None and best[i] + c < best[j]:
                best[j], arg[j] = best[i] + c, i
                msize[(i, j)] = c
    spans = []
    j = n
    while j > 0:
        spans.append((arg[j], j))
        j = arg[j]
    rects: list[list[tuple[int, int, int, int]]] = [[] for _ in layers]
    cores: list[list[int]] = [[] for _ in layers]
    offset = 0
    for i, j in reversed(spans):
        m = msize[(i, j)]
        for li in range(i, j):
            for core, r in (_spread(layers[li], slicings[li], m) if j - i > 1 else
                            [(k, r) for k, r in enumerate(slicings[li].rects())]):
                rects[li].append(r)
                cores[li].append(offset + core)
        offset += m
    flat = np.asarray([c for cs in cores for c in cs], dtype=np.int64)
    used = np.unique(flat)                      # drop cores a window left empty
    return rects, np.searchsorted(used, flat)


def _core_traffic(edges, core_of: np.ndarray, n_cores: int) -> tuple[sp.csr_matrix, float]:
    """Core-to-core messages per step (csr, diagonal removed) and the intra-core messages.

    A source slice sends one message per spike to each destination core (the largest read among
    that core's consumer slices counts)."""
    s, t, w = edges
    if len(s) == 0:
        return sp.csr_matrix((n_cores, n_cores)), 0.0
    key = s * n_cores + core_of[t]
    order = np.argsort(key, kind="stable")
    key, w = key[order], w[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    wmax = np.maximum.reduceat(w, starts)
    src_core = core_of[key[starts] // n_cores]
    dst_core = key[starts] % n_cores
    m = sp.coo_matrix((wmax, (src_core, dst_core)), shape=(n_cores, n_cores)).tocsr()
    intra = float(m.diagonal().sum())
    m.setdiag(0)
    m.eliminate_zeros()
    return m, intra


def _traffic(m: sp.csr_matrix, slot_of: np.ndarray, mesh: Mesh2D) -> tuple[float, float]:
    """(sum messages x hops, messages crossing chips) per step."""
    coo = m.tocoo()
    if coo.nnz == 0:
        return 0.0, 0.0
    a, b = slot_of[coo.row], slot_of[coo.col]
    hops = mesh.dist(a, b)
    return float((coo.data * hops).sum()), float(coo.data[mesh.chip[a] != mesh.chip[b]].sum())


def _top_k(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` heaviest entries of every row (then symmetrise): the optimiser's graph."""
    rows, cols, vals = [], [], []
    for r in range(m.shape[0]):
        a, b = m.indptr[r], m.indptr[r + 1]
        if b - a > k:
            keep = a + np.argpartition(-m.data[a:b], k)[:k]
        else:
            keep = np.arange(a, b)
        rows.append(np.full(len(keep), r))
        cols.append(m.indices[keep])
        vals.append(m.data[keep])
    if not rows:
        return m
    t = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=m.shape).tocsr()
    return t.maximum(t.T).tocsr()


def _optimise(m: sp.csr_matrix, order: np.ndarray, mesh: Mesh2D, seed: int,
              passes: int = 4, top_k: int = 24) -> np.ndarray:
    """Slot of each core: serpentine or Hilbert layout of ``order``, then weighted-median moves
    (swap with the core at or next to the weighted median of its neighbours' positions) on the
    graph of each core's ``top_k`` heaviest links. Deterministic for ``seed``."""
    n = m.shape[0]
    rng = np.random.default_rng(seed)
    sym = _top_k((m + m.T).tocsr(), top_k)
    slots = min((mesh.serpentine(), mesh.hilbert()),     # the better space-filling start
                key=lambda sl: _traffic(m, _at(order, sl), mesh)[0])
    slot_of = np.empty(n, dtype=np.int64)
    slot_of[order] = slots[:n]
    core_at = -np.ones(mesh.n, dtype=np.int64)
    core_at[slot_of] = np.arange(n)
    xyz = np.stack([mesh.gx, mesh.gy, mesh.cross * mesh.cx, mesh.cross * mesh.cy], 1)
    by_xy: dict[tuple[int, int], list[int]] = {}
    for s in range(mesh.n):
        by_xy.setdefault((int(mesh.gx[s]), int(mesh.gy[s])), []).append(s)
    ip, ix, dat = sym.indptr, sym.indices, sym.data

    def cost(c: int, at: int, moved: int, moved_to: int) -> float:
        nb, w = ix[ip[c]:ip[c + 1]], dat[ip[c]:ip[c + 1]]
        if nb.size == 0:
            return 0.0
        pos = slot_of[nb]
        if moved >= 0:
            pos = np.where(nb == moved, moved_to, pos)
        return float(w @ np.abs(xyz[pos] - xyz[at]).sum(1))

    for _ in range(passes):
        improved = 0
        for a in rng.permutation(n):
            nb, w = ix[ip[a]:ip[a + 1]], dat[ip[a]:ip[a + 1]]
            if nb.size == 0:
                continue
            pos = slot_of[nb]
            gx = _wmedian(mesh.gx[pos], w)
            gy = _wmedian(mesh.gy[pos], w)
            cands = np.array([s for dx, dy in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))
                              for s in by_xy.get((gx + dx, gy + dy), ())], dtype=np.int64)
            sa = int(slot_of[a])
            cands = cands[cands != sa]
            if cands.size == 0:
                continue
            nxyz = xyz[pos]
            old = float(w @ np.abs(nxyz - xyz[sa]).sum(1))
            new = np.abs(nxyz[None, :, :] - xyz[cands][:, None, :]).sum(2) @ w
            for ci in np.argsort(new, kind="stable")[:2]:
                if new[ci] >= old - 1e-9:
                    break
                sb = int(cands[ci])
                b = int(core_at[sb])
                delta = cost(a, sb, b, sa) - old
                if b >= 0:
                    delta += cost(b, sa, a, sb) - cost(b, sb, -1, -1)
                if delta < -1e-9:
                    slot_of[a], core_at[sb], core_at[sa] = sb, a, b
                    if b >= 0:
                        slot_of[b] = sa
                    improved += 1
                    break
        if improved <= n // 200:
            break
    return slot_of


def _at(order: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """Slot of each core when the cores in ``order`` take ``slots`` in turn."""
    out = np.empty(len(order), dtype=np.int64)
    out[order] = slots[: len(order)]
    return out


def _wmedian(v: np.ndarray, w: np.ndarray) -> int:
    o = np.argsort(v, kind="stable")
    cw = np.cumsum(w[o])
    return int(v[o][np.searchsorted(cw, cw[-1] / 2)])


# -- the placement record --------------------------------------------------------------------------
@dataclass
class Placement:
    """Result of :func:`place`; JSON-able through :meth:`to_dict` / :meth:`from_dict`.

    ``slices``: per slice [layer, c0, c1, p0, p1, core]; ``core_slots``: per core [chip, x, y, k]
    (router column, row, core in router); ``core_load``: per core demand vector (BUDGETS order);
    traffic values are messages x hops per step.
    """
    target: str
    cores: int
    chips: int
    lower_bound: int
    lower_bound_per_budget: dict[str, int]
    baseline_cores: int
    traffic: float
    sequential_traffic: float
    baseline_traffic: float
    utilisation: dict[str, dict[str, float]]
    largest_core_load: dict[str, Any]
    messages: dict[str, float]
    layers: dict[str, dict[str, Any]]
    host_operators: list[str]
    violations: list[str]
    slices: list[list[Any]]
    core_slots: list[list[int]]
    core_load: list[list[int]]
    capacity: list[int]
    mesh: list[int]
    seed: int = 0
    runtime_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Placement":
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in names})

    def plot(self, path: str) -> None:
        """Heatmap of per-core max utilisation on each chip's router mesh (PNG etc.)."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        cols, rows = self.mesh[0], self.mesh[1]
        kpr = max([s[3] for s in self.core_slots] + [0]) + 1
        shown = min(self.chips, 16)
        ncol = min(shown, 4)
        nrow = -(-shown // ncol)
        fig, axes = plt.subplots(nrow, ncol, figsize=(4 * ncol, 2.6 * nrow), squeeze=False)
        cap = np.asarray(self.capacity, dtype=float)
        util = (np.asarray(self.core_load, dtype=float) / cap).max(1) if self.core_load else []
        for ch in range(nrow * ncol):
            ax = axes[ch // ncol][ch % ncol]
            if ch >= shown:
                ax.axis("off")
                continue
            grid = np.full((rows, cols * kpr), np.nan)
            for core, (c, x, y, k) in enumerate(self.core_slots):
                if c == ch:
                    grid[y, x * kpr + k] = util[core]
            im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", origin="upper")
            ax.set_title(f"chip {ch}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.colorbar(im, ax=axes, shrink=0.8, label="max budget utilisation")
        fig.suptitle(f"{self.target}: {self.cores} cores on {self.chips} chip(s) "
                     f"(LB {self.lower_bound}, baseline {self.baseline_cores})", fontsize=10)
        fig.savefig(path, dpi=110)
        plt.close(fig)


# -- driver -------------------------------------------------------------------------------------
def _as_layers(network: ir.Network | list[Layer], target: Target) -> list[Layer]:
    layers = layers_from_network(network) if isinstance(network, ir.Network) else list(network)
    return finalize_layers(layers, target)


def place(network: ir.Network | list[Layer], target: Target | str = "loihi2",
          chips: int | None = None, activity: Activity = None, seed: int = 0,
          passes: int = 4, scales: tuple[float, ...] = (1.0, 0.8, 0.75),
          window_pack_max_slices: int = 3000,
          baseline_traffic_max_cores: int = 50000) -> Placement:
    """Partition, pack and place ``network`` (an IR network or a list of :class:`Layer`).

    ``chips``: chips available (default: the fewest that hold the cores); raises
    UnsupportedError if the cores do not fit them. ``activity``: node name -> mean spikes per
    neuron per step (scalar or array of the node's shape). Deterministic for a given ``seed``.
    """
    t0 = time.perf_counter()
    notes: list[str] = []
    target = load_target(target)
    layers = _as_layers(network, target)
    violations = require_placeable(layers, target)
    placed = [la for la in layers if not la.host]
    host = [la.name for la in layers if la.host]
    cap = np.asarray(target.capacity(), dtype=np.int64)

    slicings = [min_slicing(la, target) for la in placed]
    plan = _make_plan(placed, [s.rects() for s in slicings], target)
    # LB on the minimal slicing (fewest slices: least replicated fan-in and list headers)
    lbs = lower_bound(plan.demand.sum(0), cap)
    lb = max(lbs.values()) if lbs else 0
    # candidates: interleaved pipeline windows, and first-fit-decreasing on slicings cut to a
    # fraction of a core (room left for memory-heavy pieces of other layers); fewest cores wins
    core_of = pack(plan.demand, cap)
    method = "first-fit-decreasing"
    if 0 < len(plan.demand) <= window_pack_max_slices:   # the DP is O(layers x window x cores)
        wrects, wcores = _window_pack(placed, slicings, target)
        wcores = _improve(wcores, _make_plan(placed, wrects, target).demand, cap)
        if len(wcores) and wcores.max() <= core_of.max():
            plan, core_of = _make_plan(placed, wrects, target), wcores
            method = "pipeline windows"
    for scale in scales if len(plan.demand) else ():
        if core_of.max() + 1 <= 1.02 * lb:
            break
        sl = [min_slicing(la, target, scale) or s for la, s in zip(placed, slicings)]
        fplan = _make_plan(placed, [s.rects() for s in sl], target)
        fcores = pack(fplan.demand, cap, improve=False, group=fplan.layer_of)
        if fcores.max() < core_of.max():
            fcores = _improve(fcores, fplan.demand, cap)
            plan, core_of, method = fplan, fcores, f"first-fit-decreasing, tiles <= {scale:g} core"
    n_cores = int(core_of.max()) + 1 if len(core_of) else 0
    loads = np.zeros((n_cores, len(BUDGETS)), dtype=np.int64)
    np.add.at(loads, core_of, plan.demand)
    assert np.all(loads <= cap), "packing exceeded a budget"

    need = max(1, -(-n_cores // target.cores_per_chip))
    if chips is not None and chips < need:
        raise UnsupportedError(f"{n_cores} cores need {need} chip(s)", field="chips",
                               value=chips, limit=f">= {need} chips of {target.cores_per_chip}")
    n_chips = chips or need
    mesh = Mesh2D(target, n_chips)

    edges = _edges(plan, activity)
    m, intra = _core_traffic(edges, core_of, n_cores)
    # pipeline order of cores: mean layer index of their slices
    mean_layer = np.zeros(n_cores)
    np.add.at(mean_layer, core_of, plan.layer_of.astype(float))
    mean_layer /= np.maximum(np.bincount(core_of, minlength=n_cores), 1)
    order = np.lexsort((np.arange(n_cores), mean_layer))
    seq_slot = np.empty(n_cores, dtype=np.int64)
    seq_slot[order] = np.arange(n_cores)               # sequential numbering, row-major slots
    seq_traffic, _ = _traffic(m, seq_slot, mesh)
    passes = max(1, min(passes, 1 + 20000 // max(n_cores, 1)))   # bound the work on huge nets
    slot_of = _optimise(m, order, mesh, seed, passes) if n_cores > 1 else seq_slot
    traffic, cross = _traffic(m, slot_of, mesh)
    if traffic > seq_traffic:                          # never worse than sequential
        slot_of, traffic = seq_slot, seq_traffic
        _, cross = _traffic(m, slot_of, mesh)

    # baseline: Intel's halving, one piece per core, sequential numbering
    base = [halving_pieces(la, target) for la in placed]
    b_cores = sum(b.count for b in base)
    b_traffic = float("nan")
    if b_cores <= baseline_traffic_max_cores:     # its slice graph is large: bounded work
        bplan = _make_plan(placed, [b.rects() for b in base], target)
        b_need = max(1, -(-b_cores // target.cores_per_chip))
        bmesh = Mesh2D(target, max(b_need, n_chips))
        bm, _ = _core_traffic(_edges(bplan, activity), np.arange(b_cores), b_cores)
        b_traffic, _ = _traffic(bm, np.arange(b_cores), bmesh)
    else:
        notes.append(f"baseline traffic not computed ({b_cores} baseline cores > "
                     f"{baseline_traffic_max_cores})")

    util = loads / cap
    worst = int(np.argmax(util.max(1))) if n_cores else 0
    wb = int(np.argmax(util[worst])) if n_cores else 0
    per_layer = {la.name: {"slices": len(r), "baseline_cores": b.count,
                           "neurons": la.size, "kind": la.kind, "note": la.note}
                 for la, r, b in zip(placed, plan.rects, base)}
    for name in host:
        per_layer[name] = {"slices": 0, "baseline_cores": 0, "note": HOST_NOTE}
    total_msgs = float(m.sum()) + intra
    notes.append(f"packing: {method}")
    if not target.mesh.confirmed:
        notes.append(f"mesh geometry {target.mesh.cols}x{target.mesh.rows} is unconfirmed")
    return Placement(
        target=target.name, cores=n_cores, chips=n_chips, lower_bound=lb,
        lower_bound_per_budget=lbs, baseline_cores=b_cores, traffic=traffic,
        sequential_traffic=seq_traffic, baseline_traffic=b_traffic,
        utilisation={b: {"mean": float(util[:, i].mean()) if n_cores else 0.0,
                         "max": float(util[:, i].max()) if n_cores else 0.0}
                     for i, b in enumerate(BUDGETS)},
        largest_core_load={"core": worst, "budget": BUDGETS[wb],
                           "utilisation": float(util[worst, wb]) if n_cores else 0.0,
                           "slices": int((core_of == worst).sum())},
        messages={"total": total_msgs, "intra_core": intra, "inter_core": float(m.sum()),
                  "inter_chip": cross},
        layers=per_layer, host_operators=host, violations=[str(v) for v in violations],
        slices=[[placed[li].name, *map(int, r), int(c)]
                for li, r, c in zip(plan.layer_of, plan.rect, core_of)],
        core_slots=[[int(mesh.chip[s]), int(mesh.x[s]), int(mesh.y[s]), int(mesh.k[s])]
                    for s in slot_of],
        core_load=loads.tolist(), capacity=cap.tolist(),
        mesh=[target.mesh.cols, target.mesh.rows, target.mesh.cores_per_router],
        seed=seed, runtime_s=time.perf_counter() - t0, notes=notes)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def place_command(network: ir.Network | list[Layer], target: Target | str = "loihi2",
                  chips: int | None = None, activity: Activity = None,
                  as_json: bool = False, seed: int = 0) -> tuple[str, dict[str, Any]]:
    """Build the ``neurodeploy place`` report: (printed text, JSON-able dict)."""
    p = place(network, target, chips=chips, activity=activity, seed=seed)
    d = p.to_dict()
    if as_json:
        return json.dumps(d, indent=1), d
    red = (1 - p.traffic / p.sequential_traffic) if p.sequential_traffic else 0.0
    bred = (1 - p.traffic / p.baseline_traffic) if p.baseline_traffic else 0.0
    lines = [f"target {p.target}: {p.cores} cores on {p.chips} chip(s)",
             f"lower bound LB = {p.lower_bound} cores ("
             + ", ".join(f"{BUDGET_LABELS[b]} {v}" for b, v in p.lower_bound_per_budget.items())
             + f"); cores/LB = {p.cores / max(p.lower_bound, 1):.3f}",
             f"one-layer-per-core halving baseline: {p.baseline_cores} cores",
             "utilisation per core (mean / max): " + ", ".join(
                 f"{BUDGET_LABELS[b]} {_pct(u['mean'])} / {_pct(u['max'])}"
                 for b, u in p.utilisation.items()),
             f"largest per-core load: core {p.largest_core_load['core']} "
             f"{BUDGET_LABELS[p.largest_core_load['budget']]} "
             f"{_pct(p.largest_core_load['utilisation'])} "
             f"({p.largest_core_load['slices']} slices)",
             f"messages x hops per step: {p.traffic:.1f} (sequential placement of the same cores "
             f"{p.sequential_traffic:.1f}, {_pct(red)} less; baseline {p.baseline_traffic:.1f}, "
             f"{_pct(bred)} less)",
             f"messages per step: {p.messages['total']:.1f} (intra-core "
             f"{p.messages['intra_core']:.1f}, inter-chip {p.messages['inter_chip']:.1f})"]
    lines += [f"host operator — not on neurocores: {h}" for h in p.host_operators]
    lines += [f"split: {v}" for v in p.violations]
    lines += [f"note: {n}" for n in p.notes]
    return "\n".join(lines), d
