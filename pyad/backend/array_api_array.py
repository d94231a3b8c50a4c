"""Array API kernels of the array family's primitives (see backend/array_api.py).

Each computes what its CPU kernel (backend/numpy_array.py) computes, through the array's own
namespace. The standard has no einsum, partition, scatter-add, diagonal of any two axes or
linear recurrence: those are composed here from permute_dims, reshape, take, matmul, sort
and searchsorted.
"""
import math

import numpy as np

from pyad.backend.array_api_core import _index_array
from pyad.backend.namespaces import namespace_of as _ns




def _default_int(xp, x):
    return xp.__array_namespace_info__().default_dtypes(device=x.device)["integral"]


def _numeric(xp, x):
    """x, with booleans as the default integer: numpy sums, multiplies and orders bools as
    ints, the standard's functions take numeric dtypes only."""
    return xp.astype(x, _default_int(xp, x)) if x.dtype == xp.bool else x


def _inverse_perm(perm):
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def _zero(xp, like):
    return xp.zeros((), dtype=like.dtype, device=like.device)


# ------------------------------------------------------------------- scans
def _cumsum(x, axis, reverse):
    xp = _ns(x)
    x = _numeric(xp, x)
    if reverse:
        return xp.flip(xp.cumulative_sum(xp.flip(x, axis=axis), axis=axis), axis=axis)
    return xp.cumulative_sum(x, axis=axis)


def _cumprod(x, axis, reverse):
    xp = _ns(x)
    x = _numeric(xp, x)
    if not hasattr(xp, "cumulative_prod"):      # before the 2024.12 standard
        return _linear_scan(x, _first_only(xp, x, axis, reverse), axis, reverse)
    if reverse:
        return xp.flip(xp.cumulative_prod(xp.flip(x, axis=axis), axis=axis), axis=axis)
    return xp.cumulative_prod(x, axis=axis)


def _first_only(xp, x, axis, reverse):
    """x with zeros everywhere but its first slice in scan order: cumprod(x) is the linear
    scan h[i] = x[i] h[i - 1] started from it."""
    n = x.shape[axis]
    pos = xp.reshape(xp.arange(n, device=x.device),
                     tuple(n if d == axis else 1 for d in range(x.ndim)))
    return xp.where(pos == (n - 1 if reverse else 0), x, _zero(xp, x))


def _linear_scan(a, b, axis, reverse):
    """h[i] = a[i] * h[i - 1] + b[i] along axis (h[i + 1] when reverse), h = b at the first
    position: a loop over the axis, as on the CPU (products and sums only, so exact zeros
    stay exact)."""
    xp = _ns(b)
    a, b = xp.broadcast_arrays(a, b)
    dtype = xp.result_type(a.dtype, b.dtype)
    a, b = xp.astype(a, dtype), xp.astype(b, dtype)
    axis %= b.ndim
    n = b.shape[axis]
    if n == 0:
        return xp.zeros(b.shape, dtype=dtype, device=b.device)
    head = (slice(None),) * axis
    rows = [None] * n
    prev = None
    for i in (range(n - 1, -1, -1) if reverse else range(n)):
        key = head + (i, ...)
        rows[i] = b[key] if prev is None else a[key] * prev + b[key]
        prev = rows[i]
    return xp.stack(rows, axis=axis)


def _prod(x, axes, keepdims):
    xp = _ns(x)
    return xp.prod(_numeric(xp, x), axis=tuple(axes), keepdims=keepdims)


# ------------------------------------------------------------------- diagonals
def _diagonal(x, offset, axis1, axis2):
    """numpy.diagonal: the offset diagonal of (axis1, axis2) as the last axis, the other
    axes in order. The two axes go last and are flattened; the diagonal is a take."""
    xp = _ns(x)
    axis1, axis2 = axis1 % x.ndim, axis2 % x.ndim
    rest = [d for d in range(x.ndim) if d not in (axis1, axis2)]
    rows, cols = x.shape[axis1], x.shape[axis2]
    r0, c0 = max(-offset, 0), max(offset, 0)
    n = max(0, min(rows - r0, cols - c0))
    moved = xp.permute_dims(x, tuple(rest) + (axis1, axis2))
    flat = xp.reshape(moved, moved.shape[:-2] + (rows * cols,))
    k = xp.arange(n, device=x.device)
    return xp.take(flat, (k + r0) * cols + (k + c0), axis=-1)


