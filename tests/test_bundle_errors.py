"""Bad bundles: every case raises a NeurodeployError subclass naming the file, layer and field."""
from __future__ import annotations

import json
import re
from contextlib import nullcontext
from pathlib import Path

import h5py
import numpy as np
import pytest

from neurodeploy import ir
from neurodeploy.bundle import read_bundle, write_bundle
from neurodeploy.errors import BundleError, IRError, RangeError, UnsupportedError


def write_netx(path: Path, layers: list[dict]) -> Path:
    with h5py.File(path, "w") as f:
        root = f.create_group("layer")
        for i, d in enumerate(layers):
            g = root.create_group(str(d.pop("_name", i)))
            for key, value in d.items():
                if key == "type" and isinstance(value, str):
                    g.create_dataset("type", (1,), "S10", [value.encode()])
                elif key == "neuron/type" and isinstance(value, str):
                    g.create_dataset(key, data=value, dtype=h5py.string_dtype())
                else:
                    g.create_dataset(key, data=value)
    return path


def neuron(**kw) -> dict:
    d = {"neuron/type": "CUBA", "neuron/vThMant": 80, "neuron/iDecay": 1024,
         "neuron/vDecay": 128}
    d.update({f"neuron/{k}": v for k, v in kw.items()})
    return {k: v for k, v in d.items() if v is not None}


def inp(n=3) -> dict:
    return {"type": "input", "shape": np.array([n])}


def dense(w=None, **kw) -> dict:
    w = np.array([[2, -4, 6], [8, 10, -12]]) if w is None else w
    d = {"type": "dense", "shape": np.array([np.shape(w)[0]]),
         "weight": np.asarray(w).astype(np.float32) if np.asarray(w).dtype.kind in "iuf"
         else w, **neuron()}
    d.update(kw)
    return {k: v for k, v in d.items() if v is not None}


def conv(**kw) -> dict:
    d = {"type": "conv", "shape": np.array([2, 2, 2]),
         "weight": np.ones((2, 1, 3, 3, 1), np.float32), "stride": np.int64(1),
         "padding": np.int64(0), "dilation": np.int64(1), "groups": np.int64(1), **neuron()}
    d.update(kw)
    return {k: v for k, v in d.items() if v is not None}


def expect(path: Path, cls: type, layer: str | None, field: str | None, *more: str):
    with pytest.raises(cls) as info:
        read_bundle(path)
    msg = str(info.value)
    assert f"file '{path}'" in msg, msg
    if layer is not None:
        assert f"layer '{layer}'" in msg, msg
    if field is not None:
        assert f"field '{field}'" in msg, msg
    for m in more:
        assert re.search(m, msg), msg
    return info.value


@pytest.fixture
def good(tmp_path) -> Path:
    return write_netx(tmp_path / "good.net", [inp(), dense()])


# -- the file itself ------------------------------------------------------------------------------
def test_good_file_reads(good):
    assert read_bundle(good).validate()


def test_missing_file(tmp_path):
    expect(tmp_path / "nope.net", BundleError, None, None, "cannot open")


def test_truncated_file(tmp_path, good):
    p = tmp_path / "trunc.net"
    p.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    expect(p, BundleError, None, None, "truncated|corrupted")


def test_corrupted_bytes_not_hdf5(tmp_path):
    p = tmp_path / "garbage.net"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    expect(p, BundleError, None, None, "not HDF5|cannot open")


def test_corrupted_header(tmp_path, good):
    data = bytearray(good.read_bytes())
    data[:8] = b"NOTHDF5!"
    p = tmp_path / "hdr.net"
    p.write_bytes(bytes(data))
    expect(p, BundleError, None, None, "cannot open")


def test_missing_layer_group(tmp_path):
    p = tmp_path / "nolayer.net"
    with h5py.File(p, "w") as f:
        f.create_group("simulation")
    expect(p, BundleError, "layer", "layer", "missing 'layer'")


def test_non_consecutive_layer_names(tmp_path):
    p = write_netx(tmp_path / "gap.net", [inp(), {**dense(), "_name": 2}])
    expect(p, BundleError, "layer", "layer", "consecutive", r"\['0', '2'\]")


def test_layer_is_not_a_group(tmp_path):
    p = tmp_path / "ds.net"
    with h5py.File(p, "w") as f:
        f.create_dataset("layer/0", data=1)
    expect(p, BundleError, "layer/0", None, "expected a group")


# -- missing datasets -----------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["type", "shape", "weight", "neuron/vThMant", "neuron/iDecay",
                                 "neuron/vDecay", "neuron/type"])
