"""`neurodeploy deploy` end to end: the report's numbers equal separate library calls, the HTML
report renders in headless Chromium with non-empty plots, and an interrupted deploy leaves no
partial bundle or report."""
from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from neurodeploy.deploy import DEFAULT_MODEL, OUTPUTS, deploy

SAMPLES = 24


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    out = tmp_path_factory.mktemp("deploy")
    report = deploy(None, out_dir=out, samples=SAMPLES, lava_samples=1, quiet=True)
    return out, report


@pytest.mark.lava
def test_deploy_writes_outputs_and_matches_library(deployed):
    from neurodeploy.bundle import read_bundle, read_golden, read_metadata, validate_checksums
    from neurodeploy.convert import encode
    from neurodeploy.convert.ladder import ladder
    from neurodeploy.data import load_dataset
    from neurodeploy.energy import estimate_energy
    from neurodeploy.place import place
    from neurodeploy.sim.reference import ReferenceSimulator

    out, report = deployed
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)
    assert json.loads((out / "report.json").read_text())["summary"] == report["summary"]
    bundle = str(out / "bundle.h5")
    validate_checksums(bundle)
    net, meta = read_bundle(bundle), read_metadata(bundle)
    assert report["model"] == DEFAULT_MODEL == meta["model"]
    # recompute every headline number with separate library calls
    ds = load_dataset(meta["dataset"])
    data = encode(meta, ds.x_test[:8])
    steps = int(meta["steps"])
    traces = ReferenceSimulator(net).run(data, steps)
    activity = {n: (v["s"] != 0).mean(axis=(0, -1)) for n, v in traces.data.items()}
    placement = place(net, "loihi2", activity=activity, seed=0)
    assert meta["placement"]["cores"] == placement.cores == report["placement"]["cores"]
    assert report["placement"]["traffic"] == pytest.approx(placement.traffic)
    assert report["placement"]["lower_bound"] == placement.lower_bound <= placement.cores
    energy = estimate_energy(net, data, steps, target="loihi2", traces=traces,
                             placement=placement).to_dict()
    assert report["energy"]["synaptic_ops"] == pytest.approx(energy["total"]["synops"])
    assert report["energy"]["loihi_total_pj"] == pytest.approx(
        energy["energy"]["loihi"]["total_pj"])
    ref = ladder(bundle, meta["dataset"], samples=SAMPLES, lava_samples=0)
    for rung in ("float_ann", "qann", "int_ann", "ref_snn"):
        assert report["accuracy"]["rungs"][rung] == pytest.approx(ref["rungs"][rung])
    assert report["accuracy"]["head_exact"] == SAMPLES          # the exact method
    assert report["verification"]["bit_exact"] is True and report["verification"]["mismatches"] == 0
    golden = read_golden(bundle)
    assert golden is not None and golden.steps == steps


def _images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)",
                                                    html)]


@pytest.mark.lava
def test_report_plots_are_real_images(deployed):
    import matplotlib.image as mpimg
    out, _ = deployed
    images = _images((out / "report.html").read_text())
    assert len(images) == 5          # ladder, raster, firing rates, synaptic ops, utilisation
    for png in images:
        pixels = mpimg.imread(io.BytesIO(png))
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100
        assert pixels[..., :3].std() > 0.01          # not a blank canvas


@pytest.mark.lava
@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="Debian's chromium is not installed (tools/setup.sh installs it)")
def test_report_opens_in_headless_chromium(deployed, tmp_path):
    import matplotlib.image as mpimg
    out, _ = deployed
    shot = tmp_path / "report.png"
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
           "--window-size=1100,2400", (out / "report.html").resolve().as_uri()]
    subprocess.run(cmd, check=True, timeout=120, capture_output=True)
    pixels = mpimg.imread(str(shot))
    assert pixels.shape[:2] == (2400, 1100)
    assert pixels[..., :3].std() > 0.05               # text and plots were rendered


def _default_sigint() -> None:
    """Undo an inherited SIG_IGN (CI runners and background shells ignore SIGINT; Python then
    keeps ignoring it), so the child behaves as a deploy started at a terminal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _live_members(pgid: int) -> list[int]:
    """Processes of a process group that are still running (zombies excluded), from /proc."""
    live = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()   # after "pid (comm) "
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(entry))
    return live


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc; workers die with parent on Linux")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_deploy_leaves_nothing(tmp_path, sig):
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "neurodeploy.cli", "deploy", "--out",
                             str(out), "--samples", "40", "--lava-samples", "40"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env=env, start_new_session=True, preexec_fn=_default_sigint)
    log: list[str] = []
    verifying = threading.Event()

    def drain():                  # keep reading: a full stderr pipe would block the child
        for line in proc.stderr:
            log.append(line)
            if "[5/7] verify ..." in line:
                verifying.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    assert verifying.wait(timeout=300), "".join(log[-20:])
    time.sleep(10)           # past the reference rung (~1 s), inside 40 Lava samples (~3 s each)
    proc.send_signal(sig)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"deploy did not stop within 120 s of signal {sig}:\n" + "".join(log[-30:]))
    deadline = time.time() + 30                       # its Lava workers die with it
    while _live_members(proc.pid) and time.time() < deadline:
        time.sleep(0.5)
    assert _live_members(proc.pid) == []
    assert proc.returncode != 0
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert not set(left) & set(OUTPUTS)
    if sig == signal.SIGINT:                          # cleaned up entirely
        assert left == []
    else:                                             # only the hidden staging directory
        assert all(name.startswith(".deploy-") for name in left)


def test_deploy_bad_input_exits_2(tmp_path):
    bad = tmp_path / "x.pt"
    bad.write_bytes(b"not a checkpoint")
    r = subprocess.run([sys.executable, "-m", "neurodeploy.cli", "deploy", str(bad), "--out",
                        str(tmp_path / "o")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "x.pt" in r.stderr
    assert not (tmp_path / "o" / "bundle.h5").exists()
    assert np.all([not (tmp_path / "o" / n).exists() for n in OUTPUTS])
