"""Regenerate tests/data/golden/<op>.h5 (run: .venv/bin/python tests/make_op_goldens.py).

Each file is a bundle of a tiny network around one operator whose manifest holds its inputs and
the reference traces (golden vectors, checksummed); the suite replays it on every backend
(tests/test_ops_*.py::test_goldens, tests/test_golden_bundles.py)."""
from __future__ import annotations

import numpy as np
from ops_util import GOLDEN, graded, save_golden

import neurodeploy.ops.spikedattention as sa
from neurodeploy import ir
from neurodeploy.ops import csdformer as cs
from neurodeploy.ops import spikezip as sz


def goldens():
    rng = np.random.default_rng(2024)
    S = 10
    cur = rng.integers(-300, 300, (6, S))
    spk = (rng.random((6, S)) < 0.5).astype(np.int64)
    bip = rng.integers(-1, 2, (6, S))
    yield "dif", [graded("x", (6,), 12), cs.Dif("op", sources=("x",), shape=(6,),
                                                 theta=[5, 64, 100, 7, 300, 1], T=4,
                                                 start=[0, 1, 2, 0, 1, 2])], {"x": cur}, S
    yield "if_neuron", [graded("x", (6,), 12), cs.IfNeuron("op", sources=("x",), shape=(6,),
                                                          theta=50, T=6)], {"x": cur}, S
    yield "spike_counter", [ir.Input("x", shape=(6,)),
                            cs.SpikeCounter("op", sources=("x",))], {"x": spk}, S
    mm = [ir.Input("a", shape=(6,)), ir.Input("b", shape=(6,)),
          cs.SpikeCounter("ca", sources=("a",)), cs.SpikeCounter("cb", sources=("b",))]
    ab = {"a": spk, "b": (rng.random((6, S)) < 0.5).astype(np.int64)}
    yield "tdec_matmul", mm + [cs.TdecMatmul("op", sources=("a", "b", "ca", "cb"), m=2, k=3,
                                             n=2, transpose_b=True, weight=3)], ab, S
    img = (rng.random((2, 4, 4, S)) < 0.4).astype(np.int64)
    yield "tdec_max_pool", [ir.Input("x", shape=(2, 4, 4)), cs.SpikeCounter("c", sources=("x",)),
                            cs.TdecMaxPool("op", sources=("c",))], {"x": img}, S
    yield "global_sum_pool", [ir.Input("x", shape=(6,)),
                              cs.GlobalSumPool("op", sources=("x",), tokens=3)], {"x": spk}, S
    yield "readout", [graded("x", (6,), 12), cs.Readout("op", sources=("x",), T=6, start=1)], \
        {"x": cur}, S
    yield "st_bif", [graded("x", (6,), 12), sz.StBif("op", sources=("x",), shape=(6,),
                                                     theta=[8, 64, 100, 7, 300, 2], s_min=-4,
                                                     s_max=3, bias=20)], {"x": cur}, S
    bab = {"a": bip, "b": rng.integers(-1, 2, (6, S))}
    sesa = [graded("a", (6,), 2), graded("b", (6,), 2), cs.SpikeCounter("ca", sources=("a",)),
            cs.SpikeCounter("cb", sources=("b",))]
    yield "sesa_matmul", sesa + [sz.SesaMatmul("op", sources=("a", "b", "ca", "cb"), m=2, k=3,
                                               n=2)], bab, S
    yield "spike_softmax", [graded("x", (6,), 12), sz.SpikeSoftmax("op", sources=("x",), n=3,
                                                                   in_frac=4)], {"x": cur}, S
    yield "spike_layer_norm", [graded("x", (6,), 12), sz.SpikeLayerNorm(
        "op", sources=("x",), n=3, gamma=[3, 4, 5], gamma_shift=2, beta=[1, 0, -1])], \
        {"x": cur}, S
    B, T = (179, 7), 4
    ph = np.zeros((6, S), np.int64)
    for i, k in enumerate([0, 1, 2, 3, 1, 0]):
        ph[i, 1 + k] = 1 if i % 2 else -1
    tab = sa.phase_table(*B, T, 10)
    yield "phase_neuron", [graded("x", (6,), 12), sa.PhaseNeuron(
        "op", sources=("x",), shape=(6,), base_num=B[0], base_shift=B[1], T=T,
        vth=sa.phase_vth(256, *B, T), bipolar=True)], {"x": cur}, S
    yield "phase_trace", [graded("x", (6,), 2), sa.PhaseTrace("op", sources=("x",), table=tab,
                                                              start=1)], {"x": ph}, S
    pm = [graded("a", (6,), 2), graded("b", (6,), 2),
          sa.PhaseTrace("ta", sources=("a",), table=tab, start=1),
          sa.PhaseTrace("tb", sources=("b",), table=tab, start=1)]
    yield "phase_matmul", pm + [sa.PhaseMatmul("op", sources=("a", "b", "ta", "tb"), m=2, k=3,
                                               n=2, transpose_b=True, table=tab, start=1)], \
        {"a": ph, "b": ph[::-1].copy()}, S
    yield "woss", [graded("x", (6,), 12), sa.WossSoftmax(
        "op", sources=("x",), shape=(6,), n=3, base_num=B[0], base_shift=B[1], T=T,
        c=30, table=tab, frac=10)], {"x": cur}, S


if __name__ == "__main__":
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for name, nodes, inputs, steps in goldens():
        net = ir.Network(nodes, name=name)
        save_golden(GOLDEN / f"{name}.h5", net, inputs, steps)
        print(name, (GOLDEN / f"{name}.h5").stat().st_size, "bytes")
