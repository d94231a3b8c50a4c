"""numpy.linalg for pyad.ops.numpy: pyad.linalg's differentiable functions, numpy's for the rest.

A function that pyad's linalg family implements (``pyad.linalg.inv``, ``det``, ``solve``, ...,
picked up by name) calls pyad when an argument holds a Tensor and numpy.linalg otherwise;
every other name (``LinAlgError``, functions pyad lacks) is numpy.linalg's own object.

Examples
--------
>>> import numpy
>>> import pyad.ops.numpy as np
>>> np.linalg.LinAlgError is numpy.linalg.LinAlgError
True
>>> np.linalg.norm(np.array([3.0, 4.0]))           # numpy in, numpy out
np.float64(5.0)
"""
import importlib as _importlib

import numpy as _np
import numpy.linalg as _npl

from pyad.ops import numpy_dispatch as _dispatch
from pyad.ops.numpy import _wrapping as _w

_MODULE = "pyad.numpy.linalg"  # its public name (the file lives in the ops layer)

try:
    _pyad_linalg = _importlib.import_module("pyad.linalg")
except ModuleNotFoundError as _e:        # the linalg family's module is not there (yet)
    if _e.name != "pyad.linalg":
        raise
    _pyad_linalg = None

globals().update({_k: _v for _k, _v in vars(_npl).items() if not _k.startswith("_")})

#: name -> the function a wrapper calls on Tensors (looked up per call)
_TRACED = {}
#: name -> wrapper, for every wrapper that reaches pyad
_WRAPPED = {}

_SEQUENCE_ARGS = {"multi_dot": (0,)}


def _install():
    for name, obj in list(vars(_npl).items()):
        if name.startswith("_") or not callable(obj) or isinstance(obj, type):
            continue
        pyad_fn = getattr(_pyad_linalg, name, None) if _pyad_linalg is not None else None
        if not callable(pyad_fn):
            pyad_fn = None
        try:
            target = _dispatch._FUNCTIONS.get(obj)
        except TypeError:
            target = None
        traced = target or pyad_fn
        if traced is None:
            continue
        if isinstance(obj, _np.ufunc):
            traced = _w.ufunc_target(name, traced)
        _WRAPPED[name] = globals()[name] = _w.make_wrapper(
            name, obj, traced, _TRACED, _MODULE, pyad_fn=pyad_fn,
            sequence_positions=_SEQUENCE_ARGS.get(name, ()))


_install()

__all__ = [n for n in getattr(_npl, "__all__", dir(_npl)) if not n.startswith("_")]
