"""The array family: its rows of the primitive table and its public functions.

Reductions and array manipulation with numpy's names and semantics (autograd.numpy's
breadth). Most functions are compositions of existing rows that are exact and fast
(slices for flip, concatenate for roll and the stacks, reshape/broadcast for tile, matmul
for tensordot); rows of their own are the scans (cumsum, cumprod and the linear recurrence
their derivatives need), prod, diagonal and its adjoint, einsum, the gather along an axis
behind sort/partition and its scatter, and the integer-valued arg-functions.
"""
from __future__ import annotations

import math
import operator
import string
import warnings
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from pyad import backend
from pyad.ops import core as o
from pyad.engine._tape import Tensor, apply1, apply2, bind, wrap
from pyad._typing import ArrayLike, Axis, DTypeLike
from pyad.ops.lifts import LEADING, shift_axes, shift_first
from pyad.ops.prims import LINEAR, LOOP, PRIMITIVES, _expand_reduced, _tangent_sum, defprim

__all__ = [
    "prod", "cumsum", "cumprod", "std", "average", "ptp",
    "einsum", "tensordot", "inner", "outer", "kron",
    "diagonal", "trace", "diag", "diagflat", "tril", "triu",
    "tile", "repeat", "flip", "fliplr", "flipud", "roll", "rot90", "pad",
    "hstack", "vstack", "dstack", "column_stack", "row_stack",
    "split", "array_split", "hsplit", "vsplit", "dsplit",
    "sort", "partition", "argsort", "argpartition", "argmax", "argmin", "nonzero",
    "take_along_axis",
    "ravel", "moveaxis", "rollaxis", "atleast_1d", "atleast_2d", "atleast_3d",
    "cross", "select", "append", "linspace", "diff", "gradient",
]

_CONCATENATE = PRIMITIVES["concatenate"]
_GETITEM = PRIMITIVES["getitem"]


# =========================================================================== the rows
def _full(shape, value, dtype, like):
    """A constant Tensor of `shape` filled with `value`, on the backend and device of the
    array `like` (a numpy constant next to another backend's arrays could not mix with them)."""
    if type(like) is np.ndarray:
        return o.full(shape, value, dtype=dtype)
    fill = backend.asarray(value, dtype, like=like)
    return wrap(backend.namespace(like).broadcast_to(fill, tuple(shape)))


def _shift(v, axis, fill, forward):
    """v moved one step along axis: out[i] = v[i - 1] (forward) or v[i + 1] (backward),
    with `fill` entering at the vacated end."""
    n = v.shape[axis]
    if n == 0:
        return v
    edge = _full(v.shape[:axis] + (1,) + v.shape[axis + 1:], fill, v.dtype, v.data)
    head = (slice(None),) * axis
    if forward:
        body = apply1(_GETITEM, v, (head + (slice(0, n - 1),),))
        return bind(_CONCATENATE, edge, body, params=(axis,))
    body = apply1(_GETITEM, v, (head + (slice(1, n),),))
    return bind(_CONCATENATE, body, edge, params=(axis,))


def _prev(v, axis, reverse, fill):
    """The previous element in scan order (fill before the first)."""
    return _shift(v, axis, fill, forward=not reverse)


def _next(v, axis, reverse, fill):
    """The next element in scan order (fill after the last)."""
    return _shift(v, axis, fill, forward=reverse)


# ------------------------------------------------------------------- scans
# linear_scan(a, b): h[i] = a[i] h[i-1] + b[i] along an axis (h[i+1] when reverse), h = b at
# the first position. It is linear in b, and its transpose is the same scan run the other
# way with a moved one step: the derivatives of cumprod (and so of prod) are scans too, with
# products and sums only, so zeros in the input are handled exactly at every order.
def _scan_transpose(g, a, axis, reverse):
    """L^T g for the linear map L: b -> linear_scan(a, b)."""
    return apply2(linear_scan_p, _next(a, axis, reverse, 0.0), g, (axis, not reverse))


def _linear_scan_jvp(dots, ans, a, b, axis, reverse):
    da, db = dots
    rhs = db
    if da is not None:
        term = da * _prev(ans, axis, reverse, 0.0)
        rhs = term if rhs is None else rhs + term
    return apply2(linear_scan_p, a, rhs, (axis, reverse))


linear_scan_p = defprim(
    "linear_scan",
    lambda g, ans, a, b, axis, reverse:
    _scan_transpose(g, a, axis, reverse) * _prev(ans, axis, reverse, 0.0),
    lambda g, ans, a, b, axis, reverse: _scan_transpose(g, a, axis, reverse),
    jvp=_linear_scan_jvp, lift=(LEADING, shift_first))

cumsum_p = defprim(
    "cumsum", lambda g, ans, x, axis, reverse: apply1(cumsum_p, g, (axis, not reverse)),
    jvp=LINEAR, lift=(LEADING, shift_first))

# y[i] = x[i] y[i-1]: dy[i] = x[i] dy[i-1] + dx[i] y[i-1], a linear scan in dx
cumprod_p = defprim(
    "cumprod",
    lambda g, ans, x, axis, reverse:
    _scan_transpose(g, x, axis, reverse) * _prev(ans, axis, reverse, 1.0),
    jvp=lambda dots, ans, x, axis, reverse: apply2(
        linear_scan_p, x, dots[0] * _prev(ans, axis, reverse, 1.0), (axis, reverse)),
    lift=(LEADING, shift_first))


# ------------------------------------------------------------------- prod
def _inverse_perm(perm):
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def _prod_others(x, axes):
    """Each entry's product of the other entries of its slice over axes: prefix products
    times suffix products (exclusive cumprods), so zeros are exact, no division."""
    if not axes:
        return o.ones_like(x)
    if len(axes) == 1:
        ax = axes[0]
        left = apply1(cumprod_p, _shift(x, ax, 1.0, True), (ax, False))
        right = apply1(cumprod_p, _shift(x, ax, 1.0, False), (ax, True))
        return left * right
    kept = tuple(i for i in range(x.ndim) if i not in axes)
    perm = kept + tuple(axes)
    moved = o.transpose(x, perm)
    n = math.prod(x.shape[a] for a in axes)
    flat = o.reshape(moved, moved.shape[:len(kept)] + (n,))
    others = o.reshape(_prod_others(flat, (len(kept),)), moved.shape)
    return o.transpose(others, _inverse_perm(perm))


prod_p = defprim(
    "prod",
    lambda g, ans, x, axes, keepdims:
    _expand_reduced(g, x, axes, keepdims) * _prod_others(x, axes),
    jvp=lambda dots, ans, x, axes, keepdims:
    o.sum(dots[0] * _prod_others(x, axes), axis=axes, keepdims=keepdims),
    lift=(LEADING, shift_axes))


# ------------------------------------------------------------------- diagonals
def _diagonal_lift(params, batch, args):
    offset, axis1, axis2 = params
    return (offset, axis1 + 1, axis2 + 1)


def _embed_lift(params, batch, args):
    shape, offset, axis1, axis2 = params
    return ((batch,) + tuple(shape), offset, axis1 + 1, axis2 + 1)


# diagonal(x, offset, axis1, axis2) and its adjoint: g written on that diagonal of zeros
diagonal_p = defprim(
    "diagonal",
    lambda g, ans, x, offset, axis1, axis2:
    apply1(diagonal_embed_p, g, (x.shape, offset, axis1, axis2)),
    jvp=LINEAR, lift=(LEADING, _diagonal_lift))
diagonal_embed_p = defprim(
    "diagonal_embed",
    lambda c, ans, g, shape, offset, axis1, axis2:
    apply1(diagonal_p, c, (offset, axis1, axis2)),
    jvp=LINEAR, lift=(LEADING, _embed_lift))


# ------------------------------------------------------------------- einsum
# params: the operands' subscripts (letters only: ellipses are spelled out and broadcasting
# resolved before the row is bound) and the output's. The cotangent of operand k is another
# einsum: the output's cotangent with the other operands, giving operand k's labels; a label
# only operand k has is broadcast by a ones vector, a repeated one (a diagonal) goes back
# onto its diagonal through an identity matrix.
_LABELS = string.ascii_letters


def _fresh_labels(used):
    return (c for c in _LABELS if c not in used)


def _einsum_bind(operands, subs, out):
    if len(operands) == 1 and subs[0] == out:
        return operands[0]
    return bind(einsum_p, *operands, params=(tuple(subs), out))


def _eye(n, dtype, like):
    return wrap(backend.eye(n, dtype, like))


def _einsum_vjp(k, g, ans, *operands_then_params):
    *operands, ins, out = operands_then_params
    sizes = {}
    for x, sub in zip(operands, ins):
        sizes.update(zip(sub, x.shape))
    target = ins[k]
    ops = [g] + [x for j, x in enumerate(operands) if j != k]
    subs = [out] + [s for j, s in enumerate(ins) if j != k]
    present = set("".join(subs))
    fresh = _fresh_labels(set("".join(ins)) | set(out))
    labels, seen = [], set()
    for c in target:
        if c in seen:                   # repeated: x[.., i, .., i, ..] lies on a diagonal
            c2 = next(fresh)
            ops.append(_eye(sizes[c], g.dtype, g.data))
            subs.append(c + c2)
            labels.append(c2)
        else:
            seen.add(c)
            labels.append(c)
            if c not in present and target.count(c) == 1:     # summed in operand k alone
                ops.append(_full((sizes[c],), 1, g.dtype, g.data))
                subs.append(c)
    return _einsum_bind(ops, subs, "".join(labels))


def _einsum_jvp(dots, ans, *operands_then_params):
    *operands, ins, out = operands_then_params
    terms = []
    for k, d in enumerate(dots):
        if d is not None:
            ops = list(operands)
            ops[k] = d
            terms.append(_einsum_bind(ops, ins, out))
    return _tangent_sum(terms, ans)


def _einsum_lift(params, batch, args):
    ins, out = params
    c = next(_fresh_labels(set("".join(ins)) | set(out)))
    return (tuple(c + s for s in ins), c + out)


einsum_p = defprim("einsum", _einsum_vjp, variadic=True, jvp=_einsum_jvp,
                   lift=(LEADING, _einsum_lift))


# ------------------------------------------------------------------- gather along an axis
# take_along_axis(x; indices, axis, unique) and its adjoint, which adds g back where the
# gather read (unique: the indices are a permutation along the axis, as sort's are).
def _along_lift(params, batch, args):
    indices, axis, unique = params
    return (indices[None], axis + 1, unique)


def _scatter_along_lift(params, batch, args):
    shape, indices, axis, unique = params
    return ((batch,) + tuple(shape), indices[None], axis + 1, unique)


take_along_axis_p = defprim(
    "take_along_axis",
    lambda g, ans, x, indices, axis, unique:
    apply1(scatter_add_along_axis_p, g, (x.shape, indices, axis, unique)),
    jvp=LINEAR, lift=(LEADING, _along_lift))
scatter_add_along_axis_p = defprim(
    "scatter_add_along_axis",
    lambda c, ans, g, shape, indices, axis, unique:
    apply1(take_along_axis_p, c, (indices, axis, unique)),
    jvp=LINEAR, lift=(LEADING, _scatter_along_lift))

# ------------------------------------------------------------------- integer results
argsort_p = defprim("argsort", nondiff=True)
argpartition_p = defprim("argpartition", nondiff=True)
argmax_p = defprim("argmax", nondiff=True)
argmin_p = defprim("argmin", nondiff=True)
nonzero_p = defprim("nonzero", nondiff=True)


# =========================================================================== helpers
def _no_out(name, out):
    if out is not None:
        raise TypeError(f"pyad.{name}: out= is not supported (Tensors are immutable); use the "
                        f"returned Tensor instead")


def _int_list(name, what, value):
    """An int or a sequence of ints as a tuple of Python ints."""
    try:
        items = tuple(value) if np.ndim(value) else (value,)
        return tuple(operator.index(v) for v in items)
    except TypeError:
        raise TypeError(f"pyad.{name}: {what} must be an int or a sequence of ints, got "
                        f"{value!r}") from None


