"""Energy and operation counts (neurodeploy.energy) against counts computed by hand."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from neurodeploy import ir
from neurodeploy.energy import (
    DEFAULT_CONSTANTS,
    count_operations,
    energy_constants,
    estimate_energy,
    hops_from_placement,
)


def hand_network() -> tuple[ir.Network, np.ndarray]:
    """in(2) -> fc -> n(3) -> fc2 -> o(1). i_decay 4096, v_decay 4095 make u = 64 a and
    v = trunc(v / 4096) + u = 64 a (|v| < 4096) every step,
    so a neuron spikes iff its current a > vth (n: a >= 2; o: a >= 1)."""
    net = ir.chain([ir.Input("in", shape=(2,)),
                    ir.Dense("fc", weight=[[1, 1], [2, 0], [0, 3]]),
                    ir.Cuba("n", shape=(3,), i_decay=4096, v_decay=4095, vth=1),
                    ir.Dense("fc2", weight=[[1, 1, 1]]),
                    ir.Cuba("o", shape=(1,), i_decay=4096, v_decay=4095, vth=0)])
    x = np.array([[1, 1, 0, 0], [1, 0, 1, 0]])              # (2 inputs, 4 steps)
    return net.validate(), x


# By hand (a synapse delivers at t the spikes of t-1):
#   a_n(t): t1 [0,0,0]  t2 W[1,1]=[2,2,3]  t3 W[1,0]=[1,2,0]  t4 W[0,1]=[1,0,3]
#   n spikes (a >= 2): t2 [1,1,1], t3 [0,1,0], t4 [0,0,1]             -> 5 spikes
#   a_o(t) = spikes of n at t-1: t3 3, t4 1 -> o spikes at t3, t4       -> 2 spikes
#   synops: n: 4 input spikes x fan-out 3 (dense N_out) = 12; o: 5 spikes x 1 = 5 -> 17
#   neuron updates: n 3 x 4 = 12, o 1 x 4 = 4 -> 16
#   active (output != 0 or u/v changed since the previous step; initial state 0):
#     n0: u 0,128,64,64  v 0,0,64,64  s 0,1,0,0 -> t2, t3          = 2
#     n1: u 0,128,128,0  v 0,0,0,0    s 0,1,1,0 -> t2, t3, t4      = 3
#     n2: u 0,192,0,192  v 0,0,0,0    s 0,1,0,1 -> t2, t3, t4      = 3
#     o:  u 0,0,192,64   v 0,0,0,0    s 0,0,1,1 -> t3, t4          = 2   -> 10 active, 6 not
#   messages (no placement: one per consumer layer, outputs one to the host): 4 + 5 + 2 = 11
#   ANN MACs: fc 2*3 = 6, fc2 3*1 = 3 -> 9
HAND = dict(synops=17, neuron_updates=16, active_updates=10, spikes=11, messages=11, ann_macs=9)


def test_counts_by_hand():
    net, x = hand_network()
    rows, steps, batch, notes = count_operations(net, x)
    by = {r.name: r for r in rows}
    assert (steps, batch) == (4, 1) and list(by) == ["in", "n", "o"]
    assert (by["in"].where, by["n"].where) == ("input", "neurocore")
    assert [by[k].synops for k in ("in", "n", "o")] == [0, 12, 5]
    assert [by[k].spikes for k in ("in", "n", "o")] == [4, 5, 2]
    assert [by[k].neuron_updates for k in ("in", "n", "o")] == [0, 12, 4]
    assert [by[k].active_updates for k in ("n", "o")] == [8, 2]
    assert [by[k].messages for k in ("in", "n", "o")] == [4, 5, 2]
    assert [by[k].ann_macs for k in ("n", "o")] == [6, 3]
    assert any("no placement" in n for n in notes)


def test_energy_by_hand_and_labels():
    net, x = hand_network()
    r = estimate_energy(net, x, placement={"n": 2.0})
    t = r.total
    assert {k: getattr(t, k) for k in HAND} == HAND
    assert t.inactive_updates == 6 and t.hop_messages == 5 * 2.0
    # Davies 2018: 17 x 23.6 + 10 x 81 + 6 x 52 + 11 x 1.7 + 10 hop-messages x (3.0+4.0)/2
    assert r.energy["loihi"]["total_pj"] == pytest.approx(401.2 + 810 + 312 + 18.7 + 35.0)
    # seed papers: SNN 17 x 0.9 pJ, ANN 9 x 4.6 pJ
    seed = r.energy["seed_papers_45nm"]
    assert seed["snn_pj"] == pytest.approx(15.3) and seed["ann_pj"] == pytest.approx(41.4)
    assert all(e["kind"] == "estimated" and e["source"] for e in r.energy.values())
    assert r.kind == "estimated" and "measured" not in str(r.to_dict()).replace(
        "'measured' is reserved", "")
    assert (r.synaptic_depth, r.first_output_step, r.steps) == (2, 3, 4)
    assert sum(la.energy_pj for la in r.layers) == pytest.approx(r.energy["loihi"]["total_pj"])
    # the same with a callable, and per-sample means over a batch of identical samples
    r2 = estimate_energy(net, np.stack([x, x]), placement=lambda name: 2.0 * (name == "n"))
    assert r2.batch == 2 and r2.total.synops == 17 and r2.total.hop_messages == 10


def test_constants_from_target_with_sources():
    c = energy_constants("loihi2")
    assert c["synop_pj"]["value"] == 23.6 and "loihi2" in c["synop_pj"]["source"]
    assert set(c) == set(DEFAULT_CONSTANTS)
    d = energy_constants(None)
    assert all(d[k]["value"] == v for k, (v, _) in DEFAULT_CONSTANTS.items())
    assert "Davies" in d["synop_pj"]["source"] and "Horowitz" in d["horowitz_mac_pj"]["source"]


def test_conv_fanout_by_hand():
    # 1x3x3 input, 2x2 kernel, stride 1, 2 output channels -> (2, 2, 2) outputs.
    # A pixel feeds (output positions covering it) x C_out synapses: corner 1x2, centre 4x2.
    net = ir.chain([ir.Input("in", shape=(1, 3, 3)),
                    ir.Conv("c", weight=np.ones((2, 1, 2, 2), int)),
                    ir.Cuba("n", shape=(2, 2, 2), i_decay=4096, v_decay=4095, vth=100)])
    x = np.zeros((1, 3, 3, 3), int)
    x[0, 1, 1, 0] = 1          # centre at step 1 -> 8 synops
    x[0, 0, 0, 1] = 1          # corner at step 2 -> 2 synops
    rows, *_ = count_operations(net, x)
    n = rows[1]
    assert n.synops == 10 and n.ann_macs == 8 * 4      # 8 outputs x fan-in 1*2*2


def test_hops_from_placement_object():
    net, x = hand_network()
    # n on core 0 at router (0, 0), o on cores 1 (3, 0) and 2 (1, 2) of one 16 x 8 chip
    p = SimpleNamespace(target="loihi2", chips=1, mesh=[16, 8, 1],
                        core_slots=[[0, 0, 0, 0], [0, 3, 0, 0], [0, 1, 2, 0]],
                        slices=[["n", 0, 3, 0, 1, 0], ["o", 0, 1, 0, 1, 1],
                                ["o", 0, 1, 0, 1, 2]])
    table = hops_from_placement(p, net)
    assert table["n"] == (2.0, 3.0)          # two destination cores, hops 3 and 3
    r = estimate_energy(net, x, placement=p)
    assert r.layer("n").messages == 10 and r.layer("n").hop_messages == 30


def test_real_placement_is_accepted():
    from neurodeploy.place import place
    net, x = hand_network()
    r = estimate_energy(net, x, placement=place(net))
    assert r.total.synops == 17 and r.total.hop_messages >= 0
