"""Lava backend: build an IR network as Lava processes and run it on Loihi2SimCfg (fixed_pt).

Each IR node maps to Lava's own processes where those are exact (``Dense``/``DelayDense``,
``Conv``, ``LIF`` via builders registered with :func:`builder`), else to neurodeploy's custom
processes (:mod:`neurodeploy.lava.processes`). Lava runs one sample at a time; a batch is a loop.
Lava tensors use the reversed (W, H, C) layout that netx uses; the backend converts both ways.

Hardware (``Loihi2HwCfg``) needs Intel's proprietary lava-loihi; without it, asking for the
``loihi`` backend raises BackendUnavailableError with that explanation instead of failing inside
Lava.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from .. import ir
from ..errors import BackendUnavailableError, NeurodeployError, StateOverflowError
from ..sim.reference import KERNELS, ReferenceSimulator, message_bits_of
from ..sim.traces import Traces

__all__ = ["builder", "BUILDERS", "LavaBackend", "loihi_available", "reverse_neurons"]

BUILDERS: dict[type, Callable] = {}
def builder(node_type: type) -> Callable:
    """Decorator registering the function that builds the Lava processes of an IR node type.

    The function is called as ``fn(node, ctx)`` and returns the Lava OutPort (or virtual port) that
    carries the node's output, in Lava layout.
    """
    def register(fn: Callable) -> Callable:
        BUILDERS[node_type] = fn
        return fn
    return register


def loihi_available() -> bool:
    """True when Intel's lava-loihi extension (needed by Loihi2HwCfg) is importable."""
    try:
        from lava.utils import loihi
        return bool(loihi.is_installed())
    except Exception:  # pragma: no cover - lava itself missing
        return importlib.util.find_spec("lava.magma.core.model.nc") is not None


def reverse_neurons(x: np.ndarray, neuron_ndim: int | None = None) -> np.ndarray:
    """Reverse the leading ``neuron_ndim`` axes (all axes if None): torch (C, H, W) order ↔ Lava
    (W, H, C) order. Trailing axes (e.g. time) stay in place."""
    nd = x.ndim if neuron_ndim is None else neuron_ndim
    return np.transpose(x, tuple(range(nd - 1, -1, -1)) + tuple(range(nd, x.ndim)))


@dataclass
class BuildContext:
    net: ir.Network
    shapes: dict[str, tuple]
    steps: int
    data: dict[str, np.ndarray]          # input name -> (*shape, T) one sample, torch order
    ports: dict[str, object] = field(default_factory=dict)     # node -> Lava OutPort
    neurons: dict[str, object] = field(default_factory=dict)   # node -> Lava neuron process
    pending: list[tuple[str, str]] = field(default_factory=list)  # (synapse, its source) links
    synapses: dict[str, object] = field(default_factory=dict)  # synapse -> Lava process
    models: dict = field(default_factory=dict)                 # exception_proc_model_map


@builder(ir.Input)
def _build_input(node: ir.Input, ctx: BuildContext):
    from lava.proc.io.source import RingBuffer
    data = ctx.data[node.name]
    if data.shape[-1] < ctx.steps:   # the ring buffer would repeat: pad with silence
        pad = np.zeros((*data.shape[:-1], ctx.steps - data.shape[-1]), dtype=data.dtype)
        data = np.concatenate([data, pad], axis=-1)
    src = RingBuffer(data=reverse_neurons(data[..., :ctx.steps], data.ndim - 1).astype(np.int32),
                     )
    return src.s_out


@builder(ir.Flatten)
def _build_flatten(node: ir.Flatten, ctx: BuildContext):
    port = ctx.ports[node.sources[0]]
    shape = ctx.shapes[node.sources[0]]
    if len(shape) == 1:
        return port
    return port.transpose(list(range(len(shape) - 1, -1, -1))).flatten()


@builder(ir.Concat)
def _build_concat(node: ir.Concat, ctx: BuildContext):
    ports = [ctx.ports[s] for s in node.sources]
    ndim = len(ctx.shapes[node.name])
    return ports[0].concat_with(ports[1:], axis=ndim - 1 - node.axis)


