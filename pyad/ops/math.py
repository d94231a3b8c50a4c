"""The math family: numpy's elementwise functions beyond the core table (autograd.numpy's
breadth), as rows of the primitive table with their public functions.

Every function keeps numpy's semantics: broadcasting, Python scalars weakly typed (they take
the other operand's dtype), numpy's output dtypes for integer and bool inputs (the forward
kernels are numpy's own, see pyad/backend/numpy_math.py). Rules are written in pyad ops only,
so derivatives of any order work. Conventions:

- the piecewise-constant functions (floor, ceil, round, rint, trunc, fix, floor_divide) are
  differentiable with an exactly zero derivative, as in autograd;
- fmax/fmin split the gradient evenly at ties (like maximum) and give it all to the number
  when the other operand is NaN; fabs'(0) = 0 and d copysign(x, y)/dx = 0 at x = 0 (like abs);
- mod/remainder: d/dx = 1, d/dy = -floor(x / y); fmod: d/dx = 1, d/dy = -trunc(x / y);
- nan_to_num: derivative 1 where x is finite, 0 at NaN and +-inf;
- isfinite, isnan, isinf, signbit and the logical_* functions are not differentiable (bool
  results).
"""
from __future__ import annotations

import math
import textwrap

import numpy as np

from pyad import backend
from pyad.ops import core as o
from pyad.engine._tape import Tensor, apply1, bind, wrap
from pyad._typing import ArrayLike
from pyad.ops.lifts import ELEMENTWISE, same_params
from pyad.ops.prims import DIAGONAL, G, X, _tangent_sum, call, defprim

_LIFT = (ELEMENTWISE, same_params)
_LN2, _LN10 = math.log(2.0), math.log(10.0)
_DEG2RAD, _RAD2DEG = math.pi / 180.0, 180.0 / math.pi
_PYSCALARS = (int, float, bool)


# ----------------------------------------------------------------------------- input checks
def _real(name, t):
    """t, a Tensor, after checking that its dtype is one numpy's real math takes."""
    kind = t.dtype.kind
    if kind not in "biuf":
        what = ("complex inputs are not supported yet" if kind == "c" else
                "expected a bool, integer or float array")
        raise TypeError(f"pyad.{name}: {what}, got dtype {t.dtype} (shape {t.shape}); "
                        f"convert with np.asarray(x, dtype=np.float64)")
    return t


def _unary_input(name, x):
    return _real(name, o._t(x))


def _weak(c, other, name):
    """A Python scalar as a 0-d array of the dtype numpy gives it next to `other`'s dtype
    (numpy 2's weak scalars: 2.0 next to float32 is float32, 3 next to bool is int64)."""
    try:
        dtype = np.result_type(other.dtype, c)
        return wrap(backend.asarray(c, dtype, like=other.data))
    except OverflowError as e:
        raise OverflowError(f"pyad.{name}: the Python scalar {c!r} does not fit the other "
                            f"operand's dtype {other.dtype} ({e})") from None


def _binary_operands(name, x1, x2):
    """Both operands as real Tensors, a Python scalar weakly typed against the other."""
    if type(x2) in _PYSCALARS and type(x1) not in _PYSCALARS:
        x1 = _real(name, o._t(x1))
        return x1, _weak(x2, x1, name)
    if type(x1) in _PYSCALARS and type(x2) not in _PYSCALARS:
        x2 = _real(name, o._t(x2))
        return _weak(x1, x2, name), x2
    return _real(name, o._t(x1)), _real(name, o._t(x2))


def _apply_binary(prim, name, x1, x2):
    x1, x2 = _binary_operands(name, x1, x2)
    return o._binary(prim, name, x1, x2)      # numpy promotion, broadcast check, bind


# ----------------------------------------------------------------------------- rows: unary
def _unary_row(name, vjp):
    """An elementwise one-input row: its Jacobian is diagonal, so its JVP is its VJP rule."""
    return defprim(name, vjp, jvp=DIAGONAL, lift=_LIFT)


def _zero_vjp(g, ans, *inputs_and_params):
    return None         # piecewise constant: an exactly zero cotangent


def _zero_jvp(dots, ans, *inputs_and_params):
    return None


def _constant_row(name, inputs=1):
    """A piecewise-constant row: differentiable, with derivative exactly zero."""
    return defprim(name, *([_zero_vjp] * inputs), jvp=_zero_jvp, lift=_LIFT)


