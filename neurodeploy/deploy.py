"""One-command deployment: model or bundle → converted, checked, placed, verified, costed bundle
with a report a person can read.

Stages (each timed and shown with progress on stderr):

1. load     - a shipped model name / checkpoint path is converted to the integer IR; a bundle
              (.h5) is read with its metadata;
2. check    - compatibility report and the design-rule check of the target (blockers → exit 2);
3. simulate - reference-simulator run of the first data-set samples (activity, raster, counts);
4. place    - partition, pack and place with the measured spike activity;
5. verify   - the accuracy ladder on held-out data and reference == Lava, bit for bit;
6. energy   - operation counts and ESTIMATED energy with the target's constants;
7. write    - DIR/bundle.h5 (placement + golden vectors in its manifest), DIR/report.json,
              DIR/report.html.

Nothing appears in DIR until every stage has succeeded: files are written into a hidden staging
directory inside DIR and renamed into place at the end; an interrupted run (SIGINT, SIGTERM)
removes the staging directory, and even a killed one leaves no bundle.h5/report.* behind.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
from contextlib import contextmanager
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .errors import NeurodeployError

__all__ = ["DEFAULT_MODEL", "OUTPUTS", "deploy"]

#: the model ``neurodeploy deploy`` uses when given no argument
DEFAULT_MODEL = "csdformer-digits"
#: files a successful deploy leaves in its output directory
OUTPUTS = ("bundle.h5", "report.json", "report.html")
STAGES = ("load", "check", "simulate", "place", "verify", "energy", "write")


class _Stages:
    """Prints '[k/7] stage ... done (s)' lines on stderr and keeps the timings."""

    def __init__(self, quiet: bool) -> None:
        self.quiet, self.times = quiet, {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        k = STAGES.index(name) + 1
        if not self.quiet:
            print(f"[{k}/{len(STAGES)}] {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        yield
        self.times[name] = round(time.perf_counter() - t0, 3)
        if not self.quiet:
            print(f"[{k}/{len(STAGES)}] {name} done in {self.times[name]:.1f} s",
                  file=sys.stderr, flush=True)


def _is_bundle(source: str) -> bool:
    path = Path(source)
    if not path.is_file():
        return False
    with open(path, "rb") as fh:
        return fh.read(8) == b"\x89HDF\r\n\x1a\n"


def _load(source: str, target: str) -> tuple[Any, dict, list[dict]]:
    """(network, metadata, quantisation report rows) of a bundle or a model."""
    from .bundle import read_bundle, read_metadata
    if _is_bundle(source):
        return read_bundle(source), read_metadata(source), []
    from .convert import convert, resolve_model
    from .models import load_checkpoint
    path = resolve_model(source)
    conv = convert(load_checkpoint(path), target=target)
    return conv.network, conv.metadata, list(conv.report.rows)


def _bar_factory(quiet: bool) -> Callable | None:
    """progress(name, unit) -> iterable wrapper, as convert.ladder expects (tqdm on stderr)."""
    if quiet:
        return None
    from tqdm import tqdm

    def factory(name: str, unit: str) -> Callable:
        return lambda it: tqdm(it, desc=name, unit=unit, file=sys.stderr, leave=False)
    return factory


def _version() -> str:
    try:
        return importlib_metadata.version("neurodeploy")
    except importlib_metadata.PackageNotFoundError:  # pragma: no cover - not installed
        return "unknown"


@contextmanager
def _staging(out_dir: Path) -> Iterator[Path]:
    """A hidden directory in ``out_dir`` removed on any exit; SIGTERM behaves like SIGINT."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".deploy-", dir=out_dir))
    previous = signal.getsignal(signal.SIGTERM)
    owner = os.getpid()

    def on_term(signum, frame):
        if os.getpid() != owner:          # a forked Lava worker: die as SIGTERM intends
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, on_term)
    except ValueError:       # not in the main thread: keep the default handler
        previous = None
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _layer_rows(net, traces, energy) -> list[dict]:
    """Per-layer firing rate (spikes per neuron per step) and counts for the report."""
    counts = {la.name: la for la in energy.layers}
    rows = []
    for node in net.neuron_groups():
        name = node.name
        la = counts.get(name)
        row: dict[str, Any] = dict(name=name, op=node.op,
                                   where=getattr(la, "where", "neurocore"))
        if name in traces.data:
            s = traces.data[name]["s"]
            row["firing_rate"] = float((s != 0).mean())
        if la is not None:
            row.update(neurons=int(la.neurons), synaptic_ops=float(la.synops),
                       spikes=float(la.spikes), energy_pj=float(la.energy_pj))
        rows.append(row)
    return rows


