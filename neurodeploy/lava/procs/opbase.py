"""Generic Lava Process / fixed_pt ProcessModel pair for the operators of :mod:`neurodeploy.ops`.

Each operator node defines its integer semantics once (``node.init_state`` / ``node.step``, int64
numpy); the model here only does the Lava plumbing: receive every InPort (int32 channels), turn
Lava's reversed (W, H, C) layout into torch order, call ``node.step`` with Lava's ``time_step``
(1 in the first step), store the state in Vars (so Monitors can probe them) and send the output
in the same step (recv-then-send: 0 steps of latency). No side effects at import.
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


def _no_check(variable, bad, values, limit) -> None:
    """Overflow is checked on the reference (the backend's strict mode); values wrap here."""


def _to_torch(x: np.ndarray) -> np.ndarray:
    return np.transpose(np.asarray(x).astype(np.int64))[None]


def _to_lava(x: np.ndarray) -> np.ndarray:
    return np.transpose(x[0])


class OpProcess(AbstractProcess):
    """One operator node: InPorts ``node.ports`` (Lava layout), ``s_out``, a Var per state."""
    PORTS: tuple[str, ...] = ()
    STATE: tuple[str, ...] = ()

    def __init__(self, *, node, shape: tuple, in_shapes: list[tuple], name: str | None = None):
        super().__init__(node=node, shape=shape, name=name)
        shapes = list(in_shapes) if self.PORTS != ("a_in",) else [shape]
        for port, s in zip(self.PORTS, shapes):
            setattr(self, port, InPort(shape=s))
        self.s_out = OutPort(shape=shape)
        for var, arr in node.init_state(()).items():
            setattr(self, var, Var(shape=shape, init=np.transpose(arr)))


class OpModel(PyLoihiProcessModel):
    """Shared run_spk: recv all ports, ``node.step``, store state, send (0 latency)."""
    PORTS: tuple[str, ...] = ()
    STATE: tuple[str, ...] = ()

    def run_spk(self) -> None:
        node = self.proc_params["node"]
        ins = [_to_torch(getattr(self, p).recv()) for p in self.PORTS]
        st = {v: _to_torch(getattr(self, v)) for v in self.STATE}
        out = node.step(st, ins, int(self.time_step), _no_check)
        for v in self.STATE:
            getattr(self, v)[:] = _to_lava(st[v])
        self.s_out.send(_to_lava(out).astype(np.int32))


def make_op(name: str, ports: tuple[str, ...], state: tuple[str, ...], module: str):
    """Create a Process class ``name`` and its fixed_pt model ``name + 'Fixed'``."""
    proc = type(name, (OpProcess,), {"PORTS": ports, "STATE": state, "__module__": module})
    attrs = {p: LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24) for p in ports}
    attrs["s_out"] = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    attrs.update({v: LavaPyType(np.ndarray, np.int32, precision=24) for v in state})
    attrs.update(PORTS=ports, STATE=state, __module__=module)
    model = type(name + "Fixed", (OpModel,), attrs)
    model = implements(proc=proc, protocol=LoihiProtocol)(requires(CPU)(tag("fixed_pt")(model)))
    return proc, model
