"""SpikeZIP-TF converter (neurodeploy.convert.spikezip): the reference SNN's accumulated head
output equals the integer IR evaluated as an ANN exactly (ST-BIF+ at equilibrium, SESA, host
operators by the difference method); every neuron is quiescent before the settling bound; each
converted layer reproduces the torch QANN's integer quantizer given the same integer input
(layouts, scales, V0 = theta/2); bundle round trip; a small converted model is bit-exact on Lava.

The full 450-sample check is tools/spikezip_settle.py and `neurodeploy verify BUNDLE --dataset
digits` (minutes); here a subset keeps the suite fast."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from conftest import backend_params

from neurodeploy import ir
from neurodeploy.bundle import read_bundle, read_metadata, write_bundle
from neurodeploy.convert import convert, encode, int_scores, resolve_model, snn_scores
from neurodeploy.convert.common import Encoding
from neurodeploy.convert.intann import TOTALS
from neurodeploy.convert.ladder import torch_predictions
from neurodeploy.convert.nodes import TokenDense
from neurodeploy.convert.spikezip import StreamConst, settle_bound
from neurodeploy.models import build_model, load_checkpoint
from neurodeploy.models.quant import quantizers
from neurodeploy.models.spikezip import SpikeZIPConfig
from neurodeploy.ops.spikezip import HOST_NOTE, SesaMatmul, SpikeLayerNorm, SpikeSoftmax, StBif
from neurodeploy.sim.reference import ReferenceSimulator, simulate
from neurodeploy.sim.traces import compare


@pytest.fixture(scope="module")
def ckpt():
    return load_checkpoint(resolve_model("spikezip-digits"))


@pytest.fixture(scope="module")
def zip_digits(ckpt):
    return convert(ckpt)


def test_snn_head_equals_integer_ann_exactly(zip_digits, digits):
    """First 16 held-out digits (all 450: tools/spikezip_settle.py): accumulated head output +
    integer bias == integer ANN, every class score."""
    net, meta = zip_digits.network, zip_digits.metadata
    x = digits.x_test[:16]
    si = int_scores(net, meta, x)
    assert np.array_equal(snn_scores(net, meta, x, batch=16), si)


def test_every_neuron_settles_before_the_bound(zip_digits, digits):
    net, meta = zip_digits.network, zip_digits.metadata
    steps = meta["steps"]
    assert steps == meta["quantization"]["settle_bound"] == settle_bound(net)["readout"]
    neurons = [n.name for n in net if isinstance(n, StBif)]
    tr = ReferenceSimulator(net).run(encode(meta, digits.x_test[:4]), steps, probe=neurons)
    last = 0
    for name in neurons:
        s = tr[name, "s"].reshape(4, -1, steps)
        assert not s[..., -1].any(), name                   # quiescent in the last step
        active = np.flatnonzero(np.any(s != 0, axis=(0, 1)))
        last = max(last, int(active[-1]) + 1 if active.size else 0)
    assert 0 < last < steps - 1                             # + 1 synapse hop to the readout
    # the bound: +1 per synapse, + (S_max - S_min - 1) per ST-BIF+ layer (L = 8: 6)
    bound = settle_bound(net)
    assert bound["embed_conv"] == 2 and bound["embed"] == 2 + 6
    assert bound["b0_norm1_quant"] == bound["embed"] + 1 + 6


def _torch_integers(model, x):
    """The torch QANN's integer quantizer outputs (float64), by quantizer name."""
    m = copy.deepcopy(model).double().eval()
    ints = {}
    for name, q in quantizers(m).items():
        q.register_forward_hook(lambda mod, inp, out, name=name:
                                ints.__setitem__(name, mod.integer(inp[0]).numpy()))
    with torch.no_grad():
        m(torch.from_numpy(x).double())
    return ints


def test_each_layer_reproduces_the_torch_quantizer(ckpt, zip_digits, digits):
    """Teacher forcing: every ST-BIF+ population's integer total, computed from the torch QANN's
    integers of the layers before it, equals the torch quantizer's integer output except where
    8-bit weight/threshold rounding moves a value across a rounding boundary (< 1 %, by 1)."""
    net, meta = zip_digits.network, zip_digits.metadata
    x = digits.x_test[:150]
    b, cfg = len(x), ckpt.config
    n, h = cfg.patches + 1, cfg.heads
    dh = cfg.embed_dim // h
    ints = _torch_integers(ckpt.model, x)
    want = {"embed": ints["embed_quant"].transpose(0, 2, 1), "final_quant": ints["final_quant"]}
    for i in range(cfg.depth):
        p = f"blocks.{i}."
        want.update({f"b{i}_norm1_quant": ints[p + "norm1_quant"],
                     f"b{i}_attn": ints[p + "attn.attn_quant"],
                     f"b{i}_out": ints[p + "attn.after_attn_quant"].reshape(b, n, h, dh)
                     .transpose(0, 2, 1, 3),
                     f"b{i}_proj_quant": ints[p + "attn.proj_quant"],
                     f"b{i}_norm2_quant": ints[p + "norm2_quant"],
                     f"b{i}_act": ints[p + "mlp.act_quant"],
                     f"b{i}_fc2_quant": ints[p + "mlp.fc2_quant"]})
        want.update({f"b{i}_{k}": ints[p + f"attn.{k}_quant"] for k in "qkv"})
    enc = Encoding.from_dict(meta["encoding"])
    tot = {enc.input: enc.integers(x)}
    checked = 0
    for node in net:
        if isinstance(node, ir.Input):
            continue
        tot[node.name] = TOTALS[type(node)](node, [tot[s] for s in node.sources])
        if isinstance(node, StBif):
            got, ref = tot[node.name].reshape(b, -1), want[node.name].reshape(b, -1)
            assert np.abs(got - ref).max() <= 1, node.name
            assert np.mean(got != ref) < 0.01, (node.name, np.mean(got != ref))
            tot[node.name] = ref.reshape(tot[node.name].shape)
            checked += 1
    assert checked == len(want) == 1 + 10 * cfg.depth + 1


