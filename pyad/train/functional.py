"""pyad.nn.functional: PyTorch's torch.nn.functional names in one namespace (``import
pyad.nn.functional as F``): the layers' functions, activations and losses that live in the op
families, plus ``pad`` with torch's argument order and ``one_hot``."""
from __future__ import annotations

from typing import Sequence

from pyad import backend
from pyad.engine._tape import Tensor, bind
from pyad.ops import core as o
from pyad.ops.activations import elu, gelu, leaky_relu, log_sigmoid, silu  # noqa: F401
from pyad.ops.array import _ONE_HOT, pad as _numpy_pad
from pyad.ops.convolution import conv1d, conv2d, conv_transpose2d  # noqa: F401
from pyad.ops.core import log_softmax, relu, sigmoid, softmax, softplus, tanh  # noqa: F401
from pyad.ops.normalization import batch_norm, dropout, layer_norm  # noqa: F401
from pyad.ops.pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d  # noqa: F401
from pyad.train.losses import (binary_cross_entropy_with_logits, mse_loss,  # noqa: F401
                               softmax_cross_entropy)
from pyad._typing import ArrayLike

__all__ = ["conv1d", "conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d",
           "adaptive_avg_pool2d", "batch_norm", "layer_norm", "dropout", "gelu", "silu",
           "leaky_relu", "elu", "log_sigmoid", "relu", "tanh", "sigmoid", "softplus", "softmax",
           "log_softmax", "pad", "one_hot", "softmax_cross_entropy", "mse_loss",
           "binary_cross_entropy_with_logits"]

# torch's padding modes -> numpy.pad's
_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(input: ArrayLike, pad: Sequence[int], mode: str = "constant",
        value: float = 0.0) -> Tensor:
    """Pad the last ``len(pad) // 2`` axes (torch's ``pad``): ``pad`` lists (before, after)
    widths starting from the LAST axis, ``(left, right, top, bottom, ...)``.

    Differentiable in the input; the copying modes add the copies' gradients back onto their
    sources. Runs as :func:`pyad.pad` (numpy's order and mode names) underneath.

    Parameters
    ----------
    input : array_like or Tensor
        Any shape with at least ``len(pad) // 2`` axes.
    pad : sequence of int
        An even number of non-negative widths, last axis first.
    mode : {"constant", "reflect", "replicate", "circular"}, default "constant"
        The fill: ``value``, the mirror image without the edge, the edge repeated, or
        wrap-around.
    value : float, default 0.0
        The fill of mode "constant".

    Returns
    -------
    Tensor
        The padded input.

    Raises
    ------
    ValueError
        For an odd number of widths, more pairs than axes, negative widths or another mode.

    Examples
    --------
    >>> import pyad.nn.functional as F
    >>> F.pad(np.array([[1.0, 2.0]]), (1, 2))
    tensor([[0., 1., 2., 0., 0.]])
    >>> F.pad(np.array([[1.0, 2.0, 3.0]]), (2, 0), mode="reflect")
    tensor([[3., 2., 1., 2., 3.]])
    """
    x = o._t(input)
    widths = [int(w) for w in pad]
    if len(widths) % 2 or len(widths) // 2 > x.ndim:
        raise ValueError(f"pyad.nn.functional.pad: pad {tuple(pad)} must hold (before, after) "
                         f"pairs for at most {x.ndim} axes (input shape {x.shape})")
    if any(w < 0 for w in widths):
        raise ValueError(f"pyad.nn.functional.pad: negative widths {tuple(pad)} are not "
                         f"supported; crop with indexing instead")
    if mode not in _MODES:
        raise ValueError(f"pyad.nn.functional.pad: mode must be one of {sorted(_MODES)}, got "
                         f"{mode!r}")
    pairs = [(0, 0)] * x.ndim
    for k in range(len(widths) // 2):
        pairs[x.ndim - 1 - k] = (widths[2 * k], widths[2 * k + 1])
    if mode == "constant":
        return _numpy_pad(x, pairs, constant_values=value)
    return _numpy_pad(x, pairs, mode=_MODES[mode])


def one_hot(tensor: ArrayLike, num_classes: int = -1) -> Tensor:
    """Integer class labels as one-hot int64 rows (torch's ``one_hot``): a new last axis of
    length num_classes with 1 at each label.

    Not differentiable (its input is integers); multiply by a float array or cast with
    :func:`pyad.astype` to use it in a loss.

    Parameters
    ----------
    tensor : array_like of int or Tensor
        Labels in [0, num_classes), any shape.
    num_classes : int, default -1
        The number of classes; -1 takes the largest label plus one.

    Returns
    -------
    Tensor
        int64, of shape ``tensor.shape + (num_classes,)``.

    Raises
    ------
    TypeError
        For labels that are not integers.
    ValueError
        For labels outside [0, num_classes), or num_classes below -1.

    Examples
    --------
    >>> ad.one_hot(np.array([0, 2]), 3)
    tensor([[1, 0, 0],
            [0, 0, 1]])
    """
    t = o._t(tensor)
    dt = backend.dtype_of(t.data)
    if dt.kind not in "iu":
        raise TypeError(f"pyad.one_hot: labels must be integers, got dtype {dt}")
    labels = backend.to_host(t.data)
    top = int(labels.max()) if labels.size else -1
    low = int(labels.min()) if labels.size else 0
    n = int(num_classes)
    if n == -1:
        n = top + 1
    if n < 0 or low < 0 or top >= n:
        raise ValueError(f"pyad.one_hot: labels must lie in [0, num_classes={n}), got values in "
                         f"[{low}, {top}]")
    return bind(_ONE_HOT, t, params=(n,))


