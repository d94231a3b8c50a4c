"""Array API kernels of the core family's primitives (see backend/array_api.py)."""
import math

import numpy as np

from pyad.backend.namespaces import has_namespace, namespace_dtype, numpy_dtype, namespace_of as _xp


# ------------------------------------------------------------------- shared helpers
def _is_array(a):
    return has_namespace(a)


def _cast(x, dtype):
    """x as numpy dtype `dtype` (x itself when it has it)."""
    xp = _xp(x)
    target = namespace_dtype(xp, dtype)
    return x if x.dtype == target else xp.astype(x, target)


def _same_float(arrays):
    """Whether all arrays share one real floating dtype: the C++ kernels' inputs, which need
    no numpy dtype rules."""
    xp = _xp(arrays[0])
    dt = arrays[0].dtype
    return xp.isdtype(dt, "real floating") and all(a.dtype == dt for a in arrays[1:])


def _numpy_result(f, *args):
    """The dtype f(np, *args) has on numpy: f run on empty numpy arrays of the arrays' dtypes
    (Python scalars as they are, weakly typed as on the CPU)."""
    dummies = [np.empty(0, numpy_dtype(a.dtype, _xp(a))) if _is_array(a) else a for a in args]
    return f(np, *dummies).dtype


def _numpy_typed(f, np_f=None):
    """The kernel f(xp, *args) with numpy's dtype result for integer and bool inputs.

    The CPU gives those inputs to numpy (sqrt of int64 is float64, 1 / int64 is float64,
    bool + 1 is int64), while the standard leaves mixed kinds and integer true division
    undefined: the arrays are cast to the dtype numpy's np_f (default f(np, ...)) gives first.
    """
    np_f = np_f or f

    def kernel(*args):
        arrays = [a for a in args if _is_array(a)]
        if _same_float(arrays):
            return f(_xp(arrays[0]), *args)
        dt = _numpy_result(np_f, *args)
        # numpy reads a bool scalar as 1 or 0 beside numbers; the standard only beside bools
        args = [_cast(a, dt) if _is_array(a) else int(a) if type(a) is bool and dt != np.bool_
                else a for a in args]
        return f(_xp(arrays[0]), *args)
    return kernel


def _promote(*arrays):
    """arrays cast to numpy's promoted dtype (the standard leaves mixed kinds undefined)."""
    dt = arrays[0].dtype
    if all(a.dtype == dt for a in arrays[1:]):
        return arrays
    xp = _xp(arrays[0])
    target = np.result_type(*[numpy_dtype(a.dtype, xp) for a in arrays])
    return [_cast(a, target) for a in arrays]


def _size(x):
    return math.prod(x.shape)


def _index_array(k, like):
    """An index param (a numpy array, as the CPU gets it, or already an array of like's
    namespace) as an array on like's device."""
    if isinstance(k, np.ndarray):
        return _xp(like).asarray(k, device=like.device)
    return k


def _zero(x):
    return _xp(x).zeros_like(x)


# ------------------------------------------------------------------- elementwise
def _shift(m):
    """The shift for exp(x - shift): the max, but 0 where it is +-inf (as the C++ kernels and
    scipy do), so an all -inf slice gives -inf and a +inf gives +inf instead of NaN."""
    xp = _xp(m)
    return xp.where(xp.isinf(m), xp.zeros_like(m), m)


def _sigmoid(x):
    # exp(-|x|) never overflows, and e / (1 + e) keeps full relative accuracy for x << 0
    xp = _xp(x)
    if not xp.isdtype(x.dtype, "real floating"):
        x = xp.astype(x, xp.float64)    # the CPU's fallback: float64 whatever the input
    e = xp.exp(-xp.abs(x))
    r = 1.0 / (1.0 + e)
    return xp.where(x >= 0, r, e * r)


def _softplus(xp, x):
    # logaddexp(0, x) = max(x, 0) + log1p(exp(-|x|)): stable for any x
    return xp.logaddexp(xp.zeros_like(x), x)


def _relu(xp, x):
    return xp.where(x < 0, xp.zeros_like(x), x)     # NaN is not < 0: relu(nan) = nan


def _pow_scalar(xp, x, c):
    if c == 0.5:
        return xp.sqrt(x)   # the CPU maps x**0.5 to sqrt, as numpy does: (-inf)**0.5 = nan
    return x ** c


