"""Second-order and dense derivatives: HVPs, Jacobians, Hessians, Gauss-Newton products."""
from __future__ import annotations

from typing import Any, Callable, Sequence, Union

import numpy as np

from pyad.ops import core as ops
from pyad import backend
from pyad.engine._tape import JvpTrace, Tape, Tensor, is_tracked, sweep, wrap
from pyad.engine.pytree import tree_flatten, tree_unflatten
from pyad.transforms.core import (_collect, _fresh, _prepare, _replay, _scalar_output, _tangent_leaves,
                              _unbox, grad, jvp)
from pyad._typing import PyTree

__all__ = ["hvp", "hvp_fn", "jacobian", "hessian", "gnvp", "vdot"]

HVP_MODES = ("fwd-rev", "rev-rev", "rev-fwd")


def vdot(a: PyTree, b: PyTree) -> Tensor:
    """The inner product <a, b>: sum(a * b) over all leaves of two pytrees (differentiable).

    Parameters
    ----------
    a, b : array_like, Tensor or pytree
        Two pytrees of one structure whose corresponding leaves broadcast together.

    Returns
    -------
    Tensor
        The scalar sum over leaves of ``ad.sum(a_leaf * b_leaf)``.

    Raises
    ------
    ValueError
        When the two structures differ.

    Examples
    --------
    >>> ad.vdot({"w": np.array([1.0, 2.0])}, {"w": np.array([3.0, 4.0])})
    tensor(11.)
    """
    la, ta = tree_flatten(a)
    lb, tb = tree_flatten(b)
    if ta != tb:
        raise ValueError(f"pyad.vdot: structures {ta} and {tb} differ")
    total = None
    for x, y in zip(la, lb):
        term = ops.sum(ops.multiply(x, y))
        total = term if total is None else total + term
    return total


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
    argnums = tuple(range(len(primals)))
    args, boxed, _ = _prepare("hvp_fn", primals, argnums)
    sources = [t for _, _, tensors, _ in boxed for t in tensors]
    primal_td = tree_flatten(tuple(primals))[1]
    by_sweeps = _hvp_by_sweeps(fun, args, boxed, sources, primals)
    if any(is_tracked(s) for s in sources):
        return by_sweeps()
    seeds = [wrap(backend.zeros_like(s.data)) for s in sources]
    with Tape(persistent=True, watch_accessed_variables=False) as linear:
        linear.watch(*seeds)
        dots = _fwd_rev_tangents(fun, args, sources, seeds)
    if not linear.replayable:
        return by_sweeps()

    def apply(*tangents):
        v_leaves, v_td = tree_flatten(tuple(tangents))
        if v_td != primal_td:
            raise ValueError(f"pyad.hvp_fn: vector structure {v_td} does not match the "
                             f"primals' {primal_td}")
        if any(is_tracked(v) for v in v_leaves):
            return by_sweeps()(*tangents)
        hv = _replay("hvp_fn", linear, seeds, sources, v_leaves, dots)
        return _single(tuple(_collect(boxed, hv, tangents)), primals)
    return apply


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


def jacobian(fun: Callable[..., Any], argnums: Union[int, Sequence[int]] = 0,
             mode: str = "auto") -> Callable[..., PyTree]:
    """The dense Jacobian d fun / d args[argnums], as a function of fun's arguments.

    Parameters
    ----------
    fun : callable
        ``fun(*args)`` returning one array or Tensor (not a pytree).
    argnums : int or sequence of ints, default 0
        The argument(s) to differentiate; a tuple gives a tuple of Jacobians.
    mode : {"auto", "fwd", "rev"}, default "auto"
        "fwd" pushes the whole input basis through one batched forward pass (cheap for few
        inputs), "rev" records once and sweeps the whole output basis back in one batched
        sweep (cheap for few outputs); each takes up to CHUNK (256) directions a pass.
        "auto" picks the cheaper by the input and output sizes.

    Returns
    -------
    callable
        ``jacobian_fun(*args)`` returning an array of shape ``out.shape + in.shape`` (a
        pytree argument gives the same pytree of such blocks). numpy in, numpy out.

    Raises
    ------
    ValueError
        For an unknown ``mode``.
    TypeError
        When ``fun`` returns a pytree (use :func:`pyad.vjp` / :func:`pyad.jvp`).

    Examples
    --------
    >>> x = np.array([1.0, 2.0])
    >>> ad.jacobian(lambda x: x ** 2)(x)
    array([[2., 0.],
           [0., 4.]])
    >>> ad.jacobian(ad.sin, mode="rev")(np.zeros((2, 3))).shape
    (2, 3, 2, 3)
    """
    if mode not in ("auto", "fwd", "rev"):
        raise ValueError(f"pyad.jacobian: unknown mode {mode!r}; use 'auto', 'fwd' or 'rev'")
    multiple = isinstance(argnums, (tuple, list))
    nums = tuple(argnums) if multiple else (argnums,)

    def jacobian_fun(*args):
        args_b, boxed, _ = _prepare("jacobian", args, nums)
        sources = [t for _, _, tensors, _ in boxed for t in tensors]
        chosen, recorded = mode, None
        if chosen == "auto":
            # one recorded pass tells the output size, and reverse mode sweeps that recording
            from pyad.transforms.planner import choose_mode
            recorded = _record(fun, args_b, sources)
            chosen = choose_mode(sum(t.size for t in sources), recorded[1].size)
        if chosen == "fwd":
            jacs = _jacobian_fwd(fun, args_b, sources)
        else:
            jacs = _jacobian_rev(fun, args_b, sources, recorded)
        result, k = [], 0
        for _, leaves, tensors, td in boxed:
            result.append(tree_unflatten(td, jacs[k:k + len(tensors)]))
            k += len(tensors)
        return tuple(result) if multiple else result[0]
    return jacobian_fun


