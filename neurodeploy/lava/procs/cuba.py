"""CUBA neurons beyond Lava's LIF: per-neuron parameters, refractory period, graded spikes.

Lava's ``LIF`` (``PyLifModelBitAcc``) is used wherever it is exact for an IR node; the processes
here cover what it lacks, with the same semantics as the reference kernels in
:mod:`neurodeploy.sim.reference` (which define them):

* :class:`CubaNeuron` - Lava's bit-accurate LIF arithmetic plus per-neuron decays/thresholds, a
  refractory period and graded spike payloads.

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

_MAX = 2**23


def _wrap32(x: np.ndarray) -> np.ndarray:
    return ((x + 2**31) & (2**32 - 1)) - 2**31


def _trunc_decay(x: np.ndarray, decay: np.ndarray) -> np.ndarray:
    y = x.astype(np.int64) * (4096 - decay)
    return np.sign(y) * (np.abs(y) >> 12)


class CubaNeuron(AbstractProcess):
    """CUBA LIF neurons, Loihi fixed point, 24-bit u/v; see ``neurodeploy.ir.Cuba``.

    All parameters are per-neuron int arrays of ``shape`` (Lava layout). ``refractory`` in steps
    (0..63); ``message_bits`` 0 for binary spikes, else payload ``min(v >> 6, 2**m - 1)``.
    """

    def __init__(self, *, shape: tuple, i_decay, v_decay, vth, bias_mant, bias_exp,
                 refractory: int = 0, message_bits: int = 0, name: str | None = None) -> None:
        super().__init__(shape=shape, refractory=int(refractory),
                         message_bits=int(message_bits), name=name)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.u = Var(shape=shape, init=0)
        self.v = Var(shape=shape, init=0)
        self.ref = Var(shape=shape, init=0)
        full = {k: np.broadcast_to(np.asarray(x, dtype=np.int64), shape).copy() for k, x in
                dict(i_decay=i_decay, v_decay=v_decay, vth=vth, bias_mant=bias_mant,
                     bias_exp=bias_exp).items()}
        self.i_decay = Var(shape=shape, init=full["i_decay"])
        self.v_decay = Var(shape=shape, init=full["v_decay"])
        self.vth = Var(shape=shape, init=full["vth"])
        self.bias_mant = Var(shape=shape, init=full["bias_mant"])
        self.bias_exp = Var(shape=shape, init=full["bias_exp"])


@implements(proc=CubaNeuron, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyCubaNeuronFixed(PyLoihiProcessModel):
    """Same int32 wrap points as Lava's ``PyLifModelBitAcc``; refractory and graded extras."""
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    u: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    ref: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=6)
    i_decay: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=13)
    v_decay: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=12)
    vth: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=17)
    bias_mant: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=13)
    bias_exp: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=3)

    def run_spk(self) -> None:
        a = _wrap32(self.a_in.recv().astype(np.int64))
        act = _wrap32(a << 6)
        x = _wrap32(_trunc_decay(self.u, self.i_decay) + act)
        u = np.where(x > _MAX, x - 2 * _MAX, x)
        u = np.where(u <= -_MAX, x + 2 * _MAX, u)
        self.u[:] = u
        bias = self.bias_mant.astype(np.int64) << self.bias_exp
        y = _wrap32(_wrap32(_trunc_decay(self.v, self.v_decay) + u) + bias)
        v = np.clip(y, -_MAX + 1, _MAX - 1)
        spikes = v > (self.vth.astype(np.int64) << 6)
        refractory = self.proc_params["refractory"]
        if refractory:
            resting = self.ref > 0
            v = np.where(resting, 0, v)
            spikes &= ~resting
            self.ref[:] = np.where(resting, self.ref - 1, np.where(spikes, refractory, 0))
        self.v[:] = np.where(spikes, 0, v)
        bits = self.proc_params["message_bits"]
        if bits:
            out = np.where(spikes, np.minimum(v >> 6, 2**bits - 1), 0)
        else:
            out = spikes
        self.s_out.send(out.astype(np.int32))


#: every custom process of this module and its fixed_pt model (for exception_proc_model_map)
FIXED_PT_MODELS = {CubaNeuron: PyCubaNeuronFixed}
