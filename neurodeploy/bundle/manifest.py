"""The bundle manifest: provenance, golden vectors and a checksum of every dataset.

Every bundle written by :func:`~neurodeploy.bundle.write_bundle` carries, in the ``/neurodeploy``
group (format_version 1 extension, see :mod:`.extension`):

* attribute ``manifest`` - one JSON object::

    manifest_version   int, this layout (:data:`MANIFEST_VERSION`)
    format_version     int, the /neurodeploy extension format
    neurodeploy_version str, the version of the package that wrote the file
    network            str, the network's name;  nodes: int, its node count
    netx_compatible    bool, whether the netx ``layer/`` part was written
    target, model_hash, quantization, time_steps
                       from the ``metadata`` mapping given to write_bundle (null when absent;
                       ``time_steps`` falls back to metadata ``steps``)
    golden             null, or {steps, batch, backend, inputs: [names], traces: ["layer/var"]}
    checksums          {dataset path: "sha256:<hex>"} for EVERY dataset in the file
    attributes         "sha256:<hex>" of every attribute in the file except this one

* group ``golden`` (optional): ``inputs/<input name>`` (batch, *shape, T) and
  ``traces/<layer>/<variable>`` (batch, *shape, steps) integer datasets - the inputs and the
  reference simulator's expected integer traces (the on-hardware self-test replays them), stored in
  the smallest integer dtype that holds them and read back as int64.

A dataset's checksum is SHA-256 over its dtype, its shape and its bytes (C order); variable-length
strings are hashed element by element with length prefixes. Reading only parses JSON and HDF5
values; nothing is executed.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

import h5py
import numpy as np

from ..errors import BundleError
from .extension import FORMAT_VERSION, GROUP

if TYPE_CHECKING:
    from .. import ir
    from ..sim.traces import Comparison, Traces

__all__ = ["MANIFEST_VERSION", "Golden", "make_golden", "dataset_digest", "file_checksums",
           "attributes_digest", "write_manifest", "read_manifest", "validate_checksums",
           "read_golden", "replay_golden", "neurodeploy_version"]

MANIFEST_VERSION = 1
GOLDEN = "golden"
_MANIFEST_ATTR = "manifest"


def neurodeploy_version() -> str:
    """The installed package version ('unknown' when not installed)."""
    from importlib import metadata
    try:
        return metadata.version("neurodeploy")
    except metadata.PackageNotFoundError:  # pragma: no cover - source tree without install
        return "unknown"


# -- golden vectors ------------------------------------------------------------------------------
@dataclass
class Golden:
    """Golden vectors: ``inputs`` (input name -> int64 (batch, *shape, T)) and the expected
    integer ``traces`` (layer -> variable -> int64 (batch, *shape, steps)) of ``backend``."""
    inputs: dict[str, np.ndarray]
    traces: dict[str, dict[str, np.ndarray]]
    steps: int
    backend: str = "ref"
    batch: int = field(init=False)

    def __post_init__(self) -> None:
        self.inputs = {k: np.asarray(v, np.int64) for k, v in self.inputs.items()}
        self.traces = {la: {v: np.asarray(a, np.int64) for v, a in vs.items()}
                       for la, vs in self.traces.items()}
        self.batch = int(next(iter(self.inputs.values())).shape[0]) if self.inputs else 0

    def as_traces(self) -> "Traces":
        from ..sim.traces import Traces
        return Traces(self.backend, self.steps, {la: dict(vs) for la, vs in self.traces.items()})


def make_golden(network: "ir.Network", inputs: Mapping[str, np.ndarray] | np.ndarray,
                steps: int | None = None) -> Golden:
    """Run the reference simulator on ``inputs`` and keep inputs + every probed trace."""
    from ..sim.reference import ReferenceSimulator
    sim = ReferenceSimulator(network)
    data = sim._bind_inputs(inputs)
    steps = int(next(iter(data.values())).shape[-1] if steps is None else steps)
    tr = sim.run(data, steps)
    return Golden(data, tr.data, steps, "ref")


def _as_golden(network: "ir.Network", golden: Golden | Mapping[str, Any]) -> Golden:
    if isinstance(golden, Golden):
        return golden
    if not isinstance(golden, Mapping) or "inputs" not in golden:
        raise BundleError("golden must be a Golden or a mapping with 'inputs' (and optionally "
                          "'traces', 'steps')", field="golden")
    if golden.get("traces") is None:
        return make_golden(network, golden["inputs"], golden.get("steps"))
    traces = golden["traces"]
    data = traces.data if hasattr(traces, "data") else traces
    steps = golden.get("steps") or getattr(traces, "steps", None) or \
        next(a.shape[-1] for vs in data.values() for a in vs.values())
    from ..sim.reference import ReferenceSimulator
    return Golden(ReferenceSimulator(network)._bind_inputs(golden["inputs"]), data, int(steps),
                  str(golden.get("backend", "ref")))


def _small_int(arr: np.ndarray) -> np.ndarray:
    """The smallest signed integer dtype holding ``arr`` (lossless)."""
    arr = np.asarray(arr, np.int64)
    lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
    for dt in (np.int8, np.int16, np.int32):
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return arr.astype(dt)
    return arr


def _write_golden(g: h5py.Group, golden: Golden) -> dict[str, Any]:
    gg = g.create_group(GOLDEN)
    gg.attrs["steps"], gg.attrs["backend"] = np.int64(golden.steps), golden.backend
    for name, arr in golden.inputs.items():
        gg.create_dataset(f"inputs/{name}", data=_small_int(arr))
    names = []
    for layer, variables in golden.traces.items():
        for var, arr in variables.items():
            gg.create_dataset(f"traces/{layer}/{var}", data=_small_int(arr))
            names.append(f"{layer}/{var}")
    return dict(steps=golden.steps, batch=golden.batch, backend=golden.backend,
                inputs=sorted(golden.inputs), traces=names)


# -- checksums -----------------------------------------------------------------------------------
def dataset_digest(value: Any) -> str:
    """``sha256:<hex>`` of a dataset value over dtype, shape and bytes (C order)."""
    arr = np.asarray(value)
    h = hashlib.sha256()
    h.update(f"{arr.shape}|".encode())
    if arr.dtype.kind == "O":                     # variable-length strings
        h.update(b"vlen|")
        for x in arr.reshape(-1):
            b = x.encode("utf-8") if isinstance(x, str) else bytes(x)
            h.update(len(b).to_bytes(8, "little") + b)
    else:
        h.update(f"{arr.dtype.str}|".encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return "sha256:" + h.hexdigest()


def _datasets(f: h5py.File) -> list[tuple[str, h5py.Dataset]]:
    out: list[tuple[str, h5py.Dataset]] = []
    f.visititems(lambda name, obj: out.append(("/" + name, obj))
                 if isinstance(obj, h5py.Dataset) else None)
    return out


def file_checksums(f: h5py.File) -> dict[str, str]:
    """``{dataset path: sha256 digest}`` of every dataset of an open file."""
    return {path: dataset_digest(ds[()]) for path, ds in _datasets(f)}


def attributes_digest(f: h5py.File) -> str:
    """``sha256:<hex>`` over every attribute of the file (path, name, value) except the
    manifest itself, in sorted order."""
    items: list[tuple[str, str, Any]] = []

    def collect(name: str, obj: Any) -> None:
        for k, v in obj.attrs.items():
            if not (obj.name == f"/{GROUP}" and k == _MANIFEST_ATTR):
                items.append((obj.name, k, v))
    collect("/", f)
    f.visititems(collect)
    h = hashlib.sha256()
    for path, key, value in sorted(items, key=lambda t: (t[0], t[1])):
        h.update(f"{path}|{key}|".encode())
        v = value.encode("utf-8") if isinstance(value, str) else value
        h.update(dataset_digest(v).encode())
    return "sha256:" + h.hexdigest()


# -- writing / reading ---------------------------------------------------------------------------
def write_manifest(f: h5py.File, network: "ir.Network", metadata: Mapping[str, Any],
                   golden: Golden | Mapping[str, Any] | None = None,
                   netx_compatible: bool = False) -> dict[str, Any]:
    """Write the golden group (if any) and the manifest into an open file whose other content is
    complete (the checksums cover everything written before). Returns the manifest."""
    g = f[GROUP]
    golden_info = _write_golden(g, _as_golden(network, golden)) if golden is not None else None
    md = dict(metadata)
    manifest = dict(
        manifest_version=MANIFEST_VERSION, format_version=FORMAT_VERSION,
        neurodeploy_version=neurodeploy_version(), network=network.name, nodes=len(network),
        netx_compatible=bool(netx_compatible), target=md.get("target"),
        model_hash=md.get("model_hash"), quantization=md.get("quantization"),
        time_steps=md.get("time_steps", md.get("steps")), golden=golden_info,
        checksums=file_checksums(f), attributes=attributes_digest(f))
    g.attrs[_MANIFEST_ATTR] = json.dumps(manifest, sort_keys=True, default=_json_default)
    return manifest


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON-serialisable: {type(x).__name__}")


def _open(path: str | os.PathLike) -> h5py.File:
    try:
        return h5py.File(os.fspath(path), "r")
    except (OSError, ValueError) as exc:
        raise BundleError(f"cannot open as HDF5 (missing, truncated or corrupted): {exc}",
                          file=str(path)) from None


def _manifest_of(f: h5py.File, file: str) -> dict[str, Any] | None:
    g = f.get(GROUP)
    if not isinstance(g, h5py.Group) or _MANIFEST_ATTR not in g.attrs:
        return None
    raw = g.attrs[_MANIFEST_ATTR]
    try:
        m = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    except ValueError as exc:
        raise BundleError(f"manifest is not valid JSON: {exc}", file=file, layer=GROUP,
                          field=_MANIFEST_ATTR) from None
    if not isinstance(m, dict) or not isinstance(m.get("checksums"), dict):
        raise BundleError("manifest has no checksum table", file=file, layer=GROUP,
                          field=_MANIFEST_ATTR)
    if m.get("manifest_version") != MANIFEST_VERSION:
        raise BundleError("unsupported manifest version", file=file, layer=GROUP,
                          field="manifest_version", value=m.get("manifest_version"),
                          limit=MANIFEST_VERSION)
    return m


def read_manifest(path: str | os.PathLike) -> dict[str, Any] | None:
    """The manifest of a bundle (None when it has none, e.g. a plain netx file)."""
    with _open(path) as f:
        return _manifest_of(f, str(path))


def _validate(f: h5py.File, file: str, m: dict[str, Any]) -> int:
    want: dict[str, str] = m["checksums"]
    present = dict(_datasets(f))
    for path in sorted(set(want) | set(present)):
        if path not in present:
            raise BundleError("dataset listed in the manifest is missing", file=file,
                              field=path)
        if path not in want:
            raise BundleError("dataset not covered by the manifest (added after writing?)",
                              file=file, field=path)
        try:
            got = dataset_digest(present[path][()])
        except (OSError, RuntimeError, ValueError, TypeError) as exc:
            raise BundleError(f"unreadable dataset (corrupted file?): {exc}", file=file,
                              field=path) from None
        if got != want[path]:
            raise BundleError("checksum mismatch (dataset corrupted or modified)", file=file,
                              field=path, value=got[:19] + "…", limit=str(want[path])[:19] + "…")
    if m.get("attributes") is not None and attributes_digest(f) != m["attributes"]:
        raise BundleError("checksum mismatch of the attributes (IR parameters, metadata or "
                          "netx flags modified)", file=file, field="attributes")
    return len(want)


def validate_checksums(path: str | os.PathLike | h5py.File) -> int:
    """Check every dataset (and the attributes) against the manifest; returns the number of
    datasets checked (0: no manifest). Raises BundleError naming the dataset on a mismatch, a
    missing dataset or a dataset the manifest does not list."""
    if isinstance(path, h5py.File):
        m = _manifest_of(path, path.filename)
        return 0 if m is None else _validate(path, path.filename, m)
    with _open(path) as f:
        m = _manifest_of(f, str(path))
        return 0 if m is None else _validate(f, str(path), m)


def read_golden(path: str | os.PathLike) -> Golden | None:
    """The golden vectors stored in a bundle (None when it has none)."""
    file = str(path)
    with _open(path) as f:
        gg = f.get(f"{GROUP}/{GOLDEN}")
        if not isinstance(gg, h5py.Group):
            return None
        try:
            inputs = {k: np.asarray(ds[()], np.int64) for k, ds in gg["inputs"].items()}
            traces = {la: {v: np.asarray(ds[()], np.int64) for v, ds in g.items()}
                      for la, g in gg["traces"].items()}
            steps = int(gg.attrs["steps"])
            backend = gg.attrs.get("backend", "ref")
        except (KeyError, OSError, ValueError, TypeError) as exc:
            raise BundleError(f"malformed golden group: {exc}", file=file,
                              layer=f"{GROUP}/{GOLDEN}") from None
    return Golden(inputs, traces, steps, str(backend))


def replay_golden(network: "ir.Network", golden: Golden, backend: str = "ref",
                  run: Any = None) -> "Comparison":
    """Run the golden inputs on ``backend`` and compare every stored trace (exact integers).

    ``run(backend, network, inputs, steps) -> Traces`` defaults to the CLI's backend runner."""
    from ..sim.traces import compare
    if run is None:
        from ..cli import run_backend as run
    got = run(backend, network, golden.inputs, golden.steps)
    expected = golden.as_traces()
    expected.backend = "golden"
    return compare(expected, got)
