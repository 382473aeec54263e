"""Measured quiescence of a converted SpikeZIP-TF model vs its settling bound.

    .venv/bin/python tools/spikezip_settle.py [MODEL] [--dataset digits] [--split test|train|all]
                                              [--samples N] [--batch 25] [--json OUT]

Runs the reference SNN for the converter's ``steps`` (the settling bound, see
:mod:`neurodeploy.convert.spikezip`) with every ST-BIF+ population probed and reports, per
sample, T_eq = the last step in which any ST-BIF+ neuron spikes (after that step only the
synapse hop to the readout remains: nothing changes again), the step from which the readout
no longer changes, and whether the accumulated head output equals the integer ANN exactly.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default="spikezip-digits")
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--split", choices=("test", "train", "all"), default="test")
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--json", default=None, help="also write the result as JSON to this file")
    args = ap.parse_args(argv)

    from neurodeploy.convert import convert, encode, int_scores, resolve_model
    from neurodeploy.data import load_dataset
    from neurodeploy.models import load_checkpoint
    from neurodeploy.ops.spikezip import StBif
    from neurodeploy.sim.reference import ReferenceSimulator

    t0 = time.time()
    conv = convert(load_checkpoint(resolve_model(args.model)))
    net, meta = conv.network, conv.metadata
    ds = load_dataset(args.dataset)
    x = {"test": ds.x_test, "train": ds.x_train,
         "all": np.concatenate([ds.x_train, ds.x_test])}[args.split]
    x = x[:args.samples] if args.samples else x
    steps = int(meta["steps"])
    ro = meta["readout"]
    neurons = [n.name for n in net if isinstance(n, StBif)]
    sim = ReferenceSimulator(net)
    si = int_scores(net, meta, x)
    t_eq, t_ro, exact = [], [], []
    for i in range(0, len(x), args.batch):
        tr = sim.run(encode(meta, x[i:i + args.batch]), steps, probe=neurons + [ro["node"]])
        b = len(x[i:i + args.batch])
        last = np.zeros(b, np.int64)
        for name in neurons:
            s = tr[name, "s"].reshape(b, -1, steps)
            active = np.any(s != 0, axis=1)                         # (b, steps)
            idx = np.where(active.any(1), steps - np.argmax(active[:, ::-1], axis=1), 0)
            last = np.maximum(last, idx)
        v = tr[ro["node"], ro["variable"]].reshape(b, -1, steps)
        chg = np.any(np.diff(v, axis=-1) != 0, axis=1)              # change into step k+2
        t_ro += list(np.where(chg.any(1), steps - np.argmax(chg[:, ::-1], axis=1), 1))
        t_eq += list(last)
        exact += list(np.all(v[..., int(ro["step"]) - 1] + np.asarray(ro["bias"])
                             == si[i:i + b], axis=1))
        print(f"  {i + b}/{len(x)} samples, max T_eq so far {max(t_eq)}", file=sys.stderr)
    t_eq, t_ro = np.asarray(t_eq), np.asarray(t_ro)
    out = dict(model=args.model, dataset=args.dataset, split=args.split, samples=len(x),
               steps=steps, settle_bound=int(meta["quantization"]["settle_bound"]),
               t_eq_max=int(t_eq.max()), t_eq_mean=float(t_eq.mean()),
               t_eq_p99=float(np.percentile(t_eq, 99)),
               readout_final_max=int(t_ro.max()), readout_final_mean=float(t_ro.mean()),
               head_exact=int(np.sum(exact)), seconds=round(time.time() - t0, 1))
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0 if out["head_exact"] == len(x) and out["t_eq_max"] < steps else 1


if __name__ == "__main__":
    sys.exit(main())
