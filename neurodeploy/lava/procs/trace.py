"""State traces recorded inside the processes themselves.

A traced process gets, for each recorded state Var ``x``, a Var ``x_trace`` shaped
(*x.shape, steps), int32, that its model fills at the end of every spike phase (the value a
RefPort read after the step would see: no model traced here changes state in a management
phase) and writes to the .npz file ``proc_params["trace_file"]`` at the end of the last step.
This replaces the Recorder's RefPort read of every variable at every step, a blocking round
trip between OS processes each, with a local copy.
"""
from __future__ import annotations

import os

import numpy as np
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var

SUFFIX = "_trace"
_MODELS: dict[tuple[type, tuple[str, ...]], type] = {}


def dump_arrays(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to the .npz ``path`` atomically (temp file + rename)."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def python_model(proc: AbstractProcess, models: dict) -> type | None:
    """The fixed_pt ProcessModel Lava will run ``proc`` with when it is known here: chosen
    through ``models`` (Lava's ``exception_proc_model_map``, keyed by instance or class), or
    Lava's bit-accurate LIF; None when Lava's own discovery picks the model."""
    model = models.get(proc) or models.get(type(proc))
    if model is None:
        from lava.proc.lif.models import PyLifModelBitAcc
        from lava.proc.lif.process import LIF
        model = PyLifModelBitAcc if type(proc) is LIF else None
    return model


def add_traces(proc: AbstractProcess, names: tuple[str, ...], steps: int,
               trace_file: str) -> None:
    """Give ``proc`` (already built) a trace Var per state Var in ``names``; the traced model
    writes them to ``trace_file`` (keys: the state names) after step ``steps``."""
    for name in names:
        var = Var(shape=(*getattr(proc, name).shape, steps), init=0)
        setattr(proc, name + SUFFIX, var)
        # what Lava's _post_init does for the Vars a Process declares in __init__
        proc._init_proc_member_obj({name + SUFFIX: var})
        proc.vars.add_members({name + SUFFIX: var})
    proc.proc_params["trace_file"] = str(trace_file)


def traced_model(model: type, names: tuple[str, ...]) -> type:
    """Subclass of the fixed_pt ProcessModel ``model`` that also fills the traces of ``names``
    (made once per model and name set; Lava models declare their Vars as class attributes)."""
    key = (model, tuple(names))
    if key not in _MODELS:
        attrs: dict = {name + SUFFIX: LavaPyType(np.ndarray, np.int32, precision=32)
                       for name in names}

        def run_spk(self) -> None:
            model.run_spk(self)
            t = self.time_step - 1
            for name in names:
                getattr(self, name + SUFFIX)[..., t] = getattr(self, name)
            if self.time_step == getattr(self, names[0] + SUFFIX).shape[-1]:
                dump_arrays(self.proc_params["trace_file"],
                            {name: getattr(self, name + SUFFIX) for name in names})

        attrs.update(run_spk=run_spk, __module__=model.__module__)
        _MODELS[key] = type(model.__name__ + "Traced", (model,), attrs)
    return _MODELS[key]
