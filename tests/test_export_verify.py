"""``neurodeploy export`` and ``neurodeploy verify --dataset``: the accuracy ladder JSON, Lava ==
reference bit for bit on exported models, and the error paths (exit 2, no traceback)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from neurodeploy import cli
from neurodeploy.bundle import read_metadata

EXE = str(Path(sys.executable).with_name("neurodeploy"))


def call(capsys, *argv) -> tuple[int, str, str]:
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("export") / "csd.h5"
    assert cli.main(["export", "csdformer-digits", "-o", str(path), "--target", "loihi2"]) == 0
    return str(path)


def test_export_writes_metadata_and_prints_report(capsys, tmp_path):
    out_path = tmp_path / "b.h5"
    rc, out, err = call(capsys, "export", "csdformer-digits", "-o", out_path)
    assert rc == 0 and "quantisation error" in out and "max rel err" in out
    meta = read_metadata(out_path)
    assert meta["model"] == "csdformer-digits" and meta["steps"] > 0
    assert meta["encoding"]["kind"] == "graded-once" and meta["readout"]["node"] == "readout"
    assert len(meta["model_sha256"]) == 64 and meta["target"] == "loihi2"


@pytest.mark.lava
def test_verify_dataset_json_ladder(bundle):
    p = subprocess.run([EXE, "verify", bundle, "--dataset", "digits", "--backends", "ref,lava",
                        "--samples", "24", "--lava-samples", "1", "--json"],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout)
    assert out["samples"] == 24 and out["lava_samples"] == 1
    assert out["bit_exact"] is True and out["mismatches"] == 0
    assert set(out["rungs"]) == {"float_ann", "qann", "int_ann", "ref_snn", "lava_snn"}
    assert out["head_exact"] == 24 and out["agreement"]["int_ann/ref_snn"] == 24
    assert out["rungs"]["ref_snn"] == out["rungs"]["int_ann"]
    assert out["compared"]["variables"] > 30                    # every layer, every step


def test_verify_dataset_ref_only_text(capsys, bundle):
    rc, out, _ = call(capsys, "verify", bundle, "--dataset", "digits", "--backends", "ref",
                      "--samples", "10")
    assert rc == 0 and "ref_snn" in out and "lava_snn  not run" in out


@pytest.mark.parametrize("argv,expect", [
    (["export", "no-such-model", "-o", "x.h5"], "shipped model"),
    (["verify", "missing.h5", "--dataset", "digits", "--backends", "ref"], "bundle not found"),
])
def test_errors_exit_2(capsys, argv, expect):
    rc, out, err = call(capsys, *argv)
    assert rc == 2 and expect in err and "Traceback" not in err


def test_export_of_unsupported_checkpoint_names_layers(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"patch.weight": torch.zeros(4, 1, 2, 2), "blocks.0.ln1.weight": torch.ones(4),
                "blocks.0.ln1.bias": torch.zeros(4)}, bad)
    p = subprocess.run([EXE, "export", str(bad), "-o", str(tmp_path / "o.h5")],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "blocks.0.ln1" in p.stderr and "->" in p.stderr        # layer and what would fix it
