"""Drop-in for ``import autograd.numpy as np``: numpy's namespace, differentiable on pyad Tensors.

Every numpy function that pyad implements (``pyad.__all__``, the op families, ``pyad.linalg``)
is a thin wrapper: it calls pyad when an argument, or an element of a list or tuple argument,
is a pyad Tensor, and numpy itself otherwise, so code outside a transform keeps getting numpy
arrays at numpy's speed. Lists of traced values (``np.array([x, 2 * x])``, ``np.sum([a, b])``,
``np.r_[x, 0.0]``) are stacked into one Tensor and keep their derivative. Functions whose
results carry no derivative (``argmax``, ``isnan``, ``allclose``, ...) run on the Tensors'
values. Everything else (dtypes, constants, ``ndarray``, ``random``, ...) is numpy's own object.

Examples
--------
>>> import pyad
>>> import pyad.ops.numpy as np
>>> np.tanh(np.array([0.0, 1.0]))                  # numpy in, numpy out
array([0.        , 0.76159416])
>>> def f(x):
...     return np.sum(np.array([x, x ** 2, 1.0]) * np.pi)
>>> float(pyad.grad(f)(2.0) / np.pi)               # d/dx (x + x^2 + 1) at 2
5.0
>>> np.float64 is __import__("numpy").float64
True
"""
import importlib as _importlib
import sys as _sys
from typing import Any as _Any

import numpy as _np
import numpy.fft  # noqa: F401  (numpy loads these lazily; pyad.ops.numpy exposes them at once)
import numpy.linalg  # noqa: F401
import numpy.random  # noqa: F401

import pyad as _pyad
from pyad.ops import numpy_dispatch as _dispatch
from pyad.ops import core as _ops
from pyad.engine._tape import Tensor as _Tensor
from pyad.engine._tape import wrap as _wrap_array
from pyad.ops.numpy import _wrapping as _w

_MODULE = "pyad.numpy"  # its public name (the file lives in the ops layer)

# numpy's own objects first: dtypes, constants, ndarray, isscalar, random, ...
globals().update({_k: _v for _k, _v in vars(_np).items() if not _k.startswith("_")})

#: name -> the function a wrapper calls on Tensors (looked up per call)
_TRACED = {}
#: name -> wrapper, for every wrapper that reaches pyad
_WRAPPED = {}
#: name -> wrapper of a numpy function with no derivative, run on the Tensors' values
_NOGRAD = {}


def _op_names():
    """pyad's numpy-named array functions: pyad.ops.core' public functions and the op families'."""
    names = set(_ops.FAMILY_NAMES)
    for n in _pyad.__all__:
        fn = getattr(_pyad, n, None)
        if callable(fn) and getattr(_ops, n, None) is fn:
            names.add(n)
    return names


def _dispatch_target(obj):
    """The function numpy's protocols (NEP 13/18) call on Tensors for this numpy function."""
    table = _dispatch._UFUNCS if isinstance(obj, _np.ufunc) else _dispatch._FUNCTIONS
    try:
        return table.get(obj)
    except TypeError:       # unhashable
        return None


def _t(x):
    return _ops._t(x)


def _no_out(name, out):
    if out is not None:
        raise TypeError(f"pyad.ops.numpy.{name}(..., out=...) cannot write into a pyad Tensor "
                        f"(Tensors are immutable)")


def _cast(t, dtype):
    return t if dtype is None else _ops.astype(t, dtype)


# --------------------------------------------------------------------------- traced versions
# Each receives the arguments with lists of traced values already packed into Tensors.
def _array(object, dtype=None, *, copy=True, order="K", subok=False, ndmin=0, like=None):
    t = _cast(_t(object), dtype)
    if ndmin > t.ndim:
        t = _ops.reshape(t, (1,) * (ndmin - t.ndim) + t.shape)
    return t


def _asarray(a, dtype=None, order=None, **kwargs):
    return _cast(_t(a), dtype)


