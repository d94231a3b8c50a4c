"""The pooling family: max, average and adaptive average pooling over NCHW images, as rows and
as PyTorch's public functions (max_pool2d, avg_pool2d, adaptive_avg_pool2d).

- max_pool2d: each window's maximum. Its derivative routes through the window's first
  maximum (PyTorch's and JAX's choice), so two rows carry it: max_pool2d_backward(g, x)
  adds g onto each window's argmax of x, and max_pool2d_select(t, x) reads t there (the JVP,
  and the backward's transpose). Both are linear in their first input and constant in x.
- avg_pool2d and adaptive_avg_pool2d are linear: each row's VJP is its transpose row
  (avg_pool2d_backward, adaptive_avg_pool2d_backward), whose VJP is the row again.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np

from pyad.backend.windows import pool_out_size
from pyad import backend
from pyad.engine._tape import Tensor, bind, stop_gradient, wrap
from pyad.ops import core as o
from pyad.ops.convolution import _check_input, _pair, kernel_floats
from pyad.ops.prims import LINEAR, LOOP, defprim
from pyad._typing import ArrayLike

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"]

IntPair = Union[int, Sequence[int]]

# ----------------------------------------------------------------------------- rows
# params of the max rows: kernel (kh, kw), stride, padding (ph, pw), dilation, ceil_mode
_MAX = defprim(
    "max_pool2d", lambda g, ans, x, *p: bind(_MAX_BACK, g, x, params=p),
    jvp=lambda dots, ans, x, *p: bind(_MAX_SELECT, dots[0], x, params=p),
    kernel=True, lift=LOOP)
_MAX_BACK = defprim(
    "max_pool2d_backward", lambda c, ans, g, x, *p: bind(_MAX_SELECT, c, x, params=p), None,
    jvp=lambda dots, ans, g, x, *p: None if dots[0] is None
    else bind(_MAX_BACK, dots[0], x, params=p),
    kernel=True, lift=LOOP)
_MAX_SELECT = defprim(
    "max_pool2d_select", lambda c, ans, t, x, *p: bind(_MAX_BACK, c, x, params=p), None,
    jvp=lambda dots, ans, t, x, *p: None if dots[0] is None
    else bind(_MAX_SELECT, dots[0], x, params=p),
    kernel=True, lift=LOOP)

# params of the average rows: kernel, stride, padding, ceil_mode, count_include_pad, divisor
# (and the input's (H, W) for the backward)
_AVG = defprim(
    "avg_pool2d", lambda g, ans, x, *p: bind(_AVG_BACK, g, params=p + (x.shape[2:],)),
    jvp=LINEAR, kernel=True, lift=LOOP)
_AVG_BACK = defprim(
    "avg_pool2d_backward", lambda c, ans, g, *p: bind(_AVG, c, params=p[:-1]),
    jvp=LINEAR, kernel=True, lift=LOOP)
_ADAPTIVE = defprim(
    "adaptive_avg_pool2d",
    lambda g, ans, x, out_hw: bind(_ADAPTIVE_BACK, g, params=(x.shape[2:],)),
    jvp=LINEAR, kernel=True, lift=LOOP)
_ADAPTIVE_BACK = defprim(
    "adaptive_avg_pool2d_backward",
    lambda c, ans, g, in_hw: bind(_ADAPTIVE, c, params=(g.shape[2:],)),
    jvp=LINEAR, kernel=True, lift=LOOP)


# ----------------------------------------------------------------------------- arguments
def _window(name, x, kernel_size, stride, padding, dilation, ceil_mode):
    """The normalised window params, checked as PyTorch checks them."""
    kernel = _pair(name, "kernel_size", kernel_size, 1)
    stride = kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) \
        else _pair(name, "stride", stride, 1)
    pad = _pair(name, "padding", padding, 0)
    dil = _pair(name, "dilation", dilation, 1)
    for k, p, d in zip(kernel, pad, dil):
        if p > (d * (k - 1) + 1) // 2:
            raise ValueError(f"pyad.{name}: padding {pad} must be at most half the effective "
                             f"kernel size {kernel} (dilation {dil})")
    out = [pool_out_size(n, k, s, p, d, bool(ceil_mode))
           for n, k, s, p, d in zip(x.shape[2:], kernel, stride, pad, dil)]
    if min(out) < 1:
        raise ValueError(f"pyad.{name}: the window {kernel} (padding {pad}, dilation {dil}) "
                         f"does not fit the input {x.shape}: output size {tuple(out)}")
    return kernel, stride, pad, dil


# ----------------------------------------------------------------------------- public
def max_pool2d(input: ArrayLike, kernel_size: IntPair, stride: Optional[IntPair] = None,
               padding: IntPair = 0, dilation: IntPair = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """2-D max pooling (torch's ``max_pool2d``): the maximum of each window of each channel.

    Padding counts as -inf (it never wins); NaN propagates. The gradient goes to each
    window's first maximum (as in PyTorch and JAX); ties within a window are broken that way.

    Parameters
    ----------
    input : array_like or Tensor
        (N, C, H, W) or (C, H, W).
    kernel_size : int or (int, int)
        The window.
    stride : int or (int, int), optional
        The step; default the window size.
    padding : int or (int, int), default 0
        -inf added on both sides, at most half the window.
    dilation : int or (int, int), default 1
        Spacing of the window's taps.
    ceil_mode : bool, default False
        Round the output size up (a last, partial window), as PyTorch does.
    return_indices : bool, default False
        Also return where each maximum is, as PyTorch does.

    Returns
    -------
    Tensor
        (N, C, OH, OW), OH = (H + 2 p - d (k - 1) - 1) // s + 1 (rounded up with ceil_mode).
    Tensor of int64, with return_indices
        The same shape: each window's first maximum (its NaN, if any) as a flat index
        h * W + w into its (H, W) plane; not differentiable.

    Raises
    ------
    ValueError
        For a padding over half the window, a window larger than the input, or bad shapes.
    TypeError
        For complex inputs.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> ad.max_pool2d(x, 2)
    tensor([[[[ 5.,  7.],
              [13., 15.]]]])
    >>> ad.max_pool2d(x, 3, stride=2, ceil_mode=True).shape
    (1, 1, 2, 2)
    """
    x, unbatched = _check_input("max_pool2d", kernel_floats("max_pool2d", input)[0], 2)
    kernel, stride, pad, dil = _window("max_pool2d", x, kernel_size, stride, padding,
                                       dilation, ceil_mode)
    params = (kernel, stride, pad, dil, bool(ceil_mode))
    y = bind(_MAX, x, params=params)
    if not return_indices:
        return o.squeeze(y, 0) if unbatched else y
    indices = _argmax_indices(x, params)
    return (o.squeeze(y, 0), o.squeeze(indices, 0)) if unbatched else (y, indices)


def _argmax_indices(x, params):
    """Each window's argmax as a flat index into its plane: the select row (which reads the
    derivative's routing) applied to the planes' positions. Positions are exact floats
    (float32 up to 2**24 per plane, else both in float64, an exact widening)."""
    x = stop_gradient(x)
    h, w = x.shape[2:]
    if h * w > 2 ** 24:
        x = o.astype(x, np.float64)
    plane = np.arange(h * w, dtype=x.dtype).reshape(h, w)
    positions = o.broadcast_to(wrap(backend.to_backend(plane, x.data)), x.shape)
    return o.astype(bind(_MAX_SELECT, positions, x, params=params), np.int64)


def avg_pool2d(input: ArrayLike, kernel_size: IntPair, stride: Optional[IntPair] = None,
               padding: IntPair = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: Optional[int] = None) -> Tensor:
    """2-D average pooling (torch's ``avg_pool2d``): the mean of each window of each channel.

    Linear, so its derivative is its transpose (each window's gradient spread evenly back).

    Parameters
    ----------
    input : array_like or Tensor
        (N, C, H, W) or (C, H, W).
    kernel_size : int or (int, int)
        The window.
    stride : int or (int, int), optional
        The step; default the window size.
    padding : int or (int, int), default 0
        Zeros added on both sides, at most half the window.
    ceil_mode : bool, default False
        Round the output size up.
    count_include_pad : bool, default True
        Whether the padding zeros count in the divisor.
    divisor_override : int, optional
        Divide every window's sum by this instead.

    Returns
    -------
    Tensor
        (N, C, OH, OW).

    Raises
    ------
    ValueError
        For a padding over half the window, a window larger than the input, or a
        divisor_override that is not positive.
    TypeError
        For complex inputs.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> ad.avg_pool2d(x, 2)
    tensor([[[[ 2.5,  4.5],
              [10.5, 12.5]]]])
    >>> ad.avg_pool2d(np.ones((1, 1, 2, 2)), 2, padding=1, count_include_pad=False)[0, 0]
    tensor([[1., 1.],
            [1., 1.]])
    """
    x, unbatched = _check_input("avg_pool2d", kernel_floats("avg_pool2d", input)[0], 2)
    kernel, stride, pad, _ = _window("avg_pool2d", x, kernel_size, stride, padding, 1,
                                     ceil_mode)
    if divisor_override is not None and int(divisor_override) < 1:
        raise ValueError(f"pyad.avg_pool2d: divisor_override must be positive, got "
                         f"{divisor_override!r}")
    y = bind(_AVG, x, params=(kernel, stride, pad, bool(ceil_mode), bool(count_include_pad),
                              None if divisor_override is None else int(divisor_override)))
    return o.squeeze(y, 0) if unbatched else y


def adaptive_avg_pool2d(input: ArrayLike,
                        output_size: Union[int, Sequence[Optional[int]]]) -> Tensor:
    """2-D adaptive average pooling (torch's ``adaptive_avg_pool2d``): the input split into
    output_size windows per axis (window i spans floor(i H / OH) to ceil((i + 1) H / OH)),
    each averaged.

    Parameters
    ----------
    input : array_like or Tensor
        (N, C, H, W) or (C, H, W).
    output_size : int or (int or None, int or None)
        (OH, OW); None keeps that axis' size; one int for both.

    Returns
    -------
    Tensor
        (N, C, OH, OW).

    Raises
    ------
    ValueError
        For an output size below 1.
    TypeError
        For complex inputs.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> ad.adaptive_avg_pool2d(x, 1)
    tensor([[[[7.5]]]])
    >>> ad.adaptive_avg_pool2d(x, (2, None)).shape
    (1, 1, 2, 4)
    """
    x, unbatched = _check_input("adaptive_avg_pool2d",
                                kernel_floats("adaptive_avg_pool2d", input)[0], 2)
    sizes = (output_size, output_size) if isinstance(output_size, (int, np.integer)) \
        else tuple(output_size)
    if len(sizes) != 2:
        raise ValueError(f"pyad.adaptive_avg_pool2d: output_size must be an int or a pair, "
                         f"got {output_size!r}")
    out_hw = tuple(int(n if s is None else s) for s, n in zip(sizes, x.shape[2:]))
    if min(out_hw) < 1:
        raise ValueError(f"pyad.adaptive_avg_pool2d: output_size must be >= 1, got "
                         f"{output_size!r}")
    y = bind(_ADAPTIVE, x, params=(out_hw,))
    return o.squeeze(y, 0) if unbatched else y
