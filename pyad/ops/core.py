"""The numpy-like differentiable functions: argument checking, promotion, then one bind()."""
from __future__ import annotations

import math
import sys
from typing import Any, Optional, Sequence

import numpy as np

from pyad import backend
from pyad.engine import _tape
from pyad.engine._tape import Tensor, bind, wrap
from pyad.engine.pytree import tree_map
from pyad._typing import ArrayLike, Axis, DTypeLike, Shape

_PYSCALARS = (int, float, bool)
_AxisError = np.exceptions.AxisError if hasattr(np, "exceptions") else np.AxisError


def _t(x, like=None):
    """Any array-like as a Tensor (Tensors pass through; arrays are wrapped, not copied).
    Host values (numbers, lists) become arrays on the backend of the array `like`, if given,
    else numpy's."""
    if type(x) is Tensor or isinstance(x, Tensor):
        return x
    if type(x) is np.ndarray or backend.is_foreign(x):
        return wrap(x)
    return wrap(np.asarray(x) if like is None else backend.asarray(x, like=like))


def tensor(data: ArrayLike, dtype: DTypeLike = None, requires_grad: bool = False,
           device: Optional[str] = None) -> Tensor:
    """A new Tensor holding a copy of data (like ``torch.tensor`` / ``np.array``).

    Parameters
    ----------
    data : array_like or Tensor
        A numpy array, nested list, Python scalar or Tensor; copied.
    dtype : numpy dtype, optional
        The dtype (default: numpy's choice for ``data``, float64 for Python floats).
    requires_grad : bool, default False
        Make it a leaf whose gradient ``loss.backward()`` accumulates into ``.grad``
        (float dtypes only).
    device : str, optional
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; default: where data lives (the CPU for
        numpy arrays, lists and numbers).

    Returns
    -------
    Tensor
        The new tensor (numpy-backed on the CPU; ``.data`` is the array).

    Raises
    ------
    TypeError
        With ``requires_grad=True`` on a non-float dtype.
    ImportError
        With ``device="cuda"`` where CuPy is not installed (the message says what to install).
    RuntimeError
        With ``device="cuda"`` where CuPy finds no usable GPU.

    Examples
    --------
    >>> ad.tensor([1.0, 2.0])
    tensor([1., 2.])
    >>> w = ad.tensor([1.0, 2.0], dtype=np.float32, requires_grad=True)
    >>> w
    tensor([1., 2.], dtype=float32, requires_grad=True)
    >>> loss = ad.sum(w * w)
    >>> loss.backward()
    >>> w.grad
    tensor([2., 4.], dtype=float32)
    >>> ad.tensor([1.0, 2.0], device="cpu").device
    'cpu'
    """
    t = Tensor(data, dtype=dtype, requires_grad=requires_grad)
    if device is not None:
        t.data = backend.to_device(t.data, device)
    return t


def device_put(tree: Any, device: str) -> Any:
    """Every array and Tensor leaf of a pytree on `device` (JAX's device_put): arrays are
    copied where they live elsewhere, Tensors become new leaves there (``Tensor.to``).

    Parameters
    ----------
    tree : pytree
        Arrays, Tensors, numbers, in lists, tuples and dicts.
    device : str
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns
    -------
    pytree
        The same structure; numbers stay numbers.

    Examples
    --------
    >>> ad.device_put([np.ones(2), 3], "cpu")
    [array([1., 1.]), 3]
    """
    def put(leaf):
        if isinstance(leaf, Tensor):
            return leaf.to(device)
        if isinstance(leaf, np.ndarray) or backend.is_foreign(leaf):
            return backend.to_device(leaf, device)
        return leaf
    return tree_map(put, tree)


def _is_float(t):
    return backend.dtype_of(t.data).kind == "f"


def _is_inexact(t):
    """Float or complex: divisions and means keep the dtype (integers go to float64)."""
    return backend.dtype_of(t.data).kind in "fc"


def _no_complex(name, t):
    """Functions whose complex meaning pyad does not compute yet refuse complex input
    (rather than cast it to float, which would drop the imaginary part)."""
    if backend.dtype_of(t.data).kind == "c":
        raise TypeError(f"pyad.{name}: complex inputs are not supported yet (got "
                        f"{t.data.dtype}); take ad.real(z) or ad.abs(z) first")
    return t


def _real_float(name, x):
    """x for a real-only function: floats as they are, integers and bools as float64 (as
    numpy computes them), complex refused."""
    t = _no_complex(name, _t(x))
    return t if _is_float(t) else astype(t, np.float64)


# --------------------------------------------------------------------------- arithmetic
def _promote(name, x, y):
    """numpy promotion for two Tensors; returns them cast (differentiably) to one dtype."""
    dx, dy = backend.dtype_of(x.data), backend.dtype_of(y.data)
    if dx != dy:
        dt = np.result_type(dx, dy)
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
    if x.dtype != y.dtype:      # numpy dtypes on every backend
        x, y = _promote(name, x, y)
    _check_broadcast(name, x.data.shape, y.data.shape)
    return bind(prim, x, y)


def _scalar_like(c, t):
    """A Python scalar as a 0-d array of the dtype numpy gives t's dtype with it (Python
    scalars are weakly typed: float32 stays float32, bool with 2 becomes int64)."""
    return wrap(backend.asarray(c, np.result_type(backend.dtype_of(t.data), c), like=t.data))