def _index_array(name, indices):
    # index arrays are parameters of the rows: they live on the host, whatever the data's backend
    idx = backend.to_host(indices.data if isinstance(indices, Tensor) else indices)
    if idx.dtype.kind not in "iu":
        raise IndexError(f"pyad.{name}: indices must be integers, got dtype {idx.dtype}")
    return idx


def _beside(name, obj, like):
    """obj as a Tensor next to the array `like` (None: numpy): Tensors as they are, numbers
    and lists converted onto like's backend as numpy converts them; an array of another
    backend raises TypeError naming the op (pyad never copies between backends implicitly)."""
    if isinstance(obj, Tensor):
        return obj
    return wrap(backend.asarray(obj, like=like, op=name))


def _first_array(values):
    """The data of the first Tensor or array among values (None when all are numbers or
    lists): the array the others are converted next to."""
    for v in values:
        if isinstance(v, Tensor):
            return v.data
        if isinstance(v, np.ndarray) or backend.is_foreign(v):
            return v
    return None


def _promotion_operand(v):
    """What np.result_type is given for v: a Python scalar itself (weakly typed, as in
    numpy), else v's dtype (never the array: numpy cannot read other backends' arrays)."""
    if isinstance(v, Tensor):
        return v.dtype
    if type(v) in (int, float, bool):
        return v
    return backend.dtype_of(backend.as_array(v))


def _along(axis, ndim, key):
    return (slice(None),) * axis + (key,) + (slice(None),) * (ndim - axis - 1)


def _promote_all(name, ts):
    dt = np.result_type(*[t.dtype for t in ts])
    return [o.astype(t, dt) for t in ts]


# =========================================================================== reductions
def prod(a: ArrayLike, axis: Axis = None, dtype: Optional[DTypeLike] = None, out: None = None,
         keepdims: bool = False, initial: Optional[float] = None,
         where: None = None) -> Tensor:
    """Product of the elements over the given axes (numpy.prod), differentiable.

    The derivative of each element is the product of the others, computed from prefix and
    suffix products (no division), so it is exact where the input has zeros, at first and
    at higher orders.

    Parameters
    ----------
    a : ArrayLike
        Input array.
    axis : None, int or tuple of ints
        Axes to multiply over (all when None; negative counts from the end).
    dtype : dtype, optional
        Cast the input to this dtype first.
    out : None
        Not supported (Tensors are immutable).
    keepdims : bool
        Keep the reduced axes with size 1.
    initial : scalar, optional
        A starting value the product is multiplied by.
    where : None
        Not supported.

    Returns
    -------
    Tensor
        The products; numpy's dtype (integers widen to int64).

    Raises
    ------
    TypeError
        If `out` or `where` is given.

    Examples
    --------
    >>> ad.prod(ad.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=1)
    tensor([ 2., 12.])
    >>> ad.grad(lambda x: ad.prod(x))(np.array([2.0, 0.0, 3.0]))
    array([0., 6., 0.])
    """
    _no_out("prod", out)
    if where is not None:
        raise TypeError("pyad.prod: where= is not supported; pass ad.where(mask, a, 1.0) "
                        "instead")
    x = o._t(a)
    if dtype is not None:
        x = o.astype(x, dtype)
    axes = o._axes("prod", axis, x.ndim)
    y = bind(prod_p, x, params=(axes, bool(keepdims)))
    if initial is not None:
        y = o.multiply(y, np.asarray(initial, dtype=y.dtype).item())
    return y


def _scan(name, prim, a, axis, dtype, out):
    _no_out(name, out)
    x = o._t(a)
    if dtype is not None:
        x = o.astype(x, dtype)
    if axis is None:
        x, ax = o.reshape(x, (-1,)), 0
    else:
        ax = o._one_axis(name, axis, x.ndim)
    return bind(prim, x, params=(ax, False))


def cumsum(a: ArrayLike, axis: Optional[int] = None, dtype: Optional[DTypeLike] = None,
           out: None = None) -> Tensor:
    """Cumulative sum along an axis (numpy.cumsum), differentiable.

    Parameters
    ----------
    a : ArrayLike
        Input array.
    axis : int, optional
        The axis to accumulate along; None flattens the input first.
    dtype : dtype, optional
        Cast the input to this dtype first.
    out : None
        Not supported (Tensors are immutable).

    Returns
    -------
    Tensor
        Running sums, the input's shape (1-D when axis is None); numpy's dtype.

    Raises
    ------
    TypeError
        If `out` is given.

    Examples
    --------
    >>> ad.cumsum(ad.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=0)
    tensor([[1., 2.],
            [4., 6.]])
    >>> ad.cumsum(ad.tensor([[1, 2], [3, 4]]))
    tensor([ 1,  3,  6, 10])
    """
    return _scan("cumsum", cumsum_p, a, axis, dtype, out)


def cumprod(a: ArrayLike, axis: Optional[int] = None, dtype: Optional[DTypeLike] = None,
            out: None = None) -> Tensor:
    """Cumulative product along an axis (numpy.cumprod), differentiable.

    The derivatives are linear recurrences (products and sums only), so zeros in the input
    are handled exactly at every order.

    Parameters
    ----------
    a : ArrayLike
        Input array.
    axis : int, optional
        The axis to accumulate along; None flattens the input first.
    dtype : dtype, optional
        Cast the input to this dtype first.
    out : None
        Not supported (Tensors are immutable).

    Returns
    -------
    Tensor
        Running products, the input's shape (1-D when axis is None).

    Raises
    ------
    TypeError
        If `out` is given.

    Examples
    --------
    >>> ad.cumprod(ad.tensor([1.0, 2.0, 3.0, 4.0]))
    tensor([ 1.,  2.,  6., 24.])
    >>> ad.grad(lambda x: ad.cumprod(x)[-1])(np.array([2.0, 0.0, 3.0]))
    array([0., 6., 0.])
    """
    return _scan("cumprod", cumprod_p, a, axis, dtype, out)


def std(a: ArrayLike, axis: Axis = None, dtype: Optional[DTypeLike] = None, out: None = None,
        ddof: int = 0, keepdims: bool = False, *, correction: Optional[int] = None) -> Tensor:
    """Standard deviation over the given axes (numpy.std): sqrt(var(a, axis, ddof)).

    Parameters
    ----------
    a : ArrayLike
        Input array (integers are averaged in float64).
    axis : None, int or tuple of ints
        Axes to reduce (all when None).
    dtype : dtype, optional
        Cast the input to this dtype first.
    out : None
        Not supported (Tensors are immutable).
    ddof : int
        Delta degrees of freedom: the divisor is N - ddof.
    keepdims : bool
        Keep the reduced axes with size 1.
    correction : int, optional
        The Array API name of ddof (give one or the other).

    Returns
    -------
    Tensor
        The standard deviations (its derivative is infinite where they are 0).

    Raises
    ------
    TypeError
        If `out` is given.
    ValueError
        If both ddof and correction are given.

    Examples
    --------
    >>> ad.std(ad.tensor([1.0, 2.0, 3.0, 4.0]))
    tensor(1.11803399)
    >>> float(ad.std(ad.tensor([1.0, 2.0, 3.0, 4.0]), ddof=1))
    1.2909944487358056
    """
    _no_out("std", out)
    if correction is not None:
        if ddof != 0:
            raise ValueError("pyad.std: give ddof or correction, not both")
        ddof = correction
    x = o._t(a)
    if dtype is not None:
        x = o.astype(x, dtype)
    return o.sqrt(o.var(x, axis=axis, ddof=ddof, keepdims=keepdims))


def average(a: ArrayLike, axis: Axis = None, weights: Optional[ArrayLike] = None,
            returned: bool = False, *, keepdims: bool = False
            ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """Weighted average over the given axes (numpy.average), differentiable in `a` and in
    `weights`.

    Parameters
    ----------
    a : ArrayLike
        Input array.
    axis : None, int or tuple of ints
        Axes to average over (all when None).
    weights : ArrayLike, optional
        Weights of `a`'s shape, or of the shape of `a` along `axis`; None: equal weights.
    returned : bool
        Also return the sum of the weights (broadcast to the average's shape).
    keepdims : bool
        Keep the reduced axes with size 1.

    Returns
    -------
    Tensor or (Tensor, Tensor)
        The average, and with returned=True the sum of the weights.

    Raises
    ------
    TypeError
        If the weights' shape differs from `a`'s and no axis is given.
    ValueError
        If the weights' shape does not match `a` along `axis`.
    ZeroDivisionError
        If the weights sum to zero.

    Examples
    --------
    >>> ad.average(ad.tensor([1.0, 2.0, 4.0]), weights=[1.0, 1.0, 2.0])
    tensor(2.75)
    >>> ad.average(ad.tensor([[1.0, 3.0], [5.0, 7.0]]), axis=1, weights=[3.0, 1.0])
    tensor([1.5, 5.5])
    """
    x = o._t(a)
    axes = None if axis is None else o._axes("average", axis, x.ndim)
    if weights is None:
        avg = o.mean(x, axis=axes, keepdims=keepdims)
        scl = wrap(backend.asarray(x.size / max(avg.size, 1), avg.dtype, like=avg.data))
    else:
        w = _beside("average", weights, x.data)
        if w.shape != x.shape:
            if axes is None:
                raise TypeError(f"pyad.average: the weights' shape {w.shape} differs from "
                                f"a's {x.shape}; give axis= to weight along it")
            given = tuple(o._one_axis("average", v, x.ndim)
                          for v in (axis if isinstance(axis, (tuple, list)) else (axis,)))
            want = tuple(x.shape[ax] for ax in given)
            if w.shape != want:
                raise ValueError(f"pyad.average: weights of shape {w.shape} do not match a "
                                 f"of shape {x.shape} along axis {axis}: want {want} (or "
                                 f"a's shape)")
            if w.ndim > 1:
                w = o.transpose(w, tuple(int(i) for i in np.argsort(given)))
            w = o.reshape(w, tuple(n if i in axes else 1 for i, n in enumerate(x.shape)))
        if x.dtype.kind in "biu":
            dt = np.result_type(x.dtype, w.dtype, np.float64)
        else:
            dt = np.result_type(x.dtype, w.dtype)
        x, w = o.astype(x, dt), o.astype(w, dt)
        scl = o.sum(w, axis=axes, keepdims=keepdims)
        if np.any(backend.to_host(scl.data) == 0.0):
            raise ZeroDivisionError("pyad.average: the weights sum to zero, so they cannot be "
                                    "normalized")
        avg = o.divide(o.sum(o.multiply(x, w), axis=axes, keepdims=keepdims), scl)
    if not returned:
        return avg
    if scl.shape != avg.shape:
        scl = o.broadcast_to(scl, avg.shape)
    return avg, scl


def ptp(a: ArrayLike, axis: Axis = None, out: None = None, keepdims: bool = False) -> Tensor:
    """Range of values, max - min, over the given axes (numpy.ptp).

    Parameters
    ----------
    a : ArrayLike
        Input array.
    axis : None, int or tuple of ints
        Axes to reduce (all when None).
    out : None
        Not supported (Tensors are immutable).
    keepdims : bool
        Keep the reduced axes with size 1.

    Returns
    -------
    Tensor
        max - min; ties share the gradient as in ad.max and ad.min.

    Raises
    ------
    TypeError
        If `out` is given.

    Examples
    --------
    >>> ad.ptp(ad.tensor([[4.0, 9.0, 2.0], [1.0, 5.0, 3.0]]), axis=1)
    tensor([7., 4.])
    """
    _no_out("ptp", out)
    x = o._t(a)
    return o.subtract(o.max(x, axis=axis, keepdims=keepdims),
                      o.min(x, axis=axis, keepdims=keepdims))


# =========================================================================== products
def _einsum_operands(args):
    """(subscripts string, operands) from either calling convention of numpy.einsum."""
    if isinstance(args[0], str):
        return args[0], list(args[1:])
    args = list(args)
    out = args.pop() if len(args) % 2 == 1 else None
    ops, subs = args[0::2], args[1::2]

    def term(sub):
        s = []
        for v in sub:
            if v is Ellipsis:
                s.append("...")
            else:
                i = operator.index(v)
                if not 0 <= i < 52:
                    raise ValueError(f"pyad.einsum: subscript {i} is out of range: sublist "
                                     f"labels must be in [0, 52)")
                s.append(string.ascii_uppercase[i] if i < 26 else string.ascii_lowercase[i - 26])
        return "".join(s)
    text = ",".join(term(s) for s in subs)
    if out is not None:
        text += "->" + term(out)
    return text, ops


def _einsum_parse(subscripts, shapes):
    """Spell out numpy's subscripts: (inputs, output, {label: size}); ellipses become fresh
    labels (right-aligned across operands), the implicit output is made explicit."""
    s = subscripts.replace(" ", "")
    if s.count("->") > 1 or ("-" in s.replace("->", "")) or (">" in s.replace("->", "")):
        raise ValueError(f"pyad.einsum: subscripts {subscripts!r} have a stray '-' or '>'; "
                         f"use 'ij,jk->ik' form")
    lhs, arrow, rhs = s.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"pyad.einsum: subscripts {subscripts!r} name {len(terms)} operands "
                         f"but {len(shapes)} were given")
    for t in terms + ([rhs] if arrow else []):
        bare = t.replace("...", "", 1)
        bad = [c for c in bare if c not in _LABELS]
        if bad:
            raise ValueError(f"pyad.einsum: invalid subscript {bad[0]!r} in {subscripts!r}: "
                             f"labels are letters, with at most one '...' per operand")
    ell_dims = []
    for t, shape in zip(terms, shapes):
        n = len(t.replace("...", ""))
        if "..." in t:
            if len(shape) < n:
                raise ValueError(f"pyad.einsum: operand of shape {shape} has fewer dimensions "
                                 f"than the {n} labels of {t!r}")
            ell_dims.append(len(shape) - n)
        else:
            if len(shape) != n:
                raise ValueError(f"pyad.einsum: operand of shape {shape} has {len(shape)} "
                                 f"dimensions but its subscripts {t!r} name {n}; use '...' "
                                 f"for the ones not named")
            ell_dims.append(0)
    used = set(s)
    n_ell = max(ell_dims, default=0)
    ell = "".join(c for _, c in zip(range(n_ell), _fresh_labels(used)))
    if len(ell) < n_ell:
        raise ValueError("pyad.einsum: too many dimensions for 52 labels")
    ins = [t.replace("...", ell[n_ell - k:] if k else "") for t, k in zip(terms, ell_dims)]
    if arrow:
        if "..." in rhs:
            out = rhs.replace("...", ell)
        elif n_ell:
            raise ValueError(f"pyad.einsum: subscripts {subscripts!r}: the operands have "
                             f"'...' dimensions but the output has no '...' to put them in")
        else:
            out = rhs
    else:
        counts = {}
        for t in terms:
            for c in t.replace("...", ""):
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1))
    all_in = set("".join(ins))
    for c in out:
        if c not in all_in:
            raise ValueError(f"pyad.einsum: output label {c!r} of {subscripts!r} appears in "
                             f"no operand")
    if len(set(out)) != len(out):
        raise ValueError(f"pyad.einsum: output subscripts of {subscripts!r} repeat a label")
    sizes = {}
    for sub, shape in zip(ins, shapes):
        own = {}
        for c, n in zip(sub, shape):
            if c in own and own[c] != n:
                raise ValueError(f"pyad.einsum: label {c!r} is repeated in one operand with "
                                 f"different sizes {own[c]} and {n} (shape {shape})")
            own[c] = n
            if sizes.get(c, 1) == 1:
                sizes[c] = n
            elif n not in (1, sizes[c]):
                raise ValueError(f"pyad.einsum: label {c!r} has size {sizes[c]} in one operand "
                                 f"and {n} in another (shapes {list(shapes)}, subscripts "
                                 f"{subscripts!r})")
    return ins, out, sizes


