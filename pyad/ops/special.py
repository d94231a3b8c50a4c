"""The special-function family: scipy.special's functions (autograd.scipy.special's breadth), as
rows of the primitive table with their public functions (the drop-in namespace is
pyad.scipy.special).

Forward kernels are scipy.special's own (cupyx.scipy.special's on CuPy arrays; see
pyad/backend/numpy_special.py), so values are scipy's; float32 inputs give float32 results.
Rules are written in pyad ops and in the family's own rows, so every order of derivative works:
gammaln' = digamma, digamma' = polygamma(1, .), polygamma(n, .)' = polygamma(n + 1, .); the
Bessel functions' derivatives are their recurrences (J_v' = (J_{v-1} - J_{v+1}) / 2, ...).
Orders (n, v) are static Python numbers, not differentiated. The regularised incomplete
functions (gammainc, gammaincc, betainc), stdtr and pdtr are differentiable in their last
argument; asking for a derivative in a shape parameter (a, b, df) or a count (k) raises
NotImplementedError (autograd has none either), never a silent zero.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from pyad.ops import core as o
from pyad.ops.math import _LIFT, _real, isfinite
from pyad import backend
from pyad.engine._tape import Tensor, apply1, bind, stop_gradient, wrap
from pyad._typing import ArrayLike, Axis
from pyad.ops.prims import DIAGONAL, _tangent_sum, defprim

_SQRT_PI = math.sqrt(math.pi)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_PYSCALARS = (int, float, bool)


# ----------------------------------------------------------------------------- rows
def _unary_row(name, vjp):
    return defprim(name, vjp, jvp=DIAGONAL, lift=_LIFT)


def _row(name, *partials):
    """An elementwise row of several broadcast inputs; partials[k](t, ans, *inputs, *params)
    is t times the derivative in input k (None: no derivative; a function that raises:
    a derivative pyad does not have)."""
    def vjp_of(k):
        partial = partials[k]
        if partial is None:
            return None

        def vjp(g, ans, *args):
            return o.sum_to(partial(g, ans, *args), args[k].shape)
        return vjp

    def jvp(dots, ans, *args):
        return _tangent_sum([None if d is None or partials[k] is None
                             else partials[k](d, ans, *args) for k, d in enumerate(dots)], ans)
    return defprim(name, *[vjp_of(k) for k in range(len(partials))], jvp=jvp, lift=_LIFT)


def _no_derivative(function, argument):
    def raise_(*_):
        raise NotImplementedError(
            f"pyad.scipy.special.{function}: no derivative with respect to {argument} (autograd "
            f"has none either); differentiate with respect to the last argument only, or pass "
            f"{argument} through ad.stop_gradient")
    return raise_


_GAMMALN = _unary_row("gammaln", lambda g, ans, x: g * digamma(x))
_DIGAMMA = _unary_row("digamma", lambda g, ans, x: g * polygamma(1, x))
_POLYGAMMA = _unary_row("polygamma", lambda g, ans, x, n: g * apply1(_POLYGAMMA, x, (n + 1,)))
_GAMMA = _unary_row("gamma", lambda g, ans, x: g * ans * digamma(x))
_ERF = _unary_row("erf", lambda g, ans, x: g * (o.exp(-o.square(x)) * (2.0 / _SQRT_PI)))
_ERFC = _unary_row("erfc", lambda g, ans, x: g * (o.exp(-o.square(x)) * (-2.0 / _SQRT_PI)))
_ERFINV = _unary_row("erfinv", lambda g, ans, x: g * (o.exp(o.square(ans)) * (_SQRT_PI / 2)))
_ERFCINV = _unary_row("erfcinv",
                      lambda g, ans, x: g * (o.exp(o.square(ans)) * (-_SQRT_PI / 2)))
_LOGIT = _unary_row("logit", lambda g, ans, x: g / (x * (1.0 - x)))
_NDTR = _unary_row("ndtr", lambda g, ans, x: g * (o.exp(-0.5 * o.square(x)) / _SQRT_2PI))
# d log ndtr = pdf / ndtr, as exp(-x^2/2 - log ndtr): no 0/0 far in the left tail
_LOG_NDTR = _unary_row("log_ndtr",
                       lambda g, ans, x: g * (o.exp(-0.5 * o.square(x) - ans) / _SQRT_2PI))
_NDTRI = _unary_row("ndtri", lambda g, ans, x: g * (o.exp(0.5 * o.square(ans)) * _SQRT_2PI))

# Bessel functions: the recurrences of their derivatives
_I0 = _unary_row("i0", lambda g, ans, x: g * i1(x))
_I1 = _unary_row("i1", lambda g, ans, x: g * (0.5 * (i0(x) + iv(2, x))))
_IV = _unary_row("iv", lambda g, ans, x, v: g * (0.5 * (apply1(_IV, x, (v - 1,))
                                                      + apply1(_IV, x, (v + 1,)))))
_IVE = _unary_row("ive", lambda g, ans, x, v: g * (
    0.5 * (apply1(_IVE, x, (v - 1,)) + apply1(_IVE, x, (v + 1,))) - o.sign(x) * ans))
_J0 = _unary_row("j0", lambda g, ans, x: -(g * j1(x)))
_J1 = _unary_row("j1", lambda g, ans, x: g * (0.5 * (j0(x) - jv(2, x))))
_JV = _unary_row("jv", lambda g, ans, x, v: g * (0.5 * (apply1(_JV, x, (v - 1,))
                                                      - apply1(_JV, x, (v + 1,)))))
_Y0 = _unary_row("y0", lambda g, ans, x: -(g * y1(x)))
_Y1 = _unary_row("y1", lambda g, ans, x: g * (0.5 * (y0(x) - yv(2, x))))
_YV = _unary_row("yv", lambda g, ans, x, v: g * (0.5 * (apply1(_YV, x, (v - 1,))
                                                      - apply1(_YV, x, (v + 1,)))))

_XLOGY = _row("xlogy", lambda t, ans, x, y: t * o.log(y), lambda t, ans, x, y: t * (x / y))
_XLOG1PY = _row("xlog1py", lambda t, ans, x, y: t * o.log1p(y),
                lambda t, ans, x, y: t * (x / (y + 1.0)))


def _gamma_density(a, x):
    """x^(a-1) e^-x / Gamma(a): d gammainc(a, x) / dx."""
    return o.exp((a - 1.0) * o.log(x) - x - gammaln(a))


_GAMMAINC = _row("gammainc", _no_derivative("gammainc", "a"),
                 lambda t, ans, a, x: t * _gamma_density(a, x))
_GAMMAINCC = _row("gammaincc", _no_derivative("gammaincc", "a"),
                  lambda t, ans, a, x: -(t * _gamma_density(a, x)))
_BETAINC = _row("betainc", _no_derivative("betainc", "a"), _no_derivative("betainc", "b"),
                lambda t, ans, a, b, x: t * o.exp((a - 1.0) * o.log(x)
                                                  + (b - 1.0) * o.log1p(-x) - betaln(a, b)))


def _t_density(df, t):
    """Student's t density: d stdtr(df, t) / dt."""
    half = (df + 1.0) * 0.5
    return o.exp(gammaln(half) - gammaln(df * 0.5) - 0.5 * o.log(df * math.pi)
                 - half * o.log1p(o.square(t) / df))


