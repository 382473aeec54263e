"""CSDformer operators: ref == Lava on random configurations over the full parameter ranges,
exactness proofs (DIF vs round-half-up quantizer, TDEC products, TDEC max-pool), measured DIF
error for D < T-1, strict overflow, golden files and a composed attention block."""
from __future__ import annotations

import numpy as np
import pytest
from ops_util import assert_exact, graded, replay_goldens, run

from neurodeploy import ir
from neurodeploy.errors import RangeError, StateOverflowError
from neurodeploy.ops.csdformer import (
    Dif,
    GlobalSumPool,
    IfNeuron,
    Readout,
    SpikeCounter,
    TdecMatmul,
    TdecMaxPool,
    quantize_round_half_up,
)
from neurodeploy.sim.reference import simulate

STEPS = 16
N = 240                      # configurations per elementwise operator (one per neuron)


def _theta(rng, n):
    """Thresholds over the full legal range, log-uniform so that small ones are common."""
    return np.clip(np.exp(rng.uniform(0, np.log(2**23 - 1), n)).astype(np.int64), 1, 2**23 - 1)


def random_network(seed: int = 0):
    """Many independent CSDformer sub-graphs in one network (one Lava compile)."""
    rng = np.random.default_rng(seed)
    net, inputs, configs = ir.Network(name="csd_random"), {}, {}
    # graded currents, magnitudes from tiny to 24-bit edges
    mag = 2 ** rng.integers(0, 23, (N, 1))
    cur = (rng.integers(-1, 2, (N, STEPS)) * rng.integers(0, mag + 1, (N, STEPS)))
    cur[:8] = 2**23 - 1                       # drive some membranes past the 24-bit edge
    cur[8:16] = -2**23
    cur = np.clip(cur, -2**23, 2**23 - 1)
    net.add(graded("cur", (N,)))
    inputs["cur"] = cur
    T = rng.integers(1, 8, N)
    theta = _theta(rng, N)
    for cls, name in ((Dif, "dif"), (IfNeuron, "if")):
        net.add(cls(name, sources=("cur",), shape=(N,), theta=theta, T=T,
                    delay=rng.integers(0, 12, N), start=rng.integers(0, 4, N),
                    v0=rng.integers(-2**22, 2**22, N) // rng.integers(1, 2**20, N),
                    bias=rng.integers(-2**10, 2**10, N) * (rng.random(N) < 0.5)))
    configs["dif"] = configs["if"] = N
    # binary spikes for counters / products / pools
    net.add(ir.Input("spk", shape=(N,)))
    inputs["spk"] = (rng.random((N, STEPS)) < rng.random((N, 1))).astype(np.int64)
    net.add(SpikeCounter("cnt", sources=("spk",)))
    configs["cnt"] = N
    configs["mm"] = 0
    for i, (g, m, k, n, tb) in enumerate([(60, 2, 3, 2, True), (60, 3, 2, 2, False),
                                         (60, 1, 4, 3, True), (60, 2, 2, 2, False)]):
        la, lb = g * m * k, g * k * n
        net.add(ir.Input(f"a{i}", shape=(la,)))
        net.add(ir.Input(f"b{i}", shape=(lb,)))
        inputs[f"a{i}"] = (rng.random((la, STEPS)) < rng.random()).astype(np.int64)
        inputs[f"b{i}"] = (rng.random((lb, STEPS)) < rng.random()).astype(np.int64)
        net.add(SpikeCounter(f"ca{i}", sources=(f"a{i}",)))
        net.add(SpikeCounter(f"cb{i}", sources=(f"b{i}",)))
        net.add(TdecMatmul(f"mm{i}", sources=(f"a{i}", f"b{i}", f"ca{i}", f"cb{i}"), groups=g,
                           m=m, k=k, n=n, transpose_b=tb, weight=int(rng.integers(-128, 128))))
        configs["mm"] += g
    configs["mp"] = 0
    for i, (kern, stride) in enumerate([((2, 2), None), ((3, 3), (1, 1)), ((2, 3), (2, 1)),
                                        ((1, 2), (1, 2))]):
        net.add(ir.Input(f"img{i}", shape=(60, 4, 5)))
        inputs[f"img{i}"] = (rng.random((60, 4, 5, STEPS)) < rng.random()).astype(np.int64)
        net.add(SpikeCounter(f"cimg{i}", sources=(f"img{i}",)))
        net.add(TdecMaxPool(f"mp{i}", sources=(f"cimg{i}",), kernel=kern, stride=stride))
        configs["mp"] += 60
    net.add(GlobalSumPool("gap_tok", sources=("spk",), tokens=4))
    for i in range(4):
        net.add(GlobalSumPool(f"gap_img{i}", sources=(f"img{i}",)))
    configs["gap"] = 60 + 4 * 60
    for i in range(4):
        net.add(Readout(f"ro{i}", sources=("cur",), T=int(rng.integers(0, 10)),
                        start=int(rng.integers(0, 4))))
    configs["ro"] = 4 * N
    return net, inputs, configs