def _prescaled(node) -> tuple[np.ndarray, int]:
    """Weights and exponent as Lava must get them for exact integer results: ``w << nt`` and
    ``weight_exp - nt`` with nt = 8 - num_weight_bits + mixed (Lava truncates the low nt bits)."""
    nt = 8 - int(node.num_weight_bits) + int(node.sign_mode == ir.SignMode.MIXED)
    return node.weight.astype(np.int64) << nt, int(node.weight_exp) - nt


@builder(ir.Dense)
def _build_dense(node: ir.Dense, ctx: BuildContext):
    from lava.proc.dense.process import DelayDense, Dense
    w, exp = _prescaled(node)
    bits = message_bits_of(ctx.net, node.sources[0])
    kw = dict(weights=w.astype(np.int32), weight_exp=exp, num_weight_bits=node.num_weight_bits,
              num_message_bits=bits, name=node.name)
    if node.delay is None:
        proc = Dense(**kw)
    else:
        proc = DelayDense(delays=node.delay.astype(int), max_delay=node.max_delay, **kw)
    ctx.synapses[node.name] = proc
    ctx.pending.append((node.name, node.sources[0]))
    return proc.a_out


def _conv_process(node, weight: np.ndarray, groups: int, dilation, ctx: BuildContext):
    from lava.proc.conv.process import Conv
    c, h, w = ctx.shapes[node.sources[0]]
    lava_w = (weight.astype(np.int64) << int(node.weight_exp))[:, :, ::-1, ::-1]
    lava_w = lava_w.transpose(0, 3, 2, 1)            # (C_out, kW, kH, C_in/g), as netx does
    proc = Conv(weight=np.ascontiguousarray(lava_w).astype(np.int32), input_shape=(w, h, c),
                padding=node.padding[::-1], stride=node.stride[::-1], dilation=dilation[::-1],
                groups=groups, num_message_bits=message_bits_of(ctx.net, node.sources[0]),
                name=node.name)
    ctx.synapses[node.name] = proc
    ctx.pending.append((node.name, node.sources[0]))
    return proc.a_out


@builder(ir.Conv)
def _build_conv(node: ir.Conv, ctx: BuildContext):
    return _conv_process(node, node.weight, node.groups, node.dilation, ctx)


@builder(ir.SumPool)
def _build_sum_pool(node: ir.SumPool, ctx: BuildContext):
    channels = ctx.shapes[node.sources[0]][0]
    return _conv_process(node, node.conv_weight(channels), channels, (1, 1), ctx)


def _lif_exact(node: ir.Cuba) -> bool:
    """Lava's LIF covers binary, non-refractory neurons with shared decays and threshold."""
    return (node.message_bits == 0 and node.refractory == 0 and
            all(np.asarray(getattr(node, f)).ndim == 0 for f in ("i_decay", "v_decay", "vth")))


@builder(ir.Cuba)
def _build_cuba(node: ir.Cuba, ctx: BuildContext):
    shape = tuple(ctx.shapes[node.name][::-1])

    def per_neuron(x):
        return reverse_neurons(np.broadcast_to(np.asarray(x, dtype=np.int64), node.shape))

    if _lif_exact(node):
        from lava.proc.lif.process import LIF
        proc = LIF(shape=shape, du=int(node.i_decay) - 1, dv=int(node.v_decay),
                   vth=int(node.vth), bias_mant=per_neuron(node.bias_mant).astype(np.int16),
                   bias_exp=per_neuron(node.bias_exp).astype(np.int16), name=node.name)
    else:
        from .procs.cuba import FIXED_PT_MODELS, CubaNeuron
        proc = CubaNeuron(shape=shape, i_decay=per_neuron(node.i_decay),
                          v_decay=per_neuron(node.v_decay), vth=per_neuron(node.vth),
                          bias_mant=per_neuron(node.bias_mant),
                          bias_exp=per_neuron(node.bias_exp), refractory=node.refractory,
                          message_bits=node.message_bits, name=node.name)
        ctx.models.update(FIXED_PT_MODELS)
    for s in node.sources:
        ctx.pending.append((node.name, s))
    ctx.neurons[node.name] = proc
    return proc.s_out