def _eval(fun, args):
    from pyad.engine._tape import no_grad
    with no_grad():
        out = fun(*args)
    return out.data if isinstance(out, Tensor) else backend.as_array(out)


def _array_output(out):
    if isinstance(out, (dict, list, tuple)):
        raise TypeError("pyad.jacobian: the function must return one array; use ad.vjp/ad.jvp "
                        "for pytree outputs")
    return out if isinstance(out, Tensor) else wrap(backend.as_array(out))


def _batched_basis(sources):
    """For each source, its block of the identity over all the sources' elements: tangents
    of shape (total,) + source.shape, so one batched pass carries every basis direction."""
    sizes = [s.size for s in sources]
    total, start, blocks = sum(sizes), 0, []
    for s, n in zip(sources, sizes):
        if isinstance(s.data, np.ndarray):
            block = np.zeros((total, n), dtype=s.data.dtype)
            block[start:start + n] = np.eye(n, dtype=s.data.dtype)
        else:   # columns of the identity: no writes into arrays (some backends forbid them)
            block = backend.eye(total, s.data.dtype, s.data)[:, start:start + n]
        blocks.append(_reshape(block, (total,) + s.shape))
        start += n
    return total, sizes, blocks


def _columns_last(t, n_in, out_shape, in_shape):
    """(n_in,) + out.shape tangents as the Jacobian block out.shape + in.shape."""
    nd = len(out_shape)
    if is_tracked(t):
        moved = ops.transpose(t, tuple(range(1, nd + 1)) + (0,))
        return ops.reshape(moved, out_shape + in_shape)
    data = t.data if isinstance(t, Tensor) else t
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(np.moveaxis(data, 0, -1)).reshape(out_shape + in_shape)
    return _reshape(backend.namespace(data).moveaxis(data, 0, -1), out_shape + in_shape)


def _reshape(a, shape):
    return a.reshape(shape) if isinstance(a, np.ndarray) else backend.namespace(a).reshape(
        a, tuple(shape))


# the most basis directions one batched pass or sweep carries: bounds its memory at that
# many times the function's own intermediates; larger bases take several passes
CHUNK = 256


def _jacobian_fwd(fun, args, sources):
    """Every input direction at once: forward passes on a JvpTrace whose tangents are the
    stacked basis (each primitive's JVP runs once on the whole batch), CHUNK directions a
    pass."""
    total, sizes, blocks = _batched_basis(sources)
    if total == 0:
        shape = tuple(_eval(fun, args).shape)
        return [backend.zeros(shape + s.shape, s.data.dtype, s.data) for s in sources]
    pieces, out = [], None
    for c0 in range(0, total, CHUNK):
        c1 = min(c0 + CHUNK, total)
        with JvpTrace(batch=c1 - c0) as trace:
            for s, block in zip(sources, blocks):
                trace.watch(s, block[c0:c1])
            out = _array_output(fun(*args))
        t = trace.tangent(out)
        pieces.append(wrap(backend.zeros((c1 - c0,) + out.shape, out.data.dtype, out.data))
                      if t is None else t)
    rows = pieces[0] if len(pieces) == 1 else _concat(pieces)
    jacs, start = [], 0
    for s, n in zip(sources, sizes):
        jacs.append(_columns_last(rows[start:start + n], n, out.shape, s.shape))
        start += n
    return jacs