def einsum(*operands: Union[str, ArrayLike, Sequence[int]], out: None = None,
           dtype: Optional[DTypeLike] = None, order: str = "K", casting: str = "safe",
           optimize: object = False) -> Tensor:
    """Einstein summation (numpy.einsum), differentiable in every operand.

    Accepts every subscript form numpy does: explicit ('ij,jk->ik') and implicit ('ij,jk')
    output, ellipses ('...ij,...jk->...ik') with broadcasting, repeated labels (diagonals,
    'ii->i', traces 'ii'), and the interleaved form einsum(a, [0, 1], b, [1, 2], [0, 2]).
    Each operand's cotangent is another einsum; large products go through BLAS.

    Parameters
    ----------
    *operands : str and ArrayLike
        The subscripts then the operands, or operands interleaved with integer sublists.
    out : None
        Not supported (Tensors are immutable).
    dtype : dtype, optional
        Cast the operands to this dtype first.
    order, casting, optimize : optional
        Accepted for compatibility; pyad picks the contraction order itself.

    Returns
    -------
    Tensor
        The contraction, with numpy's shape and promoted dtype.

    Raises
    ------
    ValueError
        If the subscripts do not fit the operands (count, dimensions, sizes or labels).
    TypeError
        If `out` is given.

    Examples
    --------
    >>> a = ad.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> ad.einsum("ij,jk->ik", a, a)
    tensor([[ 7., 10.],
            [15., 22.]])
    >>> ad.einsum("ii", a)
    tensor(5.)
    >>> ad.grad(lambda x: ad.einsum("i,i", x, x))(np.array([1.0, 2.0]))
    array([2., 4.])
    """
    _no_out("einsum", out)
    if not operands:
        raise ValueError("pyad.einsum: no operands given; call einsum('ij,jk->ik', a, b)")
    subscripts, ops = _einsum_operands(operands)
    if not ops:
        raise ValueError(f"pyad.einsum: subscripts {subscripts!r} but no operands")
    ts = [o._t(x) for x in ops]
    if dtype is not None:
        ts = [o.astype(t, dtype) for t in ts]
    ts = _promote_all("einsum", ts)
    ins, out_sub, sizes = _einsum_parse(subscripts, [t.shape for t in ts])
    for i, (t, sub) in enumerate(zip(ts, ins)):
        full = tuple(sizes[c] for c in sub)
        if full != t.shape:          # size-1 dimensions broadcast: make it explicit
            ts[i] = o.broadcast_to(t, full)
    return _einsum_bind(ts, ins, out_sub)


def _axes_list(name, axes, ndim):
    try:
        items = [operator.index(axes)]
    except TypeError:
        items = list(axes)
    return [o._one_axis(name, int(operator.index(v)), ndim) for v in items]


def _tensordot(name, a, b, axes_a, axes_b):
    if len(axes_a) != len(axes_b):
        raise ValueError(f"pyad.{name}: {len(axes_a)} axes of a {axes_a} but {len(axes_b)} "
                         f"of b {axes_b}; give the same number of each")
    if len(set(axes_a)) != len(axes_a) or len(set(axes_b)) != len(axes_b):
        raise ValueError(f"pyad.{name}: repeated axis in {axes_a} or {axes_b}")
    for i, j in zip(axes_a, axes_b):
        if a.shape[i] != b.shape[j]:
            raise ValueError(f"pyad.{name}: shapes {a.shape} and {b.shape} are not aligned: "
                             f"axis {i} of a has size {a.shape[i]} but axis {j} of b has "
                             f"size {b.shape[j]}")
    free_a = [i for i in range(a.ndim) if i not in axes_a]
    free_b = [j for j in range(b.ndim) if j not in axes_b]
    m = math.prod(a.shape[i] for i in free_a)
    k = math.prod(a.shape[i] for i in axes_a)
    n = math.prod(b.shape[j] for j in free_b)
    a2 = o.reshape(o.transpose(a, tuple(free_a + axes_a)), (m, k))
    b2 = o.reshape(o.transpose(b, tuple(axes_b + free_b)), (k, n))
    return o.reshape(o.matmul(a2, b2),
                     tuple(a.shape[i] for i in free_a) + tuple(b.shape[j] for j in free_b))


def tensordot(a: ArrayLike, b: ArrayLike, axes: Union[int, Sequence] = 2) -> Tensor:
    """Sum of products over the given axes (numpy.tensordot), as one matrix product.

    Parameters
    ----------
    a, b : ArrayLike
        The operands.
    axes : int or (sequence, sequence)
        N: the last N axes of a with the first N of b; or a pair of axis lists (or ints),
        the first for a, the second for b.

    Returns
    -------
    Tensor
        Shape: a's remaining axes then b's.

    Raises
    ------
    ValueError
        If the summed axes differ in number or size.

    Examples
    --------
    >>> a = ad.tensor(np.arange(6.0).reshape(1, 2, 3))
    >>> ad.tensordot(a, np.ones((3, 2)), axes=1).shape
    (1, 2, 2)
    >>> ad.tensordot(a, np.ones((2, 1)), axes=([1], [0]))
    tensor([[[3.],
             [5.],
             [7.]]])
    """
    a, b = o._promote("tensordot", o._t(a), o._t(b))
    try:
        n = operator.index(axes)
    except TypeError:
        n = None
    if n is not None:
        if n < 0 or n > a.ndim or n > b.ndim:
            raise ValueError(f"pyad.tensordot: axes={n} but the operands have shapes {a.shape} "
                             f"and {b.shape}; give 0 <= axes <= min(a.ndim, b.ndim)")
        axes_a, axes_b = list(range(a.ndim - n, a.ndim)), list(range(n))
    else:
        if len(axes) != 2:
            raise ValueError(f"pyad.tensordot: axes must be an int or a pair of axis lists, "
                             f"got {axes!r}")
        axes_a = _axes_list("tensordot", axes[0], a.ndim)
        axes_b = _axes_list("tensordot", axes[1], b.ndim)
    return _tensordot("tensordot", a, b, axes_a, axes_b)


def _dot_nd(a, b):
    """numpy.dot with an operand of more than 2 dimensions: a's last axis with b's
    second-to-last (its only axis when b is 1-D). Called by pyad.ops.core.dot."""
    a, b = o._promote("dot", o._t(a), o._t(b))
    axis_b = b.ndim - 2 if b.ndim >= 2 else 0
    return _tensordot("dot", a, b, [a.ndim - 1], [axis_b])


