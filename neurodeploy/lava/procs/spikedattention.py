"""Lava Processes + fixed_pt models of the SpikedAttention operators
(:mod:`neurodeploy.ops.spikedattention`). Semantics live in the IR nodes (``node.step``).
"""
from __future__ import annotations

from neurodeploy.lava.procs.opbase import make_op

_M = __name__
PhaseNeuronProc, PhaseNeuronFixed = make_op("PhaseNeuronProc", ("a_in",), ("v", "fired"), _M)
PhaseTraceProc, PhaseTraceFixed = make_op("PhaseTraceProc", ("a_in",), ("trace",), _M)
PhaseMatmulProc, PhaseMatmulFixed = make_op("PhaseMatmulProc",
                                            ("a_in", "b_in", "ca_in", "cb_in"), (), _M)
WossSoftmaxProc, WossSoftmaxFixed = make_op("WossSoftmaxProc", ("a_in",),
                                            ("v", "fired", "shift"), _M)

#: every process of this module and its fixed_pt model (for exception_proc_model_map)
FIXED_PT_MODELS = {PhaseNeuronProc: PhaseNeuronFixed, PhaseTraceProc: PhaseTraceFixed,
                   PhaseMatmulProc: PhaseMatmulFixed, WossSoftmaxProc: WossSoftmaxFixed}
