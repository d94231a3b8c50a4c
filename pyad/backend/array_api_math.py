"""Array API kernels of the math family's primitives (see backend/array_api.py)."""
import math

import numpy as np

from pyad.backend.namespaces import namespace_of as _xp, numpy_dtype

_LOG2E = 1.0 / math.log(2.0)


def _is_float(x):
    return _xp(x).isdtype(x.dtype, "real floating")


def _is_bool(x):
    return _xp(x).isdtype(x.dtype, "bool")


def _float(x):
    """x in the float dtype of numpy's loop for it: itself if floating; bool, int8 and uint8
    go to float16, int16 to float32, wider integers to float64 (as numpy's ufuncs do).
    A namespace without float16 (the standard has none) gets float32."""
    if _is_float(x):
        return x
    xp = _xp(x)
    name = np.result_type(numpy_dtype(x.dtype, xp), np.float16).name
    return xp.astype(x, getattr(xp, name, xp.float32))


def _int(x):
    """Bool as int8, numpy's loop for bool inputs of integer arithmetic (remainder, ...)."""
    return _xp(x).astype(x, _xp(x).int8) if _is_bool(x) else x


def _copy(x):
    return _xp(x).asarray(x, copy=True)


def _float_op(name):
    """The namespace's function `name` on x in numpy's float dtype for it."""
    return lambda *arrays: getattr(_xp(arrays[0]), name)(*[_float(a) for a in arrays])


def _keep_integers(name):
    """floor/ceil/trunc: integer and bool inputs come back as they are (a copy), as numpy's."""
    return lambda x: getattr(_xp(x), name)(x) if _is_float(x) else _copy(x)


# ----------------------------------------------------------------------------- unary
def _reciprocal(x):
    if _is_float(x):
        return 1.0 / x
    # numpy's integer loop is (int)(1.0 / x): 0 for |x| > 1; bool computes in int8
    xp = _xp(x)
    out = xp.int8 if _is_bool(x) else x.dtype
    return xp.astype(1.0 / xp.astype(x, xp.float64), out)


def _cbrt(x):
    """The standard has no cbrt: |x|**(1/3) with x's sign, polished by one Newton step,
    since 1/3 is inexact in binary and pow's result can be off in its last bits."""
    xp = _xp(x)
    x = _float(x)
    a = xp.abs(x)
    y = a ** (1.0 / 3.0)
    ok = xp.isfinite(y) & (y > 0)          # 0, inf and NaN are exact already
    y1 = xp.where(ok, y, xp.ones_like(y))
    y1 = y1 - (y1 - a / (y1 * y1)) / 3.0   # this form cannot overflow near the largest x
    return xp.copysign(xp.where(ok, y1, y), x)


def _round(x, decimals):
    """numpy's round: rint(x * 10**d) / 10**d (d < 0: rint(x / 10**-d) * 10**-d); integer
    inputs stay integers (d >= 0: unchanged; d < 0: rounded in float64, as numpy)."""
    xp = _xp(x)
    if not _is_float(x) and not _is_bool(x):
        if decimals >= 0:
            return _copy(x)
        return xp.astype(_round(xp.astype(x, xp.float64), decimals), x.dtype)
    if _is_bool(x) and decimals != 0:
        raise TypeError("pyad.round: bool arrays round only to 0 decimals (as in numpy)")
    x = _float(x)
    if decimals == 0:
        return xp.round(x)
    f = 10.0 ** abs(decimals)
    return xp.round(x * f) / f if decimals > 0 else xp.round(x / f) * f


def _nan_to_num(x, nan, posinf, neginf):
    """NaN to `nan`, +-inf to posinf/neginf (None: the dtype's largest finite numbers)."""
    if not _is_float(x):
        return _copy(x)           # integers and bools hold no NaN or inf
    xp = _xp(x)
    info = xp.finfo(x.dtype)
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    out = xp.where(xp.isnan(x), xp.full_like(x, nan), x)
    out = xp.where(x == math.inf, xp.full_like(x, posinf), out)
    return xp.where(x == -math.inf, xp.full_like(x, neginf), out)


# sinc(x) = s(pi x) with s(u) = sin(u) / u, so d^n/dx^n sinc(x) = pi^n s^(n)(pi x); the
# series near 0 and Leibniz's rule elsewhere, as backend/numpy_math.py (see its comments)
_SERIES_TERMS = 40


