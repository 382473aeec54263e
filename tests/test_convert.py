"""Converters (neurodeploy.convert): the CSDformer integer IR reproduces the integer QANN exactly
in the reference SNN (D = T-1), the per-layer quantisation report, the converter nodes
(TokenDense == its expanded Dense, Relay), and the full-size presets convert."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from neurodeploy import ir
from neurodeploy.convert import convert, int_scores, resolve_model, snn_scores
from neurodeploy.convert.nodes import Relay, TokenDense, expand_token_dense
from neurodeploy.data import load_dataset
from neurodeploy.errors import UnsupportedError
from neurodeploy.models import build_model, load_checkpoint
from neurodeploy.sim.reference import simulate


@pytest.fixture(scope="module")
def csd_digits():
    return convert(load_checkpoint(resolve_model("csdformer-digits")))


def test_csdformer_snn_equals_integer_qann_on_every_test_sample(csd_digits, digits):
    """All 450 held-out digits: accumulated head membrane (+ integer bias) == integer QANN."""
    net, meta = csd_digits.network, csd_digits.metadata
    si = int_scores(net, meta, digits.x_test)
    ss = snn_scores(net, meta, digits.x_test, batch=150)
    assert np.array_equal(ss, si)
    assert (si.argmax(1) == digits.y_test).mean() >= 0.98       # integer QANN keeps the QANN


def test_csdformer_mnist1d_exact_on_first_samples():
    conv = convert(load_checkpoint(resolve_model("csdformer-mnist1d")))
    x = load_dataset("mnist1d").x_test[:60]
    assert conv.metadata["quantization"]["dif_delay"] == conv.metadata["quantization"]["levels"] - 1
    assert np.array_equal(snn_scores(conv.network, conv.metadata, x),
                          int_scores(conv.network, conv.metadata, x))


def test_metadata_and_report(csd_digits):
    m = csd_digits.metadata
    for key in ("steps", "encoding", "readout", "model", "model_sha256", "quantization",
                "target", "arch"):
        assert m.get(key) is not None, key
    assert m["encoding"]["scale"] == 16 and m["encoding"]["bits"] == 6     # digits are exact
    rows = csd_digits.report.rows
    kinds = {r["quantity"] for r in rows}
    assert {"weight", "threshold", "bias", "constant"} <= kinds
    assert max(r["max_rel"] for r in rows) < 0.02
    for node in csd_digits.network:
        if isinstance(node, (ir.Conv, ir.Dense, TokenDense)):
            assert np.abs(node.weight).max() <= 127 and node.weight_exp == 0


def test_integer_encoding_of_mnist1d_is_power_of_two():
    conv = convert(load_checkpoint(resolve_model("csdformer-mnist1d")))
    enc = conv.metadata["encoding"]
    assert enc["bits"] == 8 and np.log2(enc["scale"]) == int(np.log2(enc["scale"]))


@pytest.mark.parametrize("graded", [False, True])
def test_token_dense_equals_its_expanded_dense(graded):
    rng = np.random.default_rng(3)
    n, din, dout, heads = 5, 6, 4, 2
    w = rng.integers(-128, 128, (dout, din))
    in_idx = np.arange(din)[None] * n + np.arange(n)[:, None]                 # channel-major
    out_idx = (np.arange(dout)[None] // 2) * n * 2 + np.arange(n)[:, None] * 2 + \
        np.arange(dout)[None] % 2                                              # head-major
    bits = 2 if graded else 0
    x = rng.integers(-1 if graded else 0, 2, (3, n * din, 6))
    src = ir.Input("x", shape=(n * din,), message_bits=bits)
    td = TokenDense("td", sources=("x",), weight=w, in_index=in_idx, out_index=out_idx,
                    shape=(n * dout,))
    dense = ir.Dense("td", sources=("x",), weight=expand_token_dense(td, n * din))
    del heads
    a = simulate(ir.Network([src, td, Relay("r", sources=("td",))]), x, 6)
    b = simulate(ir.Network([src, dense, Relay("r", sources=("td",))]), x, 6)
    assert np.array_equal(a["r", "s"], b["r", "s"]) and np.abs(a["r", "s"]).sum() > 0


def test_relay_delays_sums_and_gathers():
    x = np.arange(1, 7).reshape(1, 6, 1) * np.array([1, 0, 0, 0])[None, None]
    idx = np.array([5, 4, 3, 2, 1, 0])
    net = ir.Network([ir.Input("x", shape=(6,), message_bits=8),
                      Relay("r", sources=("x", "x"), delay=2, index=idx, shape=(2, 3))])
    s = simulate(net, x, 4)["r", "s"]
    assert s.shape == (1, 2, 3, 4) and s[..., :2].sum() == 0 and s[..., 3].sum() == 0
    assert np.array_equal(s[0, ..., 2].reshape(-1), 2 * np.arange(6, 0, -1))


def test_preset_4_384_converts_with_random_weights():
    torch.manual_seed(0)
    conv = convert(build_model("csdformer-4-384"))
    assert conv.network.validate() and conv.metadata["quantization"]["dif_delay"] == 3
    big = [n for n in conv.network if isinstance(n, TokenDense)]
    assert big and big[0].in_index.shape == (64, 384)


def test_unsupported_model_is_reported(tmp_path):
    path = tmp_path / "bare.pt"
    torch.save({"conv.weight": torch.zeros(2, 1, 3, 3), "ln.weight": torch.ones(2)}, path)
    with pytest.raises(UnsupportedError) as err:
        load_checkpoint(path)
    assert "bare" in str(err.value) and err.value.problems
