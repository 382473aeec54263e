"""Random IR layers over the full legal integer ranges, for backend-equivalence tests.

Each generator draws one small sub-network (Input → synapse → Cuba) whose parameters span the
whole legal range of every field, including values chosen to wrap or saturate the 24-bit state.
Many sub-networks are run side by side as one network so that one Lava compile covers them all.
"""
from __future__ import annotations

import numpy as np

from neurodeploy import ir

EDGE = 0.25   # share of configurations drawn at the edges of the ranges


def _weights(rng, shape, bits: int, mode: str) -> np.ndarray:
    lo, hi = ir.weight_range({"mixed": ir.SignMode.MIXED, "exc": ir.SignMode.EXCITATORY,
                              "inh": ir.SignMode.INHIBITORY}[mode], bits)
    w = rng.integers(lo, hi + 1, size=shape)
    if rng.random() < EDGE:                       # extreme magnitudes
        w = np.where(rng.random(shape) < 0.5, lo, hi)
    if mode == "mixed" and (w.min() >= 0 or w.max() <= 0):
        w.flat[0], w.flat[-1] = lo, hi            # keep the matrix mixed-sign
    return w


def _neuron(rng, name: str, src: str, shape: tuple, lif_only: bool) -> ir.Cuba:
    edge = rng.random() < EDGE
    per_neuron = not lif_only and rng.random() < 0.3
    pshape = shape if per_neuron else ()
    bits = 0 if lif_only or rng.random() < 0.6 else int(rng.integers(1, 25))
    lowest = 1 if bits else 0        # graded payloads need vth >= 1
    return ir.Cuba(
        name, sources=(src,), shape=shape,
        i_decay=rng.choice([0, 1, 4095, 4096], pshape) if edge else rng.integers(0, 4097, pshape),
        v_decay=rng.choice([0, 1, 4095], pshape) if edge else rng.integers(0, 4096, pshape),
        vth=rng.choice([lowest, 1, 2**17 - 1], pshape) if edge
        else rng.integers(lowest, 2**17, pshape),
        bias_mant=rng.integers(-4096, 4096, shape) if rng.random() < 0.5 else np.zeros(shape, int),
        bias_exp=rng.integers(0, 8, shape),
        refractory=0 if lif_only or rng.random() < 0.6 else int(rng.integers(1, 64)),
        message_bits=bits,
    )


def _input(rng, name: str, shape: tuple, graded: bool) -> ir.Input:
    return ir.Input(name, shape=shape, message_bits=int(rng.integers(1, 25)) if graded else 0)


def input_data(rng, node: ir.Input, steps: int, batch: int = 1) -> np.ndarray:
    shape = (batch, *node.shape, steps)
    if node.message_bits == 0:
        return (rng.random(shape) < rng.uniform(0.05, 0.9)).astype(np.int64)
    lo, hi = node.value_range()
    x = rng.integers(lo, hi + 1, size=shape)
    return np.where(rng.random(shape) < 0.5, x, 0)


def dense_layer(rng, tag: str, graded: bool = False, delays: bool = False,
                lif_only: bool = False) -> list[ir.Node]:
    n_in, n_out = (int(v) for v in rng.integers(1, 9, 2))
    bits = int(rng.integers(1, 9))
    mode = rng.choice(["mixed", "exc", "inh"], p=[0.6, 0.2, 0.2])
    inp = _input(rng, f"{tag}_in", (n_in,), graded)
    syn = ir.Dense(f"{tag}_fc", sources=(inp.name,),
                   weight=_weights(rng, (n_out, n_in), bits, mode),
                   weight_exp=int(rng.integers(-7, 8)), num_weight_bits=bits,
                   delay=rng.integers(0, 63 if rng.random() < 0.2 else 4, (n_out, n_in))
                   if delays else None)
    return [inp, syn, _neuron(rng, f"{tag}_n", syn.name, (n_out,), lif_only)]


def conv_layer(rng, tag: str, graded: bool = False, lif_only: bool = False) -> list[ir.Node]:
    groups = int(rng.choice([1, 1, 2]))
    c_in = groups * int(rng.integers(1, 3))
    c_out = groups * int(rng.integers(1, 3))
    kh, kw = (int(v) for v in rng.integers(1, 4, 2))
    h, w = kh + int(rng.integers(0, 4)), kw + int(rng.integers(0, 4))
    bits = int(rng.integers(1, 9))
    mode = rng.choice(["mixed", "exc", "inh"], p=[0.6, 0.2, 0.2])
    inp = _input(rng, f"{tag}_in", (c_in, h, w), graded)
    syn = ir.Conv(f"{tag}_conv", sources=(inp.name,),
                  weight=_weights(rng, (c_out, c_in // groups, kh, kw), bits, mode),
                  weight_exp=int(rng.integers(0, 8)), num_weight_bits=bits,
                  stride=tuple(int(v) for v in rng.integers(1, 3, 2)),
                  padding=tuple(int(v) for v in rng.integers(0, 2, 2)),
                  dilation=tuple(int(v) for v in rng.integers(1, 3, 2)), groups=groups)
    shape = syn.output_shape([inp.shape])
    if min(shape) < 1:
        return conv_layer(rng, tag, graded, lif_only)
    return [inp, syn, _neuron(rng, f"{tag}_n", syn.name, shape, lif_only)]


def pool_layer(rng, tag: str, graded: bool = False, lif_only: bool = False) -> list[ir.Node]:
    c = int(rng.integers(1, 4))
    k = tuple(int(v) for v in rng.integers(1, 4, 2))
    inp = _input(rng, f"{tag}_in", (c, k[0] + int(rng.integers(0, 4)),
                                     k[1] + int(rng.integers(0, 4))), graded)
    bits = int(rng.integers(1, 9))
    mode = rng.choice(["mixed", "exc", "inh"], p=[0.0, 0.7, 0.3])
    lo, hi = ir.weight_range({"exc": ir.SignMode.EXCITATORY, "inh": ir.SignMode.INHIBITORY}[mode],
                             bits)
    syn = ir.SumPool(f"{tag}_pool", sources=(inp.name,), weight=int(rng.integers(lo, hi + 1)),
                     weight_exp=int(rng.integers(0, 8)), num_weight_bits=bits, kernel=k,
                     stride=tuple(int(v) for v in rng.integers(1, 3, 2)),
                     padding=tuple(int(v) for v in rng.integers(0, 2, 2)))
    shape = syn.output_shape([inp.shape])
    return [inp, syn, _neuron(rng, f"{tag}_n", syn.name, shape, lif_only)]


GENERATORS = {"dense": dense_layer, "conv": conv_layer, "pool": pool_layer}


def parallel_network(rng, kind: str, count: int, graded: bool, **kw) -> ir.Network:
    """``count`` independent random sub-networks of one kind, as one IR network."""
    net = ir.Network(name=f"random_{kind}")
    for i in range(count):
        for node in GENERATORS[kind](rng, f"{kind}{i}", graded=graded, **kw):
            net.add(node)
    return net.validate()
