"""Torch side of the model zoo: quantizers, architectures, presets, checkpoints, shipped models."""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from neurodeploy.errors import UnsupportedError
from neurodeploy.models import (
    ARCHITECTURES,
    PRESETS,
    CSDformerConfig,
    LSQQuantizer,
    PhaseQuantizer,
    SpikedAttentionConfig,
    SpikeZIPConfig,
    WOSSSoftmax,
    build_model,
    calibrate,
    load_checkpoint,
    save_checkpoint,
    set_quantization,
)
from neurodeploy.models.csdformer import PAPER_PARAMS_M
from neurodeploy.models.evaluate import count_correct
from neurodeploy.models.quant import round_half_up

MODELS = Path(__file__).resolve().parent.parent / "models"
SMALL = {
    "csdformer": CSDformerConfig(input_shape=(1, 8, 8), embed_dim=16, depth=2, heads=2,
                                 tokenizer_channels=(8, 16), tokenizer_pool=(False, True)),
    "spikezip": SpikeZIPConfig(input_shape=(1, 8, 8), patch=(2, 2), patch_kernel=(4, 4),
                               embed_dim=16, depth=2, heads=2, levels=8),
    "spikedattention": SpikedAttentionConfig(input_shape=(1, 8, 8), patch=(2, 2), embed_dim=16,
                                             depth=2, heads=2),
}


def _trained(arch: str) -> nn.Module:
    """A small model with initialised quantizers (one training forward) / calibrated slots."""
    torch.manual_seed(0)
    model = build_model(arch, SMALL[arch])
    x = torch.rand(8, 1, 8, 8)
    if arch == "spikedattention":
        calibrate(model, [x])
    else:
        model.train()
        model(x)
    return model.eval()


# ---- quantizers ----------------------------------------------------------------------------

def test_round_half_up_differs_from_torch_round_at_ties() -> None:
    x = torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])
    assert round_half_up(x).tolist() == [-2, -1, 0, 1, 2, 3]
    assert torch.round(x).tolist() == [-2, -2, 0, 0, 2, 2]  # half-to-even: not used


@pytest.mark.parametrize("kind,levels,rng", [("csd", 4, (0, 4)), ("sym", 8, (-4, 3)),
                                             ("unsigned", 8, (0, 7))])
def test_lsq_ties_range_and_integer(kind: str, levels: int, rng: tuple[int, int]) -> None:
    q = LSQQuantizer(levels, kind).eval()
    assert (q.qmin, q.qmax) == rng
    with torch.no_grad():
        q.s.fill_(0.5)
    ties = torch.arange(-6, 6, dtype=torch.float32) + 0.5  # exact .5 ties in units of s
    x = ties * 0.5
    expected = torch.clamp(torch.floor(ties + 0.5), *rng).to(torch.int64)
    assert torch.equal(q.integer(x), expected)
    assert torch.equal(q(x), expected.float() * 0.5)
    # random inputs: forward == integer * step, exactly, and inside the range
    x = torch.randn(1000) * 3
    i = q.integer(x)
    assert int(i.min()) >= rng[0] and int(i.max()) <= rng[1]
    assert torch.equal(q(x), i.float() * q.s.detach())
    assert q.step == 0.5
    with torch.no_grad():
        q.s.fill_(0.3712)  # not a dyadic number: forward must still be integer * s exactly
    assert torch.equal(q(x), q.integer(x).float() * q.s.detach())


def test_lsq_init_and_ste_gradient() -> None:
    q = LSQQuantizer(4, "csd").train()
    x = torch.rand(64, 10, requires_grad=True)
    y = q(x)
    assert q.step == pytest.approx(float(2 * x.detach().abs().mean() / math.sqrt(4)), rel=1e-6)
    assert bool(q.initialized)
    y.sum().backward()
    inside = (x.detach() / q.step < 4)
    assert torch.equal(x.grad[inside], torch.ones_like(x.grad[inside]))  # straight-through
    assert q.s.grad is not None and float(q.s.grad) != 0
    q.enabled = False
    assert torch.equal(q(torch.tensor([-1.0, 0.3])), torch.tensor([0.0, 0.3]))  # float: ReLU