_STDTR = _row("stdtr", _no_derivative("stdtr", "df"),
              lambda t, ans, df, x: t * _t_density(df, x))
# d/dm P(K <= k; m) = -P(K = floor(k); m)
_PDTR = _row("pdtr", _no_derivative("pdtr", "k"),
             lambda t, ans, k, m: -(t * o.exp(xlogy(o.floor(k), m) - m
                                               - gammaln(o.floor(k) + 1.0))))


# ----------------------------------------------------------------------------- public
def _input(name, x):
    return _real(f"scipy.special.{name}", o._t(x))


def _inputs(name, *args):
    """Real Tensors of one dtype (numpy's promotion; Python numbers take the arrays' dtype),
    broadcastable together."""
    arrays = [_input(name, a) for a in args if type(a) not in _PYSCALARS]
    dtype = np.result_type(*[a.dtype for a in arrays]) if arrays else np.float64
    if dtype.kind in "biu":
        dtype = np.dtype(np.float64)
    like = arrays[0].data if arrays else np.zeros(())
    out = []
    for a in args:
        t = wrap(backend.asarray(a, dtype, like=like)) if type(a) in _PYSCALARS \
            else _input(name, a)
        out.append(t if t.dtype == dtype else o.astype(t, dtype))
    try:
        np.broadcast_shapes(*[t.shape for t in out])
    except ValueError:
        shapes = ", ".join(str(t.shape) for t in out)
        raise ValueError(f"pyad.scipy.special.{name}: shapes {shapes} do not broadcast "
                         f"together") from None
    return out


