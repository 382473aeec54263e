"""Shared fixtures: tiny IR networks and the backend parametrisation (ref, lava, loihi).

Use ``backend`` as a fixture argument to run a test on every backend, or
``@pytest.mark.parametrize("backend", backend_params("ref", "lava"))`` for a subset
(``from conftest import backend_params``). ``loihi`` is skipped, visibly, without lava-loihi.
"""
from __future__ import annotations

from typing import Callable

# Lava sets the multiprocessing start method ('fork') when its runtime is imported; anything that
# creates a multiprocessing context first (a tqdm progress bar does) makes that import fail, so the
# suite imports Lava before any test runs.
import lava.magma.core.process.process  # noqa: F401
import numpy as np
import pytest

from neurodeploy import ir

LOIHI_SKIP_REASON = "lava-loihi (Intel proprietary) not installed"


def loihi_installed() -> bool:
    try:
        from neurodeploy.lava.backend import loihi_available
        return bool(loihi_available())
    except Exception:  # noqa: BLE001 - lava itself missing or broken
        return False


LOIHI = loihi_installed()


def backend_params(*names: str) -> list:
    """pytest params for backend names (default all): 'lava'/'loihi' carry the ``lava`` mark,
    'loihi' is skipped with :data:`LOIHI_SKIP_REASON` when lava-loihi is not importable."""
    params = []
    for name in names or ("ref", "lava", "loihi"):
        marks: list = [] if name == "ref" else [pytest.mark.lava]
        if name == "loihi":
            marks.append(pytest.mark.skipif(not LOIHI, reason=LOIHI_SKIP_REASON))
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.fixture(params=backend_params())
def backend(request: pytest.FixtureRequest) -> str:
    """The backend name: 'ref', 'lava' or 'loihi'."""
    return request.param


def run_on(backend: str, net: ir.Network, inputs, steps: int | None = None, *,
           strict: bool = False):
    """Run ``net`` on a backend by name and return its Traces."""
    if backend == "ref":
        from neurodeploy.sim.reference import ReferenceSimulator
        return ReferenceSimulator(net, strict=strict).run(inputs, steps)
    from neurodeploy.lava.backend import LavaBackend
    return LavaBackend(net, hardware=backend == "loihi", strict=strict).run(inputs, steps)


@pytest.fixture
def run_backend() -> Callable:
    """``run_backend(name, net, inputs, steps)`` -> Traces."""
    return run_on


def make_tiny_network(seed: int = 0, n_in: int = 6, n_hidden: int = 5, n_out: int = 3, *,
                      refractory: int = 0, graded: bool = False) -> ir.Network:
    """Input -> Dense -> Cuba -> Dense -> Cuba with random full-range 8-bit weights that spike."""
    rng = np.random.default_rng(seed)
    return ir.chain([
        ir.Input("in", shape=(n_in,)),
        ir.Dense("fc1", weight=rng.integers(-128, 128, (n_hidden, n_in))),
        ir.Cuba("n1", shape=(n_hidden,), i_decay=1024, v_decay=256, vth=40,
                bias_mant=rng.integers(-20, 20, n_hidden), bias_exp=6,
                message_bits=3 if graded else 0),
        ir.Dense("fc2", weight=rng.integers(-128, 128, (n_out, n_hidden))),
        ir.Cuba("n2", shape=(n_out,), i_decay=4096, v_decay=128, vth=30, refractory=refractory),
    ], name=f"tiny{seed}").validate()


@pytest.fixture
def tiny_network() -> Callable[..., ir.Network]:
    """Builder of small random networks: ``tiny_network(seed=0, n_in=6, ...)``."""
    return make_tiny_network


def spikes(shape: tuple[int, ...], density: float = 0.3, seed: int = 1) -> np.ndarray:
    """Random binary spikes, int64, of ``shape`` (last axis: steps)."""
    return (np.random.default_rng(seed).random(shape) < density).astype(np.int64)


@pytest.fixture(scope="session")
def digits():
    """scikit-learn digits with the project's fixed split (neurodeploy.data)."""
    from neurodeploy.data import load_dataset
    return load_dataset("digits")
