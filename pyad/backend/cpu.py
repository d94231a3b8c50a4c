"""CPU backend: every primitive's forward kernel by name (C++ in pyad._C, BLAS, or numpy),
numpy array creation, and the fused C++ optimizer updates."""
import numpy as np

from pyad import _C
from pyad.backend import array_api
from pyad.backend._blas import matmul as _matmul, matmul_into as _matmul_into
from pyad.backend._blas import matmul_sum as _matmul_sum, matmul_sum_into as _matmul_sum_into

def _merged(shape, axes):
    """shape with each run of adjacent axes that are all reduced (or all kept) merged into
    one, and the merged reduced axes: (N, C, H, W) over (0, 2, 3) is (N, C, H W) over (0, 2)."""
    dims, reduced = [], []
    for i, n in enumerate(shape):
        r = i in axes
        if dims and (i - 1 in axes) == r:
            dims[-1] *= n
        else:
            dims.append(n)
            if r:
                reduced.append(len(dims) - 1)
    return dims, reduced


def _reduce(kernel):
    """Reduce over a sorted tuple of axes: the C++ kernels take one axis (or all of them), so
    runs of adjacent axes are merged first (one pass each) and the rest reduced in turn."""
    def reduce(x, axes, keepdims):
        if len(axes) == x.ndim:
            out = kernel(x, None)
        elif len(axes) == 1:
            out = kernel(x, axes[0])
        else:
            dims, merged = _merged(x.shape, axes)
            out = x.reshape(dims)
            for ax in reversed(merged):
                out = kernel(np.ascontiguousarray(out), ax)
            out = out.reshape([n for i, n in enumerate(x.shape) if i not in axes])
        if keepdims:
            out = out.reshape([1 if i in axes else n for i, n in enumerate(x.shape)])
        return out
    return reduce


def _logsumexp(x, axis, keepdims):
    out = _C.kernels.logsumexp(x, axis)
    return np.expand_dims(out, axis) if keepdims else out


def _summed_axes(x, shape):
    """The axes sum_to(x, shape) adds up: x's extra leading ones and those shape keeps as 1."""
    lead = x.ndim - len(shape)
    return tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1)


def _sum_to(x, shape):
    if (len(shape) == 1 and x.ndim == 2 and x.shape[1] == shape[0] and x.shape[0] != 1
            and type(x) is np.ndarray and x.dtype.char in "fd" and x.flags.c_contiguous):
        return _C.kernels.sum(x, 0)      # a batch's bias gradient: the general path's kernel
    axes = _summed_axes(x, shape)
    out = _sum(np.ascontiguousarray(x), axes, False) if axes else x
    return out.reshape(shape)


def _sum_to_numpy(x, shape):
    """sum_to for any dtype numpy sums (complex included)."""
    axes = _summed_axes(x, shape)
    return np.sum(x, axis=axes).reshape(shape) if axes else np.array(x, copy=True).reshape(shape)


def _scatter_add(g, shape, key):
    """zeros(shape) with g added at x[key]; repeated integer indices accumulate."""
    out = np.zeros(shape, dtype=g.dtype)
    if isinstance(key, np.ndarray) and key.ndim == 1 and key.dtype.kind in "iu":
        _C.index_add(out, np.ascontiguousarray(key, dtype=np.intp), np.ascontiguousarray(g))
    elif _is_basic(key):
        out[key] = g
    else:
        np.add.at(out, key, g)
    return out


def _is_basic(key):
    items = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, (slice, int, np.integer))
               for k in items)


def _concatenate(*arrays_then_axis):
    return np.concatenate(arrays_then_axis[:-1], axis=arrays_then_axis[-1])


_sum = _reduce(_C.kernels.sum)

# pyad._C.kernels holds the C++ forward kernels under their rows' names; the rest (and the
# reductions, whose C++ kernels take one axis) are given here
_COMPILED = {name: fn for name, fn in vars(_C.kernels).items() if not name.startswith("_")}
KERNELS = dict(_COMPILED)
KERNELS.update(
    sum=_sum,
    max=_reduce(_C.kernels.max),
    min=_reduce(_C.kernels.min),
    logsumexp=_logsumexp,
    sum_to=_sum_to,
    matmul=_matmul,
    matmul_sum=_matmul_sum,
    reshape=lambda x, shape: x.reshape(shape),          # the methods: np.reshape's dispatch
    transpose=lambda x, axes: x.transpose(axes),        # costs ~0.4 us a call
    broadcast_to=_C.broadcast_view,                     # np.broadcast_to's view, in C
    getitem=lambda x, key: np.asarray(x[key]),
    scatter_add=_scatter_add,
    concatenate=_concatenate,
    where=np.where,
    astype=lambda x, dtype: x.astype(dtype),
    sign=np.sign,
    less=np.less, less_equal=np.less_equal, greater=np.greater,
    greater_equal=np.greater_equal, equal=np.equal, not_equal=np.not_equal,
)