def _shape_tuple(shape):
    if isinstance(shape, (int, _np.integer)):
        return (int(shape),)
    return tuple(int(s) for s in shape)


def _full(shape, fill_value, dtype=None, order="C", **kwargs):
    if not isinstance(fill_value, _Tensor):         # only the shape held a Tensor
        return _wrap_array(_np.full(_shape_tuple(shape), fill_value, dtype))
    return _ops.broadcast_to(_cast(fill_value, dtype), _shape_tuple(shape))


def _full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, **kwargs):
    a_dtype = a.dtype if isinstance(a, _Tensor) else _np.asarray(a).dtype
    shape = _np.shape(a.data if isinstance(a, _Tensor) else a) if shape is None else shape
    if not isinstance(fill_value, _Tensor):
        return _wrap_array(_np.full(_shape_tuple(shape), fill_value, dtype or a_dtype))
    return _ops.broadcast_to(_ops.astype(fill_value, dtype or a_dtype), _shape_tuple(shape))


def _dot(a, b, out=None):
    _no_out("dot", out)
    return _ops.dot(a, b)          # numpy's dot for any ranks


def _where(condition, *xy):
    if not xy:          # the one-argument form: indices, no derivative
        return _np.where(_w.unbox(condition))
    return _WHERE_TARGET(condition, *xy)


