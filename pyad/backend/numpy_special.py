"""CPU forward kernels (scipy.special) of the special-function family's primitives, by row name.

Each row's kernel is written once against a scipy.special-like module `sp` (SPECIAL: row ->
kernel(sp, *arrays, *params)), so the same line runs on the CPU with scipy.special and on a
GPU with cupyx.scipy.special (backend/array_api_special.py). Results keep the inputs' float
dtype (scipy computes some functions in float64 only: float32 in, float32 out, as for every
other pyad row); integer inputs give float64, as scipy does.
"""
import numpy as np

from pyad.backend.lazy_module import LazyModule

scipy_special = LazyModule("scipy.special")

# one array, no params: scipy.special's function of the row's name
UNARY = ("gammaln", "digamma", "gamma", "erf", "erfc", "erfinv", "erfcinv", "logit", "i0",
         "i1", "j0", "j1", "y0", "y1", "ndtr", "log_ndtr", "ndtri")

SPECIAL = {name: (lambda name: lambda sp, x: getattr(sp, name)(x))(name) for name in UNARY}
SPECIAL.update(
    # the order n / v is the row's param (not differentiable); scipy takes it first
    polygamma=lambda sp, x, n: sp.polygamma(n, x),
    jv=lambda sp, x, v: sp.jv(v, x),
    yv=lambda sp, x, v: sp.yv(v, x),
    iv=lambda sp, x, v: sp.iv(v, x),
    ive=lambda sp, x, v: sp.ive(v, x),
    xlogy=lambda sp, x, y: sp.xlogy(x, y),
    xlog1py=lambda sp, x, y: sp.xlog1py(x, y),
    gammainc=lambda sp, a, x: sp.gammainc(a, x),
    gammaincc=lambda sp, a, x: sp.gammaincc(a, x),
    betainc=lambda sp, a, b, x: sp.betainc(a, b, x),
    stdtr=lambda sp, df, t: sp.stdtr(df, t),
    pdtr=lambda sp, k, m: sp.pdtr(k, m),
)


def in_float_dtype(kernel, sp):
    """kernel on module sp, its result in the inputs' float dtype (float64 otherwise)."""
    def run(*args):
        arrays = [a for a in args if hasattr(a, "dtype")]
        out = kernel(sp, *args)
        dtype = np.result_type(*[a.dtype for a in arrays], np.float32) \
            if any(a.dtype.kind == "f" for a in arrays) else np.float64
        return out.astype(dtype, copy=False) if out.dtype != dtype else out
    return run


KERNELS = {name: in_float_dtype(kernel, scipy_special) for name, kernel in SPECIAL.items()}
