"""Functional transforms (autograd/JAX style) over pytrees: grad, value_and_grad, vjp, jvp,
linearize."""
import functools
import numbers

import numpy as np

from pyad._tape import JvpTrace, Tape, Tensor, is_tracked, sweep, wrap
from pyad.pytree import tree_flatten, tree_unflatten

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "linearize"]


def _box(x, fn_name, position):
    """A leaf of a differentiated argument as a Tensor to watch (arrays are not copied)."""
    if isinstance(x, Tensor):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        raise TypeError(f"pyad.{fn_name}: argument {position} has dtype {arr.dtype}; gradients "
                        f"need float32 or float64 inputs (convert with x.astype(np.float64), "
                        f"or write 1.0 instead of 1)")
    return wrap(arr)


def _unbox(t, like):
    """numpy in -> numpy out: a Tensor result goes back to what the caller passed in, unless
    an enclosing transform is differentiating through it."""
    if isinstance(like, Tensor) or is_tracked(t):
        return t
    data = t.data if isinstance(t, Tensor) else t
    if isinstance(like, (numbers.Number, np.generic)) and np.ndim(data) == 0:
        return data[()]
    return data


def _prepare(fn_name, args, argnums):
    """Boxed copies of args with the differentiated ones' leaves as Tensors."""
    multiple = isinstance(argnums, (tuple, list))
    nums = tuple(argnums) if multiple else (argnums,)
    for n in nums:
        if not isinstance(n, int) or not -len(args) <= n < len(args):
            raise ValueError(f"pyad.{fn_name}: argnums={argnums!r} does not match the "
                             f"{len(args)} positional arguments given")
    args = list(args)
    boxed = []      # (argnum, original leaves, Tensor leaves, treedef)
    for n in nums:
        leaves, td = tree_flatten(args[n])
        tensors = [_box(x, fn_name, n) for x in leaves]
        args[n] = tree_unflatten(td, tensors)
        boxed.append((n, leaves, tensors, td))
    return args, boxed, multiple


def _any_tensor(boxed):
    return any(isinstance(x, Tensor) for _, leaves, _, _ in boxed for x in leaves)


def _collect(boxed, cotangents):
    """Per-argument pytrees of cotangents (zeros where independent), unboxed like the inputs."""
    result, k = [], 0
    for _, leaves, tensors, td in boxed:
        gs = []
        for orig, t in zip(leaves, tensors):
            g = cotangents[k]
            k += 1
            gs.append(_unbox(wrap(np.zeros_like(t.data)) if g is None else g, orig))
        result.append(tree_unflatten(td, gs))
    return result


def _scalar_output(fn_name, out):
    if isinstance(out, Tensor):
        t = out
    else:
        try:
            t = wrap(np.asarray(out))
        except Exception:
            t = None
        if t is None or t.data.dtype == object:
            raise TypeError(f"pyad.{fn_name}: the function must return a scalar array or "
                            f"Tensor, got {type(out).__name__}; use ad.vjp for pytree outputs")
    if t.data.size != 1:
        raise TypeError(f"pyad.{fn_name}: the function must return a scalar, got an output of "
                        f"shape {t.shape}; use ad.jacobian or ad.vjp for non-scalar outputs, "
                        f"or reduce it (e.g. .sum())")
    if t.data.dtype.kind != "f":
        raise TypeError(f"pyad.{fn_name}: the output has dtype {t.data.dtype}; it must be a "
                        f"float scalar to be differentiated")
    return t


def value_and_grad(fun, argnums=0, has_aux=False):
    """fun(*args) -> (value, gradient w.r.t. args[argnums]); fun must return a scalar
    (or (scalar, aux) with has_aux=True, giving ((value, aux), gradient))."""
    @functools.wraps(fun)
    def value_and_grad_fun(*args, **kwargs):
        args, boxed, multiple = _prepare("grad", args, argnums)
        sources = [t for _, _, tensors, _ in boxed for t in tensors]
        with Tape() as tape:
            tape.watch(*sources)
            result = fun(*args, **kwargs)
        out, aux = (result if has_aux else (result, None))
        target = _scalar_output("grad", out)
        grads = _collect(boxed, sweep(tape, [target], [None], sources))
        value = target if _any_tensor(boxed) else _unbox(target, None)
        g = tuple(grads) if multiple else grads[0]
        return ((value, aux) if has_aux else value), g
    return value_and_grad_fun


def grad(fun, argnums=0, has_aux=False):
    """The gradient of a scalar function, as a function of the same arguments."""
    vg = value_and_grad(fun, argnums, has_aux)

    @functools.wraps(fun)
    def grad_fun(*args, **kwargs):
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g
    return grad_fun


def vjp(fun, *primals):
    """(fun(*primals), vjp_fn) where vjp_fn(cotangent) returns one cotangent per primal.

    The output may be any pytree of arrays; the cotangent must have the same structure and
    shapes. vjp_fn may be called many times (the forward pass is recorded once)."""
    args, boxed, _ = _prepare("vjp", primals, tuple(range(len(primals))))
    sources = [t for _, _, tensors, _ in boxed for t in tensors]
    with Tape(persistent=True) as tape:
        tape.watch(*sources)
        out = fun(*args)
    out_leaves, out_td = tree_flatten(out)
    targets = [o if isinstance(o, Tensor) else wrap(np.asarray(o)) for o in out_leaves]
    any_tensor = _any_tensor(boxed)

    def vjp_fn(cotangent):
        ct_leaves, ct_td = tree_flatten(cotangent)
        if ct_td != out_td:
            raise ValueError(f"pyad.vjp: the cotangent's structure {ct_td} does not match the "
                             f"output's {out_td}")
        seeds = []
        for c, t in zip(ct_leaves, targets):
            c = c if isinstance(c, Tensor) else wrap(np.asarray(c, dtype=t.data.dtype))
            if c.shape != t.shape:
                raise ValueError(f"pyad.vjp: cotangent of shape {c.shape} for an output of "
                                 f"shape {t.shape}")
            seeds.append(c)
        return tuple(_collect(boxed, sweep(tape, targets, seeds, sources)))

    out_value = out if any_tensor else tree_unflatten(out_td, [_unbox(t, None) for t in targets])
    return out_value, vjp_fn


