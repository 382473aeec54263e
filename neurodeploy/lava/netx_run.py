"""Run a bundle through lava-dl's own netx loader (``netx.hdf5.Network``) in Lava fixed_pt.

This is the path a Loihi user takes with the file; comparing it with the reference run of the IR
proves that what we write is what netx builds. Traces are named like the IR the bundle reader
makes (``layer<i>`` for file layer i) and hold output spikes, u and v of every netx layer.
"""
from __future__ import annotations

import os

import h5py
import numpy as np

from ..errors import BundleError
from ..sim.traces import Traces
from .backend import reverse_neurons


def run_netx(path: str | os.PathLike, inputs: np.ndarray, steps: int) -> Traces:
    """Run one sample ``inputs`` (*input_shape, T) through ``netx.hdf5.Network(path)``."""
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer

    from .procs.recorder import Recorder, recorder_model
    with h5py.File(path, "r") as f:
        if "layer" not in f:
            raise BundleError("bundle has no netx part (see netx_compatibility)", file=str(path))
        bits = int(f.attrs.get("input_message_bits", 0))
        # file layers that netx builds a block for: not flatten, not a bare input layer
        built = [i for i in range(len(f["layer"]))
                 if f[f"layer/{i}/type"][()].reshape(-1)[0].decode() != "flatten"
                 and (i > 0 or "neuron" in f["layer/0"])]
    net = netx.hdf5.Network(net_config=str(path), input_message_bits=bits)
    data = np.asarray(inputs)
    if data.shape[-1] < steps:
        data = np.concatenate([data, np.zeros((*data.shape[:-1], steps - data.shape[-1]),
                                              data.dtype)], axis=-1)
    src = RingBuffer(data=reverse_neurons(data[..., :steps], data.ndim - 1).astype(np.int32))
    src.s_out.connect(net.inp)
    neurons = [(f"layer{i}", block.neuron) for i, block in zip(built, net.layers)]
    states = [(name, var, getattr(neuron, var)) for name, neuron in neurons
              for var in ("u", "v")]
    rec = Recorder(spike_shapes=[n.s_out.shape for _, n in neurons],
                   state_shapes=[v.shape for _, _, v in states], steps=steps)
    for i, (_, neuron) in enumerate(neurons):
        neuron.s_out.connect(getattr(rec, f"in_{i}"))
    for j, (_, _, var) in enumerate(states):
        getattr(rec, f"ref_{j}").connect_var(var)
    cfg = Loihi2SimCfg(select_tag="fixed_pt",
                       exception_proc_model_map={Recorder: recorder_model(len(neurons),
                                                                          len(states))})
    try:
        rec.run(condition=RunSteps(num_steps=steps), run_cfg=cfg)
        raw = {(name, "s"): getattr(rec, f"spikes_{i}").get()
               for i, (name, _) in enumerate(neurons)}
        raw.update({(name, var): getattr(rec, f"state_{j}").get()
                    for j, (name, var, _) in enumerate(states)})
    finally:
        rec.stop()
    traces = Traces("netx", steps)
    for (name, var), arr in raw.items():
        arr = np.asarray(arr)
        traces.data.setdefault(name, {})[var] = \
            reverse_neurons(arr, arr.ndim - 1)[None].astype(np.int64)
    return traces
