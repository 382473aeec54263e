"""Bundle manifest: provenance, golden vectors, a checksum of every dataset; inspect and
verify --golden on the command line (exit 0 / 1 / 2)."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import make_tiny_network, spikes

from neurodeploy import cli, ir
from neurodeploy.bundle import (
    read_bundle,
    read_golden,
    read_manifest,
    validate_checksums,
    write_bundle,
)
from neurodeploy.errors import BundleError
from neurodeploy.sim.reference import simulate

META = {"target": "loihi2", "model_hash": "sha256:abc", "quantization": {"bits": 4},
        "time_steps": 8}


def ext_only() -> ir.Network:
    """Refractory neurons: not netx-loadable, so the file is the extension alone."""
    return ir.Network([ir.Input("in", shape=(3,)),
                       ir.Dense("fc", sources=("in",), weight=np.arange(6).reshape(2, 3)),
                       ir.Cuba("lif", sources=("fc",), shape=(2,), vth=3, refractory=2)])


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    path = tmp_path / "b.h5"
    write_bundle(make_tiny_network(), path, metadata=META,
                 golden={"inputs": spikes((2, 6, 8))})
    return path


def call(capsys, *argv) -> tuple[int, str, str]:
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_manifest_fields_and_every_dataset_checksummed(bundle: Path):
    m = read_manifest(bundle)
    assert {k: m[k] for k in ("target", "model_hash", "quantization", "time_steps")} == META
    assert m["neurodeploy_version"] and m["format_version"] == 1 and m["netx_compatible"]
    with h5py.File(bundle) as f:
        datasets = []
        f.visititems(lambda n, o: datasets.append("/" + n) if isinstance(o, h5py.Dataset)
                     else None)
    assert sorted(m["checksums"]) == sorted(datasets) and len(datasets) > 30
    assert all(v.startswith("sha256:") and len(v) == 71 for v in m["checksums"].values())
    assert validate_checksums(bundle) == len(datasets)
    g = m["golden"]
    assert (g["batch"], g["steps"], g["inputs"]) == (2, 8, ["in"]) and "n2/v" in g["traces"]


def test_golden_traces_are_the_reference(bundle: Path):
    g = read_golden(bundle)
    net = read_bundle(bundle)
    tr = simulate(net, g.inputs, g.steps)
    for layer, var in tr.variables():
        assert g.traces[layer][var].dtype == np.int64
        assert np.array_equal(g.traces[layer][var], tr[layer, var])


def test_no_golden_and_old_files(tmp_path: Path):
    write_bundle(ext_only(), tmp_path / "e.h5")
    assert read_golden(tmp_path / "e.h5") is None
    assert read_manifest(tmp_path / "e.h5")["golden"] is None
    with h5py.File(tmp_path / "old.h5", "w") as f:   # a bundle without manifest still reads
        f.create_group("x")
    assert read_manifest(tmp_path / "old.h5") is None
    assert validate_checksums(tmp_path / "old.h5") == 0


@pytest.mark.parametrize("mutate,field", [
    (lambda f: f["neurodeploy/nodes/1/weight"].__setitem__((0, 0), 5),
     "/neurodeploy/nodes/1/weight"),
    (lambda f: f["neurodeploy/golden/traces/lif/v"].__setitem__((0, 0, 0), 9),
     "/neurodeploy/golden/traces/lif/v"),
    (lambda f: f["neurodeploy/golden/inputs"].create_dataset("extra", data=[1]),
     "/neurodeploy/golden/inputs/extra"),
    (lambda f: f["neurodeploy/nodes/2"].attrs.__setitem__("vth", 4), "attributes"),
])
def test_corruption_names_the_dataset(tmp_path: Path, capsys, mutate, field):
    path = tmp_path / "c.h5"
    write_bundle(ext_only(), path, golden={"inputs": spikes((1, 3, 5))})
    with h5py.File(path, "r+") as f:
        mutate(f)
    with pytest.raises(BundleError, match=f"field '{field}'"):
        read_bundle(path)
    for argv in (["inspect", path], ["verify", path, "--golden", "--backends", "ref"]):
        rc, out, err = call(capsys, *argv)
        assert rc == 2 and f"field '{field}'" in err and "Traceback" not in err, err
    if field != "attributes":      # the IR itself still reads when checksums are not checked
        assert len(read_bundle(path, verify_checksums=False)) == 3


def test_netx_only_reading_ignores_the_manifest(bundle: Path):
    with h5py.File(bundle, "r+") as f:
        f["neurodeploy/golden/traces/n1/v"][0, 0, 0] += 1
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(read_bundle(bundle, use_extension=False)) > 0


def test_inspect_prints_manifest(capsys, bundle: Path):
    rc, out, _ = call(capsys, "inspect", bundle)
    assert rc == 0
    for word in ("loihi2", "sha256:abc", "time_steps", "2 sample(s) x 8 steps", "checksums:",
                 "valid"):
        assert word in out, out
    rc, out, _ = call(capsys, "inspect", bundle, "--json")
    import json
    d = json.loads(out)
    assert rc == 0 and d["checksums_valid"] and d["target"] == "loihi2"


def test_inspect_bad_input(capsys, tmp_path: Path):
    rc, _, err = call(capsys, "inspect", tmp_path / "missing.h5")
    assert rc == 2 and "not found" in err
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    rc, _, err = call(capsys, "inspect", tmp_path / "junk.h5")
    assert rc == 2 and "junk.h5" in err


@pytest.mark.parametrize("backends", ["ref", pytest.param("ref,lava", marks=pytest.mark.lava)])
def test_verify_golden_passes(capsys, bundle: Path, backends: str):
    rc, out, err = call(capsys, "verify", bundle, "--golden", "--backends", backends)
    assert rc == 0, (out, err)
    assert "golden self-test: PASSED" in out and out.count("bit-exact") == len(backends.split(","))


def test_verify_golden_divergence_exit_1_and_usage(capsys, tmp_path: Path):
    net = ext_only()
    x = spikes((1, 3, 6), density=0.9)
    tr = simulate(net, x)
    wrong = {layer: {v: a.copy() for v, a in vs.items()} for layer, vs in tr.data.items()}
    wrong["lif"]["v"][0, 1, 3] += 1
    path = tmp_path / "w.h5"
    write_bundle(net, path, golden={"inputs": x, "traces": wrong})
    rc, out, _ = call(capsys, "verify", path, "--golden", "--backends", "ref", "--json")
    import json
    d = json.loads(out)
    assert rc == 1 and not d["bit_exact"]
    div = d["backends"]["ref"]["first_divergence"]
    assert (div["layer"], div["variable"], div["step"]) == ("lif", "v", 4)
    write_bundle(net, tmp_path / "ng.h5")
    rc, _, err = call(capsys, "verify", tmp_path / "ng.h5", "--golden")
    assert rc == 2 and "no golden" in err
    rc, _, err = call(capsys, "verify", path, "--golden", "--input", "x.npy")
    assert rc == 2 and "--input" in err
    rc, _, err = call(capsys, "verify", path)
    assert rc == 2 and "--input" in err
