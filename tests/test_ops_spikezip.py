"""SpikeZIP-TF operators: ref == Lava on random configurations, ST-BIF+ == symmetric quantizer,
SESA == integer matrix product, difference method of the host operators, strict overflow,
golden files and a composed attention block."""
from __future__ import annotations

import numpy as np
import pytest
from ops_util import assert_exact, graded, replay_goldens, run

from neurodeploy import ir
from neurodeploy.errors import StateOverflowError
from neurodeploy.ops.common import matmul_operands
from neurodeploy.ops.csdformer import SpikeCounter, quantize_round_half_up
from neurodeploy.ops.spikezip import (
    HOST_NOTE,
    SesaMatmul,
    SpikeLayerNorm,
    SpikeSoftmax,
    StBif,
    int_layer_norm,
    int_softmax,
)
from neurodeploy.sim.reference import simulate

STEPS = 16
N = 240


def random_network(seed: int = 0):
    rng = np.random.default_rng(seed)
    net, inputs, configs = ir.Network(name="zip_random"), {}, {}
    mag = 2 ** rng.integers(0, 23, (N, 1))
    cur = rng.integers(-1, 2, (N, STEPS)) * rng.integers(0, mag + 1, (N, STEPS))
    cur[:8] = 2**23 - 1
    net.add(graded("cur", (N,)))
    inputs["cur"] = np.clip(cur, -2**23, 2**23 - 1)
    theta = np.clip(np.exp(rng.uniform(0, np.log(2**23 - 1), N)).astype(np.int64), 1, 2**23 - 1)
    net.add(StBif("stbif", sources=("cur",), shape=(N,), theta=theta,
                  s_min=rng.integers(-128, 1, N), s_max=rng.integers(0, 128, N),
                  v0=theta // rng.integers(1, 4, N), bias=rng.integers(-2**20, 2**20, N),
                  start=2))
    configs["stbif"] = N
    configs["sesa"] = 0
    for i, (g, m, k, n, tb) in enumerate([(60, 2, 3, 2, True), (60, 3, 2, 2, False),
                                         (60, 1, 4, 3, True), (60, 2, 2, 2, False)]):
        la, lb = g * m * k, g * k * n
        net.add(graded(f"a{i}", (la,), 2))
        net.add(graded(f"b{i}", (lb,), 2))
        inputs[f"a{i}"] = rng.integers(-1, 2, (la, STEPS)) * (rng.random((la, STEPS)) < 0.6)
        inputs[f"b{i}"] = rng.integers(-1, 2, (lb, STEPS)) * (rng.random((lb, STEPS)) < 0.6)
        net.add(SpikeCounter(f"ca{i}", sources=(f"a{i}",)))
        net.add(SpikeCounter(f"cb{i}", sources=(f"b{i}",)))
        net.add(SesaMatmul(f"sesa{i}", sources=(f"a{i}", f"b{i}", f"ca{i}", f"cb{i}"), groups=g,
                           m=m, k=k, n=n, transpose_b=tb, weight=int(rng.integers(-128, 128))))
        configs["sesa"] += g
    configs["host"] = 0
    for i, n in enumerate([2, 3, 4, 6]):
        x = rng.integers(-2**12, 2**12, (60 * n, STEPS)) * (rng.random((60 * n, STEPS)) < 0.5)
        net.add(graded(f"h{i}", (60 * n,), 14))
        inputs[f"h{i}"] = x
        net.add(SpikeSoftmax(f"sm{i}", sources=(f"h{i}",), n=n, in_frac=int(rng.integers(0, 9)),
                             out_frac=int(rng.integers(1, 15))))
        net.add(SpikeLayerNorm(f"ln{i}", sources=(f"h{i}",), n=n, out_frac=int(rng.integers(0, 9)),
                               gamma=rng.integers(-2**10, 2**10, n), gamma_shift=8,
                               beta=rng.integers(-100, 100, n), eps=int(rng.integers(1, 100))))
        configs["host"] += 60
    return net, inputs, configs


