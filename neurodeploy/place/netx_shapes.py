"""Shape-only view of a lava-dl netx HDF5 file, for resource estimation and calibration.

This is NOT the bundle reader (that is :mod:`neurodeploy.bundle`): it keeps layer types, shapes,
kernels, strides, paddings and delays, and builds an IR network with zero weights, which is all
placement needs. ``read_netx_layers`` returns JSON-able dicts (committed as test data where the
.net itself is too large); ``network_from_layers`` turns them into an :class:`ir.Network`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import ir

__all__ = ["read_netx_layers", "network_from_layers"]


def _val(x: Any) -> Any:
    a = np.asarray(x)
    if a.dtype.kind in "SO":
        v = a.reshape(-1)[0]
        return v.decode() if isinstance(v, bytes) else str(v)
    return a.tolist()


def read_netx_layers(path: str | Path) -> list[dict[str, Any]]:
    """Layer descriptions of a netx file, in layer order (weights replaced by their shape)."""
    import h5py

    out = []
    with h5py.File(path, "r") as f:
        group = f["layer"]
        for key in sorted(group.keys(), key=int):
            g = group[key]
            d: dict[str, Any] = {"type": _val(g["type"])}
            for k in ("shape", "kernelSize", "stride", "padding", "dilation", "groups",
                      "inFeatures", "outFeatures", "inChannels", "outChannels"):
                if k in g:
                    d[k] = _val(g[k])
            if "weight" in g:
                d["weight_shape"] = list(g["weight"].shape)
            if "delay" in g:
                d["max_delay"] = int(np.max(np.asarray(g["delay"])))
            if "neuron" in g:
                d["neuron"] = _val(g["neuron"]["type"]) if "type" in g["neuron"] else "CUBA"
            out.append(d)
    return out


def _pair(v: Any) -> tuple[int, int]:
    a = np.asarray(v).reshape(-1)
    return (int(a[0]), int(a[-1]))


def network_from_layers(layers: list[dict[str, Any]], name: str = "netx") -> ir.Network:
    """An IR network (zero weights) with the netx layers' structure. Input layers that carry a
    neuron become Input + Cuba (Intel places those neurons on cores); 'average' readouts are
    dropped (host side)."""
    net = ir.Network(name=name)
    prev: str | None = None
    shape: tuple[int, ...] = ()
    for i, d in enumerate(layers):
        t = d["type"]
        if prev is None and t in ("dense", "conv"):      # no input layer: infer the input shape
            if t == "dense":
                shape = (int(d["inFeatures"]),)
            else:
                (k0, k1), (s0, s1) = _pair(d["kernelSize"]), _pair(d.get("stride", 1))
                (p0, p1), (d0, d1) = _pair(d.get("padding", 0)), _pair(d.get("dilation", 1))
                _, ho, wo = (int(x) for x in d["shape"])
                shape = (int(d["inChannels"]), (ho - 1) * s0 - 2 * p0 + (k0 - 1) * d0 + 1,
                         (wo - 1) * s1 - 2 * p1 + (k1 - 1) * d1 + 1)
            net.add(ir.Input("input", shape=shape))
            prev = "input"
        if t == "input":
            shape = tuple(int(s) for s in d["shape"])
            if len(shape) == 3 and shape[0] == 1 and shape[1] == 1:
                shape = (shape[2],)
            net.add(ir.Input(f"input{i}", shape=shape))
            prev = f"input{i}"
            if d.get("neuron"):
                net.add(ir.Cuba(f"input{i}_neurons", sources=(prev,), shape=shape))
                prev = f"input{i}_neurons"
        elif t == "flatten":
            if len(shape) > 1:
                net.add(ir.Flatten(f"flatten{i}", sources=(prev,)))
                prev = f"flatten{i}"
                shape = (int(np.prod(shape)),)
        elif t == "conv":
            ws = d["weight_shape"][:4]
            conv = ir.Conv(f"conv{i}", sources=(prev,), weight=np.zeros(ws, dtype=np.int64),
                           stride=_pair(d.get("stride", 1)), padding=_pair(d.get("padding", 0)),
                           dilation=_pair(d.get("dilation", 1)), groups=int(d.get("groups", 1)))
            net.add(conv)
            shape = tuple(int(s) for s in d["shape"])
            net.add(ir.Cuba(f"layer{i}", sources=(conv.name,), shape=shape))
            prev = f"layer{i}"
        elif t == "dense":
            if len(shape) > 1:
                net.add(ir.Flatten(f"flatten{i}", sources=(prev,)))
                prev = f"flatten{i}"
                shape = (int(np.prod(shape)),)
            n_out, n_in = int(d["outFeatures"]), int(d["inFeatures"])
            delay = None
            if d.get("max_delay"):
                delay = np.full((n_out, n_in), int(d["max_delay"]), dtype=np.int64)
            net.add(ir.Dense(f"dense{i}", sources=(prev,),
                             weight=np.zeros((n_out, n_in), dtype=np.int64), delay=delay))
            shape = (n_out,)
            net.add(ir.Cuba(f"layer{i}", sources=(f"dense{i}",), shape=shape))
            prev = f"layer{i}"
        # 'average' and other readouts run on the host: not placed
    return net
