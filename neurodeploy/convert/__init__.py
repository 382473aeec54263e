"""Converters: trained torch QANN (a :class:`~neurodeploy.models.Checkpoint`) -> integer IR.

``convert(model)`` folds BatchNorms, absorbs constant scales (1/N, 1/sqrt(d), LSQ steps,
calibrated phase scales) into integer thresholds / weight multipliers, picks the neuron kind of
each quantizer (CSDformer -> DIF with D = T-1, SpikeZIP-TF -> ST-BIF+ and host Softmax/LayerNorm,
SpikedAttention -> phase neurons + WOSS), quantises weights to 8-bit mantissas (``weight_exp``
0, so currents add exactly) and thresholds to integers, and returns a :class:`Conversion`: the
validated network, the bundle metadata (steps, input encoding, readout, model name/hash,
quantisation settings) and the per-layer quantisation error report.

Other entry points: :func:`resolve_model` (shipped name or path), :func:`int_scores` (the
integer IR evaluated as an ANN), :func:`snn_scores` (reference SNN), :func:`encode`.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import ops  # noqa: F401  (registers the operator node types)
from ..errors import UnsupportedError
from . import nodes  # noqa: F401  (registers TokenDense / Relay)
from . import spikedattention as _spikedattention  # noqa: F401  (node types, int-ANN totals)
from . import spikezip as _spikezip  # noqa: F401  (registers StreamConst for bundle reading)
from .common import Encoding, QuantReport, encoding_for
from .intann import evaluate

__all__ = ["Conversion", "convert", "resolve_model", "MODELS_DIR", "file_hash", "encode",
           "int_scores", "snn_scores", "Encoding", "QuantReport", "SUPPORTED"]

MODELS_DIR = Path(__file__).resolve().parent.parent.parent / "models"
SUPPORTED = ("csdformer", "spikezip", "spikedattention")


@dataclass
class Conversion:
    network: Any                      #: validated neurodeploy.ir.Network
    metadata: dict[str, Any]          #: JSON-serialisable bundle metadata
    report: QuantReport               #: float vs integer parameters per layer


def resolve_model(model: str) -> Path:
    """A path to a .pt, or the name of a shipped model (``models/<name>.pt``)."""
    p = Path(model)
    if p.is_file():
        return p
    shipped = MODELS_DIR / f"{model}.pt"
    if shipped.is_file():
        return shipped
    names = sorted(q.stem for q in MODELS_DIR.glob("*.pt"))
    raise UnsupportedError("no such checkpoint file or shipped model", file=model,
                           limit=f"a .pt path or one of {names}")


def file_hash(path: str | Path) -> str:
    """sha256 of a file (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def convert(ckpt, *, target: str = "loihi2", x_train: np.ndarray | None = None,
            delay: int | None = None) -> Conversion:
    """Convert a loaded checkpoint (or a bare QANN module with ``.config``) to the integer IR.

    ``x_train`` (float, (B, C, H, W)) fixes the input encoding's scale for non-[0,1] data; when
    None it is taken from the checkpoint's data set (``meta['dataset']``) or [0, 1] assumed.
    ``delay``: CSDformer DIF delay D (default T-1, the exact choice).
    """
    from ..models import arch_of
    from ..targets import load_target
    tgt = load_target(target)
    model = getattr(ckpt, "model", ckpt)
    meta_in = dict(getattr(ckpt, "meta", {}) or {})
    arch = arch_of(model)
    shape = tuple(model.config.input_shape)
    if x_train is None and meta_in.get("dataset"):
        from ..data import load_dataset
        x_train = load_dataset(meta_in["dataset"]).x_train
    enc = encoding_for(x_train if x_train is not None else np.zeros((1, *shape)), shape)
    model = model.eval()
    if arch == "csdformer":
        from .csdformer import convert_csdformer
        net, meta, bld = convert_csdformer(model, enc, delay)
    elif arch == "spikezip":
        from .spikezip import convert_spikezip
        net, meta, bld = convert_spikezip(model, enc)
    elif arch == "spikedattention":
        from .spikedattention import convert_spikedattention
        net, meta, bld = convert_spikedattention(model, enc)
    else:  # pragma: no cover - arch_of only knows registered architectures
        raise UnsupportedError(f"no converter for architecture {arch!r}", field="arch")
    path = getattr(ckpt, "path", None)
    meta.update(encoding=enc.as_dict(), arch=arch, target=tgt.name,
                model=meta_in.get("name") or (Path(path).stem if path else arch),
                model_path=str(Path(path).resolve()) if path else None,
                model_sha256=file_hash(path) if path else None,
                model_hash=file_hash(path) if path else None,
                dataset=meta_in.get("dataset"), config=model.config.to_dict(),
                host_operators=sorted({n.name for n in net if getattr(n, "host", False)}))
    return Conversion(net, meta, bld.report)


def encode(meta: dict[str, Any], x: np.ndarray, steps: int | None = None) -> np.ndarray:
    """Input trains (B, *shape, steps) of float samples ``x`` per the bundle's encoding."""
    enc = Encoding.from_dict(meta["encoding"])
    return enc.spikes(x, int(steps or meta["steps"]))


def int_scores(net, meta: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """Class scores (B, classes) int64 of the integer IR evaluated as an ANN (one shot)."""
    enc = Encoding.from_dict(meta["encoding"])
    ro = meta["readout"]
    return evaluate(net, {enc.input: enc.integers(x)}, ro["node"]) + np.asarray(ro["bias"])


def snn_scores(net, meta: dict[str, Any], x: np.ndarray, batch: int = 64,
               progress=None) -> np.ndarray:
    """Class scores (B, classes) of the reference SNN: readout after ``meta['steps']`` steps."""
    from ..sim.reference import ReferenceSimulator
    sim = ReferenceSimulator(net)
    ro = meta["readout"]
    chunks = range(0, len(x), batch)
    out = []
    for i in (chunks if progress is None else progress(chunks)):
        tr = sim.run(encode(meta, x[i:i + batch]), int(meta["steps"]), probe=[ro["node"]])
        out.append(tr[ro["node"], ro["variable"]][..., int(ro["step"]) - 1])
    return np.concatenate(out) + np.asarray(ro["bias"])