_RECIPROCAL = _unary_row("reciprocal", lambda g, ans, x: -(g * ans * ans))
_SINH = _unary_row("sinh", lambda g, ans, x: g * cosh(x))
_COSH = _unary_row("cosh", lambda g, ans, x: g * sinh(x))
_TAN = _unary_row("tan", lambda g, ans, x: g * (o.square(ans) + 1.0))
_ARCSIN = _unary_row("arcsin", lambda g, ans, x: g / o.sqrt((1.0 - x) * (1.0 + x)))
_ARCCOS = _unary_row("arccos", lambda g, ans, x: -(g / o.sqrt((1.0 - x) * (1.0 + x))))
_ARCTAN = _unary_row("arctan", lambda g, ans, x: g / (o.square(x) + 1.0))
_ARCSINH = _unary_row("arcsinh", lambda g, ans, x: g / o.sqrt(o.square(x) + 1.0))
_ARCCOSH = _unary_row("arccosh", lambda g, ans, x: g / o.sqrt((x - 1.0) * (x + 1.0)))
_ARCTANH = _unary_row("arctanh", lambda g, ans, x: g / ((1.0 - x) * (1.0 + x)))
_EXP2 = _unary_row("exp2", lambda g, ans, x: g * ans * _LN2)
_EXPM1 = _unary_row("expm1", lambda g, ans, x: g * (ans + 1.0))
_LOG2 = _unary_row("log2", lambda g, ans, x: g / (x * _LN2))
_LOG10 = _unary_row("log10", lambda g, ans, x: g / (x * _LN10))
_CBRT = _unary_row("cbrt", lambda g, ans, x: g / (o.square(ans) * 3.0))
_DEG2RAD_ROW = _unary_row("deg2rad", lambda g, ans, x: g * _DEG2RAD)
_RAD2DEG_ROW = _unary_row("rad2deg", lambda g, ans, x: g * _RAD2DEG)
_FABS = _unary_row("fabs", call("abs_backward", G, X(0)))
# sinc's row carries the derivative order n (0 for sinc itself); the rule of order n is the
# row of order n + 1, so every order is exact, at x = 0 too (see backend/numpy_math.py)
_SINC = _unary_row("sinc", lambda g, ans, x, n: g * apply1(_SINC, x, (n + 1,)))
_NAN_TO_NUM = _unary_row(
    "nan_to_num", lambda g, ans, x, nan, posinf, neginf: o.where(isfinite(x), g, 0.0))

_FLOOR = _constant_row("floor")
_CEIL = _constant_row("ceil")
_RINT = _constant_row("rint")
_TRUNC = _constant_row("trunc")
_FIX = _constant_row("fix")
_ROUND = _constant_row("round")      # params: (decimals,)


# ----------------------------------------------------------------------------- rows: binary
def _binary_row(name, dx, dy):
    """An elementwise two-input row with numpy broadcasting. dx(t, ans, x, y) is t times the
    partial derivative in x (t a cotangent of the output's shape, or a tangent of x's); the
    VJP sums it down to x's shape (the adjoint of broadcasting), the JVP adds the terms.
    dy None: the partial derivative in y is exactly zero."""
    def vjp_x(g, ans, x, y):
        return o.sum_to(dx(g, ans, x, y), x.shape)

    def vjp_y(g, ans, x, y):
        return None if dy is None else o.sum_to(dy(g, ans, x, y), y.shape)

    def jvp(dots, ans, x, y):
        return _tangent_sum((None if dots[0] is None else dx(dots[0], ans, x, y),
                             None if dots[1] is None or dy is None
                             else dy(dots[1], ans, x, y)), ans)
    return defprim(name, vjp_x, vjp_y, jvp=jvp, lift=_LIFT)


def _arctan2_norm(x, y):
    return o.square(x) + o.square(y)


def _weight(wins, x, y):
    """1 where x wins, 1/2 at ties, 0 where y wins, in x's dtype (a constant mask)."""
    return o.astype(o.where(wins, 1.0, o.where(o.equal(x, y), 0.5, 0.0)), x.dtype)


def _fmax_weight(x, y):
    """x's share of fmax(x, y)'s gradient: all of it where x > y or y is NaN."""
    return _weight(logical_or(o.greater(x, y), isnan(y)), x, y)


def _fmin_weight(x, y):
    return _weight(logical_or(o.less(x, y), isnan(y)), x, y)


def _sign_of(y, dtype):
    """+1 or -1 by y's sign bit (-0.0 counts as negative), in the given dtype."""
    return o.astype(o.where(signbit(y), -1.0, 1.0), dtype)


_LOGADDEXP = _binary_row("logaddexp",
                         lambda t, ans, x, y: t * o.exp(x - ans),
                         lambda t, ans, x, y: t * o.exp(y - ans))
_LOGADDEXP2 = _binary_row("logaddexp2",
                          lambda t, ans, x, y: t * exp2(x - ans),
                          lambda t, ans, x, y: t * exp2(y - ans))
_ARCTAN2 = _binary_row("arctan2",
                       lambda t, ans, x, y: (t * y) / _arctan2_norm(x, y),
                       lambda t, ans, x, y: -(t * x) / _arctan2_norm(x, y))
_HYPOT = _binary_row("hypot",
                     lambda t, ans, x, y: (t * x) / ans,
                     lambda t, ans, x, y: (t * y) / ans)
_FMAX = _binary_row("fmax",
                    lambda t, ans, x, y: t * _fmax_weight(x, y),
                    lambda t, ans, x, y: t * (1.0 - _fmax_weight(x, y)))
_FMIN = _binary_row("fmin",
                    lambda t, ans, x, y: t * _fmin_weight(x, y),
                    lambda t, ans, x, y: t * (1.0 - _fmin_weight(x, y)))
_REMAINDER = _binary_row("remainder",
                         lambda t, ans, x, y: t,
                         lambda t, ans, x, y: -(t * floor(o.divide(x, y))))
_FMOD = _binary_row("fmod",
                    lambda t, ans, x, y: t,
                    lambda t, ans, x, y: -(t * trunc(o.divide(x, y))))
