"""The activation family: gelu, silu, leaky_relu, elu and log_sigmoid, as rows of the table.

Each function is elementwise with PyTorch's definition and conventions (``torch.nn.functional``
of the same name): leaky_relu'(0) = negative_slope and elu'(0) = alpha, as torch's backward
takes the slope branch wherever x > 0 does not hold. Forward kernels are short numpy
expressions (scipy.special's ndtr for the exact gelu), or Array API ones on other arrays (see
pyad/backend/numpy_activations.py and array_api_activations.py); float32 stays float32,
integer and bool inputs become float64, complex inputs are refused. Rules are written in pyad
ops only (the exact gelu's uses the special family's ndtr row), so every order of derivative
works on every backend. The parameters (approximate, negative_slope, alpha) are static Python
values, not differentiated.
"""
from __future__ import annotations

import math

import numpy as np

from pyad.ops import core as o
from pyad.engine._tape import Tensor, apply1, bind
from pyad._typing import ArrayLike
from pyad.ops.math import _LIFT, _real
from pyad.ops.prims import DIAGONAL, defprim
from pyad.ops.special import _NDTR

__all__ = ["gelu", "silu", "leaky_relu", "elu", "log_sigmoid"]

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
# the tanh gelu: 0.5 x (1 + tanh(u)) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3)
_BETA = math.sqrt(2.0 / math.pi)
_KAPPA = 0.044715
_APPROXIMATE = ("none", "tanh")


# ----------------------------------------------------------------------------- rows
def _row(name, vjp):
    """An elementwise one-input row: diagonal Jacobian, so its JVP is its VJP rule."""
    return defprim(name, vjp, jvp=DIAGONAL, lift=_LIFT)


def _gelu_vjp(g, ans, x, approximate):
    if approximate == "tanh":
        # d/dx x s(2u) = s + x s (1 - s) 2u', s = sigmoid(2u): no cancellation for x << 0
        x2 = o.square(x)
        s = o.sigmoid(x * (x2 * (2.0 * _BETA * _KAPPA) + 2.0 * _BETA))
        du = x2 * (6.0 * _BETA * _KAPPA) + 2.0 * _BETA
        return g * (s + x * (s * (1.0 - s)) * du)
    # d/dx x Phi(x) = Phi(x) + x phi(x)
    return g * (apply1(_NDTR, x) + x * (o.exp(o.square(x) * -0.5) * _INV_SQRT_2PI))


def _silu_vjp(g, ans, x):
    s = o.sigmoid(x)
    return g * (s * (1.0 + x * (1.0 - s)))


def _leaky_relu_vjp(g, ans, x, negative_slope):
    return o.where(x > 0.0, g, g * negative_slope)


def _elu_vjp(g, ans, x, alpha):
    # alpha exp(x) on x <= 0, as alpha exp(x if x < 0 else 0): large positive x never
    # overflows, and elu''(0) = 0 (a constant at 0), as torch's double backward (mask x < 0)
    return o.where(x > 0.0, g, g * (o.exp(o.where(x < 0.0, x, 0.0)) * alpha))


def _log_sigmoid_vjp(g, ans, x):
    return g * o.sigmoid(-x)


_GELU = _row("gelu", _gelu_vjp)
_SILU = _row("silu", _silu_vjp)
_LEAKY_RELU = _row("leaky_relu", _leaky_relu_vjp)
_ELU = _row("elu", _elu_vjp)
_LOG_SIGMOID = _row("log_sigmoid", _log_sigmoid_vjp)


# ----------------------------------------------------------------------------- public
def _input(name, x):
    """x as a real float Tensor: floats as they are, integers and bools as float64."""
    t = _real(name, o._t(x))
    return t if t.dtype.kind == "f" else o.astype(t, np.float64)


