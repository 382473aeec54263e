"""Lava Process + fixed_pt model of :class:`~neurodeploy.convert.spikedattention.PhaseReadout`
(Lava imported here). The semantics are the node's own ``step`` (see
:mod:`neurodeploy.lava.procs.opbase`)."""
from __future__ import annotations

from neurodeploy.lava.procs.opbase import make_op

PhaseReadoutProc, PhaseReadoutFixed = make_op("PhaseReadoutProc", ("a_in",), ("v",), __name__)

FIXED_PT_MODELS = {PhaseReadoutProc: PhaseReadoutFixed}
