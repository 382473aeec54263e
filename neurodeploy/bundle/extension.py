"""The ``/neurodeploy`` extension group: the complete integer IR, stored losslessly.

Layout (format_version 1)::

    /neurodeploy                 attrs: format_version (int), name (str)
        /nodes/0 .. /nodes/N-1   one group per IR node, in network order
            attrs: op (str, a key of ``ir.NODE_TYPES``), name (str), sources (JSON list of str),
                   fields (JSON object: parameter name -> kind), plus one attribute per scalar or
                   tuple parameter (int64, bool, float64 or str)
            datasets: one int64 dataset per array parameter (``Node.array_fields``)

Field kinds: ``int``, ``bool``, ``float``, ``str``, ``tuple`` (int64 array attribute, read back as a
tuple of ints), ``array`` (int64 dataset), ``none`` (parameter is ``None``). Reading only parses
HDF5 values and JSON text; nothing is executed and nothing is unpickled.
"""
from __future__ import annotations

import json

import h5py
import numpy as np

from .. import ir
from ..errors import BundleError, NeurodeployError, UnsupportedError

__all__ = ["FORMAT_VERSION", "GROUP", "write_extension", "read_extension"]

FORMAT_VERSION = 1
GROUP = "neurodeploy"


def _kind(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, np.ndarray):
        return "array"
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, tuple) and all(isinstance(v, (int, np.integer)) for v in value):
        return "tuple"
    return "?"


def write_extension(f: h5py.File, network: ir.Network) -> None:
    """Store every node of ``network`` under ``/neurodeploy`` (see the module docstring)."""
    g = f.create_group(GROUP)
    g.attrs["format_version"] = np.int64(FORMAT_VERSION)
    g.attrs["name"] = network.name
    nodes = g.create_group("nodes")
    for i, node in enumerate(network.nodes):
        ng = nodes.create_group(str(i))
        ng.attrs["op"], ng.attrs["name"] = node.op, node.name
        ng.attrs["sources"] = json.dumps(list(node.sources))
        kinds: dict[str, str] = {}
        for key, value in node.params().items():
            kind = kinds[key] = _kind(value)
            if kind == "array":
                ng.create_dataset(key, data=np.asarray(value, dtype=np.int64))
            elif kind == "tuple":
                ng.attrs[key] = np.asarray(value, dtype=np.int64)
            elif kind in ("int", "bool", "float", "str"):
                ng.attrs[key] = {"int": np.int64, "bool": bool, "float": np.float64,
                                 "str": str}[kind](value)
            elif kind == "?":
                raise UnsupportedError("parameter type cannot be stored in a bundle",
                                       layer=node.name, field=key, value=type(value).__name__)
        ng.attrs["fields"] = json.dumps(kinds)


def _attr(g: h5py.Group, key: str, file: str, layer: str) -> object:
    if key not in g.attrs:
        raise BundleError("missing attribute", file=file, layer=layer, field=key)
    value = g.attrs[key]
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _value(ng: h5py.Group, key: str, kind: str, file: str, layer: str) -> object:
    if kind == "none":
        return None
    if kind == "array":
        obj = ng.get(key)
        if not isinstance(obj, h5py.Dataset):
            raise BundleError("missing dataset", file=file, layer=layer, field=key)
        arr = np.asarray(obj[()])
        if arr.dtype.kind not in "iub":
            raise BundleError("wrong dtype", file=file, layer=layer, field=key,
                              value=str(arr.dtype), limit="integer")
        return arr.astype(np.int64)
    raw = _attr(ng, key, file, layer)
    if kind == "tuple":
        arr = np.asarray(raw)
        if arr.dtype.kind not in "iu" or arr.ndim != 1:
            raise BundleError("wrong dtype or shape", file=file, layer=layer, field=key,
                              value=f"{arr.dtype}{arr.shape}", limit="1-D integer")
        return tuple(int(v) for v in arr)
    casts = {"int": int, "bool": bool, "float": float, "str": str}
    if kind not in casts or np.ndim(raw) != 0:
        raise BundleError("unknown field kind or non-scalar value", file=file, layer=layer,
                          field=key, value=kind)
    return casts[kind](raw)


def read_extension(g: h5py.Group, file: str) -> ir.Network:
    """Rebuild the IR stored under ``/neurodeploy`` (not yet validated)."""
    # node kinds register themselves on import: the operators and the converters' nodes
    import neurodeploy.convert  # noqa: F401
    import neurodeploy.ops  # noqa: F401
    version = _attr(g, "format_version", file, GROUP)
    if version != FORMAT_VERSION:
        raise UnsupportedError("unsupported extension format version", file=file, layer=GROUP,
                               field="format_version", value=version, limit=FORMAT_VERSION)
    nodes_g = g.get("nodes")
    if not isinstance(nodes_g, h5py.Group):
        raise BundleError("missing group", file=file, layer=GROUP, field="nodes")
    keys = sorted(nodes_g.keys(), key=lambda k: (len(k), k))
    if keys != [str(i) for i in range(len(keys))]:
        raise BundleError("node groups must be named 0..N-1 consecutively", file=file,
                          layer=f"{GROUP}/nodes", field="nodes", value=keys)
    net = ir.Network(name=str(_attr(g, "name", file, GROUP)))
    for key in keys:
        layer = f"{GROUP}/nodes/{key}"
        ng = nodes_g[key]
        op = _attr(ng, "op", file, layer)
        cls = ir.NODE_TYPES.get(op)
        if cls is None:
            raise UnsupportedError("unknown node op", file=file, layer=layer, field="op",
                                   value=op, limit=sorted(ir.NODE_TYPES))
        try:
            sources = json.loads(_attr(ng, "sources", file, layer))
            kinds = json.loads(_attr(ng, "fields", file, layer))
        except (json.JSONDecodeError, TypeError) as exc:
            raise BundleError(f"malformed JSON attribute: {exc}", file=file, layer=layer,
                              field="sources/fields") from None
        if not isinstance(kinds, dict) or not isinstance(sources, list) or \
                not all(isinstance(s, str) for s in sources):
            raise BundleError("malformed sources/fields attribute", file=file, layer=layer,
                              field="sources/fields")
        allowed = set(cls.__dataclass_fields__) - {"name", "sources"}
        unknown = set(kinds) - allowed
        if unknown:
            raise BundleError("unknown parameters for this op", file=file, layer=layer,
                              field=sorted(unknown)[0], limit=sorted(allowed))
        params = {k: _value(ng, k, kind, file, layer) for k, kind in kinds.items()}
        try:
            node = cls(name=str(_attr(ng, "name", file, layer)), sources=tuple(sources),
                       **params)
            net.add(node)
        except NeurodeployError as exc:
            raise exc.located(file=file, layer=layer) from None
        except (TypeError, ValueError) as exc:
            raise BundleError(f"cannot build node: {exc}", file=file, layer=layer,
                              field="op", value=op) from None
    return net