def _number(name, what, v):
    """A static real parameter as a Python float."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer,
                                                              np.floating)):
        raise TypeError(f"pyad.{name}: {what} must be a real Python number (it is not "
                        f"differentiated), got {type(v).__name__}")
    return float(v)


def gelu(x: ArrayLike, approximate: str = "none") -> Tensor:
    """The Gaussian error linear unit x Phi(x) (``torch.nn.functional.gelu``), elementwise.

    Phi is the standard normal CDF (``scipy.special.ndtr``). With ``approximate="tanh"``,
    torch's approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3))), computed as
    x sigmoid(2 sqrt(2/pi) (x + 0.044715 x**3)), which equals it and stays accurate for
    x << 0.

    Derivative: Phi(x) + x phi(x) (phi the standard normal density); for the tanh variant,
    the derivative of that formula. Both are written in pyad ops, so they differentiate again.

    Parameters
    ----------
    x : array_like
        Real values (a Tensor, array, number or list); float32 stays float32, integers and
        bools become float64.
    approximate : {"none", "tanh"}, default "none"
        The exact function, or torch's tanh approximation.

    Returns
    -------
    Tensor
        gelu(x), of x's shape.

    Raises
    ------
    ValueError
        If approximate is not "none" or "tanh".
    TypeError
        If x is complex or not numeric.

    Examples
    --------
    >>> ad.gelu(np.array([-1.0, 0.0, 2.0]))
    tensor([-0.15865525,  0.        ,  1.95449974])
    >>> ad.gelu(np.array([-1.0, 0.0, 2.0]), approximate="tanh")
    tensor([-0.15880801,  0.        ,  1.95459769])
    >>> ad.grad(lambda x: ad.sum(ad.gelu(x)))(np.array([-1.0, 0.0, 2.0]))
    array([-0.08331547,  0.5       ,  1.0852318 ])
    """
    if approximate not in _APPROXIMATE:
        raise ValueError(f"pyad.gelu: approximate must be 'none' or 'tanh', got "
                         f"{approximate!r}")
    return bind(_GELU, _input("gelu", x), params=(str(approximate),))


def silu(x: ArrayLike) -> Tensor:
    """The sigmoid linear unit (swish) x sigmoid(x) (``torch.nn.functional.silu``),
    elementwise.

    Derivative: sigmoid(x) (1 + x (1 - sigmoid(x))).

    Parameters
    ----------
    x : array_like
        Real values (a Tensor, array, number or list); float32 stays float32, integers and
        bools become float64.

    Returns
    -------
    Tensor
        x sigmoid(x), of x's shape.

    Raises
    ------
    TypeError
        If x is complex or not numeric.

    Examples
    --------
    >>> ad.silu(np.array([-1.0, 0.0, 2.0]))
    tensor([-0.26894142,  0.        ,  1.76159416])
    >>> ad.grad(lambda x: ad.sum(ad.silu(x)))(np.array([-1.0, 0.0, 2.0]))
    array([0.07232949, 0.5       , 1.09078425])
    """
    return bind(_SILU, _input("silu", x))


def leaky_relu(x: ArrayLike, negative_slope: float = 0.01) -> Tensor:
    """The leaky rectifier: x where x > 0, negative_slope * x elsewhere
    (``torch.nn.functional.leaky_relu``), elementwise.

    Derivative: 1 where x > 0, negative_slope elsewhere (at x = 0 too, as torch's backward).

    Parameters
    ----------
    x : array_like
        Real values (a Tensor, array, number or list); float32 stays float32, integers and
        bools become float64.
    negative_slope : float, default 0.01
        The slope for x <= 0 (a Python number, not differentiated).

    Returns
    -------
    Tensor
        leaky_relu(x), of x's shape.

    Raises
    ------
    TypeError
        If x is complex or not numeric, or negative_slope is not a real number.

    Examples
    --------
    >>> ad.leaky_relu(np.array([-2.0, 0.0, 3.0]))
    tensor([-0.02,  0.  ,  3.  ])
    >>> ad.leaky_relu(np.array([-2.0, 3.0]), negative_slope=0.5)
    tensor([-1.,  3.])
    >>> ad.grad(lambda x: ad.sum(ad.leaky_relu(x, 0.2)))(np.array([-2.0, 0.0, 3.0]))
    array([0.2, 0.2, 1. ])
    """
    slope = _number("leaky_relu", "negative_slope", negative_slope)
    return bind(_LEAKY_RELU, _input("leaky_relu", x), params=(slope,))


def elu(x: ArrayLike, alpha: float = 1.0) -> Tensor:
    """The exponential linear unit: x where x > 0, alpha (exp(x) - 1) elsewhere
    (``torch.nn.functional.elu``), elementwise.

    Derivative: 1 where x > 0, alpha exp(x) elsewhere (alpha at x = 0, as torch's backward).

    Parameters
    ----------
    x : array_like
        Real values (a Tensor, array, number or list); float32 stays float32, integers and
        bools become float64.
    alpha : float, default 1.0
        The scale of the negative part (a Python number, not differentiated).

    Returns
    -------
    Tensor
        elu(x), of x's shape.

    Raises
    ------
    TypeError
        If x is complex or not numeric, or alpha is not a real number.

    Examples
    --------
    >>> ad.elu(np.array([-1.0, 0.0, 2.0]))
    tensor([-0.63212056,  0.        ,  2.        ])
    >>> ad.elu(np.array([-1.0, 2.0]), alpha=0.5)
    tensor([-0.31606028,  2.        ])
    >>> ad.grad(lambda x: ad.sum(ad.elu(x)))(np.array([-1.0, 0.0, 2.0]))
    array([0.36787944, 1.        , 1.        ])
    """
    alpha = _number("elu", "alpha", alpha)
    return bind(_ELU, _input("elu", x), params=(alpha,))


def log_sigmoid(x: ArrayLike) -> Tensor:
    """The log of the logistic sigmoid, log(1 / (1 + exp(-x))) = -softplus(-x)
    (``torch.nn.functional.logsigmoid``), elementwise.

    Computed as -logaddexp(0, -x): no overflow and no log(0) for any finite x (about x for
    x << 0, about -exp(-x) for x >> 0).

    Derivative: sigmoid(-x).

    Parameters
    ----------
    x : array_like
        Real values (a Tensor, array, number or list); float32 stays float32, integers and
        bools become float64.

    Returns
    -------
    Tensor
        log(sigmoid(x)), of x's shape.

    Raises
    ------
    TypeError
        If x is complex or not numeric.

    Examples
    --------
    >>> ad.log_sigmoid(np.array([-800.0, 0.0, 40.0]))
    tensor([-8.00000000e+02, -6.93147181e-01, -4.24835426e-18])
    >>> ad.grad(lambda x: ad.sum(ad.log_sigmoid(x)))(np.array([-1.0, 0.0, 2.0]))
    array([0.73105858, 0.5       , 0.11920292])
    """
    return bind(_LOG_SIGMOID, _input("log_sigmoid", x))
