"""SpikedAttention converter (neurodeploy.convert.spikedattention): the integer IR of the shipped
digits model keeps its QANN, the reference SNN keeps the integer-ANN rung (ideal phase code), the
input slot re-encodes every pixel exactly as the QANN does, the integer-ANN totals are the ideal
phase-weighted sums (exact for the trace-driven products, bounded for the fixed-point growth),
bundles round-trip, and Lava == reference on the first attention block of the real model.

Full 450-sample ladder and Lava on more samples: ``neurodeploy verify`` (models/*.md)."""
from __future__ import annotations

import numpy as np
import pytest
from ops_util import assert_exact, graded, run

from neurodeploy import ir
from neurodeploy.bundle import read_bundle, read_metadata, write_bundle
from neurodeploy.convert import convert, encode, int_scores, resolve_model, snn_scores
from neurodeploy.convert.intann import TOTALS
from neurodeploy.convert.ladder import ladder, torch_predictions
from neurodeploy.convert.nodes import Relay, TokenDense
from neurodeploy.convert.spikedattention import (
    TOTAL_FRAC,
    PhaseInputNeuron,
    PhaseReadout,
    _levels,
    fixed_base,
)
from neurodeploy.models import load_checkpoint
from neurodeploy.ops.spikedattention import PhaseMatmul, PhaseNeuron, PhaseTrace, phase_table
from neurodeploy.sim.reference import simulate

SNN_SAMPLES = 24


@pytest.fixture(scope="module")
def ckpt():
    return load_checkpoint(resolve_model("spikedattention-digits"))


@pytest.fixture(scope="module")
def conv(ckpt):
    return convert(ckpt)


@pytest.fixture(scope="module")
def scores(conv, digits):
    return int_scores(conv.network, conv.metadata, digits.x_test)


def test_fixed_point_base():
    assert fixed_base(1.4) == (717, 9)                    # 1.40039, |error| < 5e-4
    assert fixed_base(1.15) == (589, 9)
    assert fixed_base(2.0) == (256, 7)


def test_metadata_report_and_ranges(conv):
    m, q = conv.metadata, conv.metadata["quantization"]
    for key in ("steps", "encoding", "readout", "model", "model_sha256", "quantization",
                "target", "arch", "config"):
        assert m.get(key) is not None, key
    assert m["arch"] == "spikedattention" and q["method"] == "spikedattention"
    assert (q["base_num"], q["base_shift"], q["window"]) == (717, 9, 16)
    assert m["readout"]["node"] == "readout" and m["readout"]["step"] == m["steps"]
    starts = q["stage_starts"]
    assert starts["readout"] + q["window"] == m["steps"] == 336
    assert starts["b0_v"] == starts["b0_q"] and q["v_wait"] == 3 * 16 + 1
    kinds = {r["quantity"] for r in conv.report.rows}
    assert {"weight", "threshold", "bias", "constant"} <= kinds
    assert max(r["max_rel"] for r in conv.report.rows) < 0.02
    net = conv.network
    assert len(net.of_type(PhaseNeuron, PhaseInputNeuron)) == 21     # every PhaseQuantizer slot
    assert len(net.of_type(PhaseMatmul)) == 4 and len(net.of_type(PhaseReadout)) == 1
    for node in net:
        if isinstance(node, (ir.Conv, ir.Dense, TokenDense)):
            assert np.abs(node.weight).max() <= 127 and 0 <= node.weight_exp <= 7
        if isinstance(node, Relay):
            assert 1 <= node.delay <= 255 and node.bits in (0, 2)
        if isinstance(node, PhaseNeuron):
            assert node.base_num == 717 and node.base_shift == 9
            assert np.max(node.vth) < 2**23 and node.wait in (16, 49)


def test_input_slot_reencodes_every_pixel_like_the_qann(conv, ckpt):
    """Input -> 1x1 conv -> PhaseInputNeuron (fixed-point growth) == QANN input_slot code, for
    all 17 pixel levels of digits."""
    net = conv.network
    w_in = int(net["input_conv"].weight.reshape(-1)[0])
    sub = ir.Network([ir.Input("input", shape=(17,), message_bits=6),
                      ir.Dense("input_conv", sources=("input",), weight=np.eye(17, dtype=int)
                               * w_in, weight_exp=net["input_conv"].weight_exp)])
    pn = net["input_slot"]
    sub.add(PhaseInputNeuron("input_slot", sources=("input_conv",), shape=(17,), vth=pn.vth,
                             base_num=pn.base_num, base_shift=pn.base_shift, T=pn.T,
                             start=pn.start, bipolar=False))
    steps = pn.start + 2 * pn.T + 1
    x = np.zeros((17, steps), np.int64)
    x[:, 0] = np.arange(17)
    s = simulate(sub, x, steps)["input_slot", "s"][0]
    k = np.where(s.any(-1), np.argmax(s != 0, -1) + 1 - pn.start - pn.wait - 1, -1)
    import torch
    want = ckpt.model.input_slot.integer(torch.arange(17, dtype=torch.float64) / 16).numpy() - 1
    assert np.array_equal(k, want)
    assert (k >= 0).sum() == 16 and k[16] == 0


