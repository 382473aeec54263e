"""Accuracy of a torch model on numpy arrays, computed in float64 (thread-count independent)."""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

__all__ = ["count_correct"]


@torch.no_grad()
def count_correct(model: nn.Module, x: np.ndarray, y: np.ndarray, batch: int = 250) -> int:
    """Number of samples whose argmax logit equals the label (float64 copy of ``model``, eval).

    float64 makes a quantizer's ``floor`` decisions, hence the count, independent of BLAS
    reduction order (thread count) for all practical inputs.
    """
    m = copy.deepcopy(model).double().eval()
    correct = 0
    for i in range(0, len(x), batch):
        logits = m(torch.from_numpy(np.ascontiguousarray(x[i:i + batch])).double())
        correct += int((logits.argmax(1) == torch.from_numpy(y[i:i + batch])).sum())
    return correct
