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
from pyad.ops.array import flip, pad, tensordot
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


def convolve(in1: ArrayLike, in2: ArrayLike, mode: str = "full", method: str = "auto", *,
             axes: Optional[Sequence[Sequence[int]]] = None,
             dot_axes: Sequence[Sequence[int]] = ((), ())) -> Tensor:
    """The N-d convolution of in1 and in2 (``scipy.signal.convolve``), differentiable in both;
    with ``axes=``/``dot_axes=``, autograd's convolution for convolutional layers.

    Parameters
    ----------
    in1, in2 : array_like
        Real arrays (of the same number of dimensions, without ``axes``).
    mode : {"full", "valid", "same"}, default "full"
        scipy's modes: everything, only where the inputs overlap fully, or in1's size
        centred.
    method : {"auto", "direct", "fft"}, default "auto"
        Accepted for scipy's signature; scipy's own choice by size is used.
    axes : (sequence of int, sequence of int), optional
        autograd's ``axes``: in1's axes convolved with the paired axes of in2. The result
        holds in1's other axes, then in2's other axes, then the convolved ones.
    dot_axes : (sequence of int, sequence of int), default ((), ())
        autograd's ``dot_axes``: paired axes summed over (a product, not a convolution),
        e.g. input channels.

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
    if axes is not None or any(len(d) for d in dot_axes):
        return _convolve_axes(in1, in2, axes, dot_axes, mode)
    a, b = _operands("convolve", in1, in2)
    return _mode_slice("convolve", bind(_CONVOLVE, a, b, params=(None,)), a, b, mode, None)


def _convolve_axes(in1, in2, axes, dot_axes, mode):
    """autograd's convolve(A, B, axes, dot_axes): A and B laid out as (A's other axes, B's
    other axes, the dot axes, the convolved axes), broadcast against each other, convolved
    over the last axes, summed over the dot axes."""
    a, b = o._t(in1), o._t(in2)
    conv_a, conv_b = ([], []) if axes is None else ([int(i) % a.ndim for i in axes[0]],
                                                     [int(i) % b.ndim for i in axes[1]])
    dot_a, dot_b = [int(i) % a.ndim for i in dot_axes[0]], [int(i) % b.ndim for i in dot_axes[1]]
    if len(conv_a) != len(conv_b) or len(dot_a) != len(dot_b):
        raise ValueError("pyad.scipy.signal.convolve: axes and dot_axes pair axes of in1 with "
                         f"axes of in2; got axes={axes}, dot_axes={dot_axes}")
    for i, j in zip(dot_a, dot_b):
        if a.shape[i] != b.shape[j]:
            raise ValueError(f"pyad.scipy.signal.convolve: dot axes {i} of in1 (length "
                             f"{a.shape[i]}) and {j} of in2 (length {b.shape[j]}) differ")
    rest_a = [i for i in range(a.ndim) if i not in conv_a + dot_a]
    rest_b = [j for j in range(b.ndim) if j not in conv_b + dot_b]
    offsets = int(np.prod([b.shape[j] for j in conv_b], dtype=np.int64)) if conv_b else 0
    if 0 < offsets <= _PATCH_OFFSETS and mode in _MODES and all(
            a.shape[i] >= b.shape[j] for i, j in zip(conv_a, conv_b)):
        a, b = _operands("convolve", a, b)
        return _convolve_patches(a, b, rest_a, rest_b, dot_a, dot_b, conv_a, conv_b, mode)
    a = o.transpose(a, rest_a + dot_a + conv_a)
    b = o.transpose(b, rest_b + dot_b + conv_b)
    na, nb, nd, nc = len(rest_a), len(rest_b), len(dot_a), len(conv_a)
    a = o.reshape(a, a.shape[:na] + (1,) * nb + a.shape[na:])
    b = o.reshape(b, (1,) * na + b.shape)
    a, b = _operands("convolve", a, b)
    conv = tuple(range(na + nb + nd, na + nb + nd + nc))
    out = bind(_CONVOLVE, a, b, params=(conv,)) if conv else a * b
    out = _mode_slice("convolve", out, a, b, mode, conv) if conv else out
    return o.sum(out, axis=tuple(range(na + nb, na + nb + nd))) if nd else out


# a small kernel (a convolutional layer's filters): one product of patches (im2col), which
# beats FFTs of every (image, filter, channel) triple; larger kernels go through the FFT row
_PATCH_OFFSETS = 64


def _convolve_patches(a, b, rest_a, rest_b, dot_a, dot_b, conv_a, conv_b, mode):
    """autograd's convolve for small kernels: the flipped kernel's offsets k, a's slices
    [k, k + out) stacked (im2col), then one tensordot over offsets and dot axes."""
    sizes = [b.shape[j] for j in conv_b]
    a = o.transpose(a, rest_a + dot_a + conv_a)
    b = o.transpose(flip(b, axis=tuple(conv_b)), dot_b + rest_b + conv_b)
    na, nd, nc = len(rest_a), len(dot_a), len(conv_a)
    if mode != "valid":             # full (and same, cut from it): zeros around a
        widths = [(0, 0)] * (na + nd) + [(k - 1, k - 1) for k in sizes]
        a = pad(a, widths)
    out = [a.shape[na + nd + c] - sizes[c] + 1 for c in range(nc)]
    patches = []
    for k in np.ndindex(*sizes):
        key = (slice(None),) * (na + nd) + tuple(slice(k[c], k[c] + out[c]) for c in range(nc))
        patches.append(a[key])
    stacked = o.stack(patches, axis=0)                      # (K, rest_a, dot, out...)
    kernel = o.reshape(o.transpose(b, tuple(range(nd + len(rest_b), b.ndim))
                                   + tuple(range(nd + len(rest_b)))),
                       (len(patches),) + tuple(b.shape[i] for i in range(nd + len(rest_b))))
    result = tensordot(stacked, kernel, axes=([0] + list(range(1 + na, 1 + na + nd)),
                                              list(range(0, 1 + nd))))
    # (rest_a, out..., rest_b) -> (rest_a, rest_b, out...)
    nb = len(rest_b)
    result = o.transpose(result, tuple(range(na)) + tuple(range(na + nc, na + nc + nb))
                         + tuple(range(na, na + nc)))
    if mode == "same":
        key = [slice(None)] * result.ndim
        for c, k in enumerate(sizes):
            start = (k - 1) // 2
            length = result.shape[na + nb + c] - k + 1
            key[na + nb + c] = slice(start, start + length)
        result = result[tuple(key)]
    return result


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