def test_phase_quantizer_worked_example() -> None:
    p = PhaseQuantizer(1.4, 16, signed=True)  # spec 3.2 worked example, convention a'
    p.scale.fill_(1.0)
    p.mode = "quant"
    x = torch.tensor([1.0, 0.9, 0.5, 0.2, -0.3, 0.05, 1e-4], dtype=torch.float64)
    assert p.integer(x).tolist() == [1, 1, 3, 6, -5, 10, 0]  # sign * (k + 1); 0 = silent
    code = p.integer(x)
    expect = torch.sign(code) * 1.4 ** -(code.abs() - 1).double() * (code != 0)
    assert torch.allclose(p(x), expect, rtol=0, atol=1e-15)


def test_woss_softmax() -> None:
    w = WOSSSoftmax(1.4, 16)
    z = torch.tensor([[2.0, 1.5, 1.0, 0.3, -0.5, 0.0, 1.9, 0.7]], dtype=torch.float64)
    assert w.integer(z).tolist() == [[0, 1, 3, 5, 7, 6, 0, 4]]  # floor(dz / ln B + 1/2)
    w.mode = "quant"
    p = w(z)
    assert float(p.sum()) == pytest.approx(1.0)
    assert torch.allclose(p, 1.4 ** -w.integer(z).double() / (1.4 ** -w.integer(z).double()).sum())
    assert w.integer(torch.tensor([[0.0, -20.0]])).tolist() == [[0, -1]]  # k > T-1: silent


# ---- architectures ---------------------------------------------------------------------------

@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_forward_shapes_float_and_quant(arch: str) -> None:
    model = _trained(arch)
    x = torch.rand(3, 1, 8, 8)
    assert model(x).shape == (3, 10)
    set_quantization(model, False)
    assert model(x).shape == (3, 10)


def test_presets_params_and_forward() -> None:
    """Paper parameter counts (spec 4.1) within 0.5 %; 32x32 forward real, 224x224 on meta."""
    for name, (_arch, cfg) in PRESETS.items():
        if cfg.input_shape[1] == 32:
            model = build_model(name).eval()
            with torch.no_grad():
                assert model(torch.rand(1, *cfg.input_shape)).shape == (1, cfg.num_classes)
        else:
            with torch.device("meta"):
                model = build_model(name).eval()
                assert model(torch.empty(1, *cfg.input_shape)).shape == (1, 1000)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        assert params == pytest.approx(PAPER_PARAMS_M[name], rel=0.005), name
    assert build_model("csdformer-8-768").config.tokens == 196
    real = build_model("csdformer-8-384")  # real random weights (CPU), same count as on meta
    assert sum(p.numel() for p in real.parameters()) / 1e6 == pytest.approx(16.81, rel=0.005)


def test_calibrate_sets_every_slot() -> None:
    model = _trained("spikedattention")
    slots = [m for m in model.modules() if isinstance(m, PhaseQuantizer)]
    assert slots and all(float(m.scale) > 0 and m.mode == "quant" for m in slots)


# ---- checkpoints -----------------------------------------------------------------------------

@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_checkpoint_round_trip(arch: str, tmp_path: Path) -> None:
    model = _trained(arch)
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, meta={"note": "x"})
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temp file left behind
    ck = load_checkpoint(path)
    x = torch.rand(4, 1, 8, 8)
    assert ck.arch == arch and ck.meta == {"note": "x"} and ck.config == model.config
    with torch.no_grad():
        assert torch.equal(ck.model(x), model(x))


def _problems(path: Path) -> str:
    with pytest.raises(UnsupportedError) as exc:
        load_checkpoint(path)
    assert str(path) in str(exc.value)
    return str(exc.value)


