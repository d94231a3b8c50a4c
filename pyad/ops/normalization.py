"""Normalisation and dropout: batch_norm, layer_norm and dropout as rows and as PyTorch's public
functions (torch.nn.functional's names and arguments).

The rows batch_norm and layer_norm normalise, xhat = (x - mean) / sqrt(var + eps), over
batch norm's axes (all but the channel axis 1) or layer norm's (the trailing ones); the
affine weight and bias are ordinary broadcast ops after them. Their Jacobian
r (I - 1 1^T / n - xhat xhat^T / n) (r = 1 / sqrt(var + eps), per group of n entries) is
symmetric, so one fused row, norm_backward(g, xhat, x) = r (g - mean(g) - xhat mean(g xhat)),
is both the VJP and the JVP, computed in one C++ pass; its own rules (below) make every
higher derivative exact.

dropout(x; mask) multiplies by a mask drawn on the host from an explicit seed or generator
and kept as the row's param, so the backward pass (and any replay) uses the same mask.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

from pyad import backend
from pyad.engine._tape import Tensor, bind, derived, host_step, stop_gradient
from pyad.ops import core as o
from pyad.ops.convolution import kernel_floats
from pyad.ops.prims import DIAGONAL, LINEAR, LOOP, X, _tangent_sum, call, defprim
from pyad.engine._tape import COTANGENT as G, OUTPUT as ANS
from pyad._typing import ArrayLike, Seed

__all__ = ["batch_norm", "layer_norm", "dropout"]


# ----------------------------------------------------------------------------- rows
def _rstd(x, axes, eps):
    """1 / sqrt(var + eps) per group, broadcastable against x (in pyad ops: differentiable)."""
    return o.power(o.var(x, axis=axes, keepdims=True) + eps, -0.5)


def _count(x, axes):
    n = 1
    for a in axes:
        n *= x.shape[a]
    return float(n)


def _mean(t, axes):
    return o.mean(t, axis=axes, keepdims=True)


def _xhat_vjp(c, g, xh, r, axes):
    """The VJP of norm_backward in xhat, for the cotangent c."""
    return -(r * (c * _mean(g * xh, axes) + g * _mean(c * xh, axes)))


def _xhat_jvp(t, g, xh, r, axes):
    """The JVP of norm_backward in xhat, for the tangent t (the transpose of _xhat_vjp)."""
    return -(r * (t * _mean(g * xh, axes) + xh * _mean(g * t, axes)))


def _norm_backward_vjp_x(c, ans, g, xh, x, axes, eps):
    # x enters only through r = (var(x) + eps)^-1/2: dr/dx = -r^3 (x - mean) / n, out = r B
    r = _rstd(x, axes, eps)
    return -(r * r / _count(x, axes)) * (x - _mean(x, axes)) * o.sum(c * ans, axis=axes,
                                                                      keepdims=True)


def _norm_backward_jvp(dots, ans, g, xh, x, axes, eps):
    dg, dxh, dx = dots
    r = None if dxh is None and dx is None else _rstd(x, axes, eps)
    return _tangent_sum((
        None if dg is None else bind(_NORM_BACK, dg, xh, x, params=(axes, eps)),
        None if dxh is None else _xhat_jvp(dxh, g, xh, r, axes),
        None if dx is None else -(r * r / _count(x, axes)) * ans * o.sum(
            (x - _mean(x, axes)) * dx, axis=axes, keepdims=True)), ans)


_NORM_BACK = defprim(
    "norm_backward",
    call("norm_backward", G, X(1), X(2)),
    lambda c, ans, g, xh, x, axes, eps: _xhat_vjp(c, g, xh, _rstd(x, axes, eps), axes),
    _norm_backward_vjp_x,
    jvp=_norm_backward_jvp, kernel=True, lift=LOOP)
_BATCH_NORM = defprim("batch_norm", call("norm_backward", G, ANS, X(0)), jvp=DIAGONAL,
                      kernel=True, lift=LOOP)
_LAYER_NORM = defprim("layer_norm", call("norm_backward", G, ANS, X(0)), jvp=DIAGONAL,
                      kernel=True, lift=LOOP)
# dropout(x; mask) = x * mask: linear, its VJP the row with the same mask
_DROPOUT = defprim("dropout", call("dropout", G), jvp=LINEAR, lift=LOOP)


# ----------------------------------------------------------------------------- helpers
def _param(name, what, value, shape, like):
    """An optional affine param (weight, bias, running statistic) as a Tensor of `shape`."""
    if value is None:
        return None
    t = o._t(value, like=like.data)
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"pyad.{name}: {what} must have shape {tuple(shape)}, got "
                         f"{tuple(t.shape)}")
    dt = backend.dtype_of(like.data)
    return t if backend.dtype_of(t.data) == dt else o.astype(t, dt)


def _affine(y, weight, bias, shape):
    if weight is not None:
        y = y * o.reshape(weight, shape)
    if bias is not None:
        y = y + o.reshape(bias, shape)
    return y


def _update_running(name, stat, value, momentum):
    """stat <- (1 - momentum) stat + momentum value, in place (a Tensor's or an array's data)."""
    if stat is None:
        return
    data = stat.data if isinstance(stat, Tensor) else stat
    if backend.is_foreign(data) or isinstance(data, np.ndarray):
        new = data * (1.0 - momentum) + backend.astype(value, backend.dtype_of(data)) * momentum
        try:
            data[...] = new
        except TypeError:       # an immutable array type: replace the Tensor's array
            if not isinstance(stat, Tensor):
                raise TypeError(f"pyad.{name}: running statistics must be writable arrays or "
                                f"Tensors") from None
            stat.data = new
        return
    raise TypeError(f"pyad.{name}: running statistics must be arrays or Tensors, got "
                    f"{type(stat).__name__}")


def _track(name, data, axes, running_mean, running_var, momentum):
    """Update the running statistics with those of the batch `data` (unbiased variance)."""
    xp = backend.namespace(data)             # statistics of the values: no tape
    n = 1
    for a in axes:
        n *= data.shape[a]
    _update_running(name, running_mean, xp.mean(data, axis=axes), momentum)
    _update_running(name, running_var, xp.var(data, axis=axes) * (n / (n - 1.0)), momentum)


def _mask(like, p, seed):
    """A dropout mask of like's shape, dtype and backend: 0 with probability p, else
    1 / (1 - p), drawn on the host from seed (a Generator is advanced; an int makes the same
    mask every time)."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    keep = rng.random(tuple(like.shape)) >= p
    mask = (keep * (0.0 if p == 1.0 else 1.0 / (1.0 - p))).astype(backend.dtype_of(like))
    return backend.to_backend(mask, like)