def _s_series(xp, u, n):
    total = xp.zeros_like(u)
    for m in range((n + 1) // 2, (n + 1) // 2 + _SERIES_TERMS):
        log_c = math.lgamma(2 * m + 1) - math.lgamma(2 * m - n + 1) - math.lgamma(2 * m + 2)
        total = total + ((-1.0) ** m * math.exp(log_c)) * u ** (2 * m - n)
    return total


def _s_leibniz(xp, u, n):
    sin_u, cos_u = xp.sin(u), xp.cos(u)
    cycle = (sin_u, cos_u, -sin_u, -cos_u)
    total = xp.zeros_like(u)
    for k in range(n + 1):
        c = math.comb(n, k) * (-1.0) ** k * math.factorial(k)
        total = total + c * cycle[(n - k) % 4] / u ** (k + 1)
    return total


def _sinc(x, n):
    """The n-th derivative of numpy's sinc at x; integer and bool inputs give float64."""
    xp = _xp(x)
    if n == 0:
        # numpy's own formula, 0 replaced by 1e-20 (Python floats: float32 stays float32)
        if not _is_float(x):
            x = xp.astype(x, xp.float64)
        y = math.pi * xp.where(x == 0, xp.full_like(x, 1.0e-20), x)
        return xp.sin(y) / y
    dtype = x.dtype if _is_float(x) else xp.float64
    u = math.pi * xp.astype(x, xp.float64)
    small = xp.abs(u) < 2.0 + n
    # each branch on harmless stand-ins where the other one is taken (no overflow, no 1/0)
    series = _s_series(xp, xp.where(small, u, xp.zeros_like(u)), n)
    leibniz = _s_leibniz(xp, xp.where(small, xp.ones_like(u), u), n)
    return xp.astype(xp.where(small, series, leibniz) * math.pi ** n, dtype)


# ----------------------------------------------------------------------------- binary
def _fmax(x, y):
    xp = _xp(x)
    if _is_bool(x):
        return xp.logical_or(x, y)
    if not _is_float(x):
        return xp.maximum(x, y)
    return xp.where((x >= y) | xp.isnan(y), x, y)      # NaN-ignoring: the number wins


def _fmin(x, y):
    xp = _xp(x)
    if _is_bool(x):
        return xp.logical_and(x, y)
    if not _is_float(x):
        return xp.minimum(x, y)
    return xp.where((x <= y) | xp.isnan(y), x, y)


def _fmod(x, y):
    """The C remainder, with the dividend's sign (the standard's remainder has the divisor's)."""
    xp = _xp(x)
    x, y = _int(x), _int(y)
    if _is_float(x):
        # of nonnegative operands, remainder is fmod exactly (no sign fix-up that rounds)
        return xp.copysign(xp.remainder(xp.abs(x), xp.abs(y)), x)
    r = xp.remainder(x, y)
    return xp.where((r != 0) & ((r < 0) != (x < 0)), r - y, r)


def _logaddexp2(x, y):
    """log2(2**x + 2**y) as numpy computes it: max + log2(1 + 2**-|x - y|), x + 1 at ties."""
    xp = _xp(x)
    x, y = _float(x), _float(y)
    out = xp.maximum(x, y) + _LOG2E * xp.log1p(2.0 ** -xp.abs(x - y))
    return xp.where(x == y, x + 1.0, out)     # ties, infinities of one sign included


# ----------------------------------------------------------------------------- predicates
def _truth(x):
    return x if _is_bool(x) else x != 0


def _float_test(name, other):
    """isfinite/isnan/isinf: integers and bools are all finite, never NaN or inf."""
    def kernel(x):
        xp = _xp(x)
        if _is_float(x):
            return getattr(xp, name)(x)
        return (xp.ones_like if other else xp.zeros_like)(x, dtype=xp.bool)
    return kernel


def _signbit(x):
    xp = _xp(x)
    if _is_float(x):
        return xp.signbit(x)
    return xp.zeros_like(x, dtype=xp.bool) if _is_bool(x) else x < 0


def _part(name):
    """The standard's real/imag of a complex array; of a real one, itself (a copy) or zeros."""
    def part(z):
        xp = _xp(z)
        if xp.isdtype(z.dtype, "complex floating"):
            return getattr(xp, name)(z)
        return _copy(z) if name == "real" else xp.zeros_like(z)
    return part


KERNELS = {
    "real": _part("real"),
    "imag": _part("imag"),
    "conj": lambda z: _xp(z).conj(z),
    "abs_complex": lambda z: _xp(z).abs(z),
    "abs_complex_backward": lambda g, z, ans: _xp(z).conj(z) * (
        g / _xp(ans).where(ans == 0, _xp(ans).ones_like(ans), ans)),
    # numpy name -> the standard's, in numpy's float dtype for integer and bool inputs
    **{name: _float_op(std) for name, std in (
        ("sinh", "sinh"), ("cosh", "cosh"), ("tan", "tan"), ("arcsin", "asin"),
        ("arccos", "acos"), ("arctan", "atan"), ("arcsinh", "asinh"), ("arccosh", "acosh"),
        ("arctanh", "atanh"), ("expm1", "expm1"), ("log2", "log2"), ("log10", "log10"),
        ("fabs", "abs"), ("rint", "round"),           # round: halves to even, as rint
        ("arctan2", "atan2"), ("hypot", "hypot"), ("logaddexp", "logaddexp"),
        ("copysign", "copysign"))},
    "floor": _keep_integers("floor"),
    "ceil": _keep_integers("ceil"),
    "trunc": _keep_integers("trunc"),
    "fix": _keep_integers("trunc"),                   # numpy's fix rounds toward zero too
    "round": _round,
    "reciprocal": _reciprocal,
    "exp2": lambda x: 2.0 ** _float(x),
    "cbrt": _cbrt,
    "deg2rad": lambda x: _float(x) * (math.pi / 180.0),   # numpy's constants exactly
    "rad2deg": lambda x: _float(x) * (180.0 / math.pi),
    "sinc": _sinc,
    "nan_to_num": _nan_to_num,
    "logaddexp2": _logaddexp2,
    "fmax": _fmax,
    "fmin": _fmin,
    "remainder": lambda x, y: _xp(x).remainder(_int(x), _int(y)),
    "fmod": _fmod,
    "floor_divide": lambda x, y: _xp(x).floor_divide(_int(x), _int(y)),
    "isfinite": _float_test("isfinite", True),
    "isnan": _float_test("isnan", False),
    "isinf": _float_test("isinf", False),
    "signbit": _signbit,
    "logical_not": lambda x: _xp(x).logical_not(_truth(x)),
    "logical_and": lambda x, y: _xp(x).logical_and(_truth(x), _truth(y)),
    "logical_or": lambda x, y: _xp(x).logical_or(_truth(x), _truth(y)),
    "logical_xor": lambda x, y: _xp(x).logical_xor(_truth(x), _truth(y)),
}
