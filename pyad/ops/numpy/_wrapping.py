"""The dispatch machinery of pyad.ops.numpy: pyad's function on Tensors, numpy's on everything else.

A wrapper looks at its arguments (and the elements of list and tuple arguments, nested): when
one is a pyad Tensor it calls pyad, after stacking every list that holds a Tensor into one
Tensor (so ``np.sum([x, 2 * x])`` keeps its derivative); otherwise it calls numpy's own
function with the arguments untouched, at numpy's speed and with numpy's results.
"""
from typing import Any

import numpy

from pyad.ops import core as ops
from pyad.engine._tape import Tensor, wrap

_SEQUENCES = (list, tuple)


def has_tensor(items):
    """True when an item, or an element of a (nested) list or tuple item, is a Tensor."""
    for a in items:
        if isinstance(a, Tensor):
            return True
        if isinstance(a, _SEQUENCES) and has_tensor(a):
            return True
    return False


def _leaf_dtypes(x, out):
    if isinstance(x, Tensor):
        out.append(x.data.dtype)
    elif isinstance(x, _SEQUENCES):
        for e in x:
            _leaf_dtypes(e, out)
    else:
        out.append(numpy.asarray(x).dtype)


def _stack_nested(x, dtype):
    if isinstance(x, Tensor):
        return ops.astype(x, dtype)
    if not isinstance(x, _SEQUENCES) or not has_tensor(x):
        return wrap(numpy.asarray(x, dtype=dtype))
    parts = [_stack_nested(e, dtype) for e in x]
    shapes = {p.shape for p in parts}
    if len(shapes) > 1:
        raise ValueError(f"pyad.ops.numpy: cannot build an array from a list whose elements have "
                         f"different shapes {sorted(shapes)} (an inhomogeneous nested list)")
    return ops.stack(parts)


def pack(x):
    """x as numpy's ``array(x)`` would see it, with the derivative kept: a list or tuple
    holding a Tensor (at any depth, with numbers and arrays mixed in) becomes one Tensor
    (nested ``stack``, numpy's dtype promotion); anything else comes back unchanged."""
    if isinstance(x, _SEQUENCES) and has_tensor(x):
        dtypes = []
        _leaf_dtypes(x, dtypes)
        return _stack_nested(x, numpy.result_type(*dtypes))
    return x


def pack_args(args, sequence_positions=()):
    """args with list arguments that hold Tensors packed; at sequence_positions (numpy's
    "sequence of arrays" parameters) each element is packed instead of the whole list."""
    out = []
    for i, a in enumerate(args):
        if i in sequence_positions and isinstance(a, _SEQUENCES):
            out.append([pack(e) for e in a])
        else:
            out.append(pack(a))
    return out


def pack_kwargs(kwargs):
    return {k: pack(v) for k, v in kwargs.items()}


def unbox(x):
    """x with every Tensor (also inside lists, tuples and dicts) replaced by its array."""
    if isinstance(x, Tensor):
        return x.data
    if isinstance(x, _SEQUENCES):
        return type(x)(unbox(e) for e in x) if type(x) in _SEQUENCES else x
    if isinstance(x, dict):
        return {k: unbox(v) for k, v in x.items()}
    return x


# --------------------------------------------------------------------------- ufunc keywords
_UFUNC_DEFAULTS = {"out": None, "where": True, "casting": "same_kind", "order": "K",
                   "subok": True, "signature": None}


def ufunc_target(name, fn):
    """fn (pyad's elementwise function) taking numpy's ufunc keywords at their defaults, and
    dtype= as a cast of the result; other keywords (out=, where=) raise a TypeError."""
    def call(*args, **kwargs):
        dtype = kwargs.pop("dtype", None)
        for k, v in kwargs.items():
            default = _UFUNC_DEFAULTS.get(k, TypeError)
            if not (v is default or (isinstance(v, str) and v == default)):
                raise TypeError(f"pyad.ops.numpy.{name}: {k}={v!r} is not supported on pyad "
                                f"Tensors (Tensors are immutable, so nothing can be written "
                                f"into them)")
        out = fn(*args)
        return out if dtype is None else ops.astype(out, dtype)
    call.__name__ = call.__qualname__ = name
    call.__wrapped__ = fn
    return call


# the traced versions of ufunc methods: np.add.reduce(t) -> pyad's sum, and so on
_REDUCERS = {"add": "sum", "multiply": "prod", "maximum": "max", "minimum": "min",
             "logaddexp": "logsumexp"}
_ACCUMULATORS = {"add": "cumsum", "multiply": "cumprod"}


def _pyad_function(name):
    import pyad
    fn = getattr(pyad, name, None)
    if fn is None:
        raise TypeError(f"pyad.ops.numpy: {name} is not available on pyad Tensors yet")
    return fn


