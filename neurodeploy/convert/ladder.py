"""``export`` and the accuracy ladder of ``verify --dataset`` (the CLI calls these).

Ladder rungs, each an accuracy on the first N held-out samples (Lava: the first M):

1. ``float_ann`` - the torch float ANN (pre-QAT weights, quantizers off);
2. ``qann`` - the torch QANN (LSQ / phase-code forward, float64);
3. ``int_ann`` - the integer IR evaluated as an ANN in one shot (:mod:`.intann`);
4. ``ref_snn`` - the reference simulator, ``steps`` steps, readout membrane + integer bias;
5. ``lava_snn`` - Lava's CPU simulation of Loihi 2, bit-compared with the reference on every
   probed variable of every layer at every step.

Agreements count samples whose predictions two rungs share; ``head_exact`` counts samples whose
reference-SNN class scores equal the integer-ANN scores exactly (all classes).
"""
from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import NeurodeployError
from . import Conversion, convert, encode, file_hash, int_scores, resolve_model, snn_scores

__all__ = ["export_model", "ladder", "format_ladder", "torch_predictions", "RUNGS"]

RUNGS = ("float_ann", "qann", "int_ann", "ref_snn", "lava_snn")


def export_model(model: str, output: str, target: str = "loihi2") -> tuple[Conversion, list]:
    """Load ``model`` (path or shipped name), convert it, write the bundle; returns the
    conversion and the bundle writer's netx warnings."""
    from ..bundle import write_bundle
    from ..models import load_checkpoint
    ckpt = load_checkpoint(resolve_model(model))
    conv = convert(ckpt, target=target)
    try:
        warnings_ = write_bundle(conv.network, output, metadata=conv.metadata)
    except OSError as exc:
        raise NeurodeployError(f"cannot write the bundle ({exc.strerror or exc})", file=output,
                               field="--output") from None
    return conv, [str(w) for w in (warnings_ or [])]