def _diagonal_embed(g, shape, offset, axis1, axis2):
    """zeros(shape) with g (its last axis the diagonal) on the offset diagonal of
    (axis1, axis2), the adjoint of _diagonal. The standard has no scatter: each entry of the
    flattened (axis1, axis2) plane gathers its diagonal value or is 0 (a where, not a
    product with a mask, so an inf in g does not spread NaNs)."""
    xp = _ns(g)
    shape = tuple(shape)
    axis1, axis2 = axis1 % len(shape), axis2 % len(shape)
    n = g.shape[-1]
    if n == 0 or math.prod(shape) == 0:
        return xp.zeros(shape, dtype=g.dtype, device=g.device)
    rest = [d for d in range(len(shape)) if d not in (axis1, axis2)]
    rows, cols = shape[axis1], shape[axis2]
    j = xp.arange(rows * cols, device=g.device)
    k = j // cols - max(-offset, 0)                   # the diagonal entry row r holds
    on = (j % cols - max(offset, 0) == k) & (k >= 0) & (k < n)
    picked = xp.take(g, xp.where(on, k, xp.zeros_like(k)), axis=-1)
    plane = xp.where(on, picked, _zero(xp, g))
    moved = xp.reshape(plane, tuple(shape[d] for d in rest) + (rows, cols))
    return xp.permute_dims(moved, _inverse_perm(tuple(rest) + (axis1, axis2)))


# ------------------------------------------------------------------- einsum
def _einsum(*operands_then_params):
    """numpy.einsum on letter subscripts (the row's params: ellipses already spelled out).
    Repeated labels within an operand become diagonals, labels no later term needs are
    summed, and the operands are contracted left to right, each pair as one batched matmul
    (batch, free-in-a, contracted) @ (batch, contracted, free-in-b)."""
    *operands, ins, out = operands_then_params
    xp = _ns(operands[0])
    dtype = xp.result_type(*operands)
    terms = [_einsum_diagonals(xp, xp.astype(x, dtype, copy=False), sub)
             for x, sub in zip(operands, ins)]
    x, sub = terms[0]
    for k in range(1, len(terms)):
        needed = set(out).union(*(s for _, s in terms[k + 1:]))
        x, sub = _einsum_pair(xp, x, sub, *terms[k], needed)
    x, sub = _sum_labels(xp, x, sub, set(out))
    return xp.permute_dims(x, tuple(sub.index(c) for c in out))


def _einsum_diagonals(xp, x, sub):
    """x[.., i, .., i, ..] for a label repeated in sub: its diagonal, appended as one axis."""
    while len(set(sub)) < len(sub):
        c = next(c for c in sub if sub.count(c) > 1)
        i = sub.index(c)
        j = sub.index(c, i + 1)
        x = _diagonal(x, 0, i, j)
        sub = sub[:i] + sub[i + 1:j] + sub[j + 1:] + c
    return x, sub


def _sum_labels(xp, x, sub, keep):
    """x summed over its labels not in keep (in x's own dtype, as numpy's einsum)."""
    axes = tuple(i for i, c in enumerate(sub) if c not in keep)
    if not axes:
        return x, sub
    return (xp.sum(x, axis=axes, dtype=x.dtype),
            "".join(c for c in sub if c in keep))


def _einsum_pair(xp, a, la, b, lb, needed):
    a, la = _sum_labels(xp, a, la, needed | set(lb))
    b, lb = _sum_labels(xp, b, lb, needed | set(la))
    size = {}
    for x, sub in ((a, la), (b, lb)):
        for c, n in zip(sub, x.shape):
            size[c] = n if size.get(c, 1) == 1 else size[c]    # a size-1 axis broadcasts
    batch = [c for c in la if c in lb and c in needed]
    summed = [c for c in la if c in lb and c not in needed]
    only_a = [c for c in la if c not in lb]
    only_b = [c for c in lb if c not in la]

    def arrange(x, sub, order, shape):
        x = xp.permute_dims(x, tuple(sub.index(c) for c in order))
        return xp.reshape(xp.broadcast_to(x, tuple(size[c] for c in order)), shape)

    def n(labels):
        return math.prod(size[c] for c in labels)

    a = arrange(a, la, batch + only_a + summed, (n(batch), n(only_a), n(summed)))
    b = arrange(b, lb, batch + summed + only_b, (n(batch), n(summed), n(only_b)))
    labels = batch + only_a + only_b
    return xp.reshape(xp.matmul(a, b), tuple(size[c] for c in labels)), "".join(labels)


# ------------------------------------------------------------------- gather along an axis
def _along_axis_flat_index(xp, shape, indices, axis):
    """The flat (C-order) positions, in an array of `shape`, that take_along_axis(., indices,
    axis) reads: indices along axis, the other axes' own coordinates (broadcast)."""
    strides = [math.prod(shape[d + 1:]) for d in range(len(shape))]
    flat = indices * strides[axis]
    for d, n in enumerate(shape):
        if d != axis and n > 1:
            coord = xp.arange(n, dtype=indices.dtype, device=indices.device)
            flat = flat + xp.reshape(coord, tuple(n if e == d else 1
                                                  for e in range(len(shape)))) * strides[d]
    return flat


