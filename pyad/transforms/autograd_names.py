"""HIPS autograd's differential operators under their own names and signatures, each a thin
layer over pyad's transforms, so autograd code ports by changing its imports only.

autograd's operators take ``argnum`` (an int, or a tuple: then the function of that tuple of
arguments) and return numpy arrays; so do these. The table of every autograd name and its
pyad equivalent is in the README ("Coming from autograd").
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Sequence, Tuple, Union

from pyad import backend
from pyad.engine._tape import Tensor
from pyad.ops import core as o
from pyad.transforms.core import grad, jvp, vjp
from pyad.transforms.products import gnvp, hvp

__all__ = ["elementwise_grad", "deriv", "holomorphic_grad", "make_vjp", "make_jvp", "make_hvp",
           "hessian_tensor_product", "hessian_vector_product", "tensor_jacobian_product",
           "vector_jacobian_product", "make_ggnvp", "grad_and_aux", "grad_named",
           "multigrad_dict"]

Argnum = Union[int, Sequence[int]]


def _of_argnum(fun, argnum, args):
    """(f of the chosen argument(s) only, their value): autograd's unary_to_nary."""
    if isinstance(argnum, int):
        def f(x):
            full = list(args)
            full[argnum] = x
            return fun(*full)
        return f, args[argnum]

    def f(xs):
        full = list(args)
        for k, x in zip(argnum, xs):
            full[k] = x
        return fun(*full)
    return f, tuple(args[k] for k in argnum)


def _ones_like(y):
    data = y.data if isinstance(y, Tensor) else backend.as_array(y)
    return backend.ones_like(data)


def elementwise_grad(fun: Callable[..., Any], argnum: Argnum = 0) -> Callable[..., Any]:
    """autograd's ``elementwise_grad``: the VJP of fun with a cotangent of ones, i.e. the
    gradient of sum(fun(x)); for an elementwise fun, its derivative at every entry.

    Parameters
    ----------
    fun : callable
        Any function of arrays returning an array.
    argnum : int or tuple of int, default 0
        The argument(s) differentiated.

    Returns
    -------
    callable
        ``(*args) -> derivative`` (numpy for numpy arguments).

    Examples
    --------
    >>> ad.elementwise_grad(ad.tanh)(np.array([0.0, 1.0]))
    array([1.        , 0.41997434])
    """
    def derivative(*args):
        f, x = _of_argnum(fun, argnum, args)
        out, pullback = vjp(f, x)
        return pullback(_ones_like(out))[0]
    return derivative


deriv = elementwise_grad


def holomorphic_grad(fun: Callable[..., Any], argnum: Argnum = 0) -> Callable[..., Any]:
    """autograd's ``holomorphic_grad``: f'(z) of a holomorphic scalar function of a complex
    scalar (or the elementwise derivative of an elementwise one): the VJP with cotangent 1.

    Parameters
    ----------
    fun : callable
        Holomorphic in the argument (complex in, complex out).
    argnum : int or tuple of int, default 0
        The argument(s) differentiated.

    Returns
    -------
    callable
        ``(*args) -> f'(z)``.

    Raises
    ------
    TypeError
        When the argument is not complex (use ad.grad for real functions).

    Examples
    --------
    >>> ad.holomorphic_grad(lambda z: z * z)(np.array(1.0 + 2.0j))
    array(2.+4.j)
    """
    def derivative(*args):
        f, z = _of_argnum(fun, argnum, args)
        leaves = z if isinstance(z, tuple) else (z,)
        for leaf in leaves:
            data = leaf.data if isinstance(leaf, Tensor) else backend.as_array(leaf)
            if backend.dtype_of(data).kind != "c":
                raise TypeError(f"pyad.holomorphic_grad: the argument has dtype "
                                f"{backend.dtype_of(data)}; it differentiates complex "
                                f"functions of complex inputs (ad.grad for real ones; "
                                f"z.astype(np.complex128) for a real start)")
        out, pullback = vjp(f, z)
        return pullback(_ones_like(out))[0]
    return derivative