_COPYSIGN = _binary_row("copysign",
                        lambda t, ans, x, y: t * (o.sign(x) * _sign_of(y, x.dtype)),
                        None)
_FLOOR_DIVIDE = _constant_row("floor_divide", inputs=2)

# ----------------------------------------------------------------------------- rows: predicates
_ISFINITE = defprim("isfinite", nondiff=True)
_ISNAN = defprim("isnan", nondiff=True)
_ISINF = defprim("isinf", nondiff=True)
_SIGNBIT = defprim("signbit", nondiff=True)
_LOGICAL_NOT = defprim("logical_not", nondiff=True)
_LOGICAL_AND = defprim("logical_and", nondiff=True)
_LOGICAL_OR = defprim("logical_or", nondiff=True)
_LOGICAL_XOR = defprim("logical_xor", nondiff=True)


# ----------------------------------------------------------------------------- docstrings
def _prose(text):
    return textwrap.fill(text, 88)


def _unary_doc(name, summary, derivative, returns, example, extra=""):
    return f"""{summary}

Elementwise, with numpy's values and output dtypes (``numpy.{name}``; integer and bool
inputs give numpy's result dtype).{extra}

{_prose(f"Derivative: {derivative}.")}

Parameters
----------
x : array_like
    A Tensor, numpy array, Python scalar or nested list.

Returns
-------
Tensor
    {returns[0].upper() + returns[1:]}, of x's shape.

Raises
------
TypeError
    If x is not a bool, integer or float array (complex inputs are not supported yet).

Examples
--------
{example}
"""


def _binary_doc(name, summary, derivative, returns, example, extra=""):
    return f"""{summary}

Elementwise with numpy broadcasting, values and output dtypes (``numpy.{name}``). A Python
scalar operand is weakly typed: it takes the other operand's dtype, as in numpy.{extra}

{_prose(f"Derivatives: {derivative}.")}

Parameters
----------
x1, x2 : array_like
    Tensors, numpy arrays, Python scalars or nested lists whose shapes broadcast together.

Returns
-------
Tensor
    {returns[0].upper() + returns[1:]}, of the broadcast shape.

Raises
------
ValueError
    If the shapes do not broadcast together.
TypeError
    If an operand is not a bool, integer or float array.

Examples
--------
{example}
"""


def _predicate_doc(name, summary, params, example):
    binary = "x1" in params
    raises = ("ValueError\n    If the shapes do not broadcast together.\n" if binary else "")
    return f"""{summary}

Elementwise as ``numpy.{name}``; not differentiable (it returns a bool Tensor, which carries
no derivative), so it is safe in masks inside differentiated code.

Parameters
----------
{params}

Returns
-------
Tensor
    A bool Tensor{" of the broadcast shape" if binary else " of x's shape"}.

Raises
------
{raises}TypeError
    If an input is not a bool, integer or float array.

Examples
--------
{example}
"""


# ----------------------------------------------------------------------------- public: unary
def _unary_function(prim, name, doc):
    def fn(x: ArrayLike) -> Tensor:
        return bind(prim, _unary_input(name, x))
    fn.__name__ = fn.__qualname__ = name
    fn.__module__ = __name__
    fn.__doc__ = doc
    return fn


