"""netx HDF5 bundles (lava-dl 0.6.0 ``netx.hdf5.Network``) <-> the integer IR.

Units and widths: weights in a netx file are *effective* integers ``W`` (the IR stores 8-bit
mantissas ``w`` and a shared exponent ``e`` with ``W = w * 2**e``); ``iDecay``/``vDecay`` are 12-bit
decays in 1/4096 per step (IR ``i_decay``/``v_decay``, netx passes ``du = iDecay - 1``, which the
LIF model's offset cancels); ``vThMant`` is the 17-bit threshold mantissa (IR ``vth``, compared as
``vth << 6``); ``bias`` is a LIF ``bias_mant`` that netx always pairs with ``bias_exp = 6`` (IR
``bias_mant = bias, bias_exp = 6``; when ``bias`` does not fit the 13-bit mantissa but is even,
``bias_mant = bias / 2, bias_exp = 7``); ``delay`` is in steps, 0..62.

Reading follows what netx 0.6.0 *does* with a file wherever that differs from what the file says,
so that Lava-via-netx and the reference simulator agree; every such case emits a
:class:`NetxWarning` naming the layer and the behaviour followed. Writing produces the ``layer/``
groups netx loads with identical integer semantics (only when :func:`netx_compatibility` is empty;
a partial netx network would load silently with different semantics), plus the lossless
``/neurodeploy`` extension (:mod:`.extension`) that :func:`read_bundle` prefers.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Mapping

import h5py
import numpy as np

from .. import ir
from ..errors import BundleError, NeurodeployError, RangeError, UnsupportedError
from .extension import GROUP, read_extension, write_extension
from .manifest import Golden, validate_checksums, write_manifest

try:  # the lead may move the base class into errors.py; use it when it is there
    from ..errors import NeurodeployWarning  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on errors.py
    class NeurodeployWarning(UserWarning):
        """Base class of neurodeploy's warnings."""

__all__ = ["read_bundle", "write_bundle", "netx_compatibility", "netx_layers",
           "NeurodeployWarning", "NetxWarning", "netx_prepared_weights"]

NETX_MAX_DELAY = 62
#: layer types slayer writes that netx 0.6.0 cannot load (NotImplementedError / missing method)
NETX_UNLOADABLE = ("pool", "average", "concat", "convT", "unpool", "dense_comp")
_BIAS_LO, _BIAS_HI = ir.LIMITS["bias_mant"]


class NetxWarning(NeurodeployWarning):
    """netx 0.6.0 reads this file differently from what it states; the reader follows netx."""


# --------------------------------------------------------------------------------------------
# netx / Lava weight preparation (spec/lava.md 1.5 and 2.2), reproduced with the same numpy ops
# --------------------------------------------------------------------------------------------
class _AllZero(Exception):
    """netx 0.6.0 raises OverflowError on an all-zero weight matrix."""


def _lava_prepare(weight: np.ndarray, num_weight_bits: int) -> np.ndarray:
    """Lava Dense/DelayDense ``clip_weights`` + ``truncate_weights`` (sign mode re-derived)."""
    w = weight.astype(np.int32)
    mode = ir.sign_mode(w) if w.min() < 0 or w.max() > 0 else ir.SignMode.EXCITATORY
    mixed, inh = int(mode == ir.SignMode.MIXED), mode == ir.SignMode.INHIBITORY
    w = -w if inh else w
    w = np.clip(w, -256 * mixed, 255).astype(np.int32)
    nt = 8 - num_weight_bits + mixed
    w = (w >> nt) << nt
    return (-w if inh else w).astype(np.int64)


def netx_prepared_weights(weight: np.ndarray) -> tuple[np.ndarray, int, int, list[str]]:
    """What Lava's Dense stores for a netx ``weight`` matrix (ints, as netx reads them).

    Returns ``(stored int weights, num_weight_bits, weight_exp, notes)``: netx
    ``optimize_weight_bits`` then Lava's clip/truncate. The synapse current is
    ``sum(stored * s) << weight_exp`` (arithmetic shift). Raises ``_AllZero`` where netx raises
    ``OverflowError``.
    """
    w = np.asarray(weight).astype(np.int64)
    notes: list[str] = []
    mx, mn = w.max(), w.min()
    if mx > 254 and mn < 0:
        w = np.clip(w, -256, 254)
        mx = w.max()
        notes.append("mixed-sign weights above 254 clipped to [-256, 254]")
    if mn < -256 and mx > 0:
        w = np.clip(w, -256, 254)
        mn = w.min()
        notes.append("mixed-sign weights below -256 clipped to [-256, 254]")
    signed = 0
    with np.errstate(divide="ignore"):
        if mx < 0:
            scale = -256 / mn
        elif mn >= 0:
            if mx == 0:
                raise _AllZero
            scale = 255 / mx
        else:
            signed = 1
            scale = min(127 / mx if mx > 0 else np.inf, -128 / mn)
    scale_bits = int(np.floor(np.log2(scale))) + signed
    n = 8
    while n > 0 and np.sum(np.abs(w / 2**n - np.round(w / 2**n))) != 0:
        n -= 1
    n -= signed
    num_weight_bits = 8 - scale_bits - n
    stored = np.left_shift(w.astype(np.int32), scale_bits).astype(np.int64)
    if scale_bits < 0:
        notes.append(f"weights above 255 shifted by {scale_bits} bits (netx bug: excitatory "
                     "weights > 255 become 0)")
    return _lava_prepare(stored, num_weight_bits), num_weight_bits, -scale_bits, notes