# ----------------------------------------------------------------------------- public
def batch_norm(input: ArrayLike, running_mean: Optional[ArrayLike],
               running_var: Optional[ArrayLike], weight: Optional[ArrayLike] = None,
               bias: Optional[ArrayLike] = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation (torch's ``batch_norm``): each channel (axis 1) normalised over the
    batch and spatial axes, then scaled by ``weight`` and shifted by ``bias``.

    In training mode the batch's own mean and (biased) variance normalise, and the running
    statistics, if given, are updated in place: ``running = (1 - momentum) running +
    momentum stat`` with the unbiased variance, as PyTorch does. In evaluation mode the
    running statistics normalise. Differentiable in input, weight and bias to any order
    (training mode through the batch statistics too).

    Parameters
    ----------
    input : array_like or Tensor
        (N, C) or (N, C, *spatial).
    running_mean, running_var : array_like, Tensor or None
        (C,) statistics: updated in training mode, used in evaluation mode (then required).
    weight, bias : array_like or Tensor, optional
        (C,) affine scale and shift.
    training : bool, default False
        Normalise with the batch's statistics (and update the running ones).
    momentum : float, default 0.1
        The running statistics' update factor.
    eps : float, default 1e-5
        Added to the variance.

    Returns
    -------
    Tensor
        The normalised input, of its shape and float dtype.

    Raises
    ------
    ValueError
        For an input with fewer than 2 dimensions, parameters of the wrong shape, missing
        running statistics in evaluation mode, or a single value per channel in training.
    TypeError
        For complex inputs.

    Examples
    --------
    >>> x = np.array([[1.0, 10.0], [3.0, 30.0]])
    >>> mean, var = np.zeros(2), np.ones(2)
    >>> print(np.round(ad.batch_norm(x, mean, var, training=True).numpy(), 4))
    [[-1. -1.]
     [ 1.  1.]]
    >>> mean, var
    (array([0.2, 2. ]), array([ 1.1, 20.9]))
    """
    name = "batch_norm"
    x = kernel_floats(name, input)[0]
    if x.ndim < 2:
        raise ValueError(f"pyad.{name}: input must be (N, C) or (N, C, *spatial), got shape "
                         f"{x.shape}")
    c = x.shape[1]
    shape = (1, c) + (1,) * (x.ndim - 2)
    w = _param(name, "weight", weight, (c,), x)
    b = _param(name, "bias", bias, (c,), x)
    axes = (0,) + tuple(range(2, x.ndim))
    if training:
        n = x.size // max(c, 1)
        if n <= 1:
            raise ValueError(f"pyad.{name}: expected more than 1 value per channel when "
                             f"training, got input of shape {x.shape}")
        for stat, what in ((running_mean, "running_mean"), (running_var, "running_var")):
            if stat is not None and tuple(np.shape(stat)) != (c,):
                raise ValueError(f"pyad.{name}: {what} must have shape ({c},), got "
                                 f"{tuple(np.shape(stat))}")
        if running_mean is not None or running_var is not None:
            # a host step: ad.compile's replays update the statistics with each call's batch
            host_step(_track, name, x.data, axes, running_mean, running_var, float(momentum))
        y = bind(_BATCH_NORM, x, params=(axes, float(eps)))
        return _affine(y, w, b, shape)
    if running_mean is None or running_var is None:
        raise ValueError(f"pyad.{name}: evaluation mode (training=False) needs running_mean "
                         f"and running_var")
    rm = stop_gradient(_param(name, "running_mean", running_mean, (c,), x))
    rv = stop_gradient(_param(name, "running_var", running_var, (c,), x))
    scale = o.power(rv + eps, -0.5)
    if w is not None:
        scale = scale * w
    shift = -(rm * scale)
    if b is not None:
        shift = shift + b
    return x * o.reshape(scale, shape) + o.reshape(shift, shape)


def layer_norm(input: ArrayLike, normalized_shape: Union[int, Sequence[int]],
               weight: Optional[ArrayLike] = None, bias: Optional[ArrayLike] = None,
               eps: float = 1e-5) -> Tensor:
    """Layer normalisation (torch's ``layer_norm``): the trailing ``normalized_shape`` axes of
    each sample normalised to mean 0 and variance 1, then scaled and shifted elementwise.

    Parameters
    ----------
    input : array_like or Tensor
        (..., *normalized_shape).
    normalized_shape : int or sequence of int
        The trailing shape normalised over.
    weight, bias : array_like or Tensor, optional
        Of shape normalized_shape.
    eps : float, default 1e-5
        Added to the variance.

    Returns
    -------
    Tensor
        Of the input's shape and float dtype.

    Raises
    ------
    ValueError
        When the input does not end in normalized_shape, or the params have another shape.
    TypeError
        For complex inputs.

    Examples
    --------
    >>> print(np.round(ad.layer_norm(np.array([[1.0, 2.0, 3.0]]), 3).numpy(), 4))
    [[-1.2247  0.      1.2247]]
    """
    name = "layer_norm"
    x = kernel_floats(name, input)[0]
    shape = (int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer)) \
        else tuple(int(n) for n in normalized_shape)
    k = len(shape)
    if k == 0 or x.ndim < k or tuple(x.shape[x.ndim - k:]) != shape:
        raise ValueError(f"pyad.{name}: input of shape {x.shape} does not end in "
                         f"normalized_shape {shape}")
    w = _param(name, "weight", weight, shape, x)
    b = _param(name, "bias", bias, shape, x)
    y = bind(_LAYER_NORM, x, params=(tuple(range(x.ndim - k, x.ndim)), float(eps)))
    return _affine(y, w, b, shape)


def dropout(input: ArrayLike, p: float = 0.5, training: bool = True,
            seed: Seed = None) -> Tensor:
    """Dropout (torch's ``dropout``): in training, each entry zeroed with probability p and the
    rest scaled by 1 / (1 - p); in evaluation, the input itself.

    The mask is drawn from ``seed`` (an int or a numpy Generator, advanced by the call), so a
    run is reproducible, and kept with the operation: the backward pass (and a second-order
    derivative) uses the same mask. With seed=None a fresh generator is used.

    Parameters
    ----------
    input : array_like or Tensor
        Any shape.
    p : float, default 0.5
        The probability of zeroing an entry, in [0, 1].
    training : bool, default True
        Apply dropout (False: return the input).
    seed : int, numpy Generator or None
        Where the mask comes from.

    Returns
    -------
    Tensor
        Of the input's shape and float dtype.

    Raises
    ------
    ValueError
        For p outside [0, 1].
    TypeError
        For complex inputs.

    Examples
    --------
    >>> ad.dropout(np.ones(6), p=0.5, seed=0)
    tensor([2., 0., 0., 0., 2., 2.])
    >>> ad.dropout(np.ones(3), p=0.5, training=False)
    tensor([1., 1., 1.])
    """
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"pyad.dropout: p must be in [0, 1], got {p}")
    x = kernel_floats("dropout", input)[0]
    if not training or p == 0.0:
        return x
    # derived: under ad.compile each replay draws its own mask, as an eager call would
    mask = derived(_mask, [x.data], (p, seed))
    return bind(_DROPOUT, x, params=(mask,))
