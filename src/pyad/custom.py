"""User-defined primitives: a numpy forward function plus VJP/JVP rules written in pyad ops."""
import functools

import numpy as np

from pyad._tape import Primitive, bind

__all__ = ["custom_primitive"]


class CustomPrimitive:
    """A function on arrays that pyad treats as one primitive.

        @ad.custom_primitive
        def cube(x):                      # forward: plain numpy, never traced
            return x ** 3
        cube.defvjp(lambda g, ans, x: g * 3.0 * x ** 2)    # one rule per positional input
        cube.defjvp(lambda t, ans, x: t * 3.0 * x ** 2)    # one rule per positional input

    Rules are written in pyad ops, so they are differentiable again: grad of grad, jvp of
    grad, hvp and hessian all work through the primitive (a JAX custom_vjp blocks forward
    mode; this does not). Positional arguments are the differentiable inputs; keyword
    arguments are static and reach the forward function and every rule as keywords.
    """

    def __init__(self, fun, name=None):
        self.fun = fun
        self.prim = Primitive(name or getattr(fun, "__name__", "custom"), self._forward)
        functools.update_wrapper(self, fun)

    def _forward(self, *arrays_then_kwargs):
        *arrays, kwargs = arrays_then_kwargs
        return np.asarray(self.fun(*arrays, **dict(kwargs)))

    def __call__(self, *args, **kwargs):
        return bind(self.prim, *args, params=(tuple(sorted(kwargs.items())),))

    def defvjp(self, *rules):
        """rule_k(g, ans, *args, **kwargs) -> cotangent of positional input k (None: that
        input is not differentiable)."""
        self.prim.vjps = tuple(None if r is None else _with_kwargs(r) for r in rules)
        self.prim.differentiable = True
        return self

    def defjvp(self, *rules):
        """rule_k(t_k, ans, *args, **kwargs) -> the output tangent due to input k's tangent;
        the contributions of all inputs are added."""
        def jvp(dots, ans, *args_then_kwargs):
            *args, kwargs = args_then_kwargs
            total = None
            for dot, rule in zip(dots, rules):
                if dot is None or rule is None:
                    continue
                term = rule(dot, ans, *args, **dict(kwargs))
                total = term if total is None else total + term
            return total
        self.prim.jvp = jvp
        return self

    def __repr__(self):
        return f"<pyad custom primitive {self.prim.name}>"


def _with_kwargs(rule):
    def vjp(g, ans, *args_then_kwargs):
        *args, kwargs = args_then_kwargs
        return rule(g, ans, *args, **dict(kwargs))
    return vjp


def custom_primitive(fun=None, *, name=None):
    """Decorator: make fun (numpy in, numpy out) a pyad primitive; then give it rules with
    .defvjp(...) and .defjvp(...)."""
    if fun is None:
        return lambda f: CustomPrimitive(f, name)
    return CustomPrimitive(fun, name)
