"""The numpy-like differentiable functions: argument checking, promotion, then one bind()."""
import math
import sys

import numpy as np

from pyad import _tape
from pyad._tape import Tensor, bind, wrap

_PYSCALARS = (int, float, bool)
_AxisError = np.exceptions.AxisError if hasattr(np, "exceptions") else np.AxisError


def _t(x):
    """Any array-like as a Tensor (Tensors pass through; arrays are wrapped, not copied)."""
    if type(x) is Tensor:
        return x
    if isinstance(x, Tensor):
        return x
    return wrap(np.asarray(x))


def tensor(data, dtype=None, requires_grad=False):
    """A new Tensor holding a copy of data (like torch.tensor / np.array)."""
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def _is_float(t):
    return t.data.dtype.kind == "f"


# --------------------------------------------------------------------------- arithmetic
def _promote(name, x, y):
    """numpy promotion for two Tensors; returns them cast (differentiably) to one dtype."""
    dx, dy = x.data.dtype, y.data.dtype
    if dx != dy:
        dt = np.result_type(x.data, y.data)
        if dx != dt:
            x = astype(x, dt)
        if dy != dt:
            y = astype(y, dt)
    return x, y


def _check_broadcast(name, sx, sy):
    """numpy's broadcasting rule, checked in plain Python (np.broadcast_shapes costs ~2 us)."""
    if sx == sy:
        return
    for a, b in zip(reversed(sx), reversed(sy)):
        if a != b and a != 1 and b != 1:
            raise ValueError(f"pyad.{name}: operands could not be broadcast together with "
                             f"shapes {sx} and {sy}")


def _binary(prim, name, x, y):
    x, y = _t(x), _t(y)
    if x.data.dtype != y.data.dtype:
        x, y = _promote(name, x, y)
    _check_broadcast(name, x.data.shape, y.data.shape)
    return bind(prim, x, y)


def _scalar_like(c, t):
    """A Python scalar as a 0-d array of t's dtype (Python scalars are weakly typed)."""
    dt = t.data.dtype if t.data.dtype.kind in "fc" or type(c) is not float else np.float64
    return wrap(np.asarray(c, dtype=dt))


def add(x, y):
    if type(y) in _PYSCALARS:
        return bind(_P.add_scalar, _t(x), params=(y,))
    if type(x) in _PYSCALARS:
        return bind(_P.add_scalar, _t(y), params=(x,))
    return _binary(_P.add, "add", x, y)


def subtract(x, y):
    if type(y) in _PYSCALARS:
        return bind(_P.add_scalar, _t(x), params=(-y,))
    if type(x) in _PYSCALARS:
        return bind(_P.rsub_scalar, _t(y), params=(x,))
    return _binary(_P.subtract, "subtract", x, y)


def multiply(x, y):
    if type(y) in _PYSCALARS:
        return bind(_P.mul_scalar, _t(x), params=(y,))
    if type(x) in _PYSCALARS:
        return bind(_P.mul_scalar, _t(y), params=(x,))
    return _binary(_P.multiply, "multiply", x, y)


def divide(x, y):
    if type(y) in _PYSCALARS:
        x = _t(x)
        if y != 0 and _is_float(x):
            return bind(_P.mul_scalar, x, params=(1.0 / y,))
        return _binary(_P.divide, "divide", x, _scalar_like(float(y), x))
    if type(x) in _PYSCALARS:
        y = _t(y)
        if not _is_float(y):
            y = astype(y, np.float64)
        return bind(_P.rdiv_scalar, y, params=(float(x),))
    x, y = _t(x), _t(y)
    if not _is_float(x) and not _is_float(y):
        x = astype(x, np.float64)
    return _binary(_P.divide, "divide", x, y)


def power(x, y):
    if type(y) in _PYSCALARS:
        return bind(_P.pow_scalar, _t(x), params=(y,))
    if type(x) in _PYSCALARS and x > 0:
        return bind(_P.rpow_scalar, _t(y), params=(float(x),))
    if type(x) in _PYSCALARS:
        y = _t(y)
        return _binary(_P.power, "power", _scalar_like(x, y), y)
    return _binary(_P.power, "power", x, y)


def maximum(x, y):
    x, y = _scalar_operands(x, y)
    return _binary(_P.maximum, "maximum", x, y)


def minimum(x, y):
    x, y = _scalar_operands(x, y)
    return _binary(_P.minimum, "minimum", x, y)


def _scalar_operands(x, y):
    if type(y) in _PYSCALARS:
        x = _t(x)
        return x, _scalar_like(y, x)
    if type(x) in _PYSCALARS:
        y = _t(y)
        return _scalar_like(x, y), y
    return x, y


def negative(x):
    return bind(_P.negative, _t(x))


