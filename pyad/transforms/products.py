"""Hessian-vector and Gauss-Newton products: hvp, hvp_fn (many products at one point), gnvp."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from pyad import backend
from pyad.ops import core as ops
from pyad.engine._tape import JvpTrace, Tape, Tensor, is_tracked, sweep, wrap
from pyad.engine.pytree import tree_flatten, tree_unflatten
from pyad.linalg.vectors import vdot
from pyad.transforms.core import (_collect, _fresh, _prepare, _replay, _scalar_output,
                                  _tangent_arrays, _tangent_leaves, _unbox, grad, jvp)
from pyad._typing import PyTree

__all__ = ["hvp", "hvp_fn", "gnvp"]

HVP_MODES = ("fwd-rev", "rev-rev", "rev-fwd")


def _single(values, primals):
    return values[0] if len(primals) == 1 else values


def hvp(fun: Callable[..., Any], primals: Sequence[PyTree], tangents: Sequence[PyTree],
        mode: str = "fwd-rev") -> PyTree:
    """Hessian-vector product H v of a scalar function, without forming H.

    Costs a few gradients, whatever the number of parameters.

    Parameters
    ----------
    fun : callable
        ``fun(*primals)`` returning a float scalar.
    primals : tuple or list
        The point, one entry (array, Tensor or pytree) per positional argument of ``fun``;
        the Hessian is taken with respect to all of them jointly.
    tangents : tuple or list
        The vector v: one entry per primal, of its structure and shapes.
    mode : {"fwd-rev", "rev-rev", "rev-fwd"}, default "fwd-rev"
        "fwd-rev" pushes v forward through the gradient computation (jvp of grad, the
        cheapest); "rev-rev" differentiates <grad f, v> in reverse; "rev-fwd" differentiates
        <grad f, v> = jvp(f)(v) in reverse. All three agree to rounding.

    Returns
    -------
    array, Tensor, pytree or tuple
        H v shaped like the primal for a single primal; a tuple, one entry per primal, for
        several.

    Raises
    ------
    ValueError
        For an unknown ``mode``, or when primals and tangents do not match.
    TypeError
        When ``fun`` does not return a float scalar.

    See Also
    --------
    hvp_fn : many products at one point. hessian : the dense matrix.

    Examples
    --------
    >>> f = lambda x: ad.sum(x ** 3)                          # H = diag(6 x)
    >>> x = np.array([1.0, 2.0])
    >>> ad.hvp(f, (x,), (np.array([1.0, 1.0]),))
    array([ 6., 12.])
    >>> ad.hvp(f, (x,), (np.array([1.0, 0.0]),), mode="rev-rev")
    array([6., 0.])
    >>> g = lambda a, b: ad.sum(a * a * b)                    # two arguments: a tuple
    >>> ad.hvp(g, (np.array([1.0]), np.array([2.0])), (np.array([1.0]), np.array([0.0])))
    (array([4.]), array([2.]))
    """
    primals, tangents = tuple(primals), tuple(tangents)
    argnums = tuple(range(len(primals)))
    if mode == "fwd-rev":
        return _single(_hvp_fwd_rev(fun, primals, tangents), primals)
    if mode == "rev-rev":
        g = grad(lambda *p: vdot(grad(fun, argnums=argnums)(*p), tangents), argnums=argnums)
        return _single(g(*primals), primals)
    if mode == "rev-fwd":
        g = grad(lambda *p: jvp(fun, p, tangents)[1], argnums=argnums)
        return _single(g(*primals), primals)
    raise ValueError(f"pyad.hvp: unknown mode {mode!r}; use one of {HVP_MODES}")


def _hvp_fwd_rev(fun, primals, tangents):
    """jvp of grad, but the gradient's own value is never read: the sweep may skip the
    products that only make it (X^T G for each weight) and keep their tangents."""
    if len(tangents) != len(primals):
        raise ValueError(f"pyad.hvp: {len(primals)} primals but {len(tangents)} tangents")
    args, boxed, _ = _prepare("hvp", primals, tuple(range(len(primals))))
    sources = [t for _, _, tensors, _ in boxed for t in tensors]
    dots = _fwd_rev_tangents(fun, args, sources, _tangent_leaves("hvp", boxed, tangents))
    return tuple(_collect(boxed, dots, tangents))


def _fwd_rev_tangents(fun, args, sources, vectors):
    """H v for each source (a Tensor, or None where zero) by forward over reverse."""
    with JvpTrace() as trace:
        for x, v in zip(sources, vectors):
            trace.watch(x, v)
        with Tape() as tape:
            tape.watch(*sources)
            out = fun(*args)
        target = _scalar_output("hvp", out)
        cts = sweep(tape, [target], [None], sources, primal_unused=True)
    return [None if c is None else trace.tangent(c) for c in cts]


def hvp_fn(fun: Callable[..., Any], *primals: PyTree) -> Callable[..., PyTree]:
    """v -> H v at fixed primals, for Lanczos/CG loops that apply H many times.

    The forward-over-reverse HVP is computed once, with v a watched (zero) input: its
    tangent part, linear in v, is recorded, and each call replays that recording with the
    new v (forward kernels only: nothing else about fun runs again). Where a replay cannot
    stand in (an enclosing transform differentiates through the primals or v, or a
    comparison read v), each call is one reverse sweep of a recorded gradient instead.

    Parameters
    ----------
    fun : callable
        ``fun(*primals)`` returning a float scalar.
    *primals : array_like, Tensor or pytree
        The point, one per positional argument of ``fun``.

    Returns
    -------
    callable
        ``apply(*vectors) -> H v``: one vector per primal, of its structure and shapes; the
        result is shaped like the primal (a tuple for several primals). Raises ValueError
        when the vectors' structure differs from the primals'.

    Raises
    ------
    TypeError
        When ``fun`` does not return a float scalar or a primal is not a float array.

    See Also
    --------
    hvp : one product. pyad.analysis.curvature.hessian_eigs : Lanczos on these products.

    Examples
    --------
    >>> apply_h = ad.hvp_fn(lambda x: ad.sum(x ** 3), np.array([1.0, 2.0]))
    >>> apply_h(np.array([1.0, 0.0])), apply_h(np.array([0.0, 1.0]))
    (array([6., 0.]), array([ 0., 12.]))
    """
    return _hvp_fn(fun, primals)[0]


def _hvp_fn(fun, primals, first=None):
    """(apply, into, H first): hvp_fn's apply; into(v_leaves, dests), the same product for a
    flat list of untracked vectors (one per source) written into numpy arrays of the
    sources' shapes and dtypes, the replay's last products making them there (None where
    the products are sweeps of the recorded gradient, not a replay); and H v for v = `first`
    (a tuple of vectors, one per primal) when given: the recording is then made with v as
    its tangent, so that the first product is the recording's own result instead of one
    more replay (a Lanczos run saves a product). Its numpy arrays are the recording's: the
    caller must copy them before writing into them."""
    argnums = tuple(range(len(primals)))
    args, boxed, _ = _prepare("hvp_fn", primals, argnums)
    sources = [t for _, _, tensors, _ in boxed for t in tensors]
    primal_td = tree_flatten(tuple(primals))[1]
    by_sweeps = _hvp_by_sweeps(fun, args, boxed, sources, primals)

    def check(tangents):
        v_leaves, v_td = tree_flatten(tuple(tangents))
        if v_td != primal_td:
            raise ValueError(f"pyad.hvp_fn: vector structure {v_td} does not match the "
                             f"primals' {primal_td}")
        return v_leaves

    first_leaves = None if first is None else check(first)
    # a first vector an outer transform differentiates is not recorded: its product comes
    # from apply, through the recorded gradient's sweeps
    record_first = first is not None and not any(is_tracked(v) for v in first_leaves)
    if any(is_tracked(s) for s in sources):
        apply = by_sweeps()
        return apply, None, None if first is None else apply(*first)
    if record_first:
        seeds = [wrap(a) for a in _tangent_arrays("hvp_fn", first_leaves, sources)]
    else:
        seeds = [wrap(backend.zeros_like(s.data)) for s in sources]
    with Tape(persistent=True, watch_accessed_variables=False) as linear:
        linear.watch(*seeds)
        dots = _fwd_rev_tangents(fun, args, sources, seeds)
    if not linear.replayable:
        apply = by_sweeps()
        return apply, None, None if first is None else apply(*first)

    def apply(*tangents):
        v_leaves = check(tangents)
        if any(is_tracked(v) for v in v_leaves):
            return by_sweeps()(*tangents)
        hv = _replay("hvp_fn", linear, seeds, sources, v_leaves, dots)
        return _single(tuple(_collect(boxed, hv, tangents)), primals)

    def into(v_leaves, dests):
        hv = _replay("hvp_fn", linear, seeds, sources, v_leaves, dots, dests)
        for h, d in zip(hv, dests):
            if h is None:           # H v does not depend on this source's v: zeros
                d[...] = 0
    if record_first:
        return apply, into, _single(tuple(_collect(boxed, dots, first)), primals)
    return apply, into, None if first is None else apply(*first)


def _hvp_by_sweeps(fun, args, boxed, sources, primals):
    """A function returning hvp_fn's fallback: the gradient recorded once (on first use), and
    each H v one reverse sweep of it; differentiable like any pyad op."""
    state = {}

    def make():
        if "apply" in state:
            return state["apply"]
        outer = Tape(persistent=True)
        with outer:
            outer.watch(*sources)
            grads = grad(fun, argnums=tuple(range(len(primals))))(*args)
        grad_leaves, grad_td = tree_flatten(grads)

        def apply(*tangents):
            v_leaves, v_td = tree_flatten(tuple(tangents))
            if v_td != grad_td:
                raise ValueError(f"pyad.hvp_fn: vector structure {v_td} does not match the "
                                 f"primals' {grad_td}")
            seeds = [ops.astype(ops._t(v), g.dtype) for v, g in zip(v_leaves, grad_leaves)]
            cts = sweep(outer, list(grad_leaves), seeds, sources)
            return _single(tuple(_collect(boxed, cts, tangents)), primals)
        state["apply"] = apply
        return apply
    return make


def gnvp(model: Callable[[PyTree], PyTree], loss: Callable[[PyTree], Any], params: PyTree,
         v: PyTree) -> PyTree:
    """Gauss-Newton product J^T H_L J v without forming J.

    J is d model(params) / d params and H_L the Hessian of loss at the model's output z.
    One forward pass carries J v and records the model; H_L (J v) comes from the loss's
    closed form when it has one (an ``output_hessian_vp(z, u)`` method, as
    :class:`pyad.train.losses.MSE` and :class:`pyad.train.losses.SoftmaxCrossEntropy` have) or a
    forward-over-reverse HVP of the loss; one reverse sweep gives J^T. The product is
    positive semi-definite for convex losses.

    Parameters
    ----------
    model : callable
        ``model(params) -> z`` (an array or pytree of arrays).
    loss : callable
        ``loss(z) -> scalar``, optionally with ``output_hessian_vp(z, u)``.
    params : pytree
        The parameters (arrays or Tensors).
    v : pytree
        The vector, of the structure and shapes of ``params``.

    Returns
    -------
    pytree
        J^T H_L J v, structured like ``params`` (numpy leaves for numpy params).

    Raises
    ------
    ValueError
        When ``v`` and ``params`` differ in structure.

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [0.0, 2.0]])
    >>> model = lambda p: X @ p["w"]
    >>> loss = lambda z: 0.5 * ad.sum(z ** 2)              # H_L = I, so J^T J v = X^T X v
    >>> ad.gnvp(model, loss, {"w": np.array([1.0, 1.0])}, {"w": np.array([1.0, 1.0])})
    {'w': array([1., 4.])}
    """
    p_leaves, p_td = tree_flatten(params)
    v_leaves, v_td = tree_flatten(v)
    if p_td != v_td:
        raise ValueError(f"pyad.gnvp: v has structure {v_td} but params have {p_td}")
    sources = [p if isinstance(p, Tensor) else wrap(backend.as_array(p)) for p in p_leaves]
    # the trace is the outer level, so the tape records the model but not the tangent math
    with JvpTrace() as trace, Tape(persistent=True) as tape:
        for s, t in zip(sources, v_leaves):
            trace.watch(s, t)
        tape.watch(*sources)
        z = model(tree_unflatten(p_td, sources))
    z_leaves, z_td = tree_flatten(z)
    jv = [trace.tangent(zz) for zz in z_leaves]
    jv = [ops.zeros_like(zz) if t is None else t for zz, t in zip(z_leaves, jv)]
    z_detached = [wrap(zz.data) for zz in z_leaves]
    if hasattr(loss, "output_hessian_vp"):
        hjv = loss.output_hessian_vp(tree_unflatten(z_td, z_detached), tree_unflatten(z_td, jv))
    else:
        hjv = hvp(lambda zz: loss(zz), (tree_unflatten(z_td, z_detached),),
                  (tree_unflatten(z_td, jv),))
    seeds, _ = tree_flatten(hjv)
    cts = sweep(tape, list(z_leaves), [ops._t(s) for s in seeds], sources)
    out = _fresh([_unbox(wrap(backend.zeros_like(s.data)) if c is None else c, p)
                  for c, s, p in zip(cts, sources, p_leaves)], p_leaves, v)
    return tree_unflatten(p_td, out)
