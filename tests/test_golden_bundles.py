"""The committed operator golden bundles (tests/data/golden/*.h5): small, checksummed, and
replayed on every backend (issue 3's acceptance: inputs and expected integer traces per
operator)."""
from __future__ import annotations

import pytest
from conftest import backend_params
from ops_util import GOLDEN, golden_names, replay_goldens

from neurodeploy import cli
from neurodeploy.bundle import read_bundle, read_golden, read_manifest, replay_golden

OPERATORS = {"dif", "if_neuron", "spike_counter", "tdec_matmul", "tdec_max_pool",
             "global_sum_pool", "readout", "st_bif", "sesa_matmul", "spike_softmax",
             "spike_layer_norm", "phase_neuron", "phase_trace", "phase_matmul", "woss"}


def test_one_small_bundle_per_operator():
    names = golden_names()
    assert set(names) == OPERATORS
    assert not list(GOLDEN.glob("*.npz"))
    for name in names:
        path = GOLDEN / f"{name}.h5"
        assert path.stat().st_size < 16_000, name
        m = read_manifest(path)
        assert m["golden"]["backend"] == "ref" and m["golden"]["traces"], name
        net = read_bundle(path)                          # validates every checksum
        assert any(n.op == name for n in net), name


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_replay_on_reference(name):
    path = GOLDEN / f"{name}.h5"
    assert replay_golden(read_bundle(path), read_golden(path), "ref").bit_exact


@pytest.mark.parametrize("backend", backend_params())
def test_replay_all_on_every_backend(backend):
    """All goldens merged into one network: one Lava run per backend."""
    names = golden_names()
    assert replay_goldens(backend, names) >= 2 * len(names)


@pytest.mark.lava
def test_cli_self_test_on_a_golden_bundle(capsys):
    rc = cli.main(["verify", str(GOLDEN / "tdec_matmul.h5"), "--golden", "--backends",
                   "ref,lava"])
    out = capsys.readouterr().out
    assert rc == 0 and "PASSED" in out