def _concatenate(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    _no_out("concatenate", out)
    ts = [_cast(_t(a), dtype) for a in arrays]
    if axis is None:
        ts, axis = [_ops.reshape(t, (-1,)) for t in ts], 0
    return _CONCATENATE_TARGET(ts, axis=axis)


def _stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    _no_out("stack", out)
    return _STACK_TARGET([_cast(_t(a), dtype) for a in arrays], axis=axis)


def _real_if_close(a, tol=100):
    """numpy.real_if_close: the real part when every imaginary part is within tol machine
    epsilons of 0 (decided on the values), else a unchanged."""
    t = _t(a)
    if t.dtype.kind != "c":
        return t
    eps = np.finfo(t.dtype).eps
    small = bool(np.all(np.abs(np.imag(np.asarray(t.data))) < tol * eps)) if tol > 1 else \
        bool(np.all(np.abs(np.imag(np.asarray(t.data))) < tol))
    return _ops.real(t) if small else t


_FALLBACKS = {"copy": lambda x, *args, **kwargs: _t(x), "real_if_close": _real_if_close}

# numpy parameters that are sequences of arrays: their elements are packed one by one
_SEQUENCE_ARGS = {"concatenate": (0,), "concat": (0,), "stack": (0,), "vstack": (0,),
                  "hstack": (0,), "dstack": (0,), "column_stack": (0,), "row_stack": (0,),
                  "select": (0, 1), "choose": (1,)}

# numpy functions whose results carry no derivative: run on the values (as autograd does)
_NOGRAD_NAMES = (
    "all any allclose argmax argmin argpartition argsort argwhere array_equal array_equiv "
    "bincount ceil count_nonzero digitize fix flatnonzero floor floor_divide histogram "
    "iscomplex iscomplexobj isclose isfinite isinf isnan isneginf isposinf isreal isrealobj "
    "logical_and logical_not logical_or logical_xor nonzero rint round around searchsorted "
    "trunc unique result_type can_cast min_scalar_type").split()


# --------------------------------------------------------------------------- documented ones
def _examples_doc(qualname, summary, examples):
    return f"""{summary}

Calls pyad when any argument (or an element of a list or tuple argument, at any depth) is a
pyad Tensor, after stacking each list that holds a Tensor into one Tensor (numpy's dtype
rules, Python numbers mixed in); otherwise calls ``{qualname}`` itself.

Parameters
----------
*args, **kwargs
    As for ``{qualname}``.

Returns
-------
Tensor or numpy.ndarray
    A Tensor when an argument held a Tensor, numpy's result otherwise.

Examples
--------
{examples}
"""


_DOCS = {
    "array": ("numpy.array that keeps the derivative of traced elements.", """\
>>> import pyad, pyad.ops.numpy as np
>>> np.array([1.0, 2.0])
array([1., 2.])
>>> x = pyad.tensor(3.0)
>>> np.array([[x, 1.0], [2 * x, 0.0]])
tensor([[3., 1.],
        [6., 0.]])
>>> float(pyad.grad(lambda x: np.sum(np.array([x, x ** 2]) ** 2))(1.0))
6.0"""),
    "asarray": ("numpy.asarray that keeps the derivative of traced elements.", """\
>>> import pyad, pyad.ops.numpy as np
>>> np.asarray([pyad.tensor(1.0), 2], dtype=np.float32)
tensor([1., 2.], dtype=float32)
>>> np.asarray([1, 2])
array([1, 2])"""),
    "full": ("numpy.full, differentiable in fill_value.", """\
>>> import pyad, pyad.ops.numpy as np
>>> np.full((2, 2), pyad.tensor(1.5))
tensor([[1.5, 1.5],
        [1.5, 1.5]])
>>> float(pyad.grad(lambda v: np.sum(np.full(3, v)))(0.5))
3.0"""),
    "full_like": ("numpy.full_like, differentiable in fill_value.", """\
>>> import pyad, pyad.ops.numpy as np
>>> np.full_like(np.zeros(3), pyad.tensor(2.0))
tensor([2., 2., 2.])"""),
    "dot": ("numpy.dot on pyad Tensors of any ranks.", """\
>>> import pyad, pyad.ops.numpy as np
>>> a = pyad.tensor(np.arange(6.0).reshape(3, 2))
>>> np.dot(a, [1.0, 1.0])
tensor([1., 5., 9.])
>>> np.dot(np.ones((2, 1, 3)), np.ones((3, 2))).shape
(2, 1, 2)"""),
    "where": ("numpy.where, differentiable in x and y.", """\
>>> import pyad, pyad.ops.numpy as np
>>> x = pyad.tensor([-1.0, 2.0])
>>> np.where(x > 0, x, 0.0)
tensor([0., 2.])
>>> np.where(x > 0)
(array([1]),)"""),
    "concatenate": ("numpy.concatenate of Tensors and lists holding them.", """\
>>> import pyad, pyad.ops.numpy as np
>>> x = pyad.tensor([1.0, 2.0])
>>> np.concatenate([x, [3.0, x[0]]])
tensor([1., 2., 3., 1.])
>>> np.concatenate([np.ones((1, 2)), pyad.tensor([[5.0]])], axis=None)
tensor([1., 1., 5.])"""),
    "stack": ("numpy.stack of Tensors and lists holding them.", """\
>>> import pyad, pyad.ops.numpy as np
>>> x = pyad.tensor([1.0, 2.0])
>>> np.stack([x, 2 * x], axis=1)
tensor([[1., 2.],
        [2., 4.]])"""),
    "append": ("numpy.append that keeps the derivative of traced values.", """\
>>> import pyad, pyad.ops.numpy as np
>>> np.append(pyad.tensor([1.0, 2.0]), 0.0)
tensor([1., 2., 0.])"""),
    "hstack": ("numpy.hstack of Tensors and lists holding them.", """\
>>> import pyad, pyad.ops.numpy as np
>>> np.hstack([pyad.tensor([1.0]), [2.0, 3.0]])
tensor([1., 2., 3.])"""),
    "vstack": ("numpy.vstack of Tensors and lists holding them.", """\
>>> import pyad, pyad.ops.numpy as np
>>> np.vstack([pyad.tensor([1.0, 2.0]), [3.0, 4.0]])
tensor([[1., 2.],
        [3., 4.]])"""),
    "column_stack": ("numpy.column_stack of Tensors and lists holding them.", """\
>>> import pyad, pyad.ops.numpy as np
>>> np.column_stack([pyad.tensor([1.0, 2.0]), [3.0, 4.0]])
tensor([[1., 3.],
        [2., 4.]])"""),
    "ravel": ("numpy.ravel that keeps the derivative.", """\
>>> import pyad, pyad.ops.numpy as np
>>> np.ravel(pyad.tensor([[1.0, 2.0], [3.0, 4.0]]))
tensor([1., 2., 3., 4.])"""),
    "outer": ("numpy.outer that keeps the derivative.", """\
>>> import pyad, pyad.ops.numpy as np
>>> np.outer(pyad.tensor([1.0, 2.0]), [1.0, 10.0])
tensor([[ 1., 10.],
        [ 2., 20.]])"""),
}


# traced versions written here (they call pyad's functions) in place of the table's
_OVERRIDES = {"array": _array, "asarray": _asarray, "asanyarray": _asarray,
              "ascontiguousarray": _asarray, "asfortranarray": _asarray, "full": _full,
              "full_like": _full_like, "dot": _dot, "where": _where,
              "concatenate": _concatenate, "concat": _concatenate, "stack": _stack}


def _install():
    ops_named = _op_names()
    public = [(n, o) for n, o in vars(_np).items() if not n.startswith("_") and callable(o)
              and not isinstance(o, type)]
    for name, obj in public:
        pyad_fn = getattr(_pyad, name) if name in ops_named else None
        target = _dispatch_target(obj)
        if name in _OVERRIDES:
            traced = _OVERRIDES[name]
        elif target is not None or pyad_fn is not None:
            traced = target or pyad_fn
            if isinstance(obj, _np.ufunc):
                traced = _w.ufunc_target(name, traced)
        elif name in _FALLBACKS:
            traced = _FALLBACKS[name]
        elif name in _NOGRAD_NAMES:
            _NOGRAD[name] = globals()[name] = _w.make_nograd(name, obj, _MODULE)
            continue
        else:
            continue
        doc = None
        if name in _DOCS:
            doc = _examples_doc(f"numpy.{name}", *_DOCS[name])
        _WRAPPED[name] = globals()[name] = _w.make_wrapper(
            name, obj, traced, _TRACED, _MODULE, pyad_fn=pyad_fn,
            sequence_positions=_SEQUENCE_ARGS.get(name, ()), doc=doc)


_WHERE_TARGET = _dispatch._FUNCTIONS.get(_np.where) or _ops.where
_CONCATENATE_TARGET = getattr(_pyad, "concatenate")
_STACK_TARGET = getattr(_pyad, "stack")
_install()


# --------------------------------------------------------------------------- r_ and c_
class AxisConcatenator:
    """numpy's ``r_`` / ``c_`` index tricks, differentiable when an item holds a Tensor.

    ``r_[a, b, 1.0, 0:3]`` concatenates along the first axis (scalars and slices become 1-D
    arrays); ``c_[a, b]`` stacks 1-D items as columns. String directives (``'0,2,0'``) work as
    in numpy; the matrix directives ``'r'``/``'c'`` only without Tensors.

    Parameters
    ----------
    numpy_concatenator : numpy.lib.index_tricks.AxisConcatenator
        numpy's object (``numpy.r_`` or ``numpy.c_``): its axis, ndmin and trans1d, and what
        runs when no item is a Tensor.

    Returns
    -------
    AxisConcatenator
        An object to index: ``r_[...]`` gives a Tensor when an item holds one.

    Examples
    --------
    >>> import pyad, pyad.ops.numpy as np
    >>> x = pyad.tensor([1.0, 2.0])
    >>> np.r_[x, 0.0, 5:7]
    tensor([1., 2., 0., 5., 6.])
    >>> np.c_[x, [3.0, 4.0]]
    tensor([[1., 3.],
            [2., 4.]])
    >>> np.r_[1:3, [7]]
    array([1, 2, 7])
    """

    def __init__(self, numpy_concatenator: _Any) -> None:
        self.numpy_concatenator = numpy_concatenator
        self.axis = numpy_concatenator.axis
        self.ndmin = numpy_concatenator.ndmin
        self.trans1d = numpy_concatenator.trans1d

    def __getitem__(self, key):
        items = key if isinstance(key, tuple) else (key,)
        if not _w.has_tensor(items):
            return self.numpy_concatenator[key]
        axis, ndmin, trans1d = self.axis, self.ndmin, self.trans1d
        arrays, weak = [], []       # weak: positions of Python scalars (numpy's NEP 50)
        for k, item in enumerate(items):
            if isinstance(item, str):
                if k != 0:
                    raise ValueError("pyad.ops.numpy: a string directive must come first in r_/c_")
                if item in ("r", "c"):
                    raise TypeError("pyad.ops.numpy: the matrix directives 'r' and 'c' are not "
                                    "supported with pyad Tensors")
                vec = [int(v) for v in item.split(",")]
                axis = vec[0]
                ndmin = vec[1] if len(vec) > 1 else ndmin
                trans1d = vec[2] if len(vec) > 2 else trans1d
                continue
            if type(item) in (int, float, bool):
                weak.append(len(arrays))
                arrays.append(item)
                continue
            t = _wrap_array(self.numpy_concatenator[item]) if isinstance(item, slice) \
                else _t(_w.pack(item))
            arrays.append(self._promote(t, ndmin, trans1d))
        strong = [a.dtype for i, a in enumerate(arrays) if i not in weak]
        dtype = _np.result_type(*strong, *[arrays[i] for i in weak])
        parts = [_wrap_array(_np.full((1,) * ndmin, a, dtype=dtype)) if i in weak
                 else _ops.astype(a, dtype) for i, a in enumerate(arrays)]
        return _ops.concatenate(parts, axis=axis)

    @staticmethod
    def _promote(t, ndmin, trans1d):
        """numpy's rule: at least ndmin dims (leading ones); trans1d moves the old axes."""
        nd = t.ndim
        if nd >= ndmin:
            return t
        t = _ops.reshape(t, (1,) * (ndmin - nd) + t.shape)
        if trans1d != -1 and nd > 0:
            k2, k1 = ndmin - nd, trans1d
            if k1 < 0:
                k1 += k2 + 1
            axes = list(range(ndmin))
            t = _ops.transpose(t, tuple(axes[:k1] + axes[k2:] + axes[k1:k2]))
        return t

    def __len__(self):
        return 0


r_ = AxisConcatenator(_np.r_)
c_ = AxisConcatenator(_np.c_)

# np.random is numpy.random itself, importable as pyad.numpy.random too
random = _np.random
_sys.modules.setdefault(f"{_MODULE}.random", _np.random)

# pyad.linalg's functions, the rest numpy.linalg's (imported by module name: the attribute
# copied from numpy above would otherwise satisfy `from pyad.numpy import linalg`)
linalg = _importlib.import_module(f"{__name__}.linalg")
fft = _importlib.import_module(f"{__name__}.fft")

__all__ = [n for n in _np.__all__ if not n.startswith("_")]


def __getattr__(name):
    """numpy's lazily loaded names (``ma``, ``polynomial``, ...) from numpy itself.

    Parameters
    ----------
    name : str
        An attribute pyad.ops.numpy does not hold.

    Returns
    -------
    object
        ``getattr(numpy, name)``; numpy raises AttributeError for names it lacks.

    Examples
    --------
    >>> import numpy, pyad.ops.numpy as np
    >>> np.polynomial is numpy.polynomial
    True
    """
    return getattr(_np, name)


def __dir__():
    """numpy's public names with pyad.ops.numpy's own.

    Returns
    -------
    list of str
        The sorted names.

    Examples
    --------
    >>> import numpy, pyad.ops.numpy as np
    >>> set(n for n in dir(numpy) if not n.startswith("_")) <= set(dir(np))
    True
    """
    return sorted(set(globals()) | set(dir(_np)))
