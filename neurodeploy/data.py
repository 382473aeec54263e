"""Offline data sets for training and verification (no network access, deterministic).

* ``digits``: scikit-learn's 8x8 digits (1,797 images, 10 classes). Held-out split: 25 % test,
  stratified, ``random_state=0`` -> 1,347 train / 450 test. Pixels 0..16 are divided by 16:
  ``x`` is float32 in [0, 1], shape ``(N, 1, 8, 8)``.
* ``mnist1d``: MNIST-1D generated with ``mnist1d.data.make_dataset()`` and its default arguments
  (seed 42, 5,000 samples, 4,000 train / 1,000 test, 40-sample signals, standardised by the
  generator). Never its download path. ``x`` is float32, shape ``(N, 1, 1, 40)``. The generated
  arrays are cached in ``.neurodeploy_cache/mnist1d.npz`` (git-ignored; set
  ``NEURODEPLOY_CACHE`` to move it); deleting the cache regenerates identical arrays.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

__all__ = ["Dataset", "load_dataset", "DATASETS", "cache_dir"]

DATASETS = ("digits", "mnist1d")
DIGITS_TEST_FRACTION, DIGITS_SEED = 0.25, 0


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Arrays ready for the models: ``x_*`` float32 ``(N, C, H, W)``, ``y_*`` int64 ``(N,)``."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    input_shape: tuple[int, int, int]
    classes: int
    preprocessing: str = ""


def cache_dir() -> Path:
    """``$NEURODEPLOY_CACHE`` or ``<repo>/.neurodeploy_cache`` (git-ignored)."""
    env = os.environ.get("NEURODEPLOY_CACHE")
    return Path(env) if env else Path(__file__).resolve().parent.parent / ".neurodeploy_cache"


def _digits() -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None]
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=DIGITS_TEST_FRACTION,
                                          random_state=DIGITS_SEED, stratify=y)
    return Dataset("digits", xtr, ytr, xte, yte, (1, 8, 8), 10,
                   "pixels 0..16 / 16 -> [0, 1]; stratified 75/25 split, random_state=0")


def _mnist1d() -> Dataset:
    path = cache_dir() / "mnist1d.npz"
    if path.is_file():
        z = np.load(path)
        arrays = [z[k] for k in ("x", "y", "x_test", "y_test")]
    else:
        from mnist1d.data import get_dataset_args, make_dataset

        d = make_dataset(get_dataset_args())  # generated locally; never the download path
        arrays = [d["x"], d["y"], d["x_test"], d["y_test"]]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, x=arrays[0], y=arrays[1], x_test=arrays[2], y_test=arrays[3])
        os.replace(tmp, path)
    x, y, xt, yt = arrays
    return Dataset("mnist1d", x.astype(np.float32)[:, None, None], y.astype(np.int64),
                   xt.astype(np.float32)[:, None, None], yt.astype(np.int64), (1, 1, 40), 10,
                   "mnist1d make_dataset() defaults (seed 42), standardised by the generator")


def load_dataset(name: str) -> Dataset:
    """Load ``digits`` or ``mnist1d`` (see the module docstring for splits and scaling)."""
    if name == "digits":
        return _digits()
    if name == "mnist1d":
        return _mnist1d()
    raise KeyError(f"unknown dataset {name!r}; available: {list(DATASETS)}")
