"""Second-order and dense derivatives: HVPs, Jacobians, Hessians, Gauss-Newton products."""
import numpy as np

from pyad import ops
from pyad._tape import JvpTrace, Tape, Tensor, is_tracked, sweep, wrap
from pyad.pytree import tree_flatten, tree_unflatten
from pyad.transforms import _collect, _prepare, _scalar_output, _unbox, grad, jvp

__all__ = ["hvp", "hvp_fn", "jacobian", "hessian", "gnvp", "vdot"]

HVP_MODES = ("fwd-rev", "rev-rev", "rev-fwd")


def vdot(a, b):
    """sum(a * b) over all leaves of two pytrees of one structure (differentiable)."""
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


def hvp(fun, primals, tangents, mode="fwd-rev"):
    """Hessian-vector product H v of a scalar function at primals (tuples, one entry per
    argument; a single argument's result is returned bare, several as a tuple).

    mode "fwd-rev" (default) pushes v forward through the gradient computation (jvp of
    grad); "rev-rev" differentiates <grad f, v> in reverse; "rev-fwd" differentiates
    <grad f, v> = jvp(f)(v) in reverse. All three agree to rounding."""
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
    argnums = tuple(range(len(primals)))
    args, boxed, _ = _prepare("hvp", primals, argnums)
    sources = [t for _, _, tensors, _ in boxed for t in tensors]
    vectors = []
    for (n, leaves, _, td), tan in zip(boxed, tangents):
        t_leaves, t_td = tree_flatten(tan)
        if t_td != td:
            raise ValueError(f"pyad.hvp: vector {n} has structure {t_td} but its primal has "
                             f"{td}")
        vectors.extend(t_leaves)
    with JvpTrace() as trace:
        for x, v in zip(sources, vectors):
            trace.watch(x, v)
        with Tape() as tape:
            tape.watch(*sources)
            out = fun(*args)
        target = _scalar_output("hvp", out)
        cts = sweep(tape, [target], [None], sources, primal_unused=True)
    dots = [None if c is None else trace.tangent(c) for c in cts]
    return tuple(_collect(boxed, dots))


def hvp_fn(fun, *primals):
    """v -> H v at fixed primals, recording the forward and backward pass once: each call is
    one reverse sweep of that recording (for Lanczos/CG loops that apply H many times)."""
    args, boxed, _ = _prepare("hvp_fn", primals, tuple(range(len(primals))))
    sources = [t for _, _, tensors, _ in boxed for t in tensors]
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
        return _single(tuple(_collect(boxed, cts)), primals)
    return apply


def _basis(shape, dtype):
    """The standard basis of arrays of this shape, one at a time."""
    n = int(np.prod(shape))
    for i in range(n):
        e = np.zeros(n, dtype=dtype)
        e[i] = 1
        yield e.reshape(shape)


def jacobian(fun, argnums=0, mode="auto"):
    """The dense Jacobian d fun / d args[argnums], of shape out.shape + in.shape (a pytree
    argument gives the same pytree of Jacobians; a tuple argnums gives a tuple).

    mode "fwd" pushes one basis tangent per input element (cheap for few inputs), "rev"
    records once and sweeps one basis cotangent per output element (cheap for few outputs),
    "auto" picks the mode with fewer passes."""
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
            from pyad.planner import choose_mode
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
    from pyad._tape import no_grad
    with no_grad():
        out = fun(*args)
    return out.data if isinstance(out, Tensor) else np.asarray(out)


def _array_output(out):
    if isinstance(out, (dict, list, tuple)):
        raise TypeError("pyad.jacobian: the function must return one array; use ad.vjp/ad.jvp "
                        "for pytree outputs")
    return out if isinstance(out, Tensor) else wrap(np.asarray(out))


def _jvp_column(fun, args, x, e):
    """d fun / d x along the basis array e, by one forward-mode pass."""
    with JvpTrace() as trace:
        trace.watch(x, e)
        out = _array_output(fun(*args))
    d = trace.tangent(out)
    return wrap(np.zeros_like(out.data)) if d is None else d