def deploy(source: str | None = None, *, target: str = "loihi2", dataset: str | None = None,
           out_dir: str | os.PathLike = "deploy-out", samples: int | None = None,
           lava_samples: int = 2, activity_samples: int = 8, chips: int | None = None,
           seed: int = 0, quiet: bool = False) -> dict[str, Any]:
    """Run every stage (module docstring) and return the report written to report.json.

    ``samples``: held-out samples for the ladder (all when None); ``lava_samples``: how many of
    them also run on Lava (slow: one OS process per Lava process); ``activity_samples``: samples
    whose reference run measures the spike activity used by placement, energy and the raster.
    """
    # Lava sets the multiprocessing start method at import; that must precede tqdm's lock
    import lava.magma.core.process.process  # noqa: F401

    from .bundle import make_golden, write_bundle
    from .check import check_network
    from .convert import encode
    from .convert.ladder import ladder
    from .data import load_dataset
    from .energy import estimate_energy
    from .place import finalize_layers, layers_from_network, place, require_placeable
    from .report import write_html
    from .sim.reference import ReferenceSimulator
    from .targets import BUDGETS, load_target
    source = source or DEFAULT_MODEL
    out = Path(out_dir)
    stage = _Stages(quiet)
    progress = _bar_factory(quiet)
    tgt = load_target(target)
    with _staging(out) as staging:
        with stage("load"):
            net, meta, quant_rows = _load(source, target)
            if "encoding" not in meta or "readout" not in meta:
                raise NeurodeployError("bundle has no conversion metadata (encoding, readout); "
                                       "deploy the model, or a bundle written by `neurodeploy "
                                       "export`", file=source, field="metadata")
            dataset = dataset or meta.get("dataset")
            if not dataset:
                raise NeurodeployError("no data set known for this model: pass --dataset",
                                       field="--dataset")
        with stage("check"):
            compat = check_network(net, tgt)
            require_placeable(finalize_layers(layers_from_network(net), tgt), tgt)
        with stage("simulate"):
            ds = load_dataset(dataset)
            steps = int(meta["steps"])
            data = encode(meta, ds.x_test[:max(1, activity_samples)])
            traces = ReferenceSimulator(net).run(data, steps)
            activity = {name: (np.asarray(v["s"]) != 0).mean(axis=(0, -1))
                        for name, v in traces.data.items()}
        with stage("place"):
            placement = place(net, tgt, chips=chips, activity=activity, seed=seed)
        with stage("verify"):
            draft = staging / "draft.h5"
            write_bundle(net, draft, metadata=meta)
            verified = ladder(str(draft), dataset, samples=samples, lava_samples=lava_samples,
                              progress=progress)
            draft.unlink()
        with stage("energy"):
            energy = estimate_energy(net, data, steps, target=tgt, traces=traces,
                                     placement=placement)
        with stage("write"):
            pdict = placement.to_dict()
            meta = dict(meta, placement=pdict, target=tgt.name)
            golden = make_golden(net, {k: v[:1] for k, v in (
                data.items() if isinstance(data, dict) else [(net.inputs[0].name, data)])},
                steps)
            write_bundle(net, staging / "bundle.h5", metadata=meta, golden=golden)
            report = _report(source, tgt.name, meta, net, traces, placement, pdict, list(BUDGETS),
                             verified, energy, compat, quant_rows, stage.times)
            (staging / "report.json").write_text(json.dumps(report, indent=1, default=_json))
            spikes = {name: v["s"][0] for name, v in traces.data.items()}
            write_html(report, staging / "report.html", spikes)
            for name in OUTPUTS:                        # the only moment DIR changes
                os.replace(staging / name, out / name)
    return report


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def _report(source, target, meta, net, traces, placement, pdict, budgets, verified, energy,
            compat, quant_rows, times) -> dict[str, Any]:
    edict = energy.to_dict()
    loihi = edict["energy"]["loihi"]
    papers = edict["energy"]["seed_papers_45nm"]
    rungs = {k: v for k, v in verified["rungs"].items() if v is not None}
    summary = {
        "model": meta.get("model", source), "target": target,
        "time steps per inference": int(meta["steps"]),
        "first output spike (step)": edict.get("first_output_step"),
        "cores": placement.cores, "chips": placement.chips,
        "core lower bound": placement.lower_bound,
        "halving-baseline cores": placement.baseline_cores,
        "messages x hops per step (ours / sequential)":
            f"{placement.traffic:,.0f} / {placement.sequential_traffic:,.0f}",
        "host operators (not on neurocores)": ", ".join(placement.host_operators) or "none",
        "reference == Lava": ("bit-exact" if verified.get("bit_exact") else
                              "DIVERGES" if verified.get("bit_exact") is False else "not run")
        + f" ({verified.get('lava_samples', 0)} samples)",
        "energy per inference, Loihi (estimated)": f"{loihi['total_pj'] / 1e6:.4g} uJ",
        "SNN synops x 0.9 pJ vs ANN MACs x 4.6 pJ (estimated)":
            f"{papers['snn_pj'] / 1e6:.4g} uJ vs {papers['ann_pj'] / 1e6:.4g} uJ",
    }
    for name, acc in rungs.items():
        summary[f"accuracy: {name}"] = f"{100 * acc:.2f} %"
    return {
        "model": meta.get("model", source), "source": source, "target": target,
        "neurodeploy_version": _version(), "dataset": verified.get("dataset"),
        "summary": summary,
        "accuracy": {"rungs": rungs, "samples": verified["samples"],
                     "lava_samples": verified["lava_samples"], "correct": verified["correct"],
                     "agreement": verified["agreement"],
                     "head_exact": verified.get("head_exact")},
        "verification": {k: verified.get(k) for k in ("bit_exact", "mismatches",
                                                       "lava_samples", "compared",
                                                       "first_divergence")},
        "layers": _layer_rows(net, traces, energy),
        "placement": dict(pdict, budgets=budgets),
        "energy": {"kind": "estimated", "loihi_total_pj": loihi["total_pj"],
                   "snn_synops_pj_45nm": papers["snn_pj"], "ann_macs_pj_45nm": papers["ann_pj"],
                   "synaptic_ops": edict["total"]["synops"],
                   "neuron_updates": edict["total"]["neuron_updates"],
                   "spikes": edict["total"]["spikes"],
                   "messages_x_hops": edict["total"]["hop_messages"],
                   "ann_macs": edict["total"]["ann_macs"], "steps": edict["steps"],
                   "sources": {k: v.get("source") for k, v in edict["constants"].items()},
                   "detail": edict},
        "compatibility": [dict(layer=f["layer"], severity=f["severity"], problem=f["problem"],
                               fix=f["fix"]) for f in compat.to_dict()["findings"]],
        "quantization": quant_rows,
        "stage_seconds": times,
        "raster_sample": 0,
    }
