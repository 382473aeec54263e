"""neurodeploy's custom Lava Processes and fixed_pt ProcessModels, one module per operator.

Lava's model discovery executes every module in this directory, so modules here only define
Processes and Models (no side effects). ``FIXED_PT_MODELS`` of each module is merged by the
backend into ``exception_proc_model_map``.
"""
