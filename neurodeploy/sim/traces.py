"""Recorded per-step traces of a run, their HDF5 file form, and the backend comparison.

A :class:`Traces` maps ``layer -> variable -> int64 array (batch, *shape, steps)``; index ``t-1``
of the last axis holds the value after step ``t`` (steps count from 1, as in Lava).
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..errors import BundleError

__all__ = ["OverflowEvent", "Traces", "Divergence", "Comparison", "compare"]


@dataclass
class OverflowEvent:
    """A value that did not fit its register: counted per (layer, variable), first one kept."""
    layer: str
    variable: str
    count: int
    neuron: tuple
    step: int
    value: int
    limit: str
    sample: int = 0

    def as_dict(self) -> dict:
        return dict(layer=self.layer, variable=self.variable, count=int(self.count),
                    neuron=[int(i) for i in self.neuron], step=int(self.step),
                    value=int(self.value), limit=self.limit, sample=int(self.sample))


@dataclass
class Traces:
    backend: str
    steps: int
    data: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    overflow: list[OverflowEvent] = field(default_factory=list)

    def variables(self) -> list[tuple[str, str]]:
        return [(layer, var) for layer, vs in self.data.items() for var in vs]

    def __getitem__(self, key: tuple[str, str]) -> np.ndarray:
        layer, var = key
        return self.data[layer][var]

    def save(self, path: str | os.PathLike) -> None:
        """Write ``/traces/<layer>/<var>`` datasets atomically (temp file + rename)."""
        path = Path(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            with h5py.File(tmp, "w") as f:
                f.attrs["backend"] = self.backend
                f.attrs["steps"] = self.steps
                g = f.create_group("traces")
                for layer, var in self.variables():
                    g.create_dataset(f"{layer}/{var}", data=self.data[layer][var],
                                     compression="gzip")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Traces":
        try:
            with h5py.File(path, "r") as f:
                out = cls(backend=str(f.attrs["backend"]), steps=int(f.attrs["steps"]))
                for layer, g in f["traces"].items():
                    out.data[layer] = {var: np.asarray(ds[()], dtype=np.int64)
                                       for var, ds in g.items()}
        except (OSError, KeyError) as exc:
            raise BundleError(f"not a neurodeploy trace file ({exc})", file=str(path)) from None
        return out


@dataclass
class Divergence:
    layer: str
    variable: str
    sample: int
    neuron: tuple
    step: int
    values: dict[str, int]

    def as_dict(self) -> dict:
        return dict(layer=self.layer, variable=self.variable, sample=self.sample,
                    neuron=list(self.neuron), step=self.step, values=self.values)

    def __str__(self) -> str:
        vals = ", ".join(f"{k}={v}" for k, v in self.values.items())
        return (f"first divergence: layer '{self.layer}', variable '{self.variable}', sample "
                f"{self.sample}, neuron {self.neuron}, step {self.step}: {vals}")


@dataclass
class Comparison:
    backends: tuple[str, str]
    layers: list[dict]
    first_divergence: Divergence | None

    @property
    def bit_exact(self) -> bool:
        return self.first_divergence is None

    def as_dict(self) -> dict:
        return dict(bit_exact=self.bit_exact, backends=list(self.backends), layers=self.layers,
                    first_divergence=None if self.first_divergence is None
                    else self.first_divergence.as_dict())


def compare(a: Traces, b: Traces) -> Comparison:
    """Compare every variable of every layer at every step (exact integer equality).

    The first divergence is the earliest step at which any variable differs; ties go to the
    first layer in ``a``'s order.
    """
    layers, first = [], None
    for layer, var in a.variables():
        x = a.data[layer][var]
        y = b.data.get(layer, {}).get(var)
        if y is None or y.shape != x.shape:
            layers.append(dict(name=layer, variable=var, mismatches=int(x.size),
                               note=f"missing or shaped {None if y is None else y.shape}"))
            if first is None:
                first = Divergence(layer, var, 0, (), 1, {a.backend: 0, b.backend: 0})
            continue
        diff = x != y
        n = int(diff.sum())
        layers.append(dict(name=layer, variable=var, mismatches=n))
        if n:
            idx = np.argwhere(diff)
            k = int(np.argmin(idx[:, -1]))
            pos = tuple(int(i) for i in idx[k])
            step = pos[-1] + 1
            if first is None or step < first.step:
                first = Divergence(layer, var, pos[0], pos[1:-1], step,
                                   {a.backend: int(x[pos]), b.backend: int(y[pos])})
    return Comparison((a.backend, b.backend), layers, first)
