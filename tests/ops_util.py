"""Helpers of the operator tests (tests/test_ops_*.py): run a network on ref and Lava, compare
every variable at every step, and the golden bundles (tests/data/golden/<op>.h5: a tiny network
around one operator as a neurodeploy bundle whose manifest holds the inputs and the expected
integer traces of the reference simulator)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

import neurodeploy.ops  # noqa: F401  (registers the operators)
from neurodeploy import ir
from neurodeploy.bundle import read_bundle, read_golden, write_bundle
from neurodeploy.sim.reference import simulate
from neurodeploy.sim.traces import Traces, compare

GOLDEN = Path(__file__).parent / "data" / "golden"


def run(backend: str, net: ir.Network, inputs, steps: int, strict: bool = False) -> Traces:
    if backend == "ref":
        return simulate(net, inputs, steps, strict=strict)
    from neurodeploy.lava.backend import LavaBackend
    return LavaBackend(net, strict=strict).run(inputs, steps)


def assert_exact(a: Traces, b: Traces, layers: list[str] | None = None) -> int:
    """np.array_equal on every probed variable of ``layers`` (all if None); returns how many
    (layer, variable) pairs were compared."""
    c = compare(a, b)
    assert c.bit_exact, str(c.first_divergence)
    n = 0
    for layer, var in a.variables():
        if layers is None or layer in layers:
            assert np.array_equal(a[layer, var], b[layer, var]), (layer, var)
            n += 1
    return n


def graded(name: str, shape, bits: int = 24) -> ir.Input:
    return ir.Input(name, shape=tuple(shape), message_bits=bits)


# -- golden bundles ---------------------------------------------------------------------------
def save_golden(path: Path, net: ir.Network, inputs: dict[str, np.ndarray], steps: int) -> None:
    """Write ``net`` as a bundle whose manifest holds ``inputs`` and the reference traces."""
    write_bundle(net, path, metadata={"time_steps": steps, "purpose": "operator golden"},
                 golden={"inputs": inputs, "steps": steps})


def load_golden(path: Path, prefix: str = ""):
    """Return (nodes, inputs, expected traces, steps) of a golden bundle; node names get
    ``prefix``. The bundle's checksums are validated by read_bundle."""
    net = read_bundle(path)
    golden = read_golden(path)
    assert golden is not None, f"{path} has no golden vectors"
    nodes = [dataclasses.replace(n, name=prefix + n.name,
                                 sources=tuple(prefix + s for s in n.sources)) for n in net]
    inputs = {prefix + k: v for k, v in golden.inputs.items()}
    expected = {prefix + layer: dict(v) for layer, v in golden.traces.items()}
    return nodes, inputs, expected, golden.steps


def golden_names() -> list[str]:
    return sorted(p.stem for p in GOLDEN.glob("*.h5"))


def replay_goldens(backend: str, names: list[str]) -> int:
    """Merge the golden networks ``names`` into one network, run it on ``backend`` and compare
    with the stored traces exactly. Returns the number of variables checked."""
    net, inputs, expected, steps = ir.Network(name="goldens"), {}, {}, 0
    for i, name in enumerate(names):
        nodes, ins, exp, st = load_golden(GOLDEN / f"{name}.h5", prefix=f"g{i}_")
        for n in nodes:
            net.add(n)
        inputs.update(ins)
        expected.update(exp)
        steps = max(steps, st)
    tr = run(backend, net, inputs, steps)
    n = 0
    for layer, variables in expected.items():
        for var, arr in variables.items():
            got = tr[layer, var][..., :arr.shape[-1]]
            assert np.array_equal(got, arr), (layer, var)
            n += 1
    return n