def _tangent_leaves(fn_name, boxed, tangents):
    """The leaves of the tangents (one pytree per boxed argument), checked against the
    primals' structures."""
    leaves_out = []
    for (n, _, _, td), tan in zip(boxed, tangents):
        t_leaves, t_td = tree_flatten(tan)
        if t_td != td:
            raise ValueError(f"pyad.{fn_name}: tangent {n} has structure {t_td} but its primal "
                             f"has {td}")
        leaves_out.extend(t_leaves)
    return leaves_out


def _traced(fun, args, sources, tangents):
    """fun(*args) on a JvpTrace giving each source its tangent: (trace, out, the output's
    treedef, its leaves as Tensors)."""
    with JvpTrace() as trace:
        for x, v in zip(sources, tangents):
            trace.watch(x, v)
        out = fun(*args)
    out_leaves, out_td = tree_flatten(out)
    return trace, out, out_td, [o if isinstance(o, Tensor) else wrap(np.asarray(o))
                                for o in out_leaves]


def _replay(fn_name, linear, seeds, sources, leaves, dots):
    """The recorded tangents `dots` (None stays None) for new seed values `leaves`, one per
    source and of its shape, by replaying the tape `linear` (see Tape.replay)."""
    values = []
    for v, s in zip(leaves, sources):
        a = np.asarray(v.data if isinstance(v, Tensor) else v, dtype=s.data.dtype)
        if a.shape != s.shape:
            raise ValueError(f"pyad.{fn_name}: tangent of shape {a.shape} for a primal of "
                             f"shape {s.shape}")
        values.append(a)
    outs = iter(linear.replay(seeds, values, [d for d in dots if d is not None]))
    return [None if d is None else wrap(np.array(next(outs))) for d in dots]


def jvp(fun, primals, tangents):
    """Forward mode: (fun(*primals), J v) for tangents v shaped like the primals.

    primals and tangents are tuples (or lists) with one entry per argument of fun, each a
    pytree; the output may be any pytree, and the tangent comes back in the same structure."""
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("pyad.jvp: primals and tangents must be tuples, one entry per argument "
                        "of fun, e.g. ad.jvp(f, (x,), (v,))")
    if len(primals) != len(tangents):
        raise ValueError(f"pyad.jvp: {len(primals)} primals but {len(tangents)} tangents")
    args, boxed, _ = _prepare("jvp", tuple(primals), tuple(range(len(primals))))
    tangent_leaves = _tangent_leaves("jvp", boxed, tangents)
    sources = [t for _, _, tensors, _ in boxed for t in tensors]
    trace, out, out_td, outs = _traced(fun, args, sources, tangent_leaves)
    dots = []
    for o in outs:
        d = trace.tangent(o)
        dots.append(wrap(np.zeros_like(o.data)) if d is None else d)
    like = None if not _any_tensor(boxed) else sources[0]
    return (tree_unflatten(out_td, [_unbox(o, like) for o in outs]),
            tree_unflatten(out_td, [_unbox(d, like) for d in dots]))


def linearize(fun, *primals):
    """(fun(*primals), f_jvp) where f_jvp(*tangents) = J v, without running fun again.

    fun runs once under a forward trace whose tangents are watched (zero) inputs: the tangent
    computation, linear in them, is recorded, and each f_jvp call replays it with the new
    tangents (forward kernels only, Tape.replay). Where a replay cannot stand in (an
    enclosing transform tracks the primals or the tangents, or a comparison read a tangent)
    f_jvp runs ad.jvp instead. Tangents have the primals' structure; the result has the
    output's."""
    args, boxed, _ = _prepare("linearize", primals, tuple(range(len(primals))))
    sources = [t for _, _, tensors, _ in boxed for t in tensors]
    seeds = [wrap(np.zeros_like(s.data)) for s in sources]
    with Tape(persistent=True, watch_accessed_variables=False) as linear:
        linear.watch(*seeds)
        trace, out, out_td, targets = _traced(fun, args, sources, seeds)
    dots = [trace.tangent(t) for t in targets]
    replayable = linear.replayable and not any(is_tracked(s) for s in sources)
    primal_td = tree_flatten(tuple(primals))[1]
    any_tensor = _any_tensor(boxed)

    def f_jvp(*tangents):
        t_leaves, t_td = tree_flatten(tuple(tangents))
        if t_td != primal_td:
            raise ValueError(f"pyad.linearize: tangents have structure {t_td} but the primals "
                             f"have {primal_td}")
        if not replayable or any(is_tracked(t) for t in t_leaves):
            return jvp(fun, tuple(primals), tuple(tangents))[1]
        jv = [wrap(np.zeros_like(t.data)) if d is None else d for d, t in
              zip(_replay("linearize", linear, seeds, sources, t_leaves, dots), targets)]
        like = sources[0] if any_tensor else None
        return tree_unflatten(out_td, [_unbox(d, like) for d in jv])

    out_value = out if any_tensor else tree_unflatten(out_td, [_unbox(t, None) for t in targets])
    return out_value, f_jvp
