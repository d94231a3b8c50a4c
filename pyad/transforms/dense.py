"""Dense derivatives: jacobian (forward or reverse, by the mode planner) and hessian."""
from __future__ import annotations

from typing import Any, Callable, Sequence, Union

import numpy as np

from pyad import backend
from pyad.ops import core as ops
from pyad.engine._tape import JvpTrace, Tape, Tensor, derived, is_tracked, sweep, wrap
from pyad.engine.pytree import tree_flatten, tree_unflatten
from pyad.transforms.core import _prepare, grad
from pyad._typing import PyTree

__all__ = ["jacobian", "hessian"]


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
    out = out if isinstance(out, Tensor) else wrap(backend.as_array(out))
    if backend.dtype_of(out.data).kind not in "fc":
        # a comparison or an integer result has no derivative: its Jacobian would be
        # zeros of that dtype, which look like an answer (jax.jacfwd/jacrev refuse too)
        raise TypeError(f"pyad.jacobian: the function's output has dtype {out.data.dtype}; "
                        f"a Jacobian needs a float32/float64 (or complex) output. Return the "
                        f"values themselves (e.g. ad.where(x > 0, x, 0.0) rather than x > 0)")
    return out


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
    return derived(_move_columns_last, [data], (out_shape + in_shape,))


def _move_columns_last(data, shape):
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(np.moveaxis(data, 0, -1)).reshape(shape)
    return _reshape(backend.namespace(data).moveaxis(data, 0, -1), shape)


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
                # `...` for the other axes: the Array API does not imply them as numpy does
                trace.watch(s, block[c0:c1, ...])
            out = _array_output(fun(*args))
        t = trace.tangent(out)
        pieces.append(wrap(backend.zeros((c1 - c0,) + out.shape, out.data.dtype, out.data))
                      if t is None else t)
    rows = pieces[0] if len(pieces) == 1 else _concat(pieces)
    jacs, start = [], 0
    for s, n in zip(sources, sizes):
        jacs.append(_columns_last(rows[start:start + n, ...], n, out.shape, s.shape))
        start += n
    return jacs


def _concat(parts):
    if any(is_tracked(p) for p in parts):
        return ops.concatenate(parts, axis=0)
    return wrap(derived(_concat_arrays, [p.data for p in parts]))


def _concat_arrays(*datas):
    if isinstance(datas[0], np.ndarray):
        return np.concatenate(datas, axis=0)
    return backend.namespace(datas[0]).concat(datas, axis=0)


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
        seed = wrap(_reshape(eye[c0:c1, ...], (c1 - c0,) + out.shape))
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
            rows.append([_unbox_block(c[start:start + n, ...], xi.shape + xj.shape)
                         for c, xj in zip(cols, sources)])
            start += n
        return tree_unflatten(td, [tree_unflatten(td, r) for r in rows])
    return hessian_fun


def _unbox_block(block, shape):
    if is_tracked(block):
        return ops.reshape(block, shape)
    return derived(_reshape, [backend.as_array(block.data if isinstance(block, Tensor) else block)],
                   (shape,))