@pytest.fixture(scope="module")
def traces():
    net, inputs, configs = random_network()
    return net, inputs, configs, run("ref", net, inputs, STEPS), run("lava", net, inputs, STEPS)


@pytest.mark.parametrize("layers,key", [(["stbif"], "stbif"),
                                        ([f"sesa{i}" for i in range(4)], "sesa"),
                                        ([f"sm{i}" for i in range(4)], "host"),
                                        ([f"ln{i}" for i in range(4)], "host")])
def test_random_ref_equals_lava(traces, layers, key):
    net, _, configs, ref, lava = traces
    assert configs[key] >= 200
    assert assert_exact(ref, lava, layers) >= len(layers)
    assert sum(int(np.abs(ref[name, "s"]).sum()) for name in layers) > 0


@pytest.mark.parametrize("backend", ["ref", "lava"])
def test_sesa_and_host_difference_method_are_exact(traces, backend):
    net, inputs, _, ref, lava = traces
    tr = ref if backend == "ref" else lava
    for i in range(4):
        op = net[f"sesa{i}"]
        qa, qb = matmul_operands(inputs[f"a{i}"].sum(-1)[None], inputs[f"b{i}"].sum(-1)[None],
                                 op.groups, op.m, op.k, op.n, op.transpose_b)
        assert np.array_equal(tr[f"sesa{i}", "s"].sum(-1), (op.weight * (qa @ qb)).reshape(1, -1))
        x = inputs[f"h{i}"].sum(-1)[None]
        sm, ln = net[f"sm{i}"], net[f"ln{i}"]
        assert np.array_equal(tr[f"sm{i}", "s"].sum(-1),
                              int_softmax(x, sm.n, sm.in_frac, sm.out_frac))
        assert np.array_equal(tr[f"ln{i}", "s"].sum(-1), int_layer_norm(
            x, ln.n, ln.gamma, ln.gamma_shift, ln.beta, ln.eps, ln.out_frac))


def test_stbif_equals_symmetric_quantizer_for_any_input_timing():
    rng = np.random.default_rng(3)
    n, Tin = 20000, 8
    theta = rng.integers(1, 200, n)
    s_min, s_max = -16, 15
    x = rng.integers(-300, 301, (n, Tin)) * (rng.random((n, Tin)) < 0.5)
    steps = Tin + (s_max - s_min) + 2
    net = ir.chain([graded("x", (n,), 16), StBif("z", shape=(n,), theta=theta, s_min=s_min,
                                                 s_max=s_max)])
    tr = simulate(net, x, steps)
    want = quantize_round_half_up(x.sum(1), theta, s_min, s_max)
    assert np.array_equal(tr["z", "s"].sum(-1)[0], want)
    assert np.array_equal(tr["z", "s"][0, :, -1], np.zeros(n))   # quiescent (T_eq reached)


def test_host_operators_are_marked_not_on_neurocores():
    for cls in (SpikeSoftmax, SpikeLayerNorm):
        assert cls.host and cls.hardware_note == HOST_NOTE == "host operator — not on neurocores"
    assert not StBif.host and not SesaMatmul.host


def test_integer_softmax_and_layer_norm_accuracy():
    rng = np.random.default_rng(0)
    x = rng.integers(-200, 200, (500, 8))
    e = np.exp(x / 16)
    assert np.abs(int_softmax(x, 8, 4, 14) / 2**14 - e / e.sum(-1, keepdims=True)).max() < 1e-3
    z = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1)
    assert np.abs(int_layer_norm(x, 8, np.array(1), 0, np.array(0), 1, 10) / 2**10 - z).max() < 5e-3


