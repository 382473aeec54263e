"""The report's figures, rendered to PNG bytes with matplotlib (Agg backend, no display).

Each plot function takes the report mapping (see :func:`neurodeploy.deploy.deploy`) and the
optional raster of one sample, and returns PNG bytes, or None when the data it needs is absent.
"""
from __future__ import annotations

import io
from typing import Callable

import numpy as np

__all__ = ["PLOTS", "render_plots"]


def _figure(width: float = 7.0, height: float = 3.4):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(width, height))
    return plt, fig, ax


def _png(plt, fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def raster(report: dict, spikes: dict[str, np.ndarray] | None) -> bytes | None:
    """Spike raster of one sample: every neuron of every layer (stacked), x = step."""
    if not spikes:
        return None
    plt, fig, ax = _figure(7.0, 4.2)
    offset, ticks, labels = 0, [], []
    for layer, s in spikes.items():
        flat = np.asarray(s).reshape(-1, np.asarray(s).shape[-1])   # (neurons, steps)
        n, t = np.nonzero(flat)
        ax.scatter(t + 1, n + offset, s=9, marker="|", linewidths=0.9)
        ticks.append(offset + flat.shape[0] / 2)
        labels.append(layer)
        offset += flat.shape[0]
    ax.set_yticks(ticks, labels, fontsize=7)
    ax.set_xlabel("time step")
    ax.set_title(f"spike raster, sample {report.get('raster_sample', 0)} (reference simulator)")
    ax.set_ylim(-1, max(offset, 1))
    return _png(plt, fig)


def _layer_bar(report: dict, key: str, title: str, xlabel: str) -> bytes | None:
    layers = report.get("layers") or []
    rows = [(row["name"], row[key]) for row in layers if row.get(key) is not None]
    if not rows:
        return None
    plt, fig, ax = _figure(7.0, max(2.2, 0.28 * len(rows) + 1.0))
    names, values = zip(*rows)
    ax.barh(range(len(rows)), values, color="#3b6ea8")
    ax.set_yticks(range(len(rows)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return _png(plt, fig)


def firing_rates(report: dict, spikes=None) -> bytes | None:
    return _layer_bar(report, "firing_rate", "per-layer firing rate (reference simulator)",
                      "spikes per neuron per step")


def synaptic_ops(report: dict, spikes=None) -> bytes | None:
    return _layer_bar(report, "synaptic_ops", "per-layer synaptic operations per inference "
                      "(estimated)", "synaptic operations")


def core_utilisation(report: dict, spikes=None) -> bytes | None:
    """Per-core utilisation of every budget as a heatmap (cores x budgets)."""
    placement = report.get("placement") or {}
    load, cap = placement.get("core_load"), placement.get("capacity")
    if not load or not cap:
        return None
    util = np.asarray(load, dtype=float) / np.maximum(np.asarray(cap, dtype=float), 1)
    budgets = placement.get("budgets") or [f"budget {i}" for i in range(util.shape[1])]
    plt, fig, ax = _figure(7.0, 3.0)
    im = ax.imshow(util.T, aspect="auto", vmin=0, vmax=1, cmap="viridis", interpolation="nearest")
    ax.set_yticks(range(len(budgets)), budgets, fontsize=7)
    ax.set_xlabel("core")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"core utilisation: {placement.get('cores')} cores, lower bound "
                 f"{placement.get('lower_bound')}, halving baseline "
                 f"{placement.get('baseline_cores')}")
    fig.colorbar(im, ax=ax, label="demand / capacity")
    return _png(plt, fig)


def accuracy_ladder(report: dict, spikes=None) -> bytes | None:
    ladder = (report.get("accuracy") or {}).get("rungs") or {}
    rows = [(k, v) for k, v in ladder.items() if v is not None]
    if not rows:
        return None
    plt, fig, ax = _figure(7.0, 3.0)
    names, values = zip(*rows)
    bars = ax.bar(range(len(rows)), [100 * v for v in values], color="#5a9e6f")
    for bar, v in zip(bars, values):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"{100 * v:.2f}",
                ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(rows)), names, fontsize=8)
    ax.set_ylim(max(0, 100 * min(values) - 10), 100.5)
    ax.set_ylabel("accuracy (%)")
    ax.set_title("accuracy ladder (held-out data)")
    return _png(plt, fig)


#: title -> plot function, in the order the HTML report shows them
PLOTS: dict[str, Callable] = {
    "Accuracy ladder": accuracy_ladder,
    "Spike raster": raster,
    "Per-layer firing rates": firing_rates,
    "Per-layer synaptic operations": synaptic_ops,
    "Core utilisation": core_utilisation,
}


def render_plots(report: dict, spikes: dict[str, np.ndarray] | None = None) -> dict[str, bytes]:
    """Every plot whose data is present, as PNG bytes keyed by title."""
    out = {}
    for title, fn in PLOTS.items():
        png = fn(report, spikes)
        if png:
            out[title] = png
    return out
