"""Lava Processes + fixed_pt models of the CSDformer operators (:mod:`neurodeploy.ops.csdformer`).

Semantics live in the IR nodes (``node.step``); see :mod:`neurodeploy.lava.procs.opbase`.
"""
from __future__ import annotations

from neurodeploy.lava.procs.opbase import make_op

_M = __name__
SpikeCounterProc, SpikeCounterFixed = make_op("SpikeCounterProc", ("a_in",), ("count",), _M)
DifProc, DifFixed = make_op("DifProc", ("a_in",), ("v", "count"), _M)
TdecMatmulProc, TdecMatmulFixed = make_op("TdecMatmulProc", ("a_in", "b_in", "ca_in", "cb_in"),
                                          (), _M)
TdecMaxPoolProc, TdecMaxPoolFixed = make_op("TdecMaxPoolProc", ("x_in",), ("m",), _M)
GlobalSumPoolProc, GlobalSumPoolFixed = make_op("GlobalSumPoolProc", ("x_in",), (), _M)
ReadoutProc, ReadoutFixed = make_op("ReadoutProc", ("a_in",), ("v",), _M)

#: every process of this module and its fixed_pt model (for exception_proc_model_map)
FIXED_PT_MODELS = {SpikeCounterProc: SpikeCounterFixed, DifProc: DifFixed,
                   TdecMatmulProc: TdecMatmulFixed, TdecMaxPoolProc: TdecMaxPoolFixed,
                   GlobalSumPoolProc: GlobalSumPoolFixed, ReadoutProc: ReadoutFixed}
