"""IR validation: every out-of-range field and malformed graph names layer, field, value, limit."""
from __future__ import annotations

import numpy as np
import pytest

from neurodeploy import ir
from neurodeploy.errors import IRError, RangeError


def _net(**cuba):
    return ir.chain([ir.Input("in", shape=(3,)), ir.Dense("fc", weight=np.ones((2, 3), int)),
                     ir.Cuba("n", shape=(2,), **cuba)])


@pytest.mark.parametrize("field,value,limit", [
    ("i_decay", 4097, "[0, 4096]"), ("v_decay", 4096, "[0, 4095]"), ("vth", 2**17, "[0, 131071]"),
    ("bias_mant", -4097, "[-4096, 4095]"), ("bias_exp", 8, "[0, 7]"),
    ("refractory", 64, "[0, 63]"), ("message_bits", 25, "[0, 24]"),
])
def test_neuron_ranges(field, value, limit):
    with pytest.raises(RangeError) as info:
        _net(**{field: value}).validate()
    text = str(info.value)
    assert "layer 'n'" in text and f"field '{field}'" in text and str(value) in text
    assert limit in text


@pytest.mark.parametrize("weight,bits,exp,bad", [
    ([[128, -1, 0]], 8, 0, 128), ([[-129, 1, 0]], 8, 0, -129), ([[256, 0, 0]], 8, 0, 256),
    ([[-256, 0, 0]], 8, 0, -256), ([[8, -1, 0]], 4, 0, 8), ([[1, 2, 3]], 8, 8, 8),
    ([[1, 2, 3]], 9, 0, 9), ([[1, 2, 3]], 8, -8, -8),
])
def test_weight_ranges(weight, bits, exp, bad):
    net = ir.chain([ir.Input("in", shape=(3,)),
                    ir.Dense("fc", weight=weight, num_weight_bits=bits, weight_exp=exp),
                    ir.Cuba("n", shape=(1,))])
    with pytest.raises(RangeError) as info:
        net.validate()
    assert "layer 'fc'" in str(info.value) and str(bad) in str(info.value)


def test_sign_mode_ranges():
    assert ir.weight_range(ir.SignMode.MIXED, 8) == (-128, 127)
    assert ir.weight_range(ir.SignMode.EXCITATORY, 8) == (0, 255)
    assert ir.weight_range(ir.SignMode.INHIBITORY, 8) == (-255, 0)
    assert ir.sign_mode(np.array([[0, 3]])) == ir.SignMode.EXCITATORY
    assert ir.sign_mode(np.array([[0, -3]])) == ir.SignMode.INHIBITORY


def test_float_weights_must_be_integral():
    with pytest.raises(RangeError, match="integers"):
        ir.Dense("fc", weight=[[0.5]])
    assert ir.Dense("fc", weight=[[2.0]]).weight.dtype == np.int64


def test_graph_errors():
    with pytest.raises(IRError, match="unknown node"):
        ir.Network([ir.Input("in", shape=(2,)), ir.Cuba("n", sources=("nope",), shape=(2,))]) \
            .validate()
    with pytest.raises(IRError, match="duplicate"):
        ir.Network([ir.Input("in", shape=(2,)), ir.Input("in", shape=(2,))]).validate()
    loop = ir.Network([ir.Input("in", shape=(2,)), ir.Flatten("a", sources=("b",)),
                       ir.Flatten("b", sources=("a",))])
    with pytest.raises(IRError, match="zero-latency loop"):
        loop.validate()
    with pytest.raises(IRError, match="1-D source"):
        ir.chain([ir.Input("in", shape=(1, 2, 2)), ir.Dense("fc", weight=np.ones((2, 4), int)),
                  ir.Cuba("n", shape=(2,))]).validate()
    with pytest.raises(IRError, match="neuron shape"):
        _net().nodes[2].validate([(3,)])


def test_recurrent_dense_is_legal_and_shapes_infer():
    net = ir.Network([ir.Input("in", shape=(4,)),
                      ir.Dense("fc", ("in",), weight=np.eye(4, dtype=int)),
                      ir.Cuba("n", ("fc", "rec"), shape=(4,)),
                      ir.Dense("rec", ("n",), weight=-np.eye(4, dtype=int))]).validate()
    assert net.shapes()["rec"] == (4,)
    assert [n.name for n in net.step_order()].index("n") > 0


def test_conv_and_pool_shapes():
    conv = ir.Conv("c", ("in",), weight=np.ones((4, 1, 3, 2), int), stride=(2, 1),
                   padding=1, dilation=(1, 2), groups=2)
    assert conv.output_shape([(2, 7, 5)]) == (4, 4, 5)
    pool = ir.SumPool("p", ("in",), weight=1, kernel=2)
    assert pool.output_shape([(3, 5, 4)]) == (3, 2, 2)
    with pytest.raises(IRError, match="groups"):
        conv.validate([(3, 7, 5)])
