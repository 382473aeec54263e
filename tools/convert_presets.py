"""Instantiate, convert and export the full-size CSDformer presets with random weights, timed.

Usage: ``python tools/convert_presets.py [--out DIR] [NAME ...]`` (default: all four presets).
Prints, per preset: parameters, IR nodes, neurons, synaptic weights stored, steps, the seconds
spent converting and writing the bundle, and the bundle size. Random weights (seed 0) with the
quantizers' initial steps (1.0): the bundles are for placement and performance work, not
accuracy.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from neurodeploy.bundle import write_bundle  # noqa: E402
from neurodeploy.convert import convert  # noqa: E402
from neurodeploy.models import PRESETS, build_model  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", default=sorted(PRESETS))
    ap.add_argument("--out", default=None, help="keep the bundles here (default: temporary)")
    args = ap.parse_args()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="nd-presets-"))
    out.mkdir(parents=True, exist_ok=True)
    for name in args.names:
        torch.manual_seed(0)
        t0 = time.perf_counter()
        model = build_model(name).eval()
        t1 = time.perf_counter()
        conv = convert(model)
        t2 = time.perf_counter()
        path = out / f"{name}.h5"
        write_bundle(conv.network, path, metadata=conv.metadata)
        t3 = time.perf_counter()
        shapes = conv.network.shapes()
        neurons = sum(int(np.prod(shapes[n.name])) for n in conv.network.neuron_groups()
                      if n.op in ("dif", "readout"))
        weights = sum(int(np.asarray(n.weight).size) for n in conv.network
                      if getattr(n, "weight", None) is not None and n.op != "tdec_matmul")
        params = sum(p.numel() for p in model.parameters())
        print(f"{name}: {params / 1e6:.2f} M params, {len(conv.network)} IR nodes, "
              f"{neurons:,} DIF/readout neurons, {weights:,} weights, "
              f"{conv.metadata['steps']} steps; build {t1 - t0:.1f} s, convert {t2 - t1:.1f} s, "
              f"bundle {t3 - t2:.1f} s, {path.stat().st_size / 2**20:.0f} MiB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
