"""Recorder: one process that records, every step, the output spikes and the state variables of
several neuron groups.

It replaces one sink per group and one Monitor per variable (Lava's Monitor also mixes up targets
across instances in ``get_data``), and it joins independent sub-networks into one Lava graph
(Lava compiles only what is connected to the process ``run`` is called on), so a single compile
can run many small networks side by side. At the end of the last step it writes its recordings
to ``dump_file`` (see :mod:`neurodeploy.lava.recording` for why not ``Var.get``).
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyRefPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, RefPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from neurodeploy.lava.procs.trace import dump_arrays


class Recorder(AbstractProcess):
    """InPorts ``in_<i>`` (spikes, received in the step they are sent) recorded into
    ``spikes_<i>``; RefPorts ``ref_<j>`` (state Vars, read after the step's spike phase)
    recorded into ``state_<j>``. Recordings are shaped (*shape, steps), int32, and written to
    the .npz ``dump_file`` (keys ``spikes_<i>``, ``state_<j>``) at the end of step ``steps``."""

    def __init__(self, *, spike_shapes: list[tuple], state_shapes: list[tuple],
                 steps: int, dump_file: str) -> None:
        super().__init__(spike_shapes=[tuple(s) for s in spike_shapes],
                         state_shapes=[tuple(s) for s in state_shapes], steps=int(steps),
                         dump_file=str(dump_file))
        for i, shape in enumerate(spike_shapes):
            setattr(self, f"in_{i}", InPort(shape=tuple(shape)))
            setattr(self, f"spikes_{i}", Var(shape=(*shape, steps), init=0))
        for j, shape in enumerate(state_shapes):
            setattr(self, f"ref_{j}", RefPort(shape=tuple(shape)))
            setattr(self, f"state_{j}", Var(shape=(*shape, steps), init=0))


@implements(proc=Recorder, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyRecorderFixed(PyLoihiProcessModel):
    """Base model that Lava's discovery finds; runs use :func:`recorder_model`, whose class
    declares the ports, via ``exception_proc_model_map``."""

    def run_spk(self) -> None:
        t = self.time_step - 1
        for i in range(len(self.proc_params["spike_shapes"])):
            getattr(self, f"spikes_{i}")[..., t] = getattr(self, f"in_{i}").recv()
        if not self.post_guard():
            self._dump_after_last_step()

    def post_guard(self) -> bool:
        return len(self.proc_params["state_shapes"]) > 0

    def run_post_mgmt(self) -> None:
        t = self.time_step - 1
        for j in range(len(self.proc_params["state_shapes"])):
            getattr(self, f"state_{j}")[..., t] = getattr(self, f"ref_{j}").read()
        self._dump_after_last_step()

    def _dump_after_last_step(self) -> None:
        if self.time_step != self.proc_params["steps"]:
            return
        arrays = {f"spikes_{i}": getattr(self, f"spikes_{i}")
                  for i in range(len(self.proc_params["spike_shapes"]))}
        arrays.update({f"state_{j}": getattr(self, f"state_{j}")
                       for j in range(len(self.proc_params["state_shapes"]))})
        dump_arrays(self.proc_params["dump_file"], arrays)


_MODELS: dict[tuple[int, int], type] = {}


def recorder_model(spikes: int, states: int) -> type:
    """The fixed_pt model of a Recorder with the given port counts (made once per count pair,
    since a Lava ProcessModel declares its ports as class attributes)."""
    key = (spikes, states)
    if key not in _MODELS:
        attrs: dict = {}
        for i in range(spikes):
            attrs[f"in_{i}"] = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
            attrs[f"spikes_{i}"] = LavaPyType(np.ndarray, np.int32, precision=24)
        for j in range(states):
            attrs[f"ref_{j}"] = LavaPyType(PyRefPort.VEC_DENSE, np.int32, precision=32)
            attrs[f"state_{j}"] = LavaPyType(np.ndarray, np.int32, precision=32)
        cls = type(f"PyRecorder{spikes}x{states}Fixed", (PyRecorderFixed,), attrs)
        _MODELS[key] = tag("fixed_pt")(requires(CPU)(
            implements(proc=Recorder, protocol=LoihiProtocol)(cls)))
    return _MODELS[key]
