"""Placement invariance: the network rebuilt with one node (one Lava process) per core slice
(:func:`neurodeploy.place.partition_network`) runs bit-exact with the unpartitioned network.

Each model is placed on a tiny custom target (a TOML written in tmp_path, 12-24 neuron units per
core) so that every layer is cut into several slices; the partitioned network is run on the
reference simulator and on Lava, its traces are reassembled per original layer
(:func:`merge_traces`) and must np.array_equal the unpartitioned reference run, every variable
at every step.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neurodeploy import ir
from neurodeploy.ops.csdformer import Dif, SpikeCounter, TdecMatmul
from neurodeploy.ops.spikedattention import (
    PhaseMatmul,
    PhaseNeuron,
    PhaseTrace,
    WossSoftmax,
    phase_table,
    phase_vth,
)
from neurodeploy.ops.spikezip import SesaMatmul, SpikeSoftmax, StBif
from neurodeploy.place import Gather, merge_traces, partition_network, place
from neurodeploy.sim.reference import simulate
from neurodeploy.sim.traces import compare

ROOT = Path(__file__).resolve().parents[1]


def tiny_target(tmp_path: Path, neurons: int) -> str:
    """loihi2.toml with a ``neurons`` budget per core (and its name changed)."""
    text = (ROOT / "targets" / "loihi2.toml").read_text()
    text = text.replace('name = "loihi2"', 'name = "tiny"')
    text = text.replace("neurons = 4096 ", f"neurons = {neurons} ")
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    return str(path)


def _proj(rng, tokens: int, d: int, lo: int = -128) -> np.ndarray:
    return np.kron(np.eye(tokens, dtype=np.int64), rng.integers(lo, 128, (d, d)))


def chain_net(seed: int = 0):
    """Input image -> Conv (3x3, pad 1) -> Cuba -> SumPool -> Cuba -> Flatten -> Dense with
    delays -> Cuba -> Dense (weight_exp -1) -> Cuba; plus a second conv reading the first
    (channel-split Conv path)."""
    rng = np.random.default_rng(seed)
    nodes = [ir.Input("x", shape=(2, 6, 6)),
             ir.Conv("c1", sources=("x",), weight=rng.integers(-128, 128, (4, 2, 3, 3)),
                     padding=1),
             ir.Cuba("n1", sources=("c1",), shape=(4, 6, 6), i_decay=1024, v_decay=256, vth=60),
             ir.Conv("c2", sources=("n1",), weight=rng.integers(-128, 128, (3, 4, 3, 3)),
                     padding=1),
             ir.Cuba("n2", sources=("c2",), shape=(3, 6, 6), vth=40),
             ir.SumPool("pool", sources=("n1",), weight=np.int64(3)),
             ir.Cuba("n3", sources=("pool",), shape=(4, 3, 3), vth=2),
             ir.Flatten("fl", sources=("n3",)),
             ir.Dense("d1", sources=("fl",), weight=rng.integers(-128, 128, (20, 36)),
                      delay=rng.integers(0, 3, (20, 36))),
             ir.Cuba("n4", sources=("d1",), shape=(20,), i_decay=2048, vth=50, refractory=1),
             ir.Dense("d2", sources=("n4",), weight=rng.integers(-128, 128, (10, 20)),
                      weight_exp=-1),
             ir.Cuba("n5", sources=("d2",), shape=(10,), vth=5, message_bits=3)]
    x = (rng.random((2, 2, 6, 6, 6)) < 0.5).astype(np.int64)
    return ir.Network(nodes, name="chain"), x, 12


def csd_block(seed: int = 0, T: int = 3, tokens: int = 3, d: int = 4):
    """CSDformer attention: DIF Q, K, V -> TDEC QK^T -> DIF -> TDEC AV -> DIF -> proj -> DIF."""
    rng = np.random.default_rng(seed)
    D, nd = T - 1, tokens * d
    nodes = [ir.Input("x", shape=(nd,))]
    for k in "qkv":
        nodes += [ir.Dense(f"w{k}", sources=("x",), weight=_proj(rng, tokens, d, -48)),
                  Dif(k, sources=(f"w{k}",), shape=(nd,), theta=192, T=T, start=1,
                      delay=2 * D if k == "v" else D),
                  SpikeCounter(f"c{k}", sources=(k,))]
    nodes += [TdecMatmul("qk", sources=("q", "k", "cq", "ck"), m=tokens, k=d, n=tokens,
                         transpose_b=True),
              Dif("attn", sources=("qk",), shape=(tokens * tokens,), theta=3, T=T, start=1 + D),
              SpikeCounter("cattn", sources=("attn",)),
              TdecMatmul("av", sources=("attn", "v", "cattn", "cv"), m=tokens, k=tokens, n=d),
              Dif("o", sources=("av",), shape=(nd,), theta=2, T=T, start=1 + 2 * D),
              ir.Dense("wo", sources=("o",), weight=_proj(rng, tokens, d, -48)),
              Dif("out", sources=("wo",), shape=(nd,), theta=160, T=T, start=2 + 3 * D)]
    x = (rng.random((nd, T)) < 0.6).astype(np.int64)
    return ir.Network(nodes, name="csd"), x, 2 + 4 * D + T


def zip_block(seed: int = 0, tokens: int = 3, d: int = 4):
    """SpikeZIP-TF attention: ST-BIF+ Q, K, V -> SESA QK^T -> Spike-Softmax (host) -> ST-BIF+
    -> SESA AV -> ST-BIF+ -> proj -> ST-BIF+."""
    rng = np.random.default_rng(seed)
    nd = tokens * d
    nodes = [ir.Input("x", shape=(nd,), message_bits=2)]
    for k in "qkv":
        nodes += [ir.Dense(f"w{k}", sources=("x",), weight=_proj(rng, tokens, d)),
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
              ir.Dense("wo", sources=("o",), weight=_proj(rng, tokens, d)),
              StBif("out", sources=("wo",), shape=(nd,), theta=128, s_min=-8, s_max=7,
                    bias=rng.integers(-64, 64, nd))]
    return ir.Network(nodes, name="zip"), rng.integers(-1, 2, (nd, 4)), 16


def sa_block(seed: int = 0, tokens: int = 3, d: int = 4, T: int = 3):
    """SpikedAttention: phase neurons Q, K, V -> trace product QK^T -> WOSS -> trace product
    AV -> phase neuron -> proj -> phase neuron."""
    rng = np.random.default_rng(seed)
    B, nd = (179, 7), tokens * d
    tab = phase_table(*B, T, 10)
    vth = phase_vth(128, *B, T)
    nodes = [ir.Input("x", shape=(nd,), message_bits=2)]
    for k in "qkv":
        nodes += [ir.Dense(f"w{k}", sources=("x",), weight=_proj(rng, tokens, d)),
                  PhaseNeuron(k, sources=(f"w{k}",), shape=(nd,), base_num=B[0],
                              base_shift=B[1], T=T, start=1, wait=2 * T if k == "v" else T,
                              vth=vth, bipolar=True),
                  PhaseTrace(f"t{k}", sources=(k,), table=tab,
                             start=1 + (2 * T if k == "v" else T))]
    s1, s2 = 1 + T, 1 + 2 * T
    nodes += [PhaseMatmul("qk", sources=("q", "k", "tq", "tk"), m=tokens, k=d, n=tokens,
                          transpose_b=True, table=tab, start=s1),
              WossSoftmax("attn", sources=("qk",), shape=(tokens * tokens,), n=tokens,
                          base_num=B[0], base_shift=B[1], T=T, start=s1, c=700, table=tab,
                          frac=10),
              PhaseTrace("tattn", sources=("attn",), table=tab, start=s2),
              PhaseMatmul("av", sources=("attn", "v", "tattn", "tv"), m=tokens, k=tokens, n=d,
                          table=tab, start=s2),
              PhaseNeuron("o", sources=("av",), shape=(nd,), base_num=B[0], base_shift=B[1],
                          T=T, start=s2, vth=phase_vth(2**10, *B, T), bipolar=True),
              ir.Dense("wo", sources=("o",), weight=_proj(rng, tokens, d)),
              PhaseNeuron("out", sources=("wo",), shape=(nd,), base_num=B[0], base_shift=B[1],
                          T=T, start=s2 + T + 1, vth=vth, bipolar=True)]
    x = rng.integers(-1, 2, (nd, T)) * (rng.random((nd, T)) < 0.4)
    return ir.Network(nodes, name="sa"), x, s2 + 3 * T + 1


MODELS = {"chain": (chain_net, 24), "csdformer": (csd_block, 32),
          "spikezip": (zip_block, 32), "spikedattention": (sa_block, 32)}


def _partitioned(name: str, tmp_path: Path):
    make, neurons = MODELS[name]
    net, x, steps = make()
    p = place(net, tiny_target(tmp_path, neurons))
    parts = partition_network(net, p)
    return net, x, steps, p, parts


@pytest.mark.parametrize("name", list(MODELS))
def test_partitioned_reference_is_bit_exact(name, tmp_path):
    net, x, steps, p, parts = _partitioned(name, tmp_path)
    split = {la: len(ps) for la, ps in parts.pieces.items() if len(ps) > 1}
    assert len(split) >= 3 and max(split.values()) >= 3          # really partitioned
    covered = {}
    for layer, c0, c1, p0, p1, _core in p.slices:                # one piece set per slice
        covered[layer] = covered.get(layer, 0) + (c1 - c0) * (p1 - p0)
    for layer, n in covered.items():
        assert sum(q.idx.size for q in parts.pieces[layer]) == n
    ref = simulate(net, x, steps)
    assert not ref.overflow                                       # equality holds without wraps
    part = merge_traces(simulate(parts.network, x, steps), parts)
    comp = compare(ref, part)
    assert comp.bit_exact, str(comp.first_divergence)
    for layer, var in ref.variables():
        assert np.array_equal(ref[layer, var], part[layer, var]), (layer, var)
    assert sum(int(np.abs(ref[la, "s"]).sum()) for la in split) > 0       # not all silent


@pytest.mark.lava
@pytest.mark.parametrize("name", list(MODELS))
def test_partitioned_lava_is_bit_exact(name, tmp_path):
    from neurodeploy.lava.backend import LavaBackend
    net, x, steps, _, parts = _partitioned(name, tmp_path)
    assert len(parts.network) <= 130                 # one OS process per node: keep it small
    ref = simulate(net, x, steps)
    lava = merge_traces(LavaBackend(parts.network).run(x, steps), parts)
    comp = compare(ref, lava)
    assert comp.bit_exact, str(comp.first_divergence)
    for layer, var in ref.variables():
        assert np.array_equal(ref[layer, var], lava[layer, var]), (layer, var)


def test_conv_kept_where_slices_hold_whole_maps(tmp_path):
    _, _, _, _, parts = _partitioned("chain", tmp_path)
    kinds = {type(n).__name__ for n in parts.network}
    assert "Dense" in kinds and "Flatten" in kinds
    assert any("weight_exp < 0" in n for n in parts.notes)      # d2: inputs routed, not split


def test_wrong_placement_is_rejected(tmp_path):
    from neurodeploy.errors import UnsupportedError
    net, _, _, p, _ = _partitioned("csdformer", tmp_path)
    d = p.to_dict()
    d["slices"] = [s for s in d["slices"] if s[0] != "q"] + [["q", 0, 5, 0, 1, 0]]
    with pytest.raises(UnsupportedError, match="cover"):
        partition_network(net, d)
    d = p.to_dict()
    d["slices"] = [["nope", 0, 1, 0, 1, 0]]
    with pytest.raises(UnsupportedError, match="nope"):
        partition_network(net, d)


def test_gather_node_validates():
    g = Gather("g", sources=("a",), index=np.array([0, 5]), shape=(2,))
    with pytest.raises(ir.IRError, match="index"):
        g.validate([(3,)])
