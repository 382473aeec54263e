"""Recording of one Lava run: output spikes and state of neuron groups at every step.

Spikes reach one :class:`~.procs.recorder.Recorder` over InPorts. State is recorded inside each
neuron group's own process (``<var>_trace`` Vars, :mod:`.procs.trace`) wherever the model Lava
will run is known here, else read by the Recorder over RefPorts each step. At the end of the last
step every recording process writes its arrays to a private temporary directory, which
:meth:`Recording.collect` loads (``allow_pickle=False``). Lava's ``Var.get()`` is not used for
them: lava-nc 0.10 moves an array one element per message through two process hops
(``AbstractPyProcessModel._get_var``: "FIXME: send a whole vector"), minutes per sample for the
40-layer converted transformers.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import signal
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import NeurodeployError
from .procs.recorder import Recorder, recorder_model
from .procs.trace import add_traces, python_model, traced_model

_PR_SET_PDEATHSIG = 1          # <linux/prctl.h>
_forking_workers = False       # True while Lava forks its worker processes for one of our runs


def _die_with_parent() -> None:
    """In a forked Lava worker: ask Linux to SIGKILL it when its parent dies, so a killed run
    (``kill -9``, the OOM killer) leaves no orphaned workers blocked on shared memory."""
    if _forking_workers:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


if sys.platform == "linux":
    os.register_at_fork(after_in_child=_die_with_parent)


@contextmanager
def _workers_die_with_parent():
    global _forking_workers
    _forking_workers = True
    try:
        yield
    finally:
        _forking_workers = False


def _kill_runtime(process) -> None:
    """Kill the worker processes of an interrupted or failed Lava run.

    Lava's own ``stop()`` is a handshake with every worker; after an interrupt (Ctrl-C,
    SIGTERM) or an error mid-step the workers never answer and ``stop()`` waits forever.
    """
    runtime = process.runtime
    infrastructure = getattr(runtime, "_messaging_infrastructure", None)
    if infrastructure is None:
        return
    for actor in infrastructure.actors:
        if actor.is_alive():
            actor.kill()
        actor.join()
    if infrastructure.smm is not None:
        infrastructure.smm.shutdown()


class Recording:
    """Attach recording to built neuron processes ``neurons`` (name → process) for the state
    Vars ``states[name]``; ``models`` (the run's ``exception_proc_model_map``) gains the
    Recorder's and the traced models. ``in_process=False`` polls all state over RefPorts (for
    models that do not run as Python, e.g. on Loihi hardware). Call :meth:`run`, then
    :meth:`collect`; use as a context manager to remove the files."""

    def __init__(self, neurons: Mapping, states: Mapping[str, tuple[str, ...]], steps: int,
                 models: dict, *, in_process: bool = True) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="neurodeploy-rec-"))
        self.names = list(neurons)
        self.traced: dict[str, tuple[str, ...]] = {}
        self.polled: list[tuple[str, str]] = []
        for k, (name, proc) in enumerate(neurons.items()):
            names = tuple(states.get(name, ()))
            model = python_model(proc, models) if in_process else None
            if names and model is not None:
                add_traces(proc, names, steps, str(self.dir / f"trace{k}.npz"))
                models[proc] = traced_model(model, names)
                self.traced[name] = names
            else:
                self.polled += [(name, var) for var in names]
        self.root = Recorder(spike_shapes=[p.s_out.shape for p in neurons.values()],
                             state_shapes=[getattr(neurons[n], v).shape
                                           for n, v in self.polled],
                             steps=steps, dump_file=str(self.dir / "recorder.npz"))
        for i, proc in enumerate(neurons.values()):
            proc.s_out.connect(getattr(self.root, f"in_{i}"))
        for j, (name, var) in enumerate(self.polled):
            getattr(self.root, f"ref_{j}").connect_var(getattr(neurons[name], var))
        models[Recorder] = recorder_model(len(self.names), len(self.polled))

    def run(self, num_steps: int, run_cfg) -> None:
        """Run the network ``num_steps`` further steps; an interrupt or error kills the
        workers (and re-raises) instead of leaving them waiting."""
        from lava.magma.core.run_conditions import RunSteps
        try:
            with _workers_die_with_parent():
                self.root.run(condition=RunSteps(num_steps=num_steps), run_cfg=run_cfg)
        except BaseException:
            _kill_runtime(self.root)
            raise

    def collect(self) -> dict[str, dict[str, np.ndarray]]:
        """Stop the run and return name → {"s" and each state name → int32 array
        (*Lava shape, steps)}; the run must have completed all ``steps``."""
        self.root.stop()
        out: dict[str, dict[str, np.ndarray]] = {name: {} for name in self.names}
        rec = self._load(self.dir / "recorder.npz")
        for i, name in enumerate(self.names):
            out[name]["s"] = rec[f"spikes_{i}"]
        for j, (name, var) in enumerate(self.polled):
            out[name][var] = rec[f"state_{j}"]
        for k, name in enumerate(self.names):
            if name in self.traced:
                out[name].update(self._load(self.dir / f"trace{k}.npz"))
        return out

    @staticmethod
    def _load(path: Path) -> dict[str, np.ndarray]:
        if not path.exists():
            raise NeurodeployError(f"the Lava run ended without writing its recording {path.name}"
                                   " (was it run for fewer steps than recorded?)")
        with np.load(path, allow_pickle=False) as f:
            return {key: f[key] for key in f.files}

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "Recording":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