def _order(name, what, v, integer=False):
    if isinstance(v, Tensor) or np.ndim(v) != 0:
        raise TypeError(f"pyad.scipy.special.{name}: the order {what} must be a Python "
                        f"number (it is not differentiated), got {type(v).__name__}")
    if integer and (float(v) != int(v) or int(v) < 0):
        raise ValueError(f"pyad.scipy.special.{name}: {what} must be an integer >= 0, got {v!r}")
    return int(v) if integer else float(v)


def _unary(prim, name, summary, derivative, example):
    def fn(x: ArrayLike) -> Tensor:
        return bind(prim, _input(name, x))
    fn.__name__ = fn.__qualname__ = name
    fn.__module__ = "pyad.scipy.special"
    fn.__doc__ = f"""{summary} (``scipy.special.{name}``), elementwise.

Derivative: {derivative}.

Parameters
----------
x : array_like
    Real values (a Tensor, array, number or list); float32 stays float32.

Returns
-------
Tensor
    Of x's shape.

Raises
------
TypeError
    For complex or non-numeric inputs.

Examples
--------
{example}
"""
    return fn


gammaln = _unary(_GAMMALN, "gammaln", "The log of the absolute value of the gamma function",
                 "digamma(x)", """>>> from pyad.scipy import special
>>> special.gammaln(np.array([1.0, 5.0]))
tensor([0.        , 3.17805383])
>>> ad.grad(lambda x: ad.sum(special.gammaln(x)))(np.array([1.0, 2.0]))
array([-0.57721566,  0.42278434])""")
digamma = _unary(_DIGAMMA, "digamma", "The digamma function psi = d log Gamma / dx",
                 "polygamma(1, x)", """>>> from pyad.scipy import special
>>> special.digamma(np.array([1.0]))
tensor([-0.57721566])""")
gamma = _unary(_GAMMA, "gamma", "The gamma function", "gamma(x) digamma(x)",
               """>>> from pyad.scipy import special
>>> special.gamma(np.array([4.0, 0.5]))
tensor([6.        , 1.77245385])""")
erf = _unary(_ERF, "erf", "The error function", "2 exp(-x**2) / sqrt(pi)",
             """>>> from pyad.scipy import special
>>> special.erf(np.array([0.0, 1.0]))
tensor([0.        , 0.84270079])""")
erfc = _unary(_ERFC, "erfc", "The complementary error function 1 - erf(x)",
              "-2 exp(-x**2) / sqrt(pi)", """>>> from pyad.scipy import special
>>> special.erfc(np.array([0.0]))
tensor([1.])""")
erfinv = _unary(_ERFINV, "erfinv", "The inverse of erf on (-1, 1)",
                "sqrt(pi) / 2 exp(erfinv(x)**2)", """>>> from pyad.scipy import special
>>> special.erfinv(np.array([0.0, 0.5]))
tensor([0.        , 0.47693628])""")
erfcinv = _unary(_ERFCINV, "erfcinv", "The inverse of erfc on (0, 2)",
                 "-sqrt(pi) / 2 exp(erfcinv(x)**2)", """>>> from pyad.scipy import special
>>> special.erfcinv(np.array([0.5]))
tensor([0.47693628])""")
logit = _unary(_LOGIT, "logit", "The log-odds log(x / (1 - x))", "1 / (x (1 - x))",
               """>>> from pyad.scipy import special
>>> special.logit(np.array([0.5, 0.75]))
tensor([0.        , 1.09861229])""")
ndtr = _unary(_NDTR, "ndtr", "The standard normal CDF", "the standard normal density",
              """>>> from pyad.scipy import special
>>> special.ndtr(np.array([0.0]))
tensor([0.5])""")
log_ndtr = _unary(_LOG_NDTR, "log_ndtr", "The log of the standard normal CDF (accurate far "
                  "in the left tail)", "density / ndtr(x), computed as exp(-x**2/2 - out) / "
                  "sqrt(2 pi)", """>>> from pyad.scipy import special
>>> special.log_ndtr(np.array([-40.0]))
tensor([-804.60844201])""")
ndtri = _unary(_NDTRI, "ndtri", "The inverse of the standard normal CDF",
               "sqrt(2 pi) exp(out**2 / 2)", """>>> from pyad.scipy import special
>>> special.ndtri(np.array([0.5]))
tensor([0.])""")
i0 = _unary(_I0, "i0", "The modified Bessel function of the first kind, order 0", "i1(x)",
            """>>> from pyad.scipy import special
>>> special.i0(np.array([0.0, 1.0]))
tensor([1.        , 1.26606588])""")
i1 = _unary(_I1, "i1", "The modified Bessel function of the first kind, order 1",
            "(i0(x) + iv(2, x)) / 2", """>>> from pyad.scipy import special
>>> special.i1(np.array([1.0]))
tensor([0.5651591])""")
j0 = _unary(_J0, "j0", "The Bessel function of the first kind, order 0", "-j1(x)",
            """>>> from pyad.scipy import special
>>> special.j0(np.array([0.0]))
tensor([1.])""")
j1 = _unary(_J1, "j1", "The Bessel function of the first kind, order 1",
            "(j0(x) - jv(2, x)) / 2", """>>> from pyad.scipy import special
>>> special.j1(np.array([1.0]))
tensor([0.44005059])""")
y0 = _unary(_Y0, "y0", "The Bessel function of the second kind, order 0", "-y1(x)",
            """>>> from pyad.scipy import special
>>> special.y0(np.array([1.0]))
tensor([0.08825696])""")
y1 = _unary(_Y1, "y1", "The Bessel function of the second kind, order 1",
            "(y0(x) - yv(2, x)) / 2", """>>> from pyad.scipy import special
>>> special.y1(np.array([1.0]))
tensor([-0.78121282])""")