def _clip(xp, x, lo, hi):
    # compares, not min/max: NaN passes through both like the C++ kernel and np.clip
    lo = xp.asarray(lo, dtype=x.dtype, device=x.device)
    hi = xp.asarray(hi, dtype=x.dtype, device=x.device)
    y = xp.where(x < lo, lo, x)
    return xp.where(y > hi, hi, y)


def _clip_backward(g, x, lo, hi):
    return _xp(g).where((x >= lo) & (x <= hi), g, _zero(g))    # the bounds are inclusive


def _compare(op):
    """A comparison in numpy's promoted dtype (int64 < float64 compares as float64)."""
    def kernel(x, y):
        if _is_array(x) and _is_array(y):
            x, y = _promote(x, y)
        return op(x, y)
    return kernel


def _where(c, x, y):
    """np.where: a non-bool condition is read as != 0, x and y promote as in numpy."""
    xp = _xp(c)
    if c.dtype != xp.bool:
        c = xp.astype(c, xp.bool)
    if _is_array(x) and _is_array(y):
        x, y = _promote(x, y)
    return xp.where(c, x, y)


# ------------------------------------------------------------------- reductions
def _reduction(name):
    """sum/max/min over a sorted tuple of axes. Integer and bool inputs get numpy's dtype (the
    sum of int32 or bool is int64); the standard has no max/min of bools: any/all are they."""
    def kernel(x, axes, keepdims):
        xp = _xp(x)
        axis = None if len(axes) == x.ndim else tuple(axes)
        if xp.isdtype(x.dtype, "bool") and name != "sum":
            return (xp.any if name == "max" else xp.all)(x, axis=axis, keepdims=keepdims)
        if name == "sum" and not xp.isdtype(x.dtype, "real floating"):
            x = _cast(x, np.sum(np.empty(0, numpy_dtype(x.dtype, xp))).dtype)
        return getattr(xp, name)(x, axis=axis, keepdims=keepdims)
    return kernel


def _sum_to(x, shape):
    """x summed over the axes broadcasting added to shape (leading ones, and 1s grown)."""
    xp = _xp(x)
    shape = _shape(shape)
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1)
    out = xp.sum(x, axis=axes, dtype=x.dtype) if axes else x
    return xp.reshape(out, shape)


def _logsumexp(x, axis, keepdims):
    xp = _xp(x)
    if _size(x) == 0:
        # the max has no identity; log(sum(exp)) of an empty slice is -inf
        return xp.sum(x, axis=axis, keepdims=keepdims) - math.inf
    shift = _shift(xp.max(x, axis=axis, keepdims=True))
    s = xp.sum(xp.exp(x - shift), axis=axis, keepdims=keepdims)
    return xp.reshape(shift, s.shape) + xp.log(s)


def _shift_exp(x, axis):
    """(x - shift, sum of exp(x - shift)) along axis, with the C++ kernels' shift."""
    xp = _xp(x)
    z = x - _shift(xp.max(x, axis=axis, keepdims=True))
    return z, xp.sum(xp.exp(z), axis=axis, keepdims=True)


def _softmax(x, axis):
    if _size(x) == 0:
        return _zero(x)
    z, s = _shift_exp(x, axis)
    return _xp(x).exp(z) / s


def _log_softmax(x, axis):
    if _size(x) == 0:
        return _zero(x)
    # (x - shift) - log(sum), not x - (shift + log(sum)): the first difference is exact
    z, s = _shift_exp(x, axis)
    return z - _xp(x).log(s)


def _softmax_backward(g, y, axis):
    return y * (g - _xp(g).sum(g * y, axis=axis, keepdims=True))


def _log_softmax_backward(g, y, axis):
    xp = _xp(g)
    return g - xp.exp(y) * xp.sum(g, axis=axis, keepdims=True)


def _ce_parts(z, labels):
    """(z - row max, row sums of exp of it, one-hot mask of the labels) for logits (n, c)."""
    xp = _xp(z)
    labels = _index_array(labels, z)
    shifted = z - xp.max(z, axis=1, keepdims=True)
    s = xp.sum(xp.exp(shifted), axis=1, keepdims=True)
    onehot = xp.arange(z.shape[1], dtype=labels.dtype, device=z.device) == labels[:, None]
    return shifted, s, onehot


def _softmax_cross_entropy(z, labels):
    # per row: log(sum(exp(z - max))) - (z[label] - max); the standard has no
    # take_along_axis before 2024.12, so the label's entry is picked by a one-hot mask. A
    # row whose label is out of range (device labels are not checked on the host) is NaN.
    xp = _xp(z)
    shifted, s, onehot = _ce_parts(z, labels)
    picked = xp.sum(xp.where(onehot, shifted, xp.zeros_like(shifted)), axis=1)
    loss = xp.log(s[:, 0]) - picked
    return xp.where(xp.any(onehot, axis=1), loss, xp.full_like(loss, xp.nan))


