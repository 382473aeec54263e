"""Long Lava == reference check of an exported bundle, one sample at a time, with the result
rewritten as JSON after every sample (safe to run under nohup and read while it runs).

    .venv/bin/python tools/lava_check.py BUNDLE.h5 --dataset digits --samples 20 \
        --json /tmp/lava_check.json [--start 0]

For each test sample: reference SNN and Lava (Loihi2SimCfg fixed_pt) for the bundle's steps,
every probed variable of every layer at every step compared bit for bit; the Lava prediction
(readout + integer head bias) against the integer ANN's.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle")
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--json", required=True)
    args = ap.parse_args(argv)

    import lava.magma.core.process.process  # noqa: F401  (before anything forks)

    from neurodeploy.bundle import read_bundle, read_metadata
    from neurodeploy.convert import encode, int_scores
    from neurodeploy.data import load_dataset
    from neurodeploy.lava.backend import LavaBackend
    from neurodeploy.sim.reference import simulate
    from neurodeploy.sim.traces import compare

    net, meta = read_bundle(args.bundle), read_metadata(args.bundle)
    ds = load_dataset(args.dataset)
    steps, ro = int(meta["steps"]), meta["readout"]
    bias = np.asarray(ro["bias"])
    out = dict(bundle=args.bundle, model=meta.get("model"), dataset=args.dataset, steps=steps,
               planned=args.samples, done=0, bit_exact=None, mismatches=0, per_sample=[])
    for i in range(args.start, args.start + args.samples):
        t0 = time.time()
        x, y = ds.x_test[i:i + 1], int(ds.y_test[i])
        data = encode(meta, x)
        rt = simulate(net, data, steps)
        lt = LavaBackend(net).run(data, steps)
        comp = compare(rt, lt)
        mism = int(sum(d["mismatches"] for d in comp.layers))
        lava_pred = int((lt[ro["node"], ro["variable"]][0, :, int(ro["step"]) - 1] + bias)
                        .argmax())
        ref_pred = int((rt[ro["node"], ro["variable"]][0, :, int(ro["step"]) - 1] + bias)
                       .argmax())
        int_pred = int(int_scores(net, meta, x).argmax(1)[0])
        out["per_sample"].append(dict(
            index=i, label=y, lava=lava_pred, ref=ref_pred, int_ann=int_pred,
            bit_exact=bool(comp.bit_exact), mismatches=mism,
            variables=len(comp.layers), seconds=round(time.time() - t0, 1),
            first_divergence=None if comp.bit_exact else comp.first_divergence.as_dict()))
        ps = out["per_sample"]
        out.update(done=len(ps), bit_exact=all(p["bit_exact"] for p in ps),
                   mismatches=sum(p["mismatches"] for p in ps),
                   lava_correct=sum(p["lava"] == p["label"] for p in ps),
                   lava_equals_int_ann=sum(p["lava"] == p["int_ann"] for p in ps))
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
        print(f"sample {i}: bit_exact={comp.bit_exact} mismatches={mism} "
              f"({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
    return 0 if out["bit_exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