def test_missing_dense_dataset(tmp_path, key):
    layer = dense()
    del layer[key]
    p = write_netx(tmp_path / "miss.net", [inp(), layer])
    expect(p, BundleError, "layer/1", key, "missing")


@pytest.mark.parametrize("key", ["stride", "padding", "dilation", "groups", "weight"])
def test_missing_conv_dataset(tmp_path, key):
    layer = conv()
    del layer[key]
    p = write_netx(tmp_path / "miss.net", [{"type": "input", "shape": np.array([1, 4, 4])}, layer])
    expect(p, BundleError, "layer/1", key, "missing")


def test_conv_without_neuron(tmp_path):
    layer = {k: v for k, v in conv().items() if not k.startswith("neuron/")}
    p = write_netx(tmp_path / "nn.net", [{"type": "input", "shape": np.array([1, 4, 4])}, layer])
    expect(p, BundleError, "layer/1", "neuron", "missing")


# -- wrong shapes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("layers,layer,field", [
    ([inp(), dense(shape=np.array([5]))], "layer/1", "weight"),               # rows vs shape
    ([inp(4), dense()], "layer/1", "weight"),                                  # cols vs input
    ([inp(), dense(w=np.arange(5))], "layer/1", "weight"),                     # 1-D, not N_out*k
    ([inp(), dense(delay=np.zeros(5, np.float32))], "layer/1", "delay"),
    ([inp(), dense(bias=np.zeros(3, np.float32))], "layer/1", "bias"),
    ([inp(), dense(**{"neuron/vThMant": np.ones(4, np.int64)})], "layer/1", "neuron/vThMant"),
    ([{"type": "input", "shape": np.array([1, 4, 4])}, conv(shape=np.array([2, 3, 3]))],
     "layer/1", "shape"),
    ([{"type": "input", "shape": np.array([1, 4, 4])}, conv(weight=np.ones((2, 1, 3)))],
     "layer/1", "weight"),
    ([{"type": "input", "shape": np.array([1, 4, 4])}, conv(stride=np.array([1, 1, 1]))],
     "layer/1", "stride"),
    ([{"type": "input", "shape": np.array([1, 4, 4])}, conv(bias=np.zeros(3, np.float32))],
     "layer/1", "bias"),
])
def test_wrong_shapes(tmp_path, layers, layer, field):
    expect(write_netx(tmp_path / "shape.net", layers), BundleError, layer, field, "wrong shape")


def test_conv_groups_mismatch(tmp_path):
    p = write_netx(tmp_path / "g.net", [{"type": "input", "shape": np.array([3, 4, 4])},
                                        conv(groups=np.int64(2))])
    expect(p, IRError, "layer/1", "groups")


def test_dense_after_conv_without_flatten(tmp_path):
    p = write_netx(tmp_path / "nf.net", [{"type": "input", "shape": np.array([1, 4, 4])},
                                         conv(), dense(w=np.ones((2, 8)))])
    expect(p, BundleError, "layer/2", "type", "flatten")


# -- wrong dtypes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("key,value", [
    ("weight", np.array([[b"a", b"b", b"c"]] * 2)),
    ("weight", np.full((2, 3), np.nan, np.float32)),
    ("shape", np.array([b"2"])),
    ("bias", np.array([b"x", b"y"])),
    ("delay", np.array([1.5, 2.0], np.float64) * np.nan),
    ("neuron/vThMant", np.float64(80.5)),
    ("neuron/iDecay", np.array(b"fast")),
    ("type", np.int64(3)),
    ("neuron/type", np.int64(3)),
])
def test_wrong_dtypes(tmp_path, key, value):
    layer = dense()
    layer[key] = value
    p = write_netx(tmp_path / "dtype.net", [inp(), layer])
    expect(p, BundleError, "layer/1", key, "wrong dtype|non-finite|integers")


