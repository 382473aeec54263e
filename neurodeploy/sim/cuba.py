"""One step of CUBA neurons in Loihi fixed point, compiled with numba (one pass per neuron).

This is the reference definition of :class:`neurodeploy.ir.Cuba` (the Lava process in
``neurodeploy/lava/procs/cuba.py`` mirrors it; Lava's own ``PyLifModelBitAcc`` is what it
reproduces). Integer semantics per neuron (int64 registers, Lava's int32 wrap points):

    a   = input (already summed and wrapped to int32 by the caller)
    act = wrap32(a << 6)                                          # overflow -> event 'a_in'
    x   = wrap32(trunc(u * (4096 - i_decay) / 4096) + act)
    u   = x - 2**24 if x > 2**23 else (x + 2**24 if x <= -2**23 else x)   # one wrap; 'u' event
    y   = wrap32(trunc(v * (4096 - v_decay) / 4096) + u + bias)
    v   = clip(y, -(2**23 - 1), 2**23 - 1)                        # saturation -> event 'v'
    fire = v > vth << 6, unless refractory; v = 0 where fired; ref counter reloads R
    out = 1 (binary) or min(v >> 6, 2**m - 1) (graded) where fired, else 0

Events (values that do not fit the register) are counted per variable with the first flat index
and value, so the caller can report or, in strict mode, raise.
"""
from __future__ import annotations

import numpy as np
from numba import njit

#: rows of the event table: 0 a_in (int32 input << 6), 1 u (24-bit), 2 v (24-bit, saturates)
EVENTS = ("a_in", "u", "v")
LIMITS = ("int32 input << 6", "24-bit current", "24-bit voltage (saturates)")

_MAX = 1 << 23


@njit(cache=True, inline="always")
def _wrap32(x: np.int64) -> np.int64:
    return ((x + (1 << 31)) & ((1 << 32) - 1)) - (1 << 31)


@njit(cache=True, inline="always")
def _trunc_decay(x: np.int64, decay: np.int64) -> np.int64:
    y = x * (4096 - decay)
    return -((-y) >> 12) if y < 0 else y >> 12


@njit(cache=True, inline="always")
def _event(events: np.ndarray, row: int, index: int, value: np.int64) -> None:
    if events[row, 0] == 0:
        events[row, 1] = index
        events[row, 2] = value
    events[row, 0] += 1


@njit(cache=True)
def cuba_step(a, u, v, ref, i_decay, v_decay, vth6, bias, refractory, message_bits, out,
              events):
    """Advance flat int64 arrays ``u, v, ref`` (batch*neurons) by one step in place; per-neuron
    parameters have length ``neurons`` and are indexed modulo it. Writes spikes/payloads to
    ``out`` and adds to the (3, 3) ``events`` table (count, first index, first value)."""
    n = vth6.shape[0]
    cap = (1 << message_bits) - 1
    for i in range(u.shape[0]):
        k = i % n
        act = a[i] << 6
        if act < -(1 << 31) or act > (1 << 31) - 1:
            _event(events, 0, i, act)
            act = _wrap32(act)
        x = _wrap32(_trunc_decay(u[i], i_decay[k]) + act)
        if x < -_MAX or x >= _MAX:
            _event(events, 1, i, x)
        if x > _MAX:
            x -= 2 * _MAX
        elif x <= -_MAX:
            x += 2 * _MAX
        u[i] = x
        y = _wrap32(_trunc_decay(v[i], v_decay[k]) + x + bias[k])
        if y <= -_MAX or y >= _MAX:
            _event(events, 2, i, y)
            y = max(min(y, _MAX - 1), -_MAX + 1)
        fired = y > vth6[k]
        if refractory > 0:
            if ref[i] > 0:
                ref[i] -= 1
                y = 0
                fired = False
            elif fired:
                ref[i] = refractory
        if fired:
            out[i] = 1 if message_bits == 0 else min(y >> 6, cap)
            v[i] = 0
        else:
            out[i] = 0
            v[i] = y