@pytest.mark.parametrize("backend", ["ref", "lava"])
@pytest.mark.parametrize("case", ["stbif_v", "sesa_out", "softmax_acc", "ln_out"])
def test_strict_mode_raises_on_first_overflow(backend, case):
    if case == "stbif_v":
        nodes = [graded("x", (3,)), StBif("op", shape=(3,), theta=2**23 - 1, s_max=0)]
        x = np.full((3, 4), 2**23 - 1)
    elif case == "sesa_out":
        nodes = [graded("x", (32,), 2), SpikeCounter("c", sources=("x",)),
                 SesaMatmul("op", sources=("x", "x", "c", "c"), m=1, k=32, n=1, out_bits=8)]
        x = np.ones((32, 4), np.int64)
    elif case == "softmax_acc":
        nodes = [graded("x", (4,)), SpikeSoftmax("op", n=4)]
        x = np.full((4, 4), 2**22)
    else:
        nodes = [graded("x", (4,), 8), SpikeLayerNorm("op", n=4, gamma=2**15 - 1, out_frac=12,
                                                      out_bits=16)]
        x = np.array([[100] * 3, [0] * 3, [0] * 3, [0] * 3])
    net = ir.Network(nodes) if case == "sesa_out" else ir.chain(nodes)
    with pytest.raises(StateOverflowError) as err:
        run(backend, net, x, x.shape[-1], strict=True)
    assert err.value.layer == "op"


def attention_block(seed: int = 0, tokens: int = 3, d: int = 4, steps: int = 20):
    """X -> Q,K,V projections -> ST-BIF+ -> SESA Q K^T -> Spike-Softmax (host) -> ST-BIF+ ->
    SESA A V -> ST-BIF+ -> output projection -> ST-BIF+ (pipelined, no windows)."""
    rng = np.random.default_rng(seed)
    nd = tokens * d

    def proj():
        return np.kron(np.eye(tokens, dtype=np.int64), rng.integers(-128, 128, (d, d)))

    nodes = [graded("x", (nd,), 2)]
    for k in "qkv":
        nodes += [ir.Dense(f"w{k}", sources=("x",), weight=proj()),
                  StBif(k, sources=(f"w{k}",), shape=(nd,), theta=128, s_min=-4, s_max=3),
                  SpikeCounter(f"c{k}", sources=(k,))]
    nodes += [SesaMatmul("qk", sources=("q", "k", "cq", "ck"), m=tokens, k=d, n=tokens,
                         transpose_b=True, weight=8),
              SpikeSoftmax("softmax", sources=("qk",), n=tokens, in_frac=4, out_frac=8),
              StBif("attn", sources=("softmax",), shape=(tokens * tokens,), theta=32, s_min=0,
                    s_max=7),
              SpikeCounter("cattn", sources=("attn",)),
              SesaMatmul("av", sources=("attn", "v", "cattn", "cv"), m=tokens, k=tokens, n=d),
              StBif("o", sources=("av",), shape=(nd,), theta=4, s_min=-8, s_max=7),
              ir.Dense("wo", sources=("o",), weight=proj()),
              StBif("out", sources=("wo",), shape=(nd,), theta=128, s_min=-8, s_max=7,
                    bias=rng.integers(-64, 64, nd))]
    x = rng.integers(-1, 2, (nd, 4))
    return ir.Network(nodes, name="zip_block"), x, steps


@pytest.mark.parametrize("backend", ["ref", "lava"])
def test_attention_block_bit_exact(backend):
    net, x, steps = attention_block()
    ref = run("ref", net, x, steps)
    tr = ref if backend == "ref" else run("lava", net, x, steps)
    assert_exact(ref, tr)
    assert np.abs(tr["attn", "s"]).sum() > 0 and np.abs(tr["out", "s"]).sum() > 0


@pytest.mark.parametrize("backend", ["ref", "lava"])
def test_goldens(backend):
    names = ["st_bif", "sesa_matmul", "spike_softmax", "spike_layer_norm"]
    assert replay_goldens(backend, names) >= len(names)
