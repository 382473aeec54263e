"""Design-rule check: does every layer fit the target's cores, and how to make it fit.

Run before any placement or run. Each layer is first costed as ONE core (Intel's "unconstrained
abstract core"); every budget it exceeds is a :class:`Violation` naming the layer, the budget,
the demand, the capacity and a fix (the split factor and tile that make it fit). Violations that
no split can fix (one neuron's fan-in exceeds SynMem or AxonIn, a neuron kind needing more groups
than a core has) are marked ``fixable=False``; :func:`require_placeable` raises
:class:`DesignRuleError` for them (or for every violation with ``allow_split=False``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UnsupportedError
from ..targets import BUDGET_LABELS, BUDGETS, Target
from .resources import Layer, slice_demand
from .slicing import min_slicing

__all__ = ["Violation", "DesignRuleError", "check", "require_placeable"]


@dataclass(frozen=True)
class Violation:
    """One budget exceeded by one layer (demand of the whole layer on one core, or of a single
    neuron when ``fixable`` is False)."""
    layer: str
    budget: str
    demand: int
    capacity: int
    fix: str
    fixable: bool

    def __str__(self) -> str:
        return (f"layer '{self.layer}': {BUDGET_LABELS[self.budget]} ({self.budget}) demand "
                f"{self.demand} > capacity {self.capacity} per core; fix: {self.fix}")


class DesignRuleError(UnsupportedError):
    """A network does not fit the target; ``violations`` lists every problem found."""

    def __init__(self, violations: list[Violation], target: str) -> None:
        self.violations = violations
        first = violations[0]
        more = f" (+{len(violations) - 1} more)" if len(violations) > 1 else ""
        super().__init__(f"design-rule check failed on target '{target}': "
                         f"{BUDGET_LABELS[first.budget]} {first.fix}{more}",
                         layer=first.layer, field=first.budget, value=first.demand,
                         limit=first.capacity)
        self.args = ("\n".join(str(v) for v in violations),)


def _unfixable_fix(budget: str, layer: Layer) -> str:
    if budget in ("synmem", "axon_in"):
        return ("no split can fix this: a single neuron's fan-in exceeds the core; reduce the "
                "fan-in (fewer input neurons, sparser or shared weights, fewer weight bits) or "
                "split the reduction into partial sums")
    if budget == "neuron_groups":
        return f"no split can fix this: one slice needs {layer.groups} neuron groups"
    return "no split can fix this: a single neuron exceeds the core"


def check(layers: list[Layer], target: Target) -> list[Violation]:
    """All violations of all on-chip layers (host operators are skipped). Layers must have been
    passed through :func:`~neurodeploy.place.resources.finalize_layers`."""
    cap = np.asarray(target.capacity())
    out: list[Violation] = []
    for la in layers:
        if la.host:
            continue
        one = slice_demand(la, 1, 1, target)
        if np.any(one > cap):
            for b, d, k in zip(BUDGETS, one, cap):
                if d > k:
                    out.append(Violation(la.name, b, int(d), int(k), _unfixable_fix(b, la),
                                         False))
            continue
        whole = slice_demand(la, la.channels, la.positions, target)
        if np.all(whole <= cap):
            continue
        s = min_slicing(la, target)
        assert s is not None
        c = max(b - a for a, b in zip(s.cc[:-1], s.cc[1:]))
        p = max(b - a for a, b in zip(s.pc[:-1], s.pc[1:]))
        tile = f"{c} channel(s) x {p} position(s)" if la.positions > 1 else f"{c} neurons"
        fix = f"split into {s.count} slices (tile {tile} per core)"
        for b, d, k in zip(BUDGETS, whole, cap):
            if d > k:
                out.append(Violation(la.name, b, int(d), int(k), fix, True))
    return out


def require_placeable(layers: list[Layer], target: Target, *,
                      allow_split: bool = True) -> list[Violation]:
    """Raise :class:`DesignRuleError` on unfixable violations (on any with ``allow_split=False``);
    otherwise return the (fixable) violations for the report."""
    vs = check(layers, target)
    bad = [v for v in vs if not v.fixable or not allow_split]
    if bad:
        raise DesignRuleError(bad, target.name)
    return vs
