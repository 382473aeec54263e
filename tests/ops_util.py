"""Helpers of the operator tests (tests/test_ops_*.py): run a network on ref and Lava, compare
every variable at every step, and the golden-file format (.npz: a tiny network as JSON, its
integer arrays, inputs and the expected integer traces)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import neurodeploy.ops  # noqa: F401  (registers the operators)
from neurodeploy import ir
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


# -- golden files ---------------------------------------------------------------------------
def save_golden(path: Path, net: ir.Network, inputs: dict[str, np.ndarray], steps: int) -> None:
    """Write ``net`` (nodes as JSON + int arrays), ``inputs`` and the reference traces."""
    nodes, arrays = [], {}
    for node in net:
        p = {}
        for k, v in node.params().items():
            if isinstance(v, np.ndarray):
                arrays[f"param/{node.name}/{k}"] = v
                p[k] = "@array"
            else:
                p[k] = v if not isinstance(v, tuple) else list(v)
        nodes.append(dict(op=node.op, name=node.name, sources=list(node.sources), params=p))
    tr = simulate(net, inputs, steps)
    for layer, var in tr.variables():
        arrays[f"trace/{layer}/{var}"] = tr[layer, var]
    for k, v in inputs.items():
        arrays[f"input/{k}"] = v
    meta = json.dumps(dict(nodes=nodes, steps=steps), default=int)
    np.savez_compressed(path, network=meta, **arrays)


def load_golden(path: Path, prefix: str = ""):
    """Return (nodes, inputs, expected traces, steps); node names get ``prefix``."""
    z = np.load(path)
    meta = json.loads(str(z["network"]))
    nodes = []
    for d in meta["nodes"]:
        cls = ir.NODE_TYPES[d["op"]]
        p = {k: (z[f"param/{d['name']}/{k}"] if v == "@array" else v)
             for k, v in d["params"].items()}
        for k, v in p.items():
            if isinstance(v, list):
                p[k] = tuple(v)
        nodes.append(cls(name=prefix + d["name"], sources=tuple(prefix + s for s in d["sources"]),
                         **p))
    inputs = {prefix + k[6:]: z[k] for k in z.files if k.startswith("input/")}
    expected = {}
    for k in z.files:
        if k.startswith("trace/"):
            _, layer, var = k.split("/")
            expected.setdefault(prefix + layer, {})[var] = z[k]
    return nodes, inputs, expected, int(meta["steps"])


def replay_goldens(backend: str, names: list[str]) -> int:
    """Merge the golden networks ``names`` into one network, run it on ``backend`` and compare
    with the stored traces exactly. Returns the number of variables checked."""
    net, inputs, expected, steps = ir.Network(name="goldens"), {}, {}, 0
    for i, name in enumerate(names):
        nodes, ins, exp, st = load_golden(GOLDEN / f"{name}.npz", prefix=f"g{i}_")
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