def clip(x, a_min=None, a_max=None):
    """np.clip; the gradient passes where a_min <= x <= a_max."""
    x = _t(x)
    if (a_min is None or type(a_min) in _PYSCALARS) and (a_max is None or type(a_max) in _PYSCALARS):
        lo = -math.inf if a_min is None else float(a_min)
        hi = math.inf if a_max is None else float(a_max)
        return bind(_P.clip, x, params=(lo, hi))
    for bound in (a_min, a_max):
        if bound is not None:
            _check_broadcast("clip", x.shape, np.shape(bound))
    if a_min is not None:
        x = maximum(x, a_min)
    if a_max is not None:
        x = minimum(x, a_max)
    return x


def where(condition, x, y):
    """np.where(condition, x, y); differentiable in x and y."""
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        cond = cond.astype(bool)
    if type(x) in _PYSCALARS and type(y) in _PYSCALARS:
        return wrap(np.where(cond, x, y))
    x, y = _scalar_operands(x, y)
    x, y = _promote("where", _t(x), _t(y))
    try:
        np.broadcast_shapes(cond.shape, x.shape, y.shape)
    except ValueError:
        raise ValueError(f"pyad.where: condition, x and y could not be broadcast together with "
                         f"shapes {cond.shape}, {x.shape} and {y.shape}") from None
    return bind(_P.where, wrap(cond), x, y)


def _compare(name):
    def op(x, y):
        return bind(getattr(_P, name), _t(x), _t(y))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"np.{name}; not differentiable (returns a bool Tensor)."
    return op


less = _compare("less")
less_equal = _compare("less_equal")
greater = _compare("greater")
greater_equal = _compare("greater_equal")
equal = _compare("equal")
not_equal = _compare("not_equal")


def sign(x):
    return bind(_P.sign, _t(x))


def astype(x, dtype):
    x = _t(x)
    dtype = np.dtype(dtype)
    if x.data.dtype == dtype:
        return x
    if dtype.kind != "f" or x.data.dtype.kind != "f":
        return wrap(x.data.astype(dtype))       # to or from non-float: not differentiable
    return bind(_P.astype, x, params=(dtype,))


# --------------------------------------------------------------------------- matmul
def matmul(a, b):
    """np.matmul: 1-D operands are promoted and the added axis removed; batch dims broadcast."""
    a, b = _t(a), _t(b)
    sa, sb = a.data.shape, b.data.shape
    if (len(sa) == 2 and len(sb) == 2 and sa[1] == sb[0]
            and a.data.dtype == b.data.dtype):       # the common case, checked once
        return bind(_P.matmul, a, b)
    a, b = _promote("matmul", a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"pyad.matmul: operands must be at least 1-D, got shapes {sa} and {sb}; "
                         f"use multiply for scalars")
    if a.ndim == 1:
        a = reshape(a, (1, sa[0]))
    if b.ndim == 1:
        b = reshape(b, (sb[0], 1))
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"pyad.matmul: shapes {sa} and {sb} are not aligned: {a.shape[-1]} "
                         f"(last dim of the first) != {b.shape[-2]} (first dim of the second's "
                         f"last two)")
    if a.ndim > 2 or b.ndim > 2:
        try:
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise ValueError(f"pyad.matmul: batch dimensions of shapes {sa} and {sb} do not "
                             f"broadcast") from None
    out = bind(_P.matmul, a, b)
    if len(sa) == 1 and len(sb) == 1:
        return reshape(out, ())
    if len(sa) == 1:
        return reshape(out, out.shape[:-2] + out.shape[-1:])
    if len(sb) == 1:
        return reshape(out, out.shape[:-1])
    return out


