"""Hand-derived integer traces that every backend must reproduce (Lava's own LIF tests and the
24-bit wrap/saturation quirks measured in spec/lava.md §2.1), the timing convention, and strict
overflow mode."""
from __future__ import annotations

import numpy as np
import pytest
from backends import ALL, run

from neurodeploy import ir
from neurodeploy.errors import StateOverflowError

BIG_VTH = 2**17 - 1


def _graded_net(i_decay=4096, v_decay=0, vth=BIG_VTH, bias=0, bias_exp=0):
    return ir.chain([ir.Input("in", shape=(1,), message_bits=24),
                     ir.Dense("syn", weight=[[1]]),
                     ir.Cuba("n", shape=(1,), i_decay=i_decay, v_decay=v_decay, vth=vth,
                             bias_mant=bias, bias_exp=bias_exp)]).validate()


@pytest.mark.parametrize("backend", ALL)
def test_current_impulse_decays_by_halves(backend):
    """Lava's test_bitacc_pm_impulse_du: impulse 128, du=2047 → u = 1 << (13 - j)."""
    net = ir.chain([ir.Input("in", shape=(1,)), ir.Dense("syn", weight=[[128]]),
                    ir.Cuba("n", shape=(1,), i_decay=2048, vth=BIG_VTH)]).validate()
    x = np.zeros((1, 1, 9), dtype=int)
    x[0, 0, 0] = 1
    u = run(backend, net, x)["n", "u"][0, 0]
    assert u[0] == 0                       # the synapse delivers one step later
    assert u[1:].tolist() == [1 << (13 - j) for j in range(8)]


@pytest.mark.parametrize("backend", ALL)
def test_u_wrap_quirks(backend):
    """+2**23 is kept; 2**17+1 wraps to -8388544; -2**17 becomes +2**23 (one wrap only)."""
    x = np.array([[[2**17, 0, 131073, 0, -2**17]]])
    u = run(backend, _graded_net(), x, 6)["n", "u"][0, 0]
    assert u[1:6:2].tolist() == [8388608, -8388544, 8388608]


@pytest.mark.parametrize("backend", ALL)
def test_v_saturates_and_threshold_is_strict(backend):
    x = np.full((1, 1, 8), -2**16)       # negative: saturation without a spike
    v = run(backend, _graded_net(v_decay=0), x)["n", "v"][0, 0]
    assert v[:4].tolist() == [0, -2**22, -2**23 + 1, -2**23 + 1] and v[-1] == -2**23 + 1
    x = np.full((1, 1, 3), 2**16)        # positive saturation always exceeds vth << 6
    v = run(backend, _graded_net(v_decay=0), x)["n", "v"][0, 0]
    assert v.tolist() == [0, 2**22, 0]
    # v > vth << 6 fires, v == vth << 6 does not: current 64 units -> v = 4096 = 64 << 6
    x = np.zeros((1, 1, 4), dtype=int)
    x[0, 0, 0] = 64
    tr = run(backend, _graded_net(i_decay=4096, v_decay=4096 - 1, vth=64), x, 4)
    assert tr["n", "s"][0, 0].sum() == 0
    tr = run(backend, _graded_net(i_decay=4096, v_decay=4095, vth=63), x, 4)
    assert tr["n", "s"][0, 0].tolist() == [0, 1, 0, 0]
    assert tr["n", "v"][0, 0].tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize("backend", ALL)
def test_one_step_per_layer(backend):
    """Input at step 1 → first layer fires at step 2, second at step 3 (spec/lava.md §0.2)."""
    net = ir.chain([ir.Input("in", shape=(1,)), ir.Dense("a", weight=[[127]]),
                    ir.Cuba("n1", shape=(1,), vth=1), ir.Dense("b", weight=[[127]]),
                    ir.Cuba("n2", shape=(1,), vth=1)]).validate()
    x = np.zeros((1, 1, 5), dtype=int)
    x[0, 0, 0] = 1
    tr = run(backend, net, x)
    assert np.flatnonzero(tr["n1", "s"][0, 0]).tolist()[0] == 1
    assert np.flatnonzero(tr["n2", "s"][0, 0]).tolist()[0] == 2


@pytest.mark.parametrize("backend", ALL)
def test_bias_every_step_and_reset_keeps_u(backend):
    net = ir.chain([ir.Input("in", shape=(1,)), ir.Dense("syn", weight=[[0]]),
                    ir.Cuba("n", shape=(1,), vth=5, bias_mant=3, bias_exp=7)]).validate()
    tr = run(backend, net, np.zeros((1, 1, 6), dtype=int))
    # v grows by 3 << 7 = 384 per step, spikes when v > 5 << 6 = 320: every step, then reset
    assert tr["n", "s"][0, 0].tolist() == [1] * 6
    assert tr["n", "v"][0, 0].tolist() == [0] * 6


@pytest.mark.parametrize("backend", ALL)
def test_refractory_and_graded_payload(backend):
    net = ir.chain([ir.Input("in", shape=(1,), message_bits=16), ir.Dense("syn", weight=[[1]]),
                    ir.Cuba("n", shape=(1,), i_decay=4096, v_decay=4095, vth=10,
                            refractory=2, message_bits=5)]).validate()
    x = np.full((1, 1, 8), 40)
    tr = run(backend, net, x)
    # v = 40 << 6 after each input; payload min(40, 31) = 31; 2 silent steps after each spike
    assert tr["n", "s"][0, 0].tolist() == [0, 31, 0, 0, 31, 0, 0, 31]
    assert tr["n", "ref"][0, 0].tolist() == [0, 2, 1, 0, 2, 1, 0, 2]


@pytest.mark.parametrize("backend", ALL)
def test_strict_mode_names_the_first_overflow(backend):
    x = np.array([[[0, 131073, 0]]])
    with pytest.raises(StateOverflowError) as info:
        run(backend, _graded_net(), x, 3, strict=True)
    err = info.value
    assert (err.layer, err.field, err.step, err.neuron) == ("n", "u", 3, (0,))
    assert "24-bit" in str(err) and "'n'" in str(err) and "step 3" in str(err)
    # the same input without strict mode runs and reports the wrap
    tr = run("ref", _graded_net(), x, 3)
    assert [(e.layer, e.variable, e.step) for e in tr.overflow] == [("n", "u", 3)]


def test_exact_float_matmul_bounds():
    from neurodeploy.sim.arith import exact_float_dtype, int_matmul
    assert exact_float_dtype(2**24 - 1) is np.float32
    assert exact_float_dtype(2**24) is np.float64
    assert exact_float_dtype(2**53) is None
    rng = np.random.default_rng(0)
    x = rng.integers(-2**23, 2**23, (4, 300))
    w = rng.integers(-255, 256, (300, 5))
    exact = x.astype(object) @ w.astype(object)
    bound = float(np.abs(w).sum(0).max()) * 2**23
    assert (int_matmul(x, w, bound).astype(object) == exact).all()
    assert (int_matmul(x, w, 2**60).astype(object) == exact).all()   # int64 path
