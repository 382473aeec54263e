"""Lava Processes + fixed_pt models of the SpikeZIP-TF operators (:mod:`neurodeploy.ops.spikezip`).

Spike-Softmax and Spike-LayerNorm run as *host-side* processes: Python models on the CPU of the
host (or Loihi 2's embedded CPU); they are never placed on neurocores.
"""
from __future__ import annotations

from neurodeploy.lava.procs.opbase import make_op

_M = __name__
StBifProc, StBifFixed = make_op("StBifProc", ("a_in",), ("v", "tracer"), _M)
SesaMatmulProc, SesaMatmulFixed = make_op("SesaMatmulProc", ("a_in", "b_in", "ca_in", "cb_in"),
                                          (), _M)
SpikeSoftmaxHostProc, SpikeSoftmaxHostFixed = make_op("SpikeSoftmaxHostProc", ("a_in",),
                                                      ("acc", "o"), _M)
SpikeLayerNormHostProc, SpikeLayerNormHostFixed = make_op("SpikeLayerNormHostProc", ("a_in",),
                                                          ("acc", "o"), _M)

#: every process of this module and its fixed_pt model (for exception_proc_model_map)
FIXED_PT_MODELS = {StBifProc: StBifFixed, SesaMatmulProc: SesaMatmulFixed,
                   SpikeSoftmaxHostProc: SpikeSoftmaxHostFixed,
                   SpikeLayerNormHostProc: SpikeLayerNormHostFixed}