_UNARY = {
    # name: (summary, derivative, what it returns, example)
    "reciprocal": (
        "The reciprocal 1 / x.", "-1 / x**2",
        "1 / x (integer inputs: numpy's integer reciprocal)",
        """>>> ad.reciprocal(ad.tensor([0.5, 4.0]))
tensor([2.  , 0.25])
>>> ad.grad(lambda x: ad.sum(ad.reciprocal(x)))(np.array([0.5, 4.0]))
array([-4.    , -0.0625])"""),
    "sinh": (
        "The hyperbolic sine.", "cosh(x)", "sinh(x)",
        """>>> ad.sinh(ad.tensor([0.0, 1.0]))
tensor([0.        , 1.17520119])
>>> ad.grad(lambda x: ad.sum(ad.sinh(x)))(np.array([0.0, 1.0]))
array([1.        , 1.54308063])"""),
    "cosh": (
        "The hyperbolic cosine.", "sinh(x)", "cosh(x)",
        """>>> ad.cosh(ad.tensor([0.0, 1.0]))
tensor([1.        , 1.54308063])
>>> ad.grad(lambda x: ad.sum(ad.cosh(x)))(np.array([0.0, 1.0]))
array([0.        , 1.17520119])"""),
    "tan": (
        "The tangent (x in radians).", "1 + tan(x)**2", "tan(x)",
        """>>> ad.tan(ad.tensor([0.0, 0.5]))
tensor([0.        , 0.54630249])
>>> ad.grad(lambda x: ad.sum(ad.tan(x)))(np.array([0.0, 0.5]))
array([1.        , 1.29844641])"""),
    "arcsin": (
        "The inverse sine, in radians in [-pi/2, pi/2].", "1 / sqrt(1 - x**2)",
        "arcsin(x) (NaN outside [-1, 1])",
        """>>> ad.arcsin(ad.tensor([0.0, 0.5]))
tensor([0.        , 0.52359878])
>>> ad.grad(lambda x: ad.sum(ad.arcsin(x)))(np.array([0.0, 0.5]))
array([1.        , 1.15470054])"""),
    "arccos": (
        "The inverse cosine, in radians in [0, pi].", "-1 / sqrt(1 - x**2)",
        "arccos(x) (NaN outside [-1, 1])",
        """>>> ad.arccos(ad.tensor([0.0, 0.5]))
tensor([1.57079633, 1.04719755])
>>> ad.grad(lambda x: ad.sum(ad.arccos(x)))(np.array([0.0, 0.5]))
array([-1.        , -1.15470054])"""),
    "arctan": (
        "The inverse tangent, in radians in (-pi/2, pi/2).", "1 / (1 + x**2)", "arctan(x)",
        """>>> ad.arctan(ad.tensor([0.0, 1.0]))
tensor([0.        , 0.78539816])
>>> ad.grad(lambda x: ad.sum(ad.arctan(x)))(np.array([0.0, 1.0]))
array([1. , 0.5])"""),
    "arcsinh": (
        "The inverse hyperbolic sine.", "1 / sqrt(x**2 + 1)", "arcsinh(x)",
        """>>> ad.arcsinh(ad.tensor([0.0, 1.0]))
tensor([0.        , 0.88137359])
>>> ad.grad(lambda x: ad.sum(ad.arcsinh(x)))(np.array([0.0, 1.0]))
array([1.        , 0.70710678])"""),
    "arccosh": (
        "The inverse hyperbolic cosine.", "1 / sqrt(x**2 - 1)",
        "arccosh(x) (NaN below 1)",
        """>>> ad.arccosh(ad.tensor([1.0, 2.0]))
tensor([0.       , 1.3169579])
>>> ad.grad(lambda x: ad.sum(ad.arccosh(x)))(np.array([1.25, 2.0]))
array([1.33333333, 0.57735027])"""),
    "arctanh": (
        "The inverse hyperbolic tangent.", "1 / (1 - x**2)",
        "arctanh(x) (NaN outside [-1, 1], +-inf at +-1)",
        """>>> ad.arctanh(ad.tensor([0.0, 0.5]))
tensor([0.        , 0.54930614])
>>> ad.grad(lambda x: ad.sum(ad.arctanh(x)))(np.array([0.0, 0.5]))
array([1.        , 1.33333333])"""),
    "exp2": (
        "Two to the power x.", "2**x log(2)", "2**x",
        """>>> ad.exp2(ad.tensor([0.0, 3.0]))
tensor([1., 8.])
>>> ad.grad(lambda x: ad.sum(ad.exp2(x)))(np.array([0.0, 3.0]))
array([0.69314718, 5.54517744])"""),
    "expm1": (
        "exp(x) - 1, accurate for small x.", "exp(x)", "exp(x) - 1",
        """>>> ad.expm1(ad.tensor([0.0, 1e-10]))
tensor([0.e+00, 1.e-10])
>>> ad.grad(lambda x: ad.sum(ad.expm1(x)))(np.array([0.0, 1.0]))
array([1.        , 2.71828183])"""),
    "log2": (
        "The base-2 logarithm.", "1 / (x log(2))", "log2(x) (NaN below 0, -inf at 0)",
        """>>> ad.log2(ad.tensor([1.0, 8.0]))
tensor([0., 3.])
>>> ad.grad(lambda x: ad.sum(ad.log2(x)))(np.array([1.0, 8.0]))
array([1.44269504, 0.18033688])"""),
    "log10": (
        "The base-10 logarithm.", "1 / (x log(10))", "log10(x) (NaN below 0, -inf at 0)",
        """>>> ad.log10(ad.tensor([1.0, 100.0]))
tensor([0., 2.])
>>> ad.grad(lambda x: ad.sum(ad.log10(x)))(np.array([1.0, 100.0]))
array([0.43429448, 0.00434294])"""),
    "cbrt": (
        "The real cube root (negative for negative x).", "1 / (3 cbrt(x)**2), inf at 0",
        "cbrt(x)",
        """>>> ad.cbrt(ad.tensor([-8.0, 27.0]))
tensor([-2.,  3.])
>>> ad.grad(lambda x: ad.sum(ad.cbrt(x)))(np.array([-8.0, 27.0]))
array([0.08333333, 0.03703704])"""),
    "deg2rad": (
        "Degrees to radians: x * pi / 180 (``radians`` is the same function).", "pi / 180",
        "x in radians",
        """>>> ad.deg2rad(ad.tensor([90.0, 180.0]))
tensor([1.57079633, 3.14159265])
>>> float(ad.grad(ad.deg2rad)(1.0))
0.017453292519943295"""),
    "rad2deg": (
        "Radians to degrees: x * 180 / pi (``degrees`` is the same function).", "180 / pi",
        "x in degrees",
        """>>> ad.rad2deg(ad.tensor([np.pi / 2, np.pi]))
tensor([ 90., 180.])
>>> float(ad.grad(ad.rad2deg)(1.0))
57.29577951308232"""),
    "fabs": (
        "The absolute value, as a float (integer inputs give floats, unlike abs).",
        "sign(x), taken as 0 at x = 0 (like abs)", "|x| as floats",
        """>>> ad.fabs(ad.tensor([-1.5, 2.0]))
tensor([1.5, 2. ])
>>> ad.grad(lambda x: ad.sum(ad.fabs(x)))(np.array([-1.5, 0.0, 2.0]))
array([-1.,  0.,  1.])"""),
    "sinc": (
        "The normalized sinc function sin(pi x) / (pi x), 1 at x = 0.",
        "(cos(pi x) - sinc(x)) / x, 0 at x = 0; every higher derivative is exact at 0 too "
        "(the second is -pi**2 / 3 there)", "sinc(x)",
        """>>> ad.sinc(ad.tensor([0.0, 0.5]))
tensor([1.        , 0.63661977])
>>> ad.grad(lambda x: ad.sum(ad.sinc(x)))(np.array([0.0, 0.5]))
array([ 0.        , -1.27323954])"""),
}