@pytest.fixture(scope="module")
def traces():
    net, inputs, configs = random_network()
    return net, inputs, configs, run("ref", net, inputs, STEPS), run("lava", net, inputs, STEPS)


@pytest.mark.parametrize("layers,key", [(["dif"], "dif"), (["if"], "if"), (["cnt"], "cnt"),
                                        ([f"mm{i}" for i in range(4)], "mm"),
                                        ([f"mp{i}" for i in range(4)], "mp"),
                                        (["gap_tok"] + [f"gap_img{i}" for i in range(4)], "gap"),
                                        ([f"ro{i}" for i in range(4)], "ro")])
def test_random_ref_equals_lava(traces, layers, key):
    net, _, configs, ref, lava = traces
    assert configs[key] >= 200
    assert assert_exact(ref, lava, layers) >= len(layers)
    assert sum(int(np.abs(ref[name, "s"]).sum()) for name in layers) > 0   # not all silent


def test_random_network_reaches_state_edges(traces):
    net, _, _, ref, lava = traces
    assert any(e.layer in ("dif", "if") and e.variable == "v" for e in ref.overflow)


@pytest.mark.parametrize("backend", ["ref", "lava"])
def test_tdec_products_and_pool_are_exact_over_the_window(traces, backend):
    net, inputs, _, ref, lava = traces
    tr = ref if backend == "ref" else lava
    for i in range(4):
        mm = net[f"mm{i}"]
        a = inputs[f"a{i}"].sum(-1)[None]
        b = inputs[f"b{i}"].sum(-1)[None]
        from neurodeploy.ops.common import matmul_operands
        qa, qb = matmul_operands(a, b, mm.groups, mm.m, mm.k, mm.n, mm.transpose_b)
        want = (mm.weight * (qa @ qb)).reshape(1, -1)
        assert np.array_equal(tr[f"mm{i}", "s"].sum(-1), want)
        mp = net[f"mp{i}"]
        counts = inputs[f"img{i}"].sum(-1)[None]
        assert np.array_equal(tr[f"mp{i}", "s"].sum(-1), mp.pooled(counts))
        assert set(np.unique(tr[f"mp{i}", "s"])) <= {0, 1}


def test_dif_is_the_round_half_up_quantizer_for_any_input_timing():
    rng = np.random.default_rng(1)
    n, T = 20000, 4
    for D in (T - 1, T + 2):
        theta = rng.integers(1, 64, n)
        x = rng.integers(-40, 41, (n, T)) * (rng.random((n, T)) < 0.6)   # uneven, mixed sign
        x = np.concatenate([x, np.zeros((n, D + 2), np.int64)], 1)
        net = ir.chain([graded("x", (n,), 16), Dif("d", shape=(n,), theta=theta, T=T, delay=D)])
        tr = simulate(net, x, T + D + 2)
        want = quantize_round_half_up(x[:, :T].sum(1), theta, 0, T)
        assert np.array_equal(tr["d", "s"].sum(-1)[0], want)
        assert tr["d", "s"][0, :, :D].sum() == 0            # nothing before the window


def test_dif_error_with_short_delay_is_pinned():
    """Fraction of wrong spike counts for D < T-1 (numbers in the csdformer module docstring)."""
    rng = np.random.default_rng(0)
    n, T, theta = 20000, 4, 16
    x = rng.integers(-24, 25, (n, T)) * (rng.random((n, T)) < 0.7)
    want = quantize_round_half_up(x.sum(1), theta, 0, T)
    got = {}
    for D in range(T):
        net = ir.chain([graded("x", (n,), 16), Dif("d", shape=(n,), theta=theta, T=T, delay=D)])
        got[D] = float((simulate(net, x, T + D)["d", "s"].sum(-1)[0] != want).mean())
    assert [round(100 * got[D], 1) for D in range(T)] == [19.3, 12.8, 6.0, 0.0]


@pytest.mark.parametrize("backend", ["ref", "lava"])
@pytest.mark.parametrize("case", ["dif_v", "mm_out", "count", "gap_out", "readout_v"])
def test_strict_mode_raises_on_first_overflow(backend, case):
    n = 3
    if case == "dif_v":
        nodes = [graded("x", (n,)), Dif("op", shape=(n,), theta=2**23 - 1, T=4)]
        x = np.full((n, 4), 2**23 - 1)
    elif case == "mm_out":
        nodes = [ir.Input("x", shape=(64,)), SpikeCounter("c", sources=("x",), bits=16),
                 TdecMatmul("op", sources=("x", "x", "c", "c"), m=1, k=64, n=1, weight=127,
                            out_bits=12)]
        x = np.ones((64, 4), np.int64)
    elif case == "count":
        nodes = [ir.Input("x", shape=(n,)), SpikeCounter("op", sources=("x",), bits=3)]
        x = np.ones((n, 6), np.int64)
    elif case == "gap_out":
        nodes = [ir.Input("x", shape=(8 * 2,)), GlobalSumPool("op", sources=("x",), tokens=8,
                                                              out_bits=3)]
        x = np.ones((16, 2), np.int64)
    else:
        nodes = [graded("x", (n,)), Readout("op", sources=("x",), shape=(n,))]
        x = np.full((n, 4), 2**22)
    net = ir.chain(nodes) if case not in ("mm_out",) else ir.Network(nodes)
    with pytest.raises(StateOverflowError) as err:
        run(backend, net, x, x.shape[-1], strict=True)
    assert err.value.layer == "op" and err.value.step >= 1