def _softmax_cross_entropy_backward(g, z, labels):
    # g[:, None] * (softmax(z) - onehot(labels)); NaN rows where the label is out of range
    xp = _xp(z)
    shifted, s, onehot = _ce_parts(z, labels)
    g = g[:, None]
    p = xp.exp(shifted) * (g / s)
    out = p - xp.where(onehot, g, xp.zeros_like(p))
    return xp.where(xp.any(onehot, axis=1, keepdims=True), out, xp.full_like(out, xp.nan))


# ------------------------------------------------------------------- shapes
def _shape(shape):
    return (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(n) for n in shape)


def _transpose(x, axes=None):
    axes = tuple(reversed(range(x.ndim))) if axes is None else tuple(a % x.ndim for a in axes)
    return _xp(x).permute_dims(x, axes)


def _concatenate(*arrays_then_axis):
    arrays = _promote(*arrays_then_axis[:-1])
    return _xp(arrays[0]).concat(list(arrays), axis=arrays_then_axis[-1])


def _matmul(a, b):
    a, b = _promote(a, b)
    return _xp(a).matmul(a, b)


def _matmul_sum(a, b, c, d):
    return _matmul(a, b) + _matmul(c, d)


# ------------------------------------------------------------------- indexing
# numpy keys as pyad's getitem row gets them: ints, slices, None, Ellipsis and integer or bool
# index arrays (numpy params, or arrays of x's namespace), the advanced ones adjacent. The
# standard indexes with ints, in-bounds slices and None over every axis, and with integer
# arrays only when nothing else is in the key: so a key is split into that basic part and
# integer index arrays on axes of its result, which one take() over the flattened axes gathers.
def _slice(s, n):
    """slice s on an axis of length n, with the in-bounds start and stop the standard asks."""
    start, stop, step = s.indices(n)
    count = len(range(start, stop, step))
    if count == n and step == 1:
        return slice(None)
    if count == 0:
        return slice(0, 0)
    end = start + count * step
    return slice(start, end if 0 <= end <= n else None, step)


class _Key:
    """A numpy key on an array of `shape`, split for the standard.

    basic: the basic key (ints, slices, None; one entry per axis, no Ellipsis); out_shape:
    the shape x[basic] has; axes: the axes of x[basic] that the integer arrays `index`
    (one per axis, bool arrays as their nonzero()) select from; empty when there are none."""

    def __init__(self, key, shape, like):
        xp = _xp(like)
        items = [self._item(k, like) for k in (key if isinstance(key, tuple) else (key,))]
        advanced = any(_is_array(k) for k in items)
        named = sum(k.ndim if _is_array(k) and k.dtype == xp.bool else
                    0 if k is None or k is Ellipsis else 1 for k in items)
        self.basic, self.out_shape, self.axes, self.index, self.new_axes = [], [], [], [], []
        ax = 0
        for k in items:
            if k is Ellipsis:
                for _ in range(len(shape) - named):
                    self._keep(slice(None), shape[ax])
                    ax += 1
            elif k is None:
                self.new_axes.append(len(self.out_shape))
                self._keep(None, 1)
            elif isinstance(k, slice):
                self._keep(_slice(k, shape[ax]), shape[ax])
                ax += 1
            elif not advanced:          # an int, with no index array in the key
                self.basic.append(k)
                ax += 1
            elif not _is_array(k):      # an int among index arrays is one too
                self._select(xp.asarray(k, dtype=xp.int64, device=like.device), shape[ax])
                ax += 1
            elif k.dtype != xp.bool:
                self._select(k, shape[ax])
                ax += 1
            elif k.ndim == 0:           # numpy: a new axis, selected once (True) or never
                self.new_axes.append(len(self.out_shape))
                self._keep(None, 1)
                self.axes.append(len(self.out_shape) - 1)
                self.index.append(xp.zeros(int(bool(k)), dtype=xp.int64, device=like.device))
            else:
                for i in xp.nonzero(k):
                    self._select(i, shape[ax])
                    ax += 1
        for n in shape[ax:]:
            self._keep(slice(None), n)
        self.basic = tuple(self.basic)

    @staticmethod
    def _item(k, like):
        """An entry of the key: a Python int, a slice, None, Ellipsis or an index array of
        like's namespace (a 0-d integer array is an int to numpy, a bool a 0-d bool array)."""
        if isinstance(k, (bool, np.bool_)):
            return _xp(like).asarray(bool(k), device=like.device)
        if isinstance(k, (int, np.integer)):
            return int(k)
        if isinstance(k, np.ndarray):
            return int(k) if k.ndim == 0 and k.dtype != np.bool_ else _index_array(k, like)
        if _is_array(k) and k.ndim == 0 and k.dtype != _xp(like).bool:
            return int(k)
        return k

    def _keep(self, k, n):
        """Keep an axis of length n (n = 1 for a new one, k None) with slice k."""
        self.basic.append(k)
        self.out_shape.append(1 if k is None else len(range(*k.indices(n))))

    def _select(self, i, n):
        self.axes.append(len(self.out_shape))
        self.index.append(i)
        self._keep(slice(None), n)

    def flat_index(self, like):
        """(flat, n, start, perm): flat, the positions the index arrays (broadcast together)
        select in the selected axes flattened to one of length n; perm, a permutation of
        x[basic]'s axes that puts the selected ones together from axis `start` on. numpy
        keeps adjacent index arrays' result axes in place and moves separated ones to the
        front."""
        xp = _xp(like)
        sizes = [self.out_shape[a] for a in self.axes]
        flat = None
        for i, n in zip(xp.broadcast_arrays(*self.index), sizes):
            i = xp.astype(i, xp.int64)
            i = xp.where(i < 0, i + n, i)   # negative indices count from the end
            flat = i if flat is None else flat * n + i
        start = self.axes[0]
        if self.axes != list(range(start, start + len(self.axes))):
            rest = [a for a in range(len(self.out_shape)) if a not in self.axes]
            perm, start = self.axes + rest, 0
        else:
            perm = list(range(len(self.out_shape)))
        return flat, math.prod(sizes), start, perm


