"""pyad.scipy.signal: N-d convolution with derivatives (autograd.scipy.signal.convolve), as one
row of the primitive table (the full convolution) and slices of it for scipy's modes.

The row's VJP in each input is the full convolution of the cotangent with the other input
flipped, sliced to the input's extent (a correlation), so derivatives of every order are the
row again; its JVP is the row applied to each tangent (it is bilinear). Forward kernels are
scipy's (direct or FFT, picked by size; pyad/backend/numpy_scipy.py).
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

from pyad.ops import core as o
from pyad.ops.array import flip
from pyad.ops.prims import LOOP, _tangent_sum, defprim
from pyad.engine._tape import Tensor, bind
from pyad._typing import ArrayLike

__all__ = ["convolve", "fftconvolve"]

_MODES = ("full", "valid", "same")


def _axes_of(axes, ndim):
    return tuple(range(ndim)) if axes is None else axes


def _correlation(g, other, n, axes):
    """The cotangent of one input of extent n along `axes`: full(g, flip(other)) sliced."""
    axes_ = _axes_of(axes, g.ndim)
    full = bind(_CONVOLVE, g, flip(other, axis=axes_), params=(axes,))
    key = [slice(None)] * g.ndim
    for ax in axes_:
        start = other.shape[ax] - 1
        key[ax] = slice(start, start + n[ax])
    return full[tuple(key)]


def _vjp_a(g, ans, a, b, axes):
    return o.sum_to(_correlation(g, b, a.shape, axes), a.shape)


def _vjp_b(g, ans, a, b, axes):
    return o.sum_to(_correlation(g, a, b.shape, axes), b.shape)


def _jvp(dots, ans, a, b, axes):
    da, db = dots
    return _tangent_sum((None if da is None else bind(_CONVOLVE, da, b, params=(axes,)),
                         None if db is None else bind(_CONVOLVE, a, db, params=(axes,))), ans)


_CONVOLVE = defprim("convolve_full", _vjp_a, _vjp_b, jvp=_jvp, lift=LOOP)


def _operands(name, in1, in2):
    a, b = o._t(in1), o._t(in2)
    for t in (a, b):
        if t.dtype.kind not in "biuf":
            raise TypeError(f"pyad.scipy.signal.{name}: real inputs only, got dtype {t.dtype}")
    if a.ndim != b.ndim:
        raise ValueError(f"pyad.scipy.signal.{name}: in1 and in2 should have the same "
                         f"dimensionality, got shapes {a.shape} and {b.shape}")
    dtype = np.result_type(a.dtype, b.dtype, np.float32)
    return (a if a.dtype == dtype else o.astype(a, dtype),
            b if b.dtype == dtype else o.astype(b, dtype))


def _mode_slice(name, full, a, b, mode, axes):
    if mode not in _MODES:
        raise ValueError(f"pyad.scipy.signal.{name}: mode must be one of {_MODES}, got {mode!r}")
    if mode == "full":
        return full
    key = [slice(None)] * full.ndim
    axes_ = _axes_of(axes, full.ndim)
    if mode == "valid":
        bigger = all(a.shape[ax] >= b.shape[ax] for ax in axes_)
        smaller = all(a.shape[ax] <= b.shape[ax] for ax in axes_)
        if not (bigger or smaller):
            raise ValueError(f"pyad.scipy.signal.{name}: for 'valid' mode, one input must be "
                             f"at least as large as the other in every convolved dimension, "
                             f"got shapes {a.shape} and {b.shape}")
        for ax in axes_:
            lo, hi = sorted((a.shape[ax], b.shape[ax]))
            key[ax] = slice(lo - 1, hi)
    else:                                   # same: in1's extent, centred in the full result
        for ax in axes_:
            start = (b.shape[ax] - 1) // 2
            key[ax] = slice(start, start + a.shape[ax])
    return full[tuple(key)]


def convolve(in1: ArrayLike, in2: ArrayLike, mode: str = "full",
             method: str = "auto") -> Tensor:
    """The N-d convolution of in1 and in2 (``scipy.signal.convolve``), differentiable in both.

    Parameters
    ----------
    in1, in2 : array_like
        Real arrays of the same number of dimensions.
    mode : {"full", "valid", "same"}, default "full"
        scipy's modes: everything, only where the inputs overlap fully, or in1's size
        centred.
    method : {"auto", "direct", "fft"}, default "auto"
        Accepted for scipy's signature; scipy's own choice by size is used.

    Returns
    -------
    Tensor
        The convolution.

    Raises
    ------
    ValueError
        For inputs of different dimensionality, an unknown mode, or 'valid' where neither
        input is at least as large as the other.

    Examples
    --------
    >>> from pyad.scipy import signal
    >>> signal.convolve(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.5]))
    tensor([0. , 1. , 2.5, 4. , 1.5])
    >>> ad.grad(lambda k: ad.sum(signal.convolve(np.array([1.0, 2.0]), k, "valid")))(
    ...     np.array([1.0]))
    array([3.])
    """
    a, b = _operands("convolve", in1, in2)
    return _mode_slice("convolve", bind(_CONVOLVE, a, b, params=(None,)), a, b, mode, None)


def fftconvolve(in1: ArrayLike, in2: ArrayLike, mode: str = "full",
                axes: Optional[Union[int, Sequence[int]]] = None) -> Tensor:
    """The convolution of in1 and in2 over `axes` by FFT (``scipy.signal.fftconvolve``),
    broadcasting the other axes; differentiable in both.

    Parameters
    ----------
    in1, in2 : array_like
        Real arrays of the same number of dimensions; outside `axes` their lengths are equal
        or 1.
    mode : {"full", "valid", "same"}, default "full"
        As :func:`convolve`, along `axes`.
    axes : int or sequence of int, optional
        The axes convolved (default: all).

    Returns
    -------
    Tensor
        The convolution.

    Raises
    ------
    ValueError
        As :func:`convolve`, or for an axis out of range.

    Examples
    --------
    >>> from pyad.scipy import signal
    >>> x = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> signal.fftconvolve(x, np.array([[1.0, 1.0]]), axes=1)
    tensor([[1., 3., 2.],
            [3., 7., 4.]])
    """
    a, b = _operands("fftconvolve", in1, in2)
    if axes is not None:
        axes = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
        for ax in axes:
            if not -a.ndim <= ax < a.ndim:
                raise ValueError(f"pyad.scipy.signal.fftconvolve: axis {ax} is out of range "
                                 f"for {a.ndim}-d inputs")
        axes = tuple(sorted({int(ax) % a.ndim for ax in axes}))
    return _mode_slice("fftconvolve", bind(_CONVOLVE, a, b, params=(axes,)), a, b, mode, axes)
