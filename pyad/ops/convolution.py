"""The convolution family: conv2d and its two transposes as rows, and the public conv1d, conv2d
and conv_transpose2d (PyTorch's torch.nn.functional names, arguments and NCHW layout).

conv2d(x, w) is bilinear, so its derivatives close over three rows that share the params
(stride, padding, dilation, groups):

- conv2d(x, w): VJP in x = conv_transpose2d(g, w), VJP in w = conv2d_weight(x, g);
- conv_transpose2d(y, w), the transpose of x -> conv2d(x, w) (an (N, C, H, W) result of the
  given size): VJP in y = conv2d(g, w), in w = conv2d_weight(g, y);
- conv2d_weight(x, y), the transpose of w -> conv2d(x, w): VJP in x = conv_transpose2d(y, c),
  in y = conv2d(x, c).

Each is linear in each input, so every JVP is the row applied to one tangent at a time, and
derivatives of every order are these rows again. Weights are (out, in/groups, kH, kW) as in
PyTorch; padding is kept as ((top, bottom), (left, right)) so "same" may pad unevenly.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

from pyad import backend
from pyad.backend.windows import out_size
from pyad.engine._tape import Tensor, bind
from pyad.ops import core as o
from pyad.ops.prims import LOOP, _tangent_sum, defprim
from pyad._typing import ArrayLike

__all__ = ["conv1d", "conv2d", "conv_transpose2d"]

IntPair = Union[int, Sequence[int]]


# ----------------------------------------------------------------------------- rows
def _conv(x, w, params):
    return bind(_CONV2D, x, w, params=params)


def _conv_t(y, w, params, in_hw):
    return bind(_CONV_T, y, w, params=params + (tuple(in_hw),))


def _conv_w(x, y, params, kernel_hw):
    return bind(_CONV_W, x, y, params=params + (tuple(kernel_hw),))


def _bilinear_jvp(row):
    """The tangent of a bilinear row: row(dx, w) + row(x, dw)."""
    def jvp(dots, ans, a, b, *params):
        return _tangent_sum((None if dots[0] is None else bind(row(), dots[0], b, params=params),
                             None if dots[1] is None else bind(row(), a, dots[1], params=params)),
                            ans)
    return jvp


def _deferrable(rule):
    """Mark a rule that is one row applied to its arguments, reading no array data: a
    forward-over-reverse sweep (an HVP) may then leave its product uncomputed where only its
    tangent is needed (a weight's gradient, whose value an HVP never reads)."""
    rule.deferrable = True
    return rule


_CONV2D = defprim(
    "conv2d",
    _deferrable(lambda g, ans, x, w, *p: _conv_t(g, w, p, x.shape[2:])),
    _deferrable(lambda g, ans, x, w, *p: _conv_w(x, g, p, w.shape[2:])),
    jvp=_bilinear_jvp(lambda: _CONV2D), kernel=True, lift=LOOP)
_CONV_T = defprim(
    "conv_transpose2d",
    _deferrable(lambda g, ans, y, w, *p: _conv(g, w, p[:4])),
    _deferrable(lambda g, ans, y, w, *p: _conv_w(g, y, p[:4], w.shape[2:])),
    jvp=_bilinear_jvp(lambda: _CONV_T), kernel=True, lift=LOOP)
_CONV_W = defprim(
    "conv2d_weight",
    _deferrable(lambda c, ans, x, y, *p: _conv_t(y, c, p[:4], x.shape[2:])),
    _deferrable(lambda c, ans, x, y, *p: _conv(x, c, p[:4])),
    jvp=_bilinear_jvp(lambda: _CONV_W), kernel=True, lift=LOOP)



def _conv_out_shape(x, w, stride, padding, dilation, groups):
    return (x.shape[0], w.shape[0]) + tuple(
        out_size(n, k, s, p, d) for n, k, s, p, d in
        zip(x.shape[2:], w.shape[2:], stride, padding, dilation))


# output shapes without computing (what a deferred product needs: see _deferrable)
_CONV2D.out_shape = _conv_out_shape
_CONV_T.out_shape = lambda y, w, stride, padding, dilation, groups, in_hw: (
    (y.shape[0], w.shape[1] * groups) + tuple(in_hw))
_CONV_W.out_shape = lambda x, y, stride, padding, dilation, groups, kernel_hw: (
    (y.shape[1], x.shape[1] // groups) + tuple(kernel_hw))


# ----------------------------------------------------------------------------- arguments
def _pair(name, what, value, minimum):
    """An int or a pair of ints as a pair, each at least `minimum`."""
    if isinstance(value, (int, np.integer)):
        vals = (value, value)
    else:
        try:
            vals = tuple(value)
        except TypeError:
            vals = ()
    if len(vals) != 2 or not all(isinstance(v, (int, np.integer)) for v in vals):
        raise TypeError(f"pyad.{name}: {what} must be an int or a pair of ints, got {value!r}")
    if any(v < minimum for v in vals):
        raise ValueError(f"pyad.{name}: {what} must be >= {minimum}, got {value!r}")
    return int(vals[0]), int(vals[1])


def _padding(name, padding, kernel_hw, stride, dilation):
    """((top, bottom), (left, right)) from an int, a pair, 'valid' or 'same'."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding != "same":
            raise ValueError(f"pyad.{name}: padding must be an int, a pair, 'valid' or 'same', "
                             f"got {padding!r}")
        if stride != (1, 1):
            raise ValueError(f"pyad.{name}: padding='same' needs stride 1 (got stride "
                             f"{stride}); pad explicitly for strided convolutions")
        pads = []
        for k, d in zip(kernel_hw, dilation):
            total = d * (k - 1)
            pads.append((total // 2, total - total // 2))     # the extra one after, as torch
        return tuple(pads)
    ph, pw = _pair(name, "padding", padding, 0)
    return (ph, ph), (pw, pw)


def kernel_floats(name, *inputs):
    """The inputs as Tensors of the one float dtype the layers' kernels take: their common
    dtype, float64 for integers, float32 for float16 (the kernels take float32 and float64);
    complex refused. Host values (lists) go to the first input's backend."""
    first = o._no_complex(name, o._t(inputs[0]))
    ts = [first] + [o._no_complex(name, o._t(a, like=first.data)) for a in inputs[1:]]
    dt = np.result_type(*[backend.dtype_of(t.data) for t in ts])
    if dt.kind != "f":
        dt = np.dtype(np.float64)
    elif dt.itemsize < 4:
        dt = np.dtype(np.float32)
    return [t if backend.dtype_of(t.data) == dt else o.astype(t, dt) for t in ts]


def _check_input(name, x, spatial):
    """x with a batch axis (an unbatched (C, *spatial) input gains one); and whether it did."""
    if x.ndim == spatial + 1:
        return o.expand_dims(x, 0), True
    if x.ndim != spatial + 2:
        layout = "(N, C, L) or (C, L)" if spatial == 1 else "(N, C, H, W) or (C, H, W)"
        raise ValueError(f"pyad.{name}: input must be {layout}, got shape {x.shape}")
    return x, False


def _check_weight(name, x, w, groups, spatial, transposed=False):
    if w.ndim != spatial + 2:
        raise ValueError(f"pyad.{name}: weight must have {spatial + 2} dimensions, got shape "
                         f"{w.shape}")
    if groups < 1 or x.shape[1] % groups:
        raise ValueError(f"pyad.{name}: {x.shape[1]} input channels are not divisible by "
                         f"groups={groups}")
    if transposed:
        if w.shape[0] != x.shape[1]:
            raise ValueError(f"pyad.{name}: weight {w.shape} expects {w.shape[0]} input "
                             f"channels (weight.shape[0]), input {x.shape} has {x.shape[1]}")
        return
    if w.shape[0] % groups:
        raise ValueError(f"pyad.{name}: {w.shape[0]} output channels are not divisible by "
                         f"groups={groups}")
    if w.shape[1] * groups != x.shape[1]:
        raise ValueError(f"pyad.{name}: weight {w.shape} expects {w.shape[1] * groups} input "
                         f"channels (weight.shape[1] * groups), input {x.shape} has "
                         f"{x.shape[1]}")


def _add_bias(name, y, bias, channels):
    if bias is None:
        return y
    b = o._t(bias, like=y.data)
    if backend.dtype_of(b.data) != backend.dtype_of(y.data):
        b = o.astype(b, backend.dtype_of(y.data))
    if b.shape != (channels,):
        raise ValueError(f"pyad.{name}: bias must have shape ({channels},), got {b.shape}")
    return y + o.reshape(b, (1, channels) + (1,) * (y.ndim - 2))


# ----------------------------------------------------------------------------- public
def conv2d(input: ArrayLike, weight: ArrayLike, bias: Optional[ArrayLike] = None,
           stride: IntPair = 1, padding: Union[IntPair, str] = 0, dilation: IntPair = 1,
           groups: int = 1) -> Tensor:
    """2-D cross-correlation of a batch of images with a filter bank (torch's ``conv2d``).

    ``out[n, o] = bias[o] + sum_c sum_(i, j) weight[o, c, i, j] x[n, g c, s h + d i - p, ...]``
    over the input channels of o's group, with zero padding. Differentiable in input, weight
    and bias to any order (the derivatives are convolutions again).

    Parameters
    ----------
    input : array_like or Tensor
        Images (N, C, H, W), or one image (C, H, W).
    weight : array_like or Tensor
        Filters (out_channels, C / groups, kH, kW).
    bias : array_like or Tensor, optional
        (out_channels,), added to every output pixel.
    stride : int or (int, int), default 1
        Steps of the window.
    padding : int, (int, int), "valid" or "same", default 0
        Zeros added on both sides of each spatial axis; "same" keeps the size (stride 1 only;
        an odd total puts the extra zero after, as PyTorch does).
    dilation : int or (int, int), default 1
        Spacing of the filter taps.
    groups : int, default 1
        Channels split into this many groups, each convolved with its own filters.

    Returns
    -------
    Tensor
        (N, out_channels, OH, OW) with OH = (H + 2 p - d (kH - 1) - 1) // s + 1 (no batch axis
        for an unbatched input), in the inputs' common float dtype.

    Raises
    ------
    ValueError
        For shapes that do not fit (channels, groups, bias, a window larger than the padded
        input), bad strides or paddings, or padding="same" with a stride.
    TypeError
        For complex inputs or non-integer sizes.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> w = np.ones((1, 1, 2, 2))
    >>> ad.conv2d(x, w)
    tensor([[[[10., 14., 18.],
              [26., 30., 34.],
              [42., 46., 50.]]]])
    >>> ad.conv2d(x, w, stride=2, padding=1).shape
    (1, 1, 3, 3)
    """
    return _conv_nd("conv2d", input, weight, bias, stride, padding, dilation, groups, 2)


def conv1d(input: ArrayLike, weight: ArrayLike, bias: Optional[ArrayLike] = None,
           stride: int = 1, padding: Union[int, str] = 0, dilation: int = 1,
           groups: int = 1) -> Tensor:
    """1-D cross-correlation of a batch of signals with a filter bank (torch's ``conv1d``).

    Runs as :func:`conv2d` on a height-1 image, so it has the same rows and derivatives.

    Parameters
    ----------
    input : array_like or Tensor
        Signals (N, C, L), or one signal (C, L).
    weight : array_like or Tensor
        Filters (out_channels, C / groups, K).
    bias : array_like or Tensor, optional
        (out_channels,).
    stride : int, default 1
        Step of the window.
    padding : int, "valid" or "same", default 0
        Zeros added on both ends.
    dilation : int, default 1
        Spacing of the taps.
    groups : int, default 1
        Channel groups.

    Returns
    -------
    Tensor
        (N, out_channels, L_out), L_out = (L + 2 p - d (K - 1) - 1) // s + 1.

    Raises
    ------
    ValueError
        As :func:`conv2d`.
    TypeError
        For complex inputs.

    Examples
    --------
    >>> ad.conv1d(np.array([[[1.0, 2.0, 3.0, 4.0]]]), np.array([[[1.0, -1.0]]]))
    tensor([[[-1., -1., -1.]]])
    """
    return _conv_nd("conv1d", input, weight, bias, stride, padding, dilation, groups, 1)


def _conv_nd(name, input, weight, bias, stride, padding, dilation, groups, spatial):
    x, w = kernel_floats(name, input, weight)
    x, unbatched = _check_input(name, x, spatial)
    groups = int(groups)
    _check_weight(name, x, w, groups, spatial)
    if spatial == 1:
        stride = (1, _pair(name, "stride", stride, 1)[0])
        dilation = (1, _pair(name, "dilation", dilation, 1)[0])
        if not isinstance(padding, str):
            padding = (0, _pair(name, "padding", padding, 0)[0])
        x, w = o.expand_dims(x, 2), o.expand_dims(w, 2)
    else:
        stride = _pair(name, "stride", stride, 1)
        dilation = _pair(name, "dilation", dilation, 1)
    kernel_hw = w.shape[2:]
    pads = _padding(name, padding, kernel_hw, stride, dilation)
    for n, k, s, p, d in zip(x.shape[2:], kernel_hw, stride, pads, dilation):
        if out_size(n, k, s, p, d) < 1:
            raise ValueError(f"pyad.{name}: the kernel {tuple(w.shape[-spatial:])} (dilation "
                             f"{dilation[-spatial:]}) is larger than the padded input "
                             f"{tuple(x.shape[-spatial:])}")
    y = _conv(x, w, (stride, pads, dilation, groups))
    if spatial == 1:
        y = o.squeeze(y, 2)
    y = _add_bias(name, y, bias, w.shape[0])
    return o.squeeze(y, 0) if unbatched else y


def conv_transpose2d(input: ArrayLike, weight: ArrayLike, bias: Optional[ArrayLike] = None,
                     stride: IntPair = 1, padding: IntPair = 0, output_padding: IntPair = 0,
                     groups: int = 1, dilation: IntPair = 1) -> Tensor:
    """2-D transposed convolution (torch's ``conv_transpose2d``): the transpose of
    :func:`conv2d` with the same weight, stride, padding, dilation and groups.

    It maps conv2d's output shape back to its input shape, the way a decoder upsamples; its
    derivative in ``input`` is :func:`conv2d` itself.

    Parameters
    ----------
    input : array_like or Tensor
        (N, C_in, H, W), or (C_in, H, W).
    weight : array_like or Tensor
        (C_in, C_out / groups, kH, kW), PyTorch's layout for transposed convolutions.
    bias : array_like or Tensor, optional
        (C_out,).
    stride : int or (int, int), default 1
        The stride of the convolution this transposes.
    padding : int or (int, int), default 0
        Its padding (removed from the output's borders).
    output_padding : int or (int, int), default 0
        Extra rows/columns at the end of the output (smaller than stride or dilation), to pick
        one of the input sizes a strided convolution maps to the same output size.
    groups : int, default 1
        Channel groups.
    dilation : int or (int, int), default 1
        Spacing of the taps.

    Returns
    -------
    Tensor
        (N, C_out, H_out, W_out), H_out = (H - 1) s - 2 p + d (kH - 1) + output_padding + 1.

    Raises
    ------
    ValueError
        For shapes that do not fit, an output_padding not below stride or dilation, or an
        empty output.
    TypeError
        For complex inputs.

    Examples
    --------
    >>> y = ad.conv_transpose2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)), stride=2)
    >>> y.shape
    (1, 1, 4, 4)
    >>> ad.conv_transpose2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)))[0, 0]
    tensor([[1., 2., 2., 1.],
            [2., 4., 4., 2.],
            [2., 4., 4., 2.],
            [1., 2., 2., 1.]])
    """
    name = "conv_transpose2d"
    x, w = kernel_floats(name, input, weight)
    x, unbatched = _check_input(name, x, 2)
    groups = int(groups)
    _check_weight(name, x, w, groups, 2, transposed=True)
    stride = _pair(name, "stride", stride, 1)
    dilation = _pair(name, "dilation", dilation, 1)
    pad = _pair(name, "padding", padding, 0)
    extra = _pair(name, "output_padding", output_padding, 0)
    if any(e >= max(s, d) for e, s, d in zip(extra, stride, dilation)):
        raise ValueError(f"pyad.{name}: output_padding {extra} must be smaller than stride "
                         f"{stride} or dilation {dilation}")
    out_hw = tuple((n - 1) * s - 2 * p + d * (k - 1) + e + 1 for n, s, p, d, k, e in
                   zip(x.shape[2:], stride, pad, dilation, w.shape[2:], extra))
    if min(out_hw) < 1:
        raise ValueError(f"pyad.{name}: the output size {out_hw} is empty for input "
                         f"{x.shape} and weight {w.shape}")
    params = (stride, ((pad[0], pad[0]), (pad[1], pad[1])), dilation, groups)
    y = _conv_t(x, w, params, out_hw)
    y = _add_bias(name, y, bias, w.shape[1] * groups)
    return o.squeeze(y, 0) if unbatched else y
