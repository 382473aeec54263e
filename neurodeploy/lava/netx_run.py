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
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer

    from .recording import Recording
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
    neurons = {f"layer{i}": block.neuron for i, block in zip(built, net.layers)}
    models: dict = {}
    with Recording(neurons, {name: ("u", "v") for name in neurons}, steps, models) as rec:
        rec.run(steps, Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=models))
        raw = rec.collect()
    traces = Traces("netx", steps)
    for name, variables in raw.items():
        traces.data[name] = {var: reverse_neurons(arr, arr.ndim - 1)[None].astype(np.int64)
                             for var, arr in variables.items()}
    return traces
