"""Compatibility report: every layer, the IR op it became, where it runs, what it needs, blockers.

:func:`check_network` lists every IR node with

* ``op`` - the IR node kind; ``where`` - ``neurocore``, ``host`` (host operator — not on
  neurocores), ``host input`` (spikes injected by the host) or ``routing`` (wiring, no compute);
* ``features`` - what it needs on the target: graded-spike payload bits, microcode neuron models,
  synaptic delays, the embedded CPU / host, refractory periods;
* ``hardware_note`` - the operator's own note (``OpNode.hardware_note``).

and a list of :class:`Finding` s, each with a ``fix``. Severities:

* ``error`` - the network cannot be deployed on the target as it is (invalid or out-of-range
  parameter for the target's formats, a layer no split fits in a core);
* ``host`` - runs, but on the host / embedded CPU, not on neurocores (every step's values cross
  the chip boundary);
* ``microcode`` - needs a custom neuron model; runs in Lava's CPU simulation (fixed_pt), while
  Loihi 2 hardware needs microcode that open-source Lava does not ship;
* ``netx`` - lava-dl 0.6.0's netx loader cannot load the network with identical semantics (the
  bundle's ``/neurodeploy`` extension carries it; use neurodeploy's Lava backend);
* ``split`` - a layer exceeds one core and will be split (the design-rule check's fix).

The report is ``deployable`` when there is no ``error``.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import ir
from .errors import NeurodeployError, UnsupportedError
from .targets import Target, load_target

__all__ = ["Finding", "LayerReport", "CheckReport", "check_network", "check_path",
           "load_model_or_bundle", "format_check"]

SEVERITIES = ("error", "host", "microcode", "netx", "split")


@dataclass
class Finding:
    """One blocker or caveat: ``severity`` (see module docstring), the layer, what and the fix."""
    severity: str
    layer: str
    problem: str
    fix: str


@dataclass
class LayerReport:
    name: str
    op: str
    where: str
    shape: list[int]
    features: list[str] = field(default_factory=list)
    hardware_note: str = ""


@dataclass
class CheckReport:
    network: str
    target: str
    layers: list[LayerReport]
    findings: list[Finding]

    @property
    def deployable(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return dict(network=self.network, target=self.target, deployable=self.deployable,
                    layers=[asdict(la) for la in self.layers],
                    findings=[asdict(f) for f in self.findings])


def _where(n: ir.Node) -> str:
    if isinstance(n, ir.Input):
        return "host input"
    if isinstance(n, (ir.Flatten, ir.Concat)):
        return "routing"
    return "host" if getattr(n, "host", False) else "neurocore"


def _range(findings: list[Finding], layer: str, what: str, value: int, lo: int, hi: int,
           fix: str) -> None:
    if not lo <= value <= hi:
        findings.append(Finding("error", layer, f"{what} {value} outside the target's "
                                f"[{lo}, {hi}]", fix))


def check_network(network: ir.Network, target: Target | str = "loihi2") -> CheckReport:
    """The compatibility report of ``network`` on ``target`` (see the module docstring)."""
    import neurodeploy.ops  # noqa: F401  (registers operators, their hardware notes)

    from .bundle import netx_compatibility
    from .ops.common import OpNode
    t = load_target(target)
    fm = t.formats
    findings: list[Finding] = []
    try:
        shapes = network.shapes()
        network.validate()
    except NeurodeployError as exc:
        return CheckReport(network.name, t.name, [], [Finding(
            "error", exc.layer or network.name, f"invalid network: {exc.detail}"
            + (f" (field '{exc.field}', value {exc.value}, limit {exc.limit})" if exc.field
               else ""), "fix the named parameter (the IR ranges are Loihi 2's field widths)")])
    layers: list[LayerReport] = []
    for n in network.nodes:
        where = _where(n)
        row = LayerReport(n.name, n.op, where, [int(s) for s in shapes[n.name]],
                          hardware_note=getattr(n, "hardware_note", ""))
        bits = int(getattr(n, "message_bits", 0) or 0)
        if bits and where != "routing":
            row.features.append(f"graded spikes: {bits}-bit payload")
            _range(findings, n.name, "graded-spike payload bits", bits, 0, fm.message_bits_max,
                   "reduce the output bits (out_bits / message_bits)")
        if isinstance(n, (ir.Dense, ir.Conv, ir.SumPool)):
            _range(findings, n.name, "weight exponent", int(n.weight_exp), fm.weight_exp_min,
                   fm.weight_exp_max, "rescale the weights or fold the factor into thresholds")
            _range(findings, n.name, "weight bits", int(n.num_weight_bits), 1, fm.weight_bits,
                   "quantize weights to the target's mantissa bits")
        if isinstance(n, ir.Dense) and n.delay is not None and n.max_delay > 0:
            row.features.append(f"synaptic delays up to {n.max_delay} steps (DelayDense)")
            _range(findings, n.name, "synaptic delay", n.max_delay, fm.delay_min, fm.delay_max,
                   "split the delay with relay neurons")
        if isinstance(n, ir.Cuba):
            if int(np.max(n.vth)) >= 2 ** fm.threshold_bits:
                findings.append(Finding("error", n.name, f"threshold {int(np.max(n.vth))} "
                                        f"needs more than {fm.threshold_bits} bits",
                                        "scale weights and threshold down together"))
            if n.refractory:
                row.features.append(f"refractory period {n.refractory} steps (microcode)")
            if n.refractory or n.message_bits:
                findings.append(Finding(
                    "microcode", n.name, "graded or refractory CUBA is not Lava's LIF model",
                    "runs with neurodeploy's CubaNeuron process in simulation; hardware needs "
                    "a microcode neuron (or use binary, non-refractory neurons)"))
        if isinstance(n, OpNode):
            for var, b in n.state_bits.items():
                _range(findings, n.name, f"state '{var}' width", b, 1, fm.state_bits,
                       "narrow the state or split the operator")
            if n.host:
                row.features.append("host / embedded CPU (host operator — not on neurocores)")
                findings.append(Finding(
                    "host", n.name, f"host operator — not on neurocores ({n.op}): its input and "
                    "output cross the chip boundary every step",
                    "keep it on the host (supported and reported), or replace it by an "
                    "on-chip approximation in the model"))
            else:
                row.features.append("microcode neuron model")
                findings.append(Finding(
                    "microcode", n.name, f"operator '{n.op}' needs a custom neuron model",
                    "runs in Lava's CPU simulation (fixed_pt); Loihi 2 hardware needs its "
                    "microcode (see hardware_note)"))
        layers.append(row)
    for reason in netx_compatibility(network):
        layer = reason.split("'")[1] if reason.count("'") >= 2 else network.name
        findings.append(Finding("netx", layer, reason, "the bundle's /neurodeploy extension "
                                "carries the layer; run it with neurodeploy's Lava backend "
                                "(lava-dl netx cannot load it as is)"))
    findings += _drc(network, t)
    return CheckReport(network.name, t.name, layers, findings)


def _drc(network: ir.Network, t: Target) -> list[Finding]:
    try:
        from .place import check as drc
        from .place import finalize_layers, layers_from_network
    except ImportError:  # pragma: no cover - placement module absent
        return []
    try:
        violations = drc(finalize_layers(layers_from_network(network), t), t)
    except NeurodeployError as exc:
        return [Finding("error", exc.layer or network.name, f"design-rule check: {exc.detail}",
                        "see the placement report")]
    return [Finding("split" if v.fixable else "error", v.layer,
                    f"{v.budget} demand {v.demand} > {v.capacity} per core", v.fix)
            for v in violations]


def load_model_or_bundle(path: str | os.PathLike) -> ir.Network:
    """A bundle (HDF5) is read; a model checkpoint is converted with ``neurodeploy.convert``
    (imported lazily: UnsupportedError 'conversion not available' when it is missing)."""
    import h5py
    p = Path(path)
    if not p.is_file():
        raise NeurodeployError("file not found", file=str(p))
    if h5py.is_hdf5(p):
        from .bundle import read_bundle
        return read_bundle(p)
    try:
        convert = importlib.import_module("neurodeploy.convert")
    except ImportError:
        raise UnsupportedError("conversion not available (neurodeploy.convert is not "
                               "installed in this version): give a bundle", file=str(p)) \
            from None
    from .models import load_checkpoint
    return convert.convert(load_checkpoint(p)).network


def check_path(path: str | os.PathLike, target: Target | str = "loihi2") -> CheckReport:
    """:func:`check_network` of a bundle or model file."""
    return check_network(load_model_or_bundle(path), target)


def format_check(r: CheckReport) -> str:
    """The human-readable report (layers table, then findings grouped by severity)."""
    w = max([len(la.name) for la in r.layers] + [5])
    lines = [f"network '{r.network}' on target '{r.target}': "
             + ("deployable" if r.deployable else "NOT deployable (errors below)"),
             f"{'layer':{w}s}  {'op':16s}  {'where':10s}  needs"]
    for la in r.layers:
        lines.append(f"{la.name:{w}s}  {la.op:16s}  {la.where:10s}  "
                     + ("; ".join(la.features) or "-"))
    for sev in SEVERITIES:
        fs = [f for f in r.findings if f.severity == sev]
        if fs:
            lines.append(f"{sev} ({len(fs)}):")
            lines += [f"  layer '{f.layer}': {f.problem}\n    fix: {f.fix}" for f in fs]
    return "\n".join(lines)
