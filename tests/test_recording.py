"""The two ways a Lava run records state agree: traces kept inside each process (the default on
the CPU simulation) and the Recorder's RefPort read after every step (used where the process
model is not chosen by neurodeploy, e.g. Loihi2HwCfg)."""
from __future__ import annotations

import numpy as np
import pytest
from randnet import input_data, parallel_network

from neurodeploy.lava.backend import LavaBackend
from neurodeploy.lava.recording import Recording
from neurodeploy.sim.reference import KERNELS

pytestmark = pytest.mark.lava
STEPS = 12


def test_in_process_traces_equal_refport_polling():
    rng = np.random.default_rng(11)
    net = parallel_network(rng, "dense", 4, graded=True)
    data = {node.name: input_data(rng, node, STEPS)[0] for node in net.inputs}
    backend = LavaBackend(net)
    runs = {}
    for in_process in (True, False):
        ctx = backend.build(data, STEPS)
        names = [n.name for n in net.neuron_groups() if n.name not in data]
        states = {n: KERNELS[type(net[n])].probe_names(net[n]) for n in names}
        with Recording({n: ctx.neurons[n] for n in names}, states, STEPS, ctx.models,
                       in_process=in_process) as rec:
            assert bool(rec.traced) == in_process and bool(rec.polled) != in_process
            rec.run(STEPS, backend._run_cfg(ctx.models))
            runs[in_process] = rec.collect()
    nonzero = set()
    for name, variables in runs[True].items():
        assert sorted(variables) == sorted(runs[False][name])
        for var, arr in variables.items():
            assert np.array_equal(arr, runs[False][name][var]), (name, var)
            if arr.any():
                nonzero.add(var)
    assert {"s", "u", "v"} <= nonzero          # the comparison is not between empty recordings