# numpy equivalents for inputs the C++ kernels do not take (integer and bool arrays)
FALLBACKS = {name: getattr(np, name) for name in _COMPILED
             if isinstance(getattr(np, name, None), np.ufunc)}
FALLBACKS.update(
    # complex (and integer) inputs of C++ rows whose rules hold for complex numbers
    sqrt_backward=lambda g, ans: g / (2.0 * ans),
    tanh_backward=lambda g, ans: g * (1.0 - ans * ans),
    tanh_backward_tangent=lambda g, y, dg, dy: dg * (1.0 - y * y) - 2.0 * g * y * dy,
    matmul=np.matmul,
    matmul_sum=lambda a, b, c, d: np.matmul(a, b) + np.matmul(c, d),
    sum_to=lambda x, shape: _sum_to_numpy(x, shape),
    sigmoid=lambda x: 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64))),
    relu=lambda x: np.maximum(x, 0),
    softplus=lambda x: np.logaddexp(0.0, x),
    add_scalar=lambda x, c: x + c,
    mul_scalar=lambda x, c: x * c,
    rsub_scalar=lambda x, c: c - x,
    rdiv_scalar=lambda x, c: c / x,
    pow_scalar=lambda x, c: x ** c,
    rpow_scalar=lambda x, c: c ** x,
    clip=lambda x, lo, hi: np.clip(x, lo, hi),
    sum=lambda x, axes, keepdims: np.sum(x, axis=axes, keepdims=keepdims),
    max=lambda x, axes, keepdims: np.max(x, axis=axes, keepdims=keepdims),
    min=lambda x, axes, keepdims: np.min(x, axis=axes, keepdims=keepdims),
)

# the op families' numpy kernels (numpy breadth), one file per family
from pyad.backend import (numpy_activations, numpy_array, numpy_conv, numpy_fft,  # noqa: E402
                          numpy_linalg, numpy_math, numpy_norm, numpy_scipy, numpy_special)

for _family in (numpy_math, numpy_array, numpy_linalg, numpy_special, numpy_scipy, numpy_fft,
                numpy_activations, numpy_conv, numpy_norm):
    KERNELS.update(_family.KERNELS)
    FALLBACKS.update(getattr(_family, "FALLBACKS", {}))


class CpuBackend(array_api.ArrayAPIBackend):
    """numpy arrays: the generic kernels overridden by C++, BLAS and numpy ones (all rows)."""

    def device_of(self, x):
        return "cpu"

    def is_floating(self, x):
        return x.dtype.kind == "f"

    def dtype(self, dtype):
        return dtype

    def zeros_like(self, x, dtype=None):
        return np.zeros_like(x, dtype=dtype)

    def ones_like(self, x, dtype=None):
        return np.ones_like(x, dtype=dtype)

    def empty(self, shape, dtype, like):
        return np.empty(shape, dtype=dtype)

    def zeros(self, shape, dtype, like):
        return np.zeros(shape, dtype=dtype)

    def ones(self, shape, dtype, like):
        return np.ones(shape, dtype=dtype)

    def eye(self, n, dtype, like):
        return np.eye(n, dtype=dtype)

    def asarray(self, obj, dtype, like):
        return np.asarray(obj, dtype=dtype)

    def to_host(self, x):
        return np.asarray(x)

    def from_host(self, a, like):
        return a


CPU = CpuBackend(np, name="cpu", kernels={**array_api.KERNELS, **KERNELS}, fallbacks=FALLBACKS,
                 updates={"sgd": _C.sgd_update, "rmsprop": _C.rmsprop_update,
                          "adam": _C.adam_update})
CPU.many_updates = {"sgd": _C.sgd_update_many, "rmsprop": _C.rmsprop_update_many,
                    "adam": _C.adam_update_many}
# rows whose kernel can write its output into a given array: into(dest, *arrays, *params) ->
# whether it did (the engine's gradient destinations, gradients made in their bucket, and
# Tape.replay's outputs, Hessian products made in a flat vector)
CPU.into_kernels = {"matmul": _matmul_into, "matmul_sum": _matmul_sum_into}