def psi(x: ArrayLike) -> Tensor:
    """The digamma function (``scipy.special.psi``, another name of :func:`digamma`).

    Parameters
    ----------
    x : array_like
        Real values.

    Returns
    -------
    Tensor
        digamma(x).

    Examples
    --------
    >>> from pyad.scipy import special
    >>> special.psi(np.array([1.0]))
    tensor([-0.57721566])
    """
    return digamma(x)


def expit(x: ArrayLike) -> Tensor:
    """The logistic sigmoid 1 / (1 + exp(-x)) (``scipy.special.expit``; pyad's sigmoid row).

    Parameters
    ----------
    x : array_like
        Real values.

    Returns
    -------
    Tensor
        Of x's shape.

    Examples
    --------
    >>> from pyad.scipy import special
    >>> special.expit(np.array([0.0]))
    tensor([0.5])
    """
    return o.sigmoid(_input("expit", x))


def polygamma(n: int, x: ArrayLike) -> Tensor:
    """The n-th derivative of the digamma function (``scipy.special.polygamma``).

    Derivative in x: polygamma(n + 1, x); n is not differentiated.

    Parameters
    ----------
    n : int
        The order, >= 0 (a Python integer).
    x : array_like
        Real values.

    Returns
    -------
    Tensor
        Of x's shape.

    Raises
    ------
    ValueError
        For a negative or fractional n.
    TypeError
        When n is an array or Tensor.

    Examples
    --------
    >>> from pyad.scipy import special
    >>> special.polygamma(1, np.array([1.0]))        # pi^2 / 6
    tensor([1.64493407])
    """
    return bind(_POLYGAMMA, _input("polygamma", x),
                params=(_order("polygamma", "n", n, integer=True),))