# -- out of range ---------------------------------------------------------------------------------
@pytest.mark.parametrize("layer_kw,field,value", [
    ({"w": np.array([[201, -200, 1], [0, 0, 0]])}, "weight", "201"),     # odd and > 127
    ({"w": np.array([[5000, -3, 0], [0, 0, 0]])}, "weight", "254"),   # netx clips, then odd
    ({"neuron/vThMant": 2**17}, "neuron/vThMant", "131072"),
    ({"neuron/vThMant": -1}, "neuron/vThMant", "-1"),
    ({"neuron/iDecay": 4097}, "neuron/iDecay", "4097"),
    ({"neuron/vDecay": 4096}, "neuron/vDecay", "4096"),
    ({"bias": np.array([9001, 0], np.float32)}, "bias", "9001"),
    ({"delay": np.array([-1, 2], np.float32)}, "delay", "-1"),
    ({"neuron/messageBits": 30}, "neuron/messageBits", "30"),
])
def test_out_of_range(tmp_path, layer_kw, field, value):
    w = layer_kw.pop("w", None)
    layer = dense(w)
    layer.update(layer_kw)
    p = write_netx(tmp_path / "range.net", [inp(), layer])
    with pytest.warns() if field == "weight" and "254" in value else nullcontext():
        err = expect(p, RangeError, "layer/1", field, value)
    assert err.limit is not None


def test_conv_weight_out_of_range(tmp_path):
    w = np.ones((2, 1, 3, 3, 1), np.float32)
    w[0, 0, 0, 0, 0] = 1001
    p = write_netx(tmp_path / "cw.net", [{"type": "input", "shape": np.array([1, 4, 4])},
                                         conv(weight=w)])
    expect(p, RangeError, "layer/1", "weight", "1001")


# -- unsupported types ----------------------------------------------------------------------------
@pytest.mark.parametrize("typ", ["foo", "pool", "average", "concat", "convT", "unpool",
                                 "dense_comp"])
def test_unsupported_layer_type(tmp_path, typ):
    p = write_netx(tmp_path / "t.net", [inp(), {**dense(), "type": typ}])
    expect(p, UnsupportedError, "layer/1", "type", typ)


@pytest.mark.parametrize("ntype", ["XYZ", "ALIF", "SDNN", "RF_PHASE", "ADRF_IZHIKEVICH"])
def test_unsupported_neuron_type(tmp_path, ntype):
    p = write_netx(tmp_path / "n.net", [inp(), dense(**{"neuron/type": ntype})])
    expect(p, UnsupportedError, "layer/1", "neuron/type", ntype)


def test_complex_weights_unsupported(tmp_path):
    layer = dense()
    layer["weight/imag"] = layer["weight/real"] = layer.pop("weight")
    p = write_netx(tmp_path / "c.net", [inp(), layer])
    expect(p, UnsupportedError, "layer/1", "weight/imag")


def test_dense_without_neuron_not_last(tmp_path):
    layer = {k: v for k, v in dense().items() if not k.startswith("neuron/")}
    p = write_netx(tmp_path / "nn.net", [inp(), layer, dense(w=np.ones((1, 2)))])
    expect(p, UnsupportedError, "layer/1", "neuron")


# -- the /neurodeploy extension -------------------------------------------------------------------
@pytest.fixture
def ext(tmp_path) -> Path:
    net = ir.Network([ir.Input(name="in", shape=(3,)),
                      ir.Dense(name="fc", sources=("in",), weight=np.ones((2, 3), int)),
                      ir.Cuba(name="lif", sources=("fc",), shape=(2,), refractory=3)])
    write_bundle(net, tmp_path / "ext.net")
    return tmp_path / "ext.net"


@pytest.mark.parametrize("mutate,cls,layer,field", [
    (lambda f: f["neurodeploy"].attrs.__setitem__("format_version", 99), UnsupportedError,
     "neurodeploy", "format_version"),
    (lambda f: f["neurodeploy/nodes/1"].attrs.__setitem__("op", "softmax"), UnsupportedError,
     "neurodeploy/nodes/1", "op"),
    (lambda f: f["neurodeploy/nodes/1"].attrs.__setitem__("sources", "[in"), BundleError,
     "neurodeploy/nodes/1", "sources/fields"),
    (lambda f: f["neurodeploy/nodes/1"].__delitem__("weight"), BundleError,
     "neurodeploy/nodes/1", "weight"),
    (lambda f: f["neurodeploy/nodes/2"].attrs.__setitem__(
        "fields", json.dumps({"evil": "int"})), BundleError, "neurodeploy/nodes/2", "evil"),
    (lambda f: f["neurodeploy/nodes/2"].attrs.__setitem__("refractory", 99), RangeError,
     "lif", "refractory"),
    (lambda f: f["neurodeploy/nodes/1"].attrs.__setitem__("sources", '["ghost"]'), IRError,
     "fc", "sources"),
    (lambda f: f["neurodeploy/nodes"].move("2", "5"), BundleError, "neurodeploy/nodes",
     "nodes"),
])
def test_bad_extension(ext, mutate, cls, layer, field):
    with h5py.File(ext, "r+") as f:
        mutate(f)
    expect(ext, cls, layer, field)
