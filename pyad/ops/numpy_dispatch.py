"""Plain numpy calls on Tensors (np.tanh(t), np.sum(t, axis=0)) routed to pyad (NEP 13/18)."""
import sys

import numpy as np

from pyad.ops import core as ops

# numpy ufunc -> pyad function, filled from the public names (register_numpy_names)
_UFUNCS = {}


# callables that register another library's ufuncs once it is imported (see register_later)
_PENDING = []


def register_ufuncs(mapping):
    """Ufuncs of other libraries (scipy.special's) that dispatch to pyad functions on Tensors:
    {ufunc: pyad function of the same signature}."""
    _UFUNCS.update(mapping)


def register_later(provider):
    """provider() registers a library's ufuncs and returns True, or returns False while that
    library is not imported yet; it runs when a ufunc pyad does not know reaches a Tensor
    (only an imported library's ufunc can), so pyad need not import the library itself."""
    _PENDING.append(provider)


def _registered(ufunc):
    fn = _UFUNCS.get(ufunc)
    if fn is None and _PENDING:
        _PENDING[:] = [provider for provider in _PENDING if not provider()]
        fn = _UFUNCS.get(ufunc)
    return fn


def _ufunc_name(ufunc):
    """'np.tanh' or 'scipy.special.gammaln': where the ufunc comes from, for messages."""
    for module in ("scipy.special", "scipy.special._ufuncs"):
        found = sys.modules.get(module)
        if found is not None and getattr(found, ufunc.__name__, None) is ufunc:
            return f"scipy.special.{ufunc.__name__.lstrip('_')}"
    return f"np.{ufunc.__name__}"


def _array_ufunc(ufunc, method, inputs, kwargs):
    fn = _registered(ufunc)
    if fn is None or method != "__call__":
        name = _ufunc_name(ufunc)
        what = name + ("" if method == "__call__" else f".{method}")
        where = "pyad.scipy.special" if name.startswith("scipy") else "pyad.__all__"
        raise TypeError(f"pyad: {what} is not supported on pyad Tensors; use a pyad "
                        f"function (see {where}), or apply it to t.detach().numpy() where "
                        f"dropping the derivative is meant")
    if kwargs:
        raise TypeError(f"pyad: np.{ufunc.__name__} on Tensors does not take "
                        f"{sorted(kwargs)}; Tensors are immutable, so out= is not supported")
    return fn(*inputs)


def _amax(a, axis=None, out=None, keepdims=False):
    _no_out("max", out)
    return ops.max(a, axis=axis, keepdims=keepdims)


def _amin(a, axis=None, out=None, keepdims=False):
    _no_out("min", out)
    return ops.min(a, axis=axis, keepdims=keepdims)


def _sum(a, axis=None, dtype=None, out=None, keepdims=False):
    _no_out("sum", out)
    return ops.sum(a if dtype is None else ops.astype(a, dtype), axis=axis, keepdims=keepdims)


def _mean(a, axis=None, dtype=None, out=None, keepdims=False):
    _no_out("mean", out)
    return ops.mean(a if dtype is None else ops.astype(a, dtype), axis=axis, keepdims=keepdims)


def _var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    _no_out("var", out)
    return ops.var(a if dtype is None else ops.astype(a, dtype), axis=axis, ddof=ddof,
                   keepdims=keepdims)


def _clip(a, a_min=None, a_max=None, out=None):
    _no_out("clip", out)
    return ops.clip(a, a_min, a_max)


def _no_out(name, out):
    if out is not None:
        raise TypeError(f"pyad: np.{name}(..., out=...) cannot write into a Tensor")


# numpy functions whose signatures differ from pyad's (out=, dtype=) get adaptors; every
# other numpy function of a public pyad name dispatches to it (register_numpy_names)
_FUNCTIONS = {
    np.sum: _sum, np.mean: _mean, np.var: _var, np.max: _amax, np.min: _amin, np.clip: _clip,
    np.shape: lambda a: ops._t(a).shape, np.ndim: lambda a: ops._t(a).ndim,
    np.size: lambda a: ops._t(a).size,
}
for _alias in ("amax", "amin"):
    if hasattr(np, _alias):
        _FUNCTIONS[getattr(np, _alias)] = _amax if _alias == "amax" else _amin


def register_numpy_names():
    """numpy's function or ufunc of a public pyad function's name dispatches to it (np.tanh(t)
    -> pyad.tanh(t), np.sinh(t) -> pyad.sinh(t)): the names are typed once, where the
    functions are defined; names numpy lacks are pyad's own."""
    for name, ours in vars(ops).items():
        if name.startswith("_") or not callable(ours) or not (
                getattr(ours, "__module__", None) or "").startswith("pyad."):
            continue
        theirs = getattr(np, name, None)
        if isinstance(theirs, np.ufunc):
            _UFUNCS.setdefault(theirs, ours)
        elif callable(theirs):
            _FUNCTIONS.setdefault(theirs, ours)
    for family in (ops._ops_math, ops._ops_array, ops._ops_linalg):
        # functions numpy keeps elsewhere (np.linalg.inv): {numpy function: ours}
        _FUNCTIONS.update(getattr(family, "NUMPY_FUNCTIONS", {}))


def _array_function(func, types, args, kwargs):
    fn = _FUNCTIONS.get(func)
    if fn is None:
        module = getattr(func, "__module__", "numpy") or "numpy"
        name = module.replace("numpy", "np", 1) + "." + func.__name__
        raise TypeError(f"pyad: numpy function {name} is not supported on pyad "
                        f"Tensors; use a pyad function (see pyad.__all__), or apply it to "
                        f"t.detach().numpy() where dropping the derivative is meant")
    return fn(*args, **kwargs)