def _take_along_axis(x, indices, axis, unique):
    xp = _ns(x)
    axis %= x.ndim
    n = x.shape[axis]
    idx = _index_array(indices, x)
    idx = xp.where(idx < 0, idx + n, idx)
    full = np.broadcast_shapes(x.shape[:axis] + (1,) + x.shape[axis + 1:], idx.shape)
    flat = xp.broadcast_to(_along_axis_flat_index(xp, x.shape, idx, axis), full)
    picked = xp.take(xp.reshape(x, (-1,)), xp.reshape(flat, (-1,)))
    return xp.reshape(picked, full)


def _scatter_add_along_axis(g, shape, indices, axis, unique):
    """zeros(shape) with g added where take_along_axis(., indices, axis) reads; repeated
    indices accumulate. The standard has no scatter: sort the target positions, sum each
    run of equal ones (unique: every run is one entry), and let each output entry gather
    its run's sum, found by searchsorted."""
    xp = _ns(g)
    shape = tuple(shape)
    axis %= len(shape)
    idx = _index_array(indices, g)
    full = np.broadcast_shapes(g.shape, idx.shape)
    if math.prod(full) == 0 or math.prod(shape) == 0:
        return xp.zeros(shape, dtype=g.dtype, device=g.device)
    target = xp.reshape(xp.broadcast_to(_along_axis_flat_index(xp, shape, idx, axis), full),
                        (-1,))
    values = xp.reshape(xp.broadcast_to(g, full), (-1,))
    order = xp.argsort(target, stable=True)
    target, values = xp.take(target, order), xp.take(values, order)
    if not unique:
        values = _run_sums(xp, target, values)
    positions = xp.arange(math.prod(shape), dtype=target.dtype, device=g.device)
    last = xp.searchsorted(target, positions, side="right") - 1      # each one's run's end
    last = xp.where(last < 0, xp.zeros_like(last), last)
    hit = xp.take(target, last) == positions
    return xp.reshape(xp.where(hit, xp.take(values, last), _zero(xp, values)), shape)


def _run_sums(xp, keys, values):
    """Running sums of values within each run of equal (sorted) keys, so each run's last
    entry holds its sum: a log-depth segmented scan (Hillis-Steele), O(m log m) however
    often a key repeats, and without the cancellation of differences of one cumulative sum."""
    m = values.shape[0]
    zero = _zero(xp, values)
    step = 1
    while step < m:
        same_run = keys[step:] == keys[:-step]
        values = xp.concat([values[:step],
                            values[step:] + xp.where(same_run, values[:-step], zero)])
        step *= 2
    return values


# ------------------------------------------------------------------- integer results
def _argsort(x, axis, kind, stable):
    # a stable sort is a valid answer for every kind, and the one numpy's matches on ties
    # wherever numpy sorts stably
    xp = _ns(x)
    return xp.argsort(_numeric(xp, x), axis=axis, stable=True)


def _argpartition(x, kth, axis, kind):
    # A full stable sort is a valid partition around every kth. It matches numpy's indices
    # where numpy's selection sorts fully (its SIMD argselect does for short axes); numpy's
    # scalar introselect may leave the elements either side of kth in another order.
    xp = _ns(x)
    return xp.argsort(_numeric(xp, x), axis=axis, stable=True)


def _argmax(x, axis, keepdims):
    xp = _ns(x)
    return xp.argmax(_numeric(xp, x), axis=axis, keepdims=keepdims)


def _argmin(x, axis, keepdims):
    xp = _ns(x)
    return xp.argmin(_numeric(xp, x), axis=axis, keepdims=keepdims)


def _nonzero(x):
    xp = _ns(x)
    if x.ndim == 0:
        return xp.zeros((0, 0), dtype=_default_int(xp, x), device=x.device)
    return xp.stack(xp.nonzero(x))


def _pad(x, widths, value):
    xp = _ns(x)
    shape = tuple(n + a + b for n, (a, b) in zip(x.shape, widths))
    out = xp.full(shape, value, dtype=x.dtype, device=x.device)
    out[tuple(slice(a, a + n) for n, (a, _) in zip(x.shape, widths))] = x
    return out


def _one_hot(labels, num_classes):
    xp = _ns(labels)
    classes = xp.arange(num_classes, dtype=labels.dtype, device=labels.device)
    return xp.astype(labels[..., None] == classes, xp.int64)


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
    "argsort": _argsort,
    "argpartition": _argpartition,
    "argmax": _argmax,
    "argmin": _argmin,
    "nonzero": _nonzero,
}