def _assemble(parts, axis, shape):
    """Stack Jacobian columns/rows: with pyad ops when an enclosing transform tracks any of
    them (so jacobian of jacobian works), as plain numpy otherwise."""
    if any(is_tracked(p) for p in parts):
        return ops.reshape(ops.stack(parts, axis=axis), shape)
    return np.stack([np.asarray(p.data) for p in parts], axis=axis).reshape(shape)


def _jacobian_fwd(fun, args, sources):
    """One forward pass per input element, each carrying one basis tangent."""
    jacs = []
    for x in sources:
        columns = [_jvp_column(fun, args, x, e) for e in _basis(x.shape, x.data.dtype)]
        if columns:
            jac = _assemble(columns, -1, columns[0].shape + x.shape)
        else:
            jac = np.zeros(np.shape(_eval(fun, args)) + x.shape, dtype=x.data.dtype)
        jacs.append(jac)
    return jacs


def _record(fun, args, sources):
    """(tape, output): fun recorded once on a persistent tape."""
    with Tape(persistent=True) as tape:
        tape.watch(*sources)
        out = _array_output(fun(*args))
    return tape, out


def _jacobian_rev(fun, args, sources, recorded=None):
    """One recording, then one reverse sweep per output element."""
    tape, out = recorded or _record(fun, args, sources)
    rows = [[] for _ in sources]
    for e in _basis(out.shape, out.data.dtype):
        cts = sweep(tape, [out], [wrap(e)], sources)
        for k, (c, s) in enumerate(zip(cts, sources)):
            rows[k].append(wrap(np.zeros_like(s.data)) if c is None else c)
    return [_assemble(r, 0, out.shape + s.shape) if r
            else np.zeros(out.shape + s.shape, dtype=s.data.dtype)
            for r, s in zip(rows, sources)]


def hessian(fun, argnums=0):
    """The dense Hessian of a scalar function, shape in.shape + in.shape: the gradient is
    recorded once and each row is one reverse sweep of it (forward-over-reverse cost).

    For a pytree argument the result is a pytree of pytrees of blocks, like JAX's:
    H[leaf_i][leaf_j] has shape leaf_i.shape + leaf_j.shape."""
    def hessian_fun(*args):
        x = args[argnums]
        leaves, td = tree_flatten(x)
        arrays = [np.asarray(v.data if isinstance(v, Tensor) else v) for v in leaves]

        def f_of_x(xv):
            a = list(args)
            a[argnums] = xv
            return fun(*a)
        apply = hvp_fn(f_of_x, tree_unflatten(td, arrays))
        rows = []      # rows[i][j]: block (leaf i, leaf j), one basis vector of leaf i at a time
        for i, xi in enumerate(arrays):
            parts = [[] for _ in arrays]
            for e in _basis(xi.shape, xi.dtype):
                v = [np.zeros_like(a) for a in arrays]
                v[i] = e
                hv, _ = tree_flatten(apply(tree_unflatten(td, v)))
                for j, h in enumerate(hv):
                    parts[j].append(np.asarray(h.data if isinstance(h, Tensor) else h))
            rows.append([np.stack(p).reshape(xi.shape + xj.shape) if p
                         else np.zeros(xi.shape + xj.shape, dtype=xi.dtype)
                         for p, xj in zip(parts, arrays)])
        return tree_unflatten(td, [tree_unflatten(td, r) for r in rows])
    return hessian_fun


def gnvp(model, loss, params, v):
    """Gauss-Newton product J^T H_L J v without forming J: J is d model(params) / d params
    and H_L the Hessian of loss at the model's output z. One forward pass carries J v and
    records the model; H_L (J v) comes from the loss's closed form when it has one (an
    `output_hessian_vp(z, u)` attribute) or a forward-over-reverse HVP of the loss; one
    reverse sweep gives J^T. params and v are pytrees of one structure."""
    p_leaves, p_td = tree_flatten(params)
    v_leaves, v_td = tree_flatten(v)
    if p_td != v_td:
        raise ValueError(f"pyad.gnvp: v has structure {v_td} but params have {p_td}")
    sources = [p if isinstance(p, Tensor) else wrap(np.asarray(p)) for p in p_leaves]
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
    out = [_unbox(wrap(np.zeros_like(s.data)) if c is None else c, p)
           for c, s, p in zip(cts, sources, p_leaves)]
    return tree_unflatten(p_td, out)