reciprocal, sinh, cosh, tan, arcsin, arccos, arctan, arcsinh, arccosh, arctanh, exp2, expm1, \
    log2, log10, cbrt, deg2rad, rad2deg, fabs = (
        _unary_function(_row, _n, _unary_doc(_n, *_UNARY[_n][:3], _UNARY[_n][3]))
        for _n, _row in (
            ("reciprocal", _RECIPROCAL), ("sinh", _SINH), ("cosh", _COSH), ("tan", _TAN),
            ("arcsin", _ARCSIN), ("arccos", _ARCCOS), ("arctan", _ARCTAN),
            ("arcsinh", _ARCSINH), ("arccosh", _ARCCOSH), ("arctanh", _ARCTANH),
            ("exp2", _EXP2), ("expm1", _EXPM1), ("log2", _LOG2), ("log10", _LOG10),
            ("cbrt", _CBRT), ("deg2rad", _DEG2RAD_ROW), ("rad2deg", _RAD2DEG_ROW),
            ("fabs", _FABS)))
radians = deg2rad
degrees = rad2deg


def sinc(x: ArrayLike) -> Tensor:
    return bind(_SINC, _unary_input("sinc", x), params=(0,))


sinc.__doc__ = _unary_doc("sinc", *_UNARY["sinc"][:3], _UNARY["sinc"][3])

# the piecewise-constant ones: zero derivative
_CONSTANT = {
    "floor": ("Round down: the largest integer <= x.", "floor(x)",
              """>>> ad.floor(ad.tensor([-1.5, 0.5, 2.0]))
tensor([-2.,  0.,  2.])
>>> ad.grad(lambda x: ad.sum(ad.floor(x)))(np.array([-1.5, 0.5]))
array([0., 0.])"""),
    "ceil": ("Round up: the smallest integer >= x.", "ceil(x)",
             """>>> ad.ceil(ad.tensor([-1.5, 0.5, 2.0]))
tensor([-1.,  1.,  2.])
>>> ad.grad(lambda x: ad.sum(ad.ceil(x)))(np.array([-1.5, 0.5]))
array([0., 0.])"""),
    "rint": ("Round to the nearest integer, halves to even.", "rint(x)",
             """>>> ad.rint(ad.tensor([-1.5, 0.5, 2.7]))
tensor([-2.,  0.,  3.])
>>> ad.grad(lambda x: ad.sum(ad.rint(x)))(np.array([-1.5, 0.4]))
array([0., 0.])"""),
    "trunc": ("Round toward zero.", "trunc(x)",
              """>>> ad.trunc(ad.tensor([-1.5, 0.5, 2.7]))
tensor([-1.,  0.,  2.])
>>> ad.grad(lambda x: ad.sum(ad.trunc(x)))(np.array([-1.5, 0.4]))
array([0., 0.])"""),
}
_CONSTANT_EXTRA = " Piecewise constant."
_ZERO_DERIVATIVE = ("0 (exactly zero, as autograd: usable inside grad, jvp and hvp, where it "
                    "contributes nothing)")
floor, ceil, rint, trunc = (
    _unary_function(_row, _n, _unary_doc(_n, _CONSTANT[_n][0], _ZERO_DERIVATIVE,
                                         _CONSTANT[_n][1], _CONSTANT[_n][2], _CONSTANT_EXTRA))
    for _n, _row in (("floor", _FLOOR), ("ceil", _CEIL), ("rint", _RINT), ("trunc", _TRUNC)))


def fix(x: ArrayLike, out: None = None) -> Tensor:
    """Round toward zero (numpy's ``fix``; the same values as ``trunc``).

    Elementwise with numpy's values and output dtypes (integer and bool inputs keep their
    dtype). Piecewise constant.

    Derivative: 0 (exactly zero, as autograd: usable inside grad, jvp and hvp).

    Parameters
    ----------
    x : array_like
        A Tensor, numpy array, Python scalar or nested list.
    out : None
        Not supported (Tensors are immutable); must be None.

    Returns
    -------
    Tensor
        x rounded toward zero, of x's shape.

    Raises
    ------
    TypeError
        If x is not a bool, integer or float array, or out is given.

    Examples
    --------
    >>> ad.fix(ad.tensor([-1.5, 0.5, 2.7]))
    tensor([-1.,  0.,  2.])
    >>> ad.grad(lambda x: ad.sum(ad.fix(x)))(np.array([-1.5, 0.4]))
    array([0., 0.])
    """
    _no_out("fix", out)
    return bind(_FIX, _unary_input("fix", x))