def make_vjp(fun: Callable[..., Any], argnum: Argnum = 0) -> Callable[..., Tuple[Any, Any]]:
    """autograd's ``make_vjp``: ``make_vjp(fun)(x)`` is ``(vjp, fun(x))`` with ``vjp(v)`` the
    vector-Jacobian product (autograd's order: the function first; pyad.vjp returns
    ``(value, vjp)``).

    Parameters
    ----------
    fun : callable
        A function of arrays.
    argnum : int or tuple of int, default 0
        The argument(s) differentiated.

    Returns
    -------
    callable
        ``(*args) -> (vjp, value)``.

    Examples
    --------
    >>> pullback, value = ad.make_vjp(lambda x: x * x)(np.array([3.0]))
    >>> pullback(np.array([1.0])), value
    (array([6.]), array([9.]))
    """
    def make(*args):
        f, x = _of_argnum(fun, argnum, args)
        value, pullback = vjp(f, x)
        return (lambda v: pullback(v)[0]), value
    return make


def make_jvp(fun: Callable[..., Any], argnum: Argnum = 0) -> Callable[..., Callable]:
    """autograd's ``make_jvp``: ``make_jvp(fun)(x)(v)`` is ``(fun(x), J v)``.

    Parameters
    ----------
    fun : callable
        A function of arrays.
    argnum : int or tuple of int, default 0
        The argument(s) differentiated.

    Returns
    -------
    callable
        ``(*args) -> (v -> (value, jvp))``.

    Examples
    --------
    >>> ad.make_jvp(lambda x: x * x)(np.array([3.0]))(np.array([1.0]))
    (array([9.]), array([6.]))
    """
    def make(*args):
        f, x = _of_argnum(fun, argnum, args)
        return lambda v: jvp(f, (x,), (v,))
    return make


def make_hvp(fun: Callable[..., Any], argnum: Argnum = 0) -> Callable[..., Tuple[Any, Any]]:
    """autograd's ``make_hvp``: ``make_hvp(fun)(x)`` is ``(hvp, grad)`` with ``hvp(v)`` the
    Hessian-vector product of scalar fun at x (forward over reverse) and grad its gradient.

    Parameters
    ----------
    fun : callable
        A scalar function of arrays.
    argnum : int or tuple of int, default 0
        The argument(s) differentiated.

    Returns
    -------
    callable
        ``(*args) -> (hvp, gradient)``.

    Examples
    --------
    >>> product, g = ad.make_hvp(lambda x: ad.sum(x ** 3))(np.array([1.0, 2.0]))
    >>> product(np.array([1.0, 0.0])), g
    (array([6., 0.]), array([ 3., 12.]))
    """
    def make(*args):
        f, x = _of_argnum(fun, argnum, args)
        return (lambda v: hvp(f, (x,), (v,))), grad(f)(x)
    return make


def hessian_tensor_product(fun: Callable[..., Any], argnum: Argnum = 0) -> Callable[..., Any]:
    """autograd's ``hessian_tensor_product`` (also ``hessian_vector_product``): a function
    of ``(*args, v)`` returning H v for scalar fun.

    Parameters
    ----------
    fun : callable
        A scalar function of arrays.
    argnum : int or tuple of int, default 0
        The argument(s) differentiated.

    Returns
    -------
    callable
        ``(*args, v) -> H v``.

    Examples
    --------
    >>> ad.hessian_tensor_product(lambda x: ad.sum(x ** 3))(np.array([1.0, 2.0]),
    ...                                                     np.array([0.0, 1.0]))
    array([ 0., 12.])
    """
    def product(*args_then_v):
        *args, v = args_then_v
        f, x = _of_argnum(fun, argnum, args)
        return hvp(f, (x,), (v,))
    return product


hessian_vector_product = hessian_tensor_product


def tensor_jacobian_product(fun: Callable[..., Any], argnum: Argnum = 0) -> Callable[..., Any]:
    """autograd's ``tensor_jacobian_product`` (also ``vector_jacobian_product``): a function
    of ``(*args, v)`` returning v^T J, the VJP with cotangent v.

    Parameters
    ----------
    fun : callable
        A function of arrays.
    argnum : int or tuple of int, default 0
        The argument(s) differentiated.

    Returns
    -------
    callable
        ``(*args, v) -> v^T J``.

    Examples
    --------
    >>> ad.tensor_jacobian_product(lambda x: x * x)(np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    array([2., 4.])
    """
    def product(*args_then_v):
        *args, v = args_then_v
        f, x = _of_argnum(fun, argnum, args)
        return vjp(f, x)[1](v)[0]
    return product


