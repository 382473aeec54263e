"""Lava Process + fixed_pt model of :class:`~neurodeploy.convert.spikezip.StreamConst` (Lava
imported here). The semantics are the node's own ``step`` (see
:mod:`neurodeploy.lava.procs.opbase`); the process has no InPort."""
from __future__ import annotations

from neurodeploy.lava.procs.opbase import make_op

StreamConstProc, StreamConstFixed = make_op("StreamConstProc", (), ("done",), __name__)

FIXED_PT_MODELS = {StreamConstProc: StreamConstFixed}