def round(a: ArrayLike, decimals: int = 0, out: None = None) -> Tensor:
    """Round to the given number of decimals, halves to even (numpy's ``round``/``around``).

    Elementwise with numpy's values and output dtypes (integer inputs keep their dtype;
    negative ``decimals`` round to tens, hundreds, ...). Piecewise constant; also
    ``Tensor.round(decimals)`` and ``ad.around``.

    Derivative: 0 (exactly zero, as autograd: usable inside grad, jvp and hvp).

    Parameters
    ----------
    a : array_like
        A Tensor, numpy array, Python scalar or nested list.
    decimals : int, optional
        How many decimals to keep (default 0); negative values round left of the point.
    out : None
        Not supported (Tensors are immutable); must be None.

    Returns
    -------
    Tensor
        a rounded, of a's shape.

    Raises
    ------
    TypeError
        If a is not a bool, integer or float array, decimals is not an integer, or out is
        given.

    Examples
    --------
    >>> ad.round(ad.tensor([0.5, 1.5, 2.567]))
    tensor([0., 2., 3.])
    >>> ad.round(ad.tensor([2.567, 14.0]), decimals=1)
    tensor([ 2.6, 14. ])
    >>> ad.grad(lambda x: ad.sum(ad.round(x)))(np.array([0.3, 1.2]))
    array([0., 0.])
    """
    _no_out("round", out)
    if not isinstance(decimals, (int, np.integer)) or isinstance(decimals, bool):
        raise TypeError(f"pyad.round: decimals must be an integer, got {decimals!r}")
    return bind(_ROUND, _unary_input("round", a), params=(int(decimals),))


around = round


def nan_to_num(x: ArrayLike, copy: bool = True, nan: float = 0.0,
               posinf: float | None = None, neginf: float | None = None) -> Tensor:
    """Replace NaN by ``nan`` and +-inf by ``posinf``/``neginf`` (numpy's ``nan_to_num``).

    Elementwise with numpy's values and dtypes: by default NaN becomes 0 and +-inf the
    largest finite numbers of x's dtype; integer and bool inputs come back unchanged. The
    result is always a new Tensor (Tensors are immutable, so ``copy=False`` changes nothing).

    Derivative: 1 where x is finite, 0 at NaN and +-inf (the replaced entries are constants).

    Parameters
    ----------
    x : array_like
        A Tensor, numpy array, Python scalar or nested list.
    copy : bool, optional
        Accepted for numpy compatibility; a new Tensor is returned either way.
    nan : float, optional
        The value NaNs become (default 0.0).
    posinf, neginf : float or None, optional
        The values +inf and -inf become (default: the dtype's largest and smallest finite
        numbers).

    Returns
    -------
    Tensor
        x with its non-finite entries replaced, of x's shape and dtype.

    Raises
    ------
    TypeError
        If x is not a bool, integer or float array, or a replacement is not a real number.

    Examples
    --------
    >>> ad.nan_to_num(ad.tensor([np.nan, 1.5, np.inf]), posinf=9.0)
    tensor([0. , 1.5, 9. ])
    >>> ad.grad(lambda x: ad.sum(ad.nan_to_num(x)))(np.array([np.nan, 1.5, -np.inf]))
    array([0., 1., 0.])
    """
    x = _unary_input("nan_to_num", x)
    values = []
    for label, v in (("nan", nan), ("posinf", posinf), ("neginf", neginf)):
        if v is not None and (not isinstance(v, (int, float, np.integer, np.floating))
                              or isinstance(v, bool)):
            raise TypeError(f"pyad.nan_to_num: {label} must be a real number or None, got "
                            f"{v!r}")
        values.append(None if v is None else float(v))
    return bind(_NAN_TO_NUM, x, params=tuple(values))


def _no_out(name, out):
    if out is not None:
        raise TypeError(f"pyad.{name}: out= is not supported (Tensors are immutable); use the "
                        f"returned Tensor")


# ----------------------------------------------------------------------------- public: binary
def _binary_function(prim, name, doc):
    def fn(x1: ArrayLike, x2: ArrayLike) -> Tensor:
        return _apply_binary(prim, name, x1, x2)
    fn.__name__ = fn.__qualname__ = name
    fn.__module__ = __name__
    fn.__doc__ = doc
    return fn