def test_integer_ann_keeps_the_qann(scores, ckpt, digits):
    """All 450 held-out digits: the integer IR (ideal phase code) vs the torch QANN."""
    q = torch_predictions(ckpt.model, digits.x_test)
    p = scores.argmax(1)
    assert (q == digits.y_test).sum() == 441
    assert (p == digits.y_test).sum() >= 438             # measured 439 (97.56 %)
    assert (p == q).sum() >= 442                         # measured 444 / 450


def test_reference_snn_keeps_the_integer_ann(conv, scores, digits):
    """Reference SNN on the first samples: predictions of the integer-ANN rung (the full 450:
    ``neurodeploy verify``, model card)."""
    x = digits.x_test[:SNN_SAMPLES]
    ss = snn_scores(conv.network, conv.metadata, x, batch=SNN_SAMPLES)
    assert (ss.argmax(1) == scores[:SNN_SAMPLES].argmax(1)).sum() >= SNN_SAMPLES - 1
    assert (ss.argmax(1) == digits.y_test[:SNN_SAMPLES]).sum() >= SNN_SAMPLES - 1


def _phase_trains(rng, n, T, start, steps, bipolar=True):
    x = np.zeros((n, steps), np.int64)
    k = rng.integers(0, T + 3, n)
    sign = rng.choice([-1, 1], n) if bipolar else np.ones(n, np.int64)
    ok = k < T
    x[np.arange(n)[ok], start + k[ok]] = sign[ok]
    return x, np.where(ok, sign * _levels(717 / 512, T)[np.minimum(k, T)], 0)


def test_trace_product_total_is_exact():
    """The integer-ANN total of a PhaseMatmul == sum_t R[phase] U_t of the simulated product."""
    rng = np.random.default_rng(1)
    T, g, m, k, n = 8, 3, 4, 5, 2
    tab = phase_table(717, 9, T, 12)
    net = ir.Network([graded("a", (g * m * k,), 2), graded("b", (g * n * k,), 2),
                      PhaseTrace("ta", sources=("a",), table=tab, start=0),
                      PhaseTrace("tb", sources=("b",), table=tab, start=0),
                      PhaseMatmul("p", sources=("a", "b", "ta", "tb"), groups=g, m=m, k=k, n=n,
                                  transpose_b=True, table=tab, start=0)])
    a, ta = _phase_trains(rng, g * m * k, T, 0, T + 1)
    b, tb = _phase_trains(rng, g * n * k, T, 0, T + 1)
    u = simulate(net, {"a": a, "b": b}, T + 1)["p", "s"][0]
    lhs = (u[:, :T] * _levels(717 / 512, T)[:T]).sum(-1)
    tot = {"a": ta[None], "b": tb[None]}
    for name in ("ta", "tb", "p"):
        node = net[name]
        tot[name] = TOTALS[type(node)](node, [tot[s] for s in node.sources])
    assert np.array_equal(tot["p"][0], lhs) and np.abs(lhs).sum() > 0


def test_readout_floor_growth_is_bounded():
    """PhaseReadout: 0 <= ideal V_T - v_T < sum_{j<T-1} B**j (each floor loses < 1, then
    grows), for random inputs over the full integration window."""
    rng = np.random.default_rng(2)
    T, n = 16, 500
    x = rng.integers(-2**12, 2**12, (n, T + 2))
    net = ir.chain([graded("x", (n,)), PhaseReadout("r", shape=(n,), base_num=717, base_shift=9,
                                                    T=T, start=0)])
    v = simulate(net, x, T + 2)["r", "s"][0][:, -1]
    bb = 717 / 512
    ideal = sum(bb ** (T - 1 - i) * x[:, i].astype(float) for i in range(T))
    gap = ideal - v
    assert gap.min() >= 0 and gap.max() < sum(bb**j for j in range(T - 1))
    phase_x = (x[:, :T] * _levels(bb, T)[:T]).sum(-1)          # the int-ANN input total
    got = TOTALS[PhaseReadout](net["r"], [phase_x[None]])[0]
    assert np.abs(got - ideal).max() <= 1 + 2**-20 * np.abs(ideal).max()
    assert TOTAL_FRAC == 30