def inner(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Inner product over the last axes (numpy.inner); a product when one is a scalar.

    Parameters
    ----------
    a, b : ArrayLike
        The operands; their last axes must have the same size.

    Returns
    -------
    Tensor
        Shape a.shape[:-1] + b.shape[:-1].

    Raises
    ------
    ValueError
        If the last axes differ in size.

    Examples
    --------
    >>> ad.inner(ad.tensor([1.0, 2.0, 3.0]), [0.0, 1.0, 0.5])
    tensor(3.5)
    """
    a, b = o._promote("inner", o._t(a), o._t(b))
    if a.ndim == 0 or b.ndim == 0:
        return o.multiply(a, b)
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"pyad.inner: the last axes of shapes {a.shape} and {b.shape} differ "
                         f"in size ({a.shape[-1]} != {b.shape[-1]})")
    return _tensordot("inner", a, b, [a.ndim - 1], [b.ndim - 1])


def outer(a: ArrayLike, b: ArrayLike, out: None = None) -> Tensor:
    """Outer product of two vectors (numpy.outer; inputs are flattened).

    Parameters
    ----------
    a, b : ArrayLike
        The operands (any shape: flattened).
    out : None
        Not supported (Tensors are immutable).

    Returns
    -------
    Tensor
        out[i, j] = a[i] * b[j], shape (a.size, b.size).

    Raises
    ------
    TypeError
        If `out` is given.

    Examples
    --------
    >>> ad.outer(ad.tensor([1.0, 2.0]), [1.0, 10.0, 100.0])
    tensor([[  1.,  10., 100.],
            [  2.,  20., 200.]])
    """
    _no_out("outer", out)
    return o.multiply(o.reshape(o._t(a), (-1, 1)), o.reshape(o._t(b), (1, -1)))


def kron(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Kronecker product (numpy.kron): blocks a[i, j] * b.

    Parameters
    ----------
    a, b : ArrayLike
        The operands; the one with fewer dimensions gets leading ones.

    Returns
    -------
    Tensor
        Shape a.shape[k] * b.shape[k] along each axis k.

    Examples
    --------
    >>> ad.kron(ad.tensor([1.0, 10.0]), [1.0, 2.0])
    tensor([ 1.,  2., 10., 20.])
    """
    a, b = o._t(a), o._t(b)
    nd = max(a.ndim, b.ndim)
    sa = (1,) * (nd - a.ndim) + a.shape
    sb = (1,) * (nd - b.ndim) + b.shape
    left = o.reshape(a, tuple(v for n in sa for v in (n, 1)))
    right = o.reshape(b, tuple(v for n in sb for v in (1, n)))
    return o.reshape(o.multiply(left, right), tuple(m * n for m, n in zip(sa, sb)))


def cross(a: ArrayLike, b: ArrayLike, axisa: int = -1, axisb: int = -1, axisc: int = -1,
          axis: Optional[int] = None) -> Tensor:
    """Cross product of 3-vectors (numpy.cross; 2-vectors too, deprecated as in numpy).

    Parameters
    ----------
    a, b : ArrayLike
        Arrays of vectors along axisa / axisb (their other axes broadcast).
    axisa, axisb, axisc : int
        The vector axis of a, of b and of the result.
    axis : int, optional
        Overrides all three.

    Returns
    -------
    Tensor
        The cross products (for two 2-vectors, the z component only).

    Raises
    ------
    ValueError
        If a vector axis has a length other than 2 or 3, or the others do not broadcast.

    Examples
    --------
    >>> ad.cross(ad.tensor([1.0, 0.0, 0.0]), [0.0, 1.0, 0.0])
    tensor([0., 0., 1.])
    """
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = o._promote("cross", o._t(a), o._t(b))
    a = moveaxis(a, o._one_axis("cross", axisa, a.ndim), -1)
    b = moveaxis(b, o._one_axis("cross", axisb, b.ndim), -1)
    na, nb = a.shape[-1], b.shape[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError(f"pyad.cross: incompatible dimensions for cross product: vectors of "
                         f"length {na} and {nb} (shapes {a.shape}, {b.shape}); they must be "
                         f"2 or 3")
    try:
        np.broadcast_shapes(a.shape[:-1], b.shape[:-1])
    except ValueError:
        raise ValueError(f"pyad.cross: shapes {a.shape[:-1]} and {b.shape[:-1]} (outside the "
                         f"vector axes) do not broadcast") from None
    if na == 2 or nb == 2:
        warnings.warn("Arrays of 2-dimensional vectors are deprecated. Use arrays of "
                      "3-dimensional vectors instead. (deprecated in NumPy 2.0)",
                      DeprecationWarning, stacklevel=2)
    a0, a1 = a[..., 0], a[..., 1]
    b0, b1 = b[..., 0], b[..., 1]
    c2 = a0 * b1 - a1 * b0
    if na == 2 and nb == 2:
        return c2
    if na == 3 and nb == 3:
        a2, b2 = a[..., 2], b[..., 2]
        c0, c1 = a1 * b2 - a2 * b1, a2 * b0 - a0 * b2
    elif na == 2:
        b2 = b[..., 2]
        c0, c1 = a1 * b2, -(a0 * b2)
    else:
        a2 = a[..., 2]
        c0, c1 = -(a2 * b1), a2 * b0
    shape = c2.shape
    cp = o.stack([o.broadcast_to(c, shape) for c in (c0, c1, c2)], axis=-1)
    return moveaxis(cp, -1, o._one_axis("cross", axisc, cp.ndim))


# =========================================================================== diagonals
def _diag_axes(name, x, axis1, axis2):
    if x.ndim < 2:
        raise ValueError(f"pyad.{name}: needs an array of at least 2 dimensions, got shape "
                         f"{x.shape}")
    a1, a2 = o._one_axis(name, axis1, x.ndim), o._one_axis(name, axis2, x.ndim)
    if a1 == a2:
        raise ValueError(f"pyad.{name}: axis1 and axis2 cannot be the same axis ({axis1}, "
                         f"{axis2})")
    return a1, a2


def diagonal(a: ArrayLike, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """The diagonal of the (axis1, axis2) planes (numpy.diagonal), as a new Tensor.

    Parameters
    ----------
    a : ArrayLike
        At least 2-D.
    offset : int
        Diagonal offset: a[i, i + offset] (negative: below the main diagonal).
    axis1, axis2 : int
        The two axes the diagonal runs along.

    Returns
    -------
    Tensor
        The remaining axes, then the diagonal as the last axis.

    Raises
    ------
    ValueError
        If `a` has fewer than 2 dimensions or axis1 == axis2.

    Examples
    --------
    >>> x = ad.tensor(np.arange(9.0).reshape(3, 3))
    >>> ad.diagonal(x)
    tensor([0., 4., 8.])
    >>> ad.diagonal(x, offset=-1)
    tensor([3., 7.])
    """
    x = o._t(a)
    a1, a2 = _diag_axes("diagonal", x, axis1, axis2)
    return bind(diagonal_p, x, params=(operator.index(offset), a1, a2))


def trace(a: ArrayLike, offset: int = 0, axis1: int = 0, axis2: int = 1,
          dtype: Optional[DTypeLike] = None, out: None = None) -> Tensor:
    """Sum along a diagonal (numpy.trace).

    Parameters
    ----------
    a : ArrayLike
        At least 2-D.
    offset : int
        Diagonal offset (see diagonal).
    axis1, axis2 : int
        The axes of the 2-D planes whose diagonals are summed.
    dtype : dtype, optional
        Cast the input to this dtype first.
    out : None
        Not supported (Tensors are immutable).

    Returns
    -------
    Tensor
        The traces, one per plane (0-d for a matrix).

    Raises
    ------
    TypeError
        If `out` is given.

    Examples
    --------
    >>> ad.trace(ad.tensor([[1.0, 2.0], [3.0, 4.0]]))
    tensor(5.)
    """
    _no_out("trace", out)
    x = o._t(a)
    if dtype is not None:
        x = o.astype(x, dtype)
    return o.sum(diagonal(x, offset, axis1, axis2), axis=-1)


def diag(v: ArrayLike, k: int = 0) -> Tensor:
    """A diagonal matrix from a vector, or a matrix's diagonal (numpy.diag).

    Parameters
    ----------
    v : ArrayLike
        1-D: placed on diagonal k of a square matrix; 2-D: its diagonal k is returned.
    k : int
        The diagonal (0 main, > 0 above, < 0 below).

    Returns
    -------
    Tensor
        A matrix of size len(v) + |k|, or the diagonal.

    Raises
    ------
    ValueError
        If `v` is neither 1-D nor 2-D.

    Examples
    --------
    >>> ad.diag(ad.tensor([1.0, 2.0]))
    tensor([[1., 0.],
            [0., 2.]])
    >>> ad.diag(ad.tensor([[1.0, 2.0], [3.0, 4.0]]), k=1)
    tensor([2.])
    """
    x = o._t(v)
    k = operator.index(k)
    if x.ndim == 1:
        n = x.shape[0] + abs(k)
        return bind(diagonal_embed_p, x, params=((n, n), k, 0, 1))
    if x.ndim == 2:
        return diagonal(x, k)
    raise ValueError(f"pyad.diag: input must be 1-D or 2-D, got shape {x.shape}; use "
                     f"diagonal() for higher dimensions")


def diagflat(v: ArrayLike, k: int = 0) -> Tensor:
    """A 2-D array with the flattened input on diagonal k (numpy.diagflat).

    Parameters
    ----------
    v : ArrayLike
        Flattened first.
    k : int
        The diagonal (0 main, > 0 above, < 0 below).

    Returns
    -------
    Tensor
        Square, of size v.size + |k|.

    Examples
    --------
    >>> ad.diagflat(ad.tensor([[1.0, 2.0]]), k=-1)
    tensor([[0., 0., 0.],
            [1., 0., 0.],
            [0., 2., 0.]])
    """
    return diag(o.reshape(o._t(v), (-1,)), k)


def _triangle(name, m, k, lower):
    x = o._t(m)
    if x.ndim == 0:
        raise ValueError(f"pyad.{name}: needs an array of at least 1 dimension, got a scalar")
    rows, cols = (x.shape[-2], x.shape[-1]) if x.ndim >= 2 else (x.shape[0], x.shape[0])
    k = operator.index(k)
    mask = np.tri(rows, cols, k, dtype=bool) if lower else ~np.tri(rows, cols, k - 1,
                                                                   dtype=bool)
    return o.where(backend.to_backend(mask, like=x.data), x, 0)


def tril(m: ArrayLike, k: int = 0) -> Tensor:
    """Lower triangle of the last two axes (numpy.tril): zeros above diagonal k.

    Parameters
    ----------
    m : ArrayLike
        At least 1-D (a 1-D input is broadcast to a square matrix, as numpy does).
    k : int
        The diagonal above which to zero (0 main, > 0 above, < 0 below).

    Returns
    -------
    Tensor
        The input's shape (square for 1-D input) and dtype.

    Examples
    --------
    >>> ad.tril(ad.tensor([[1.0, 2.0], [3.0, 4.0]]))
    tensor([[1., 0.],
            [3., 4.]])
    """
    return _triangle("tril", m, k, True)


def triu(m: ArrayLike, k: int = 0) -> Tensor:
    """Upper triangle of the last two axes (numpy.triu): zeros below diagonal k.

    Parameters
    ----------
    m : ArrayLike
        At least 1-D (a 1-D input is broadcast to a square matrix, as numpy does).
    k : int
        The diagonal below which to zero (0 main, > 0 above, < 0 below).

    Returns
    -------
    Tensor
        The input's shape (square for 1-D input) and dtype.

    Examples
    --------
    >>> ad.triu(ad.tensor([[1.0, 2.0], [3.0, 4.0]]), k=1)
    tensor([[0., 2.],
            [0., 0.]])
    """
    return _triangle("triu", m, k, False)


# =========================================================================== rearranging
def tile(A: ArrayLike, reps: Union[int, Sequence[int]]) -> Tensor:
    """Repeat the whole array along each axis (numpy.tile).

    Parameters
    ----------
    A : ArrayLike
        Input array.
    reps : int or sequence of ints
        Repetitions per axis (the shorter of A's shape and reps gets leading ones).

    Returns
    -------
    Tensor
        Shape reps[k] * A.shape[k] along each axis.

    Raises
    ------
    ValueError
        If a repetition count is negative.

    Examples
    --------
    >>> ad.tile(ad.tensor([1.0, 2.0]), (2, 2))
    tensor([[1., 2., 1., 2.],
            [1., 2., 1., 2.]])
    """
    x = o._t(A)
    reps = _int_list("tile", "reps", reps)
    if any(r < 0 for r in reps):
        raise ValueError(f"pyad.tile: negative repetitions {reps}")
    d = max(len(reps), x.ndim)
    shape = (1,) * (d - x.ndim) + x.shape
    reps = (1,) * (d - len(reps)) + reps
    y = o.reshape(x, tuple(v for n in shape for v in (1, n)))
    y = o.broadcast_to(y, tuple(v for r, n in zip(reps, shape) for v in (r, n)))
    return o.reshape(y, tuple(r * n for r, n in zip(reps, shape)))


def repeat(a: ArrayLike, repeats: Union[int, ArrayLike], axis: Optional[int] = None) -> Tensor:
    """Repeat each element (numpy.repeat); the gradient sums over the copies.

    Parameters
    ----------
    a : ArrayLike
        Input array.
    repeats : int or array of ints
        Copies of every element, or one count per element along the axis.
    axis : int, optional
        The axis to repeat along; None flattens the input first.

    Returns
    -------
    Tensor
        The input with its elements repeated along the axis.

    Raises
    ------
    TypeError
        If `repeats` is not integral.
    ValueError
        If a count is negative or there is not one count per element.

    Examples
    --------
    >>> ad.repeat(ad.tensor([1.0, 2.0]), 2)
    tensor([1., 1., 2., 2.])
    >>> ad.repeat(ad.tensor([[1.0, 2.0]]), [1, 3], axis=1)
    tensor([[1., 2., 2., 2.]])
    """
    x = o._t(a)
    if axis is None:
        x, ax = o.reshape(x, (-1,)), 0
    else:
        ax = o._one_axis("repeat", axis, x.ndim)
    # counts are parameters (they decide the shape): read on the host
    r = backend.to_host(repeats.data if isinstance(repeats, Tensor) else repeats)
    if r.dtype.kind not in "iub":
        raise TypeError(f"pyad.repeat: repeats must be integers, got dtype {r.dtype}")
    if r.size and r.min() < 0:
        raise ValueError(f"pyad.repeat: negative repeat count {int(r.min())}")
    n = x.shape[ax]
    if r.size == 1 and r.ndim <= 1:
        k = int(r.reshape(()))
        shape = x.shape
        y = o.reshape(x, shape[:ax + 1] + (1,) + shape[ax + 1:])
        y = o.broadcast_to(y, shape[:ax + 1] + (k,) + shape[ax + 1:])
        return o.reshape(y, shape[:ax] + (n * k,) + shape[ax + 1:])
    if r.ndim != 1 or r.size != n:
        raise ValueError(f"pyad.repeat: {r.size} repeat counts of shape {r.shape} for an axis "
                         f"of length {n} (array shape {x.shape}); give one count or one per "
                         f"element")
    return o.getitem(x, _along(ax, x.ndim, np.repeat(np.arange(n), r)))


def flip(m: ArrayLike, axis: Axis = None) -> Tensor:
    """Reverse the order of elements along the given axes (numpy.flip).

    Parameters
    ----------
    m : ArrayLike
        Input array.
    axis : None, int or tuple of ints
        Axes to reverse (all when None).

    Returns
    -------
    Tensor
        The input, reversed.

    Examples
    --------
    >>> ad.flip(ad.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=1)
    tensor([[2., 1.],
            [4., 3.]])
    """
    x = o._t(m)
    axes = o._axes("flip", axis, x.ndim)
    if not axes:
        return x
    return o.getitem(x, tuple(slice(None, None, -1) if i in axes else slice(None)
                              for i in range(x.ndim)))


def fliplr(m: ArrayLike) -> Tensor:
    """Reverse the columns, axis 1 (numpy.fliplr).

    Parameters
    ----------
    m : ArrayLike
        At least 2-D.

    Returns
    -------
    Tensor
        The input with axis 1 reversed.

    Raises
    ------
    ValueError
        If the input has fewer than 2 dimensions.

    Examples
    --------
    >>> ad.fliplr(ad.tensor([[1.0, 2.0, 3.0]]))
    tensor([[3., 2., 1.]])
    """
    x = o._t(m)
    if x.ndim < 2:
        raise ValueError(f"pyad.fliplr: needs at least 2 dimensions, got shape {x.shape}")
    return flip(x, 1)


def flipud(m: ArrayLike) -> Tensor:
    """Reverse the rows, axis 0 (numpy.flipud).

    Parameters
    ----------
    m : ArrayLike
        At least 1-D.

    Returns
    -------
    Tensor
        The input with axis 0 reversed.

    Raises
    ------
    ValueError
        If the input is 0-d.

    Examples
    --------
    >>> ad.flipud(ad.tensor([1.0, 2.0, 3.0]))
    tensor([3., 2., 1.])
    """
    x = o._t(m)
    if x.ndim < 1:
        raise ValueError("pyad.flipud: needs at least 1 dimension, got a scalar")
    return flip(x, 0)


def roll(a: ArrayLike, shift: Union[int, Sequence[int]], axis: Axis = None) -> Tensor:
    """Roll elements along axes; those leaving one end come back at the other (numpy.roll).

    Parameters
    ----------
    a : ArrayLike
        Input array.
    shift : int or sequence of ints
        Places to shift by (negative: backwards); one per axis, or one for all.
    axis : None, int or tuple of ints
        Axes to roll along; None rolls the flattened array.

    Returns
    -------
    Tensor
        The input's shape.

    Raises
    ------
    ValueError
        If shift and axis do not broadcast as scalars or 1-D sequences.

    Examples
    --------
    >>> ad.roll(ad.tensor([1.0, 2.0, 3.0, 4.0]), 1)
    tensor([4., 1., 2., 3.])
    """
    x = o._t(a)
    if axis is None:
        return o.reshape(roll(o.reshape(x, (-1,)), shift, 0), x.shape)
    try:
        shifts, axes = np.broadcast_arrays(np.asarray(shift), np.asarray(axis))
    except ValueError:
        raise ValueError(f"pyad.roll: shift {shift!r} and axis {axis!r} do not broadcast") \
            from None
    if shifts.ndim > 1:
        raise ValueError("pyad.roll: 'shift' and 'axis' should be scalars or 1-D sequences")
    totals = {}
    for s, ax in zip(shifts.ravel(), axes.ravel()):
        ax = o._one_axis("roll", int(ax), x.ndim)
        totals[ax] = totals.get(ax, 0) + operator.index(s)
    for ax, s in totals.items():
        n = x.shape[ax]
        if n == 0 or s % n == 0:
            continue
        cut = n - s % n
        x = o.concatenate([o.getitem(x, _along(ax, x.ndim, slice(cut, None))),
                           o.getitem(x, _along(ax, x.ndim, slice(None, cut)))], axis=ax)
    return x


def rot90(m: ArrayLike, k: int = 1, axes: Tuple[int, int] = (0, 1)) -> Tensor:
    """Rotate by 90 degrees k times in the plane of `axes` (numpy.rot90).

    Parameters
    ----------
    m : ArrayLike
        At least 2-D.
    k : int
        Number of quarter turns, from the first axis towards the second.
    axes : (int, int)
        The plane of rotation: two different axes.

    Returns
    -------
    Tensor
        The rotated array.

    Raises
    ------
    ValueError
        If `axes` is not two different axes of `m`.

    Examples
    --------
    >>> ad.rot90(ad.tensor([[1.0, 2.0], [3.0, 4.0]]))
    tensor([[2., 4.],
            [1., 3.]])
    """
    x = o._t(m)
    axes = tuple(axes)
    if len(axes) != 2:
        raise ValueError(f"pyad.rot90: axes must name 2 axes, got {axes}")
    if x.ndim < 2:
        raise ValueError(f"pyad.rot90: needs at least 2 dimensions, got shape {x.shape}")
    a0, a1 = o._one_axis("rot90", axes[0], x.ndim), o._one_axis("rot90", axes[1], x.ndim)
    if a0 == a1:
        raise ValueError(f"pyad.rot90: axes {axes} name the same axis twice")
    k = operator.index(k) % 4
    if k == 0:
        return x
    if k == 2:
        return flip(x, (a0, a1))
    perm = list(range(x.ndim))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return o.transpose(flip(x, a1), tuple(perm))
    return flip(o.transpose(x, tuple(perm)), a1)


def _crop(g, ans, x, widths, value):
    """The cotangent of a constant pad: the padded cotangent's middle, where x went."""
    return g[tuple(slice(a, a + n) for n, (a, _) in zip(x.shape, widths))]


# pad(x; widths, value): x in the middle of a constant-filled array, in one pass; affine in x,
# so its tangent is the tangent padded with zeros
_PAD = defprim("pad", _crop, jvp=lambda dots, ans, x, widths, value:
               bind(_PAD, dots[0], params=(widths, 0)), lift=LOOP)
_PAD.complex_ok = True
# one_hot(labels; num_classes): int64 indicators along a new last axis (PyTorch's one_hot)
_ONE_HOT = defprim("one_hot", nondiff=True)


_PAD_MODES = {"constant": {"constant_values"}, "edge": set(), "reflect": {"reflect_type"},
              "symmetric": {"reflect_type"}, "wrap": set()}


def _pairs(name, what, value, ndim, integral):
    arr = np.asarray(value)
    if integral and arr.dtype.kind not in "iu":
        raise TypeError(f"pyad.{name}: {what} must be of integral type, got {value!r}")
    try:
        pairs = np.broadcast_to(arr, (ndim, 2))
    except ValueError:
        raise ValueError(f"pyad.{name}: {what} {value!r} does not fit an array of {ndim} "
                         f"dimensions; give one value, a (before, after) pair, or one pair "
                         f"per axis") from None
    if integral and (pairs < 0).any():
        raise ValueError(f"pyad.{name}: {what} {value!r} contains negative values")
    return pairs


def pad(array: ArrayLike, pad_width: Union[int, Sequence], mode: str = "constant",
        **kwargs: object) -> Tensor:
    """Pad an array (numpy.pad): modes 'constant', 'edge', 'reflect', 'symmetric', 'wrap'.

    The gradient of the padded-by-copying modes sums the copies back onto their source.

    Parameters
    ----------
    array : ArrayLike
        Input array.
    pad_width : int or sequence
        (before, after) widths: one int for all, one pair for all axes, or a pair per axis.
    mode : str
        'constant' (constant_values=0), 'edge', 'reflect', 'symmetric' (reflect_type='even'
        only) or 'wrap'.
    **kwargs
        constant_values for 'constant' (not differentiable), reflect_type for the
        reflections.

    Returns
    -------
    Tensor
        The padded array, of the input's dtype.

    Raises
    ------
    ValueError
        For another mode, an unsupported keyword, or a width that does not fit.
    TypeError
        If pad_width is not integral.

    Examples
    --------
    >>> ad.pad(ad.tensor([1.0, 2.0]), (1, 2))
    tensor([0., 1., 2., 0., 0.])
    >>> ad.pad(ad.tensor([1.0, 2.0]), 1, mode="edge")
    tensor([1., 1., 2., 2.])
    """
    x = o._t(array)
    if mode not in _PAD_MODES:
        raise ValueError(f"pyad.pad: mode {mode!r} is not supported; use one of "
                         f"{sorted(_PAD_MODES)}")
    unknown = set(kwargs) - _PAD_MODES[mode]
    if unknown:
        raise ValueError(f"pyad.pad: unsupported keyword arguments for mode {mode!r}: "
                         f"{sorted(unknown)}")
    widths = _pairs("pad", "pad_width", pad_width, x.ndim, True)
    if mode == "constant":
        values = _pairs("pad", "constant_values", kwargs.get("constant_values", 0), x.ndim,
                        False)
        if np.all(values == values.flat[0]):          # one fill value: the one-pass row
            widths = tuple((int(a), int(b)) for a, b in widths)
            return bind(_PAD, x, params=(widths, values.flat[0].item()))
        for ax in range(x.ndim):
            parts = []
            for side, w in enumerate(widths[ax]):
                if w:
                    shape = x.shape[:ax] + (int(w),) + x.shape[ax + 1:]
                    parts.append(_full(shape, values[ax][side].item(), x.dtype, x.data))
                else:
                    parts.append(None)
            if parts[0] is None and parts[1] is None:
                continue
            x = o.concatenate([p for p in (parts[0], x, parts[1]) if p is not None], axis=ax)
        return x
    if kwargs.get("reflect_type", "even") != "even":
        raise ValueError(f"pyad.pad: reflect_type={kwargs['reflect_type']!r} is not supported; "
                         f"use 'even'")
    for ax in range(x.ndim):
        before, after = (int(w) for w in widths[ax])
        if not before and not after:
            continue
        n = x.shape[ax]
        if n == 0:
            raise ValueError(f"pyad.pad: can't extend empty axis {ax} (shape {x.shape}) using "
                             f"mode {mode!r}; use mode='constant'")
        idx = np.pad(np.arange(n), (before, after), mode=mode)
        x = o.getitem(x, _along(ax, x.ndim, idx))
    return x


# =========================================================================== stacking
def _sequence(name, tup):
    if not hasattr(tup, "__iter__"):
        raise TypeError(f"pyad.{name}: expects a sequence of arrays, got "
                        f"{type(tup).__name__}")
    ts = [o._t(t) for t in tup]
    if not ts:
        raise ValueError(f"pyad.{name}: need at least one array to stack")
    return ts


def _cast(ts, dtype):
    return ts if dtype is None else [o.astype(t, dtype) for t in ts]


def hstack(tup: Sequence[ArrayLike], *, dtype: Optional[DTypeLike] = None,
           casting: str = "same_kind") -> Tensor:
    """Stack arrays horizontally: along axis 1, or axis 0 for 1-D ones (numpy.hstack).

    Parameters
    ----------
    tup : sequence of ArrayLike
        The arrays.
    dtype : dtype, optional
        Cast them to this dtype first.
    casting : str
        Accepted for compatibility.

    Returns
    -------
    Tensor
        The concatenation.

    Examples
    --------
    >>> ad.hstack([ad.tensor([1.0, 2.0]), [3.0]])
    tensor([1., 2., 3.])
    """
    ts = _cast([atleast_1d(t) for t in _sequence("hstack", tup)], dtype)
    return o.concatenate(ts, axis=0 if ts[0].ndim == 1 else 1)


def vstack(tup: Sequence[ArrayLike], *, dtype: Optional[DTypeLike] = None,
           casting: str = "same_kind") -> Tensor:
    """Stack arrays vertically, along axis 0 after making them 2-D (numpy.vstack).

    Parameters
    ----------
    tup : sequence of ArrayLike
        The arrays (1-D ones become rows).
    dtype : dtype, optional
        Cast them to this dtype first.
    casting : str
        Accepted for compatibility.

    Returns
    -------
    Tensor
        The concatenation, at least 2-D.

    Examples
    --------
    >>> ad.vstack([ad.tensor([1.0, 2.0]), [3.0, 4.0]])
    tensor([[1., 2.],
            [3., 4.]])
    """
    ts = _cast([atleast_2d(t) for t in _sequence("vstack", tup)], dtype)
    return o.concatenate(ts, axis=0)


def row_stack(tup: Sequence[ArrayLike], *, dtype: Optional[DTypeLike] = None,
              casting: str = "same_kind") -> Tensor:
    """The same as vstack (numpy.row_stack, an alias numpy deprecates).

    Parameters
    ----------
    tup : sequence of ArrayLike
        The arrays (1-D ones become rows).
    dtype : dtype, optional
        Cast them to this dtype first.
    casting : str
        Accepted for compatibility.

    Returns
    -------
    Tensor
        The concatenation, at least 2-D.

    Examples
    --------
    >>> ad.row_stack([[1.0], [2.0]]).shape
    (2, 1)
    """
    return vstack(tup, dtype=dtype, casting=casting)


def dstack(tup: Sequence[ArrayLike]) -> Tensor:
    """Stack arrays along axis 2 after making them 3-D (numpy.dstack).

    Parameters
    ----------
    tup : sequence of ArrayLike
        The arrays ((n,) becomes (1, n, 1), (m, n) becomes (m, n, 1)).

    Returns
    -------
    Tensor
        The concatenation, at least 3-D.

    Examples
    --------
    >>> ad.dstack([ad.tensor([1.0, 2.0]), [3.0, 4.0]])
    tensor([[[1., 3.],
             [2., 4.]]])
    """
    return o.concatenate([atleast_3d(t) for t in _sequence("dstack", tup)], axis=2)


def column_stack(tup: Sequence[ArrayLike]) -> Tensor:
    """Stack 1-D arrays as columns of a 2-D array (numpy.column_stack).

    Parameters
    ----------
    tup : sequence of ArrayLike
        1-D arrays become columns; 2-D ones are stacked as they are.

    Returns
    -------
    Tensor
        The 2-D concatenation along axis 1.

    Examples
    --------
    >>> ad.column_stack([ad.tensor([1.0, 2.0]), [3.0, 4.0]])
    tensor([[1., 3.],
            [2., 4.]])
    """
    ts = []
    for t in _sequence("column_stack", tup):
        if t.ndim < 2:
            t = o.reshape(t, (-1, 1))
        ts.append(t)
    return o.concatenate(ts, axis=1)


def _split(name, ary, indices_or_sections, axis, equal):
    x = o._t(ary)
    ax = o._one_axis(name, axis, x.ndim)
    n = x.shape[ax]
    if np.ndim(indices_or_sections):
        cuts = [0] + [operator.index(i) for i in indices_or_sections] + [n]
    else:
        sections = operator.index(indices_or_sections)
        if sections <= 0:
            raise ValueError(f"pyad.{name}: number of sections must be larger than 0, got "
                             f"{sections}")
        if equal and n % sections:
            raise ValueError(f"pyad.{name}: array split does not result in an equal division: "
                             f"axis {ax} of length {n} into {sections} sections; use "
                             f"array_split for unequal parts")
        each, extra = divmod(n, sections)
        sizes = [each + 1] * extra + [each] * (sections - extra)
        cuts = [0]
        for s in sizes:
            cuts.append(cuts[-1] + s)
    return [o.getitem(x, _along(ax, x.ndim, slice(lo, hi))) for lo, hi in zip(cuts, cuts[1:])]


def split(ary: ArrayLike, indices_or_sections: Union[int, Sequence[int]],
          axis: int = 0) -> List[Tensor]:
    """Split into equal sections, or at the given indices (numpy.split).

    Parameters
    ----------
    ary : ArrayLike
        Input array.
    indices_or_sections : int or sequence of ints
        N equal sections, or the indices along the axis where to cut.
    axis : int
        The axis to split along.

    Returns
    -------
    list of Tensor
        The pieces.

    Raises
    ------
    ValueError
        If N sections do not divide the axis equally.

    Examples
    --------
    >>> ad.split(ad.tensor([1.0, 2.0, 3.0, 4.0]), 2)
    [tensor([1., 2.]), tensor([3., 4.])]
    >>> [p.shape for p in ad.split(ad.tensor(np.zeros((2, 5))), [1, 3], axis=1)]
    [(2, 1), (2, 2), (2, 2)]
    """
    return _split("split", ary, indices_or_sections, axis, True)


def array_split(ary: ArrayLike, indices_or_sections: Union[int, Sequence[int]],
                axis: int = 0) -> List[Tensor]:
    """Split into sections that may differ in size by one (numpy.array_split).

    Parameters
    ----------
    ary : ArrayLike
        Input array.
    indices_or_sections : int or sequence of ints
        N sections (the first n % N one longer), or the indices where to cut.
    axis : int
        The axis to split along.

    Returns
    -------
    list of Tensor
        The pieces.

    Examples
    --------
    >>> [p.shape for p in ad.array_split(ad.tensor(np.zeros(5)), 3)]
    [(2,), (2,), (1,)]
    """
    return _split("array_split", ary, indices_or_sections, axis, False)


def hsplit(ary: ArrayLike, indices_or_sections: Union[int, Sequence[int]]) -> List[Tensor]:
    """Split along axis 1, or axis 0 for 1-D arrays (numpy.hsplit).

    Parameters
    ----------
    ary : ArrayLike
        At least 1-D.
    indices_or_sections : int or sequence of ints
        N equal sections, or the indices where to cut.

    Returns
    -------
    list of Tensor
        The pieces.

    Raises
    ------
    ValueError
        If the input is 0-d.

    Examples
    --------
    >>> [p.shape for p in ad.hsplit(ad.tensor(np.zeros((2, 4))), 2)]
    [(2, 2), (2, 2)]
    """
    x = o._t(ary)
    if x.ndim == 0:
        raise ValueError("pyad.hsplit: only works on arrays of 1 or more dimensions")
    return _split("hsplit", x, indices_or_sections, 1 if x.ndim > 1 else 0, True)


def vsplit(ary: ArrayLike, indices_or_sections: Union[int, Sequence[int]]) -> List[Tensor]:
    """Split along axis 0 (numpy.vsplit).

    Parameters
    ----------
    ary : ArrayLike
        At least 2-D.
    indices_or_sections : int or sequence of ints
        N equal sections, or the indices where to cut.

    Returns
    -------
    list of Tensor
        The pieces.

    Raises
    ------
    ValueError
        If the input has fewer than 2 dimensions.

    Examples
    --------
    >>> [p.shape for p in ad.vsplit(ad.tensor(np.zeros((4, 2))), [1])]
    [(1, 2), (3, 2)]
    """
    x = o._t(ary)
    if x.ndim < 2:
        raise ValueError(f"pyad.vsplit: only works on arrays of 2 or more dimensions, got "
                         f"shape {x.shape}")
    return _split("vsplit", x, indices_or_sections, 0, True)


def dsplit(ary: ArrayLike, indices_or_sections: Union[int, Sequence[int]]) -> List[Tensor]:
    """Split along axis 2 (numpy.dsplit).

    Parameters
    ----------
    ary : ArrayLike
        At least 3-D.
    indices_or_sections : int or sequence of ints
        N equal sections, or the indices where to cut.

    Returns
    -------
    list of Tensor
        The pieces.

    Raises
    ------
    ValueError
        If the input has fewer than 3 dimensions.

    Examples
    --------
    >>> [p.shape for p in ad.dsplit(ad.tensor(np.zeros((1, 1, 4))), 2)]
    [(1, 1, 2), (1, 1, 2)]
    """
    x = o._t(ary)
    if x.ndim < 3:
        raise ValueError(f"pyad.dsplit: only works on arrays of 3 or more dimensions, got "
                         f"shape {x.shape}")
    return _split("dsplit", x, indices_or_sections, 2, True)


def append(arr: ArrayLike, values: ArrayLike, axis: Optional[int] = None) -> Tensor:
    """Append values at the end (numpy.append): both flattened when axis is None.

    Parameters
    ----------
    arr : ArrayLike
        The array.
    values : ArrayLike
        What to append (with axis given: arr's shape outside the axis).
    axis : int, optional
        The axis to append along.

    Returns
    -------
    Tensor
        The concatenation.

    Examples
    --------
    >>> ad.append(ad.tensor([1.0, 2.0]), [[3.0]])
    tensor([1., 2., 3.])
    """
    x, v = o._t(arr), o._t(values)
    if axis is None:
        return o.concatenate([o.reshape(x, (-1,)), o.reshape(v, (-1,))], axis=0)
    return o.concatenate([x, v], axis=axis)


# =========================================================================== sorting
def _sort_axis(name, x, axis):
    if axis is None:
        return o.reshape(x, (-1,)), 0
    return x, o._one_axis(name, axis, x.ndim)


def _no_order(name, order):
    if order is not None:
        raise ValueError(f"pyad.{name}: order= applies to structured arrays, which pyad does "
                         f"not support")


def argsort(a: ArrayLike, axis: Optional[int] = -1, kind: Optional[str] = None,
            order: None = None, *, stable: Optional[bool] = None) -> Tensor:
    """Indices that sort the array along an axis (numpy.argsort); not differentiable.

    Parameters
    ----------
    a : ArrayLike
        Input array.
    axis : int or None
        The axis to sort along; None sorts the flattened array.
    kind : str, optional
        numpy's sorting algorithm ('quicksort', 'stable', ...).
    order : None
        Not supported (structured arrays).
    stable : bool, optional
        Ties keep their order.

    Returns
    -------
    Tensor
        Integer indices (int64), the input's shape.

    Raises
    ------
    ValueError
        If `order` is given.

    Examples
    --------
    >>> ad.argsort(ad.tensor([3.0, 1.0, 2.0]))
    tensor([1, 2, 0])
    """
    _no_order("argsort", order)
    x, ax = _sort_axis("argsort", o._t(a), axis)
    return bind(argsort_p, x, params=(ax, kind, stable))


def argpartition(a: ArrayLike, kth: Union[int, Sequence[int]], axis: Optional[int] = -1,
                 kind: str = "introselect", order: None = None) -> Tensor:
    """Indices that partition the array around its kth element (numpy.argpartition); not
    differentiable.

    Parameters
    ----------
    a : ArrayLike
        Input array.
    kth : int or sequence of ints
        The position(s) that end up holding the value a full sort would put there.
    axis : int or None
        The axis to partition along; None uses the flattened array.
    kind : str
        numpy's selection algorithm.
    order : None
        Not supported (structured arrays).

    Returns
    -------
    Tensor
        Integer indices (int64), the input's shape.

    Raises
    ------
    ValueError
        If `order` is given or kth is out of bounds.

    Examples
    --------
    >>> int(ad.argpartition(ad.tensor([3.0, 1.0, 2.0]), 0)[0])
    1
    """
    _no_order("argpartition", order)
    x, ax = _sort_axis("argpartition", o._t(a), axis)
    _check_kth("argpartition", kth, x, ax)
    return bind(argpartition_p, x, params=(kth, ax, kind))


def _check_kth(name, kth, x, axis):
    n = x.shape[axis]
    for k in _int_list(name, "kth", kth):
        if not -n <= k < n:
            raise ValueError(f"pyad.{name}: kth={k} is out of bounds for axis {axis} of length "
                             f"{n} (shape {x.shape})")


def _gather(x, idx, axis, unique):
    return bind(take_along_axis_p, x, params=(idx, axis, unique))


def sort(a: ArrayLike, axis: Optional[int] = -1, kind: Optional[str] = None,
         order: None = None, *, stable: Optional[bool] = None) -> Tensor:
    """Sorted copy along an axis (numpy.sort); the gradient goes back through the
    permutation.

    Parameters
    ----------
    a : ArrayLike
        Input array.
    axis : int or None
        The axis to sort along; None sorts the flattened array.
    kind : str, optional
        numpy's sorting algorithm.
    order : None
        Not supported (structured arrays).
    stable : bool, optional
        Ties keep their order.

    Returns
    -------
    Tensor
        The sorted values, the input's shape (1-D when axis is None).

    Raises
    ------
    ValueError
        If `order` is given.

    Examples
    --------
    >>> ad.sort(ad.tensor([[3.0, 1.0, 2.0]]))
    tensor([[1., 2., 3.]])
    >>> ad.grad(lambda x: ad.sort(x)[0] * 2.0)(np.array([3.0, 1.0, 2.0]))
    array([0., 2., 0.])
    """
    _no_order("sort", order)
    x, ax = _sort_axis("sort", o._t(a), axis)
    # the gather's indices are a parameter of its row: they live on the host
    idx = backend.to_host(bind(argsort_p, x, params=(ax, kind, stable)).data)
    return _gather(x, idx, ax, True)


def partition(a: ArrayLike, kth: Union[int, Sequence[int]], axis: Optional[int] = -1,
              kind: str = "introselect", order: None = None) -> Tensor:
    """Partially sorted copy: the kth element in its sorted place, smaller ones before it,
    larger after (numpy.partition); the gradient goes back through the permutation.

    Parameters
    ----------
    a : ArrayLike
        Input array.
    kth : int or sequence of ints
        The position(s) to put in sorted place.
    axis : int or None
        The axis to partition along; None uses the flattened array.
    kind : str
        numpy's selection algorithm.
    order : None
        Not supported (structured arrays).

    Returns
    -------
    Tensor
        The partitioned values.

    Raises
    ------
    ValueError
        If `order` is given or kth is out of bounds.

    Examples
    --------
    >>> float(ad.partition(ad.tensor([5.0, 1.0, 4.0, 2.0]), 1)[1])
    2.0
    """
    _no_order("partition", order)
    x, ax = _sort_axis("partition", o._t(a), axis)
    _check_kth("partition", kth, x, ax)
    idx = backend.to_host(bind(argpartition_p, x, params=(kth, ax, kind)).data)
    return _gather(x, idx, ax, True)


def _arg_extremum(name, prim, a, axis, out, keepdims):
    _no_out(name, out)
    x = o._t(a)
    ax = None if axis is None else o._one_axis(name, axis, x.ndim)
    if x.size == 0 and (ax is None or x.shape[ax] == 0):
        raise ValueError(f"pyad.{name}: attempt to get {name} of an empty sequence (shape "
                         f"{x.shape}, axis {axis})")
    return bind(prim, x, params=(ax, bool(keepdims)))


def argmax(a: ArrayLike, axis: Optional[int] = None, out: None = None, *,
           keepdims: bool = False) -> Tensor:
    """Index of the maximum along an axis (numpy.argmax); not differentiable.

    Parameters
    ----------
    a : ArrayLike
        Input array.
    axis : int, optional
        The axis; None: the index into the flattened array.
    out : None
        Not supported (Tensors are immutable).
    keepdims : bool
        Keep the reduced axis with size 1.

    Returns
    -------
    Tensor
        Integer indices (int64); the first one at ties.

    Raises
    ------
    ValueError
        If the reduced axis is empty.
    TypeError
        If `out` is given.

    Examples
    --------
    >>> ad.argmax(ad.tensor([[1.0, 5.0], [7.0, 2.0]]), axis=1)
    tensor([1, 0])
    """
    return _arg_extremum("argmax", argmax_p, a, axis, out, keepdims)


def argmin(a: ArrayLike, axis: Optional[int] = None, out: None = None, *,
           keepdims: bool = False) -> Tensor:
    """Index of the minimum along an axis (numpy.argmin); not differentiable.

    Parameters
    ----------
    a : ArrayLike
        Input array.
    axis : int, optional
        The axis; None: the index into the flattened array.
    out : None
        Not supported (Tensors are immutable).
    keepdims : bool
        Keep the reduced axis with size 1.

    Returns
    -------
    Tensor
        Integer indices (int64); the first one at ties.

    Raises
    ------
    ValueError
        If the reduced axis is empty.
    TypeError
        If `out` is given.

    Examples
    --------
    >>> int(ad.argmin(ad.tensor([3.0, 1.0, 2.0])))
    1
    """
    return _arg_extremum("argmin", argmin_p, a, axis, out, keepdims)


def nonzero(a: ArrayLike) -> Tuple[Tensor, ...]:
    """Indices of the nonzero elements, one integer array per axis (numpy.nonzero).

    Parameters
    ----------
    a : ArrayLike
        At least 1-D.

    Returns
    -------
    tuple of Tensor
        For each axis, the int64 indices of the nonzero elements along it.

    Raises
    ------
    ValueError
        If the input is 0-d (use atleast_1d first).

    Examples
    --------
    >>> ad.nonzero(ad.tensor([[0.0, 2.0], [3.0, 0.0]]))
    (tensor([0, 1]), tensor([1, 0]))
    """
    x = o._t(a)
    if x.ndim == 0:
        raise ValueError("pyad.nonzero: calling nonzero on 0-d arrays is not allowed; use "
                         "ad.atleast_1d(a) first")
    rows = bind(nonzero_p, x).data
    return tuple(wrap(rows[i, ...]) for i in range(x.ndim))


def take_along_axis(arr: ArrayLike, indices: ArrayLike, axis: Optional[int] = -1) -> Tensor:
    """Pick values along an axis by index arrays (numpy.take_along_axis); the gradient adds
    back where each value came from (repeated indices accumulate).

    Parameters
    ----------
    arr : ArrayLike
        Input array.
    indices : array of ints
        Of arr's number of dimensions; its other axes broadcast against arr's.
    axis : int or None
        The axis to index along; None: 1-D indices into the flattened array.

    Returns
    -------
    Tensor
        The picked values, the broadcast shape with indices' length along the axis.

    Raises
    ------
    IndexError
        If the indices are not integers or out of bounds.
    ValueError
        If the number of dimensions or the other axes do not match.

    Examples
    --------
    >>> x = ad.tensor([[10.0, 30.0, 20.0]])
    >>> ad.take_along_axis(x, ad.argsort(x, axis=1), axis=1)
    tensor([[10., 20., 30.]])
    """
    x = o._t(arr)
    idx = _index_array("take_along_axis", indices)
    if axis is None:
        if idx.ndim != 1:
            raise ValueError(f"pyad.take_along_axis: with axis=None the indices must be 1-D, "
                             f"got shape {idx.shape}")
        x, ax = o.reshape(x, (-1,)), 0
    else:
        ax = o._one_axis("take_along_axis", axis, x.ndim)
    if idx.ndim != x.ndim:
        raise ValueError(f"pyad.take_along_axis: indices of shape {idx.shape} and arr of shape "
                         f"{x.shape} must have the same number of dimensions")
    n = x.shape[ax]
    if idx.size and (idx.max() >= n or idx.min() < -n):
        bad = idx.max() if idx.max() >= n else idx.min()
        raise IndexError(f"pyad.take_along_axis: index {bad} is out of bounds for axis {ax} "
                         f"with size {n}")
    try:
        outer_shape = np.broadcast_shapes(x.shape[:ax] + (1,) + x.shape[ax + 1:],
                                          idx.shape[:ax] + (1,) + idx.shape[ax + 1:])
    except ValueError:
        raise ValueError(f"pyad.take_along_axis: indices of shape {idx.shape} do not broadcast "
                         f"against arr of shape {x.shape} outside axis {ax}") from None
    full = outer_shape[:ax] + (n,) + outer_shape[ax + 1:]
    if full != x.shape:
        x = o.broadcast_to(x, full)
    return _gather(x, np.where(idx < 0, idx + n, idx), ax, False)


# =========================================================================== shapes
def ravel(a: ArrayLike, order: str = "C") -> Tensor:
    """The elements as a 1-D array (numpy.ravel).

    Parameters
    ----------
    a : ArrayLike
        Input array.
    order : {'C', 'F', 'A'}
        Row-major, column-major, or column-major when the data is Fortran-ordered.

    Returns
    -------
    Tensor
        Shape (a.size,).

    Raises
    ------
    ValueError
        For another order.

    Examples
    --------
    >>> ad.ravel(ad.tensor([[1.0, 2.0], [3.0, 4.0]]), order="F")
    tensor([1., 3., 2., 4.])
    """
    x = o._t(a)
    if order == "A":
        flags = getattr(x.data, "flags", None)
        order = "F" if flags is not None and flags.f_contiguous and not flags.c_contiguous \
            else "C"
    if order == "C":
        return o.reshape(x, (-1,))
    if order == "F":
        return o.reshape(o.transpose(x), (-1,))
    raise ValueError(f"pyad.ravel: order must be 'C', 'F' or 'A', got {order!r}")


def moveaxis(a: ArrayLike, source: Axis, destination: Axis) -> Tensor:
    """Move axes to new positions, the others keeping their order (numpy.moveaxis).

    Parameters
    ----------
    a : ArrayLike
        Input array.
    source : int or sequence of ints
        The axes to move.
    destination : int or sequence of ints
        Where they go.

    Returns
    -------
    Tensor
        A transposition of the input.

    Raises
    ------
    ValueError
        If source and destination differ in length or repeat an axis.

    Examples
    --------
    >>> ad.moveaxis(ad.tensor(np.zeros((2, 3, 4))), 0, -1).shape
    (3, 4, 2)
    """
    x = o._t(a)
    src = [o._one_axis("moveaxis", s, x.ndim) for s in _int_list("moveaxis", "source", source)]
    dst = [o._one_axis("moveaxis", d, x.ndim)
           for d in _int_list("moveaxis", "destination", destination)]
    if len(src) != len(dst):
        raise ValueError(f"pyad.moveaxis: source {source!r} and destination {destination!r} "
                         f"must have the same number of elements")
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError(f"pyad.moveaxis: repeated axis in source {source!r} or destination "
                         f"{destination!r}")
    perm = [i for i in range(x.ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        perm.insert(d, s)
    return o.transpose(x, tuple(perm))


def rollaxis(a: ArrayLike, axis: int, start: int = 0) -> Tensor:
    """Roll an axis back until it lies before position `start` (numpy.rollaxis).

    Parameters
    ----------
    a : ArrayLike
        Input array.
    axis : int
        The axis to move.
    start : int
        The position it is moved to the front of.

    Returns
    -------
    Tensor
        A transposition of the input.

    Raises
    ------
    numpy.exceptions.AxisError
        If `start` is out of range.

    Examples
    --------
    >>> ad.rollaxis(ad.tensor(np.zeros((2, 3, 4))), 2).shape
    (4, 2, 3)
    """
    x = o._t(a)
    n = x.ndim
    ax = o._one_axis("rollaxis", axis, n)
    start = operator.index(start)
    if start < 0:
        start += n
    if not 0 <= start < n + 1:
        raise o._AxisError(f"pyad.rollaxis: 'start' must be in [{-n}, {n + 1}), got "
                           f"{start - n if start < 0 else start}")
    if ax < start:
        start -= 1
    if ax == start:
        return x
    perm = list(range(n))
    perm.remove(ax)
    perm.insert(start, ax)
    return o.transpose(x, tuple(perm))


def _atleast(shapes, arys):
    out = tuple(o.reshape(t, shapes(t.shape)) for t in (o._t(a) for a in arys))
    return out[0] if len(out) == 1 else out


def atleast_1d(*arys: ArrayLike) -> Union[Tensor, Tuple[Tensor, ...]]:
    """Inputs viewed with at least one dimension (numpy.atleast_1d).

    Parameters
    ----------
    *arys : ArrayLike
        One or more arrays.

    Returns
    -------
    Tensor or tuple of Tensor
        Scalars become shape (1,); one result for one input, a tuple for several.

    Examples
    --------
    >>> ad.atleast_1d(ad.tensor(2.0))
    tensor([2.])
    """
    return _atleast(lambda s: s if len(s) >= 1 else (1,), arys)


def atleast_2d(*arys: ArrayLike) -> Union[Tensor, Tuple[Tensor, ...]]:
    """Inputs viewed with at least two dimensions (numpy.atleast_2d).

    Parameters
    ----------
    *arys : ArrayLike
        One or more arrays.

    Returns
    -------
    Tensor or tuple of Tensor
        Shape (n,) becomes (1, n), scalars (1, 1); a tuple for several inputs.

    Examples
    --------
    >>> ad.atleast_2d(ad.tensor([1.0, 2.0])).shape
    (1, 2)
    """
    return _atleast(lambda s: s if len(s) >= 2 else (1,) * (2 - len(s)) + s, arys)


def atleast_3d(*arys: ArrayLike) -> Union[Tensor, Tuple[Tensor, ...]]:
    """Inputs viewed with at least three dimensions (numpy.atleast_3d).

    Parameters
    ----------
    *arys : ArrayLike
        One or more arrays.

    Returns
    -------
    Tensor or tuple of Tensor
        (n,) becomes (1, n, 1), (m, n) becomes (m, n, 1), scalars (1, 1, 1).

    Examples
    --------
    >>> ad.atleast_3d(ad.tensor([1.0, 2.0])).shape
    (1, 2, 1)
    """
    def shape3(s):
        return {0: (1, 1, 1), 1: (1,) + s + (1,), 2: s + (1,)}.get(len(s), s)
    return _atleast(shape3, arys)


def select(condlist: Sequence[ArrayLike], choicelist: Sequence[ArrayLike],
           default: ArrayLike = 0) -> Tensor:
    """Elements from the choice of the first true condition (numpy.select); differentiable
    in the choices and the default.

    Parameters
    ----------
    condlist : sequence of bool arrays
        Conditions, checked in order.
    choicelist : sequence of ArrayLike
        One choice per condition.
    default : ArrayLike
        Where no condition holds.

    Returns
    -------
    Tensor
        The broadcast shape of all conditions and choices.

    Raises
    ------
    ValueError
        If the lists differ in length.
    TypeError
        If a condition is not boolean.

    Examples
    --------
    >>> x = ad.tensor([-2.0, 0.5, 3.0])
    >>> ad.select([x.data < 0, x.data > 1], [-x, x * 10.0], default=x)
    tensor([ 2. ,  0.5, 30. ])
    """
    condlist, choicelist = list(condlist), list(choicelist)
    if len(condlist) != len(choicelist):
        raise ValueError(f"pyad.select: {len(condlist)} conditions but {len(choicelist)} "
                         f"choices; give one choice per condition")
    if not condlist:
        raise ValueError("pyad.select: select with an empty condition list is not possible")
    like = _first_array(condlist + choicelist + [default])
    conds = []
    for i, c in enumerate(condlist):
        c = _beside("select", c, like)
        if c.dtype != np.bool_:
            raise TypeError(f"pyad.select: invalid entry {i} in condlist: should be a boolean "
                            f"array, got dtype {c.dtype}")
        conds.append(c)
    values = choicelist + [default]
    dt = np.result_type(*[_promotion_operand(c) for c in values])
    choices = [o.astype(_beside("select", c, like), dt) for c in values]
    try:
        shape = np.broadcast_shapes(*[c.shape for c in conds], *[c.shape for c in choices])
    except ValueError:
        raise ValueError(f"pyad.select: conditions {[c.shape for c in conds]} and choices "
                         f"{[c.shape for c in choices]} do not broadcast together") from None
    result = choices[-1]
    for cond, choice in zip(conds[::-1], choices[-2::-1]):
        result = o.where(cond, choice, result)
    return o.broadcast_to(result, shape)


def linspace(start: ArrayLike, stop: ArrayLike, num: int = 50, endpoint: bool = True,
             retstep: bool = False, dtype: Optional[DTypeLike] = None, axis: int = 0, *,
             device: None = None) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """Evenly spaced numbers from start to stop (numpy.linspace), differentiable in start
    and stop.

    Parameters
    ----------
    start, stop : ArrayLike
        The end points (arrays broadcast: each element gets its own sequence).
    num : int
        Number of samples.
    endpoint : bool
        Include stop (the last sample is exactly stop).
    retstep : bool
        Also return the spacing.
    dtype : dtype, optional
        Output dtype (an integer dtype floors, without derivative).
    axis : int
        Where the samples axis goes when start/stop are arrays.
    device : None
        Accepted for compatibility (CPU).

    Returns
    -------
    Tensor or (Tensor, Tensor)
        The samples, and with retstep=True the step.

    Raises
    ------
    ValueError
        If num is negative.

    Examples
    --------
    >>> ad.linspace(0.0, 1.0, 5)
    tensor([0.  , 0.25, 0.5 , 0.75, 1.  ])
    >>> float(ad.grad(lambda b: ad.sum(ad.linspace(0.0, b, 5)))(2.0))
    2.5
    """
    num = operator.index(num)
    if num < 0:
        raise ValueError(f"pyad.linspace: number of samples, {num}, must be non-negative")
    div = num - 1 if endpoint else num
    dt = np.result_type(*[_promotion_operand(v) for v in (start, stop)])
    if dt.kind not in "fc":
        dt = np.result_type(dt, np.float64)
    like = _first_array((start, stop))
    s = o.astype(_beside("linspace", start, like), dt)
    e = o.astype(_beside("linspace", stop, like), dt)
    delta = o.subtract(e, s)
    t = np.arange(num, dtype=dt).reshape((-1,) + (1,) * delta.ndim)
    if div > 0:
        step = o.divide(delta, wrap(backend.asarray(div, dt, like=delta.data)))
        if np.any(backend.to_host(step.data) == 0):
            t, factor = t / div, delta
        else:
            factor = step
    else:
        step = wrap(backend.asarray(np.nan, dt, like=delta.data))
        factor = delta
    # the sample numbers are computed on the host, then moved next to the data
    y = o.add(o.multiply(wrap(backend.to_backend(t, like=delta.data)), factor), s)
    if endpoint and num > 1:
        last = o.reshape(o.broadcast_to(e, y.shape[1:]), (1,) + y.shape[1:])
        y = o.concatenate([y[:-1], last], axis=0)
    if axis != 0:
        y = moveaxis(y, 0, axis)
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype.kind in "iub":
            y = wrap(backend.astype(backend.namespace(y.data).floor(y.data), dtype))
        else:
            y = o.astype(y, dtype)
    return (y, step) if retstep else y


# =========================================================================== differences
def diff(a: ArrayLike, n: int = 1, axis: int = -1, prepend: Optional[ArrayLike] = None,
         append: Optional[ArrayLike] = None) -> Tensor:
    """The n-th discrete difference along an axis (``np.diff``); differentiable.

    Parameters
    ----------
    a : array_like or Tensor
        Input.
    n : int, default 1
        How many times to difference.
    axis : int, default -1
        The axis.
    prepend, append : array_like, optional
        Values joined to ``a`` along the axis first (scalars are broadcast).

    Returns
    -------
    Tensor
        ``a[1:] - a[:-1]`` along the axis, n times: that axis is n shorter.

    Raises
    ------
    ValueError
        For a negative n or a 0-d input.

    Examples
    --------
    >>> ad.diff(np.array([1.0, 4.0, 9.0, 16.0]))
    tensor([3., 5., 7.])
    >>> ad.grad(lambda x: ad.sum(ad.diff(x) ** 2))(np.array([1.0, 4.0, 9.0]))
    array([-6., -4., 10.])
    """
    t = o._t(a)
    if t.ndim == 0:
        raise ValueError("pyad.diff: diff requires input that is at least one dimensional")
    if int(n) != n or n < 0:
        raise ValueError(f"pyad.diff: order must be a non-negative integer, got n={n!r}")
    ax = o._one_axis("diff", axis, t.ndim)
    parts = []
    for extra in (prepend, t, append):
        if extra is None:
            continue
        e = _beside("diff", extra, t.data)
        if e.ndim == 0:
            e = o.broadcast_to(e, t.shape[:ax] + (1,) + t.shape[ax + 1:])
        parts.append(e)
    if len(parts) > 1:
        t = o.concatenate(parts, axis=ax)
    head = (slice(None),) * ax
    for _ in range(int(n)):
        t = o.subtract(o.getitem(t, head + (slice(1, None),)),
                       o.getitem(t, head + (slice(None, -1),)))
    return t


def gradient(f: ArrayLike, *varargs: float, axis: Axis = None,
             edge_order: int = 1) -> Union[Tensor, List[Tensor]]:
    """Finite-difference derivative of sampled values (``np.gradient``); differentiable.

    Second-order central differences inside, one-sided differences of order ``edge_order``
    at the ends, with uniform sample spacings.

    Parameters
    ----------
    f : array_like or Tensor
        Samples.
    *varargs : float
        The spacing: none (1), one for every axis, or one per axis differentiated.
    axis : int or tuple of ints, optional
        The axes (default all).
    edge_order : {1, 2}, default 1
        Accuracy at the boundaries.

    Returns
    -------
    Tensor or list of Tensor
        One array of f's shape per axis (a single one for one axis).

    Raises
    ------
    ValueError
        For an axis shorter than edge_order + 1, an edge_order other than 1 or 2, or
        coordinate arrays as spacing (only uniform spacings are supported).

    Examples
    --------
    >>> ad.gradient(np.array([1.0, 4.0, 9.0, 16.0]))
    tensor([3., 4., 6., 7.])
    >>> ad.grad(lambda x: ad.sum(ad.gradient(x, 0.5) ** 2))(np.array([1.0, 2.0, 4.0]))
    array([-14.,  -8.,  22.])
    """
    t = o._t(f)
    axes = o._axes("gradient", axis, t.ndim)
    if edge_order not in (1, 2):
        raise ValueError(f"pyad.gradient: edge_order must be 1 or 2, got {edge_order!r}")
    if len(varargs) == 0:
        spacing = [1.0] * len(axes)
    elif len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        spacing = [float(varargs[0])] * len(axes)
    elif len(varargs) == len(axes) and all(np.ndim(h) == 0 for h in varargs):
        spacing = [float(h) for h in varargs]
    else:
        raise ValueError(f"pyad.gradient: give no spacing, one scalar, or one scalar per axis "
                         f"({len(axes)}); coordinate arrays are not supported, got "
                         f"{len(varargs)} argument(s)")
    if not o._is_inexact(t):                    # integers: float64 (complex stays complex)
        t = o.astype(t, np.float64)
    out = []
    for ax, h in zip(axes, spacing):
        n = t.shape[ax]
        if n < edge_order + 1:
            raise ValueError(f"pyad.gradient: axis {ax} of shape {t.shape} has {n} samples; "
                             f"edge_order={edge_order} needs at least {edge_order + 1}")
        head = (slice(None),) * ax

        def at(k, stop=None, step=None):
            return o.getitem(t, head + ((slice(k, stop, step) if stop is not None
                                         else slice(k, k + 1 if k != -1 else None)),))
        inner = o.multiply(o.subtract(at(2, n), at(0, n - 2)), 1.0 / (2.0 * h))
        if edge_order == 1:
            first = o.multiply(o.subtract(at(1), at(0)), 1.0 / h)
            last = o.multiply(o.subtract(at(-1), at(-2)), 1.0 / h)
        else:
            first = o.multiply(o.add(o.add(o.multiply(at(0), -1.5), o.multiply(at(1), 2.0)),
                                     o.multiply(at(2), -0.5)), 1.0 / h)
            last = o.multiply(o.add(o.add(o.multiply(at(-3), 0.5), o.multiply(at(-2), -2.0)),
                                    o.multiply(at(-1), 1.5)), 1.0 / h)
        out.append(o.concatenate([first, inner, last], axis=ax))
    return out[0] if len(out) == 1 else out
