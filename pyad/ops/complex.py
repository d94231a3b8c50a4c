"""Complex numbers: the rows real, imag, conj and abs of a complex array, their public functions
(with angle and the predicates), and which rows of the table take complex inputs.

The convention is autograd's. A cotangent pairs with a tangent by Re(sum(ct * t)), without a
conjugate, so for a real-valued f of complex z, grad(f)(z) = df/dx - i df/dy, and the VJP of a
holomorphic row is its derivative times the cotangent: the real rules of exp, log, sin, cos,
sqrt, tanh, powers, products, matmul and the linear rows hold unchanged, and they are the rows
allowed complex inputs (COMPLEX_ROWS; pyad.engine refuses complex arrays everywhere else,
rather than guess). The non-holomorphic rows have rules of their own:

    real:  VJP g (as complex)           JVP Re(t)
    imag:  VJP -i g                      JVP Im(t)
    conj:  VJP conj(g)                   JVP conj(t)
    |z|:   VJP g conj(z) / |z| (0 at 0)  JVP Re(conj(z) t) / |z|
           (the VJP is one row of its own, abs_complex_backward, for a real g)
"""
from __future__ import annotations

import numpy as np

from pyad.ops import core as o
from pyad.ops.lifts import ELEMENTWISE, same_params
from pyad.ops.prims import LINEAR, PRIMITIVES, _tangent_sum, defprim
from pyad.engine._tape import Tensor, apply1, bind
from pyad._typing import ArrayLike

__all__ = ["real", "imag", "conj", "conjugate", "angle", "iscomplex", "iscomplexobj", "isreal",
           "isrealobj"]

_LIFT = (ELEMENTWISE, same_params)


def _as_complex(t, like):
    """A real cotangent as the complex dtype of `like` (imaginary part 0)."""
    dtype = np.result_type(t.dtype, like.dtype)
    return t if t.dtype == dtype else o.astype(t, dtype)


_REAL = defprim("real", lambda g, ans, z: _as_complex(g, z), jvp=LINEAR, lift=_LIFT)
_IMAG = defprim("imag", lambda g, ans, z: _as_complex(g, z) * complex(0.0, -1.0),
                jvp=LINEAR, lift=_LIFT)
_CONJ = defprim("conj", lambda g, ans, z: apply1(_CONJ, g), jvp=LINEAR, lift=_LIFT)


def _modulus_weight(z, ans):
    """conj(z) / |z|, 0 where z = 0 (the subgradient abs takes at its kink): there the
    denominator is 1 and conj(z) is 0 (no where(): two fewer passes)."""
    return apply1(_CONJ, z) / _nonzero(ans)


def _nonzero(ans):
    """|z| with 1 where it is 0 (conj(z) is 0 there too, so the weight is 0)."""
    return ans + o.astype(o.equal(ans, 0.0), ans.dtype)


# |z|'s VJP as one row: g conj(z) / |z| for a real cotangent g (the composite above took eight
# recorded steps, two of them promotions). Its own rules, with s = |z| (1 at 0), out = the row:
#   VJP g: Re(ct conj(z)) / s    VJP z: conj(ct) g / s    VJP |z|: -Re(ct out) / s
#   JVP: row(dg, z, s) + conj(dz) g / s - out d|z| / s
def _as(t, like):
    return o.astype(t, like.dtype)


def _abs_backward_jvp(dots, out, g, z, ans):
    dg, dz, dans = dots
    s = _nonzero(ans)
    return _tangent_sum((
        None if dg is None else bind(_ABS_BACKWARD, dg, z, ans),
        None if dz is None else apply1(_CONJ, dz) * _as(g / s, out),
        None if dans is None else -(out * _as(dans / s, out))), out)


_ABS_BACKWARD = defprim(
    "abs_complex_backward",
    lambda ct, out, g, z, ans: o.real(ct * apply1(_CONJ, z)) / _nonzero(ans),
    lambda ct, out, g, z, ans: apply1(_CONJ, ct) * _as(g / _nonzero(ans), ct),
    lambda ct, out, g, z, ans: -o.real(ct * out) / _nonzero(ans),
    jvp=_abs_backward_jvp, lift=_LIFT)


def _abs_vjp(g, ans, z):
    if g.dtype.kind == "c":
        return g * _modulus_weight(z, ans)
    return bind(_ABS_BACKWARD, g, z, ans)


_ABS = defprim("abs_complex", _abs_vjp,
               jvp=lambda dots, ans, z: apply1(_REAL, _modulus_weight(z, ans) * dots[0]),
               lift=_LIFT)

# the rows whose kernels compute complex inputs and whose rules hold for them
COMPLEX_ROWS = (
    "add", "subtract", "multiply", "divide", "negative", "add_scalar", "mul_scalar",
    "rsub_scalar", "rdiv_scalar", "pow_scalar", "exp", "log", "sin", "cos",
    "sqrt", "sqrt_backward", "square", "tanh", "tanh_backward", "tanh_backward_tangent",
    "matmul", "matmul_sum", "sum", "sum_to", "broadcast_to", "reshape", "transpose", "concatenate",
    "getitem", "scatter_add", "where", "astype", "equal", "not_equal", "isfinite", "isnan",
    "isinf",
    "real", "imag", "conj", "abs_complex", "abs_complex_backward",
)      # (and pyad.distributed's collectives, linear: set where they are defined)
for _name in COMPLEX_ROWS:
    PRIMITIVES[_name].complex_ok = True