def _bessel(prim, name, kind):
    def fn(v: float, x: ArrayLike) -> Tensor:
        return bind(prim, _input(name, x), params=(_order(name, "v", v),))
    fn.__name__ = fn.__qualname__ = name
    fn.__module__ = "pyad.scipy.special"
    fn.__doc__ = f"""{kind} of real order v (``scipy.special.{name}``), elementwise in x.

Derivative in x: the recurrence of its derivatives (see the module); v is not differentiated.

Parameters
----------
v : float
    The order (a Python number).
x : array_like
    Real values.

Returns
-------
Tensor
    Of x's shape.

Raises
------
TypeError
    When v is an array or Tensor, or x is complex.

Examples
--------
>>> from pyad.scipy import special
>>> special.{name}(0, np.array([1.0])).shape
(1,)
"""
    return fn


iv = _bessel(_IV, "iv", "The modified Bessel function of the first kind")
ive = _bessel(_IVE, "ive", "The exponentially scaled modified Bessel function of the first "
                           "kind, iv(v, x) exp(-|x|),")
jv = _bessel(_JV, "jv", "The Bessel function of the first kind")
yv = _bessel(_YV, "yv", "The Bessel function of the second kind")


def _binary(prim, name, summary, derivatives, example):
    def fn(x: ArrayLike, y: ArrayLike) -> Tensor:
        return bind(prim, *_inputs(name, x, y))
    fn.__name__ = fn.__qualname__ = name
    fn.__module__ = "pyad.scipy.special"
    fn.__doc__ = f"""{summary} (``scipy.special.{name}``), elementwise with broadcasting.

Derivatives: {derivatives}.

Parameters
----------
x, y : array_like
    Real values, broadcastable together.

Returns
-------
Tensor
    Of the broadcast shape.

Raises
------
ValueError
    When the shapes do not broadcast.

Examples
--------
{example}
"""
    return fn


xlogy = _binary(_XLOGY, "xlogy", "x log(y), 0 where x = 0", "d/dx = log(y), d/dy = x / y",
                """>>> from pyad.scipy import special
>>> special.xlogy(np.array([0.0, 2.0]), np.array([0.0, np.e]))
tensor([0., 2.])""")
xlog1py = _binary(_XLOG1PY, "xlog1py", "x log1p(y), 0 where x = 0",
                  "d/dx = log1p(y), d/dy = x / (1 + y)", """>>> from pyad.scipy import special
>>> special.xlog1py(np.array([2.0]), np.array([0.0]))
tensor([0.])""")
gammainc = _binary(_GAMMAINC, "gammainc", "The regularised lower incomplete gamma function "
                   "P(a, x)", "d/dx = x**(a-1) exp(-x) / Gamma(a); none in a "
                   "(NotImplementedError)", """>>> from pyad.scipy import special
>>> special.gammainc(np.array([1.0]), np.array([1.0]))          # 1 - exp(-1)
tensor([0.63212056])""")
gammaincc = _binary(_GAMMAINCC, "gammaincc", "The regularised upper incomplete gamma function "
                    "Q(a, x) = 1 - P(a, x)", "d/dx = -x**(a-1) exp(-x) / Gamma(a); none in a "
                    "(NotImplementedError)", """>>> from pyad.scipy import special
>>> special.gammaincc(np.array([1.0]), np.array([1.0]))
tensor([0.36787944])""")
stdtr = _binary(_STDTR, "stdtr", "Student's t CDF with df degrees of freedom, at t",
                "d/dt = the t density; none in df (NotImplementedError)",
                """>>> from pyad.scipy import special
>>> special.stdtr(np.array([3.0]), np.array([0.0]))
tensor([0.5])""")
pdtr = _binary(_PDTR, "pdtr", "The Poisson CDF: P(K <= k) for mean m",
               "d/dm = -P(K = floor(k)); none in k (NotImplementedError)",
               """>>> from pyad.scipy import special
>>> special.pdtr(np.array([0.0]), np.array([1.0]))
tensor([0.36787944])""")


