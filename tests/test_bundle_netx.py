"""netx/HDF5 bundle reader and writer: round trips, netx semantics, warnings, the extension.

Only the last test touches Lava (netx construction, no run); it is skipped when lava-dl is absent.
"""
from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

from neurodeploy import ir
from neurodeploy.bundle import (
    NetxWarning,
    netx_compatibility,
    netx_prepared_weights,
    read_bundle,
    write_bundle,
)
from neurodeploy.errors import BundleError, UnsupportedError

# ============================================================================================
# helpers (also imported by test_bundle_errors.py would couple the files: it has its own)
# ============================================================================================

def netx_test_dir() -> Path | None:
    """lava-dl's shipped netx test directory (tiny.net, mnist.net, gts/...), or None."""
    spec = importlib.util.find_spec("lava")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]).parent / "tests/lava/lib/dl/netx"
    return d if (d / "tiny.net").exists() else None


def write_netx(path: Path, layers: list[dict]) -> Path:
    """Write ``layer/<i>`` groups as slayer does: ``type`` as (1,) S10, the rest as given."""
    with h5py.File(path, "w") as f:
        root = f.create_group("layer")
        for i, d in enumerate(layers):
            g = root.create_group(str(i))
            for key, value in d.items():
                if key == "type":
                    g.create_dataset("type", (1,), "S10", [value.encode()])
                elif key == "neuron/type":
                    g.create_dataset(key, data=value, dtype=h5py.string_dtype())
                else:
                    g.create_dataset(key, data=value)
    return path


def cuba_ds(vth=80, idecay=1024, vdecay=128, **extra) -> dict:
    d = {"neuron/type": "CUBA", "neuron/vThMant": vth, "neuron/iDecay": idecay,
         "neuron/vDecay": vdecay, "neuron/refDelay": 1, "neuron/gradedSpike": False}
    d.update({f"neuron/{k}": v for k, v in extra.items()})
    return d


def dense_layer(w, bias=None, delay=None, neuron=True, **neuron_kw) -> dict:
    w = np.asarray(w)
    d = {"type": "dense", "shape": np.array([w.shape[0]]), "weight": w.astype(np.float32)}
    if bias is not None:
        d["bias"] = np.asarray(bias, dtype=np.float32)
    if delay is not None:
        d["delay"] = np.asarray(delay, dtype=np.float32)
    if neuron:
        d.update(cuba_ds(**neuron_kw))
    return d


# -- random IR networks over the full legal ranges -------------------------------------------
def rand_weights(rng, shape, modes=(ir.SignMode.MIXED, ir.SignMode.EXCITATORY,
                                    ir.SignMode.INHIBITORY), bits=None):
    mode = modes[rng.integers(len(modes))]
    nwb = int(rng.integers(1, 9)) if bits is None else bits
    lo, hi = ir.weight_range(mode, nwb)
    w = rng.integers(lo, hi + 1, size=shape)
    if w.size >= 2:
        w.flat[0], w.flat[-1] = lo, hi          # hit both edges of the range
    return w, nwb


def rand_param(rng, shape, lo, hi):
    """A scalar or a per-neuron array, including the range edges."""
    if rng.random() < 0.5:
        return int(rng.choice([lo, hi, rng.integers(lo, hi + 1)]))
    a = rng.integers(lo, hi + 1, size=shape)
    a.flat[0] = lo
    a.flat[-1] = hi
    return a


def rand_cuba(rng, name, sources, shape, free=True):
    lim = ir.LIMITS
    mb = int(rng.integers(0, 25)) if free and rng.random() < 0.5 else 0
    return ir.Cuba(
        name=name, sources=sources, shape=shape,
        i_decay=rand_param(rng, shape, *lim["i_decay"]),
        v_decay=rand_param(rng, shape, *lim["v_decay"]),
        vth=rand_param(rng, shape, 1 if mb else 0, lim["vth"][1]),
        bias_mant=rand_param(rng, shape, *lim["bias_mant"]),
        bias_exp=rand_param(rng, shape, *lim["bias_exp"]),
        refractory=int(rng.integers(0, 64)) if free else 0, message_bits=mb)


