"""User-defined primitives: a numpy forward function plus VJP/JVP rules written in pyad ops."""
from __future__ import annotations

import functools
from typing import Any, Callable, Optional

import numpy as np

from pyad import backend

from pyad.engine._tape import Primitive, bind

__all__ = ["custom_primitive"]


class CustomPrimitive:
    """A function on arrays that pyad treats as one primitive (made by :func:`custom_primitive`).

    Rules are written in pyad ops, so they are differentiable again: grad of grad, jvp of
    grad, hvp and hessian all work through the primitive (a JAX custom_vjp blocks forward
    mode; this does not). Positional arguments are the differentiable inputs; keyword
    arguments are static and reach the forward function and every rule as keywords.
    Calling it, ``prim(*arrays, **static)``, returns a :class:`pyad.Tensor`.

    Parameters
    ----------
    fun : callable
        The forward function: numpy arrays in, one numpy array out; never traced.
    name : str, optional
        The primitive's name in error messages (default: ``fun.__name__``).

    See Also
    --------
    custom_primitive : the decorator that makes one.

    Examples
    --------
    >>> cube = ad.custom.CustomPrimitive(lambda x: x ** 3, name="cube")
    >>> cube
    <pyad custom primitive cube>
    >>> cube.defvjp(lambda g, ans, x: g * 3.0 * x ** 2)
    <pyad custom primitive cube>
    >>> cube(np.array([1.0, 2.0]))
    tensor([1., 8.])
    """

    def __init__(self, fun: Callable[..., Any], name: Optional[str] = None) -> None:
        self.fun = fun
        # no rules yet: differentiating through it raises (see _missing_vjp), never a zero
        self.prim = Primitive(name or getattr(fun, "__name__", "custom"), self._forward, ())
        functools.update_wrapper(self, fun)

    def _forward(self, *arrays_then_kwargs):
        *arrays, kwargs = arrays_then_kwargs
        # the user's function gets the inputs' own arrays (numpy, or a GPU's) and returns one
        return backend.as_array(self.fun(*arrays, **dict(kwargs)))

    def __call__(self, *args, **kwargs):
        have = len(self.prim.vjps)
        if have < len(args):        # inputs no defvjp rule covers raise once differentiated
            self.prim.vjps = self.prim.vjps + tuple(
                _missing_vjp(self.prim.name, k, have) for k in range(have, len(args)))
        return bind(self.prim, *args, params=(tuple(sorted(kwargs.items())),))

    def defvjp(self, *rules: Optional[Callable[..., Any]]) -> CustomPrimitive:
        """Give the reverse-mode rules: one per positional input.

        Parameters
        ----------
        *rules : callable or None
            ``rule_k(g, ans, *args, **kwargs) -> cotangent of positional input k``, where
            ``g`` is the output's cotangent and ``ans`` the output, all Tensors; written in
            pyad ops (so they are differentiable again). None marks input k as not
            differentiable (its gradient is zero).

        Returns
        -------
        CustomPrimitive
            self, so that calls chain.

        Examples
        --------
        >>> mul = ad.custom_primitive(lambda a, b: a * b, name="mul")
        >>> mul = mul.defvjp(lambda g, ans, a, b: g * b, None)     # no gradient for b
        >>> ad.grad(lambda a, b: ad.sum(mul(a, b)), argnums=(0, 1))(np.array([1.0]),
        ...                                                         np.array([3.0]))
        (array([3.]), array([0.]))
        """
        self.prim.vjps = tuple(None if r is None else _with_kwargs(r) for r in rules)
        self.prim.differentiable = True
        return self

    def defjvp(self, *rules: Optional[Callable[..., Any]]) -> CustomPrimitive:
        """Give the forward-mode rules: one per positional input.

        Parameters
        ----------
        *rules : callable or None
            ``rule_k(t_k, ans, *args, **kwargs) -> the output tangent due to input k's
            tangent t_k``, in pyad ops; the contributions of all inputs are added. None: input
            k contributes nothing.

        Returns
        -------
        CustomPrimitive
            self, so that calls chain.

        Examples
        --------
        >>> cube = ad.custom_primitive(lambda x: x ** 3, name="cube")
        >>> cube = cube.defvjp(lambda g, ans, x: g * 3.0 * x ** 2)
        >>> cube = cube.defjvp(lambda t, ans, x: t * 3.0 * x ** 2)
        >>> ad.jvp(cube, (np.array([2.0]),), (np.array([1.0]),))
        (array([8.]), array([12.]))
        """
        name = self.prim.name

        def jvp(dots, ans, *args_then_kwargs):
            *args, kwargs = args_then_kwargs
            total = None
            for k, dot in enumerate(dots):
                if dot is None:
                    continue
                if k >= len(rules):
                    raise TypeError(
                        f"pyad: custom primitive '{name}' has no JVP rule for positional input "
                        f"{k}: defjvp gave {len(rules)} rule(s); give one per input (None marks "
                        f"an input as not differentiable)")
                rule = rules[k]
                if rule is None:
                    continue
                term = rule(dot, ans, *args, **dict(kwargs))
                total = term if total is None else total + term
            return total
        self.prim.jvp = jvp
        return self

    def __repr__(self):
        return f"<pyad custom primitive {self.prim.name}>"