def torch_predictions(model, x: np.ndarray, batch: int = 250) -> np.ndarray:
    """argmax predictions of a torch model in float64 (thread-count independent)."""
    import torch
    m = copy.deepcopy(model).double().eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(m(torch.from_numpy(np.ascontiguousarray(x[i:i + batch])).double())
                       .argmax(1).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def _checkpoint(meta: dict[str, Any]):
    """The bundle's checkpoint, if found with the recorded hash (else None, and why)."""
    from ..models import load_checkpoint
    want = meta.get("model_sha256")
    for cand in (meta.get("model_path"), meta.get("model")):
        if not cand:
            continue
        try:
            path = resolve_model(cand)
        except NeurodeployError:
            continue
        if want is None or file_hash(path) == want:
            return load_checkpoint(path), None
    return None, "checkpoint with the recorded sha256 not found"


def _lava_rung(net, meta: dict, x: np.ndarray, progress: Callable | None) -> dict[str, Any]:
    """Lava SNN predictions on ``x`` and its bit-exact comparison with the reference SNN,
    one sample at a time (a converted transformer's traces of all layers and steps take
    hundreds of MB per sample; they are compared and dropped). The first divergence reported
    is that of the first diverging sample."""
    from ..lava.backend import LavaBackend
    from ..sim.reference import simulate
    from ..sim.traces import compare
    backend, steps, ro = LavaBackend(net), int(meta["steps"]), meta["readout"]
    data = encode(meta, x)
    mismatches, first, preds = 0, None, []
    samples = range(len(x)) if progress is None else progress("lava", "sample")(range(len(x)))
    for i in samples:
        one = data[i:i + 1]
        lt = backend.run(one, steps)
        comp = compare(simulate(net, one, steps), lt)
        mismatches += sum(d["mismatches"] for d in comp.layers)
        if first is None and not comp.bit_exact:
            first = dataclasses.replace(comp.first_divergence, sample=i)
        readout = lt[ro["node"], ro["variable"]][..., int(ro["step"]) - 1]
        preds.append((readout + np.asarray(ro["bias"])).argmax(1)[0])
    compared = dict(layers=len({d["name"] for d in comp.layers}),   # the same for every sample
                    variables=len(comp.layers), steps=steps)
    return dict(bit_exact=first is None, mismatches=mismatches, compared=compared,
                first_divergence=None if first is None else first.as_dict(),
                lava_predictions=np.asarray(preds))


def ladder(bundle: str, dataset: str, samples: int | None = None, lava_samples: int = 20,
           ref: bool = True, progress: Callable | None = None) -> dict[str, Any]:
    """Measure every rung on the first ``samples`` test samples (Lava on ``lava_samples``)."""
    from ..bundle import read_bundle, read_metadata
    from ..data import load_dataset
    if not Path(bundle).is_file():
        raise NeurodeployError("bundle not found", file=bundle)
    net = read_bundle(bundle)
    meta = read_metadata(bundle)
    if "encoding" not in meta or "readout" not in meta:
        raise NeurodeployError("bundle has no conversion metadata (encoding, readout): write "
                               "it with `neurodeploy export`", file=bundle, field="metadata")
    ds = load_dataset(dataset)
    if tuple(ds.input_shape) != tuple(meta["encoding"]["shape"]):
        raise NeurodeployError("data set does not fit the model's input", file=bundle,
                               field="--dataset", value=list(ds.input_shape),
                               limit=meta["encoding"]["shape"])
    n = len(ds.x_test) if samples is None else max(1, min(int(samples), len(ds.x_test)))
    m = max(0, min(int(lava_samples), n))
    x, y = ds.x_test[:n], ds.y_test[:n]
    preds: dict[str, np.ndarray | None] = dict.fromkeys(RUNGS)
    notes: dict[str, str] = {}
    ckpt, why = _checkpoint(meta)
    if ckpt is None:
        notes["float_ann"] = notes["qann"] = why or ""
    else:
        preds["float_ann"] = torch_predictions(ckpt.float_model(), x)
        preds["qann"] = torch_predictions(ckpt.model, x)
    si = int_scores(net, meta, x)
    preds["int_ann"] = si.argmax(1)
    out: dict[str, Any] = dict(bundle=bundle, model=meta.get("model"), dataset=dataset,
                               samples=n, lava_samples=m, steps=int(meta["steps"]))
    if ref:
        bar = None if progress is None else progress("ref", "batch")
        ss = snn_scores(net, meta, x, progress=bar)
        preds["ref_snn"] = ss.argmax(1)
        out["head_exact"] = int(np.all(ss == si, axis=1).sum())
    out["bit_exact"], out["mismatches"] = None, None
    if m:
        out.update(_lava_rung(net, meta, x[:m], progress))
        preds["lava_snn"] = out.pop("lava_predictions")
    out["rungs"] = {k: (None if v is None else float((v == y[:len(v)]).mean()))
                    for k, v in preds.items()}
    out["correct"] = {k: (None if v is None else int((v == y[:len(v)]).sum()))
                      for k, v in preds.items()}
    agree = {}
    have = [k for k in RUNGS if preds[k] is not None]
    for a, b in zip(have, have[1:]):
        k = min(len(preds[a]), len(preds[b]))
        agree[f"{a}/{b}"] = int((preds[a][:k] == preds[b][:k]).sum())
    out["agreement"] = agree
    if notes:
        out["notes"] = notes
    return out


def format_ladder(out: dict[str, Any]) -> str:
    """Human-readable ladder table."""
    n, m = out["samples"], out["lava_samples"]
    lines = [f"{out['model']} on {out['dataset']}: {n} test samples ({m} on Lava), "
             f"{out['steps']} steps"]
    for k in RUNGS:
        acc, c = out["rungs"][k], out["correct"][k]
        of = m if k == "lava_snn" else n
        text = "not run" if acc is None else f"{100 * acc:6.2f} %  ({c}/{of})"
        lines.append(f"  {k:9s} {text}")
    for k, v in out["agreement"].items():
        lines.append(f"  agree {k}: {v}")
    if "head_exact" in out:
        lines.append(f"  reference SNN class scores == integer ANN scores: {out['head_exact']}/{n}")
    if out["bit_exact"] is not None:
        verdict = "bit-exact" if out["bit_exact"] else "DIVERGES"
        lines.append(f"  ref vs lava ({m} samples, {out['compared']['variables']} variables, all "
                     f"steps): {verdict}, {out['mismatches']} mismatches")
        if not out["bit_exact"]:
            lines.append(f"  first divergence: {out['first_divergence']}")
    for k, v in out.get("notes", {}).items():
        lines.append(f"  note {k}: {v}")
    return "\n".join(lines)
