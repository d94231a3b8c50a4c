"""Batched derivative rules: a primitive's JVP or VJP rule applied to many tangents (or
cotangents) at once, stacked on a new leading axis.

A batched JvpTrace carries B tangents per tensor, and a batched reverse sweep B cotangents,
so a dense Jacobian is one pass instead of one per input (or output) element. The rules in
the primitive table were written for one tangent; this module runs them unchanged on a
lifted problem in which the batch axis is one more array axis that the primitive treats
independently: every array a rule sees gains that leading axis (the primal inputs and output
by broadcasting, the tangents really), and parameters that name axes or shapes are shifted
past it. A primitive without a lifting rule (softmax cross-entropy, which wants 2-D logits;
custom primitives) falls back to applying its rule once per tangent and stacking.
"""
import math

from pyad.ops import core as o
from pyad.engine._tape import Tensor
from pyad.ops import prims as _prims

__all__ = ["batched_jvp", "batched_vjp"]

from pyad.ops.lifts import ALIGNED, ELEMENTWISE, LEADING


def _aligned(x, core, lead, ndim):
    """x with shape (lead,) + core, padded with unit axes after the leading one up to 1 + ndim
    axes, so that it broadcasts against the lifted output the way x did against the output."""
    return o.reshape(x, (lead,) + (1,) * (ndim - len(core)) + tuple(core))


def _lift_primal(x, how, batch, ndim, shape):
    """A primal input or output as the lifted rule sees it (broadcast views, no copies)."""
    if not isinstance(x, Tensor):
        return x
    if how == ELEMENTWISE:
        return o.broadcast_to(_aligned(x, x.shape, 1, ndim), (batch,) + shape)
    if how == ALIGNED:
        return _aligned(x, x.shape, 1, ndim)
    return o.broadcast_to(o.reshape(x, (1,) + x.shape), (batch,) + x.shape)


def _lift_tangent(d, how, batch, ndim, shape):
    if d is None or how == LEADING:
        return d
    d = _aligned(d, d.shape[1:], batch, ndim)
    return o.broadcast_to(d, (batch,) + shape) if how == ELEMENTWISE else d


def _finish(t, batch, ans):
    """The rule's result as exactly (batch,) + ans.shape."""
    if t is None:
        return None
    target = (batch,) + ans.shape
    if t.shape == target:
        return t
    if t.size == math.prod(target):
        return o.reshape(t, target)
    return o.broadcast_to(t, target)


def _looped(prim, dots, ans, args, params, batch):
    """The fallback: the rule once per tangent, stacked."""
    parts = []
    for i in range(batch):
        t = prim.jvp(tuple(None if d is None else d[i] for d in dots), ans, *args, *params)
        parts.append(o.zeros_like(ans) if t is None else o.broadcast_to(t, ans.shape))
    return o.stack(parts, axis=0)


def batched_jvp(prim, dots, ans, args, params, batch):
    """The output's batch of tangents, shape (batch,) + ans.shape, from the inputs' (each
    (batch,) + input shape, or None)."""
    lift = _lift_of(prim)
    if lift is None:
        return _looped(prim, dots, ans, args, params, batch)
    how, shift = lift
    ndim, shape = ans.ndim, ans.shape
    lifted_args = [_lift_primal(a, how, batch, ndim, shape) for a in args]
    lifted_dots = tuple(_lift_tangent(d, how, batch, ndim, shape) for d in dots)
    lifted_ans = _lift_output(ans, batch)
    t = prim.jvp(lifted_dots, lifted_ans, *lifted_args, *shift(params, batch, args))
    return _finish(t, batch, ans)


def _lift_for_vjp(x, how, batch, ndim, shape):
    """Primal inputs for a VJP rule: aligned ones too get the batch axis itself (rules reduce
    their cotangents to x.shape with sum_to, which must keep the batch axis)."""
    if how != ALIGNED or not isinstance(x, Tensor):
        return _lift_primal(x, how, batch, ndim, shape)
    return o.broadcast_to(_aligned(x, x.shape, 1, ndim), (batch,) + (1,) * (ndim - x.ndim)
                          + x.shape)


def _lift_output(ans, batch):
    """The output as (batch,) + its shape in every mode: rules broadcast their results to it."""
    return o.broadcast_to(o.reshape(ans, (1,) + ans.shape), (batch,) + ans.shape)


def _unlift(ct, batch, x):
    """A lifted cotangent of input x as (batch,) + x.shape: the axes x was broadcast along
    (by the lifting or by the primitive itself) are summed."""
    target = (batch,) + x.shape
    if ct.shape == target:
        return ct
    if ct.ndim <= x.ndim:
        return o.broadcast_to(ct, target)
    aligned = (batch,) + (1,) * (ct.ndim - 1 - x.ndim) + x.shape
    return o.reshape(o.sum_to(ct, aligned), target)


def _call_vjp(rule, variadic, k, g, ans, args, params):
    if hasattr(rule, "apply"):           # a VjpCall: one primitive on picked arguments
        return rule.apply(g, ans, tuple(args), tuple(params))
    if variadic:
        return rule(k, g, ans, *args, *params)
    return rule(g, ans, *args, *params)


def batched_vjp(prim, k, g, ans, args, params, batch):
    """Input k's batch of cotangents, (batch,) + args[k].shape, from the output's batch g
    ((batch,) + ans.shape), or None where the rule gives none."""
    rule = prim.vjps[0] if prim.variadic else prim.vjps[k]
    x = args[k]
    lift = _lift_of(prim)
    if lift is None:
        parts = []
        for i in range(batch):
            c = _call_vjp(rule, prim.variadic, k, g[i], ans, args, params)
            parts.append(o.zeros_like(x) if c is None else o.broadcast_to(c, x.shape))
        return o.stack(parts, axis=0)
    how, shift = lift
    ndim, shape = ans.ndim, ans.shape
    if how == ALIGNED:
        ndim = max(ndim, *(a.ndim for a in args if isinstance(a, Tensor)))
    lifted_args = [_lift_for_vjp(a, how, batch, ndim, shape) for a in args]
    lifted_ans = _lift_output(ans, batch)
    if prim is _SUM_TO:          # its rule broadcasts g up to x: g must line up with x first
        g = o.reshape(g, (batch,) + (1,) * (x.ndim - ans.ndim) + shape)
    ct = _call_vjp(rule, prim.variadic, k, g, lifted_ans, lifted_args,
                   shift(params, batch, args))
    return None if ct is None else _unlift(ct, batch, x)


_BY_PRIMITIVE = {}
_SUM_TO = None


def _lift_of(prim):
    """The row's (kind, params shift), or None to loop. Keyed by the table's own Primitive
    objects (a custom primitive never matches by name); built on first use, once the table
    is complete (the op families import this module while it is being filled)."""
    global _SUM_TO
    if _SUM_TO is None:         # every row names its lift: defprim(..., lift=...)
        _BY_PRIMITIVE.update({_prims.PRIMITIVES[n]: lift for n, lift in _prims.LIFTS.items()})
        _SUM_TO = _prims.PRIMITIVES["sum_to"]
    return _BY_PRIMITIVE.get(prim)
