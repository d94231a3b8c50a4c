"""The FFT family (numpy.fft, as pyad.numpy.fft): three rows and the public functions on them.

Rows transform whole axes; ``n``/``s`` (zero-padding or cropping) are slices and pads around
them, so they differentiate too. With autograd's pairing Re(sum(ct * t)) (pyad/ops/complex.py)
the rules are transforms again:

- fftn (and its inverse): the DFT matrix is symmetric, so the VJP is the same transform with
  the same norm (its real part for a real input); the JVP is the row on the tangent;
- rfftn, the first n//2 + 1 frequencies of a real input's fftn: VJP Re(fftn(g zero-padded
  to n)), computed as irfftn of w conj(g) (w below, halved); JVP the row on the tangent;
- irfftn, real output of n points from a half spectrum: VJP w * c * conj(rfftn(g)), with c the
  inverse's scale (1/n for norm="backward") and w = 1 at frequency 0 (and n/2 for even n), 2
  elsewhere (those frequencies stand for two entries of the full spectrum); JVP the row.
"""
from __future__ import annotations

import functools
import math
from typing import Optional, Sequence

import numpy as np

from pyad import backend
from pyad.ops import core as o
from pyad.ops.array import pad, roll
from pyad.ops.prims import LINEAR, LOOP, defprim
from pyad.engine._tape import Tensor, bind, wrap
from pyad._typing import ArrayLike

__all__ = ["fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft", "irfft", "rfft2", "irfft2",
           "rfftn", "irfftn", "fftshift", "ifftshift"]

_NORMS = (None, "backward", "ortho", "forward")


def _fftn_vjp(g, ans, x, axes, norm, inverse):
    out = bind(_FFTN, g, params=(axes, norm, inverse))
    return out if x.dtype.kind == "c" else o.astype(o.real(out), x.dtype)


_FFTN = defprim("fftn", _fftn_vjp, jvp=LINEAR, lift=LOOP)


def _half_spectrum_weights(g, n, axis, per_pair, scale):
    """(1, .., m, .., 1) weights along axis for a half spectrum g of m = n//2 + 1
    frequencies: 1 at frequency 0 (and n/2 for even n), per_pair at the others, which stand
    for two entries of the full spectrum; times scale, as a tensor of g's dtype and backend."""
    shape = [1] * g.ndim
    shape[axis] = g.shape[axis]
    weights = _weights(tuple(shape), axis, n, per_pair, scale, np.dtype(g.dtype))
    return wrap(backend.to_backend(weights, g.data))


@functools.lru_cache(maxsize=64)
def _weights(shape, axis, n, per_pair, scale, dtype):
    """The host array of _half_spectrum_weights, made once per shape (read-only: shared)."""
    m = shape[axis]
    weights = np.full(m, per_pair * scale)
    weights[0] = scale
    if n % 2 == 0:
        weights[-1] = scale
    weights = weights.reshape(shape).astype(dtype)
    weights.flags.writeable = False
    return weights


def _rfftn_vjp(g, ans, x, axes, norm):
    # Re(fftn(g zero-padded)) as one half-size inverse: for h zero beyond the half spectrum,
    # Re(sum_k h_k e^(-i t_k)) = sum_k Re(conj(h_k) e^(i t_k)), which irfftn (unscaled: norm
    # "forward") computes when each frequency standing for two entries is weighted by 1/2.
    # A complex transform of the padded g took twice the time and three more passes.
    n = x.shape[axes[-1]]
    total = math.prod(x.shape[a] for a in axes)
    scale = {"backward": 1.0, "ortho": 1.0 / math.sqrt(total), "forward": 1.0 / total}[norm]
    half = o.conj(g) * _half_spectrum_weights(g, n, axes[-1], 0.5, scale)
    return bind(_IRFFTN, half, params=(n, axes, "forward"))


_RFFTN = defprim("rfftn", _rfftn_vjp, jvp=LINEAR, lift=LOOP)


