"""CPU forward kernels (numpy, scipy.special) of the activation family's primitives, by row name.

Each kernel takes a float array (the public functions turn integers into float64) and the
row's params, and returns a new array of x's float dtype (float32 in, float32 out: scipy's
loops without float16 are cast back). Few passes over the data, no overflow warnings: elu
takes expm1 of min(x, 0), log_sigmoid is -logaddexp(0, -x), and the tanh gelu is computed as
x sigmoid(2u), which equals 0.5 x (1 + tanh(u)) without its cancellation for x << 0.
"""
import math

import numpy as np

from pyad.backend.numpy_special import scipy_special

_TWO_BETA = 2.0 * math.sqrt(2.0 / math.pi)      # 2u = x (2 beta + 2 beta kappa x^2)
_TWO_BETA_KAPPA = _TWO_BETA * 0.044715


def _like(out, x):
    """out in x's dtype (scipy computes float16 in float32)."""
    return out if out.dtype == x.dtype else out.astype(x.dtype)


def _gelu(x, approximate):
    if approximate == "tanh":
        u = x * x
        u *= _TWO_BETA_KAPPA
        u += _TWO_BETA
        u *= x
        out = scipy_special.expit(u)
        out *= x
        return _like(out, x)
    return _like(x * scipy_special.ndtr(x), x)


def _silu(x):
    out = scipy_special.expit(x)
    out *= x
    return _like(out, x)


def _leaky_relu(x, negative_slope):
    return np.where(x > 0, x, x * negative_slope)


def _elu(x, alpha):
    neg = np.expm1(np.minimum(x, 0))       # no overflow for large positive x
    neg *= alpha
    return np.where(x > 0, x, neg)


def _log_sigmoid(x):
    return np.negative(np.logaddexp(0.0, -x))


KERNELS = {
    "gelu": _gelu,
    "silu": _silu,
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "log_sigmoid": _log_sigmoid,
}