def _complex_input(x):
    return o._t(x)


def real(val: ArrayLike) -> Tensor:
    """The real part (``numpy.real``); of a real array, the array itself.

    Derivative: VJP g (as a complex cotangent), JVP Re(t).

    Parameters
    ----------
    val : array_like
        Complex or real values.

    Returns
    -------
    Tensor
        Re(val), of the real dtype matching val's.

    Examples
    --------
    >>> ad.real(np.array([1 + 2j, 3 - 1j]))
    tensor([1., 3.])
    >>> ad.grad(lambda z: ad.real(z * z))(np.array(1.0 + 2.0j))   # autograd: df/dx - i df/dy
    array(2.+4.j)
    """
    t = _complex_input(val)
    return bind(_REAL, t) if t.dtype.kind == "c" else t


def imag(val: ArrayLike) -> Tensor:
    """The imaginary part (``numpy.imag``); of a real array, zeros.

    Derivative: VJP -i g, JVP Im(t).

    Parameters
    ----------
    val : array_like
        Complex or real values.

    Returns
    -------
    Tensor
        Im(val).

    Examples
    --------
    >>> ad.imag(np.array([1 + 2j, 3 - 1j]))
    tensor([ 2., -1.])
    """
    t = _complex_input(val)
    return bind(_IMAG, t) if t.dtype.kind == "c" else o.zeros_like(t)


def conj(x: ArrayLike) -> Tensor:
    """The complex conjugate (``numpy.conj``); of a real array, the array itself.

    Derivative: VJP conj(g), JVP conj(t).

    Parameters
    ----------
    x : array_like
        Complex or real values.

    Returns
    -------
    Tensor
        conj(x).

    Examples
    --------
    >>> ad.conj(np.array([1 + 2j]))
    tensor([1.-2.j], dtype=complex128)
    """
    t = _complex_input(x)
    return bind(_CONJ, t) if t.dtype.kind == "c" else t


conjugate = conj


def abs_complex(z: Tensor) -> Tensor:
    """|z| of a complex Tensor (what ad.abs computes for complex inputs)."""
    return bind(_ABS, z)


def angle(z: ArrayLike, deg: bool = False) -> Tensor:
    """The argument of each complex number (``numpy.angle``): arctan2(imag, real).

    Parameters
    ----------
    z : array_like
        Complex or real values.
    deg : bool, default False
        In degrees instead of radians.

    Returns
    -------
    Tensor
        The angles, real.

    Examples
    --------
    >>> ad.angle(np.array([1j, -1.0 + 0j]))
    tensor([1.57079633, 3.14159265])
    """
    from pyad.ops.math import arctan2
    t = _complex_input(z)
    out = arctan2(imag(t), real(t)) if t.dtype.kind == "c" else \
        arctan2(o.zeros_like(t, dtype=np.result_type(t.dtype, np.float16)), t)
    return out * (180.0 / np.pi) if deg else out


def iscomplex(x: ArrayLike) -> Tensor:
    """Whether each entry has a nonzero imaginary part (``numpy.iscomplex``; not
    differentiable).

    Parameters
    ----------
    x : array_like
        Values.

    Returns
    -------
    Tensor
        Booleans.

    Examples
    --------
    >>> ad.iscomplex(np.array([1 + 0j, 1j]))
    tensor([False,  True])
    """
    return o.not_equal(imag(x), 0.0)


def isreal(x: ArrayLike) -> Tensor:
    """Whether each entry has a zero imaginary part (``numpy.isreal``; not differentiable).

    Parameters
    ----------
    x : array_like
        Values.

    Returns
    -------
    Tensor
        Booleans.

    Examples
    --------
    >>> ad.isreal(np.array([1 + 0j, 1j]))
    tensor([ True, False])
    """
    return o.equal(imag(x), 0.0)


def iscomplexobj(x: ArrayLike) -> bool:
    """Whether x has a complex dtype (``numpy.iscomplexobj``).

    Parameters
    ----------
    x : array_like
        Values.

    Returns
    -------
    bool
        True for complex64/complex128 arrays and Tensors.

    Examples
    --------
    >>> ad.iscomplexobj(ad.tensor([1j])), ad.iscomplexobj(np.ones(2))
    (True, False)
    """
    return o._t(x).dtype.kind == "c"


def isrealobj(x: ArrayLike) -> bool:
    """Whether x has no complex dtype (``numpy.isrealobj``).

    Parameters
    ----------
    x : array_like
        Values.

    Returns
    -------
    bool
        The opposite of :func:`iscomplexobj`.

    Examples
    --------
    >>> ad.isrealobj(np.ones(2))
    True
    """
    return not iscomplexobj(x)

