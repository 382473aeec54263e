"""Compatibility report (neurodeploy.check, `neurodeploy check`)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import make_tiny_network

from neurodeploy import cli, ir
from neurodeploy.bundle import write_bundle
from neurodeploy.check import check_network
from neurodeploy.ops import csdformer as cs
from neurodeploy.ops import spikezip as sz


def mixed() -> ir.Network:
    """Dense with delays -> CUBA, a DIF operator, and a host softmax."""
    return ir.Network([
        ir.Input("in", shape=(6,)),
        ir.Dense("fc", sources=("in",), weight=np.ones((6, 6), int), delay=3),
        ir.Cuba("n", sources=("fc",), shape=(6,), vth=2),
        cs.Dif("dif", sources=("in",), shape=(6,), theta=4, T=4),
        sz.SpikeSoftmax("soft", sources=("n",), n=3)])


def call(capsys, *argv) -> tuple[int, str, str]:
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_every_layer_where_and_needs():
    r = check_network(mixed())
    by = {la.name: la for la in r.layers}
    assert list(by) == ["in", "fc", "n", "dif", "soft"]
    assert {k: by[k].op for k in by} == {"in": "input", "fc": "dense", "n": "cuba",
                                         "dif": "dif", "soft": "spike_softmax"}
    assert (by["in"].where, by["n"].where, by["dif"].where, by["soft"].where) == \
        ("host input", "neurocore", "neurocore", "host")
    assert any("delays up to 3" in f for f in by["fc"].features)
    assert any("microcode" in f for f in by["dif"].features) and by["dif"].hardware_note
    assert any("graded spikes: 16-bit" in f for f in by["soft"].features)
    sev = {(f.severity, f.layer) for f in r.findings}
    assert ("host", "soft") in sev and ("microcode", "dif") in sev
    assert any(f.severity == "netx" for f in r.findings)
    assert all(f.fix for f in r.findings)
    assert r.deployable
    assert "host operator — not on neurocores" in json.dumps(r.to_dict(), ensure_ascii=False)


def test_target_limits_are_blockers(tmp_path: Path):
    text = Path("targets/loihi2.toml").read_text().replace("message_bits_max = 24",
                                                           "message_bits_max = 8")
    (tmp_path / "narrow.toml").write_text(text)
    r = check_network(mixed(), str(tmp_path / "narrow.toml"))
    errors = [f for f in r.findings if f.severity == "error"]
    assert not r.deployable and errors[0].layer == "soft" and "[0, 8]" in errors[0].problem


def test_clean_netx_network():
    r = check_network(make_tiny_network())
    assert r.deployable and [f.severity for f in r.findings] == []
    assert all(la.where in ("host input", "neurocore") for la in r.layers)


def test_cli_check_bundle(capsys, tmp_path: Path):
    write_bundle(mixed(), tmp_path / "m.h5")
    rc, out, _ = call(capsys, "check", tmp_path / "m.h5", "--target", "loihi2")
    assert rc == 0 and "deployable" in out and "host operator — not on neurocores" in out
    assert "fix:" in out
    rc, out, _ = call(capsys, "check", tmp_path / "m.h5", "--json")
    d = json.loads(out)
    assert rc == 0 and d["deployable"] and len(d["layers"]) == 5
    text = Path("targets/loihi2.toml").read_text().replace("message_bits_max = 24",
                                                           "message_bits_max = 8")
    (tmp_path / "narrow.toml").write_text(text)
    rc, out, _ = call(capsys, "check", tmp_path / "m.h5", "--target", tmp_path / "narrow.toml")
    assert rc == 1 and "NOT deployable" in out


def test_cli_check_model_without_converter(capsys, tmp_path: Path, monkeypatch):
    monkeypatch.setitem(sys.modules, "neurodeploy.convert", None)   # import raises ImportError
    (tmp_path / "model.pt").write_bytes(b"\x80\x02not a real checkpoint")
    rc, _, err = call(capsys, "check", tmp_path / "model.pt")
    assert rc == 2 and "conversion not available" in err
    rc, _, err = call(capsys, "check", tmp_path / "missing.pt")
    assert rc == 2 and "not found" in err


@pytest.mark.parametrize("target", ["nope"])
def test_cli_check_unknown_target(capsys, tmp_path: Path, target: str):
    write_bundle(make_tiny_network(), tmp_path / "t.h5")
    rc, _, err = call(capsys, "check", tmp_path / "t.h5", "--target", target)
    assert rc == 2 and "unknown target" in err