def _getitem(x, key):
    xp = _xp(x)
    k = _Key(key, x.shape, x)
    y = x[k.basic]
    if not k.axes:
        return y
    flat, n, start, perm = k.flat_index(x)
    if perm != list(range(y.ndim)):
        y = xp.permute_dims(y, tuple(perm))
    m = len(k.axes)
    pre, post = y.shape[:start], y.shape[start + m:]
    y = xp.reshape(y, pre + (n,) + post)
    out = xp.take(y, xp.reshape(flat, (-1,)), axis=start)
    return xp.reshape(out, pre + flat.shape + post)


def _scatter_add(g, shape, key):
    """zeros(shape) with g added at [key]; repeated indices accumulate."""
    xp = _xp(g)
    shape = _shape(shape)
    k = _Key(key, shape, g)
    if k.axes:
        flat, n, start, perm = k.flat_index(g)
        m = len(k.axes)
        laid = [k.out_shape[p] for p in perm]
        pre, post = laid[:start], laid[start + m:]
        g = xp.reshape(g, (math.prod(pre), _size(flat), math.prod(post)))
        g = xp.reshape(_index_add(xp.reshape(flat, (-1,)), g, n), tuple(laid))
        if perm != list(range(len(perm))):
            g = xp.permute_dims(g, tuple(perm.index(a) for a in range(len(perm))))
    # the standard's __setitem__ takes no None: drop those unit axes from key and value
    basic = tuple(b for b in k.basic if b is not None)
    value_shape = tuple(n for a, n in enumerate(k.out_shape) if a not in k.new_axes)
    if all(b == slice(None) for b in basic):
        return xp.reshape(g, shape)
    out = xp.zeros(shape, dtype=g.dtype, device=g.device)
    out[basic] = xp.reshape(g, value_shape)
    return out


def _index_add(rows, src, n):
    """(P, n, Q) zeros with src[:, k] added at row rows[k] of axis 1, repeated rows adding up.

    The standard has no scatter-add (and setitem with repeated indices keeps one value), so:
    sort the rows, sum each run of equal rows by a segmented scan by doubling (one pass per
    power of two up to the longest run), and gather each row's total from the end of its run.
    Unlike a one-hot product this takes O(K log K) memory and time, and keeps inf and NaN
    where they were added."""
    xp = _xp(src)
    p, k, q = src.shape
    zeros = xp.zeros((p, n, q), dtype=src.dtype, device=src.device)
    if k == 0 or n == 0:
        return zeros
    order = xp.argsort(rows, stable=True)
    rows = xp.take(rows, order)
    vals = xp.take(src, order, axis=1)
    d = 1
    while d < k:
        same = rows[d:] == rows[:-d]
        if not bool(xp.any(same)):
            break               # no run is longer than d: each run end holds its total
        prev = xp.where(same[None, :, None], vals[:, :-d, :], xp.zeros_like(vals[:, :-d, :]))
        vals = xp.concat([vals[:, :d, :], vals[:, d:, :] + prev], axis=1)
        d *= 2
    targets = xp.arange(n, dtype=rows.dtype, device=src.device)
    last = xp.searchsorted(rows, targets, side="right") - 1     # each row's run end
    last = xp.where(last < 0, xp.zeros_like(last), last)
    hit = xp.take(rows, last) == targets
    return xp.where(hit[None, :, None], xp.take(vals, last, axis=1), zeros)