def _irfftn_vjp(g, ans, x, n, axes, norm):
    spectrum = bind(_RFFTN, g, params=(axes, "backward"))        # unscaled
    total = math.prod(g.shape[a] for a in axes)
    scale = {"backward": 1.0 / total, "ortho": 1.0 / math.sqrt(total), "forward": 1.0}[norm]
    return o.conj(spectrum) * _half_spectrum_weights(spectrum, n, axes[-1], 2.0, scale)


_IRFFTN = defprim("irfftn", _irfftn_vjp, jvp=LINEAR, lift=LOOP)
for _row in (_FFTN, _RFFTN, _IRFFTN):
    _row.complex_ok = True


def _dispatch_numpy_fft():
    """numpy.fft.fft(t) on a Tensor runs these (NEP 18), as numpy's other functions do."""
    from pyad.ops import numpy_dispatch
    numpy_dispatch._FUNCTIONS.update({getattr(np.fft, n): globals()[n] for n in __all__})


# ----------------------------------------------------------------------------- public
def _input(name, a):
    t = o._t(a)
    if t.dtype.kind not in "biufc":
        raise TypeError(f"pyad.fft.{name}: expected a numeric array, got dtype {t.dtype}")
    if t.dtype.kind in "biu":
        t = o.astype(t, np.float64)
    return t


def _norm(name, norm):
    if norm not in _NORMS:
        raise ValueError(f"pyad.fft.{name}: norm must be one of 'backward', 'ortho', "
                         f"'forward' or None, got {norm!r}")
    return norm or "backward"


def _axes_and_sizes(name, t, s, axes, default_ndim=None):
    """numpy's rules for s and axes: normalised axes and the length along each."""
    if s is None and axes is not None and len(axes) == 1 and type(axes[0]) is int \
            and -t.ndim <= axes[0] < t.ndim:        # the 1-d transforms' common case
        axis = axes[0] % t.ndim
        if t.shape[axis] >= 1:
            return (t.shape[axis],), (axis,)
    if axes is None:
        if s is None:
            axes = tuple(range(t.ndim)) if default_ndim is None else \
                tuple(range(t.ndim - default_ndim, t.ndim))
        else:
            axes = tuple(range(t.ndim - len(s), t.ndim))
    axes = tuple(int(a) for a in axes)
    for a in axes:
        if not -t.ndim <= a < t.ndim:
            raise ValueError(f"pyad.fft.{name}: axis {a} is out of range for an array of "
                             f"{t.ndim} dimensions")
    axes = tuple(a % t.ndim for a in axes)
    if s is None:
        s = tuple(t.shape[a] for a in axes)
    s = tuple(int(v) for v in s)
    if len(s) != len(axes):
        raise ValueError(f"pyad.fft.{name}: s and axes have different lengths ({s}, {axes})")
    for v in s:
        if v < 1:
            raise ValueError(f"pyad.fft.{name}: invalid number of data points {v}; they must "
                             f"be >= 1")
    return s, axes


def _fit(t, sizes, axes):
    """t cropped or zero-padded to `sizes` along `axes` (numpy's n/s)."""
    if all(t.shape[a] == n for n, a in zip(sizes, axes)):
        return t
    key = [slice(None)] * t.ndim
    widths = [(0, 0)] * t.ndim
    for n, a in zip(sizes, axes):
        if t.shape[a] > n:
            key[a] = slice(0, n)
        elif t.shape[a] < n:
            widths[a] = (0, n - t.shape[a])
    if any(k != slice(None) for k in key):
        t = t[tuple(key)]
    if any(w != (0, 0) for w in widths):
        t = pad(t, widths)
    return t


def _c2c(name, a, s, axes, norm, inverse, default_ndim=None):
    t = _input(name, a)
    s, axes = _axes_and_sizes(name, t, s, axes, default_ndim)
    return bind(_FFTN, _fit(t, s, axes), params=(axes, _norm(name, norm), inverse))


def _one(n):
    return None if n is None else (n,)


