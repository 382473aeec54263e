"""Integer helpers that reproduce Lava's fixed-point arithmetic on int64 numpy arrays.

Lava's fixed_pt models compute in numpy int32/int64 and so inherit C wrap-around wherever an int32
operation overflows. The reference simulator works in int64 and applies these wraps explicitly,
so every place where the chip (or Lava) would wrap is visible and can be reported.
"""
from __future__ import annotations

import numpy as np

INT32_MIN, INT32_MAX = -2**31, 2**31 - 1
STATE_MAX = 2**23  # 24-bit two's complement registers hold [-2**23, 2**23 - 1]


def wrap(x: np.ndarray, bits: int) -> np.ndarray:
    """Two's complement wrap of int64 values into ``bits`` bits."""
    half = np.int64(1) << (bits - 1)
    return ((x + half) & ((half << 1) - 1)) - half


def wrap32(x: np.ndarray) -> np.ndarray:
    return wrap(x, 32)


def shift(x: np.ndarray, exp: int) -> np.ndarray:
    """``x * 2**exp`` for exp >= 0, arithmetic right shift (floor) for exp < 0."""
    return x << exp if exp > 0 else x >> -exp


def trunc_decay(x: np.ndarray, decay: np.ndarray) -> np.ndarray:
    """Loihi decay ``trunc(x * (4096 - decay) / 4096)``: the 12-bit shift rounds toward zero."""
    y = x * (4096 - decay)
    y += (y >> 63) & 4095          # negative values: add 4095 so the floor shift truncates
    y >>= 12
    return y


def exact_float_dtype(bound: float):
    """A float dtype whose matrix products are exact when every partial sum is below ``bound``
    in magnitude (float32 below 2**24, float64 below 2**53), or None if neither is."""
    if bound < 2**24:
        return np.float32
    if bound < 2**53:
        return np.float64
    return None


def int_matmul(x: np.ndarray, w_t: np.ndarray, bound: float) -> np.ndarray:
    """Exact int64 ``x @ w_t`` for integer arrays. Uses BLAS in float32/float64 when ``bound``
    (an upper bound of every |partial sum|) proves the float product exact, int64 otherwise."""
    return ExactMatmul(w_t, bound)(x)


class ExactMatmul:
    """``x @ w_t`` in exact integer arithmetic for a fixed integer matrix ``w_t``, through BLAS
    when ``bound`` (an upper bound of every |partial sum|) proves float32/float64 exact. The
    matrix is converted once."""

    def __init__(self, w_t: np.ndarray, bound: float) -> None:
        self.dtype = exact_float_dtype(bound) or np.int64
        self.w_t = w_t.astype(self.dtype)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (x.astype(self.dtype) @ self.w_t).astype(np.int64, copy=False)

    def over_time(self, x: np.ndarray) -> np.ndarray:
        """``w @ x[b]`` for x shaped (batch, N_in, steps), as one 2-D product (faster in BLAS
        than a batch of small ones): returns (N_out, batch, steps), exact integers in the
        matmul dtype."""
        b, n, t = x.shape
        flat = x.transpose(1, 0, 2).astype(self.dtype).reshape(n, b * t)
        return (self.w_t.T @ flat).reshape(-1, b, t)


def fits(x: np.ndarray, lo: int, hi: int) -> bool:
    """True when every value of ``x`` lies in [lo, hi] (two reductions, no temporaries)."""
    return x.size == 0 or (int(x.min()) >= lo and int(x.max()) <= hi)
