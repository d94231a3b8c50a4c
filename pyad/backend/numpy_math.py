"""CPU forward kernels (numpy) of the math family's primitives, by primitive name.

Each kernel is numpy's own function, so values and output dtypes (integer and bool inputs
included) are numpy's exactly; ufuncs take strided views and any dtype, so no FALLBACKS are
needed. Three kernels are our own: sinc's row carries the derivative order n as a parameter
(the rules of the n-th derivative use the (n+1)-th), computed from a Maclaurin series near 0 and
from Leibniz's rule elsewhere, so every order is exact at x = 0 too; |z|'s backward is one C++
pass (pyad._C.abs_complex_backward) where its inputs allow, numpy's expression elsewhere; and
logaddexp against a zero is the C++ softplus.
"""
import math

import numpy as np

from pyad import _C

# one input, numpy ufuncs (the row's name is numpy's)
UNARY = ("reciprocal", "sinh", "cosh", "tan", "arcsin", "arccos", "arctan", "arcsinh",
         "arccosh", "arctanh", "exp2", "expm1", "log2", "log10", "cbrt", "deg2rad", "rad2deg",
         "fabs", "floor", "ceil", "rint", "trunc")
# two inputs, numpy ufuncs (broadcasting)
BINARY = ("logaddexp", "logaddexp2", "arctan2", "hypot", "fmax", "fmin", "remainder", "fmod",
          "floor_divide", "copysign")
# not differentiable: bool results
PREDICATES = ("isfinite", "isnan", "isinf", "signbit", "logical_not", "logical_and",
              "logical_or", "logical_xor")


def _copy_if_same(out, x):
    """numpy returns integer inputs of round/fix as they are; a primitive's output is new."""
    return out.copy() if out is x else out


def _round(x, decimals):
    return _copy_if_same(np.round(x, decimals), x)


def _fix(x):
    return _copy_if_same(np.fix(x), x)


def _nan_to_num(x, nan, posinf, neginf):
    return np.nan_to_num(x, copy=True, nan=nan, posinf=posinf, neginf=neginf)


# ----------------------------------------------------------------------------- sinc
# sinc(x) = s(pi x) with s(u) = sin(u) / u, so d^n/dx^n sinc(x) = pi^n s^(n)(pi x).
_SERIES_TERMS = 40          # |u| < _SERIES_BELOW + n: the terms fall below 1e-30 well before


def _s_series(u, n):
    """s^(n)(u) = sum_m (-1)^m (2m)!/(2m-n)! u^(2m-n) / (2m+1)!, for small |u|."""
    total = np.zeros_like(u)
    for m in range((n + 1) // 2, (n + 1) // 2 + _SERIES_TERMS):
        # (-1)^m / (2m+1)! * (2m)(2m-1)...(2m-n+1), in logs to stay finite for large m
        log_c = math.lgamma(2 * m + 1) - math.lgamma(2 * m - n + 1) - math.lgamma(2 * m + 2)
        c = (-1.0) ** m * math.exp(log_c)
        total += c * u ** (2 * m - n)
    return total


def _s_leibniz(u, n):
    """s^(n)(u) = sum_k C(n, k) sin^(n-k)(u) (-1)^k k! / u^(k+1), for |u| away from 0."""
    sin_u, cos_u = np.sin(u), np.cos(u)
    cycle = (sin_u, cos_u, -sin_u, -cos_u)          # sin, sin', sin'', sin'''
    total = np.zeros_like(u)
    for k in range(n + 1):
        total += (math.comb(n, k) * (-1.0) ** k * math.factorial(k)) * cycle[(n - k) % 4] \
            / u ** (k + 1)
    return total


def _sinc(x, n):
    """The n-th derivative of np.sinc at x (n = 0: np.sinc itself)."""
    if n == 0:
        return np.sinc(x)
    x = np.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    u = np.pi * x.astype(np.float64)
    small = np.abs(u) < 2.0 + n
    out = np.empty_like(u)
    out[small] = _s_series(u[small], n)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[~small] = _s_leibniz(u[~small], n)
    return (out * np.pi ** n).astype(dtype, copy=False)


def _logaddexp(a, b):
    """np.logaddexp; against a zero (logaddexp(0, x): the softplus of logistic losses) the C++
    softplus kernel, at half numpy's time (numpy's loop is generic, for any pair)."""
    for zero, x in ((a, b), (b, a)):
        if (type(x) is np.ndarray and type(zero) is np.ndarray and zero.ndim == 0
                and x.dtype == zero.dtype and (x.dtype == np.float64 or x.dtype == np.float32)
                and zero == 0 and x.flags.c_contiguous):
            return _C.kernels.softplus(x)
    return np.logaddexp(a, b)


_PARTS = {np.dtype(np.complex128): np.dtype(np.float64),       # z's dtype -> |z|'s
          np.dtype(np.complex64): np.dtype(np.float32)}


def _abs_complex_backward(g, z, ans):
    """conj(z) * g / |z| (|z| = 0 counts as 1): one C++ pass for a contiguous complex z with
    |z| and g of its precision (g of z's shape or one broadcast value), else numpy's."""
    part = _PARTS.get(z.dtype) if type(z) is np.ndarray else None
    if (part is not None and type(ans) is np.ndarray and type(g) is np.ndarray
            and ans.dtype == part and g.dtype == part and ans.shape == z.shape
            and z.flags.c_contiguous and ans.flags.c_contiguous
            and (g.shape == z.shape and (g.flags.c_contiguous or not any(g.strides))
                 or g.size == 1 and g.ndim <= z.ndim)):
        return _C.abs_complex_backward(g, z, ans)
    return np.conj(z) * (g / np.where(ans == 0, 1, ans))


KERNELS = {name: getattr(np, name) for name in UNARY + BINARY + PREDICATES}
KERNELS.update(
    sinc=_sinc,
    round=_round,
    fix=_fix,
    nan_to_num=_nan_to_num,
)
# complex numbers: parts, conjugate and modulus (new arrays, never views of the input)
KERNELS.update(
    real=lambda z: np.array(np.real(z), copy=True),
    imag=lambda z: np.array(np.imag(z), copy=True),
    conj=np.conj,
    abs_complex=np.abs,
    abs_complex_backward=_abs_complex_backward,
    logaddexp=_logaddexp,
)
FALLBACKS = {}      # the kernels are numpy's: they take integer and bool inputs as they are
