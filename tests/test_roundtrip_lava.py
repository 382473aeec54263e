"""Round trip: IR → our writer → lava-dl netx loader → Lava run == reference run on the IR."""
from __future__ import annotations

import numpy as np
import pytest

from neurodeploy import ir
from neurodeploy.bundle import netx_compatibility, read_bundle, write_bundle
from neurodeploy.lava.netx_run import run_netx
from neurodeploy.sim.reference import simulate
from neurodeploy.sim.traces import compare

pytestmark = pytest.mark.lava


def _chain(rng, conv: bool) -> ir.Network:
    nodes: list[ir.Node] = []
    if conv:
        nodes += [ir.Input("layer0", shape=(2, 6, 5)),
                  ir.Conv("layer1_syn", weight=rng.integers(-128, 128, (4, 2, 3, 3)),
                          stride=(1, 2), padding=1),
                  ir.Cuba("layer1", shape=(4, 6, 3), i_decay=int(rng.integers(0, 4097)),
                          v_decay=int(rng.integers(0, 4096)), vth=int(rng.integers(1, 400))),
                  ir.Flatten("layer2")]
        n_in = 72
    else:
        nodes += [ir.Input("layer0", shape=(12,))]
        n_in = 12
    first = 3 if conv else 1           # netx file layer index of the first dense layer
    for k, n_out in enumerate((10, 6), start=first):
        w = rng.integers(-128, 128, (n_out, n_in))
        nodes += [ir.Dense(f"layer{k}_syn", weight=w, weight_exp=1),
                  ir.Cuba(f"layer{k}", shape=(n_out,), i_decay=int(rng.integers(0, 4097)),
                          v_decay=int(rng.integers(0, 4096)), vth=int(rng.integers(1, 300)),
                          bias_mant=rng.integers(-64, 64, n_out), bias_exp=6)]
        n_in = n_out
    return ir.chain(nodes).validate()


@pytest.mark.parametrize("seed,conv", [(0, False), (1, False), (2, True), (3, True)])
def test_ir_to_netx_to_lava_equals_reference(tmp_path, seed, conv):
    rng = np.random.default_rng(seed)
    net = _chain(rng, conv)
    path = tmp_path / "net.h5"
    assert write_bundle(net, path) == [] and netx_compatibility(net) == []
    back = read_bundle(path)
    assert back.same_as(net)
    steps = 16
    x = (rng.random((*net.inputs[0].shape, steps - 3)) < 0.4).astype(int)
    ref = simulate(net, x, steps)
    lava = run_netx(path, x, steps)
    assert set(lava.data) == set(ref.data)
    result = compare(ref, lava)
    assert result.bit_exact, str(result.first_divergence)
    assert sum(int(ref[n, "s"].sum()) for n in ref.data) > 0     # the check sees activity