_PARAMS = {
    "1d": """    a : array_like
        Real or complex values.
    n : int, optional
        The transform's length (a is cropped or zero-padded).
    axis : int, default -1
        The axis transformed.""",
    "nd": """    a : array_like
        Real or complex values.
    s : sequence of int, optional
        Lengths along the axes (crop or zero-pad).
    axes : sequence of int, optional
        The axes transformed (default: all, or the last len(s)).""",
    "2d": """    a : array_like
        Real or complex values, at least 2-d.
    s : sequence of int, optional
        Lengths along the axes (crop or zero-pad).
    axes : sequence of int, default (-2, -1)
        The axes transformed.""",
}


def _doc(summary, params, returns, example, real=False):
    """A numpy-style docstring for one of the transforms (they share their parameters);
    real: a transform of real input (rfft*), which refuses complex input."""
    parameters = _PARAMS[params]
    raises = "        For a length < 1, an axis out of range or an unknown norm."
    if real:
        parameters = parameters.replace("Real or complex values", "Real values")
        raises += "\n    TypeError\n        For complex input."
    return f"""{summary}

    Parameters
    ----------
{parameters}
    norm : {{"backward", "ortho", "forward"}}, optional
        numpy's scalings.

    Returns
    -------
    Tensor
        {returns}

    Raises
    ------
    ValueError
{raises}

    Examples
    --------
{example}
    """


def fft(a: ArrayLike, n: Optional[int] = None, axis: int = -1,
        norm: Optional[str] = None) -> Tensor:
    return _c2c("fft", a, _one(n), (axis,), norm, False)


def ifft(a: ArrayLike, n: Optional[int] = None, axis: int = -1,
         norm: Optional[str] = None) -> Tensor:
    return _c2c("ifft", a, _one(n), (axis,), norm, True)


def fftn(a: ArrayLike, s: Optional[Sequence[int]] = None,
         axes: Optional[Sequence[int]] = None, norm: Optional[str] = None) -> Tensor:
    return _c2c("fftn", a, s, axes, norm, False)


def ifftn(a: ArrayLike, s: Optional[Sequence[int]] = None,
          axes: Optional[Sequence[int]] = None, norm: Optional[str] = None) -> Tensor:
    return _c2c("ifftn", a, s, axes, norm, True)


def fft2(a: ArrayLike, s: Optional[Sequence[int]] = None, axes: Sequence[int] = (-2, -1),
         norm: Optional[str] = None) -> Tensor:
    return _c2c("fft2", a, s, axes, norm, False)


def ifft2(a: ArrayLike, s: Optional[Sequence[int]] = None, axes: Sequence[int] = (-2, -1),
          norm: Optional[str] = None) -> Tensor:
    return _c2c("ifft2", a, s, axes, norm, True)


fft.__doc__ = _doc(
    "The 1-d discrete Fourier transform (``numpy.fft.fft``), differentiable (its VJP is the\n"
    "    same transform: the DFT matrix is symmetric; autograd's complex convention).",
    "1d", "The complex spectrum.",
    """    >>> ad.numpy.fft.fft(ad.tensor([1.0, 0.0, 0.0, 0.0]))
    tensor([1.+0.j, 1.+0.j, 1.+0.j, 1.+0.j], dtype=complex128)""")
ifft.__doc__ = _doc(
    "The 1-d inverse DFT (``numpy.fft.ifft``).", "1d", "Complex values.",
    """    >>> ad.numpy.fft.ifft(ad.tensor([4.0, 0.0, 0.0, 0.0]))
    tensor([1.+0.j, 1.+0.j, 1.+0.j, 1.+0.j], dtype=complex128)""")
fftn.__doc__ = _doc(
    "The N-d DFT (``numpy.fft.fftn``).", "nd", "The complex spectrum.",
    """    >>> ad.numpy.fft.fftn(ad.ones((2, 2)))
    tensor([[4.+0.j, 0.+0.j],
            [0.+0.j, 0.+0.j]], dtype=complex128)""")