def add(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Elementwise x + y (``np.add``, the ``+`` operator); differentiable.

    Parameters
    ----------
    x, y : array_like or Tensor
        Operands; their shapes broadcast as in numpy and their dtypes promote as in numpy
        (a Python scalar takes the other operand's dtype).

    Returns
    -------
    Tensor
        x + y, of the broadcast shape.

    Raises
    ------
    ValueError
        When the shapes do not broadcast (the message names both shapes).

    Examples
    --------
    >>> ad.add(np.array([1.0, 2.0, 3.0]), 1.0)
    tensor([2., 3., 4.])
    >>> ad.add(np.array([1.0, 2.0, 3.0]), np.array([[10.0], [20.0]]))
    tensor([[11., 12., 13.],
            [21., 22., 23.]])
    """
    return _tape.arith(_ADD, x, y)


def _add(x, y):
    """add's general path (the engine's Arith takes Tensors with scalars or one layout)."""
    if type(y) in _PYSCALARS:
        return bind(_P.add_scalar, _t(x), params=(y,))
    if type(x) in _PYSCALARS:
        return bind(_P.add_scalar, _t(y), params=(x,))
    return _binary(_P.add, "add", x, y)


def subtract(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Elementwise x - y (``np.subtract``, the ``-`` operator); differentiable.

    Parameters
    ----------
    x, y : array_like or Tensor
        Operands; their shapes broadcast as in numpy and their dtypes promote as in numpy
        (a Python scalar takes the other operand's dtype).

    Returns
    -------
    Tensor
        x - y, of the broadcast shape.

    Raises
    ------
    ValueError
        When the shapes do not broadcast (the message names both shapes).

    Examples
    --------
    >>> ad.subtract(np.array([1.0, 2.0, 3.0]), 1.0)
    tensor([0., 1., 2.])
    >>> ad.subtract(1.0, np.array([1.0, 2.0, 3.0]))
    tensor([ 0., -1., -2.])
    """
    return _tape.arith(_SUBTRACT, x, y)


def _subtract(x, y):
    if type(y) in _PYSCALARS:
        return bind(_P.add_scalar, _t(x), params=(-y,))
    if type(x) in _PYSCALARS:
        return bind(_P.rsub_scalar, _t(y), params=(x,))
    return _binary(_P.subtract, "subtract", x, y)


def multiply(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Elementwise x * y (``np.multiply``, the ``*`` operator); differentiable.

    Parameters
    ----------
    x, y : array_like or Tensor
        Operands; their shapes broadcast as in numpy and their dtypes promote as in numpy
        (a Python scalar takes the other operand's dtype).

    Returns
    -------
    Tensor
        x * y, of the broadcast shape.

    Raises
    ------
    ValueError
        When the shapes do not broadcast (the message names both shapes).

    Examples
    --------
    >>> x = np.array([1.0, 2.0, 3.0])
    >>> ad.multiply(x, x)
    tensor([1., 4., 9.])
    >>> ad.grad(lambda x: ad.sum(ad.multiply(x, x)))(x)
    array([2., 4., 6.])
    """
    return _tape.arith(_MULTIPLY, x, y)


def _multiply(x, y):
    if type(y) in _PYSCALARS:
        return bind(_P.mul_scalar, _t(x), params=(y,))
    if type(x) in _PYSCALARS:
        return bind(_P.mul_scalar, _t(y), params=(x,))
    return _binary(_P.multiply, "multiply", x, y)


def divide(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Elementwise true division x / y (``np.divide``, the ``/`` operator); differentiable.

    Parameters
    ----------
    x, y : array_like or Tensor
        Operands; their shapes broadcast as in numpy and their dtypes promote as in numpy
        (a Python scalar takes the other operand's dtype).

    Returns
    -------
    Tensor
        x / y (float64 when both operands are integers, as in numpy), of the broadcast shape.

    Raises
    ------
    ValueError
        When the shapes do not broadcast (the message names both shapes).

    Examples
    --------
    >>> ad.divide(np.array([1.0, 2.0, 3.0]), 2.0)
    tensor([0.5, 1. , 1.5])
    >>> ad.divide(np.array([1, 2]), np.array([2, 4]))
    tensor([0.5, 0.5])
    """
    if type(y) in _PYSCALARS:
        x = _t(x)
        if y != 0 and _is_inexact(x):
            return bind(_P.mul_scalar, x, params=(1.0 / y,))
        return _binary(_P.divide, "divide", x, _scalar_like(float(y), x))
    if type(x) in _PYSCALARS:
        y = _t(y)
        if not _is_inexact(y):
            y = astype(y, np.float64)
        return bind(_P.rdiv_scalar, y, params=(float(x),))
    x, y = _t(x), _t(y)
    if not _is_inexact(x) and not _is_inexact(y):
        x = astype(x, np.float64)
    return _binary(_P.divide, "divide", x, y)


def power(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Elementwise x ** y (``np.power``, the ``**`` operator); differentiable in both.

    The derivative in x is y x**(y - 1); in y it is log(x) x**y (defined for x > 0).

    Parameters
    ----------
    x, y : array_like or Tensor
        Operands; their shapes broadcast as in numpy and their dtypes promote as in numpy
        (a Python scalar takes the other operand's dtype).

    Returns
    -------
    Tensor
        x ** y, of the broadcast shape.

    Raises
    ------
    ValueError
        When the shapes do not broadcast (the message names both shapes).

    Examples
    --------
    >>> x = np.array([1.0, 2.0, 3.0])
    >>> ad.power(x, 2)
    tensor([1., 4., 9.])
    >>> ad.power(2.0, x)
    tensor([2., 4., 8.])
    >>> ad.grad(lambda x: ad.sum(ad.power(x, 3)))(x)
    array([ 3., 12., 27.])
    """
    if type(y) in _PYSCALARS:
        return bind(_P.pow_scalar, _t(x), params=(y,))
    if type(x) in _PYSCALARS and x > 0 and _is_float(_t(y)):
        return bind(_P.rpow_scalar, _t(y), params=(float(x),))
    if type(x) in _PYSCALARS:
        y = _t(y)
        return _binary(_P.power, "power", _scalar_like(x, y), y)
    return _binary(_P.power, "power", x, y)


def maximum(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Elementwise maximum of x and y (``np.maximum``); differentiable.

    The gradient goes to the larger operand; at ties it is split evenly between the two.

    Parameters
    ----------
    x, y : array_like or Tensor
        Operands; their shapes broadcast as in numpy and their dtypes promote as in numpy
        (a Python scalar takes the other operand's dtype).

    Returns
    -------
    Tensor
        The larger of each pair, of the broadcast shape.

    Raises
    ------
    ValueError
        When the shapes do not broadcast (the message names both shapes).

    Examples
    --------
    >>> x = np.array([1.0, 2.0, 3.0])
    >>> ad.maximum(x, 2.0)
    tensor([2., 2., 3.])
    >>> ad.grad(lambda x: ad.sum(ad.maximum(x, 2.0)))(x)      # a tie at x = 2
    array([0. , 0.5, 1. ])
    """
    x, y = _scalar_operands(x, y)
    return _binary(_P.maximum, "maximum", x, y)


def minimum(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Elementwise minimum of x and y (``np.minimum``); differentiable.

    The gradient goes to the smaller operand; at ties it is split evenly between the two.

    Parameters
    ----------
    x, y : array_like or Tensor
        Operands; their shapes broadcast as in numpy and their dtypes promote as in numpy
        (a Python scalar takes the other operand's dtype).

    Returns
    -------
    Tensor
        The smaller of each pair, of the broadcast shape.

    Raises
    ------
    ValueError
        When the shapes do not broadcast (the message names both shapes).

    Examples
    --------
    >>> ad.minimum(np.array([1.0, 2.0, 3.0]), 2.0)
    tensor([1., 2., 2.])
    """
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


def negative(x: ArrayLike) -> Tensor:
    """Elementwise -x (``np.negative``, unary ``-``); differentiable.

    Parameters
    ----------
    x : array_like or Tensor
        Input.

    Returns
    -------
    Tensor
        -x, of x's shape and dtype.

    Examples
    --------
    >>> ad.negative(np.array([1.0, -2.0]))
    tensor([-1.,  2.])
    """
    return bind(_P.negative, _t(x))


def _clip_array(x, lo, hi):
    """numpy's clip on any backend, keeping an integer array's dtype."""
    xp = backend.namespace(x)
    return xp.asarray(xp.clip(x, lo, hi))


def clip(x: ArrayLike, a_min: Optional[ArrayLike] = None,
         a_max: Optional[ArrayLike] = None) -> Tensor:
    """Limit x to [a_min, a_max] (``np.clip``); differentiable.

    The gradient passes (unchanged) where a_min <= x <= a_max and is zero outside; array
    bounds are differentiable too.

    Parameters
    ----------
    x : array_like or Tensor
        Input.
    a_min, a_max : scalar, array_like or Tensor, optional
        The bounds (None: unbounded on that side); arrays must broadcast to x's shape.

    Returns
    -------
    Tensor
        The clipped values, of x's shape.

    Raises
    ------
    ValueError
        When an array bound does not broadcast with x.

    Examples
    --------
    >>> x = np.array([1.0, 2.0, 3.0])
    >>> ad.clip(x, 1.5, 2.5)
    tensor([1.5, 2. , 2.5])
    >>> ad.grad(lambda x: ad.sum(ad.clip(x, 1.5, 2.5)))(x)
    array([0., 1., 0.])
    """
    x = _no_complex("clip", _t(x))
    scalar_bounds = ((a_min is None or type(a_min) in _PYSCALARS)
                     and (a_max is None or type(a_max) in _PYSCALARS))
    if scalar_bounds and _is_float(x):
        lo = -math.inf if a_min is None else float(a_min)
        hi = math.inf if a_max is None else float(a_max)
        return bind(_P.clip, x, params=(lo, hi))
    if not _is_float(x) and not any(_tape.is_tracked(b) for b in (a_min, a_max)):
        # integer or bool x: not differentiable, and numpy's dtype (int stays int)
        bounds = [b.data if isinstance(b, Tensor) else b for b in (a_min, a_max)]
        return wrap(_tape.derived(_clip_array, [x.data] + bounds))
    for bound in (a_min, a_max):
        if bound is not None:
            _check_broadcast("clip", x.shape, np.shape(bound))
    # one convention whatever the bounds' type: the gradient passes to x where
    # a_min <= x <= a_max (bounds included, as the scalar kernel and torch.clamp do) and to
    # a bound where x lies strictly beyond it
    if a_min is not None:
        x = where(less(x, a_min), a_min, x)
    if a_max is not None:
        x = where(greater(x, a_max), a_max, x)
    return x


def where(condition: ArrayLike, x: ArrayLike, y: ArrayLike) -> Tensor:
    """Choose elementwise from x where condition holds, else from y (``np.where``).

    Differentiable in x and y (each gets the gradient where it was chosen); the condition
    is not differentiated. Use it for piecewise functions and masks.

    Parameters
    ----------
    condition : array_like or Tensor
        Boolean (other dtypes are cast to bool), e.g. ``x > 0``.
    x, y : array_like or Tensor
        The values; condition, x and y broadcast together.

    Returns
    -------
    Tensor
        Of the broadcast shape and x's and y's promoted dtype.

    Raises
    ------
    ValueError
        When condition, x and y do not broadcast together.

    Examples
    --------
    >>> x = np.array([1.0, 2.0, 3.0])
    >>> ad.where(x > 1.5, x, 0.0)
    tensor([0., 2., 3.])
    >>> ad.grad(lambda x: ad.sum(ad.where(x > 1.5, x ** 2, 0.0)))(x)
    array([0., 4., 6.])
    """
    like = next((a.data if isinstance(a, Tensor) else a for a in (x, y)
                 if isinstance(a, Tensor) or backend.is_foreign(a)), None)
    cond = _t(condition, like).data     # a host condition joins x's or y's backend
    if backend.dtype_of(cond) != np.bool_:
        cond = backend.astype(cond, np.bool_)
    if type(x) in _PYSCALARS and type(y) in _PYSCALARS:
        if isinstance(cond, np.ndarray):
            return wrap(np.where(cond, x, y))
        dt = np.result_type(x, y)       # numpy's dtype for two Python scalars
        return wrap(backend.namespace(cond).where(
            cond, backend.asarray(x, dt, like=cond), backend.asarray(y, dt, like=cond)))
    x, y = _scalar_operands(x, y)
    x, y = _promote("where", _t(x), _t(y))
    try:
        np.broadcast_shapes(cond.shape, x.shape, y.shape)
    except ValueError:
        raise ValueError(f"pyad.where: condition, x and y could not be broadcast together with "
                         f"shapes {cond.shape}, {x.shape} and {y.shape}") from None
    return bind(_P.where, wrap(cond), x, y)


_COMPARE_SYMBOLS = {"less": "<", "less_equal": "<=", "greater": ">", "greater_equal": ">=",
                    "equal": "==", "not_equal": "!="}


def _compare_doc(name):
    """The docstring of a comparison, its example output computed by numpy."""
    sym = _COMPARE_SYMBOLS[name]
    x = np.array([1.0, 2.0, 3.0])
    expected = repr(Tensor(getattr(np, name)(x, 2.0)))
    return f"""Elementwise x {sym} y (``np.{name}``, the ``{sym}`` operator); not differentiable.

    Parameters
    ----------
    x, y : array_like or Tensor
        Operands; their shapes broadcast as in numpy.

    Returns
    -------
    Tensor
        A bool Tensor of the broadcast shape (no gradient flows through it; use it in
        :func:`pyad.where` or as a mask).

    Examples
    --------
    >>> ad.{name}(np.array([1.0, 2.0, 3.0]), 2.0)
    {expected}
    """


def _compare(name):
    def op(x: ArrayLike, y: ArrayLike) -> Tensor:
        x, y = _scalar_operands(x, y)      # a Python number joins x's backend
        return bind(getattr(_P, name), _t(x), _t(y))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = _compare_doc(name)
    return op


less = _compare("less")
less_equal = _compare("less_equal")
greater = _compare("greater")
greater_equal = _compare("greater_equal")
equal = _compare("equal")
not_equal = _compare("not_equal")


def sign(x: ArrayLike) -> Tensor:
    """Elementwise sign, -1, 0 or 1 (``np.sign``); its derivative is zero.

    Parameters
    ----------
    x : array_like or Tensor
        Input.

    Returns
    -------
    Tensor
        The signs, of x's shape and dtype.

    Examples
    --------
    >>> ad.sign(np.array([-2.0, 0.0, 3.0]))
    tensor([-1.,  0.,  1.])
    """
    return bind(_P.sign, _t(x))


def astype(x: ArrayLike, dtype: DTypeLike) -> Tensor:
    """x converted to dtype (``ndarray.astype``).

    Between float dtypes the conversion is differentiable (the gradient is converted back);
    to or from a non-float dtype it is not.

    Parameters
    ----------
    x : array_like or Tensor
        Input.
    dtype : numpy dtype
        The target dtype.

    Returns
    -------
    Tensor
        x itself when it already has that dtype, else a converted copy.

    Examples
    --------
    >>> x = np.array([1.0, 2.0, 3.0])
    >>> ad.astype(x, np.float32)
    tensor([1., 2., 3.], dtype=float32)
    >>> ad.astype(x, np.int64)
    tensor([1, 2, 3])
    """
    x = _t(x)
    dtype = backend.numpy_dtype(dtype)
    now = backend.dtype_of(x.data)
    if now == dtype:
        return x
    if dtype.kind not in "fc" or now.kind not in "fc":
        # to or from integers and bools: not differentiable (a derived step under ad.compile)
        return wrap(_tape.derived(backend.astype, [x.data], (dtype,)))
    # float <-> complex too: the cotangent is cast back (a complex one to its real part when
    # the input is real: Re(ct * t) for a real t, autograd's convention)
    return bind(_P.astype, x, params=(dtype,))


# --------------------------------------------------------------------------- matmul
def matmul(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Matrix product (``np.matmul``, the ``@`` operator); differentiable.

    2-D products call BLAS gemm directly. 1-D operands are promoted to a row (a) or column
    (b) and the added axis removed from the result; leading (batch) dimensions broadcast.

    Parameters
    ----------
    a, b : array_like or Tensor
        Operands of at least one dimension, ``a.shape[-1] == b.shape[-2]`` (or b's only
        dimension); dtypes promote as in numpy.

    Returns
    -------
    Tensor
        The product, of shape ``batch + (a.shape[-2], b.shape[-1])`` with the 1-D
        operands' axes removed.

    Raises
    ------
    ValueError
        When an operand is 0-d (use :func:`multiply`), the inner dimensions differ or the
        batch dimensions do not broadcast; the message names both shapes.

    Examples
    --------
    >>> A = np.arange(6.0).reshape(2, 3)
    >>> ad.matmul(A, np.ones(3))
    tensor([ 3., 12.])
    >>> ad.matmul(A, np.ones((3, 2)))
    tensor([[ 3.,  3.],
            [12., 12.]])
    >>> ad.grad(lambda w: ad.sum(A @ w))(np.ones(3))     # A^T 1
    array([3., 5., 7.])
    """
    a, b = _t(a), _t(b)
    sa, sb = a.data.shape, b.data.shape
    if (len(sa) == 2 and len(sb) == 2 and sa[1] == sb[0]
            and a.dtype == b.dtype):       # the common case, checked once
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


def dot(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Dot product with numpy's semantics (``np.dot``); differentiable.

    Parameters
    ----------
    a, b : array_like or Tensor
        Scalars (then it is :func:`multiply`), vectors, matrices, or N-D arrays (a sum
        over a's last axis and b's second-to-last, as in numpy; :func:`matmul` broadcasts
        batch dimensions instead).

    Returns
    -------
    Tensor
        The inner product of vectors, the matrix product, or numpy's N-D dot.

    Raises
    ------
    ValueError
        When the summed dimensions differ.

    Examples
    --------
    >>> x = np.array([1.0, 2.0, 3.0])
    >>> ad.dot(x, x)
    tensor(14.)
    >>> ad.dot(np.arange(6.0).reshape(2, 3), x)
    tensor([ 8., 26.])
    >>> ad.dot(np.ones((2, 3, 4)), np.ones((4, 5))).shape
    (2, 3, 5)
    """
    a, b = _t(a), _t(b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    if a.ndim > 2 or b.ndim > 2:     # numpy's N-D dot: a's last axis with b's second-to-last
        return _ops_array._dot_nd(a, b)
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


def sum(x: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Sum of the elements over the given axes (``np.sum``); differentiable.

    Parameters
    ----------
    x : array_like or Tensor
        Input.
    axis : None, int or tuple of ints, default None
        The axes to reduce (negative counts from the end); None reduces all of them.
    keepdims : bool, default False
        Keep the reduced axes with length 1, so that the result broadcasts against x.

    Returns
    -------
    Tensor
        The sums (a 0-d Tensor when every axis is reduced).

    Raises
    ------
    numpy.exceptions.AxisError
        For an axis out of range.
    TypeError
        For an axis that is not an int or a tuple of ints.
    ValueError
        For a repeated axis.

    Examples
    --------
    >>> A = np.arange(6.0).reshape(2, 3)
    >>> ad.sum(A)
    tensor(15.)
    >>> ad.sum(A, axis=0)
    tensor([3., 5., 7.])
    >>> ad.sum(A, axis=1, keepdims=True)
    tensor([[ 3.],
            [12.]])
    """
    x = _t(x)
    return bind(_P.sum, x, params=(_axes("sum", axis, x.ndim), bool(keepdims)))


def mean(x: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Arithmetic mean over the given axes (``np.mean``); differentiable.

    Parameters
    ----------
    x : array_like or Tensor
        Input (integers are averaged in float64).
    axis : None, int or tuple of ints, default None
        The axes to reduce (negative counts from the end); None reduces all of them.
    keepdims : bool, default False
        Keep the reduced axes with length 1, so that the result broadcasts against x.

    Returns
    -------
    Tensor
        The means (NaN over an empty axis, as in numpy).

    Raises
    ------
    numpy.exceptions.AxisError
        For an axis out of range.
    TypeError
        For an axis that is not an int or a tuple of ints.
    ValueError
        For a repeated axis.

    Examples
    --------
    >>> A = np.arange(6.0).reshape(2, 3)
    >>> ad.mean(A, axis=1)
    tensor([1., 4.])
    >>> ad.grad(lambda x: ad.mean(x))(np.zeros(4))
    array([0.25, 0.25, 0.25, 0.25])
    """
    x = _t(x)
    if not _is_inexact(x):
        x = astype(x, np.float64)
    axes = _axes("mean", axis, x.ndim)
    n = 1
    for a in axes:
        n *= x.shape[a]
    s = bind(_P.sum, x, params=(axes, bool(keepdims)))
    return multiply(s, 1.0 / n if n else math.nan)


def var(x: ArrayLike, axis: Axis = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """Variance over the given axes (``np.var``); differentiable.

    Parameters
    ----------
    x : array_like or Tensor
        Input (integers in float64).
    axis : None, int or tuple of ints, default None
        The axes to reduce (negative counts from the end); None reduces all of them.
    keepdims : bool, default False
        Keep the reduced axes with length 1, so that the result broadcasts against x.
    ddof : int, default 0
        Delta degrees of freedom: the sum of squares is divided by ``n - ddof`` (1 gives
        the unbiased estimate).

    Returns
    -------
    Tensor
        The variances (NaN when ``n - ddof <= 0``).

    Raises
    ------
    numpy.exceptions.AxisError
        For an axis out of range.
    TypeError
        For an axis that is not an int or a tuple of ints.
    ValueError
        For a repeated axis.

    Examples
    --------
    >>> A = np.arange(6.0).reshape(2, 3)
    >>> ad.var(A, axis=1)
    tensor([0.66666667, 0.66666667])
    >>> ad.var(A, ddof=1)
    tensor(3.5)
    """
    x = _real_float("var", x)
    axes = _axes("var", axis, x.ndim)
    n = 1
    for a in axes:
        n *= x.shape[a]
    centred = subtract(x, mean(x, axis=axes, keepdims=True))
    ss = sum(square(centred), axis=axes, keepdims=keepdims)
    return multiply(ss, 1.0 / (n - ddof) if n - ddof > 0 else math.nan)


def max(x: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Maximum over the given axes (``np.max``); differentiable.

    The gradient goes to the maximal element; ties split it evenly.

    Parameters
    ----------
    x : array_like or Tensor
        Input.
    axis : None, int or tuple of ints, default None
        The axes to reduce (negative counts from the end); None reduces all of them.
    keepdims : bool, default False
        Keep the reduced axes with length 1, so that the result broadcasts against x.

    Returns
    -------
    Tensor
        The maxima.

    Raises
    ------
    numpy.exceptions.AxisError
        For an axis out of range.
    TypeError
        For an axis that is not an int or a tuple of ints.
    ValueError
        For a repeated axis.

    Examples
    --------
    >>> ad.max(np.arange(6.0).reshape(2, 3), axis=1)
    tensor([2., 5.])
    >>> ad.grad(lambda x: ad.max(x))(np.array([1.0, 3.0, 3.0]))      # a tie
    array([0. , 0.5, 0.5])
    """
    x = _t(x)
    return bind(_P.max, x, params=(_axes("max", axis, x.ndim), bool(keepdims)))


def min(x: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Minimum over the given axes (``np.min``); differentiable.

    The gradient goes to the minimal element; ties split it evenly.

    Parameters
    ----------
    x : array_like or Tensor
        Input.
    axis : None, int or tuple of ints, default None
        The axes to reduce (negative counts from the end); None reduces all of them.
    keepdims : bool, default False
        Keep the reduced axes with length 1, so that the result broadcasts against x.

    Returns
    -------
    Tensor
        The minima.

    Raises
    ------
    numpy.exceptions.AxisError
        For an axis out of range.
    TypeError
        For an axis that is not an int or a tuple of ints.
    ValueError
        For a repeated axis.

    Examples
    --------
    >>> ad.min(np.arange(6.0).reshape(2, 3))
    tensor(0.)
    """
    x = _t(x)
    return bind(_P.min, x, params=(_axes("min", axis, x.ndim), bool(keepdims)))


def logsumexp(x: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) computed stably (``scipy.special.logsumexp``); differentiable.

    The maximum is subtracted before exponentiating, so large inputs do not overflow. The
    gradient is softmax(x) along the reduced axes.

    Parameters
    ----------
    x : array_like or Tensor
        Input (integers in float64).
    axis : None, int or tuple of ints, default None
        The axes to reduce (negative counts from the end); None reduces all of them.
    keepdims : bool, default False
        Keep the reduced axes with length 1, so that the result broadcasts against x.

    Returns
    -------
    Tensor
        The log-sum-exps.

    Raises
    ------
    numpy.exceptions.AxisError
        For an axis out of range.
    TypeError
        For an axis that is not an int or a tuple of ints.
    ValueError
        For a repeated axis.

    Examples
    --------
    >>> float(ad.logsumexp(np.array([0.0, np.log(3.0)])))       # log(1 + 3)
    1.3862943611198906
    >>> ad.logsumexp(np.array([1000.0, 1000.0]))                  # no overflow
    tensor(1000.69314718)
    """
    x = _real_float("logsumexp", x)
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


def softmax(x: ArrayLike, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along one axis, computed stably (``scipy.special.softmax``).

    Differentiable; the backward pass is one fused kernel.

    Parameters
    ----------
    x : array_like or Tensor
        Input, e.g. logits with classes on the last axis.
    axis : int, default -1
        The axis along which the entries are normalised.

    Returns
    -------
    Tensor
        Probabilities of x's shape, summing to 1 along ``axis``.

    Raises
    ------
    numpy.exceptions.AxisError
        For an axis out of range.
    TypeError
        For an axis that is not an int.

    Examples
    --------
    >>> ad.softmax(np.array([0.0, np.log(3.0)]))
    tensor([0.25, 0.75])
    """
    x = _t(x)
    return bind(_P.softmax, x, params=(_one_axis("softmax", axis, x.ndim),))


def log_softmax(x: ArrayLike, axis: int = -1) -> Tensor:
    """x - logsumexp(x) along one axis: log-probabilities, computed stably.

    Differentiable; prefer it to ``ad.log(ad.softmax(x))``, which loses precision.

    Parameters
    ----------
    x : array_like or Tensor
        Input, e.g. logits with classes on the last axis.
    axis : int, default -1
        The axis along which the entries are normalised.

    Returns
    -------
    Tensor
        Log-probabilities of x's shape.

    Raises
    ------
    numpy.exceptions.AxisError
        For an axis out of range.
    TypeError
        For an axis that is not an int.

    Examples
    --------
    >>> ad.log_softmax(np.array([0.0, 0.0]))
    tensor([-0.69314718, -0.69314718])
    """
    x = _t(x)
    return bind(_P.log_softmax, x, params=(_one_axis("log_softmax", axis, x.ndim),))


# --------------------------------------------------------------------------- shapes
def reshape(x: ArrayLike, shape: Shape) -> Tensor:
    """x with a new shape and the same elements in C order (``np.reshape``); differentiable.

    Parameters
    ----------
    x : array_like or Tensor
        Input.
    shape : int or tuple of ints
        The new shape; one entry may be -1 (inferred).

    Returns
    -------
    Tensor
        The reshaped tensor (x itself when the shape is unchanged).

    Raises
    ------
    ValueError
        When the sizes do not match.

    Examples
    --------
    >>> A = np.arange(6.0).reshape(2, 3)
    >>> ad.reshape(A, (3, 2))
    tensor([[0., 1.],
            [2., 3.],
            [4., 5.]])
    >>> ad.reshape(A, -1)
    tensor([0., 1., 2., 3., 4., 5.])
    """
    x = _t(x)
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    shape = tuple(int(s) for s in shape)
    if shape == x.data.shape:
        return x
    try:        # numpy resolves -1 and checks the size (on a free stand-in for other backends)
        probe = x.data if isinstance(x.data, np.ndarray) else np.broadcast_to(False, x.shape)
        shape = probe.reshape(shape).shape
    except ValueError as e:
        raise ValueError(f"pyad.reshape: {e}") from None
    return bind(_P.reshape, x, params=(shape,))


def transpose(x: ArrayLike, axes: Optional[Sequence[int]] = None) -> Tensor:
    """Permute the axes (``np.transpose``, ``t.T``); differentiable.

    Parameters
    ----------
    x : array_like or Tensor
        Input.
    axes : sequence of ints, optional
        A permutation of ``range(x.ndim)`` (negative entries count from the end); default:
        reverse the axes.

    Returns
    -------
    Tensor
        The transposed tensor.

    Raises
    ------
    ValueError
        When ``axes`` is not a permutation of the dimensions.

    Examples
    --------
    >>> ad.transpose(np.arange(6.0).reshape(2, 3))
    tensor([[0., 3.],
            [1., 4.],
            [2., 5.]])
    >>> ad.transpose(np.zeros((2, 3, 4)), (2, 0, 1)).shape
    (4, 2, 3)
    """
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


def swapaxes(x: ArrayLike, axis1: int, axis2: int) -> Tensor:
    """Interchange two axes (``np.swapaxes``); differentiable.

    Parameters
    ----------
    x : array_like or Tensor
        Input.
    axis1, axis2 : int
        The axes to swap (negative counts from the end).

    Returns
    -------
    Tensor
        The tensor with the two axes exchanged.

    Raises
    ------
    numpy.exceptions.AxisError
        For an axis out of range.

    Examples
    --------
    >>> ad.swapaxes(np.zeros((2, 3, 4)), 0, 2).shape
    (4, 3, 2)
    """
    x = _t(x)
    axes = list(range(x.ndim))
    a, b = _one_axis("swapaxes", axis1, x.ndim), _one_axis("swapaxes", axis2, x.ndim)
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, tuple(axes))


def expand_dims(x: ArrayLike, axis: Axis) -> Tensor:
    """Insert axes of length 1 (``np.expand_dims``); differentiable.

    Parameters
    ----------
    x : array_like or Tensor
        Input.
    axis : int or tuple of ints
        Positions of the new axes in the result.

    Returns
    -------
    Tensor
        A view-like reshape of x with ``x.ndim + len(axis)`` dimensions.

    Raises
    ------
    numpy.exceptions.AxisError
        For a position out of range.

    Examples
    --------
    >>> ad.expand_dims(np.array([1.0, 2.0, 3.0]), 0).shape
    (1, 3)
    """
    x = _t(x)
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    axes = _axes("expand_dims", items, x.ndim + len(items))
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return reshape(x, tuple(shape))


def squeeze(x: ArrayLike, axis: Axis = None) -> Tensor:
    """Remove axes of length 1 (``np.squeeze``); differentiable.

    Parameters
    ----------
    x : array_like or Tensor
        Input.
    axis : None, int or tuple of ints, default None
        The axes to remove (each must have length 1); None removes every length-1 axis.

    Returns
    -------
    Tensor
        x without those axes.

    Raises
    ------
    ValueError
        When a selected axis does not have length 1.

    Examples
    --------
    >>> ad.squeeze(np.zeros((1, 3, 1))).shape
    (3,)
    >>> ad.squeeze(np.zeros((1, 3, 1)), axis=0).shape
    (3, 1)
    """
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


def broadcast_to(x: ArrayLike, shape: Shape) -> Tensor:
    """x broadcast to a shape (``np.broadcast_to``); differentiable (the gradient is summed
    back over the broadcast axes, see :func:`sum_to`).

    Parameters
    ----------
    x : array_like or Tensor
        Input.
    shape : int or tuple of ints
        The target shape, which x must broadcast to.

    Returns
    -------
    Tensor
        A tensor of the given shape.

    Raises
    ------
    ValueError
        When x's shape cannot be broadcast to ``shape``.

    Examples
    --------
    >>> ad.broadcast_to(np.array([1.0, 2.0, 3.0]), (2, 3))
    tensor([[1., 2., 3.],
            [1., 2., 3.]])
    """
    x = _t(x)
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if shape == x.shape:
        return x
    lead = len(shape) - x.ndim
    if lead < 0 or any(n < 0 for n in shape) or any(
            m != 1 and m != n for m, n in zip(x.shape, shape[lead:])):
        raise ValueError(f"pyad.broadcast_to: cannot broadcast shape {x.shape} to {shape}")
    return bind(_P.broadcast_to, x, params=(shape,))


def sum_to(x: ArrayLike, shape: Shape) -> Tensor:
    """Sum x down to a shape it was broadcast from (the adjoint of :func:`broadcast_to`).

    Parameters
    ----------
    x : array_like or Tensor
        Input.
    shape : tuple of ints
        A shape that broadcasts to x's shape.

    Returns
    -------
    Tensor
        x summed over the broadcast axes, of the given shape.

    Examples
    --------
    >>> ad.sum_to(np.ones((2, 3)), (1, 3))
    tensor([[2., 2., 2.]])
    >>> ad.sum_to(np.ones((2, 3)), (3,))
    tensor([2., 2., 2.])
    """
    x = _t(x)
    shape = tuple(shape)
    if x.data.shape == shape:
        return x
    return bind(_P.sum_to, x, params=(shape,))


def concatenate(arrays: Sequence[ArrayLike], axis: int = 0) -> Tensor:
    """Join arrays along an existing axis (``np.concatenate``); differentiable in each.

    Parameters
    ----------
    arrays : sequence of array_like or Tensor
        At least one array; shapes must agree except along ``axis``; dtypes promote.
    axis : int, default 0
        The axis to join along.

    Returns
    -------
    Tensor
        The concatenation.

    Raises
    ------
    ValueError
        For no arrays, 0-d arrays, or shapes that differ outside ``axis``.

    Examples
    --------
    >>> x = np.array([1.0, 2.0, 3.0])
    >>> ad.concatenate([x, x])
    tensor([1., 2., 3., 1., 2., 3.])
    """
    ts = [_t(a) for a in arrays]
    if not ts:
        raise ValueError("pyad.concatenate: need at least one array to concatenate")
    dtypes = [backend.dtype_of(t.data) for t in ts]
    if any(d != dtypes[0] for d in dtypes):
        dt = np.result_type(*dtypes)
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


def stack(arrays: Sequence[ArrayLike], axis: int = 0) -> Tensor:
    """Join arrays of one shape along a new axis (``np.stack``); differentiable in each.

    Parameters
    ----------
    arrays : sequence of array_like or Tensor
        At least one array, all of one shape.
    axis : int, default 0
        The position of the new axis in the result.

    Returns
    -------
    Tensor
        The stacked tensor, with one more dimension.

    Raises
    ------
    ValueError
        For no arrays, or arrays of different shapes.

    Examples
    --------
    >>> x = np.array([1.0, 2.0, 3.0])
    >>> ad.stack([x, x]).shape, ad.stack([x, x], axis=1).shape
    ((2, 3), (3, 2))
    """
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
    if isinstance(key, list) or backend.is_foreign(key):
        key = backend.to_host(key)      # index arrays are parameters: they live on the host
    if isinstance(key, np.ndarray):
        if key.dtype.kind not in "iub":
            raise IndexError(f"pyad.getitem: index arrays must be integer or bool, got dtype "
                             f"{key.dtype}")
        key = np.ascontiguousarray(key)     # kernels read index arrays as flat buffers
    return key


def _is_advanced(k):
    return isinstance(k, np.ndarray) and (k.ndim > 0 or k.dtype == np.bool_)


def _adjacent_advanced(x, key):
    """(x, key) rewritten so that a key's advanced indices are adjacent at its front.

    numpy moves the result axes of advanced indices to the front when a slice, Ellipsis or
    None separates them (x[idx, :, 0] on 3-D x has shape idx.shape + (x.shape[1],)), and
    keeps them in place when they are adjacent. A batched rule adds a leading slice to the
    key, which would move the batch axis behind them; with the advanced indices adjacent at
    the front of a transposed x the placement never depends on what comes before them, so
    the primitive sees only such keys. Bool arrays become their nonzero() integer arrays and
    None entries unit axes of x."""
    items = key if isinstance(key, tuple) else (key,)
    if not any(_is_advanced(k) for k in items):
        return x, key
    def advanced(k):
        return _is_advanced(k) or isinstance(k, (int, np.integer)) and not isinstance(k, bool)
    flags = [advanced(k) for k in items]
    first = flags.index(True)
    last = len(flags) - 1 - flags[::-1].index(True)
    if False not in flags[first:last + 1]:
        return x, key                   # already adjacent: numpy keeps them in place
    consumed = 0                        # axes of x the key names (sum is pyad's here)
    for k in items:
        consumed += (k.ndim if isinstance(k, np.ndarray) and k.dtype == np.bool_ else
                     0 if k is None or k is Ellipsis else 1)
    entries, new_shape, axis = [], [], 0
    for k in items:
        if k is Ellipsis:
            for _ in range(x.ndim - consumed):
                entries.append(slice(None))
                new_shape.append(x.shape[axis])
                axis += 1
        elif k is None:
            entries.append(slice(None))
            new_shape.append(1)
        elif isinstance(k, np.ndarray) and k.dtype == np.bool_:
            entries.extend(np.ascontiguousarray(i) for i in np.nonzero(k))
            new_shape.extend(x.shape[axis:axis + k.ndim])
            axis += k.ndim
        else:
            entries.append(k)
            new_shape.append(x.shape[axis])
            axis += 1
    while axis < x.ndim:
        entries.append(slice(None))
        new_shape.append(x.shape[axis])
        axis += 1
    if tuple(new_shape) != x.shape:
        x = reshape(x, tuple(new_shape))
    front = [i for i, k in enumerate(entries) if advanced(k)]
    back = [i for i, k in enumerate(entries) if not advanced(k)]
    return transpose(x, tuple(front + back)), tuple(entries[i] for i in front + back)


def _basic_key(key):
    """Whether key is numpy basic indexing only (ints, slices, None, Ellipsis): nothing to
    convert, no advanced indices to move (t[a:b], t[i], t[:, j] skip ~2 us of that work)."""
    if type(key) is tuple:
        return all(type(k) is slice or type(k) is int or k is None or k is Ellipsis
                   for k in key)
    return type(key) is slice or type(key) is int


def getitem(x: ArrayLike, key: Any) -> Tensor:
    """x[key] with basic and integer/bool-array indexing (``t[key]``); differentiable.

    The gradient is scattered back to the selected positions; repeated indices accumulate.

    Parameters
    ----------
    x : array_like or Tensor
        Input.
    key : int, slice, None, Ellipsis, array or tuple of them
        A numpy index: basic (ints, slices, None, ...) or advanced (integer or bool arrays,
        lists or Tensors).

    Returns
    -------
    Tensor
        The selected elements.

    Raises
    ------
    IndexError
        For an index out of range or a float index array.

    Examples
    --------
    >>> A = np.arange(6.0).reshape(2, 3)
    >>> ad.getitem(A, (0, slice(1, None)))          # A[0, 1:]
    tensor([1., 2.])
    >>> ad.grad(lambda x: ad.sum(x[[0, 0, 2]]))(np.array([1.0, 2.0, 3.0]))
    array([2., 0., 1.])
    """
    x = _t(x)
    basic = _basic_key(key)
    if not basic:
        key = _index_key(key)
    # numpy's indexing semantics on every backend: numpy checks the key, on the data or, for
    # other backends, on a free zero-strided stand-in of the same shape
    probe = x.data if isinstance(x.data, np.ndarray) else np.broadcast_to(False, x.shape)
    try:
        probe[key]
    except IndexError as e:
        raise IndexError(f"pyad.getitem: {e} (tensor shape {x.shape})") from None
    if not basic:
        x, key = _adjacent_advanced(x, key)
    return bind(_P.getitem, x, params=(key,))


def take(x: ArrayLike, indices: ArrayLike, axis: Optional[int] = None) -> Tensor:
    """Elements at the given indices along one axis (``np.take``); differentiable.

    Parameters
    ----------
    x : array_like or Tensor
        Input.
    indices : array_like of ints
        The indices (negative count from the end); repeated ones accumulate gradient.
    axis : int, optional
        The axis to index; None indexes the flattened array.

    Returns
    -------
    Tensor
        The selected elements.

    Raises
    ------
    IndexError
        For non-integer or out-of-range indices.

    Examples
    --------
    >>> ad.take(np.array([1.0, 2.0, 3.0]), [2, 0])
    tensor([3., 1.])
    >>> ad.take(np.arange(6.0).reshape(2, 3), [1], axis=1)
    tensor([[1.],
            [4.]])
    """
    x = _t(x)
    idx = backend.to_host(indices.data if isinstance(indices, Tensor) else indices)
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
def zeros(shape: Shape, dtype: DTypeLike = np.float64) -> Tensor:
    """A Tensor of zeros (``np.zeros``).

    Parameters
    ----------
    shape : int or tuple of ints
        Its shape.
    dtype : numpy dtype, default float64
        Its dtype.

    Returns
    -------
    Tensor
        A constant (not differentiable); for a parameter, use
        ``ad.tensor(..., requires_grad=True)``.

    Examples
    --------
    >>> ad.zeros((2,))
    tensor([0., 0.])
    """
    return wrap(np.zeros(shape, dtype=dtype))


def ones(shape: Shape, dtype: DTypeLike = np.float64) -> Tensor:
    """A Tensor of ones (``np.ones``).

    Parameters
    ----------
    shape : int or tuple of ints
        Its shape.
    dtype : numpy dtype, default float64
        Its dtype.

    Returns
    -------
    Tensor
        A constant (not differentiable); for a parameter, use
        ``ad.tensor(..., requires_grad=True)``.

    Examples
    --------
    >>> ad.ones(2, dtype=np.float32)
    tensor([1., 1.], dtype=float32)
    """
    return wrap(np.ones(shape, dtype=dtype))


def full(shape: Shape, fill_value: Any, dtype: DTypeLike = None) -> Tensor:
    """A Tensor filled with one value (``np.full``).

    Parameters
    ----------
    shape : int or tuple of ints
        Its shape.
    fill_value : scalar
        The value.
    dtype : numpy dtype, optional
        Its dtype (default: the value's).

    Returns
    -------
    Tensor
        A constant (not differentiable); for a parameter, use
        ``ad.tensor(..., requires_grad=True)``.

    Examples
    --------
    >>> ad.full((2,), 7.0)
    tensor([7., 7.])
    """
    return wrap(np.full(shape, fill_value, dtype=dtype))


def zeros_like(x: ArrayLike, dtype: DTypeLike = None) -> Tensor:
    """Zeros of x's shape and dtype (``np.zeros_like``).

    Parameters
    ----------
    x : array_like or Tensor
        Gives the shape (and the dtype).
    dtype : numpy dtype, optional
        Overrides the dtype.

    Returns
    -------
    Tensor
        A constant (not differentiable); for a parameter, use
        ``ad.tensor(..., requires_grad=True)``.

    Examples
    --------
    >>> ad.zeros_like(np.array([1.0, 2.0, 3.0]))
    tensor([0., 0., 0.])
    """
    return wrap(backend.zeros_like(_t(x).data, dtype))


def ones_like(x: ArrayLike, dtype: DTypeLike = None) -> Tensor:
    """Ones of x's shape and dtype (``np.ones_like``).

    Parameters
    ----------
    x : array_like or Tensor
        Gives the shape (and the dtype).
    dtype : numpy dtype, optional
        Overrides the dtype.

    Returns
    -------
    Tensor
        A constant (not differentiable); for a parameter, use
        ``ad.tensor(..., requires_grad=True)``.

    Examples
    --------
    >>> ad.ones_like(np.array([1.0, 2.0, 3.0]), dtype=np.int64)
    tensor([1, 1, 1])
    """
    return wrap(backend.ones_like(_t(x).data, dtype))


def arange(*args: float, dtype: DTypeLike = None) -> Tensor:
    """Evenly spaced values in [start, stop) (``np.arange``).

    Parameters
    ----------
    *args : numbers
        ``stop``, ``start, stop`` or ``start, stop, step``, as for ``np.arange``.
    dtype : numpy dtype, optional
        Its dtype (default: inferred from the arguments).

    Returns
    -------
    Tensor
        A constant (not differentiable); for a parameter, use
        ``ad.tensor(..., requires_grad=True)``.

    Examples
    --------
    >>> ad.arange(3)
    tensor([0, 1, 2])
    >>> ad.arange(0.0, 1.0, 0.5)
    tensor([0. , 0.5])
    """
    return wrap(np.arange(*args, dtype=dtype))


from pyad.ops import prims as _P  # noqa: E402  (the table's rules call back into this module)

def _unary_doc(name, what, reference, derivative, value, slope, inputs=(-1.0, 0.5, 2.0)):
    """The docstring of a one-input elementwise function made by _tape.make_unary: what it
    computes, numpy's counterpart, its derivative convention and an example whose expected
    output is computed here with numpy (value(x) and its derivative slope(x)), so that the
    doctest compares pyad with numpy. The op families may use it for their unary functions."""
    x = np.array(inputs, dtype=np.float64)
    with np.errstate(all="ignore"):
        out = (np.round(value(x), 4) + 0.0).tolist()      # + 0.0: no -0.0
        dout = (np.round(slope(x), 4) + 0.0).tolist()
    return f"""Elementwise {what}: pyad's differentiable ``{reference}``.

    Parameters
    ----------
    x : array_like or Tensor
        Input of any shape: a numpy array, Tensor, Python scalar or nested list. Float32
        stays float32; integers are converted as numpy does.

    Returns
    -------
    Tensor
        ``ad.{name}(x)`` elementwise, of x's shape.

    Notes
    -----
    Derivative: {derivative}.

    The rule is written in pyad ops, so it can be differentiated again (``ad.hessian``,
    ``ad.grad(ad.grad(f))``), and forward mode (``ad.jvp``) uses the same derivative.

    Examples
    --------
    >>> x = np.array({list(inputs)})
    >>> np.round(ad.{name}(x).numpy(), 4).tolist()
    {out}
    >>> np.round(ad.grad(lambda x: ad.sum(ad.{name}(x)))(x), 4).tolist()
    {dout}
    """


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


_POSITIVE = (0.5, 1.0, 2.0)
_KINK = (-1.5, 0.0, 2.0)
# name -> what it computes, numpy's counterpart, the derivative, value(x), slope(x), inputs
_UNARY_DOCS = {
    "exp": ("exponential e**x", "np.exp", "exp(x)", np.exp, np.exp),
    "log": ("natural logarithm", "np.log", "1 / x", np.log, lambda x: 1.0 / x, _POSITIVE),
    "log1p": ("log(1 + x), accurate for small x", "np.log1p", "1 / (1 + x)", np.log1p,
              lambda x: 1.0 / (1.0 + x), _POSITIVE),
    "sqrt": ("square root", "np.sqrt", "1 / (2 sqrt(x))", np.sqrt,
             lambda x: 0.5 / np.sqrt(x), _POSITIVE),
    "square": ("square x**2", "np.square", "2 x", np.square, lambda x: 2.0 * x),
    "abs": ("absolute value", "np.abs", "sign(x), with abs'(0) = 0", np.abs, np.sign, _KINK),
    "sin": ("sine", "np.sin", "cos(x)", np.sin, np.cos),
    "cos": ("cosine", "np.cos", "-sin(x)", np.cos, lambda x: -np.sin(x)),
    "tanh": ("hyperbolic tangent", "np.tanh", "1 - tanh(x)**2 (one fused backward kernel)",
             np.tanh, lambda x: 1.0 - np.tanh(x) ** 2),
    "sigmoid": ("logistic sigmoid 1 / (1 + exp(-x)), stable for any x",
                "scipy.special.expit", "sigmoid(x) (1 - sigmoid(x))", _sigmoid,
                lambda x: _sigmoid(x) * (1.0 - _sigmoid(x))),
    "relu": ("rectified linear unit max(x, 0)", "np.maximum(x, 0)",
             "1 where x > 0 and 0 elsewhere, with relu'(0) = 0", lambda x: np.maximum(x, 0.0),
             lambda x: (x > 0).astype(float), _KINK),
    "softplus": ("softplus log(1 + exp(x)), stable for any x", "np.logaddexp(0, x)",
                 "sigmoid(x)", lambda x: np.logaddexp(0.0, x), _sigmoid),
}

# elementwise unary functions: compiled closures straight to bind (no Python frame per call)
_UNARY_NAMES = ("exp", "log", "log1p", "sqrt", "square", "abs", "sin", "cos", "tanh",
                "sigmoid", "relu", "softplus")
exp, log, log1p, sqrt, square, abs, sin, cos, tanh, sigmoid, relu, softplus = (
    _tape.make_unary(_P.PRIMITIVES[_n], _n, _unary_doc(_n, *_UNARY_DOCS[_n]))
    for _n in _UNARY_NAMES)
_abs_real = abs


def abs(x: ArrayLike) -> Tensor:       # noqa: A001  (numpy's name)
    t = _t(x)
    if backend.dtype_of(t.data).kind == "c":
        return _ops_complex.abs_complex(t)     # |z|, with its own rule (pyad/ops/complex.py)
    return _abs_real(t)


abs.__doc__ = _abs_real.__doc__ + """
Complex inputs give their modulus |z| (float), with the derivative g conj(z) / |z|
(autograd's convention; 0 at z = 0).
"""
absolute = abs

# + - * dispatch once, for the public functions and the Tensor operators alike
_ADD = _tape.Arith(_P.add, _P.add_scalar, _P.add_scalar, _add)
_SUBTRACT = _tape.Arith(_P.subtract, _P.add_scalar, _P.rsub_scalar, _subtract,
                        negate_scalar=True)
_MULTIPLY = _tape.Arith(_P.multiply, _P.mul_scalar, _P.mul_scalar, _multiply)
from pyad.ops.batching import batched_jvp, batched_vjp  # noqa: E402
_tape._install(sys.modules[__name__], add=_ADD, subtract=_SUBTRACT, multiply=_MULTIPLY,
               negative=_P.negative, batched_jvp=batched_jvp, batched_vjp=batched_vjp)

# the op families (numpy breadth): their public functions are pyad.ops.core functions too
from pyad.ops.math import *  # noqa: E402,F401,F403
from pyad.ops.array import *  # noqa: E402,F401,F403
from pyad.ops.linalg import *  # noqa: E402,F401,F403
from pyad.ops.complex import *  # noqa: E402,F401,F403
from pyad.ops.activations import *  # noqa: E402,F401,F403
from pyad.ops import array as _ops_array, linalg as _ops_linalg, math as _ops_math  # noqa: E402
from pyad.ops import complex as _ops_complex  # noqa: E402
from pyad.ops import activations as _ops_activations  # noqa: E402
FAMILY_NAMES = (tuple(_ops_math.__all__) + tuple(_ops_array.__all__) + tuple(_ops_linalg.__all__)
                + tuple(_ops_complex.__all__) + tuple(_ops_activations.__all__))

from pyad.ops.numpy_dispatch import _array_function, _array_ufunc  # noqa: E402,F401
from pyad.ops.numpy_dispatch import register_numpy_names  # noqa: E402

register_numpy_names()
