"""CPU forward kernels (numpy) of the array family's primitives, by primitive name.

Each takes the inputs' arrays (any dtype, possibly strided views) then the row's params, and
returns a new array (never a view of an input: results may be written to by their owner).
"""
import numpy as np


def _cumsum(x, axis, reverse):
    if reverse:
        return np.ascontiguousarray(np.flip(np.cumsum(np.flip(x, axis), axis=axis), axis))
    return np.cumsum(x, axis=axis)


def _cumprod(x, axis, reverse):
    if reverse:
        return np.ascontiguousarray(np.flip(np.cumprod(np.flip(x, axis), axis=axis), axis))
    return np.cumprod(x, axis=axis)


def _linear_scan(a, b, axis, reverse):
    """h[i] = a[i] * h[i - 1] + b[i] along axis (h[i + 1] when reverse), starting from
    h = b at the first position. A plain loop: only products and sums, so exact zeros in a
    stay exact (a log-depth scan multiplies long runs of a together and can overflow)."""
    a, b = np.broadcast_arrays(a, b)
    dtype = np.result_type(a.dtype, b.dtype)
    moved = np.moveaxis(b, axis, 0).shape
    rest = int(np.prod(moved[1:], dtype=np.int64))
    a = np.moveaxis(a, axis, 0).reshape(moved[0], rest)
    b = np.moveaxis(b, axis, 0).reshape(moved[0], rest)
    n = b.shape[0]
    steps = range(n - 1, -1, -1) if reverse else range(n)
    if rest <= 8:           # narrow: Python numbers beat a numpy call per step
        al, bl = a.tolist(), b.tolist()
        rows = [None] * n
        prev = None
        for i in steps:
            rows[i] = bl[i] if prev is None else [
                ai * hp + bi for ai, hp, bi in zip(al[i], prev, bl[i])]
            prev = rows[i]
        h = np.array(rows, dtype=dtype).reshape(n, rest)
    else:
        h = np.empty(b.shape, dtype=dtype)
        prev = None
        for i in steps:
            if prev is None:
                h[i] = b[i]
            else:
                np.multiply(a[i], h[prev], out=h[i])
                h[i] += b[i]
            prev = i
    return np.ascontiguousarray(np.moveaxis(h.reshape(moved), 0, axis))


def _prod(x, axes, keepdims):
    return np.asarray(np.prod(x, axis=axes, keepdims=keepdims))


def _diagonal(x, offset, axis1, axis2):
    return np.diagonal(x, offset, axis1, axis2).copy()


def _diagonal_embed(g, shape, offset, axis1, axis2):
    """zeros(shape) with g (its last axis the diagonal) written on the offset diagonal of
    (axis1, axis2): the adjoint of _diagonal."""
    out = np.zeros(shape, dtype=g.dtype)
    n = g.shape[-1]
    rows = np.arange(n) + max(-offset, 0)
    cols = np.arange(n) + max(offset, 0)
    np.moveaxis(out, (axis1, axis2), (-2, -1))[..., rows, cols] = g
    return out


def _einsum(*operands_then_params):
    *operands, ins, out = operands_then_params
    spec = ",".join(ins) + "->" + out
    # several operands, or two large ones: let numpy pair them up through BLAS (tensordot)
    optimize = len(operands) > 2 or (len(operands) == 2 and all(
        op.size >= 4096 for op in operands))
    return np.asarray(np.einsum(spec, *operands, optimize=optimize))


def _take_along_axis(x, indices, axis, unique):
    return np.take_along_axis(x, indices, axis)


def _along_axis_index(shape, indices, axis):
    """The integer-array index tuple that np.take_along_axis(x, indices, axis) reads with."""
    key = []
    for d, n in enumerate(shape):
        if d == axis:
            key.append(indices)
        else:
            view = [1] * len(shape)
            view[d] = n
            key.append(np.arange(n).reshape(view))
    return tuple(key)


def _scatter_add_along_axis(g, shape, indices, axis, unique):
    """zeros(shape) with g added where take_along_axis(., indices, axis) reads; repeated
    indices accumulate (unique=True: the indices are a permutation, so plain writes)."""
    out = np.zeros(shape, dtype=g.dtype)
    full = np.broadcast_shapes(g.shape, indices.shape)
    key = _along_axis_index(full, indices, axis)
    if unique:
        out[key] = g
    else:
        np.add.at(out, key, np.broadcast_to(g, full))
    return out


def _nonzero(x):
    return np.stack(np.nonzero(x)) if x.ndim else np.zeros((0, 0), dtype=np.intp)


def _pad(x, widths, value):
    out = np.full(tuple(n + a + b for n, (a, b) in zip(x.shape, widths)), value, dtype=x.dtype)
    out[tuple(slice(a, a + n) for n, (a, _) in zip(x.shape, widths))] = x
    return out


def _one_hot(labels, num_classes):
    return (labels[..., None] == np.arange(num_classes)).astype(np.int64)


KERNELS = {
    "pad": _pad,
    "one_hot": _one_hot,
    "cumsum": _cumsum,
    "cumprod": _cumprod,
    "linear_scan": _linear_scan,
    "prod": _prod,
    "diagonal": _diagonal,
    "diagonal_embed": _diagonal_embed,
    "einsum": _einsum,
    "take_along_axis": _take_along_axis,
    "scatter_add_along_axis": _scatter_add_along_axis,
    "argsort": lambda x, axis, kind, stable: np.argsort(x, axis=axis, kind=kind, stable=stable),
    "argpartition": lambda x, kth, axis, kind: np.argpartition(x, kth, axis=axis, kind=kind),
    "argmax": lambda x, axis, keepdims: np.asarray(np.argmax(x, axis=axis, keepdims=keepdims)),
    "argmin": lambda x, axis, keepdims: np.asarray(np.argmin(x, axis=axis, keepdims=keepdims)),
    "nonzero": _nonzero,
}
FALLBACKS = {}      # numpy versions for integer/bool inputs, where a kernel takes floats only