# ------------------------------------------------------------------- the table
def _unary(name):
    return _numpy_typed(lambda xp, x: getattr(xp, name)(x))


KERNELS = {name: _unary(name) for name in (
    "exp", "log", "log1p", "sqrt", "square", "abs", "sin", "cos", "tanh", "negative", "sign")}
KERNELS.update(
    sigmoid=_sigmoid,
    relu=_numpy_typed(_relu, lambda np_, x: np.maximum(x, 0)),
    softplus=_numpy_typed(_softplus, lambda np_, x: np.logaddexp(0.0, x)),
    add_scalar=_numpy_typed(lambda xp, x, c: x + c),
    mul_scalar=_numpy_typed(lambda xp, x, c: x * c),
    rsub_scalar=_numpy_typed(lambda xp, x, c: c - x),
    rdiv_scalar=_numpy_typed(lambda xp, x, c: c / x),
    pow_scalar=_numpy_typed(_pow_scalar, lambda np_, x, c: x ** c),
    rpow_scalar=_numpy_typed(lambda xp, x, c: c ** x),
    clip=_numpy_typed(_clip, lambda np_, x, lo, hi: np.clip(x, lo, hi)),
    add=_numpy_typed(lambda xp, x, y: x + y),
    subtract=_numpy_typed(lambda xp, x, y: x - y),
    multiply=_numpy_typed(lambda xp, x, y: x * y),
    divide=_numpy_typed(lambda xp, x, y: x / y),
    maximum=_numpy_typed(lambda xp, x, y: xp.maximum(x, y)),    # NaN propagates in both
    minimum=_numpy_typed(lambda xp, x, y: xp.minimum(x, y)),
    power=_numpy_typed(lambda xp, x, y: xp.pow(x, y)),
    # fused backward rows (floats only, like their C++ kernels)
    tanh_backward=lambda g, y: g * (1.0 - y * y),
    sigmoid_backward=lambda g, y: g * y * (1.0 - y),
    relu_backward=lambda g, x: _xp(g).where(x > 0, g, _zero(g)),      # relu'(0) = 0
    abs_backward=lambda g, x: g * _xp(x).sign(x),                     # abs'(0) = 0
    softplus_backward=lambda g, x: g * _sigmoid(x),
    sqrt_backward=lambda g, y: g * 0.5 / y,
    clip_backward=_clip_backward,
    tanh_backward_tangent=lambda g, y, dg, dy: dg * (1.0 - y * y) - 2.0 * g * y * dy,
    # reductions and the softmax family
    sum=_reduction("sum"),
    max=_reduction("max"),
    min=_reduction("min"),
    sum_to=_sum_to,
    logsumexp=_logsumexp,
    softmax=_softmax,
    log_softmax=_log_softmax,
    softmax_backward=_softmax_backward,
    log_softmax_backward=_log_softmax_backward,
    softmax_cross_entropy=_softmax_cross_entropy,
    softmax_cross_entropy_backward=_softmax_cross_entropy_backward,
    # linear algebra, shapes, indexing
    matmul=_matmul,
    matmul_sum=_matmul_sum,
    reshape=lambda x, shape: _xp(x).reshape(x, _shape(shape)),
    transpose=_transpose,
    broadcast_to=lambda x, shape: _xp(x).broadcast_to(x, _shape(shape)),
    getitem=_getitem,
    scatter_add=_scatter_add,
    concatenate=_concatenate,
    where=_where,
    astype=lambda x, dtype: _xp(x).astype(x, namespace_dtype(_xp(x), dtype)),
    less=_compare(lambda x, y: x < y),
    less_equal=_compare(lambda x, y: x <= y),
    greater=_compare(lambda x, y: x > y),
    greater_equal=_compare(lambda x, y: x >= y),
    equal=_compare(lambda x, y: x == y),
    not_equal=_compare(lambda x, y: x != y),
)