def test_maxpool_overflow_and_nonbinary_reported():
    net = ir.chain([graded("x", (1, 2, 2), 8), TdecMaxPool("op")])
    with pytest.raises(StateOverflowError) as err:
        simulate(net, np.full((1, 2, 2, 2), 3), strict=True)
    assert err.value.field == "out"


@pytest.mark.parametrize("field,value", [("theta", 0), ("theta", 2**23), ("T", 0),
                                         ("T", 128), ("delay", -1), ("v0", 2**23)])
def test_parameter_ranges_are_enforced(field, value):
    kw = dict(theta=4, T=4)
    kw[field] = value
    net = ir.chain([graded("x", (2,)), Dif("d", shape=(2,), **kw)])
    with pytest.raises(RangeError):
        net.validate()


# -- composed attention block ---------------------------------------------------------------
def attention_block(seed: int = 0, T: int = 3, tokens: int = 3, d: int = 4):
    """X -> Q,K,V projections -> DIF -> TDEC Q K^T -> DIF (NReLU) -> TDEC A V -> DIF -> output
    projection -> DIF, windows aligned by the DIF delays (D = T-1, V delayed by 2D)."""
    rng = np.random.default_rng(seed)
    D = T - 1
    nd = tokens * d

    def proj():
        return np.kron(np.eye(tokens, dtype=np.int64), rng.integers(-48, 128, (d, d)))

    th = 192
    w = {k: proj() for k in "qkvo"}
    nodes = [ir.Input("x", shape=(nd,))]
    for k in "qkv":
        nodes.append(ir.Dense(f"w{k}", sources=("x",), weight=w[k]))
        nodes.append(Dif(k, sources=(f"w{k}",), shape=(nd,), theta=th, T=T, start=1,
                         delay=2 * D if k == "v" else D))
        nodes.append(SpikeCounter(f"c{k}", sources=(k,)))
    nodes += [TdecMatmul("qk", sources=("q", "k", "cq", "ck"), m=tokens, k=d, n=tokens,
                         transpose_b=True),
              Dif("attn", sources=("qk",), shape=(tokens * tokens,), theta=3, T=T, start=1 + D),
              SpikeCounter("cattn", sources=("attn",)),
              TdecMatmul("av", sources=("attn", "v", "cattn", "cv"), m=tokens, k=tokens, n=d),
              Dif("o", sources=("av",), shape=(nd,), theta=2, T=T, start=1 + 2 * D),
              ir.Dense("wo", sources=("o",), weight=w["o"]),
              Dif("out", sources=("wo",), shape=(nd,), theta=160, T=T, start=2 + 3 * D)]
    x = (rng.random((nd, T)) < 0.6).astype(np.int64)
    steps = 2 + 3 * D + D + T
    return ir.Network(nodes, name="csd_block"), x, w, steps


def _qann(x, w, T, tokens, d):
    q = lambda y, th: quantize_round_half_up(y, th, 0, T)    # noqa: E731
    X = x.sum(-1)
    Q, K, V = (q(w[k] @ X, 192).reshape(tokens, d) for k in "qkv")
    A = q(Q @ K.T, 3)
    out = q(A @ V, 2).reshape(-1)
    return q(w["o"] @ out, 160)


@pytest.fixture(scope="module")
def block():
    net, x, w, steps = attention_block()
    return net, x, w, steps, run("ref", net, x, steps)


@pytest.mark.parametrize("backend", ["ref", "lava"])
def test_attention_block_bit_exact_and_equal_to_qann(block, backend):
    net, x, w, steps, ref = block
    tr = ref if backend == "ref" else run("lava", net, x, steps)
    assert_exact(ref, tr)
    assert np.array_equal(tr["out", "s"].sum(-1)[0], _qann(x, w, 3, 3, 4))
    assert tr["attn", "s"].sum() > 0 and tr["out", "s"].sum() > 0


@pytest.mark.parametrize("backend", ["ref", "lava"])
def test_goldens(backend):
    names = ["dif", "if_neuron", "spike_counter", "tdec_matmul", "tdec_max_pool",
             "global_sum_pool", "readout"]
    assert replay_goldens(backend, names) >= len(names)
