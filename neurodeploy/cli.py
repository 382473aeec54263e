"""The ``neurodeploy`` command line.

Every subcommand is a small function registered in :data:`COMMANDS` with :func:`command`; the
parser is built from that table, so adding a subcommand (export, place, check, deploy, inspect …)
is one decorated function. Heavy modules (Lava, torch, h5py, the simulators) are imported inside
the handlers, so ``neurodeploy --help`` stays fast.

Exit codes: 0 success (``verify``: bit-exact), 1 ``verify`` found a divergence (``doctor``: a
simulation backend does not work), 2 bad input — every :class:`NeurodeployError`, unreadable or
missing files, bad arguments — reported as ``neurodeploy: error: ...`` on stderr, no traceback.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from .errors import NeurodeployError

if TYPE_CHECKING:
    import numpy as np

    from . import ir
    from .sim.traces import Comparison, Traces

__all__ = ["COMMANDS", "Command", "command", "main", "build_parser", "format_comparison",
           "load_input", "run_backend", "SIM_BACKENDS", "BACKENDS"]

PROG = "neurodeploy"
SIM_BACKENDS = ("ref", "lava")            #: software backends (doctor requires both)
BACKENDS = (*SIM_BACKENDS, "loihi")       #: every backend name the CLI accepts


@dataclass(frozen=True)
class Command:
    """One subcommand: ``configure`` adds its arguments, ``handler`` runs it and returns the
    exit code."""
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {}


def command(name: str, help: str, configure: Callable[[argparse.ArgumentParser], None]
            = lambda p: None) -> Callable[[Callable[[argparse.Namespace], int]],
                                          Callable[[argparse.Namespace], int]]:
    """Decorator registering ``handler(args) -> int`` as subcommand ``name``."""
    def register(handler: Callable[[argparse.Namespace], int]):
        COMMANDS[name] = Command(name, help, configure, handler)
        return handler
    return register


class UsageError(NeurodeployError):
    """A bad command-line value (exit 2 like every other bad input)."""


# -- shared helpers ------------------------------------------------------------------------------

def load_bundle(path: str) -> "ir.Network":
    """Read a netx bundle into the IR; a missing file is a clear error, not a traceback."""
    if not Path(path).is_file():
        raise NeurodeployError("bundle not found", file=path)
    import warnings

    from .bundle import read_bundle
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net = read_bundle(path)
    for w in caught:          # e.g. where netx 0.6.0 reads the file differently: one line each
        print(f"{PROG}: warning: {w.message}", file=sys.stderr)
    return net


def load_input(path: str, net: "ir.Network") -> dict[str, "np.ndarray"]:
    """Load X.npy (or an .npz with one array per input name) and validate it against the
    network's inputs: shape (*input_shape, steps) or (batch, *input_shape, steps), integer values
    in the input's range. Returns ``{input name: int64 (batch, *shape, T)}``."""
    import numpy as np

    from .sim.reference import check_input
    p = Path(path)
    if not p.is_file():
        raise NeurodeployError("input file not found", file=path, field="input")
    try:
        loaded = np.load(p, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                arrays = {k: loaded[k] for k in loaded.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise NeurodeployError(f"cannot read input array ({exc})", file=path,
                               field="input") from None
    inputs = net.inputs
    if not isinstance(loaded, np.ndarray):
        unknown = sorted(set(arrays) - {n.name for n in inputs})
        if unknown:
            raise NeurodeployError("arrays do not name input layers", file=path, field="input",
                                   value=unknown, limit=[n.name for n in inputs])
    elif len(inputs) == 1:
        arrays = {inputs[0].name: loaded}
    else:
        raise NeurodeployError("the network has several inputs: give an .npz with one array per "
                               "input name", file=path, field="input",
                               value=[n.name for n in inputs])
    data = {}
    for node in inputs:
        if node.name not in arrays:
            raise NeurodeployError("no data for input", file=path, layer=node.name,
                                   field="input")
        try:
            data[node.name] = check_input(node, arrays[node.name])
        except NeurodeployError as exc:
            raise exc.located(file=path) from None
    if len({a.shape[0] for a in data.values()}) != 1:
        raise NeurodeployError("inputs disagree on the batch size", file=path, field="input")
    return data


def _progress(backend: str, batch: int) -> Callable | None:
    """A tqdm wrapper on stderr for multi-sample Lava runs (None for one sample)."""
    if batch < 2:
        return None
    from tqdm import tqdm
    return lambda it: tqdm(it, desc=backend, unit="sample", file=sys.stderr, leave=False)


def run_backend(name: str, net: "ir.Network", data: dict[str, "np.ndarray"], steps: int,
                strict: bool = False) -> "Traces":
    """Run ``net`` on backend ``name`` ('ref', 'lava' or 'loihi') and return its traces."""
    if name == "ref":
        from .sim.reference import ReferenceSimulator
        return ReferenceSimulator(net, strict=strict).run(data, steps)
    if name in ("lava", "loihi"):
        # Lava calls multiprocessing.set_start_method('fork') when imported; tqdm's lock would
        # fix the start method first, so Lava must be imported before the progress bar exists.
        import lava.magma.core.process.process  # noqa: F401

        from .lava.backend import LavaBackend
        backend = LavaBackend(net, hardware=name == "loihi", strict=strict)
        batch = next(iter(data.values())).shape[0]
        with contextlib.redirect_stdout(sys.stderr):   # keep stdout for our own output
            return backend.run(data, steps, progress=_progress(name, batch))
    raise UsageError(f"unknown backend '{name}'", field="backend", value=name,
                     limit=", ".join(BACKENDS))


def _steps(args: argparse.Namespace, data: dict[str, "np.ndarray"]) -> int:
    steps = args.steps if args.steps is not None else \
        max(a.shape[-1] for a in data.values())
    if steps < 1:
        raise UsageError("must be at least 1", field="--steps", value=steps)
    return steps


def _warn_overflow(traces: "Traces") -> None:
    for ev in traces.overflow:
        print(f"{PROG}: warning: {traces.backend}: layer '{ev.layer}', {ev.variable} wrapped or "
              f"saturated {ev.count} time(s) (first: sample {ev.sample}, neuron "
              f"{tuple(ev.neuron)}, step {ev.step}, value {ev.value}; limit {ev.limit}); "
              f"--strict makes this an error", file=sys.stderr)


def _backend_arg(text: str) -> str:
    if text not in BACKENDS:
        raise argparse.ArgumentTypeError(f"unknown backend '{text}' (choose from "
                                         f"{', '.join(BACKENDS)})")
    return text


def _backend_list(text: str) -> list[str]:
    names = [_backend_arg(t.strip()) for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"give backends, e.g. ref,lava (got '{text}')")
    return names


def _sim_arguments(p: argparse.ArgumentParser, input_required: bool = True) -> None:
    p.add_argument("bundle", help="netx/HDF5 deployment bundle")
    p.add_argument("--input", required=input_required, metavar="X.npy",
                   help="integer spikes/graded values, (*input_shape, steps) or "
                        "(batch, *input_shape, steps); .npz: one array per input name")
    p.add_argument("--steps", type=int, default=None,
                   help="steps to simulate (default: the input's length)")
    p.add_argument("--strict", action="store_true",
                   help="a state that would wrap or saturate on the chip is an error")


# -- doctor --------------------------------------------------------------------------------------

DOCTOR_PACKAGES = ("numpy", "torch", "h5py", "lava-nc", "lava-dl")


def _doctor_network() -> tuple["ir.Network", "np.ndarray"]:
    import numpy as np

    from . import ir
    rng = np.random.default_rng(0)
    net = ir.chain([ir.Input("in", shape=(4,)),
                    ir.Dense("fc", weight=rng.integers(-128, 128, (3, 4))),
                    ir.Cuba("out", shape=(3,), i_decay=1024, v_decay=128, vth=20)],
                   name="doctor")
    return net, (rng.random((1, 4, 3)) < 0.5).astype(np.int64)


@command("doctor", "check the installation: versions, Lava 3.11 fix, usable backends")
def cmd_doctor(args: argparse.Namespace) -> int:
    import platform
    from importlib import metadata

    from . import compat
    print(f"{'python':10s} {platform.python_version()}")
    for pkg in DOCTOR_PACKAGES:
        try:
            version = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            version = "not installed"
        print(f"{pkg:10s} {version}")
    fix = compat.status()
    print(f"lava-nc Python 3.11 compatibility fix: {fix}"
          + ("  (run: python -m neurodeploy.compat --apply)" if fix == "needed" else ""))
    try:
        from .lava.backend import loihi_available
        loihi = loihi_available()
    except Exception:  # noqa: BLE001 - lava itself broken: reported below
        loihi = False
    print(f"lava-loihi (Loihi 2 hardware support): "
          f"{'importable' if loihi else 'not installed (Intel proprietary, INRC members)'}")
    net, x = _doctor_network()
    results: dict[str, object] = {}
    ok = True
    for name in SIM_BACKENDS:
        try:
            results[name] = run_backend(name, net, {"in": x}, 3)
            status = "usable"
        except Exception as exc:  # noqa: BLE001 - any failure means 'not usable'
            status = f"NOT usable ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
            ok = False
        print(f"backend {name:5s} {status}")
    if ok:
        from .sim.traces import compare
        agree = compare(results["ref"], results["lava"]).bit_exact
        print(f"ref == lava on a 3-step test network: {'bit-exact' if agree else 'DIVERGES'}")
        ok = agree
    print(f"backend loihi {'usable' if loihi else 'not available (lava-loihi not installed)'}")
    print("simulation backends OK" if ok else "simulation backends NOT working")
    return 0 if ok else 1


# -- run -----------------------------------------------------------------------------------------

def _configure_run(p: argparse.ArgumentParser) -> None:
    _sim_arguments(p)
    p.add_argument("--backend", type=_backend_arg, default="ref", metavar="ref|lava|loihi",
                   help="where to run (default: ref)")
    p.add_argument("--out", metavar="traces.h5", help="write the traces (HDF5) here")


@command("run", "run a bundle on one backend and save its per-step traces", _configure_run)
def cmd_run(args: argparse.Namespace) -> int:
    net = load_bundle(args.bundle)
    data = load_input(args.input, net)
    steps = _steps(args, data)
    traces = run_backend(args.backend, net, data, steps, args.strict)
    _warn_overflow(traces)
    if args.out:
        try:
            traces.save(args.out)
        except OSError as exc:
            raise NeurodeployError(f"cannot write traces ({exc.strerror or exc})",
                                   file=args.out, field="--out") from None
    batch = next(iter(data.values())).shape[0]
    print(f"{args.backend}: {batch} sample(s) x {steps} steps")
    for layer, var in traces.variables():
        if var == "s":
            print(f"  {layer:20s} spikes: {int((traces[layer, var] != 0).sum())}")
    if args.out:
        print(f"traces written to {args.out}")
    return 0


# -- verify --------------------------------------------------------------------------------------

def format_comparison(comp: "Comparison") -> str:
    """Human-readable verdict: 'bit-exact' or the first divergence, then the mismatch table."""
    a, b = comp.backends
    lines = [f"{a} vs {b}: bit-exact" if comp.bit_exact else f"{a} vs {b}: {comp.first_divergence}"]
    width = max([len(d["name"]) for d in comp.layers] + [5])
    lines.append(f"{'layer':{width}s}  {'variable':8s}  {'mismatches':>10s}")
    for d in comp.layers:
        note = f"  ({d['note']})" if d.get("note") else ""
        lines.append(f"{d['name']:{width}s}  {d['variable']:8s}  {d['mismatches']:>10d}{note}")
    return "\n".join(lines)


def _configure_verify(p: argparse.ArgumentParser) -> None:
    _sim_arguments(p, input_required=False)
    p.add_argument("--backends", type=_backend_list, default=["ref", "lava"], metavar="A,B",
                   help="the two backends to compare (default: ref,lava); with --golden, the "
                        "backends to replay the golden vectors on")
    p.add_argument("--golden", action="store_true",
                   help="replay the bundle's stored golden inputs on each backend and compare "
                        "with its stored integer traces (the on-hardware self-test)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--dataset", choices=("digits", "mnist1d"),
                   help="instead of --input: the accuracy ladder of an exported model on the "
                        "held-out split (float ANN, QANN, integer IR as ANN, reference SNN, Lava "
                        "SNN); --backends then names the SNN backends to run (ref, lava)")
    p.add_argument("--samples", type=int, default=None, metavar="N",
                   help="with --dataset: the first N test samples (default: all)")
    p.add_argument("--lava-samples", type=int, default=20, metavar="M",
                   help="with --dataset: the first M samples also run on Lava, compared with "
                        "the reference bit for bit on all layers and steps (default: 20)")


@command("verify", "run a bundle on two backends and compare every probed variable at every step",
         _configure_verify)
def cmd_verify(args: argparse.Namespace) -> int:
    from .sim.traces import compare
    if args.golden:
        return _verify_golden(args)
    if args.dataset is not None:
        if args.input is not None:
            raise UsageError("give either --input or --dataset", field="--dataset")
        return _verify_dataset(args)
    if len(args.backends) != 2:
        raise UsageError("give exactly two backends, e.g. ref,lava", field="--backends",
                         value=",".join(args.backends))
    if args.input is None:
        raise UsageError("give --input X.npy (or --golden to replay the stored vectors)",
                         field="--input")
    net = load_bundle(args.bundle)
    data = load_input(args.input, net)
    steps = _steps(args, data)
    a, b = args.backends
    ta = run_backend(a, net, data, steps, args.strict)
    tb = run_backend(b, net, data, steps, args.strict)
    if b == a:
        tb.backend = f"{b}#2"       # keep both value columns apart
    comp = compare(ta, tb)
    if args.json:
        out = comp.as_dict()
        out.update(steps=steps, batch=int(next(iter(data.values())).shape[0]),
                   overflow={t.backend: [e.as_dict() for e in t.overflow] for t in (ta, tb)})
        print(json.dumps(out))
    else:
        _warn_overflow(ta)
        print(format_comparison(comp))
    return 0 if comp.bit_exact else 1


# -- place (neurodeploy.place.command) -----------------------------------------------------------

def _configure_place(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="netx/HDF5 deployment bundle")
    p.add_argument("--target", default="loihi2", help="target name or TOML path (default loihi2)")
    p.add_argument("--chips", type=int, default=None, help="chips available (default: fewest)")
    p.add_argument("--activity", metavar="X.npy", default=None,
                   help="input spikes: spike rates measured by the reference simulator "
                        "(default: fan-out counts)")
    p.add_argument("--json", action="store_true", help="print the placement as JSON")
    p.add_argument("--plot", metavar="out.png", default=None, help="per-core utilisation heatmap")
    p.add_argument("--write", action="store_true",
                   help="store the placement in the bundle's metadata ('placement')")
    p.add_argument("--seed", type=int, default=0, help="placement seed (default 0)")


@command("place", "partition, pack and place a bundle on a target's cores and chips",
         _configure_place)
def cmd_place(args: argparse.Namespace) -> int:
    from .place.command import place_bundle
    text, _ = place_bundle(args.bundle, args.target, args.chips, args.activity, args.json,
                           args.plot, args.write, args.seed, net=load_bundle(args.bundle))
    print(text)
    return 0


def _verify_golden(args: argparse.Namespace) -> int:
    """``verify --golden``: every backend against the bundle's golden traces."""
    from .bundle import read_golden, replay_golden
    if args.input is not None:
        raise UsageError("--golden replays the bundle's stored inputs: drop --input",
                         field="--input")
    net = load_bundle(args.bundle)            # validates structure and checksums
    golden = read_golden(args.bundle)
    if golden is None:
        raise NeurodeployError("bundle has no golden vectors (write it with "
                               "write_bundle(..., golden=...))", file=args.bundle,
                               field="golden")
    if args.steps is not None and args.steps != golden.steps:
        raise UsageError("--golden replays the stored number of steps", field="--steps",
                         value=args.steps, limit=golden.steps)
    results = {}
    for name in dict.fromkeys(args.backends):
        results[name] = replay_golden(
            net, golden, name,
            run=lambda b, n, x, steps: run_backend(b, n, x, steps, args.strict))
    ok = all(c.bit_exact for c in results.values())
    if args.json:
        print(json.dumps(dict(golden=True, bit_exact=ok, steps=golden.steps,
                              batch=golden.batch,
                              backends={k: c.as_dict() for k, c in results.items()})))
    else:
        for comp in results.values():
            print(format_comparison(comp))
        print(f"golden self-test: {'PASSED' if ok else 'FAILED'} on "
              f"{', '.join(results)} ({golden.batch} sample(s) x {golden.steps} steps)")
    return 0 if ok else 1


# -- inspect -------------------------------------------------------------------------------------

def _configure_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="netx/HDF5 deployment bundle")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")


@command("inspect", "print a bundle's manifest and validate the checksum of every dataset",
         _configure_inspect)
def cmd_inspect(args: argparse.Namespace) -> int:
    if not Path(args.bundle).is_file():
        raise NeurodeployError("bundle not found", file=args.bundle)
    from .bundle import read_manifest, validate_checksums
    manifest = read_manifest(args.bundle)
    if manifest is None:
        print(f"{PROG}: warning: {args.bundle}: no manifest (not written by neurodeploy's "
              "write_bundle): no checksums to validate", file=sys.stderr)
        net = load_bundle(args.bundle)
        print(json.dumps({"manifest": None, "network": net.name, "nodes": len(net)})
              if args.json else f"network '{net.name}': {len(net)} nodes, no manifest")
        return 0
    n = validate_checksums(args.bundle)
    net = load_bundle(args.bundle)            # the structure must read too
    if args.json:
        print(json.dumps(dict(manifest, checksums_valid=True)))
        return 0
    for key in ("network", "nodes", "neurodeploy_version", "format_version", "manifest_version",
                "target", "model_hash", "quantization", "time_steps", "netx_compatible"):
        value = manifest.get(key)
        print(f"{key:20s} {json.dumps(value) if isinstance(value, (dict, list)) else value}")
    g = manifest.get("golden")
    print(f"{'golden':20s} " + ("none" if not g else
                                f"{g['batch']} sample(s) x {g['steps']} steps, inputs "
                                f"{', '.join(g['inputs'])}, {len(g['traces'])} traces "
                                f"({g['backend']})"))
    print(f"{'layers':20s} " + ", ".join(f"{x.name} ({x.op})" for x in net))
    print(f"checksums: {n} datasets and the attributes valid (sha256)")
    return 0


# -- check ---------------------------------------------------------------------------------------

def _configure_check(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL_OR_BUNDLE",
                   help="a bundle (.h5) or a model checkpoint (converted with neurodeploy.convert)")
    p.add_argument("--target", default="loihi2", help="target name or TOML file "
                                                      "(default: loihi2)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


@command("check", "compatibility report: every layer, where it runs, what it needs, blockers "
                  "with fixes (exit 1 when not deployable)", _configure_check)
def cmd_check(args: argparse.Namespace) -> int:
    import warnings

    from .check import check_network, format_check, load_model_or_bundle
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net = load_model_or_bundle(args.model)
    for w in caught:
        print(f"{PROG}: warning: {w.message}", file=sys.stderr)
    report = check_network(net, args.target)
    print(json.dumps(report.to_dict()) if args.json else format_check(report))
    return 0 if report.deployable else 1


# -- export --------------------------------------------------------------------------------------

def _configure_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a checkpoint (.pt) or the name of a shipped model, e.g. "
                                 "csdformer-digits")
    p.add_argument("-o", "--output", required=True, metavar="BUNDLE.h5",
                   help="the deployment bundle to write")
    p.add_argument("--target", default="loihi2", help="target name or TOML file (default: loihi2)")
    p.add_argument("--json", action="store_true",
                   help="print the metadata and the quantisation report as one JSON object")


@command("export", "convert a trained model to the integer IR and write a deployment bundle",
         _configure_export)
def cmd_export(args: argparse.Namespace) -> int:
    from .convert.ladder import export_model
    conv, warnings_ = export_model(args.model, args.output, target=args.target)
    if args.json:
        print(json.dumps(dict(metadata=conv.metadata, report=conv.report.rows,
                              netx_warnings=warnings_)))
        return 0
    m = conv.metadata
    print(f"{m['model']} ({m['arch']}) -> {args.output}: {len(conv.network)} nodes, "
          f"{m['steps']} steps, target {m['target']}")
    if m.get("host_operators"):
        print(f"host operators — not on neurocores: {', '.join(m['host_operators'])}")
    print("quantisation error (float vs integer parameters):")
    print(conv.report.format())
    return 0


def _verify_dataset(args: argparse.Namespace) -> int:
    unknown = [b for b in args.backends if b not in SIM_BACKENDS]
    if unknown:
        raise UsageError("--dataset runs the ref and lava backends only", field="--backends",
                         value=",".join(unknown))
    if not Path(args.bundle).is_file():
        raise NeurodeployError("bundle not found", file=args.bundle)
    import lava.magma.core.process.process  # noqa: F401  (before tqdm, see run_backend)
    from tqdm import tqdm

    from .convert.ladder import format_ladder, ladder

    def bar(desc: str, unit: str):
        return lambda it: tqdm(it, desc=desc, unit=unit, file=sys.stderr, leave=False)

    with contextlib.redirect_stdout(sys.stderr):
        out = ladder(args.bundle, args.dataset, samples=args.samples,
                     lava_samples=args.lava_samples if "lava" in args.backends else 0,
                     ref="ref" in args.backends, progress=bar)
    print(json.dumps(out) if args.json else format_ladder(out))
    return 0 if out["bit_exact"] in (True, None) else 1


def _configure_deploy(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", nargs="?", metavar="MODEL_OR_BUNDLE",
                   help="shipped model name, checkpoint path or bundle (default: the shipped "
                        "csdformer-digits model)")
    p.add_argument("--target", default="loihi2", help="target name or TOML path")
    p.add_argument("--dataset", choices=("digits", "mnist1d"),
                   help="held-out data for verification (default: the model's own)")
    p.add_argument("--out", default="deploy-out", metavar="DIR",
                   help="output directory for bundle.h5, report.json, report.html")
    p.add_argument("--samples", type=int, default=None,
                   help="held-out samples for the accuracy ladder (default: all)")
    p.add_argument("--lava-samples", type=int, default=2,
                   help="samples also run on Lava and compared bit for bit (default: 2)")
    p.add_argument("--chips", type=int, default=None, help="chips available (default: fewest)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


@command("deploy", "convert, check, place, verify and cost a model; write bundle and report",
         _configure_deploy)
def cmd_deploy(args: argparse.Namespace) -> int:
    from .deploy import deploy
    report = deploy(args.source, target=args.target, dataset=args.dataset, out_dir=args.out,
                    samples=args.samples, lava_samples=args.lava_samples, chips=args.chips)
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k != "energy"} |
                         {"energy": {k: v for k, v in report["energy"].items()
                                     if k != "detail"}}))
    else:
        width = max(len(k) for k in report["summary"])
        for key, value in report["summary"].items():
            print(f"  {key:{width}s}  {value}")
        print(f"wrote {args.out}/bundle.h5, {args.out}/report.json, {args.out}/report.html")
    exact = report["verification"]["bit_exact"]
    return 0 if exact in (True, None) else 1


# -- entry point ---------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Deploy converted spiking transformers on Loihi 2 via Lava, "
                               "bit-exact against neurodeploy's reference simulator.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in COMMANDS.values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.configure(p)
        p.set_defaults(handler=cmd.handler)
    return parser


@contextlib.contextmanager
def _no_pipe_errors() -> Iterator[None]:
    try:
        yield
    except BrokenPipeError:       # `neurodeploy verify ... | head`
        sys.stderr.close()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:     # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        with _no_pipe_errors():
            return int(args.handler(args))
    except NeurodeployError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
