"""pyad: compiled array automatic differentiation with a tape, C++ kernels and BLAS."""
# the backend seam first: it sets the OpenMP and malloc policies before any extension loads
import sys as _sys

from pyad import backend as _backend  # noqa: E402
from pyad.engine import (JvpTrace, Primitive, Tape, Tensor, bind, debug_nans, no_grad,
                         stop_gradient)  # noqa: E402
from pyad.backend import cuda  # noqa: E402  (imports no CuPy until a GPU is used)
from pyad.ops.core import (  # noqa: E402
    abs, absolute, add, arange, astype, broadcast_to, clip, concatenate, cos, device_put,
    divide, dot, equal, exp, expand_dims, full, getitem, greater, greater_equal, less,
    less_equal, log, log1p, log_softmax, logsumexp, matmul, max, maximum, mean, min, minimum,
    multiply, negative, not_equal, ones, ones_like, power, relu, reshape, sigmoid, sign, sin,
    softmax, softplus, sqrt, square, squeeze, stack, subtract, sum, sum_to, swapaxes, take,
    tanh, tensor, transpose, var, where, zeros, zeros_like)
from pyad.ops.math import *  # noqa: E402,F401,F403  (the op families: numpy breadth)
from pyad.ops.array import *  # noqa: E402,F401,F403
from pyad.ops.linalg import *  # noqa: E402,F401,F403
from pyad.ops.complex import *  # noqa: E402,F401,F403  (complex numbers)
from pyad.ops.activations import *  # noqa: E402,F401,F403  (torch's activations)
from pyad.ops.convolution import *  # noqa: E402,F401,F403  (the layers' functions)
from pyad.ops.pooling import *  # noqa: E402,F401,F403
from pyad.ops.normalization import *  # noqa: E402,F401,F403
from pyad.ops.prims import PRIMITIVES  # noqa: E402
from pyad import distributed  # noqa: E402  (the collectives' rows; imports no mpi4py)
from pyad.ops import custom  # noqa: E402
from pyad.ops.custom import custom_primitive  # noqa: E402
from pyad.engine import pytree  # noqa: E402
from pyad.engine.pytree import tree_flatten, tree_map, tree_unflatten  # noqa: E402
from pyad.transforms import (CompileWarning, check_grads, compile, gnvp, grad,  # noqa: E402
                             hessian, hvp, hvp_fn, jacobian, jvp, linearize, value_and_grad, vjp)
from pyad.transforms.autograd_names import *  # noqa: E402,F401,F403  (autograd's names)
from pyad.linalg.vectors import ravel_pytree, vdot  # noqa: E402
from pyad.transforms import planner, testing  # noqa: E402
from pyad.train import data, datasets, hessian_free, init, losses, nn, optim  # noqa: E402
from pyad.train import serialize as checkpoint  # noqa: E402
from pyad.train import functional as _functional  # noqa: E402  (pyad.nn.functional)
from pyad.train.functional import one_hot  # noqa: E402
from pyad.train.serialize import load, save  # noqa: E402
from pyad.analysis import curvature, implicit, unrolled  # noqa: E402
from pyad import linalg  # noqa: E402

__version__ = "0.1.0"


def set_num_threads(n: int) -> None:
    """Set the number of threads of pyad's own C++ kernels (OpenMP).

    BLAS (the matrix products) keeps its own setting, except with the MKL wheel, whose
    threads share the OpenMP pool. Kernels only go parallel on large arrays, so small
    workloads are unaffected.

    Parameters
    ----------
    n : int
        The number of threads, at least 1.

    Raises
    ------
    ValueError
        When ``n < 1``.

    See Also
    --------
    get_num_threads

    Examples
    --------
    >>> before = ad.get_num_threads()
    >>> ad.set_num_threads(1)
    >>> ad.get_num_threads()
    1
    >>> ad.set_num_threads(before)
    """
    if int(n) < 1:
        raise ValueError(f"set_num_threads: need at least 1 thread, got {n}")
    _backend.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads pyad's C++ kernels use (see :func:`set_num_threads`).

    Returns
    -------
    int
        The OpenMP thread count of the kernels.

    Examples
    --------
    >>> ad.get_num_threads() >= 1
    True
    """
    return _backend.get_num_threads()


__all__ = [
    "Tensor", "Tape", "Primitive", "stop_gradient", "PRIMITIVES", "bind", "tensor", "no_grad", "debug_nans",
    "set_num_threads", "get_num_threads", "grad", "value_and_grad", "vjp", "jvp", "linearize",
    "JvpTrace",
    "hvp", "hvp_fn", "jacobian", "hessian", "gnvp", "vdot", "custom_primitive", "check_grads",
    "compile", "CompileWarning",
    "save", "load", "device_put", "cuda", "nn", "optim", "losses", "data", "datasets", "init",
    "curvature", "implicit", "planner", "unrolled",
    "tree_flatten", "tree_unflatten", "tree_map", "ravel_pytree",
    "add", "subtract", "multiply", "divide", "negative", "power", "matmul", "dot", "exp",
    "log", "log1p", "sqrt", "square", "abs", "absolute", "sin", "cos", "tanh", "sigmoid",
    "relu", "softplus", "maximum", "minimum", "clip", "where", "sign", "sum", "mean", "max",
    "min", "logsumexp", "softmax", "log_softmax", "var", "reshape", "transpose", "swapaxes",
    "expand_dims", "squeeze", "broadcast_to", "sum_to", "concatenate", "stack", "take",
    "getitem", "astype", "less", "less_equal", "greater", "greater_equal", "equal",
    "not_equal", "zeros", "ones", "zeros_like", "ones_like", "full", "arange",
]
from pyad.ops.core import FAMILY_NAMES as _FAMILY_NAMES  # noqa: E402
from pyad.ops import convolution as _conv, normalization as _norm, pooling as _pool  # noqa: E402
__all__ += [n for n in _FAMILY_NAMES if n not in __all__]
__all__ += _conv.__all__ + _pool.__all__ + _norm.__all__ + ["one_hot"]

from pyad.ops import numpy  # noqa: E402  (last: it wraps the names in __all__)
from pyad.ops import scipy  # noqa: E402

# The layers are folders; the modules users import by their short names stay importable
# under them (`import pyad.numpy as np`, `from pyad.nn import Linear`, `pyad.curvature`).
_SHORT_NAMES = {"data": data, "datasets": datasets, "hessian_free": hessian_free, "init": init,
                "losses": losses, "nn": nn, "optim": optim, "checkpoint": checkpoint,
                "curvature": curvature, "implicit": implicit, "unrolled": unrolled,
                "planner": planner, "testing": testing, "custom": custom, "pytree": pytree,
                "cuda": cuda, "nn.functional": _functional,
                "numpy": numpy,
                "numpy.linalg": numpy.linalg, "numpy.fft": numpy.fft,
                "scipy": scipy, "scipy.special": scipy.special,
                "scipy.stats": scipy.stats, "scipy.signal": scipy.signal,
                "scipy.linalg": scipy.linalg}
_sys.modules.update({f"pyad.{name}": module for name, module in _SHORT_NAMES.items()})
nn.functional = _functional