def betainc(a: ArrayLike, b: ArrayLike, x: ArrayLike) -> Tensor:
    """The regularised incomplete beta function I_x(a, b) (``scipy.special.betainc``).

    Derivative in x: x**(a-1) (1-x)**(b-1) / B(a, b); none in a or b (NotImplementedError).

    Parameters
    ----------
    a, b : array_like
        Positive shape parameters.
    x : array_like
        Values in [0, 1]; all three broadcast together.

    Returns
    -------
    Tensor
        Of the broadcast shape.

    Raises
    ------
    ValueError
        When the shapes do not broadcast.

    Examples
    --------
    >>> from pyad.scipy import special
    >>> special.betainc(np.array([1.0]), np.array([1.0]), np.array([0.25]))
    tensor([0.25])
    """
    return bind(_BETAINC, *_inputs("betainc", a, b, x))


def betaln(a: ArrayLike, b: ArrayLike) -> Tensor:
    """log |B(a, b)| = gammaln(a) + gammaln(b) - gammaln(a + b) (``scipy.special.betaln``).

    Parameters
    ----------
    a, b : array_like
        Real values, broadcastable together.

    Returns
    -------
    Tensor
        Of the broadcast shape.

    Examples
    --------
    >>> from pyad.scipy import special
    >>> special.betaln(np.array([1.0]), np.array([1.0]))
    tensor([0.])
    """
    a, b = _inputs("betaln", a, b)
    return gammaln(a) + gammaln(b) - gammaln(a + b)


def beta(a: ArrayLike, b: ArrayLike) -> Tensor:
    """The beta function B(a, b) = Gamma(a) Gamma(b) / Gamma(a + b) (``scipy.special.beta``),
    as exp(betaln) for positive arguments.

    Parameters
    ----------
    a, b : array_like
        Positive values, broadcastable together.

    Returns
    -------
    Tensor
        Of the broadcast shape.

    Examples
    --------
    >>> from pyad.scipy import special
    >>> special.beta(np.array([2.0]), np.array([3.0]))
    tensor([0.08333333])
    """
    return o.exp(betaln(a, b))


def multigammaln(a: ArrayLike, d: int) -> Tensor:
    """The log of the multivariate gamma function of dimension d
    (``scipy.special.multigammaln``): d(d-1)/4 log(pi) + sum_j gammaln(a - j/2), j < d.

    Parameters
    ----------
    a : array_like
        Values > (d - 1) / 2.
    d : int
        The dimension, >= 1 (not differentiated).

    Returns
    -------
    Tensor
        Of a's shape.

    Raises
    ------
    ValueError
        For d < 1.

    Examples
    --------
    >>> from pyad.scipy import special
    >>> special.multigammaln(np.array([2.0]), 1)      # = gammaln(2)
    tensor([0.])
    """
    d = _order("multigammaln", "d", d, integer=True)
    if d < 1:
        raise ValueError(f"pyad.scipy.special.multigammaln: d must be >= 1, got {d}")
    a = _input("multigammaln", a)
    total = gammaln(a)
    for j in range(1, d):
        total = total + gammaln(a - 0.5 * j)
    return total + d * (d - 1) / 4.0 * math.log(math.pi)