def rand_conv(rng, name, src, c_in, hw):
    g = int(rng.choice([d for d in (1, 2, 3) if c_in % d == 0]))
    c_out = g * int(rng.integers(1, 3))
    k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    w, nwb = rand_weights(rng, (c_out, c_in // g, *k))
    stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    pad = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
    dil = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    conv = ir.Conv(name=name, sources=(src,), weight=w, num_weight_bits=nwb,
                   weight_exp=int(rng.integers(0, 8)), stride=stride, padding=pad, dilation=dil,
                   groups=g)
    oh, ow = ir.conv_output_hw(hw, k, stride, pad, dil)
    return conv, (c_out, oh, ow)


def random_network(seed: int) -> ir.Network:
    """A non-chain network using every node kind, random parameters over the full ranges."""
    rng = np.random.default_rng(seed)
    c, h, w = int(rng.integers(1, 4)) * 2, int(rng.integers(6, 10)), int(rng.integers(6, 10))
    nodes: list[ir.Node] = [ir.Input(name="in", shape=(c, h, w),
                                     message_bits=int(rng.integers(0, 25)))]
    branches = []
    for b in "ab":
        conv, shp = rand_conv(rng, f"conv_{b}", "in", c, (h, w))
        while min(shp) < 1:
            conv, shp = rand_conv(rng, f"conv_{b}", "in", c, (h, w))
        nodes += [conv, rand_cuba(rng, f"lif_{b}", (conv.name,), shp)]
        branches.append(shp)
    # concat needs equal H, W: pool both branches to 1x1-ish maps with fixed windows
    pooled = []
    for b, shp in zip("ab", branches):
        pool = ir.SumPool(name=f"pool_{b}", sources=(f"lif_{b}",), kernel=shp[1:],
                          stride=(1, 1), weight=int(rng.integers(-128, 128)),
                          weight_exp=int(rng.integers(0, 8)))
        nodes += [pool, rand_cuba(rng, f"plif_{b}", (pool.name,), (shp[0], 1, 1))]
        pooled.append(shp[0])
    nodes.append(ir.Concat(name="cat", sources=("plif_a", "plif_b"), axis=0))
    nodes.append(ir.Flatten(name="flat", sources=("cat",)))
    n_in, n_hid = sum(pooled), int(rng.integers(3, 9))
    wt, nwb = rand_weights(rng, (n_hid, n_in))
    nodes.append(ir.Dense(name="fc", sources=("flat",), weight=wt, num_weight_bits=nwb,
                          weight_exp=int(rng.integers(-7, 8)),
                          delay=rng.integers(0, 63, size=(n_hid, n_in))))
    nodes.append(rand_cuba(rng, "hid", ("fc", "rec"), (n_hid,)))
    wr, nwbr = rand_weights(rng, (n_hid, n_hid))
    nodes.append(ir.Dense(name="rec", sources=("hid",), weight=wr, num_weight_bits=nwbr,
                          weight_exp=int(rng.integers(-7, 8))))
    wo, nwbo = rand_weights(rng, (3, n_hid))
    nodes += [ir.Dense(name="out_syn", sources=("hid",), weight=wo, num_weight_bits=nwbo),
              rand_cuba(rng, "out", ("out_syn",), (3,))]
    return ir.Network(nodes, name=f"random{seed}").validate()


def random_netx_chain(seed: int) -> ir.Network:
    """A random chain that netx 0.6.0 can load exactly (lossless weights, bias multiple of 64)."""
    rng = np.random.default_rng(seed)
    c, h, w = int(rng.integers(1, 4)), int(rng.integers(5, 9)), int(rng.integers(5, 9))
    nodes: list[ir.Node] = [ir.Input(name="in", shape=(c, h, w))]
    src = "in"
    if rng.random() < 0.5:
        cu = rand_cuba(rng, "in_lif", ("in",), (c, h, w), free=False)
        cu.bias_mant, cu.bias_exp = np.int64(0), np.int64(0)
        nodes.append(cu)
        src = "in_lif"
    conv, shp = rand_conv(rng, "conv", src, c, (h, w))
    while min(shp) < 1:
        conv, shp = rand_conv(rng, "conv", src, c, (h, w))
    cu = rand_cuba(rng, "conv_lif", ("conv",), shp, free=False)
    cu.bias_exp = np.int64(6 + rng.integers(0, 2))
    nodes += [conv, cu, ir.Flatten(name="flat", sources=("conv_lif",))]
    n_in = int(np.prod(shp))

    def netx_dense(name, src, n_out, n_in):
        if rng.random() < 0.5:      # 8-bit mixed mantissa, exponent 0 or 1: W in [-256, 254]
            wt, e = rand_weights(rng, (n_out, n_in), modes=(ir.SignMode.MIXED,), bits=8)[0], \
                int(rng.integers(0, 2))
        else:                        # one-sign, exponent 0: W in [0, 255] or [-255, 0]
            wt, e = rand_weights(rng, (n_out, n_in), modes=(ir.SignMode.EXCITATORY,), bits=8)[0], 0
        if rng.random() < 0.3:       # negative exponent with divisible mantissas
            wt, e = (wt // 4) * 4, -2
        return ir.Dense(name=name, sources=(src,), weight=wt, weight_exp=e)

    n_hid = int(rng.integers(2, 7))
    d1 = netx_dense("fc1", "flat", n_hid, n_in)
    d1.delay = rng.integers(0, 63, size=(n_hid, n_in)) if rng.random() < 0.5 else \
        np.repeat(rng.integers(0, 63, size=(n_hid, 1)), n_in, axis=1)
    c1 = rand_cuba(rng, "lif1", ("fc1",), (n_hid,), free=False)
    c1.bias_exp = np.int64(7)
    joint = netx_dense("fc2", "lif1", n_hid, 2 * n_hid)       # dense_rec: one joint matrix
    d2 = ir.Dense(name="fc2", sources=("lif1",), weight=joint.weight[:, :n_hid],
                  weight_exp=joint.weight_exp)
    r2 = ir.Dense(name="rec2", sources=("lif2",), weight=joint.weight[:, n_hid:],
                  weight_exp=joint.weight_exp)
    c2 = rand_cuba(rng, "lif2", ("fc2", "rec2"), (n_hid,), free=False)
    c2.bias_mant, c2.bias_exp = np.asarray(c2.bias_mant) // 64 * 64, np.int64(0)
    d3 = netx_dense("out", "lif2", 3, n_hid)
    nodes += [d1, c1, d2, c2, r2, d3]
    return ir.Network(nodes, name=f"chain{seed}").validate()


def semantics(net: ir.Network) -> list[tuple]:
    """Name-free integer semantics of a network, node by node (effective weights and biases)."""
    index = {n.name: i for i, n in enumerate(net.nodes)}
    shapes = net.shapes()
    out = []
    for n in net.nodes:
        item: list = [n.op, tuple(index[s] for s in n.sources), shapes[n.name]]
        if isinstance(n, (ir.Dense, ir.Conv, ir.SumPool)):
            e = int(n.weight_exp)
            eff = n.weight << e if e >= 0 else n.weight >> -e
            assert e >= 0 or np.all(n.weight % (1 << -e) == 0)
            item.append(eff.tolist())
        if isinstance(n, ir.Dense):
            item.append(None if n.delay is None else n.delay.tolist())
        if isinstance(n, ir.Conv):
            item.append((n.stride, n.padding, n.dilation, n.groups))
        if isinstance(n, ir.Cuba):
            for f in ("i_decay", "v_decay", "vth"):
                item.append(np.broadcast_to(getattr(n, f), n.shape).tolist())
            item += [n.bias.tolist(), n.refractory, n.message_bits]
        out.append(tuple(item))
    return out


NETX_DIR = netx_test_dir()
needs_netx_files = pytest.mark.skipif(NETX_DIR is None,
                                      reason="lava-dl's shipped netx test files not installed")


def read_quiet(path, **kw) -> ir.Network:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NetxWarning)
        return read_bundle(path, **kw)


def warned(path, *needles: str, **kw) -> ir.Network:
    """Read ``path`` and assert a NetxWarning containing every needle (and the file name)."""
    with pytest.warns(NetxWarning) as rec:
        net = read_bundle(path, **kw)
    texts = [str(r.message) for r in rec if issubclass(r.category, NetxWarning)]
    assert any(all(n in t for n in needles) and str(path) in t for t in texts), texts
    return net


# -- IR -> bundle -> IR ------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(12))
def test_random_ir_round_trip(tmp_path, seed):
    net = random_network(seed)
    reasons = write_bundle(net, tmp_path / "n.net")
    assert reasons == netx_compatibility(net) and reasons     # SumPool/Concat: not netx
    back = read_bundle(tmp_path / "n.net")
    assert back.same_as(net) and back.name == net.name
    with h5py.File(tmp_path / "n.net") as f:
        assert "layer" not in f and "neurodeploy" in f


@pytest.mark.parametrize("seed", range(12))
def test_random_netx_chain_netx_part_has_same_semantics(tmp_path, seed):
    net = random_netx_chain(seed)
    assert write_bundle(net, tmp_path / "c.net") == []
    assert read_bundle(tmp_path / "c.net").same_as(net)         # via the extension
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always", NetxWarning)
        via_netx = read_bundle(tmp_path / "c.net", use_extension=False)
    assert all("no neuron" in str(r.message) for r in rec)      # only the final neuron-less dense
    assert semantics(via_netx) == semantics(net)
    # netx part -> IR -> bundle -> IR is a fixed point
    write_bundle(via_netx, tmp_path / "d.net")
    assert read_quiet(tmp_path / "d.net", use_extension=False).same_as(via_netx)


SHIPPED = [("tiny.net", {}), ("mnist.net", {}), ("gts/ntidigits/ntidigits.net", {"num_layers": 5}),
           ("gts/pilotnet_lif/network.net", {})]


@needs_netx_files
@pytest.mark.parametrize("name,kw", SHIPPED)
def test_shipped_netx_files_round_trip(tmp_path, name, kw):
    net = read_quiet(NETX_DIR / name, **kw)
    assert netx_compatibility(net) == []
    assert write_bundle(net, tmp_path / "a.net") == []
    again = read_bundle(tmp_path / "a.net")
    netx_again = read_quiet(tmp_path / "a.net", use_extension=False)
    assert again.same_as(net) and netx_again.same_as(net)
    for a, b in zip(net, netx_again):
        for k, v in a.params().items():
            if isinstance(v, np.ndarray):
                assert np.array_equal(v, b.params()[k]) and v.shape == b.params()[k].shape


@needs_netx_files
def test_shipped_files_content():
    mnist = warned(NETX_DIR / "mnist.net", "layer/0", "never applied")
    assert [n.op for n in mnist] == ["input", "cuba", "dense", "cuba", "dense", "cuba", "dense"]
    assert mnist["layer0"].sources == ("input",) and int(mnist["layer0"].vth) == 80
    assert np.all(mnist["layer0"].bias == 0)                     # input bias not applied
    with h5py.File(NETX_DIR / "mnist.net") as f:
        assert np.array_equal(mnist["layer1_syn"].weight << mnist["layer1_syn"].weight_exp,
                              f["layer/1/weight"][()].astype(int))
    tiny = read_quiet(NETX_DIR / "tiny.net")
    with h5py.File(NETX_DIR / "tiny.net") as f:
        bias = f["layer/1/bias"][()].astype(int)
    assert tiny["layer1"].bias_exp == 6 and np.array_equal(tiny["layer1"].bias_mant[:, 0, 0], bias)
    assert tiny["layer2"].shape == (36, 1, 1) and tiny["layer1_syn"].stride == (2, 2)
    nti = read_quiet(NETX_DIR / "gts/ntidigits/ntidigits.net", num_layers=5)
    with h5py.File(NETX_DIR / "gts/ntidigits/ntidigits.net") as f:
        d = f["layer/2/delay"][()].astype(int)
    assert np.array_equal(nti["layer2_syn"].delay, np.repeat(d[:, None], 64, axis=1))
    with pytest.raises(UnsupportedError, match=r"layer/5.*'type'.*average"):
        read_quiet(NETX_DIR / "gts/ntidigits/ntidigits.net")


# -- hand-written netx files: netx behaviours followed, with warnings ------------------------------
def test_dense_delay_forms(tmp_path):
    rng = np.random.default_rng(1)
    w = rng.integers(-60, 61, size=(4, 3)) * 2
    cases = {"scalar": (np.float32(5), np.full((4, 3), 5)),
             "per_out": (np.arange(4), np.repeat(np.arange(4)[:, None], 3, axis=1)),
             "per_in": (np.arange(3), np.repeat(np.arange(3)[None], 4, axis=0)),
             "full": (np.arange(12).reshape(4, 3), np.arange(12).reshape(4, 3))}
    for key, (delay, want) in cases.items():
        p = write_netx(tmp_path / f"{key}.net", [{"type": "input", "shape": np.array([3])},
                                                 dense_layer(w, delay=delay)])
        net = read_bundle(p)
        assert np.array_equal(net["layer1_syn"].delay, want), key
        assert np.array_equal(net["layer1_syn"].weight << net["layer1_syn"].weight_exp, w)
    square = write_netx(tmp_path / "sq.net", [{"type": "input", "shape": np.array([4])},
                                             dense_layer(np.ones((4, 4)), delay=np.arange(4))])
    assert np.array_equal(read_bundle(square)["layer1_syn"].delay[:, 0], np.arange(4))  # per out
    p = write_netx(tmp_path / "clip.net", [{"type": "input", "shape": np.array([3])},
                                           dense_layer(w, delay=[1, 70, 2, 3])])
    net = warned(p, "layer/1", "clipped")
    assert net["layer1_syn"].delay.max() == 62


def test_weights_bias_mapping(tmp_path):
    w = np.array([[-256, 254, 2], [0, 10, -4]])
    p = write_netx(tmp_path / "w.net", [{"type": "input", "shape": np.array([3])},
                                        dense_layer(w, bias=[4094, -6000])])
    net = read_bundle(p)
    syn, cu = net["layer1_syn"], net["layer1"]
    assert syn.weight_exp == 1 and np.array_equal(syn.weight << 1, w)
    assert int(cu.bias_exp) == 7 and np.array_equal(cu.bias, np.array([4094, -6000]) << 6)
    p = write_netx(tmp_path / "b.net", [{"type": "input", "shape": np.array([3])},
                                        dense_layer(w, bias=[1, -4096])])
    cu = read_bundle(p)["layer1"]
    assert int(cu.bias_exp) == 6 and np.array_equal(cu.bias_mant, [1, -4096])
    one_sign = write_netx(tmp_path / "e.net", [{"type": "input", "shape": np.array([2])},
                                               dense_layer([[255, 3], [0, 1]])])
    syn = read_bundle(one_sign)["layer1_syn"]
    assert syn.weight_exp == 0 and syn.weight.max() == 255


@pytest.mark.parametrize("weight,needle,want", [
    ([[1.7, -2.9]], "truncates", [[1, -2]]),
    ([[300, -6]], "clipped", [[254, -6]]),
    ([[400, 10]], "255", [[0, 0]]),
    ([[0, 0]], "OverflowError", [[0, 0]]),
])
def test_netx_weight_misreads_followed(tmp_path, weight, needle, want):
    p = write_netx(tmp_path / "m.net", [{"type": "input", "shape": np.array([2])},
                                        dense_layer(weight)])
    syn = warned(p, "layer/1", needle)["layer1_syn"]
    assert np.array_equal(syn.weight << syn.weight_exp, want)


def test_dense_rec(tmp_path):
    rng = np.random.default_rng(2)
    w, wr = rng.integers(-64, 64, size=(3, 3)) * 2, rng.integers(-64, 64, size=(3, 3)) * 2
    layer = dense_layer(w)
    layer.update(type="dense_rec", weight_rec=wr.astype(np.float32))
    p = write_netx(tmp_path / "r.net", [{"type": "input", "shape": np.array([3])}, layer])
    net = read_bundle(p)
    assert [n.name for n in net] == ["layer0", "layer1_syn", "layer1", "layer1_rec"]
    assert net["layer1"].sources == ("layer1_syn", "layer1_rec")
    assert net["layer1_rec"].sources == ("layer1",)
    rec = net["layer1_rec"]
    assert np.array_equal(rec.weight << rec.weight_exp, wr)
    layer["delay"] = np.arange(3, dtype=np.float32)
    p = write_netx(tmp_path / "rd.net", [{"type": "input", "shape": np.array([3])}, layer])
    net = warned(p, "layer/1", "weight_exp")
    stored, _, wexp, _ = netx_prepared_weights(np.hstack([w, wr]))
    syn = net["layer1_syn"]
    assert np.array_equal(syn.weight << syn.weight_exp, stored[:, :3])   # 2**-wexp too large
    assert wexp < 0 and net["layer1_rec"].delay is not None
    assert netx_compatibility(net)                                        # we never write it


def test_conv_variants(tmp_path):
    rng = np.random.default_rng(3)
    w = rng.integers(-20, 21, size=(4, 1, 3, 2))
    conv = {"type": "conv", "shape": np.array([4, 3, 2]), "weight": w.astype(np.float32),
            "stride": np.int64(2), "padding": np.array([1, 0]), "dilation": np.array([1, 2]),
            "groups": np.int64(2), "bias": np.arange(4, dtype=np.float32), **cuba_ds()}
    p = write_netx(tmp_path / "c.net", [{"type": "input", "shape": np.array([2, 6, 6])}, conv])
    net = read_bundle(p)
    syn = net["layer1_syn"]
    assert syn.stride == (2, 2) and syn.padding == (1, 0) and syn.dilation == (1, 2)
    assert syn.groups == 2 and np.array_equal(syn.weight, w)
    assert net["layer1"].bias_mant.shape == (4, 1, 1)
    full_bias = np.arange(24).reshape(4, 3, 2)
    conv.update(bias=full_bias.T.astype(np.float32), delay=np.float32(3),
                **{"neuron/vThMant": np.arange(24).reshape(4, 3, 2).T})
    p = write_netx(tmp_path / "c2.net", [{"type": "input", "shape": np.array([2, 6, 6])}, conv])
    net = warned(p, "layer/1", "delay")                       # conv delay ignored by netx
    assert np.array_equal(net["layer1"].bias_mant, full_bias)
    assert np.array_equal(net["layer1"].vth, full_bias)       # (W,H,C) file -> (C,H,W) IR
    write_bundle(net, tmp_path / "c3.net")
    assert read_bundle(tmp_path / "c3.net", use_extension=False).same_as(net)


def test_input_variants(tmp_path):
    w = np.ones((2, 12))
    p = write_netx(tmp_path / "noinput.net", [dense_layer(w)])
    net = read_bundle(p)
    assert net.inputs[0].shape == (12,) and net["layer0_syn"].sources == ("input",)
    p = write_netx(tmp_path / "noshape.net", [{"type": "input"}, dense_layer(w)])
    assert read_bundle(p).inputs[0].shape == (12,)
    p = write_netx(tmp_path / "img.net", [{"type": "input", "shape": np.array([3, 2, 2])},
                                          dense_layer(w)])
    net = read_bundle(p)                                       # netx feeds the flat input
    assert [n.op for n in net] == ["input", "flatten", "dense", "cuba"]
    p = write_netx(tmp_path / "neuron.net", [{"type": "input", "shape": np.array([12]),
                                              "weight": np.float32([7]), **cuba_ds(vth=9)},
                                             dense_layer(w)])
    net = warned(p, "layer/0", "never applied")
    assert net["layer0"].sources == ("input",) and int(net["layer0"].vth) == 9


@pytest.mark.parametrize("extra,needle,check", [
    ({"refDelay": 3}, "refDelay", lambda c: c.refractory == 0),
    ({"gradedSpike": True}, "gradedSpike", lambda c: c.message_bits == 0),
    ({"wgtExp": 2}, "wgtExp", lambda c: True),
    ({"messageBits": 8}, "messageBits", lambda c: c.message_bits == 8),
])
def test_neuron_keys_netx_ignores(tmp_path, extra, needle, check):
    layer = dense_layer(np.ones((2, 2)))
    layer.update({f"neuron/{k}": v for k, v in extra.items()})
    p = write_netx(tmp_path / "n.net", [{"type": "input", "shape": np.array([2])}, layer])
    assert check(warned(p, "layer/1", needle)["layer1"])


def test_last_dense_without_neuron(tmp_path):
    layers = [{"type": "input", "shape": np.array([2])}, dense_layer(np.ones((2, 2))),
              dense_layer(np.ones((1, 2)), neuron=False)]
    net = warned(write_netx(tmp_path / "n.net", layers), "layer/2", "no neuron")
    assert net.outputs()[0].name == "layer2" and isinstance(net["layer2"], ir.Dense)
    assert write_bundle(net, tmp_path / "o.net") == []
    assert read_quiet(tmp_path / "o.net", use_extension=False).same_as(net)


# -- compatibility and the extension ----------------------------------------------------------
def test_netx_compatibility_reasons():
    base = random_netx_chain(0)
    assert netx_compatibility(base) == []

    def variant(node, **changes):
        net = random_netx_chain(0)
        for k, v in changes.items():
            setattr(net[node], k, v)
        return netx_compatibility(net)

    assert any("refractory" in r for r in variant("lif1", refractory=2))
    assert any("graded" in r for r in variant("lif1", message_bits=4))
    assert any("multiple of 64" in r for r in variant("lif1", bias_mant=np.int64(1),
                                                      bias_exp=np.int64(0)))
    assert any("OverflowError" in r for r in variant("out", weight=np.zeros((3, 6), int)))
    net = random_netx_chain(0)
    net["out"].weight_exp = 3
    net["out"].weight[0, 0] = 127
    assert any("lossless" in r for r in netx_compatibility(net))
    assert any("sum_pool" in r or "concat" in r or "conv" in r
               for r in netx_compatibility(random_network(0)))


def test_extension_consistency_is_checked(tmp_path):
    net = random_netx_chain(1)
    write_bundle(net, tmp_path / "x.net")
    with h5py.File(tmp_path / "x.net", "r+") as f:
        f["layer/1/neuron/vThMant"][()] = 7
    with pytest.raises(BundleError, match=r"x\.net.*layer/1.*neuron/vThMant.*disagrees"):
        read_bundle(tmp_path / "x.net")
    assert read_quiet(tmp_path / "x.net", use_extension=False)           # netx part still loads


def test_write_is_atomic(tmp_path, monkeypatch):
    import neurodeploy.bundle.netx as nx
    target = tmp_path / "a.net"
    write_bundle(random_netx_chain(2), target)
    before = target.read_bytes()

    def boom(*a, **k):
        raise RuntimeError("disk full")
    monkeypatch.setattr(nx, "write_extension", boom)
    with pytest.raises(RuntimeError):
        write_bundle(random_netx_chain(3), target)
    assert target.read_bytes() == before and os.listdir(tmp_path) == ["a.net"]


def test_netx_weight_emulation_matches_lava():
    """netx_prepared_weights == netx optimize_weight_bits + Lava's clip/truncate (lava-dl)."""
    pytest.importorskip("lava.lib.dl.netx", reason="lava-dl not installed")
    from lava.lib.dl.netx.utils import optimize_weight_bits
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights
    rng = np.random.default_rng(4)
    mats = [np.array(m) for m in ([[-255, 0, -3]], [[-100, 0, -3]], [[400, 10]], [[-200, 201]],
                                  [[-256, 254, 6]], [[255, 0, 3]])]
    mats += [rng.integers(lo, hi, size=(5, 7)) for lo, hi in
             [(-128, 128), (0, 256), (-255, 1), (-256, 255), (-40, 40), (-300, 300)] * 5]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for m in mats:
            w, nwb, wexp, _ = optimize_weight_bits(m)
            sm = determine_sign_mode(w)
            lava = truncate_weights(clip_weights(w, sm, 8), sm, nwb)
            ours, nwb2, wexp2, _ = netx_prepared_weights(m)
            assert (nwb, wexp) == (nwb2, wexp2) and np.array_equal(lava, ours), m


@pytest.mark.lava
@needs_netx_files
def test_written_file_loads_in_netx(tmp_path):
    """lava-dl's own reader builds our file with the weights, delays and neuron params we mean."""
    hdf5 = pytest.importorskip("lava.lib.dl.netx.hdf5", reason="lava-dl not installed")
    net = random_netx_chain(5)
    write_bundle(net, tmp_path / "w.net")
    lnet = hdf5.Network(net_config=str(tmp_path / "w.net"))
    blocks = lnet.layers
    shapes = net.shapes()
    ir_units = [("conv", "conv_lif"), ("fc1", "lif1"), ("fc2", "lif2"), ("out", None)]
    first = 1 if "in_lif" in [n.name for n in net] else 0
    assert len(blocks) == first + len(ir_units)
    for block, (syn_name, lif_name) in zip(blocks[first:], ir_units):
        syn = net[syn_name]
        if isinstance(syn, ir.Conv):
            w = block.synapse.weight.init
            assert np.array_equal(w.transpose(0, 3, 2, 1)[:, :, ::-1, ::-1],
                                  syn.weight << syn.weight_exp)
        else:
            def eff(d):
                return d.weight << d.weight_exp if d.weight_exp >= 0 else d.weight >> -d.weight_exp
            w = block.synapse.weights.init
            want = eff(syn)
            if syn_name == "fc2":                             # dense_rec: optimised jointly
                w = np.hstack([w, block.synapse_rec.weights.init])
                want = np.hstack([want, eff(net["rec2"])])
            stored, _, wexp, _ = netx_prepared_weights(want)
            assert np.array_equal(w, stored)
            assert block.synapse.proc_params["weight_exp"] == wexp
            assert np.array_equal(w >> -wexp if wexp < 0 else w << wexp, want)
            if syn.delay is not None:
                assert np.array_equal(block.synapse.delays.init, syn.delay)
        if lif_name:
            cu = net[lif_name]
            lif = block.neuron
            assert np.array_equal(np.asarray(lif.vth.init), np.asarray(cu.vth).T) or \
                np.array_equal(np.broadcast_to(lif.vth.init, shapes[lif_name][::-1]).T,
                               np.broadcast_to(cu.vth, shapes[lif_name]))
            bias = np.broadcast_to(lif.bias_mant.init, shapes[lif_name][::-1]).T.astype(int)
            assert np.array_equal(bias << 6, cu.bias)
