"""Hardware target descriptions (``targets/*.toml``) loaded into a typed :class:`Target`.

A target is a TOML file; see ``targets/loihi2.toml`` for the annotated reference (every number
with its source). Users add a target by writing such a file and passing its path, or by dropping
it into a directory named in the ``NEURODEPLOY_TARGETS`` environment variable (``os.pathsep``
separated) and passing its name.

Lookup of a *name* (``load_target("loihi2")``), first match wins:

1. the directories in ``$NEURODEPLOY_TARGETS``;
2. ``<repo>/targets/`` - the canonical files, found relative to this module (works for a source
   checkout and for ``pip install -e .``);
3. ``neurodeploy/_targets/`` inside the installed package - a copy the wheel build may ship as
   package data (a package directory cannot be called ``targets`` next to this module).

Every defect of a file (TOML syntax, missing key, wrong type, negative or zero budget, unknown
top-level table) raises :class:`~neurodeploy.errors.TargetError` naming the file, the key and the
value.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import TargetError

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = ["Target", "CoreBudget", "SynMemModel", "Mesh", "Formats", "load_target",
           "target_dirs", "available_targets", "BUDGETS", "BUDGET_LABELS"]

#: The per-core budgets every placement respects, in demand-vector order.
BUDGETS: tuple[str, ...] = ("neurons", "synmem", "axon_in", "axon_map", "neuron_groups")
#: The register names the Loihi 2 compiler prints for them.
BUDGET_LABELS: dict[str, str] = {"neurons": "Neurons", "synmem": "SynMem", "axon_in": "AxonIn",
                                 "axon_map": "AxonMap", "neuron_groups": "NeuronGr"}


@dataclass(frozen=True)
class CoreBudget:
    """Per-core capacities: neurons (budget units), synmem (units of ``SynMemModel.unit_bits``),
    axon_in (input-axon slots), axon_map (output-axon entries), neuron_groups (count)."""
    neurons: int
    synmem: int
    axon_in: int
    axon_map: int
    neuron_groups: int

    def vector(self) -> tuple[int, ...]:
        return tuple(getattr(self, b) for b in BUDGETS)


@dataclass(frozen=True)
class SynMemModel:
    """Synaptic-memory cost parameters (see ``neurodeploy.place.resources`` for the formulas)."""
    unit_bits: int
    block_synapses: int
    block_header_bits: int
    weight_bits: int
    index_bits_min: int
    index_bits_max: int
    conv_weights_per_unit: float
    conv_header_units: int
    conv_axons_per_fanin: int
    conv_axons_per_input_position: int
    conv_map_per_position: int


@dataclass(frozen=True)
class Mesh:
    """On-chip router mesh: ``cols`` x ``rows`` routers, ``cores_per_router`` cores each."""
    cols: int
    rows: int
    cores_per_router: int
    confirmed: bool
    chip_crossing_hops: int


@dataclass(frozen=True)
class Formats:
    """Numeric formats: weight/state/threshold bit widths, exponent and delay ranges (steps)."""
    weight_bits: int
    weight_exp_min: int
    weight_exp_max: int
    state_bits: int
    threshold_bits: int
    delay_min: int
    delay_max: int
    message_bits_max: int


@dataclass(frozen=True)
class Target:
    """A loaded target description. ``cores_per_chip`` = usable neurocores per chip."""
    name: str
    description: str
    path: str
    cores_per_chip: int
    cores_on_die: int
    core: CoreBudget
    synmem: SynMemModel
    mesh: Mesh
    formats: Formats
    neuron_units: dict[str, int]
    systems: dict[str, int]
    energy: dict[str, Any] = field(default_factory=dict)
    #: Intel-compiler emulation for the halving baseline (optional table [baseline]):
    #: largest power-of-two x tile of a conv layer (0: none) and whether the neuron budget is
    #: used with a strict "<" (both inferred from the logged tiles; see targets/loihi2.toml).
    baseline_max_tile_x: int = 0
    baseline_neurons_strict: bool = False

    def capacity(self) -> tuple[int, ...]:
        """Per-core capacity vector in :data:`BUDGETS` order."""
        return self.core.vector()

    def units_per_neuron(self, kind: str) -> int:
        """Neuron-budget units of one neuron of ``kind`` (unknown kinds: 1)."""
        return int(self.neuron_units.get(kind.lower(), 1))


# -- schema ------------------------------------------------------------------------------------
_INT, _FLOAT, _STR, _BOOL = "int", "float", "str", "bool"
# key -> (type, minimum or None)
_SCHEMA: dict[str, tuple[str, float | None]] = {
    "name": (_STR, None), "description": (_STR, None),
    "chip.cores": (_INT, 1), "chip.cores_on_die": (_INT, 1),
    "chip.cores_per_router": (_INT, 1), "chip.mesh_confirmed": (_BOOL, None),
    "chip.chip_crossing_hops": (_INT, 0),
    "core.neurons": (_INT, 1), "core.synmem": (_INT, 1), "core.axon_in": (_INT, 1),
    "core.axon_map": (_INT, 1), "core.neuron_groups": (_INT, 1),
    "synmem.unit_bits": (_INT, 1), "synmem.block_synapses": (_INT, 1),
    "synmem.block_header_bits": (_INT, 0), "synmem.weight_bits": (_INT, 1),
    "synmem.index_bits_min": (_INT, 0), "synmem.index_bits_max": (_INT, 0),
    "synmem.conv_weights_per_unit": (_FLOAT, 0), "synmem.conv_header_units": (_INT, 0),
    "synmem.conv_axons_per_fanin": (_INT, 0), "synmem.conv_axons_per_input_position": (_INT, 0),
    "synmem.conv_map_per_position": (_INT, 0),
    "formats.weight_bits": (_INT, 1), "formats.weight_exp_min": (_INT, None),
    "formats.weight_exp_max": (_INT, None), "formats.state_bits": (_INT, 1),
    "formats.threshold_bits": (_INT, 1), "formats.delay_min": (_INT, 0),
    "formats.delay_max": (_INT, 0), "formats.message_bits_max": (_INT, 0),
}
_TABLES = {"chip", "core", "synmem", "neuron_units", "formats", "systems", "energy", "sources",
           "baseline"}


def _lookup(data: dict, key: str, file: str) -> Any:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise TargetError("missing key", file=file, field=key)
        node = node[part]
    return node


def _typed(value: Any, key: str, kind: str, minimum: float | None, file: str) -> Any:
    ok = {_INT: isinstance(value, int) and not isinstance(value, bool),
          _FLOAT: isinstance(value, (int, float)) and not isinstance(value, bool),
          _STR: isinstance(value, str), _BOOL: isinstance(value, bool)}[kind]
    if not ok:
        raise TargetError(f"wrong type, expected {kind}", file=file, field=key, value=repr(value),
                          limit=kind)
    if minimum is not None and value < minimum:
        raise TargetError("out of range", file=file, field=key, value=value,
                          limit=f">= {minimum:g}")
    return float(value) if kind == _FLOAT else value


def _int_table(data: dict, table: str, file: str, minimum: int) -> dict[str, int]:
    raw = data.get(table, {})
    if not isinstance(raw, dict):
        raise TargetError("must be a table", file=file, field=table, value=repr(raw))
    return {k: _typed(v, f"{table}.{k}", _INT, minimum, file) for k, v in raw.items()}


def parse_target(data: dict, file: str) -> Target:
    """Validate a decoded TOML document and build the :class:`Target` (``file`` names errors)."""
    unknown = sorted(k for k, v in data.items() if isinstance(v, dict) and k not in _TABLES)
    if unknown:
        raise TargetError("unknown table", file=file, field=unknown[0],
                          limit=", ".join(sorted(_TABLES)))
    v = {k: _typed(_lookup(data, k, file), k, t, m, file) for k, (t, m) in _SCHEMA.items()}
    mesh = _lookup(data, "chip.mesh", file)
    if not (isinstance(mesh, list) and len(mesh) == 2 and all(
            isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in mesh)):
        raise TargetError("must be two positive integers [cols, rows]", file=file,
                          field="chip.mesh", value=repr(mesh), limit="[cols, rows]")
    if mesh[0] * mesh[1] * v["chip.cores_per_router"] < v["chip.cores"]:
        raise TargetError("mesh holds fewer cores than chip.cores", file=file, field="chip.mesh",
                          value=f"{mesh} x {v['chip.cores_per_router']}",
                          limit=f">= {v['chip.cores']} cores")
    if v["synmem.index_bits_max"] < v["synmem.index_bits_min"]:
        raise TargetError("index_bits_max < index_bits_min", file=file,
                          field="synmem.index_bits_max", value=v["synmem.index_bits_max"],
                          limit=f">= {v['synmem.index_bits_min']}")
    energy = data.get("energy", {})
    if not isinstance(energy, dict):
        raise TargetError("must be a table", file=file, field="energy", value=repr(energy))
    for k, x in energy.items():
        if not isinstance(x, str):
            _typed(x, f"energy.{k}", _FLOAT, 0, file)
    base = data.get("baseline", {})
    if not isinstance(base, dict):
        raise TargetError("must be a table", file=file, field="baseline", value=repr(base))
    max_tx = _typed(base.get("max_tile_x", 0), "baseline.max_tile_x", _INT, 0, file)
    strict = _typed(base.get("neurons_strict", False), "baseline.neurons_strict", _BOOL, None,
                    file)
    sec = {s: {k.split(".", 1)[1]: val for k, val in v.items() if k.startswith(s + ".")}
           for s in ("core", "synmem", "formats")}
    return Target(
        name=v["name"], description=v["description"], path=file,
        cores_per_chip=v["chip.cores"], cores_on_die=v["chip.cores_on_die"],
        core=CoreBudget(**sec["core"]), synmem=SynMemModel(**sec["synmem"]),
        mesh=Mesh(cols=mesh[0], rows=mesh[1], cores_per_router=v["chip.cores_per_router"],
                  confirmed=v["chip.mesh_confirmed"],
                  chip_crossing_hops=v["chip.chip_crossing_hops"]),
        formats=Formats(**sec["formats"]),
        neuron_units={k.lower(): n for k, n in _int_table(data, "neuron_units", file, 1).items()},
        systems=_int_table(data, "systems", file, 1), energy=dict(energy),
        baseline_max_tile_x=max_tx, baseline_neurons_strict=strict)


def target_dirs() -> list[Path]:
    """Directories searched for ``<name>.toml``, in order (see the module docstring)."""
    dirs = [Path(p) for p in os.environ.get("NEURODEPLOY_TARGETS", "").split(os.pathsep) if p]
    here = Path(__file__).resolve().parent
    dirs += [here.parent / "targets", here / "_targets"]
    return dirs


def available_targets() -> list[str]:
    """Names of the targets found in :func:`target_dirs`."""
    return sorted({p.stem for d in target_dirs() if d.is_dir() for p in d.glob("*.toml")})


def _resolve(name_or_path: str | os.PathLike) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists() or os.sep in str(name_or_path):
        if not p.is_file():
            raise TargetError("target file not found", file=str(p))
        return p
    for d in target_dirs():
        cand = d / f"{p.name}.toml"
        if cand.is_file():
            return cand
    raise TargetError(f"unknown target '{name_or_path}'", field="target", value=str(name_or_path),
                      limit=", ".join(available_targets()) or "no target files found")


def load_target(name_or_path: str | os.PathLike | Target) -> Target:
    """Load a target by name (``"loihi2"``) or by path to a TOML file. A Target passes through."""
    if isinstance(name_or_path, Target):
        return name_or_path
    path = _resolve(name_or_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise TargetError(f"TOML syntax error: {e}", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise TargetError(f"cannot read: {e}", file=str(path)) from None
    return parse_target(data, str(path))
