"""Speed of the reference simulator against Lava's CPU simulation (Loihi2SimCfg fixed_pt).

One 784-256-10 CUBA network (random 8-bit mixed-sign weights over the full range, thresholds that
give activity), 10 % input spike density, 100 steps, run in one process on: the reference with 1
sample, the reference with a batch of 64, and Lava with 1 sample. Both record the same probes
(spikes, u and v of both neuron layers; Lava through LavaBackend's Recorder process). Lava's
start-up (compile + process spawn + its first step) is timed apart from its steady rate:
``run(1 step)`` then ``run(steps - 1)``, on a freshly built network each repeat. The reference is
timed end to end (construction included). Every figure is the best of ``--repeat`` runs (the
machine is shared: best-of filters other load). The traces are then compared for bit-exactness
(Lava's sample against sample 0 of both reference runs).

    .venv/bin/python tools/bench_sim.py [--steps 100] [--batch 64] [--repeat 3] [--seed 0]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from neurodeploy import ir
from neurodeploy.sim.reference import KERNELS, ReferenceSimulator
from neurodeploy.sim.traces import Traces, compare

TARGET_BATCH, TARGET_SINGLE = 200.0, 5.0


def bench_network(seed: int = 0) -> ir.Network:
    rng = np.random.default_rng(seed)
    return ir.chain([
        ir.Input("in", shape=(784,)),
        ir.Dense("fc1", weight=rng.integers(-128, 128, (256, 784))),
        ir.Cuba("hidden", shape=(256,), i_decay=1024, v_decay=256, vth=1200),
        ir.Dense("fc2", weight=rng.integers(-128, 128, (10, 256))),
        ir.Cuba("out", shape=(10,), i_decay=1024, v_decay=256, vth=300),
    ], name="bench-784-256-10")


def time_reference(net: ir.Network, x: np.ndarray, steps: int, repeat: int) -> tuple[float, Traces]:
    best, traces = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        traces = ReferenceSimulator(net).run(x, steps)
        best = min(best, time.perf_counter() - t0)
    return best, traces


def time_lava(net: ir.Network, x: np.ndarray, steps: int) -> tuple[float, float, Traces]:
    """One sample on Lava, built and recorded exactly as ``LavaBackend._run_sample`` does it (the
    backend's process builders and its :class:`Recording`), but run as
    ``run(1)`` + ``run(steps - 1)``. Returns (start-up seconds, seconds for the rest, traces)."""
    from neurodeploy.lava.backend import LavaBackend, reverse_neurons
    from neurodeploy.lava.recording import Recording

    backend = LavaBackend(net)
    ctx = backend.build({"in": x[0]}, steps)
    probed = list(ctx.neurons)
    states = {n: KERNELS[type(net[n])].probe_names(net[n]) for n in probed}
    with Recording(ctx.neurons, states, steps, ctx.models) as rec:
        cfg = backend._run_cfg(ctx.models)
        t0 = time.perf_counter()
        rec.run(1, cfg)
        t1 = time.perf_counter()
        rec.run(steps - 1, cfg)
        t2 = time.perf_counter()
        raw = rec.collect()
    traces = Traces("lava", steps)
    for name, variables in raw.items():
        traces.data[name] = {var: reverse_neurons(arr, len(backend.shapes[name]))
                             .astype(np.int64)[None] for var, arr in variables.items()}
    return t1 - t0, t2 - t1, traces


def first_sample(t: Traces) -> Traces:
    return Traces(t.backend, t.steps, {k: {v: a[:1] for v, a in d.items()} for k, d in
                                       t.data.items()})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeat", type=int, default=3, help="timings: best of N (Lava too)")
    p.add_argument("--density", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    net = bench_network(args.seed).validate()
    rng = np.random.default_rng(args.seed + 1)
    x = (rng.random((args.batch, 784, args.steps)) < args.density).astype(np.int64)
    steps = args.steps

    t_ref1, ref1 = time_reference(net, x[:1], steps, args.repeat)
    t_refb, refb = time_reference(net, x, steps, args.repeat)
    lava_runs = [time_lava(net, x[:1], steps) for _ in range(args.repeat)]
    t_start = min(r[0] for r in lava_runs)
    t_lava, lava = min(r[1] for r in lava_runs), lava_runs[0][2]

    rate_ref1 = steps / t_ref1
    rate_refb = args.batch * steps / t_refb
    rate_lava = (steps - 1) / t_lava
    r1, rb = rate_ref1 / rate_lava, rate_refb / rate_lava
    hidden = refb.data["hidden"]["s"].mean()
    out = refb.data["out"]["s"].mean()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average {load} (figures are only comparable "
          f"on an idle machine)")
    print(f"network {net.name}: {steps} steps, input density {args.density:.0%}, "
          f"spike rate hidden {hidden:.1%}, out {out:.1%}; probes: s, u, v of both layers")
    print(f"reference, 1 sample:        {rate_ref1:12,.0f} samples*steps/s  "
          f"({t_ref1 * 1e3:.1f} ms, best of {args.repeat})")
    print(f"reference, batch of {args.batch:<3d}:    {rate_refb:12,.0f} samples*steps/s  "
          f"({t_refb * 1e3:.1f} ms, best of {args.repeat})")
    print(f"lava (Loihi2SimCfg fixed_pt): {rate_lava:10,.1f} samples*steps/s  "
          f"({t_lava:.2f} s for {steps - 1} steps, start-up excluded, best of {args.repeat})")
    print(f"lava start-up (compile + spawn + step 1): {t_start:.2f} s (best of {args.repeat})")
    print(f"ratio ref/lava, 1 sample:   {r1:8.1f}x  (target >= {TARGET_SINGLE:.0f}x: "
          f"{'met' if r1 >= TARGET_SINGLE else 'MISSED'})")
    print(f"ratio ref/lava, batch {args.batch:<3d}: {rb:8.1f}x  (target >= {TARGET_BATCH:.0f}x: "
          f"{'met' if rb >= TARGET_BATCH else 'MISSED'})")
    ok = True
    for label, ref in (("1 sample", ref1), ("batch sample 0", first_sample(refb))):
        comp = compare(ref, lava)
        n = sum(len(v) for v in lava.data.values())
        print(f"bit-exact ref ({label}) vs lava over {n} probed variables x {steps} steps: "
              f"{'yes' if comp.bit_exact else 'NO - ' + str(comp.first_divergence)}")
        ok &= comp.bit_exact
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