def logsumexp(a: ArrayLike, axis: Axis = None, b: Optional[ArrayLike] = None,
              keepdims: bool = False, return_sign: bool = False) -> Any:
    """log(sum(b * exp(a))) over axis, without overflow (``scipy.special.logsumexp``).

    Parameters
    ----------
    a : array_like
        Real values.
    axis : int or tuple of int, optional
        The axes summed (default: all).
    b : array_like, optional
        Weights broadcast against a (default 1); with negative weights use return_sign.
    keepdims : bool, default False
        Keep the summed axes with length 1.
    return_sign : bool, default False
        Also return the sign of the sum (then the value is log|sum|).

    Returns
    -------
    Tensor, or (Tensor, Tensor) with return_sign
        The log-sum-exp (and the sign, not differentiated).

    Examples
    --------
    >>> from pyad.scipy import special
    >>> special.logsumexp(np.array([0.0, 0.0]))
    tensor(0.69314718)
    >>> special.logsumexp(np.array([0.0, 0.0]), b=np.array([1.0, 3.0]))
    tensor(1.38629436)
    """
    a = _input("logsumexp", a)
    if b is None and not return_sign:
        return o.logsumexp(a, axis=axis, keepdims=keepdims)
    a, b = _inputs("logsumexp", a, 1.0 if b is None else b)
    shape = np.broadcast_shapes(a.shape, b.shape)
    a = o.broadcast_to(a, shape)
    peak = stop_gradient(o.max(a, axis=axis, keepdims=True)) if a.size else 0.0
    peak = o.where(isfinite(peak), peak, 0.0) if a.size else peak
    total = o.sum(b * o.exp(a - peak), axis=axis, keepdims=True)
    sign = o.sign(total)
    out = o.log(o.abs(total)) + peak
    if not keepdims:
        out, sign = _squeeze(out, axis), _squeeze(sign, axis)
    if return_sign:
        return out, stop_gradient(sign)
    return out


def _squeeze(t, axis):
    return o.squeeze(t, axis=axis) if axis is not None else o.reshape(t, ())


def _dispatch_scipy_ufuncs():
    """scipy.special's ufuncs on Tensors run these rows (scipy.special.gammaln(t) is
    pyad.scipy.special.gammaln(t), derivative kept), as numpy's ufuncs run pyad's: registered
    once the user has imported scipy.special (importing it here cost ~0.17 s of `import
    pyad`)."""
    import sys
    scipy_special = sys.modules.get("scipy.special")
    if scipy_special is None:
        return False
    from pyad.ops import numpy_dispatch
    names = ("gammaln", "digamma", "psi", "gamma", "erf", "erfc", "erfinv", "erfcinv",
             "expit", "logit", "ndtr", "log_ndtr", "ndtri", "i0", "i1", "iv", "ive", "j0", "j1",
             "jv", "y0", "y1", "yv", "xlogy", "xlog1py", "gammainc", "gammaincc", "betainc",
             "stdtr", "pdtr")
    numpy_dispatch.register_ufuncs({getattr(scipy_special, n): globals()[n] for n in names
                                    if isinstance(getattr(scipy_special, n, None), np.ufunc)})
    return True


if not _dispatch_scipy_ufuncs():
    from pyad.ops.numpy_dispatch import register_later
    register_later(_dispatch_scipy_ufuncs)

__all__ = ["gammaln", "digamma", "psi", "polygamma", "multigammaln", "gamma", "beta", "betaln",
           "erf", "erfc", "erfinv", "erfcinv", "expit", "logit", "logsumexp", "xlogy",
           "xlog1py", "i0", "i1", "iv", "ive", "j0", "j1", "jv", "y0", "y1", "yv", "ndtr",
           "log_ndtr", "ndtri", "gammainc", "gammaincc", "betainc", "stdtr", "pdtr"]