ifftn.__doc__ = _doc(
    "The N-d inverse DFT (``numpy.fft.ifftn``).", "nd", "Complex values.",
    """    >>> ad.numpy.fft.ifftn(ad.full((2, 2), 4.0))
    tensor([[4.+0.j, 0.+0.j],
            [0.+0.j, 0.+0.j]], dtype=complex128)""")
fft2.__doc__ = _doc(
    "The 2-d DFT (``numpy.fft.fft2``): fftn over the last two axes.", "2d",
    "The complex spectrum.", """    >>> ad.numpy.fft.fft2(ad.ones((2, 2)))[0, 0]
    tensor(4.+0.j, dtype=complex128)""")
ifft2.__doc__ = _doc(
    "The 2-d inverse DFT (``numpy.fft.ifft2``).", "2d", "Complex values.",
    """    >>> ad.numpy.fft.ifft2(ad.full((2, 2), 4.0))[0, 0]
    tensor(4.+0.j, dtype=complex128)""")


def _real_input(name, a):
    t = _input(name, a)
    if t.dtype.kind == "c":
        raise TypeError(f"pyad.fft.{name}: the input must be real, got dtype {t.dtype} (use "
                        f"fft/fftn for complex input)")
    return t


def rfftn(a: ArrayLike, s: Optional[Sequence[int]] = None,
          axes: Optional[Sequence[int]] = None, norm: Optional[str] = None) -> Tensor:
    t = _real_input("rfftn", a)
    s, axes = _axes_and_sizes("rfftn", t, s, axes)
    return bind(_RFFTN, _fit(t, s, axes), params=(axes, _norm("rfftn", norm)))


def rfft(a: ArrayLike, n: Optional[int] = None, axis: int = -1,
         norm: Optional[str] = None) -> Tensor:
    return rfftn(a, _one(n), (axis,), norm)


def rfft2(a: ArrayLike, s: Optional[Sequence[int]] = None, axes: Sequence[int] = (-2, -1),
          norm: Optional[str] = None) -> Tensor:
    return rfftn(a, s, axes, norm)


rfftn.__doc__ = _doc(
    "The N-d DFT of real input (``numpy.fft.rfftn``): the last axis keeps its first\n"
    "    n // 2 + 1 frequencies.", "nd", "The complex half spectrum.",
    """    >>> ad.numpy.fft.rfftn(ad.ones((2, 4)))
    tensor([[8.+0.j, 0.+0.j, 0.+0.j],
            [0.+0.j, 0.+0.j, 0.+0.j]], dtype=complex128)""", real=True)
rfft.__doc__ = _doc(
    "The 1-d DFT of real input (``numpy.fft.rfft``): frequencies 0 ... n // 2.", "1d",
    "The complex half spectrum.", """    >>> ad.numpy.fft.rfft(ad.tensor([1.0, 1.0, 1.0, 1.0]))
    tensor([4.+0.j, 0.+0.j, 0.+0.j], dtype=complex128)""", real=True)
rfft2.__doc__ = _doc(
    "The 2-d DFT of real input (``numpy.fft.rfft2``).", "2d", "The complex half spectrum.",
    """    >>> ad.numpy.fft.rfft2(ad.ones((2, 2))).shape
    (2, 2)""", real=True)


def irfftn(a: ArrayLike, s: Optional[Sequence[int]] = None,
           axes: Optional[Sequence[int]] = None, norm: Optional[str] = None) -> Tensor:
    """The inverse of :func:`rfftn` (``numpy.fft.irfftn``): real output; the last axis has
    s[-1] points (default 2 (m - 1) for m input frequencies).

    Parameters
    ----------
    a : array_like
        The half spectrum (complex or real).
    s : sequence of int, optional
        Output lengths along the axes.
    axes : sequence of int, optional
        The axes transformed.
    norm : {"backward", "ortho", "forward"}, optional
        numpy's scalings.

    Returns
    -------
    Tensor
        Real values.

    Raises
    ------
    ValueError
        For an output length < 1, an axis out of range or an unknown norm.

    Examples
    --------
    >>> ad.numpy.fft.irfftn(ad.tensor([[8.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    tensor([[1., 1., 1., 1.],
            [1., 1., 1., 1.]])
    """
    t = _input("irfftn", a)
    if t.dtype.kind != "c":
        t = o.astype(t, np.result_type(t.dtype, np.complex64))
    if axes is None:
        axes = tuple(range(t.ndim)) if s is None else tuple(range(t.ndim - len(s), t.ndim))
    sizes, axes = _axes_and_sizes("irfftn", t, None, axes)
    n = 2 * (t.shape[axes[-1]] - 1) if s is None else int(s[-1])
    full = list(sizes) if s is None else [int(v) for v in s]
    full[-1] = n // 2 + 1                  # the half spectrum the output needs
    if n < 1:
        raise ValueError(f"pyad.fft.irfftn: invalid number of data points {n}")
    return bind(_IRFFTN, _fit(t, full, axes), params=(n, axes, _norm("irfftn", norm)))