def test_integer_ann_agrees_with_torch_qann(ckpt, zip_digits, digits):
    """Measured, not exact (8-bit weights; integer LayerNorm/softmax): all 450 test samples."""
    si = int_scores(zip_digits.network, zip_digits.metadata, digits.x_test)
    pq = torch_predictions(ckpt.model, digits.x_test)
    assert (si.argmax(1) == pq).mean() >= 0.96
    assert (si.argmax(1) == digits.y_test).mean() >= 0.96


def test_structure_metadata_and_report(zip_digits, ckpt):
    net, meta = zip_digits.network, zip_digits.metadata
    cfg = ckpt.config
    neurons = [nd for nd in net if isinstance(nd, StBif)]
    assert len(neurons) == len(quantizers(ckpt.model)) == 2 + 10 * cfg.depth
    for nd in neurons:
        assert np.array_equal(nd.v0, np.asarray(nd.theta) // 2) and nd.start == 0
        assert (int(nd.s_max) - int(nd.s_min)) == cfg.levels - 1
    assert sum(isinstance(nd, SesaMatmul) for nd in net) == 2 * cfg.depth
    hosts = [nd.name for nd in net if getattr(nd, "host", False)]
    assert sorted(hosts) == sorted(meta["host_operators"])
    assert len(hosts) == 3 * cfg.depth + 1
    assert all(isinstance(net[h], (SpikeSoftmax, SpikeLayerNorm)) for h in hosts)
    assert all(net[h].hardware_note == HOST_NOTE for h in hosts)
    const = [nd for nd in net if isinstance(nd, StreamConst)]
    assert len(const) == 1 and const[0].at == 1                   # cls + pos at t = 0 only
    for key in ("steps", "encoding", "readout", "model", "model_sha256", "quantization",
                "target", "arch"):
        assert meta.get(key) is not None, key
    assert meta["arch"] == "spikezip" and meta["quantization"]["neuron"] == "ST-BIF+"
    for nd in net:
        if isinstance(nd, (ir.Conv, ir.Dense, TokenDense)):
            lo = 0 if nd.weight.min() >= 0 else -128
            assert lo <= nd.weight.min() and nd.weight.max() <= (255 if lo == 0 else 127)
    rows = zip_digits.report.rows
    assert {"weight", "threshold", "bias", "constant"} <= {r["quantity"] for r in rows}
    assert max(r["max_rel"] for r in rows if r["quantity"] == "weight") < 0.01


def test_bundle_round_trip(zip_digits, tmp_path):
    path = tmp_path / "zip.h5"
    write_bundle(zip_digits.network, path, metadata=zip_digits.metadata)
    back = read_bundle(path)
    assert [nd.name for nd in back] == [nd.name for nd in zip_digits.network]
    assert all(a.same_as(b) for a, b in zip(back, zip_digits.network))
    assert read_metadata(path)["steps"] == zip_digits.metadata["steps"]


def small_model(seed: int = 0):
    """A tiny random QViT (1 block, D = 8, 2 heads, L = 4) with LSQ steps initialised on data."""
    torch.manual_seed(seed)
    cfg = SpikeZIPConfig(input_shape=(1, 4, 4), num_classes=3, patch=(2, 2), embed_dim=8,
                         depth=1, heads=2, mlp_ratio=2.0, levels=4)
    model = build_model("spikezip", cfg)
    x = torch.rand(32, 1, 4, 4)
    model.train()
    with torch.no_grad():
        model(x)                                  # LSQ initialisation of every step
    return model.eval(), x.numpy().astype(np.float64)


@pytest.mark.parametrize("backend", backend_params("ref", "lava"))
def test_small_model_exact_and_bit_exact_on_lava(backend):
    model, x = small_model()
    conv = convert(model, x_train=x)
    net, meta = conv.network, conv.metadata
    assert meta["steps"] == settle_bound(net)["readout"]
    xs = x[:2] if backend == "lava" else x
    data = encode(meta, xs)
    ref = simulate(net, data, meta["steps"])
    ro = meta["readout"]
    scores = ref[ro["node"], "s"][..., -1] + np.asarray(ro["bias"])
    assert np.array_equal(scores, int_scores(net, meta, xs))
    assert sum(int(np.abs(ref[nd.name, "s"]).sum()) for nd in net if isinstance(nd, StBif)) > 0
    if backend == "lava":
        from neurodeploy.lava.backend import LavaBackend
        comp = compare(ref, LavaBackend(net).run(data, meta["steps"]))
        assert comp.bit_exact, str(comp.first_divergence)
        assert len(comp.layers) > 20
