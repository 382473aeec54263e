"""The ``neurodeploy`` CLI: doctor, run, verify, exit codes and error messages.

Most calls go through ``main()`` in-process (fast); a few go through the installed console script
to check the real process boundary (exit status, stdout holding exactly one JSON object, no
traceback on stderr).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import LOIHI, make_tiny_network, spikes

from neurodeploy import cli, ir
from neurodeploy.bundle import write_bundle
from neurodeploy.sim.reference import simulate
from neurodeploy.sim.traces import Traces, compare

EXE = str(Path(sys.executable).with_name("neurodeploy"))
STEPS = 8


@pytest.fixture
def bundle(tmp_path: Path) -> str:
    path = tmp_path / "tiny.h5"
    assert write_bundle(make_tiny_network(), path) == []      # netx-loadable too
    return str(path)


@pytest.fixture
def x_npy(tmp_path: Path) -> str:
    path = tmp_path / "x.npy"
    np.save(path, spikes((2, 6, STEPS)))
    return str(path)


def call(capsys, *argv: str) -> tuple[int, str, str]:
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def cli_proc(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *argv], capture_output=True, text=True, timeout=300)


# -- structure -----------------------------------------------------------------------------------

def test_help_is_fast_and_lazy() -> None:
    code = ("import sys, neurodeploy.cli as c; c.build_parser(); "
            "heavy = [m for m in ('lava', 'torch', 'h5py') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    p = cli_proc("--help")
    assert p.returncode == 0 and all(c in p.stdout for c in ("doctor", "run", "verify"))


def test_commands_are_one_table(capsys, monkeypatch) -> None:
    assert {"doctor", "run", "verify"} <= set(cli.COMMANDS)
    monkeypatch.setitem(cli.COMMANDS, "hello", cli.Command(
        "hello", "say hello", lambda p: p.add_argument("--who", default="x"),
        lambda a: print(f"hello {a.who}") or 0))
    assert call(capsys, "hello", "--who", "loihi")[:2] == (0, "hello loihi\n")


def test_no_command_is_usage_error(capsys) -> None:
    rc, _, err = call(capsys)
    assert rc == 2 and "usage" in err


# -- doctor --------------------------------------------------------------------------------------

@pytest.mark.lava
def test_doctor(capsys) -> None:
    rc, out, _ = call(capsys, "doctor")
    assert rc == 0, out
    for word in ("python", "numpy", "torch", "h5py", "lava-nc", "lava-dl",
                 "compatibility fix: applied", "lava-loihi", "backend ref   usable",
                 "backend lava  usable", "bit-exact", "simulation backends OK"):
        assert word in out
    if not LOIHI:
        assert "not installed" in out


# -- run -----------------------------------------------------------------------------------------

def test_run_writes_traces(capsys, backend: str, bundle: str, x_npy: str,
                           tmp_path: Path) -> None:
    out = tmp_path / "traces.h5"
    rc, text, err = call(capsys, "run", bundle, "--backend", backend, "--input", x_npy,
                         "--steps", STEPS, "--out", out)
    assert rc == 0, err
    assert "traces written" in text
    got = Traces.load(out)
    want = simulate(make_tiny_network(), np.load(x_npy), STEPS)
    assert got.backend == backend and compare(want, got).bit_exact
    assert {(layer, v) for layer, v in got.variables()} == set(want.variables())


def test_run_single_sample_default_steps(capsys, bundle: str, tmp_path: Path) -> None:
    x = tmp_path / "one.npy"
    np.save(x, spikes((6, 5)).astype(np.uint8))          # (*input_shape, steps), small dtype
    rc, text, _ = call(capsys, "run", bundle, "--input", x)
    assert rc == 0 and "1 sample(s) x 5 steps" in text


# -- verify --------------------------------------------------------------------------------------

@pytest.mark.lava
def test_verify_json_end_to_end(bundle: str, x_npy: str) -> None:
    p = cli_proc("verify", bundle, "--backends", "ref,lava", "--input", x_npy, "--steps",
                 str(STEPS), "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)             # stdout is exactly one JSON object
    assert res["bit_exact"] is True and res["first_divergence"] is None
    assert {(d["name"], d["variable"]) for d in res["layers"]} == \
        {(n, v) for n in ("n1", "n2") for v in ("s", "u", "v")}
    assert all(d["mismatches"] == 0 for d in res["layers"])
    assert "Traceback" not in p.stderr


@pytest.mark.lava
def test_verify_text_bit_exact(capsys, bundle: str, x_npy: str) -> None:
    rc, out, _ = call(capsys, "verify", bundle, "--input", x_npy, "--steps", 4)
    assert rc == 0 and "ref vs lava: bit-exact" in out and "mismatches" in out


def _corrupt(t: Traces, layer: str, var: str, pos: tuple) -> Traces:
    t.data[layer][var][pos] += 7
    return t


def test_format_comparison_names_first_divergence() -> None:
    net = make_tiny_network()
    x = spikes((2, 6, STEPS))
    a, b = simulate(net, x), simulate(net, x)
    b.backend = "lava"
    _corrupt(b, "n2", "v", (1, 2, 6))        # later step, earlier layer order: not first
    _corrupt(b, "n2", "u", (0, 1, 3))        # sample 0, neuron 1, step 4
    comp = compare(a, b)
    text = cli.format_comparison(comp)
    first = text.splitlines()[0]
    assert "bit-exact" not in first
    for part in ("layer 'n2'", "variable 'u'", "neuron (1,)", "step 4", "sample 0"):
        assert part in first
    value = int(a.data["n2"]["u"][0, 1, 3])
    assert f"ref={value}" in first and f"lava={value + 7}" in first
    rows = {tuple(r.split()[:2]): int(r.split()[2]) for r in text.splitlines()[2:]}
    assert rows[("n2", "u")] == 1 and rows[("n2", "v")] == 1 and rows[("n1", "s")] == 0


def test_verify_divergence_exit_1(capsys, monkeypatch, bundle: str, x_npy: str) -> None:
    """A backend that returns one wrong value: verify must name it and exit 1."""
    real, calls = cli.run_backend, []

    def faulty(name, *args, **kw):
        calls.append(name)
        t = real(name, *args, **kw)
        return _corrupt(t, "n1", "s", (1, 0, 2)) if len(calls) % 2 == 0 else t

    monkeypatch.setattr(cli, "run_backend", faulty)
    rc, out, _ = call(capsys, "verify", bundle, "--backends", "ref,ref", "--input", x_npy,
                      "--json")
    assert rc == 1
    res = json.loads(out)
    assert res["bit_exact"] is False
    d = res["first_divergence"]
    assert (d["layer"], d["variable"], d["sample"], d["neuron"], d["step"]) == \
        ("n1", "s", 1, [0], 3)
    assert len(set(d["values"])) == 2
    assert [r["mismatches"] for r in res["layers"] if r["variable"] == "s"] == [1, 0]
    rc, out, _ = call(capsys, "verify", bundle, "--backends", "ref,ref", "--input", x_npy)
    assert rc == 1 and "first divergence: layer 'n1', variable 's'" in out


def test_strict_overflow_is_exit_2_and_warning_without(capsys, tmp_path: Path) -> None:
    net = ir.chain([ir.Input("in", shape=(6,)),
                    ir.Dense("fc", weight=np.full((2, 6), 127), weight_exp=7),
                    ir.Cuba("n", shape=(2,), i_decay=0, vth=2**17 - 1)])
    path, x = tmp_path / "ovf.h5", tmp_path / "ones.npy"
    write_bundle(net, path)
    np.save(x, np.ones((6, 4), dtype=np.int64))
    rc, _, err = call(capsys, "run", path, "--input", x)
    assert rc == 0 and "warning" in err and "layer 'n'" in err
    rc, _, err = call(capsys, "run", path, "--input", x, "--strict")
    assert rc == 2 and err.startswith("neurodeploy: error:") and "layer 'n'" in err


# -- bad input: exit 2, a message naming file/field, no traceback --------------------------------

def _bad(capsys, *argv, expect: tuple[str, ...]) -> str:
    rc, out, err = call(capsys, *argv)
    assert rc == 2, (out, err)
    assert "Traceback" not in err
    for word in expect:
        assert word in err, err
    return err


def test_missing_bundle(capsys, x_npy: str, tmp_path: Path) -> None:
    missing = tmp_path / "nope.h5"
    err = _bad(capsys, "run", missing, "--input", x_npy, expect=("bundle not found",))
    assert err.startswith("neurodeploy: error:") and str(missing) in err


def test_corrupt_bundle(capsys, x_npy: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4)
    _bad(capsys, "verify", bad, "--input", x_npy, expect=(str(bad),))


def test_missing_input(capsys, bundle: str, tmp_path: Path) -> None:
    _bad(capsys, "run", bundle, "--input", tmp_path / "no.npy",
         expect=("input file not found", "no.npy"))


@pytest.mark.parametrize("content", [b"not an npy file at all",
                                     b"\x93NUMPY\x01\x00" + b"\xff" * 20,
                                     b"PK\x03\x04 not a zip archive"])
def test_corrupt_npy(capsys, bundle: str, tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.npy"
    bad.write_bytes(content)
    _bad(capsys, "run", bundle, "--input", bad, expect=("cannot read input", "bad.npy"))


def test_pickled_npy_is_refused(capsys, bundle: str, tmp_path: Path) -> None:
    bad = tmp_path / "obj.npy"
    np.save(bad, np.array([{"a": 1}], dtype=object), allow_pickle=True)   # never unpickled
    _bad(capsys, "run", bundle, "--input", bad, expect=("cannot read input", "obj.npy"))


@pytest.mark.parametrize("array, field", [
    (np.zeros((2, 5, STEPS), np.int64), "field 'shape'"),          # 5 neurons, input has 6
    (np.zeros((STEPS,), np.int64), "field 'shape'"),
    (np.full((6, STEPS), 2), "field 'values'"),                    # binary input: 0..1
    (np.full((6, STEPS), -1), "field 'values'"),
    (np.full((6, STEPS), 0.5), "field 'dtype'"),
])
def test_bad_input_array(capsys, bundle: str, tmp_path: Path, array, field: str) -> None:
    path = tmp_path / "x.npy"
    np.save(path, array)
    _bad(capsys, "verify", bundle, "--input", path, expect=(field, "x.npy", "layer 'in'"))


def test_bad_steps_and_out(capsys, bundle: str, x_npy: str, tmp_path: Path) -> None:
    _bad(capsys, "run", bundle, "--input", x_npy, "--steps", 0, expect=("--steps",))
    _bad(capsys, "run", bundle, "--input", x_npy, "--out", tmp_path / "no" / "t.h5",
         expect=("cannot write traces", "t.h5"))


@pytest.mark.parametrize("argv", [["run", "B", "--input", "X", "--backend", "gpu"],
                                  ["verify", "B", "--input", "X", "--backends", "ref,spinnaker"],
                                  ["verify", "B", "--input", "X", "--backends", "ref"]])
def test_bad_backend_argument(capsys, argv: list[str]) -> None:
    err = _bad(capsys, *argv, expect=("--backend",))
    assert "unknown backend" in err or "exactly two" in err


@pytest.mark.skipif(LOIHI, reason="lava-loihi is installed")
def test_loihi_without_lava_loihi(capsys, bundle: str, x_npy: str) -> None:
    _bad(capsys, "run", bundle, "--backend", "loihi", "--input", x_npy,
         expect=("hardware support is not installed", "lava-loihi"))


def test_bad_input_end_to_end_has_no_traceback(bundle: str, tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    np.save(path, np.full((6, 3), 5))
    p = cli_proc("run", bundle, "--input", str(path))
    assert p.returncode == 2 and p.stderr.startswith("neurodeploy: error:")
    assert "Traceback" not in p.stderr and "field 'values'" in p.stderr