def test_bad_checkpoints(tmp_path: Path) -> None:
    model = _trained("csdformer")
    good = tmp_path / "good.pt"
    save_checkpoint(good, model)
    data = torch.load(good, weights_only=True)

    bare = dict(data["state_dict"])
    bare["blocks.0.norm1.weight"] = torch.ones(16)  # a LayerNorm: not in CSDformer
    bare["blocks.0.norm1.bias"] = torch.zeros(16)
    torch.save(bare, tmp_path / "bare.pt")
    msg = _problems(tmp_path / "bare.pt")
    assert "blocks.0.norm1.weight" in msg and "BatchNorm" in msg and "save_checkpoint" in msg

    torch.save(nn.Linear(2, 2), tmp_path / "pickled.pt")  # a pickled class
    assert "weights_only=True" in _problems(tmp_path / "pickled.pt")

    wrong = dict(data, config=dict(data["config"], embed_dim=32, tokenizer_channels=[8, 32]))
    torch.save(wrong, tmp_path / "shape.pt")
    assert "blocks.0.attn.q_linear.weight" in _problems(tmp_path / "shape.pt")

    extra = dict(data, state_dict=dict(data["state_dict"], **{"blocks.0.gelu.weight": bare[
        "blocks.0.norm1.bias"]}))
    torch.save(extra, tmp_path / "extra.pt")
    assert "blocks.0.gelu" in _problems(tmp_path / "extra.pt")

    torch.save(dict(data, arch="resnet"), tmp_path / "arch.pt")
    assert "resnet" in _problems(tmp_path / "arch.pt")
    torch.save(dict(data, config=dict(data["config"], dropout=0.1)), tmp_path / "cfg.pt")
    assert "dropout" in _problems(tmp_path / "cfg.pt")

    raw = build_model("csdformer", SMALL["csdformer"])  # quantizers never trained
    save_checkpoint(tmp_path / "untrained.pt", raw)
    assert "quantization-aware training" in _problems(tmp_path / "untrained.pt")
    assert "does not exist" in _problems(tmp_path / "missing.pt")


# ---- data ------------------------------------------------------------------------------------

def test_datasets_offline_and_deterministic() -> None:
    from neurodeploy.data import load_dataset

    d = load_dataset("digits")
    assert d.x_train.shape == (1347, 1, 8, 8) and d.x_test.shape == (450, 1, 8, 8)
    assert d.x_train.dtype == np.float32 and 0 <= d.x_train.min() and d.x_train.max() <= 1
    assert np.array_equal(d.y_test, load_dataset("digits").y_test)
    m = load_dataset("mnist1d")
    assert m.x_train.shape == (4000, 1, 1, 40) and m.x_test.shape == (1000, 1, 1, 40)
    assert m.input_shape == (1, 1, 40) and m.classes == 10 and m.y_train.dtype == np.int64


# ---- shipped models --------------------------------------------------------------------------

SHIPPED = sorted(MODELS.glob("*.pt"))


def test_every_recipe_is_shipped() -> None:
    assert {p.stem for p in SHIPPED} >= {"csdformer-digits", "spikezip-digits",
                                         "spikedattention-digits", "csdformer-mnist1d"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_model_reproduces_card(path: Path) -> None:
    from neurodeploy.data import load_dataset

    assert path.stat().st_size < 1 << 20
    card = path.with_suffix(".md").read_text()
    ck = load_checkpoint(path)
    data = load_dataset(ck.meta["dataset"])
    n = len(data.y_test)
    for rung, model in (("QANN (torch)", ck.model), ("float ANN", ck.float_model())):
        m = re.search(re.escape(rung) + r" test accuracy: [\d.]+ % \((\d+)/(\d+)\)", card)
        assert m, f"{path.with_suffix('.md')} has no '{rung}' accuracy line"
        assert int(m.group(2)) == n
        assert count_correct(model, data.x_test, data.y_test) == int(m.group(1)), rung
    assert np.isclose(ck.meta["qann_accuracy"], ck.meta["qann_correct"] / n)
