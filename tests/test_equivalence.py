"""Reference simulator == Lava fixed_pt, bit for bit, on random netx-class layers.

Every configuration draws all integer parameters over their full legal ranges (weights for every
sign mode and weight-bit count, exponents, delays, decays 0..4096, thresholds up to 2**17-1,
13-bit biases, refractory periods, graded payload widths) and random binary or graded inputs,
with a share of values at the range edges so that u wraps and v saturates. Many configurations
run side by side in one Lava network (one compile). Spikes, u, v (and the refractory counter)
are compared with np.array_equal at every step.
"""
from __future__ import annotations

import numpy as np
import pytest
from backends import DEPLOYED, run
from randnet import input_data, parallel_network

from neurodeploy.sim.traces import compare

STEPS = 12
PER_NET = 25            # configurations per Lava network
NETS = 9                # -> 225 configurations per layer type


def _check(kind: str, seed: int, backend: str, **kw) -> int:
    rng = np.random.default_rng(seed)
    graded = bool(seed % 2)
    net = parallel_network(rng, kind, PER_NET, graded, **kw)
    data = {n.name: input_data(rng, n, STEPS - 2) for n in net.inputs}
    ref = run("ref", net, data, STEPS)
    other = run(backend, net, data, STEPS)
    result = compare(ref, other)
    assert result.bit_exact, str(result.first_divergence)
    for layer, var in ref.variables():
        assert np.array_equal(ref[layer, var], other[layer, var])
    return sum(e.count for e in ref.overflow)


@pytest.mark.parametrize("backend", DEPLOYED)
@pytest.mark.parametrize("seed", range(NETS))
def test_dense_random(seed, backend):
    _check("dense", 1000 + seed, backend, delays=seed % 3 == 0)


@pytest.mark.parametrize("backend", DEPLOYED)
@pytest.mark.parametrize("seed", range(NETS))
def test_conv_random(seed, backend):
    _check("conv", 2000 + seed, backend)


@pytest.mark.parametrize("backend", DEPLOYED)
@pytest.mark.parametrize("seed", range(NETS))
def test_pool_random(seed, backend):
    _check("pool", 3000 + seed, backend)


def test_random_configs_reach_state_edges():
    """The generators really drive the 24-bit state to wrap/saturate (else the equivalence
    tests would not cover the edges)."""
    rng = np.random.default_rng(7)
    net = parallel_network(rng, "dense", 40, graded=True)
    data = {n.name: input_data(rng, n, 10) for n in net.inputs}
    events = run("ref", net, data, 12).overflow
    assert {"u", "v"} <= {e.variable for e in events}
