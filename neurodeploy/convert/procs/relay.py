"""Lava Process + fixed_pt model of :class:`~neurodeploy.convert.nodes.Relay` (Lava imported here).

The semantics are the node's own ``step`` (as for every operator, see
:mod:`neurodeploy.lava.procs.opbase`); only the ring buffer's Var differs from the generic
operator process: it is shaped ``(n, delay)`` in Lava layout, not like the output.
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from neurodeploy.lava.procs.opbase import OpModel


class RelayProc(AbstractProcess):
    """Relay node: ``a_in`` (the source shape), ``s_out`` (the output shape), Var ``buf``."""

    def __init__(self, *, node, shape: tuple, in_shapes: list[tuple], name: str | None = None):
        super().__init__(node=node, shape=shape, name=name)
        self.a_in = InPort(shape=in_shapes[0])
        self.s_out = OutPort(shape=shape)
        buf = node.init_state(())["buf"]
        self.buf = Var(shape=buf.T.shape, init=np.transpose(buf))


@implements(proc=RelayProc, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class RelayFixed(OpModel):
    PORTS = ("a_in",)
    STATE = ("buf",)
    a_in = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    buf = LavaPyType(np.ndarray, np.int32, precision=24)


FIXED_PT_MODELS = {RelayProc: RelayFixed}