vector_jacobian_product = tensor_jacobian_product


def make_ggnvp(f: Callable[..., Any], g: Callable[[Any], Any] = None,
               f_argnum: int = 0) -> Callable[..., Callable]:
    """autograd's ``make_ggnvp``: ``make_ggnvp(f, g)(x)(v)`` is the generalised Gauss-Newton
    product J^T H_g J v of g(f(x)) (pyad.gnvp), g by default 0.5 * sum(y**2).

    Parameters
    ----------
    f : callable
        The model.
    g : callable, optional
        The loss of the model's output.
    f_argnum : int, default 0
        The argument of f differentiated.

    Returns
    -------
    callable
        ``(*args) -> (v -> G v)``.

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [0.0, 2.0]])
    >>> ad.make_ggnvp(lambda w: X @ w)(np.ones(2))(np.array([1.0, 1.0]))
    array([1., 4.])
    """
    loss = g if g is not None else (lambda y: 0.5 * o.sum(o.square(y)))

    def make(*args):
        model, x = _of_argnum(f, f_argnum, args)
        return lambda v: gnvp(model, loss, x, v)
    return make


def grad_and_aux(fun: Callable[..., Any], argnum: Argnum = 0) -> Callable[..., Tuple[Any, Any]]:
    """autograd's ``grad_and_aux``: for fun returning ``(value, aux)``, ``(grad, aux)``
    (``ad.grad(fun, has_aux=True)``).

    Parameters
    ----------
    fun : callable
        Returns a scalar and anything else.
    argnum : int or tuple of int, default 0
        The argument(s) differentiated.

    Returns
    -------
    callable
        ``(*args) -> (gradient, aux)``.

    Examples
    --------
    >>> ad.grad_and_aux(lambda x: (ad.sum(x * x), "aux"))(np.array([1.0, 2.0]))
    (array([2., 4.]), 'aux')
    """
    argnums = argnum if isinstance(argnum, int) else tuple(argnum)
    return grad(fun, argnums=argnums, has_aux=True)


def grad_named(fun: Callable[..., Any], argname: str) -> Callable[..., Any]:
    """autograd's ``grad_named``: the gradient in the argument called ``argname``.

    Parameters
    ----------
    fun : callable
        A scalar function.
    argname : str
        The name of the parameter differentiated.

    Returns
    -------
    callable
        Taking fun's arguments (positional or by name).

    Raises
    ------
    ValueError
        When fun has no such parameter.

    Examples
    --------
    >>> ad.grad_named(lambda x, y: ad.sum(x * y), "y")(np.array([3.0]), np.array([1.0]))
    array([3.])
    """
    import inspect
    names = list(inspect.signature(fun).parameters)
    if argname not in names:
        raise ValueError(f"grad_named: {getattr(fun, '__name__', fun)} has no parameter "
                         f"{argname!r} (it has {names})")
    position = names.index(argname)

    def gradient(*args, **kwargs):
        bound = inspect.signature(fun).bind(*args, **kwargs)
        bound.apply_defaults()
        values = [bound.arguments[n] for n in names]
        return grad(lambda *vals: fun(*vals), argnums=position)(*values)
    return gradient


def multigrad_dict(fun: Callable[..., Any]) -> Callable[..., Dict[str, Any]]:
    """autograd's ``multigrad_dict``: the gradients in every argument, as a dict by name.

    Parameters
    ----------
    fun : callable
        A scalar function of float arguments.

    Returns
    -------
    callable
        ``(*args, **kwargs) -> {name: gradient}``.

    Examples
    --------
    >>> ad.multigrad_dict(lambda x, y: ad.sum(x * y))(np.array([3.0]), np.array([2.0]))
    {'x': array([2.]), 'y': array([3.])}
    """
    import inspect
    signature = inspect.signature(fun)

    def gradients(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        names = list(bound.arguments)
        values = [bound.arguments[n] for n in names]
        grads = grad(lambda *vals: fun(*vals), argnums=tuple(range(len(names))))(*values)
        return dict(zip(names, grads))
    return gradients