class LavaBackend:
    """Runs IR networks in Lava's CPU simulation of Loihi 2 (``Loihi2SimCfg(select_tag=
    'fixed_pt')``), or on Loihi 2 hardware (``hardware=True``, needs lava-loihi)."""

    def __init__(self, network: ir.Network, *, hardware: bool = False,
                 strict: bool = False) -> None:
        if hardware and not loihi_available():
            raise BackendUnavailableError(
                "Loihi hardware support is not installed: Loihi2HwCfg needs Intel's proprietary "
                "lava-loihi extension (available to INRC members); use the 'lava' backend for "
                "Lava's CPU simulation of Loihi 2", field="backend", value="loihi")
        self.net = network.validate()
        self.hardware, self.strict = hardware, strict
        self.shapes = self.net.shapes()
        missing = sorted({type(n).__name__ for n in self.net if type(n) not in BUILDERS})
        if missing:
            raise NeurodeployError(f"no Lava builder for node type(s) {missing}",
                                   layer=self.net.name)
        self.name = "loihi" if hardware else "lava"

    def run(self, inputs: Mapping[str, np.ndarray] | np.ndarray, steps: int | None = None,
            probe: list[str] | None = None, progress: Callable | None = None) -> Traces:
        """Run every sample of the batch (one Lava network per sample) and record the output
        spikes and u/v state of the probed neuron groups at every step."""
        ref = ReferenceSimulator(self.net)    # reuse its input validation
        data = ref._bind_inputs(inputs)
        batch = next(iter(data.values())).shape[0]
        steps = next(iter(data.values())).shape[-1] if steps is None else steps
        if self.strict:   # overflow is checked on the reference (same arithmetic), before Lava
            ReferenceSimulator(self.net, strict=True).run(data, steps, probe)
        probed = probe or [n.name for n in self.net.neuron_groups()
                           if not isinstance(n, ir.Input)]
        traces = Traces(self.name, steps)
        samples = range(batch) if progress is None else progress(range(batch))
        for b in samples:
            one = self._run_sample({k: v[b] for k, v in data.items()}, steps, probed)
            for name, variables in one.items():
                rec = traces.data.setdefault(name, {})
                for var, arr in variables.items():
                    rec.setdefault(var, np.zeros((batch, *arr.shape), np.int64))[b] = arr
        return traces

    def build(self, data: dict[str, np.ndarray], steps: int) -> BuildContext:
        """Lava processes of the network for one sample ``data`` (name → (*shape, steps)),
        connected; ``ctx.neurons`` holds each neuron group's process, ``ctx.models`` the
        ProcessModel choices for the run configuration."""
        ctx = BuildContext(self.net, self.shapes, steps, data)
        for node in self.net:
            ctx.ports[node.name] = BUILDERS[type(node)](node, ctx)
        for dst, src in ctx.pending:
            port = ctx.ports[src]
            target = ctx.synapses.get(dst)
            (port.connect(target.s_in) if target is not None
             else port.connect(ctx.neurons[dst].a_in))
        return ctx

    def _run_sample(self, data: dict[str, np.ndarray], steps: int, probed: list[str]):
        from .recording import Recording
        ctx = self.build(data, steps)
        states = {name: KERNELS[type(self.net[name])].probe_names(self.net[name])
                  for name in probed}
        with Recording({name: ctx.neurons[name] for name in probed}, states, steps, ctx.models,
                       in_process=not self.hardware) as recording:
            recording.run(steps, self._run_cfg(ctx.models))
            raw = recording.collect()
        return {name: {var: reverse_neurons(arr, len(self.shapes[name])).astype(np.int64)
                       for var, arr in variables.items()}
                for name, variables in raw.items()}

    def _run_cfg(self, models: dict):
        if self.hardware:  # pragma: no cover - needs lava-loihi
            from lava.magma.core.run_configs import Loihi2HwCfg
            return Loihi2HwCfg(exception_proc_model_map=models)
        from lava.magma.core.run_configs import Loihi2SimCfg
        return Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=models)


def run_lava(network: ir.Network, inputs, steps: int | None = None, **kw) -> Traces:
    """Convenience wrapper: ``LavaBackend(network).run(inputs, steps)``."""
    return LavaBackend(network).run(inputs, steps, **kw)


__all__ += ["run_lava", "StateOverflowError"]
