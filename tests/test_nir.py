"""NIR export of the standard layers (nir.read loads the file; node and edge sets are right)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neurodeploy import ir
from neurodeploy.bundle import write_bundle
from neurodeploy.nir_export import NO_LEAK_TAU, export_nir, to_nir
from neurodeploy.ops import csdformer as cs

nir = pytest.importorskip("nir")


def conv_net() -> ir.Network:
    rng = np.random.default_rng(0)
    return ir.chain([
        ir.Input("in", shape=(2, 6, 6)),
        ir.Conv("c", weight=rng.integers(-8, 8, (3, 2, 3, 3)), padding=1, weight_exp=1),
        ir.Cuba("n1", shape=(3, 6, 6), i_decay=1024, v_decay=0, vth=10, bias_mant=3,
                bias_exp=2),
        ir.SumPool("p", weight=2),
        ir.Cuba("n2", shape=(3, 3, 3), i_decay=4096, v_decay=512, vth=3),
        ir.Flatten("f"),
        ir.Dense("d", weight=rng.integers(-8, 8, (4, 27)), delay=2),
        ir.Cuba("n3", shape=(4,), vth=5)]).validate()


def test_nir_file_loads_with_the_right_graph(tmp_path: Path):
    write_bundle(conv_net(), tmp_path / "c.h5")
    res = export_nir(tmp_path / "c.h5", tmp_path / "c.nir")
    assert res.not_exported == {}
    g = nir.read(tmp_path / "c.nir")
    types = {k: type(v).__name__ for k, v in g.nodes.items()}
    assert types == {"in": "Input", "c": "Conv2d", "n1": "CubaLIF", "p": "SumPool2d",
                     "p.scale": "Scale", "n2": "CubaLIF", "f": "Flatten", "d": "Linear",
                     "d.delay": "Delay", "n3": "CubaLIF", "n3.out": "Output"}
    assert sorted(g.edges) == sorted([("in", "c"), ("c", "n1"), ("n1", "p"), ("p", "p.scale"),
                                      ("p.scale", "n2"), ("n2", "f"), ("f", "d"),
                                      ("d", "d.delay"), ("d.delay", "n3"), ("n3", "n3.out")])
    net = conv_net()
    assert np.array_equal(g.nodes["c"].weight, net["c"].weight * 2.0)
    assert np.array_equal(g.nodes["d"].weight, net["d"].weight)
    assert np.all(g.nodes["d.delay"].delay == 2) and np.all(g.nodes["p.scale"].scale == 2)


def test_cuba_parameter_mapping():
    g = to_nir(conv_net()).graph
    n1, n2 = g.nodes["n1"], g.nodes["n2"]
    assert np.all(n1.tau_syn == 4.0) and np.all(n1.w_in == 4.0)        # 4096 / 1024
    assert np.all(n1.tau_mem == NO_LEAK_TAU) and np.all(n1.r == NO_LEAK_TAU)
    assert np.allclose(n1.v_leak, NO_LEAK_TAU * (3 << 2) / 64)           # bias 12 per step
    assert np.all(n1.v_threshold == 10) and np.all(n1.v_reset == 0)
    assert np.all(n2.tau_syn == 1.0) and np.all(n2.tau_mem == 8.0) and np.all(n2.v_leak == 0)
    assert n1.tau_syn.shape == (3, 6, 6)


def test_operators_are_listed_not_exported(tmp_path: Path):
    net = ir.Network([
        ir.Input("in", shape=(4,)),
        ir.Dense("fc", sources=("in",), weight=np.eye(4, dtype=int)),
        ir.Cuba("n", sources=("fc",), shape=(4,), vth=1),
        cs.Dif("dif", sources=("n",), shape=(4,), theta=4, T=4),
        ir.Dense("fc2", sources=("dif",), weight=np.ones((2, 4), int)),
        ir.Cuba("o", sources=("fc2",), shape=(2,), vth=1, refractory=2)])
    res = to_nir(net)
    assert res.exported == ["in", "fc", "n"]
    assert "spiking-transformer operator 'dif'" in res.not_exported["dif"]
    assert "non-exported node 'dif'" in res.not_exported["fc2"]
    assert set(res.not_exported) == {"dif", "fc2", "o"}
    write_bundle(net, tmp_path / "o.h5")
    export_nir(tmp_path / "o.h5", tmp_path / "o.nir")
    g = nir.read(tmp_path / "o.nir")
    assert set(g.nodes) == {"in", "fc", "n", "n.out"}
    assert "dif" in g.metadata["not_exported"]