_BINARY = {
    # name: (summary, derivatives, what it returns, example, extra prose)
    "logaddexp": (
        "log(exp(x1) + exp(x2)), computed without overflow.",
        "d/dx1 = exp(x1 - out), d/dx2 = exp(x2 - out) (the softmax weights of the pair)",
        "log(exp(x1) + exp(x2))",
        """>>> ad.logaddexp(ad.tensor([0.0, 1000.0]), 0.0)
tensor([6.93147181e-01, 1.00000000e+03])
>>> ad.grad(lambda x: ad.sum(ad.logaddexp(x, 0.0)))(np.array([0.0, 2.0]))
array([0.5       , 0.88079708])""", ""),
    "logaddexp2": (
        "log2(2**x1 + 2**x2), computed without overflow.",
        "d/dx1 = 2**(x1 - out), d/dx2 = 2**(x2 - out)", "log2(2**x1 + 2**x2)",
        """>>> ad.logaddexp2(ad.tensor([0.0, 3.0]), 0.0)
tensor([1.      , 3.169925])
>>> ad.grad(lambda x: ad.sum(ad.logaddexp2(x, 0.0)))(np.array([0.0, 3.0]))
array([0.5       , 0.88888889])""", ""),
    "arctan2": (
        "The angle of the point (x2, x1), in radians in [-pi, pi]: arctan(x1 / x2) with the "
        "quadrant taken from both signs.",
        "d/dx1 = x2 / (x1**2 + x2**2), d/dx2 = -x1 / (x1**2 + x2**2) (undefined at the "
        "origin)", "the angles",
        """>>> ad.arctan2(ad.tensor([1.0, 1.0]), ad.tensor([1.0, -1.0]))
tensor([0.78539816, 2.35619449])
>>> [float(d) for d in ad.grad(ad.arctan2, argnums=(0, 1))(1.0, 1.0)]
[0.5, -0.5]""", ""),
    "hypot": (
        "The hypotenuse sqrt(x1**2 + x2**2), without overflow.",
        "d/dx1 = x1 / out, d/dx2 = x2 / out (undefined at the origin)", "the hypotenuses",
        """>>> ad.hypot(ad.tensor([3.0, 5.0]), 4.0)
tensor([5.        , 6.40312424])
>>> [float(d) for d in ad.grad(ad.hypot, argnums=(0, 1))(3.0, 4.0)]
[0.6, 0.8]""", ""),
    "fmax": (
        "The elementwise maximum, ignoring NaNs (a NaN loses to a number).",
        "the gradient goes to the larger operand, split evenly at ties (like maximum), and "
        "all to the number where the other operand is NaN", "the maxima",
        """>>> ad.fmax(ad.tensor([1.0, np.nan, 3.0]), ad.tensor([2.0, 0.5, np.nan]))
tensor([2. , 0.5, 3. ])
>>> ad.grad(lambda x: ad.sum(ad.fmax(x, np.array([0.5, 1.0, np.nan]))))(
...     np.array([1.0, 1.0, 1.0]))
array([1. , 0.5, 1. ])""", ""),
    "fmin": (
        "The elementwise minimum, ignoring NaNs (a NaN loses to a number).",
        "the gradient goes to the smaller operand, split evenly at ties (like minimum), and "
        "all to the number where the other operand is NaN", "the minima",
        """>>> ad.fmin(ad.tensor([1.0, np.nan, 3.0]), ad.tensor([2.0, 0.5, np.nan]))
tensor([1. , 0.5, 3. ])
>>> ad.grad(lambda x: ad.sum(ad.fmin(x, np.array([0.5, 1.0, np.nan]))))(
...     np.array([1.0, 1.0, 1.0]))
array([0. , 0.5, 1. ])""", ""),
    "mod": (
        "The remainder of floor division, x1 - floor(x1 / x2) * x2, with the sign of x2 "
        "(Python's ``%``; ``remainder`` is the same function).",
        "d/dx1 = 1, d/dx2 = -floor(x1 / x2) (as autograd; the jumps are ignored)",
        "the remainders",
        """>>> ad.mod(ad.tensor([5.5, -5.5]), 2.0)
tensor([1.5, 0.5])
>>> [float(d) for d in ad.grad(ad.mod, argnums=(0, 1))(5.5, 2.0)]
[1.0, -2.0]""", " Also ``Tensor % y``."),
    "fmod": (
        "The C remainder x1 - trunc(x1 / x2) * x2, with the sign of x1.",
        "d/dx1 = 1, d/dx2 = -trunc(x1 / x2) (the jumps are ignored)", "the remainders",
        """>>> ad.fmod(ad.tensor([5.5, -5.5]), 2.0)
tensor([ 1.5, -1.5])
>>> [float(d) for d in ad.grad(ad.fmod, argnums=(0, 1))(-5.5, 2.0)]
[1.0, 2.0]""", ""),
    "copysign": (
        "The magnitude of x1 with the sign of x2 (its sign bit: -0.0 counts as negative).",
        "d/dx1 = sign(x1) * (+-1 by x2's sign), 0 at x1 = 0 (like abs); d/dx2 = 0",
        "|x1| with x2's signs",
        """>>> ad.copysign(ad.tensor([1.5, -2.0]), ad.tensor([-1.0, 3.0]))
tensor([-1.5,  2. ])
>>> ad.grad(lambda x: ad.sum(ad.copysign(x, -1.0)))(np.array([1.5, -2.0]))
array([-1.,  1.])""", ""),
    "floor_divide": (
        "Floor division floor(x1 / x2) (Python's ``//``).",
        "0 in both operands (piecewise constant; exactly zero, as autograd)",
        "the quotients (integers for integer inputs)",
        """>>> ad.floor_divide(ad.tensor([5.5, -5.5]), 2.0)
tensor([ 2., -3.])
>>> ad.grad(lambda x: ad.sum(ad.floor_divide(x, 2.0)))(np.array([5.5, -5.5]))
array([0., 0.])""", " Also ``Tensor // y``."),
}

logaddexp, logaddexp2, arctan2, hypot, fmax, fmin, mod, fmod, copysign, floor_divide = (
    _binary_function(_row, _n, _binary_doc("remainder" if _n == "mod" else _n,
                                           *_BINARY[_n][:4], _BINARY[_n][4]))
    for _n, _row in (("logaddexp", _LOGADDEXP), ("logaddexp2", _LOGADDEXP2),
                     ("arctan2", _ARCTAN2), ("hypot", _HYPOT), ("fmax", _FMAX),
                     ("fmin", _FMIN), ("mod", _REMAINDER), ("fmod", _FMOD),
                     ("copysign", _COPYSIGN), ("floor_divide", _FLOOR_DIVIDE)))
