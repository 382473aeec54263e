"""Splitting one layer into core slices: our minimal slicing and Intel's halving baseline.

A slicing is a grid: channel cuts ``cc`` and position cuts ``pc`` (both start at 0 and end at the
layer size); slice (i, j) is ``[cc[i], cc[i+1]) x [pc[j], pc[j+1])``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..targets import Target
from .resources import Layer, slice_demand

__all__ = ["Slicing", "fits", "min_slicing", "halving_pieces", "worst_ratio"]


@dataclass
class Slicing:
    """Grid cuts of a layer (see module docstring)."""
    cc: list[int]
    pc: list[int]

    @property
    def count(self) -> int:
        return (len(self.cc) - 1) * (len(self.pc) - 1)

    def rects(self) -> list[tuple[int, int, int, int]]:
        """(c0, c1, p0, p1) of every slice, channel-major."""
        return [(self.cc[i], self.cc[i + 1], self.pc[j], self.pc[j + 1])
                for i in range(len(self.cc) - 1) for j in range(len(self.pc) - 1)]


def worst_ratio(layer: Layer, c: int, p: int, target: Target) -> float:
    """max over budgets of demand / capacity for a ``c x p`` slice."""
    return float(np.max(slice_demand(layer, c, p, target) / np.asarray(target.capacity())))


def fits(layer: Layer, c: int, p: int, target: Target, scale: float = 1.0) -> bool:
    """Does a ``c x p`` slice fit ``scale`` x the per-core capacity (neuron groups unscaled)?"""
    cap = np.asarray(target.capacity(), dtype=np.float64)
    cap[:-1] = np.floor(cap[:-1] * scale)
    return bool(np.all(slice_demand(layer, c, p, target) <= cap))


def _max_p(layer: Layer, c: int, target: Target, scale: float = 1.0) -> int:
    """Largest p <= positions with a ``c x p`` slice fitting (0 if even p = 1 does not)."""
    if not fits(layer, c, 1, target, scale):
        return 0
    lo, hi = 1, layer.positions
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(layer, c, mid, target, scale):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _cuts(n: int, size: int) -> list[int]:
    """Cuts at multiples of ``size`` (full slices plus one remainder)."""
    return list(range(0, n, size)) + [n]


def min_slicing(layer: Layer, target: Target, scale: float = 1.0) -> Slicing | None:
    """The grid with the fewest slices whose every slice fits a core (``scale`` x its capacity);
    None if a single neuron does not fit (no split can fix it). Full-size slices plus a
    remainder, so that remainders can be packed with other layers; ties go to the largest full
    slice. ``scale < 1`` leaves room in every core for pieces of other layers."""
    C, P = layer.channels, layer.positions
    best: tuple[int, int, int, int] | None = None   # (count, -c*p, c, p)
    seen: set[int] = set()
    for nc in range(1, C + 1):
        c = -(-C // nc)
        c = -(-c // layer.align) * layer.align
        if c in seen:
            continue
        seen.add(c)
        n_c = -(-C // c)
        if best is not None and n_c >= best[0]:
            break
        p = _max_p(layer, c, target, scale)
        if p == 0:
            continue
        key = (n_c * -(-P // p), -c * p, c, p)
        if best is None or key < best:
            best = key
    if best is None:
        return None
    _, _, c, p = best
    return Slicing(_cuts(C, c), _cuts(P, p))


def _fits_baseline(layer: Layer, c: int, p: int, target: Target) -> bool:
    d = slice_demand(layer, c, p, target)
    cap = np.asarray(target.capacity())
    if target.baseline_neurons_strict and d[0] >= cap[0]:
        return False
    return bool(np.all(d <= cap))


def _pow2_at_least(n: int) -> int:
    return 1 << max(0, (int(n) - 1).bit_length())


def halving_pieces(layer: Layer, target: Target) -> Slicing | None:
    """Intel's Loihi 2 compiler behaviour as seen in its logs (spec 1.2), one piece per core.

    Spatial layers ((C, H, W) neurons): power-of-two tiles, halving the x width first (from the
    next power of two >= W), then the y height, then the channels, until a tile fits - PilotNet's
    logged tiles (16, 66, 3), (4, 32, 24), (4, 15, 36), (8, 7, 48), (16, 2, 64) are all of this
    form; the target's ``[baseline]`` table caps the x tile and makes the neuron budget strict,
    as the logs suggest. Other layers: split into ceil(max ratio) equal parts, and again for any
    part that still violates ("Final max_ratio=6", then 2, for the 2560x100 dense layer: 12 cores).
    Returns the pieces as a grid; None if a single neuron does not fit.
    """
    if not fits(layer, 1, 1, target):
        return None
    C, P = layer.channels, layer.positions
    if layer.hw is not None and P > 1:
        H, W = layer.hw
        tx, ty, tc = _pow2_at_least(W), _pow2_at_least(H), _pow2_at_least(C)
        if target.baseline_max_tile_x:
            tx = min(tx, target.baseline_max_tile_x)
        while not _fits_baseline(layer, min(tc, C), min(tx, W) * min(ty, H), target):
            if tx == ty == tc == 1:
                break
            if tx > 1:
                tx //= 2
            elif ty > 1:
                ty //= 2
            else:
                tc //= 2
        n_pos = -(-W // tx) * -(-H // ty)
        n_c = -(-C // tc)
        return Slicing(_even(C, n_c), _even(P, n_pos))
    pieces = [C]
    done: list[int] = []
    while pieces:
        n = pieces.pop()
        r = worst_ratio(layer, n, P, target)
        if r <= 1.0 and (n == 1 or _fits_baseline(layer, n, P, target)):
            done.append(n)
            continue
        k = min(n, max(2, math.ceil(r)))
        pieces += [b - a for a, b in zip(_even(n, k)[:-1], _even(n, k)[1:])]
    done.sort(reverse=True)
    return Slicing(list(np.cumsum([0] + done)), [0, P])


def _even(n: int, k: int) -> list[int]:
    """k near-equal parts of n, larger parts first (cut positions)."""
    k = max(1, min(k, n))
    base, extra = divmod(n, k)
    cuts = [0]
    for i in range(k):
        cuts.append(cuts[-1] + base + (1 if i < extra else 0))
    return cuts