def irfft(a: ArrayLike, n: Optional[int] = None, axis: int = -1,
          norm: Optional[str] = None) -> Tensor:
    """The inverse of :func:`rfft` (``numpy.fft.irfft``): n real points (default 2 (m - 1)).

    Parameters
    ----------
    a : array_like
        The half spectrum.
    n : int, optional
        The output's length.
    axis : int, default -1
        The axis transformed.
    norm : {"backward", "ortho", "forward"}, optional
        numpy's scalings.

    Returns
    -------
    Tensor
        Real values.

    Examples
    --------
    >>> ad.numpy.fft.irfft(ad.tensor([4.0, 0.0, 0.0]))
    tensor([1., 1., 1., 1.])
    """
    return irfftn(a, _one(n), (axis,), norm)


def irfft2(a: ArrayLike, s: Optional[Sequence[int]] = None, axes: Sequence[int] = (-2, -1),
           norm: Optional[str] = None) -> Tensor:
    """The inverse of :func:`rfft2` (``numpy.fft.irfft2``).

    Parameters
    ----------
    a : array_like
        The half spectrum.
    s : sequence of int, optional
        Output lengths along the axes.
    axes : sequence of int, default (-2, -1)
        The axes transformed.
    norm : {"backward", "ortho", "forward"}, optional
        numpy's scalings.

    Returns
    -------
    Tensor
        Real values.

    Examples
    --------
    >>> ad.numpy.fft.irfft2(ad.tensor([[4.0, 0.0], [0.0, 0.0]])).shape
    (2, 2)
    """
    return irfftn(a, s, axes, norm)


def _shift(x, axes, sign):
    t = o._t(x)
    axes = tuple(range(t.ndim)) if axes is None else \
        ((axes,) if isinstance(axes, (int, np.integer)) else tuple(axes))
    shifts = tuple(sign * (t.shape[a] // 2) for a in axes)
    return roll(t, shifts, axis=axes)


def fftshift(x: ArrayLike, axes: Optional[Sequence[int]] = None) -> Tensor:
    """Frequency 0 moved to the centre (``numpy.fft.fftshift``): a roll, differentiable.

    Parameters
    ----------
    x : array_like
        A spectrum.
    axes : int or sequence of int, optional
        The axes shifted (default: all).

    Returns
    -------
    Tensor
        The shifted array.

    Examples
    --------
    >>> ad.numpy.fft.fftshift(ad.arange(4.0))
    tensor([2., 3., 0., 1.])
    """
    return _shift(x, axes, 1)


def ifftshift(x: ArrayLike, axes: Optional[Sequence[int]] = None) -> Tensor:
    """The inverse of :func:`fftshift` (``numpy.fft.ifftshift``).

    Parameters
    ----------
    x : array_like
        A shifted spectrum.
    axes : int or sequence of int, optional
        The axes shifted (default: all).

    Returns
    -------
    Tensor
        The array with frequency 0 first again.

    Examples
    --------
    >>> ad.numpy.fft.ifftshift(ad.tensor([2.0, 3.0, 0.0, 1.0]))
    tensor([0., 1., 2., 3.])
    """
    return _shift(x, axes, -1)


_dispatch_numpy_fft()
