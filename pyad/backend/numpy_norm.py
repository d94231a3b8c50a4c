"""CPU forward kernels of the normalisation rows (batch_norm, layer_norm, their fused backward)
and of dropout, by row name: single C++ passes (pyad._C.norm_forward / norm_backward)."""
import numpy as np

from pyad import _C


def layout(shape, axes):
    """(A, C, B): the array seen as A x C x B with statistics per c over A and B, for the
    normalised axes of batch norm (all but axis 1) or layer norm (the trailing ones)."""
    ndim = len(shape)
    size = lambda dims: int(np.prod(dims, dtype=np.int64))  # noqa: E731
    if ndim >= 2 and tuple(axes) == (0,) + tuple(range(2, ndim)):
        return shape[0], shape[1], size(shape[2:])
    first = ndim - len(axes)
    if tuple(axes) == tuple(range(first, ndim)):
        return 1, size(shape[:first]), size(shape[first:])
    raise ValueError(f"pyad normalisation: axes {axes} of an array of shape {shape} are neither "
                     f"batch norm's nor layer norm's")


def normalize(x, axes, eps):
    return _C.norm_forward(x, *layout(x.shape, axes), float(eps))


def norm_backward(g, xhat, x, axes, eps):
    return _C.norm_backward(g, xhat, x, *layout(x.shape, axes), float(eps))


KERNELS = dict(batch_norm=normalize, layer_norm=normalize, norm_backward=norm_backward,
               dropout=lambda x, mask: np.multiply(x, mask))