def dot(a, b):
    """np.dot for operands of at most 2 dimensions."""
    a, b = _t(a), _t(b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    if a.ndim > 2 or b.ndim > 2:
        raise TypeError("pyad.dot supports operands of at most 2 dimensions; use matmul")
    return matmul(a, b)


# --------------------------------------------------------------------------- reductions
def _axes(op, axis, ndim):
    """A sorted tuple of non-negative axes; None means all of them."""
    if axis is None:
        return tuple(range(ndim))
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in items:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise TypeError(f"pyad.{op}: axis must be an int or a tuple of ints, got {axis!r}")
        if a < -ndim or a >= ndim:
            raise _AxisError(int(a), ndim, f"pyad.{op}")
        out.append(int(a) % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"pyad.{op}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def _one_axis(op, axis, ndim):
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"pyad.{op}: axis must be an int, got {axis!r}")
    return _axes(op, axis, ndim)[0]


def sum(x, axis=None, keepdims=False):
    x = _t(x)
    return bind(_P.sum, x, params=(_axes("sum", axis, x.ndim), bool(keepdims)))


def mean(x, axis=None, keepdims=False):
    x = _t(x)
    if not _is_float(x):
        x = astype(x, np.float64)
    axes = _axes("mean", axis, x.ndim)
    n = 1
    for a in axes:
        n *= x.shape[a]
    s = bind(_P.sum, x, params=(axes, bool(keepdims)))
    return multiply(s, 1.0 / n if n else math.nan)


def var(x, axis=None, ddof=0, keepdims=False):
    x = _t(x)
    if not _is_float(x):
        x = astype(x, np.float64)
    axes = _axes("var", axis, x.ndim)
    n = 1
    for a in axes:
        n *= x.shape[a]
    centred = subtract(x, mean(x, axis=axes, keepdims=True))
    ss = sum(square(centred), axis=axes, keepdims=keepdims)
    return multiply(ss, 1.0 / (n - ddof) if n - ddof > 0 else math.nan)


def max(x, axis=None, keepdims=False):
    x = _t(x)
    return bind(_P.max, x, params=(_axes("max", axis, x.ndim), bool(keepdims)))


def min(x, axis=None, keepdims=False):
    x = _t(x)
    return bind(_P.min, x, params=(_axes("min", axis, x.ndim), bool(keepdims)))


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) computed stably, over one axis, several, or all."""
    x = _t(x)
    if not _is_float(x):
        x = astype(x, np.float64)
    axes = _axes("logsumexp", axis, x.ndim)
    if len(axes) == 1:
        return bind(_P.logsumexp, x, params=(axes[0], bool(keepdims)))
    kept = [a for a in range(x.ndim) if a not in axes]
    moved = transpose(x, tuple(kept) + axes) if kept != list(range(len(kept))) else x
    flat = reshape(moved, tuple(x.shape[a] for a in kept) + (-1,))
    out = bind(_P.logsumexp, flat, params=(len(kept), False))
    if keepdims:
        out = reshape(out, tuple(1 if a in axes else n for a, n in enumerate(x.shape)))
    return out


def softmax(x, axis=-1):
    x = _t(x)
    return bind(_P.softmax, x, params=(_one_axis("softmax", axis, x.ndim),))


def log_softmax(x, axis=-1):
    x = _t(x)
    return bind(_P.log_softmax, x, params=(_one_axis("log_softmax", axis, x.ndim),))


# --------------------------------------------------------------------------- shapes
def reshape(x, shape):
    x = _t(x)
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    shape = tuple(int(s) for s in shape)
    if shape == x.data.shape:
        return x
    try:
        shape = x.data.reshape(shape).shape
    except ValueError as e:
        raise ValueError(f"pyad.reshape: {e}") from None
    return bind(_P.reshape, x, params=(shape,))


def transpose(x, axes=None):
    x = _t(x)
    n = x.ndim
    if axes is None:
        axes = tuple(range(n - 1, -1, -1))
    else:
        axes = tuple(int(a) % n if -n <= a < n else a for a in axes)
        if sorted(axes) != list(range(n)):
            raise ValueError(f"pyad.transpose: axes {axes} are not a permutation of the "
                             f"{n} dimensions of an array of shape {x.shape}")
    if axes == tuple(range(n)):
        return x
    return bind(_P.transpose, x, params=(axes,))


def swapaxes(x, axis1, axis2):
    x = _t(x)
    axes = list(range(x.ndim))
    a, b = _one_axis("swapaxes", axis1, x.ndim), _one_axis("swapaxes", axis2, x.ndim)
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, tuple(axes))


def expand_dims(x, axis):
    x = _t(x)
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    axes = _axes("expand_dims", items, x.ndim + len(items))
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return reshape(x, tuple(shape))


def squeeze(x, axis=None):
    x = _t(x)
    if axis is None:
        axes = tuple(i for i, n in enumerate(x.shape) if n == 1)
    else:
        axes = _axes("squeeze", axis, x.ndim)
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError(f"pyad.squeeze: cannot select axis {a} of shape {x.shape}: "
                                 f"it has size {x.shape[a]}, not 1")
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def broadcast_to(x, shape):
    x = _t(x)
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if shape == x.shape:
        return x
    try:
        np.broadcast_shapes(x.shape, shape)
        if len(shape) < x.ndim or np.broadcast_shapes(x.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"pyad.broadcast_to: cannot broadcast shape {x.shape} to {shape}") from None
    return bind(_P.broadcast_to, x, params=(shape,))


def sum_to(x, shape):
    """Sum x down to a shape it was broadcast from (the adjoint of broadcast_to)."""
    x = _t(x)
    shape = tuple(shape)
    if x.data.shape == shape:
        return x
    return bind(_P.sum_to, x, params=(shape,))


def concatenate(arrays, axis=0):
    ts = [_t(a) for a in arrays]
    if not ts:
        raise ValueError("pyad.concatenate: need at least one array to concatenate")
    dt = np.result_type(*[t.data for t in ts])
    ts = [astype(t, dt) for t in ts]
    nd = ts[0].ndim
    if nd == 0:
        raise ValueError("pyad.concatenate: zero-dimensional arrays cannot be concatenated")
    ax = _one_axis("concatenate", axis, nd)
    for t in ts[1:]:
        if t.ndim != nd or any(t.shape[i] != ts[0].shape[i] for i in range(nd) if i != ax):
            raise ValueError(f"pyad.concatenate: shapes {[t.shape for t in ts]} differ outside "
                             f"axis {ax}")
    return bind(_P.concatenate, *ts, params=(ax,))


def stack(arrays, axis=0):
    ts = [_t(a) for a in arrays]
    if not ts:
        raise ValueError("pyad.stack: need at least one array to stack")
    if any(t.shape != ts[0].shape for t in ts):
        raise ValueError(f"pyad.stack: all input arrays must have the same shape, got "
                         f"{[t.shape for t in ts]}")
    ax = _axes("stack", axis, ts[0].ndim + 1)[0]
    return concatenate([expand_dims(t, ax) for t in ts], axis=ax)


def _index_key(key):
    """An indexing key with Tensors and lists turned into arrays (integer or bool)."""
    if isinstance(key, tuple):
        return tuple(_index_key(k) for k in key)
    if isinstance(key, Tensor):
        key = key.data
    if isinstance(key, list):
        key = np.asarray(key)
    if isinstance(key, np.ndarray) and key.dtype.kind not in "iub":
        raise IndexError(f"pyad.getitem: index arrays must be integer or bool, got dtype "
                         f"{key.dtype}")
    return key


def getitem(x, key):
    """x[key] with basic and integer/bool-array indexing; the gradient scatters (repeated
    indices accumulate)."""
    x = _t(x)
    key = _index_key(key)
    try:
        x.data[key]
    except IndexError as e:
        raise IndexError(f"pyad.getitem: {e} (tensor shape {x.shape})") from None
    return bind(_P.getitem, x, params=(key,))


def take(x, indices, axis=None):
    """np.take: indices along one axis (of the flattened array when axis is None)."""
    x = _t(x)
    idx = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    if idx.dtype.kind not in "iu":
        raise IndexError(f"pyad.take: indices must be integers, got dtype {idx.dtype}")
    if axis is None:
        x, ax = reshape(x, (-1,)), 0
    else:
        ax = _one_axis("take", axis, x.ndim)
    n = x.shape[ax]
    if idx.size and (idx.max() >= n or idx.min() < -n):
        bad = idx.max() if idx.max() >= n else idx.min()
        raise IndexError(f"pyad.take: index {bad} is out of bounds for axis {ax} with size {n}")
    return getitem(x, (slice(None),) * ax + (idx,))


# --------------------------------------------------------------------------- constructors
def zeros(shape, dtype=np.float64):
    return wrap(np.zeros(shape, dtype=dtype))


def ones(shape, dtype=np.float64):
    return wrap(np.ones(shape, dtype=dtype))


def full(shape, fill_value, dtype=None):
    return wrap(np.full(shape, fill_value, dtype=dtype))


def zeros_like(x, dtype=None):
    return wrap(np.zeros_like(_t(x).data, dtype=dtype))


def ones_like(x, dtype=None):
    return wrap(np.ones_like(_t(x).data, dtype=dtype))


def arange(*args, dtype=None):
    return wrap(np.arange(*args, dtype=dtype))


from pyad import prims as _P  # noqa: E402  (the table's rules call back into this module)

# elementwise unary functions: compiled closures straight to bind (no Python frame per call)
_UNARY_NAMES = ("exp", "log", "log1p", "sqrt", "square", "abs", "sin", "cos", "tanh",
                "sigmoid", "relu", "softplus")
exp, log, log1p, sqrt, square, abs, sin, cos, tanh, sigmoid, relu, softplus = (
    _tape.make_unary(_P.PRIMITIVES[_n], _n,
                     f"Elementwise {_n} (numpy semantics), differentiable.")
    for _n in _UNARY_NAMES)
absolute = abs
_tape._install(sys.modules[__name__], _P.PRIMITIVES)

# the op families (numpy breadth): their public functions are pyad.ops functions too
from pyad.ops_math import *  # noqa: E402,F401,F403
from pyad.ops_array import *  # noqa: E402,F401,F403
from pyad.ops_linalg import *  # noqa: E402,F401,F403
from pyad import ops_array as _ops_array, ops_linalg as _ops_linalg, ops_math as _ops_math  # noqa: E402
FAMILY_NAMES = tuple(_ops_math.__all__) + tuple(_ops_array.__all__) + tuple(_ops_linalg.__all__)

from pyad._numpy_dispatch import _array_function, _array_ufunc  # noqa: E402,F401
from pyad._numpy_dispatch import _register_families  # noqa: E402

_register_families()