def test_phase_neuron_total_matches_the_simulation_off_midpoints():
    """Ideal phase of a PhaseNeuron == simulated phase for inputs at phase 0 (U = 2**14), except
    within the fixed-point floor error of a threshold."""
    rng = np.random.default_rng(3)
    T, n, unit = 16, 4000, 2**14
    from neurodeploy.ops.spikedattention import phase_vth
    a = rng.uniform(-1.2, 1.2, n)
    x = np.zeros((n, 2 * T + 2), np.int64)
    x[:, 0] = np.floor(a * unit + 0.5)
    pn = PhaseNeuron("p", shape=(n,), base_num=717, base_shift=9, T=T,
                     vth=phase_vth(unit, 717, 9, T), bipolar=True)
    s = simulate(ir.chain([graded("x", (n,)), pn]), x, 2 * T + 2)["p", "s"][0]
    k = np.where(s.any(-1), np.argmax(s != 0, -1) - T, T)
    ideal = TOTALS[PhaseNeuron](pn, [(x[:, 0] << TOTAL_FRAC)[None]])[0]
    kid = np.array([np.argmin(np.abs(_levels(717 / 512, T) - abs(v))) for v in ideal])
    assert (k != kid).mean() < 0.005 and np.abs(k - kid).max() <= 1


def test_bundle_round_trip(conv, digits, tmp_path):
    path = tmp_path / "sa.h5"
    write_bundle(conv.network, path, metadata=conv.metadata)
    net, meta = read_bundle(path), read_metadata(path)
    assert net.same_as(conv.network)
    assert type(net["input_slot"]) is PhaseInputNeuron and type(net["readout"]) is PhaseReadout
    x = digits.x_test[:32]
    assert np.array_equal(int_scores(net, meta, x), int_scores(conv.network, conv.metadata, x))
    out = ladder(str(path), "digits", samples=6, lava_samples=0)     # verify --dataset, ref only
    assert out["samples"] == 6 and out["steps"] == 336 and out["bit_exact"] is None
    assert all(out["rungs"][k] is not None for k in ("float_ann", "qann", "int_ann", "ref_snn"))
    assert out["agreement"]["int_ann/ref_snn"] >= 5


def _first_block(conv, last: str = "b0_softmax"):
    """The real network up to block 0's WOSS softmax (input slot, embedding, norm1, Q/K/V, their
    traces, the Q K^T product, qk_slot, WOSS) and the steps that cover its firing window."""
    nodes = []
    for node in conv.network:
        nodes.append(node)
        if node.name == last:
            break
    net = ir.Network(nodes, name="sa_block0")
    return net, int(net[last].start + 2 * net[last].T + 1)


@pytest.mark.lava
def test_lava_equals_reference_on_the_first_block(conv, digits):
    """Bit-exact on the real model's first attention stage (A V on Lava: the composed block of
    tests/test_ops_spikedattention.py; the whole network: ``neurodeploy verify
    --lava-samples 20``, model card)."""
    net, steps = _first_block(conv)
    assert steps == 118 and len(net) == 20
    data = encode(conv.metadata, digits.x_test[:1], steps)
    ref = run("ref", net, data, steps)
    lava = run("lava", net, data, steps)
    assert assert_exact(ref, lava) >= 25
    assert np.abs(ref["b0_softmax", "s"]).sum() > 0 and np.abs(ref["b0_qk_slot", "s"]).sum() > 0


@pytest.mark.lava
def test_lava_equals_reference_on_the_converter_nodes():
    """PhaseReadout, PhaseInputNeuron and a 2-bit Relay of bipolar spikes on Lava."""
    rng = np.random.default_rng(4)
    n, T = 24, 6
    x = np.zeros((n, 3 * T + 4), np.int64)
    x[:, 0] = rng.integers(0, 32, n)
    net = ir.Network([
        ir.Input("x", shape=(n,), message_bits=6),
        ir.Dense("w", sources=("x",), weight=np.eye(n, dtype=np.int64) * 64, weight_exp=3),
        PhaseInputNeuron("pin", sources=("w",), shape=(n,), base_num=717, base_shift=9, T=T,
                         start=1, vth=rng.integers(2**10, 2**14, n), bipolar=True),
        Relay("rel", sources=("pin",), delay=3, bits=2),
        ir.Dense("h", sources=("rel",), weight=rng.integers(-128, 128, (4, n)), weight_exp=2),
        PhaseReadout("ro", sources=("h",), shape=(4,), base_num=717, base_shift=9, T=T,
                     start=T + 5, bias=rng.integers(-50, 50, 4))])
    steps = x.shape[-1]
    ref = run("ref", net, x, steps)
    assert_exact(ref, run("lava", net, x, steps))
    assert np.abs(ref["ro", "s"][..., -1]).sum() > 0