def _ufunc_methods(wrapper, ufunc, traced_call):
    """numpy's ufunc attributes on a wrapper: reduce, accumulate and outer follow Tensors
    through pyad; the rest (at, reduceat, nin, identity, ...) are the ufunc's own."""
    name = ufunc.__name__

    def reduce(array, axis=0, dtype=None, out=None, keepdims=False, **kwargs):
        if not has_tensor((array,)):
            return ufunc.reduce(array, axis=axis, dtype=dtype, out=out, keepdims=keepdims,
                                **kwargs)
        if name not in _REDUCERS or out is not None or kwargs:
            raise TypeError(f"pyad.ops.numpy.{name}.reduce is not supported on pyad Tensors with "
                            f"these arguments")
        x = pack(array)
        if dtype is not None:
            x = ops.astype(x, dtype)
        return _pyad_function(_REDUCERS[name])(x, axis=axis, keepdims=keepdims)

    def accumulate(array, axis=0, dtype=None, out=None):
        if not has_tensor((array,)):
            return ufunc.accumulate(array, axis=axis, dtype=dtype, out=out)
        if name not in _ACCUMULATORS or out is not None:
            raise TypeError(f"pyad.ops.numpy.{name}.accumulate is not supported on pyad Tensors")
        x = pack(array)
        if dtype is not None:
            x = ops.astype(x, dtype)
        return _pyad_function(_ACCUMULATORS[name])(x, axis=axis)

    def outer(a, b, **kwargs):
        if not has_tensor((a, b)):
            return ufunc.outer(a, b, **kwargs)
        a, b = ops._t(pack(a)), ops._t(pack(b))
        return traced_call(ops.reshape(a, a.shape + (1,) * b.ndim), b, **kwargs)

    for method, doc in ((reduce, "reduce"), (accumulate, "accumulate"), (outer, "outer")):
        method.__name__ = doc
        method.__qualname__ = f"{name}.{doc}"
        method.__doc__ = (f"numpy.{name}.{doc}, through pyad when an argument is a Tensor.")
        setattr(wrapper, doc, method)
    for attr in ("at", "reduceat", "nin", "nout", "nargs", "ntypes", "types", "identity",
                 "signature"):
        if hasattr(ufunc, attr):
            setattr(wrapper, attr, getattr(ufunc, attr))


# --------------------------------------------------------------------------- wrappers
def _doc(qualname, what, pyad_name, extra=""):
    return f"""{qualname}, differentiable: pyad's function when an argument is a Tensor.

Calls {pyad_name} when any argument (or an element of a list or tuple argument, at any
depth) is a pyad Tensor, after stacking each list that holds a Tensor into one Tensor;
otherwise calls ``{qualname}`` itself, so numpy arrays keep numpy's speed and results.{extra}

Parameters
----------
*args, **kwargs
    As for ``{qualname}``.

Returns
-------
Tensor or numpy.ndarray
    A Tensor when an argument was a Tensor, {what} otherwise.

Examples
--------
>>> import numpy
>>> from {wrapper_module(qualname)} import {qualname.rsplit('.', 1)[1]} as f
>>> f.numpy_function is {qualname}
True
"""


def wrapper_module(qualname):
    """The pyad.ops.numpy module that wraps a numpy function given by its qualified name."""
    return "pyad." + qualname.rsplit(".", 1)[0]


def make_wrapper(name, numpy_fn, traced, table, module, pyad_fn=None, sequence_positions=(),
                 doc=None):
    """A function of numpy's name and signature: ``table[name](*packed args)`` when an argument
    holds a Tensor (the table is looked up per call, so tests can watch it), else numpy_fn.

    traced is stored as ``table[name]``; pyad_fn (the public pyad function it reaches, when
    pyad has one of that name) and numpy_fn are kept as attributes ``pyad_function`` and
    ``numpy_function``. sequence_positions: the parameters that are sequences of arrays
    (concatenate's first), whose elements are packed one by one. doc replaces the generated
    docstring."""
    table[name] = traced
    seq = frozenset(sequence_positions)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if has_tensor(args) or (kwargs and has_tensor(kwargs.values())):
            return table[name](*pack_args(args, seq), **pack_kwargs(kwargs))
        return numpy_fn(*args, **kwargs)

    qualname = f"{_np_module(module)}.{name}"
    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__module__ = module
    target = (f"``pyad.{_pyad_namespace(module)}{name}``" if pyad_fn is not None else
              "pyad (the function numpy's own protocol dispatches Tensors to)")
    wrapper.__doc__ = doc or _doc(qualname, "numpy's result", target)
    wrapper.numpy_function = numpy_fn
    wrapper.pyad_function = pyad_fn
    if isinstance(numpy_fn, numpy.ufunc):
        _ufunc_methods(wrapper, numpy_fn, lambda *a, **k: table[name](*a, **k))
    return wrapper


def make_nograd(name, numpy_fn, module):
    """numpy_fn with Tensors replaced by their arrays: for functions whose results carry no
    derivative (argmax, isnan, allclose, ...), so code calling them on traced values runs."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if has_tensor(args) or (kwargs and has_tensor(kwargs.values())):
            return numpy_fn(*unbox(args), **unbox(kwargs))
        return numpy_fn(*args, **kwargs)

    qualname = f"{_np_module(module)}.{name}"
    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__module__ = module
    wrapper.__doc__ = f"""{qualname} on the values of pyad Tensors (no derivative flows).

Tensors among the arguments are replaced by their arrays and ``{qualname}`` is called: its
result (an index, a boolean, a rounded value) carries no derivative, as in autograd.

Parameters
----------
*args, **kwargs
    As for ``{qualname}``.

Returns
-------
object
    numpy's result.

Examples
--------
>>> import numpy
>>> from {module} import {name} as f
>>> f.numpy_function is {qualname}
True
"""
    wrapper.numpy_function = numpy_fn
    return wrapper


def _np_module(module):
    """'pyad.numpy.linalg' -> 'numpy.linalg'."""
    return module.split(".", 1)[1]


def _pyad_namespace(module):
    """'pyad.numpy.linalg' -> 'linalg.'; 'pyad.numpy' -> ''."""
    parts = module.split(".")[2:]
    return "".join(p + "." for p in parts)