remainder = mod
true_divide = o.divide


# ----------------------------------------------------------------------------- public: predicates
def _predicate1(prim, name, doc):
    def fn(x: ArrayLike) -> Tensor:
        return bind(prim, _unary_input(name, x))
    fn.__name__ = fn.__qualname__ = name
    fn.__module__ = __name__
    fn.__doc__ = doc
    return fn


def _own_dtype(c, other):
    """A Python scalar as a 0-d array of its own dtype (numpy's default for it), on the
    backend of the Tensor `other`."""
    return wrap(backend.asarray(c, np.result_type(c), like=other.data))


def _predicate2(prim, name, doc):
    def fn(x1: ArrayLike, x2: ArrayLike) -> Tensor:
        # no promotion: the truth of each operand is what counts (0.5 stays true)
        if type(x1) in _PYSCALARS and type(x2) not in _PYSCALARS:
            x2 = _real(name, o._t(x2))
            x1 = _own_dtype(x1, x2)
        else:
            x1 = _real(name, o._t(x1))
            x2 = _own_dtype(x2, x1) if type(x2) in _PYSCALARS else _real(name, o._t(x2))
        o._check_broadcast(name, x1.shape, x2.shape)
        return bind(prim, x1, x2)
    fn.__name__ = fn.__qualname__ = name
    fn.__module__ = __name__
    fn.__doc__ = doc
    return fn


_X_PARAM = "x : array_like\n    A Tensor, numpy array, Python scalar or nested list."
_X12_PARAM = ("x1, x2 : array_like\n    Tensors, numpy arrays, Python scalars or nested "
              "lists whose shapes broadcast\n    together; nonzero entries count as true.")
_PREDICATES1 = {
    "isfinite": ("Whether each entry is finite (not NaN, not +-inf).",
                 """>>> ad.isfinite(ad.tensor([1.0, np.inf, np.nan]))
tensor([ True, False, False])"""),
    "isnan": ("Whether each entry is NaN.",
              """>>> ad.isnan(ad.tensor([1.0, np.inf, np.nan]))
tensor([False, False,  True])"""),
    "isinf": ("Whether each entry is +inf or -inf.",
              """>>> ad.isinf(ad.tensor([1.0, -np.inf, np.nan]))
tensor([False,  True, False])"""),
    "signbit": ("Whether each entry's sign bit is set (true for -0.0 and negative NaNs).",
                """>>> ad.signbit(ad.tensor([-1.0, -0.0, 0.0, 2.0]))
tensor([ True,  True, False, False])"""),
    "logical_not": ("The truth value NOT x, entry by entry.",
                    """>>> ad.logical_not(ad.tensor([0.0, 2.0]))
tensor([ True, False])"""),
}
_PREDICATES2 = {
    "logical_and": ("The truth value x1 AND x2, entry by entry.",
                    """>>> ad.logical_and(ad.tensor([0.0, 1.0, 2.0]), 1.0)
tensor([False,  True,  True])"""),
    "logical_or": ("The truth value x1 OR x2, entry by entry.",
                   """>>> ad.logical_or(ad.tensor([0.0, 1.0]), ad.tensor([0.0, 0.0]))
tensor([False,  True])"""),
    "logical_xor": ("The truth value x1 XOR x2, entry by entry.",
                    """>>> ad.logical_xor(ad.tensor([0.0, 1.0, 1.0]), ad.tensor([1.0, 1.0, 0.0]))
tensor([ True, False,  True])"""),
}
isfinite, isnan, isinf, signbit, logical_not = (
    _predicate1(_row, _n, _predicate_doc(_n, _PREDICATES1[_n][0], _X_PARAM,
                                         _PREDICATES1[_n][1]))
    for _n, _row in (("isfinite", _ISFINITE), ("isnan", _ISNAN), ("isinf", _ISINF),
                     ("signbit", _SIGNBIT), ("logical_not", _LOGICAL_NOT)))
logical_and, logical_or, logical_xor = (
    _predicate2(_row, _n, _predicate_doc(_n, _PREDICATES2[_n][0], _X12_PARAM,
                                         _PREDICATES2[_n][1]))
    for _n, _row in (("logical_and", _LOGICAL_AND), ("logical_or", _LOGICAL_OR),
                     ("logical_xor", _LOGICAL_XOR)))

__all__ = [
    "reciprocal", "sinh", "cosh", "tan", "arcsin", "arccos", "arctan", "arcsinh", "arccosh",
    "arctanh", "exp2", "expm1", "log2", "log10", "cbrt", "deg2rad", "rad2deg", "radians",
    "degrees", "sinc", "fabs", "logaddexp", "logaddexp2", "arctan2", "hypot", "fmax", "fmin",
    "mod", "remainder", "fmod", "true_divide", "floor_divide", "copysign", "floor", "ceil",
    "round", "around", "rint", "trunc", "fix", "nan_to_num", "isfinite", "isnan", "isinf",
    "signbit", "logical_and", "logical_or", "logical_not", "logical_xor",
]