def _concat(parts):
    if any(is_tracked(p) for p in parts):
        return ops.concatenate(parts, axis=0)
    datas = [p.data for p in parts]
    if isinstance(datas[0], np.ndarray):
        return wrap(np.concatenate(datas, axis=0))
    return wrap(backend.namespace(datas[0]).concat(datas, axis=0))


def _record(fun, args, sources):
    """(tape, output): fun recorded once on a persistent tape."""
    with Tape(persistent=True) as tape:
        tape.watch(*sources)
        out = _array_output(fun(*args))
    return tape, out


def _jacobian_rev(fun, args, sources, recorded=None):
    """One recording, then reverse sweeps each carrying a stack of up to CHUNK basis
    cotangents (each primitive's VJP rule runs once on the whole stack)."""
    tape, out = recorded or _record(fun, args, sources)
    n = out.size
    if n == 0:
        return [backend.zeros(out.shape + s.shape, s.data.dtype, s.data) for s in sources]
    eye = backend.eye(n, out.data.dtype, out.data)
    pieces = [[] for _ in sources]
    for c0 in range(0, n, CHUNK):
        c1 = min(c0 + CHUNK, n)
        seed = wrap(_reshape(eye[c0:c1], (c1 - c0,) + out.shape))
        cts = sweep(tape, [out], [seed], sources, batch=c1 - c0)
        for k, (c, s) in enumerate(zip(cts, sources)):
            pieces[k].append(wrap(backend.zeros((c1 - c0,) + s.shape, s.data.dtype, s.data))
                             if c is None else c)
    jacs = []
    for p, s in zip(pieces, sources):
        rows = p[0] if len(p) == 1 else _concat(p)
        jacs.append(_unbox_block(rows, out.shape + s.shape))
    return jacs


def hessian(fun: Callable[..., Any], argnums: int = 0) -> Callable[..., PyTree]:
    """The dense Hessian of a scalar function, as a function of fun's arguments.

    Computed forward over reverse: the whole input basis pushed through the gradient
    computation in batched forward passes (symmetric to rounding).

    Parameters
    ----------
    fun : callable
        ``fun(*args)`` returning a float scalar.
    argnums : int, default 0
        The argument to differentiate twice.

    Returns
    -------
    callable
        ``hessian_fun(*args)`` returning an array of shape ``in.shape + in.shape``. For a
        pytree argument the result is a pytree of pytrees of blocks, like JAX's:
        ``H[leaf_i][leaf_j]`` has shape ``leaf_i.shape + leaf_j.shape``.

    Examples
    --------
    >>> ad.hessian(lambda x: ad.sum(x ** 3))(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    >>> H = ad.hessian(lambda p: ad.sum(p["a"] ** 2 * p["b"]))(
    ...     {"a": np.array([1.0, 2.0]), "b": np.array(3.0)})
    >>> H["a"]["b"]                                 # d2 f / da db = 2 a
    array([2., 4.])
    """
    def hessian_fun(*args):
        x = args[argnums]
        leaves, td = tree_flatten(x)
        arrays = [v if isinstance(v, Tensor) else backend.as_array(v) for v in leaves]

        def flat_grad(*xs):
            a = list(args)
            a[argnums] = tree_unflatten(td, list(xs))
            g = grad(fun, argnums=argnums)(*a)
            return ops.concatenate([ops.reshape(ops._t(t), (-1,)) for t in tree_flatten(g)[0]])
        args_b, boxed, _ = _prepare("hessian", arrays, tuple(range(len(arrays))))
        sources = [t for _, _, tensors, _ in boxed for t in tensors]
        cols = _jacobian_fwd(flat_grad, args_b, sources)    # cols[j]: (n_all,) + x_j.shape
        rows, start = [], 0
        for xi in sources:
            n = xi.size
            rows.append([_unbox_block(c[start:start + n], xi.shape + xj.shape)
                         for c, xj in zip(cols, sources)])
            start += n
        return tree_unflatten(td, [tree_unflatten(td, r) for r in rows])
    return hessian_fun


def _unbox_block(block, shape):
    if is_tracked(block):
        return ops.reshape(block, shape)
    return _reshape(backend.as_array(block.data if isinstance(block, Tensor) else block), shape)


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