def _missing_vjp(name, k, given):
    """The rule of an input defvjp gave none for: differentiating through it is an error."""
    def vjp(g, ans, *args_then_kwargs):
        how = ("no .defvjp(...) was given" if not given else
               f"defvjp gave {given} rule(s)")
        raise TypeError(f"pyad: custom primitive '{name}' has no VJP rule for positional input "
                        f"{k} ({how}); give one rule per input with .defvjp(...), None marking "
                        f"an input as not differentiable")
    return vjp


def _with_kwargs(rule):
    def vjp(g, ans, *args_then_kwargs):
        *args, kwargs = args_then_kwargs
        return rule(g, ans, *args, **dict(kwargs))
    return vjp


def custom_primitive(fun: Optional[Callable[..., Any]] = None, *,
                     name: Optional[str] = None) -> Any:
    """Decorator: make fun (numpy in, numpy out) a pyad primitive with rules of your own.

    Give it its derivative rules with ``.defvjp(...)`` (reverse mode) and ``.defjvp(...)``
    (forward mode), written in pyad ops so that second derivatives work too. Useful for a
    numerically delicate function, a call into another library, or a fused kernel.

    Parameters
    ----------
    fun : callable, optional
        The forward function: positional numpy arrays (the differentiable inputs) and
        keyword arguments (static) in, one numpy array out. Omitted when the decorator is
        used with arguments: ``@ad.custom_primitive(name="...")``.
    name : str, optional
        The primitive's name (default: ``fun.__name__``).

    Returns
    -------
    CustomPrimitive
        The primitive (with ``fun``'s name and docstring); or, when ``fun`` is omitted, a
        decorator making one.

    See Also
    --------
    pyad.check_grads : check the rules against finite differences.

    Examples
    --------
    >>> @ad.custom_primitive
    ... def cube(x):                      # forward: plain numpy, never traced
    ...     return x ** 3
    >>> cube = cube.defvjp(lambda g, ans, x: g * 3.0 * x ** 2)
    >>> cube = cube.defjvp(lambda t, ans, x: t * 3.0 * x ** 2)
    >>> ad.grad(lambda x: ad.sum(cube(x)))(np.array([1.0, 2.0]))
    array([ 3., 12.])
    >>> ad.hessian(lambda x: ad.sum(cube(x)))(np.array([1.0, 2.0]))   # rules differentiate
    array([[ 6.,  0.],
           [ 0., 12.]])

    Keyword arguments are static and reach every rule:

    >>> @ad.custom_primitive(name="softclip")
    ... def softclip(x, scale=1.0):
    ...     return scale * np.tanh(x / scale)
    >>> softclip = softclip.defvjp(lambda g, ans, x, scale=1.0: g * (1.0 - (ans / scale) ** 2))
    >>> print(np.round(ad.grad(lambda x: ad.sum(softclip(x, scale=2.0)))(np.array([0.0, 2.0])), 4))
    [1.    0.42]
    """
    if fun is None:
        return lambda f: CustomPrimitive(f, name)
    return CustomPrimitive(fun, name)