def _per_synapse(stored: np.ndarray, weight_exp: int) -> np.ndarray | None:
    """Effective per-synapse integer weights, or None if the shift does not distribute."""
    if weight_exp >= 0:
        return stored << weight_exp
    k = -weight_exp
    return stored >> k if np.all(stored % (1 << k) == 0) else None


def _mantissa(eff: np.ndarray, exp_range: tuple[int, int] = (0, 7)
              ) -> tuple[np.ndarray, int] | None:
    """Smallest ``e`` in ``exp_range`` (e >= 0) with ``eff / 2**e`` integral and in the 8-bit
    mantissa range of its sign mode; returns ``(mantissa, e)`` or None."""
    for e in range(exp_range[0], exp_range[1] + 1):
        if np.any(eff % (1 << e)):
            return None
        w = eff >> e
        lo, hi = ir.weight_range(ir.sign_mode(w), 8)
        if w.size == 0 or (w.min() >= lo and w.max() <= hi):
            return w, e
    return None


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------
class _Reader:
    """Parses the ``layer/`` part of one file into IR nodes (netx 0.6.0 semantics)."""

    def __init__(self, f: h5py.File, file: str, num_layers: int | None = None) -> None:
        self.f, self.file, self.num_layers = f, file, num_layers

    # -- small helpers ----------------------------------------------------------------------
    def err(self, cls: type[NeurodeployError], msg: str, layer: str, field: str | None,
            value: object = None, limit: object = None) -> NeurodeployError:
        return cls(msg, file=self.file, layer=layer, field=field, value=value, limit=limit)

    def warn(self, layer: str, msg: str) -> None:
        warnings.warn(NetxWarning(f"{self.file}: {layer}: {msg}"), stacklevel=2)

    def raw(self, g: h5py.Group, key: str, layer: str, required: bool = True) -> Any:
        """``g[key][()]``; errors name the field by its path below the layer group."""
        field = g.name.split(f"/{layer}/", 1)[-1] + "/" + key if g.name.count("/") > 2 else key
        try:
            obj = g.get(key)
            if obj is None:
                if required:
                    raise self.err(BundleError, "missing dataset", layer, field)
                return None
            if not isinstance(obj, h5py.Dataset):
                raise self.err(BundleError, "expected a dataset, found a group", layer, field)
            return obj[()]
        except (OSError, RuntimeError, ValueError, TypeError) as exc:
            raise self.err(BundleError, f"unreadable (truncated or corrupted file?): {exc}",
                           layer, field) from None

    def ints(self, value: Any, layer: str, field: str, truncate: bool = False) -> np.ndarray:
        """Integer view of a dataset value. ``truncate``: floats are truncated toward zero as
        netx's ``astype(int)`` does (warned); otherwise they must be integral."""
        arr = np.asarray(value)
        if arr.dtype.kind in "biu":
            return arr.astype(np.int64)
        if arr.dtype.kind != "f":
            raise self.err(BundleError, "wrong dtype", layer, field, str(arr.dtype),
                           "integer or float numbers")
        if not np.all(np.isfinite(arr)):
            raise self.err(BundleError, "non-finite value", layer, field,
                           arr[~np.isfinite(arr)].flat[0], "finite numbers")
        t = np.trunc(arr)
        if np.any(t != arr):
            if not truncate:
                raise self.err(BundleError, "must hold integers", layer, field,
                               arr[t != arr].flat[0], "integer values")
            self.warn(layer, f"'{field}' holds non-integer floats (e.g. {arr[t != arr].flat[0]}); "
                      "followed netx, which truncates them toward zero")
        return t.astype(np.int64)

    def text(self, g: h5py.Group, key: str, layer: str) -> str:
        v = self.raw(g, key, layer)
        if isinstance(v, np.ndarray) and v.ndim > 0:
            v = v.flat[0] if v.size else None
        if isinstance(v, bytes):
            try:
                return v.decode("ascii")
            except UnicodeDecodeError:
                pass
        elif isinstance(v, str):
            return v
        field = "neuron/type" if g.name.endswith("/neuron") else key
        raise self.err(BundleError, "wrong dtype", layer, field, repr(v)[:40], "ASCII bytes")

    def check(self, arr: np.ndarray, layer: str, field: str, lo: int, hi: int) -> None:
        bad = (arr < lo) | (arr > hi)
        if np.any(bad):
            raise self.err(RangeError, "out of range", layer, field, int(arr[bad].flat[0]),
                           f"[{lo}, {hi}]")

    # -- neurons -----------------------------------------------------------------------------
    def neuron(self, g: h5py.Group, layer: str, ir_shape: tuple[int, ...]) -> dict[str, Any]:
        """Cuba parameters of ``layer/<i>/neuron`` (no bias); ``ir_shape`` is (C,H,W) or (N,)."""
        ng = g.get("neuron")
        if not isinstance(ng, h5py.Group):
            raise self.err(BundleError, "'neuron' must be a group", layer, "neuron")
        ntype = self.text(ng, "type", layer)
        if ntype not in ("CUBA", "LOIHI"):
            why = {"SDNN": "sigma-delta neurons", "ALIF": "netx 0.6.0 cannot load ALIF either"}
            note = why.get(ntype, "resonate-and-fire neurons (netx 0.6.0 turns ADRF* into plain "
                           "RF)" if "RF" in ntype else "unknown neuron type")
            raise self.err(UnsupportedError, f"neuron type not expressible in the IR ({note})",
                           layer, "neuron/type", ntype, "CUBA or LOIHI")
        out: dict[str, Any] = {}
        for key, name in (("vThMant", "vth"), ("iDecay", "i_decay"), ("vDecay", "v_decay")):
            arr = self.ints(self.raw(ng, key, layer), layer, f"neuron/{key}")
            self.check(arr, layer, f"neuron/{key}", *ir.LIMITS[name])
            out[name] = self.to_ir(arr, ir_shape, layer, f"neuron/{key}")
        ref = self.raw(ng, "refDelay", layer, required=False)
        if ref is not None and np.any(self.ints(ref, layer, "neuron/refDelay") > 1):
            self.warn(layer, "'neuron/refDelay' > 1 is ignored by netx 0.6.0 (no refractory "
                      "period); followed netx (refractory = 0)")
        graded = self.raw(ng, "gradedSpike", layer, required=False)
        if graded is not None and np.any(np.asarray(graded).astype(bool)):
            self.warn(layer, "'neuron/gradedSpike' is ignored by netx 0.6.0 (binary LIF); "
                      "followed netx (binary spikes)")
        for key in ("wgtExp", "weight_exp"):
            v = self.raw(ng, key, layer, required=False)
            if v is not None and np.any(self.ints(v, layer, f"neuron/{key}") != 0):
                self.warn(layer, f"'neuron/{key}' is ignored by netx 0.6.0; followed netx "
                          "(weights not scaled)")
        mb = self.raw(ng, "messageBits", layer, required=False)
        if mb is not None:
            bits = self.ints(mb, layer, "neuron/messageBits")
            self.check(bits, layer, "neuron/messageBits", *ir.LIMITS["message_bits"])
            out["message_bits"] = int(bits.reshape(-1)[0]) if bits.size else 0
            self.warn(layer, "'neuron/messageBits' makes netx 0.6.0 fail at compile time; "
                      f"the IR uses it as message_bits={out['message_bits']} (the file's intent)")
        return out

    def to_ir(self, arr: np.ndarray, ir_shape: tuple[int, ...], layer: str,
              field: str) -> np.ndarray:
        """A per-neuron array in netx/Lava order (W,H,C) to IR order (C,H,W); scalars stay."""
        if arr.ndim == 0:
            return arr
        try:
            return np.ascontiguousarray(np.broadcast_to(arr, ir_shape[::-1]).T)
        except ValueError:
            raise self.err(BundleError, "wrong shape", layer, field, arr.shape,
                           f"broadcastable to {ir_shape[::-1]} (netx neuron order W,H,C)") \
                from None

    def bias(self, g: h5py.Group, layer: str, ir_shape: tuple[int, ...]) -> dict[str, Any]:
        """``bias`` -> (bias_mant, bias_exp) with ``bias_mant << bias_exp == bias << 6``."""
        raw = self.raw(g, "bias", layer, required=False)
        if raw is None:
            return {}
        b = self.ints(raw, layer, "bias", truncate=True)
        lava = ir_shape[::-1]
        if len(lava) == 1:
            ok = b.ndim == 0 or (b.ndim == 1 and b.shape[0] in (1, lava[0]))
        elif list(b.shape) == list(lava):
            b = b.T
            ok = True
        elif b.ndim == 1 and b.shape[0] == lava[-1]:
            b, ok = b.reshape(-1, *([1] * (len(lava) - 1))), True
        else:
            ok = False
        if not ok:
            raise self.err(BundleError, "wrong shape", layer, "bias", b.shape,
                           f"scalar, per channel ({lava[-1]},) or per neuron {lava}")
        b16 = ((b + 2**15) % 2**16) - 2**15
        if np.any(b16 != b):
            self.warn(layer, "'bias' exceeds Lava's int16 bias_mant and wraps; followed netx")
            b = b16
        if b.min(initial=0) >= _BIAS_LO and b.max(initial=0) <= _BIAS_HI:
            return {"bias_mant": b, "bias_exp": 6}
        if not np.any(b % 2) and (b // 2).min() >= _BIAS_LO and (b // 2).max() <= _BIAS_HI:
            return {"bias_mant": b // 2, "bias_exp": 7}
        bad = b[(b < _BIAS_LO) | (b > _BIAS_HI)].flat[0]
        raise self.err(RangeError, "bias (applied as bias << 6) does not fit the 13-bit bias "
                       "mantissa", layer, "bias", int(bad),
                       f"[{_BIAS_LO}, {_BIAS_HI}], or even values up to twice that")

    # -- weights -----------------------------------------------------------------------------
    def mantissa(self, eff: np.ndarray, layer: str, field: str) -> tuple[np.ndarray, int]:
        found = _mantissa(eff)
        if found is None:
            worst = int(eff.flat[np.argmax(np.abs(eff))])
            raise self.err(RangeError, "weight not representable as an 8-bit mantissa times "
                           "2**e", layer, field, worst,
                           "W = w * 2**e, w in [-128, 127] (mixed sign) or [0, 255] / "
                           "[-255, 0] (one sign), 0 <= e <= 7")
        return found

    def netx_weights(self, w: np.ndarray, layer: str, field: str,
                     no_exp: bool = False) -> np.ndarray:
        """Effective per-synapse integers Lava uses for a netx dense ``weight``."""
        try:
            stored, nwb, wexp, notes = netx_prepared_weights(w)
        except _AllZero:
            self.warn(layer, f"'{field}' is all zero: netx 0.6.0 raises OverflowError on this "
                      "file; read as zero weights")
            return np.zeros_like(w)
        if no_exp:
            stored = _lava_prepare(stored, nwb)
            notes.append(f"dense_rec with delay: netx passes no weight_exp to DelayDense, so the "
                         f"weights act 2**{-wexp} times larger")
            wexp = 0
        eff = _per_synapse(stored, wexp)
        if eff is None:
            raise self.err(RangeError, "netx 0.6.0 encodes these weights in a way the IR cannot "
                           "express", layer, field, int(np.abs(w).max()), "[-256, 255]")
        if notes or not np.array_equal(eff, w):
            self.warn(layer, f"'{field}': " + "; ".join(notes or ["netx/Lava change the "
                      "weights"]) + "; followed netx (the IR holds the weights Lava uses)")
        return eff

    # -- layers ------------------------------------------------------------------------------
    def read(self) -> ir.Network:
        layers = self.f.get("layer")
        if not isinstance(layers, h5py.Group):
            raise self.err(BundleError, "missing 'layer' group (not a netx file?)", "layer",
                           "layer")
        names = sorted(layers.keys(), key=lambda k: (len(k), k))
        if not names or names != [str(i) for i in range(len(names))]:
            raise self.err(BundleError, "layer groups must be named 0..N-1 consecutively",
                           "layer", "layer", names, f"'0'..'{max(len(names) - 1, 0)}'")
        if self.num_layers is not None:
            names = names[:self.num_layers]
        nodes: list[ir.Node] = []
        prev: str | None = None
        shape: tuple[int, ...] = ()
        pending_input: str | None = None  # name of an Input whose shape is still unknown
        for i, key in enumerate(names):
            layer, name = f"layer/{i}", f"layer{i}"
            g = layers[key]
            if not isinstance(g, h5py.Group):
                raise self.err(BundleError, "expected a group", layer, None)
            typ = self.text(g, "type", layer)
            if typ in NETX_UNLOADABLE:
                raise self.err(UnsupportedError, "layer type not supported (netx 0.6.0 cannot "
                               "load it either)", layer, "type", typ,
                               "input, dense, dense_rec, conv, flatten")
            if typ == "input":
                if i != 0:
                    raise self.err(UnsupportedError, "an input layer must be layer 0", layer,
                                   "type", typ)
                s = self.raw(g, "shape", layer, required="neuron" in g)
                if s is None:
                    pending_input = name
                    nodes.append(ir.Input(name=name, shape=(1,)))
                    prev = name
                    continue
                shape = tuple(int(x) for x in self.ints(s, layer, "shape").reshape(-1))
                if "neuron" not in g:
                    nodes.append(ir.Input(name=name, shape=shape))
                    prev = name
                    continue
                nodes.append(ir.Input(name="input", shape=shape))
                params = self.neuron(g, layer, shape)
                if "weight" in g or "bias" in g:
                    self.warn(layer, "the input layer's 'weight'/'bias' transform is stored but "
                              "never applied by netx 0.6.0; followed netx (the neuron is driven "
                              "directly by the input, bias 0)")
                nodes.append(ir.Cuba(name=name, sources=("input",), shape=shape, **params))
                prev = name
            elif typ == "flatten":
                if prev is None:
                    raise self.err(BundleError, "flatten cannot be the first layer", layer, "type")
                nodes.append(ir.Flatten(name=name, sources=(prev,)))
                prev, shape = name, (int(np.prod(shape)),)
            elif typ in ("dense", "dense_rec"):
                if prev is None:  # no input layer: netx takes the input shape from the weights
                    nodes.append(ir.Input(name="input", shape=(1,)))
                    prev = pending_input = "input"
                known = () if prev == pending_input else shape
                new, shape = self.dense(g, layer, name, prev, known, typ == "dense_rec",
                                        last=i == len(names) - 1,
                                        after_input=isinstance(nodes[-1], ir.Input))
                if prev == pending_input:
                    nodes[0].shape = (int(new[0].weight.shape[1]),)
                    pending_input = None
                nodes.extend(new)
                prev = name
            elif typ == "conv":
                if prev is None or prev == pending_input:
                    raise self.err(BundleError, "conv layer needs the input shape: add a 'shape' "
                                   "to an input layer 0", layer, "shape")
                new, shape = self.conv(g, layer, name, prev, shape)
                nodes.extend(new)
                prev = name
            else:
                raise self.err(UnsupportedError, "unknown layer type", layer, "type", typ,
                               "input, dense, dense_rec, conv, flatten")
        if pending_input is not None:
            raise self.err(BundleError, "input layer has no 'shape' and no dense layer to infer "
                           "it from", "layer/0", "shape")
        return ir.Network(nodes, name=Path(self.file).stem)

    def dense(self, g: h5py.Group, layer: str, name: str, prev: str,
              in_shape: tuple[int, ...], rec: bool, last: bool, after_input: bool
              ) -> tuple[list[ir.Node], tuple[int, ...]]:
        n_out = int(np.prod(self.ints(self.raw(g, "shape", layer), layer, "shape")))
        if "weight/imag" in g or "weight/real" in g:
            raise self.err(UnsupportedError, "complex (real/imag) weights need RF neurons, which "
                           "the IR cannot express", layer, "weight/imag")
        weights = {}
        for key in ("weight", "weight_rec") if rec else ("weight",):
            w = self.ints(self.raw(g, key, layer), layer, key, truncate=True)
            if w.ndim == 1 and w.size % max(n_out, 1) == 0:
                w = w.reshape(n_out, -1)
            want = (n_out, n_out) if key == "weight_rec" else (n_out, "N_in")
            if w.ndim != 2 or w.shape[0] != n_out or (key == "weight_rec" and w.shape[1] != n_out):
                raise self.err(BundleError, "wrong shape", layer, key, w.shape, want)
            weights[key] = w
        w = weights["weight"]
        nodes: list[ir.Node] = []
        src = prev
        if len(in_shape) > 1:
            if after_input and int(np.prod(in_shape)) == w.shape[1]:
                # input layer without neuron: netx feeds the flat input straight to the synapse
                src = f"{name}_flatten"
                nodes.append(ir.Flatten(name=src, sources=(prev,)))
                in_shape = (int(np.prod(in_shape)),)
            else:
                raise self.err(BundleError, "dense layer after a (C, H, W) layer needs a flatten "
                               "layer in between", layer, "type", "dense")
        if in_shape and w.shape[1] != in_shape[0]:
            raise self.err(BundleError, "wrong shape", layer, "weight", w.shape,
                           f"({n_out}, {in_shape[0]})")
        delay = self.delay(g, layer, w.shape)
        if rec:
            joint = self.netx_weights(np.hstack([w, weights["weight_rec"]]), layer,
                                      "weight+weight_rec", no_exp=delay is not None)
            effs = {"weight": joint[:, :w.shape[1]], "weight_rec": joint[:, w.shape[1]:]}
            if delay is not None and w.shape[1] != n_out:
                raise self.err(UnsupportedError, "dense_rec with delay needs N_in == N_out "
                               "(netx 0.6.0 applies one delay matrix to both synapses)", layer,
                               "delay", w.shape)
        else:
            effs = {"weight": self.netx_weights(w, layer, "weight")}
        m, e = self.mantissa(effs["weight"], layer, "weight")
        syn_name = f"{name}_syn" if "neuron" in g else name
        nodes.append(ir.Dense(name=syn_name, sources=(src,), weight=m,
                              weight_exp=e, delay=delay))
        if "neuron" not in g:
            if rec or "bias" in g or not last:
                raise self.err(UnsupportedError, "dense layer without a neuron group: netx builds "
                               "a never-spiking integrator the IR keeps only as a final synapse "
                               "without bias or recurrence", layer, "neuron")
            self.warn(layer, "no neuron group: netx 0.6.0 adds a non-spiking integrator (CUBA "
                      "iDecay=0, vDecay=4096, vThMant=2**17); the IR keeps only the synapse, whose "
                      "current is the output (integrate it to get netx's u)")
            return nodes, (n_out,)
        params = self.neuron(g, layer, (n_out,))
        params.update(self.bias(g, layer, (n_out,)))
        sources = (syn_name, f"{name}_rec") if rec else (syn_name,)
        nodes.append(ir.Cuba(name=name, sources=sources, shape=(n_out,), **params))
        if rec:
            mr, er = self.mantissa(effs["weight_rec"], layer, "weight_rec")
            nodes.append(ir.Dense(name=f"{name}_rec", sources=(name,), weight=mr, weight_exp=er,
                                  delay=delay))
        return nodes, (n_out,)

    def delay(self, g: h5py.Group, layer: str, wshape: tuple[int, int]) -> np.ndarray | None:
        raw = self.raw(g, "delay", layer, required=False)
        if raw is None:
            return None
        d = self.ints(raw, layer, "delay", truncate=True)
        if d.max(initial=0) > NETX_MAX_DELAY:
            self.warn(layer, f"'delay' up to {d.max()} clipped to [0, {NETX_MAX_DELAY}]; "
                      "followed netx")
            d = np.clip(d, 0, NETX_MAX_DELAY)
        self.check(d, layer, "delay", 0, NETX_MAX_DELAY)
        if d.ndim == 0:
            return np.full(wshape, int(d), dtype=np.int64)
        if d.ndim == 1 and d.size == wshape[0]:
            return np.repeat(d.reshape(-1, 1), wshape[1], axis=1)
        if d.ndim == 1 and d.size == wshape[1]:
            return np.repeat(d.reshape(1, -1), wshape[0], axis=0)
        if d.shape == tuple(wshape):
            return d
        raise self.err(BundleError, "wrong shape", layer, "delay", d.shape,
                       f"scalar, ({wshape[0]},), ({wshape[1]},) or {tuple(wshape)}")

    def conv(self, g: h5py.Group, layer: str, name: str, prev: str,
             in_shape: tuple[int, ...]) -> tuple[list[ir.Node], tuple[int, ...]]:
        shape = tuple(int(x) for x in self.ints(self.raw(g, "shape", layer), layer,
                                                "shape").reshape(-1))
        w = self.ints(self.raw(g, "weight", layer), layer, "weight", truncate=True)
        if w.ndim == 5 and w.shape[4] == 1:
            w = w[..., 0]
        if w.ndim != 4:
            raise self.err(BundleError, "wrong shape", layer, "weight", w.shape,
                           "(C_out, C_in/groups, kH, kW[, 1])")
        geo = {}
        for key in ("stride", "padding", "dilation"):
            v = self.ints(self.raw(g, key, layer), layer, key).reshape(-1)
            if v.size not in (1, 2):
                raise self.err(BundleError, "wrong shape", layer, key, v.shape, "scalar or (y, x)")
            geo[key] = (int(v[0]), int(v[-1]))
        groups = self.ints(self.raw(g, "groups", layer), layer, "groups")
        if groups.size != 1:
            raise self.err(BundleError, "wrong shape", layer, "groups", groups.shape, "scalar")
        if "delay" in g:
            self.warn(layer, "'delay' of a conv layer is ignored by netx 0.6.0; followed netx")
        m, e = self.mantissa(w, layer, "weight")
        syn = ir.Conv(name=f"{name}_syn", sources=(prev,), weight=m, weight_exp=e,
                      groups=int(groups.reshape(-1)[0]), **geo)
        if len(in_shape) != 3:
            raise self.err(BundleError, "conv needs a (C, H, W) input", layer, "shape", in_shape)
        try:
            syn.validate([in_shape])
        except NeurodeployError as exc:
            raise self.err(type(exc), exc.detail, layer, exc.field, exc.value, exc.limit) \
                from None
        if syn.output_shape([in_shape]) != shape:
            raise self.err(BundleError, "wrong shape", layer, "shape", shape,
                           f"{syn.output_shape([in_shape])} from the input {in_shape}")
        if "neuron" not in g:
            raise self.err(BundleError, "missing group", layer, "neuron")
        params = self.neuron(g, layer, shape)
        params.update(self.bias(g, layer, shape))
        return [syn, ir.Cuba(name=name, sources=(syn.name,), shape=shape, **params)], shape


# --------------------------------------------------------------------------------------------
# writing: IR -> netx layer groups
# --------------------------------------------------------------------------------------------
def _plan(net: ir.Network) -> tuple[list[list[ir.Node]], list[str]]:
    """Split a chain network into netx layers: [Input(, Cuba)], [Flatten], [Dense|Conv, Cuba
    (, recurrent Dense)], and a final neuron-less Dense. Returns (units, reasons)."""
    nodes = net.nodes
    if len(net.inputs) != 1 or not nodes or not isinstance(nodes[0], ir.Input):
        return [], ["netx needs exactly one Input node, first in node order"]
    units, prev, i = [[nodes[0]]], nodes[0].name, 1
    if i < len(nodes) and isinstance(nodes[i], ir.Cuba) and nodes[i].sources == (prev,):
        units[0].append(nodes[i])
        prev, i = nodes[i].name, i + 1
    while i < len(nodes):
        n = nodes[i]
        nxt = nodes[i + 1] if i + 1 < len(nodes) else None
        if isinstance(n, ir.Flatten) and n.sources == (prev,):
            units.append([n])
            prev, i = n.name, i + 1
            continue
        if isinstance(n, (ir.Dense, ir.Conv)) and n.sources == (prev,):
            if isinstance(nxt, ir.Cuba) and nxt.sources == (n.name,):
                units.append([n, nxt])
                prev, i = nxt.name, i + 2
                continue
            rec = nodes[i + 2] if i + 2 < len(nodes) else None
            if isinstance(n, ir.Dense) and isinstance(nxt, ir.Cuba) and \
                    isinstance(rec, ir.Dense) and nxt.sources == (n.name, rec.name) and \
                    rec.sources == (nxt.name,):
                units.append([n, nxt, rec])
                prev, i = nxt.name, i + 3
                continue
            if nxt is None and isinstance(n, ir.Dense):
                units.append([n])
                break
        return units, [f"node '{n.name}' ({n.op}) does not continue a netx chain (netx layers: "
                       "Input[+Cuba], Flatten, Dense/Conv + Cuba, Dense + Cuba + recurrent Dense, "
                       "a final Dense)"]
    return units, []


def _lava_order(arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """IR (C,H,W) per-neuron array -> netx/Lava (W,H,C) int64; 0-d stays 0-d."""
    arr = np.asarray(arr, dtype=np.int64)
    return arr if arr.ndim == 0 else np.ascontiguousarray(np.broadcast_to(arr, shape).T)


def _neuron_datasets(cuba: ir.Cuba, reasons: list[str], input_layer: bool) -> dict[str, Any]:
    if cuba.refractory:
        reasons.append(f"'{cuba.name}': netx 0.6.0 has no refractory period")
    if cuba.message_bits:
        reasons.append(f"'{cuba.name}': netx 0.6.0 cannot run graded CUBA (messageBits)")
    out: dict[str, Any] = {"neuron/type": "CUBA"}
    for key, name in (("iDecay", "i_decay"), ("vDecay", "v_decay"), ("vThMant", "vth")):
        out[f"neuron/{key}"] = _lava_order(getattr(cuba, name), cuba.shape)
    out["neuron/refDelay"], out["neuron/gradedSpike"] = np.int64(1), np.bool_(False)
    eff = np.broadcast_to(np.asarray(cuba.bias_mant) << np.asarray(cuba.bias_exp), cuba.shape)
    if np.all(cuba.bias_mant == 0) and np.all(cuba.bias_exp == 0):
        return out
    if input_layer:
        if np.any(eff):
            reasons.append(f"'{cuba.name}': netx 0.6.0 does not apply an input layer's bias")
        return out
    if np.any(eff % 64):
        reasons.append(f"'{cuba.name}': bias_mant << bias_exp is not a multiple of 64 (netx "
                       "fixes bias_exp = 6)")
        return out
    m, e = np.asarray(cuba.bias_mant), np.asarray(cuba.bias_exp)
    if len(cuba.shape) == 3 and e.ndim == 0 and m.shape == (cuba.shape[0], 1, 1):
        out["bias"] = (m.reshape(-1) << int(e)) >> 6           # per channel
    elif len(cuba.shape) == 1 and (m << e).ndim <= 1:
        out["bias"] = (m << e) >> 6
    else:
        out["bias"] = _lava_order(eff >> 6, cuba.shape)
    out["bias"] = np.asarray(out["bias"]).astype(np.float32)
    return out


def _effective(syn: ir.Dense | ir.Conv, reasons: list[str]) -> np.ndarray | None:
    w, e = np.asarray(syn.weight, dtype=np.int64), int(syn.weight_exp)
    if e >= 0:
        return w << e
    if np.any(w % (1 << -e)):
        reasons.append(f"'{syn.name}': weight_exp {e} < 0 leaves fractional weights")
        return None
    return w >> -e


def _netx_lossless(eff: np.ndarray, name: str, reasons: list[str]) -> None:
    try:
        stored, _, wexp, _ = netx_prepared_weights(eff)
    except _AllZero:
        reasons.append(f"'{name}': netx 0.6.0 raises OverflowError on all-zero weights")
        return
    if not np.array_equal(_per_synapse(stored, wexp), eff):
        reasons.append(f"'{name}': weights outside netx 0.6.0's lossless range "
                       f"[{eff.min()}, {eff.max()}]")


def netx_layers(network: ir.Network) -> tuple[list[dict[str, Any]], list[str]]:
    """The netx ``layer/<i>`` datasets for ``network`` (one dict path -> value per layer) and the
    reasons netx 0.6.0 cannot load it with identical semantics (empty list = loadable)."""
    try:
        shapes = network.shapes()
    except NeurodeployError as exc:
        return [], [f"network is invalid: {exc}"]
    units, reasons = _plan(network)
    layers: list[dict[str, Any]] = []
    for unit in units:
        head = unit[0]
        if isinstance(head, ir.Input):
            d: dict[str, Any] = {"type": "input", "shape": np.asarray(head.shape, np.int64)}
            if len(unit) > 1:
                d.update(_neuron_datasets(unit[1], reasons, input_layer=True))
        elif isinstance(head, ir.Flatten):
            d = {"type": "flatten", "shape": np.asarray(shapes[head.name], np.int64)}
        elif isinstance(head, ir.Dense):
            n_out = shapes[head.name][0]
            d = {"type": "dense_rec" if len(unit) == 3 else "dense",
                 "shape": np.asarray([n_out], np.int64)}
            eff = _effective(head, reasons)
            if len(unit) == 3:
                rec = _effective(unit[2], reasons)
                if eff is not None and rec is not None:
                    _netx_lossless(np.hstack([eff, rec]), head.name, reasons)
                    d["weight_rec"] = rec.astype(np.float32)
                if head.delay is not None or unit[2].delay is not None:
                    reasons.append(f"'{head.name}': netx 0.6.0 mis-scales dense_rec with delay")
            elif eff is not None:
                _netx_lossless(eff, head.name, reasons)
            if eff is not None:
                d["weight"] = eff.astype(np.float32)
            if head.delay is not None:
                dl = np.asarray(head.delay)
                rows_same = dl.size == 0 or np.all(dl == dl[:, :1])
                d["delay"] = (dl[:, 0] if rows_same else dl).astype(np.float32)
            if len(unit) > 1:
                d.update(_neuron_datasets(unit[1], reasons, input_layer=False))
        else:  # Conv
            d = {"type": "conv", "shape": np.asarray(shapes[unit[1].name], np.int64),
                 "weight": (np.asarray(head.weight, np.int64) << int(head.weight_exp)
                            )[..., None].astype(np.float32),
                 "stride": np.asarray(head.stride, np.int64),
                 "padding": np.asarray(head.padding, np.int64),
                 "dilation": np.asarray(head.dilation, np.int64),
                 "groups": np.int64(head.groups)}
            d.update(_neuron_datasets(unit[1], reasons, input_layer=False))
        layers.append(d)
    return layers, reasons


def netx_compatibility(network: ir.Network) -> list[str]:
    """Reasons lava-dl 0.6.0's netx cannot load ``network`` with identical integer semantics
    (empty list: :func:`write_bundle` writes a netx ``layer/`` part that netx loads)."""
    return netx_layers(network)[1]


def _write_layers(f: h5py.File, layers: list[dict[str, Any]]) -> None:
    root = f.create_group("layer")
    for i, d in enumerate(layers):
        g = root.create_group(str(i))
        for key, value in d.items():
            if key == "type":
                g.create_dataset("type", (1,), "S10", [value.encode("ascii")])
            elif key == "neuron/type":
                g.create_dataset(key, data=value, dtype=h5py.string_dtype())
            else:
                g.create_dataset(key, data=value)


def _check_layers(f: h5py.File, layers: list[dict[str, Any]], file: str) -> None:
    """The stored netx part must be what the extension's IR produces."""
    root = f["layer"]
    if sorted(root.keys()) != sorted(str(i) for i in range(len(layers))):
        raise BundleError("netx 'layer' part disagrees with the /neurodeploy extension",
                          file=file, layer="layer", field="layer", value=sorted(root.keys()),
                          limit=f"{len(layers)} layers")
    for i, d in enumerate(layers):
        g = root[str(i)]
        for key, want in d.items():
            got = g.get(key)
            got = got[()] if isinstance(got, h5py.Dataset) else None
            if key in ("type", "neuron/type") and got is not None:
                got = np.asarray(got).reshape(-1)[0]
                got = got.decode("ascii", "replace") if isinstance(got, bytes) else str(got)
                same = got == want
            else:
                same = got is not None and np.shape(got) == np.shape(want) and \
                    np.array_equal(np.asarray(got), np.asarray(want))
            if not same:
                raise BundleError("netx 'layer' part disagrees with the /neurodeploy extension",
                                  file=file, layer=f"layer/{i}", field=key)


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
def read_bundle(path: str | os.PathLike, *, use_extension: bool = True,
                num_layers: int | None = None, verify_checksums: bool = True) -> ir.Network:
    """Load a netx HDF5 bundle as a validated IR :class:`~neurodeploy.ir.Network`.

    With a ``/neurodeploy`` extension (and ``use_extension``), the extension's IR is returned after
    checking that the file's netx ``layer/`` part, if any, is exactly what it implies. Otherwise the
    ``layer/`` part is read with netx 0.6.0's semantics (warning with :class:`NetxWarning` wherever
    netx differs from what the file states). Raises :class:`BundleError`, :class:`RangeError` or
    :class:`UnsupportedError` naming the file, layer and field. Never executes file content.
    ``num_layers`` reads only the first netx layers, as ``netx.hdf5.Network(num_layers=...)``
    does (it implies reading the ``layer/`` part, not the extension).
    When the file has a manifest (:mod:`.manifest`) and the extension is read, every dataset's
    checksum is validated after the structural checks (``verify_checksums``): a mismatch raises
    BundleError naming the dataset. Reading the netx part alone (``use_extension=False`` or
    ``num_layers``) reads the file as netx 0.6.0 would and ignores the manifest.
    """
    file = str(path)
    try:
        f = h5py.File(file, "r")
    except (OSError, ValueError) as exc:
        raise BundleError(f"cannot open as HDF5 (missing, truncated or corrupted): {exc}",
                          file=file) from None
    try:
        with f:
            if use_extension and num_layers is None and GROUP in f:
                net = read_extension(f[GROUP], file).validate()
                if "layer" in f:
                    layers, reasons = netx_layers(net)
                    if reasons:
                        raise BundleError("file has a netx 'layer' part but its /neurodeploy "
                                          f"network is not netx-expressible: {reasons[0]}",
                                          file=file, layer="layer", field="layer")
                    _check_layers(f, layers, file)
                if verify_checksums:
                    validate_checksums(f)
            else:
                net = _Reader(f, file, num_layers).read()
        return net.validate()
    except NeurodeployError as exc:
        raise exc.located(file=file) from None
    except (OSError, KeyError, RuntimeError) as exc:
        raise BundleError(f"unreadable (truncated or corrupted file?): {exc}", file=file) from None


def write_bundle(network: ir.Network, path: str | os.PathLike, *,
                 metadata: Mapping[str, Any] | None = None,
                 golden: Golden | Mapping[str, Any] | None = None) -> list[str]:
    """Write ``network`` as a netx HDF5 bundle, atomically (temp file + ``os.replace``).

    The ``/neurodeploy`` extension always holds the full IR. The netx ``layer/`` part is written
    when netx 0.6.0 can load the network with identical integer semantics; the returned list holds
    the reasons it cannot (empty: ``layer/`` written). Graded inputs (``Input.message_bits > 0``)
    need ``netx.hdf5.Network(..., input_message_bits=m)``; the root attribute
    ``input_message_bits`` records ``m``. ``metadata`` (JSON-serialisable: time steps, input
    encoding, readout, model provenance ...) is stored as the ``metadata`` attribute of the
    extension group and read back by :func:`read_metadata`. Its ``target``, ``model_hash``,
    ``quantization`` and ``time_steps`` (or ``steps``) keys go into the manifest
    (:mod:`.manifest`), with a SHA-256 checksum of every dataset. ``golden``: a
    :class:`~.manifest.Golden` or ``{"inputs": {...}[, "traces": ..., "steps": n]}`` (traces
    default to the reference simulator's) stored as the bundle's golden self-test vectors.
    """
    network.validate()
    meta_json = json.dumps(dict(metadata or {}), sort_keys=True)
    layers, reasons = netx_layers(network)
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".tmp",
                               prefix=".nd-")
    os.close(fd)
    try:
        # HDF5 1.8 object format (readable by every HDF5 >= 1.8): compact groups, so that the
        # small golden bundles stay a few kB
        with h5py.File(tmp, "w", libver=("v108", "latest")) as f:
            f.attrs["producer"] = "neurodeploy"
            f.attrs["netx_compatible"] = not reasons
            f.attrs["input_message_bits"] = np.int64(network.inputs[0].message_bits)
            if not reasons:
                _write_layers(f, layers)
            write_extension(f, network)
            f[GROUP].attrs["metadata"] = meta_json
            write_manifest(f, network, json.loads(meta_json), golden, not reasons)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return reasons


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The ``metadata`` mapping written with the bundle ({} when there is none)."""
    file = str(path)
    try:
        with h5py.File(file, "r") as f:
            raw = f[GROUP].attrs.get("metadata", "{}") if GROUP in f else "{}"
    except (OSError, ValueError) as exc:
        raise BundleError(f"cannot open as HDF5: {exc}", file=file) from None
    try:
        return json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    except ValueError as exc:
        raise BundleError(f"metadata is not valid JSON: {exc}", file=file, field="metadata") \
            from None
