"""Target descriptions: shipped files, sources on every number, and clear errors for bad files."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from neurodeploy.errors import TargetError
from neurodeploy.targets import available_targets, load_target, target_dirs

REPO = Path(__file__).resolve().parents[1]


def test_shipped_targets_load_with_spec_numbers():
    t2 = load_target("loihi2")
    assert t2.cores_per_chip == 120 and t2.cores_on_die == 128
    assert t2.capacity() == (4096, 12000, 16000, 16000, 8)
    assert t2.formats.weight_bits == 8 and t2.formats.state_bits == 24
    assert (t2.formats.delay_min, t2.formats.delay_max) == (0, 63)
    assert t2.systems == {"oheo_gulch": 1, "kapoho_point": 8, "hala_point": 1152}
    assert not t2.mesh.confirmed
    assert t2.energy["synop_pj"] == 23.6 and t2.energy["horowitz_mac_pj"] == 4.6
    assert 0.23 <= t2.energy["static_w_per_chip_min"] <= t2.energy["static_w_per_chip_max"] <= 0.28
    t1 = load_target("loihi1")
    assert t1.cores_per_chip == 128
    assert t1.capacity()[:4] == (1024, 16384, 4096, 4096)
    assert t1.synmem.unit_bits == 64 and t1.synmem.block_synapses == 64
    assert {"loihi1", "loihi2"} <= set(available_targets())


@pytest.mark.parametrize("name", ["loihi1", "loihi2"])
def test_every_number_has_a_source(name):
    """Each numeric key carries a comment on its line or on the comment block just above."""
    lines = (REPO / "targets" / f"{name}.toml").read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^\s*\w+\s*=\s*[-\d\[]", line) and "#" not in line:
            j = i - 1
            while j >= 0 and re.match(r"^\s*\w+\s*=", lines[j]) and "#" not in lines[j]:
                j -= 1
            assert j >= 0 and ("#" in lines[j]), f"{name}.toml line {i + 1} has no source"


def test_lookup_by_path_and_environment(tmp_path, monkeypatch):
    src = (REPO / "targets" / "loihi2.toml").read_text()
    mine = tmp_path / "mychip.toml"
    mine.write_text(src.replace('name = "loihi2"', 'name = "mychip"').replace(
        "neurons = 4096", "neurons = 2048"))
    assert load_target(mine).core.neurons == 2048
    monkeypatch.setenv("NEURODEPLOY_TARGETS", str(tmp_path))
    assert load_target("mychip").name == "mychip"
    assert tmp_path in target_dirs()
    with pytest.raises(TargetError, match="unknown target 'nochip'"):
        load_target("nochip")
    with pytest.raises(TargetError, match="not found"):
        load_target(tmp_path / "missing.toml")


def _bad(tmp_path: Path, old: str, new: str) -> Path:
    src = (REPO / "targets" / "loihi2.toml").read_text()
    assert old in src
    p = tmp_path / "bad.toml"
    p.write_text(src.replace(old, new, 1))
    return p


@pytest.mark.parametrize("old,new,key,value", [
    ("synmem = 12000 ", "", "core.synmem", None),                          # missing key
    ("neurons = 4096 ", 'neurons = "4096" ', "core.neurons", "'4096'"),    # wrong type
    ("axon_in = 16000", "axon_in = -5", "core.axon_in", "-5"),            # negative budget
    ("neuron_groups = 8 ", "neuron_groups = 0 ", "core.neuron_groups", "0"),
    ("weight_bits = 8  ", "weight_bits = 8.5 ", "synmem.weight_bits", "8.5"),
    ("mesh = [16, 8]", "mesh = [16]", "chip.mesh", "[16]"),
    ("mesh = [16, 8]", "mesh = [4, 4]", "chip.mesh", None),               # too few slots
])
def test_bad_target_file_names_file_key_value(tmp_path, old, new, key, value):
    p = _bad(tmp_path, old, new)
    with pytest.raises(TargetError) as e:
        load_target(p)
    msg = str(e.value)
    assert str(p) in msg and f"field '{key}'" in msg
    if value is not None:
        assert f"value: {value}" in msg


def test_toml_syntax_error(tmp_path):
    p = _bad(tmp_path, "cores = 120", "cores = = 120")
    with pytest.raises(TargetError, match="TOML syntax error") as e:
        load_target(p)
    assert str(p) in str(e.value)


def test_unknown_table_rejected(tmp_path):
    p = tmp_path / "x.toml"
    p.write_text((REPO / "targets" / "loihi2.toml").read_text() + "\n[corez]\nneurons = 1\n")
    with pytest.raises(TargetError, match="unknown table"):
        load_target(p)
