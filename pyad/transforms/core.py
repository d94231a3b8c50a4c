"""Functional transforms (autograd/JAX style) over pytrees: grad, value_and_grad, vjp, jvp,
linearize."""
from __future__ import annotations

import functools
import numbers
from typing import Any, Callable, Sequence, Tuple, Union

import numpy as np

from pyad import backend
from pyad.engine._tape import (JvpTrace, Tape, Tensor, derived, free_dead_implicit_records,
                               is_tracked, sweep, wrap)
from pyad._typing import PyTree
from pyad.engine.pytree import tree_flatten, tree_leaves, tree_unflatten

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "linearize"]


def _box(x, fn_name, position, args=()):
    """A leaf of a differentiated argument as a Tensor to watch (arrays are not copied). A
    Python number joins the backend of the arguments' device arrays, if any (weakly typed,
    as in JAX: a learning rate differentiated beside GPU parameters lives on the GPU)."""
    if type(x) is np.ndarray and x.dtype.kind in "fc":
        return wrap(x)          # the common case, as the general path below gives it
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (float, int)) and not isinstance(x, bool):
        like = _device_array(args)
        if like is not None:
            x = backend.asarray(float(x) if isinstance(x, float) else x, like=like)
    arr = backend.as_array(x)
    if backend.dtype_of(arr).kind not in "fc":
        raise TypeError(f"pyad.{fn_name}: argument {position} has dtype {arr.dtype}; gradients "
                        f"need float32 or float64 (or complex) inputs (convert with x.astype(np.float64), "
                        f"or write 1.0 instead of 1)")
    return wrap(arr)


def _device_array(args):
    """The first array among the args' leaves that lives on another backend than numpy."""
    for a in args:
        for leaf in tree_flatten(a)[0]:
            data = leaf.data if isinstance(leaf, Tensor) else leaf
            if backend.is_foreign(data):
                return data
    return None


def _unbox(t, like):
    """numpy in -> numpy out: a Tensor result goes back to what the caller passed in, unless
    an enclosing transform is differentiating through it."""
    if isinstance(like, Tensor) or is_tracked(t):
        return t
    data = t.data if isinstance(t, Tensor) else t
    if type(like) is np.ndarray:
        return data             # (the numbers.Number test below is an ABC check: slow)
    if isinstance(like, (numbers.Number, np.generic)) and np.ndim(data) == 0:
        return derived(_scalar, [data])
    return data


def _scalar(a):
    return a[()]


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
        tensors = [_box(x, fn_name, n, args) for x in leaves]
        args[n] = tree_unflatten(td, tensors)
        boxed.append((n, leaves, tensors, td))
    return args, boxed, multiple


def _any_tensor(boxed):
    return any(isinstance(x, Tensor) for _, leaves, _, _ in boxed for x in leaves)


def _root(a):
    """The array that owns a view's memory (views of one buffer share it)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a.base if a.base is not None else a


def _fresh(results, *callers):
    """The numpy results with copies where the caller could not safely write into them
    (`w -= lr * g`): read-only views (a broadcast cotangent), arrays sharing memory with
    what the caller passed in (an identity function hands back its cotangent or tangent),
    or with an earlier result (add's two cotangents are one array)."""
    taken = set()
    for tree in callers:
        for a in tree_leaves(tree):
            if isinstance(a, np.ndarray):
                taken.add(id(_root(a)))
    out = []
    for a in results:
        if isinstance(a, np.ndarray):
            root = id(_root(a))
            if not a.flags.writeable or root in taken:
                a = derived(np.array, [a])
                root = id(a)    # a fresh copy is its own root
            taken.add(root)
        out.append(a)
    return out


def _collect(boxed, cotangents, *callers):
    """Per-argument pytrees of cotangents (zeros where independent), unboxed like the inputs,
    as fresh arrays where they are numpy (see _fresh; callers: what else the caller passed)."""
    flat, k = [], 0
    for _, leaves, tensors, td in boxed:
        for orig, t in zip(leaves, tensors):
            g = cotangents[k]
            k += 1
            flat.append(_unbox(wrap(backend.zeros_like(t.data)) if g is None else g, orig))
    flat = _fresh(flat, [leaves for _, leaves, _, _ in boxed], *callers)
    result, k = [], 0
    for _, leaves, _, td in boxed:
        result.append(tree_unflatten(td, flat[k:k + len(leaves)]))
        k += len(leaves)
    return result


def _scalar_output(fn_name, out):
    if isinstance(out, Tensor):
        t = out
    elif isinstance(out, (list, tuple, dict)):
        raise TypeError(
            f"pyad.{fn_name}: the function returned a {type(out).__name__}, but {fn_name} "
            f"differentiates a function with one scalar output; return the scalar itself "
            f"(e.g. `return loss`, not `[loss]`), use has_aux=True for (loss, aux), or ad.vjp / "
            f"ad.jacobian for several outputs")
    else:
        try:
            t = wrap(backend.as_array(out))
        except Exception:
            t = None
        if t is None or backend.dtype_of(t.data) == object:
            raise TypeError(f"pyad.{fn_name}: the function must return a scalar array or "
                            f"Tensor, got {type(out).__name__}; use ad.vjp for pytree outputs")
    if t.data.size != 1:
        raise TypeError(f"pyad.{fn_name}: the function must return a scalar, got an output of "
                        f"shape {t.shape}; use ad.jacobian or ad.vjp for non-scalar outputs, "
                        f"or reduce it (e.g. .sum())")
    kind = backend.dtype_of(t.data).kind
    if kind == "c":
        raise TypeError(f"pyad.{fn_name}: the output is complex ({t.data.dtype}); grad needs a "
                        f"real scalar: differentiate ad.real(f), ad.abs(f)**2, ..., or use "
                        f"ad.holomorphic_grad for a holomorphic f")
    if kind != "f":
        raise TypeError(f"pyad.{fn_name}: the output has dtype {t.data.dtype}; it must be a "
                        f"float scalar to be differentiated")
    return t


def value_and_grad(fun: Callable[..., Any], argnums: Union[int, Sequence[int]] = 0,
         has_aux: bool = False) -> Callable[..., Any]:
    """The value of a scalar function and its gradient, from one evaluation.

    Like :func:`grad`, but the returned function gives ``(value, gradient)``: the forward
    pass that records the tape also gives the value, so nothing runs twice (a training loop
    that logs its loss wants this).

    Parameters
    ----------
    fun : callable
        ``fun(*args, **kwargs)`` returning a float scalar (an array or Tensor of one
        element), or ``(scalar, aux)`` with ``has_aux=True``.
    argnums : int or sequence of ints, default 0
        The positional argument(s) to differentiate; a tuple gives a tuple of gradients.
    has_aux : bool, default False
        Whether ``fun`` returns ``(value, aux)``; the result is then
        ``((value, aux), gradient)``.

    Returns
    -------
    callable
        ``value_and_grad_fun(*args, **kwargs) -> (value, gradient)``. The value is a 0-d
        numpy array for numpy inputs (a Tensor when any differentiated leaf is a Tensor);
        the gradient follows the rules of :func:`grad` (same pytree structure, shapes and
        dtypes as the differentiated arguments).

    Raises
    ------
    TypeError
        When ``fun`` returns a non-scalar or non-float value, or a differentiated argument
        has an integer dtype.
    ValueError
        When ``argnums`` does not match the positional arguments given.

    See Also
    --------
    grad : the gradient alone.

    Examples
    --------
    >>> def loss(w, x, y):
    ...     return ad.mean((x @ w - y) ** 2)
    >>> w, x, y = np.array([1.0, -1.0]), np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.0, 1.0])
    >>> value, g = ad.value_and_grad(loss)(w, x, y)
    >>> float(value), g
    (2.5, array([ -7., -10.]))
    >>> (value, pred), g = ad.value_and_grad(
    ...     lambda w: (loss(w, x, y), x @ w), has_aux=True)(w)
    >>> pred
    tensor([-1., -1.])
    """
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
        del out, result, target
        free_dead_implicit_records()
        return ((value, aux) if has_aux else value), g
    return value_and_grad_fun


def grad(fun: Callable[..., Any], argnums: Union[int, Sequence[int]] = 0,
         has_aux: bool = False) -> Callable[..., Any]:
    """The gradient of a scalar function, as a function of the same arguments.

    ``ad.grad(fun)(*args)`` runs ``fun(*args)`` once while a tape records every pyad
    operation on the differentiated arguments, then sweeps the tape backwards to get
    d fun / d args[argnums] (reverse mode: one sweep, whatever the number of inputs).
    Write ``fun`` with pyad functions (``ad.tanh``, ``ad.sum``, ``x @ w``, ...); plain numpy
    calls on its arguments (``np.tanh(x)``) dispatch to pyad too, because inside ``fun`` the
    differentiated arguments are :class:`pyad.Tensor` objects.

    Parameters
    ----------
    fun : callable
        ``fun(*args, **kwargs)`` returning a float scalar: an array, Tensor or number with
        one element. With ``has_aux=True`` it returns ``(scalar, aux)`` instead, and ``aux``
        (anything: predictions, metrics) comes back undifferentiated. Keyword arguments are
        passed through and never differentiated.
    argnums : int or sequence of ints, default 0
        The positional argument(s) to differentiate with respect to. An int gives one
        gradient; a tuple (even of one element) gives a tuple of gradients in that order.
        Negative positions count from the end. Arguments not named here may be anything
        (data arrays, ints, strings) and get no gradient.
    has_aux : bool, default False
        Whether ``fun`` returns ``(value, aux)``; the gradient function then returns
        ``(gradient, aux)``.

    Returns
    -------
    callable
        ``grad_fun(*args, **kwargs)``, taking ``fun``'s arguments and returning the
        gradient, which has the structure, shapes and dtypes of the differentiated
        argument(s):

        - *pytrees*: an argument may be a nested list, tuple or dict of arrays (say, a dict
          of weight matrices); its gradient is the same pytree of gradients;
        - *numpy in, numpy out*: numpy arrays and Python floats give numpy results, Tensors
          give Tensors; inside another transform the results stay Tensors so that they can
          be differentiated again (``ad.grad(ad.grad(f))``, ``ad.jacobian(ad.grad(f))``).

    Raises
    ------
    TypeError
        When ``fun`` returns a non-scalar (reduce it with ``ad.sum``, or use
        :func:`pyad.jacobian` / :func:`vjp`), a non-float value, or when a differentiated
        argument has an integer dtype (write ``1.0``, not ``1``).
    ValueError
        When ``argnums`` does not match the positional arguments given.

    See Also
    --------
    value_and_grad : the value and the gradient from one evaluation.
    vjp : gradients of non-scalar outputs (vector-Jacobian products).
    pyad.jacobian, pyad.hessian, pyad.hvp : dense and second-order derivatives.
    pyad.Tape : the same machinery as a context manager (PyTorch / TensorFlow style).

    Examples
    --------
    >>> f = lambda x: ad.sum(x ** 3)
    >>> ad.grad(f)(np.array([1.0, 2.0]))                 # 3 x^2: numpy in, numpy out
    array([ 3., 12.])
    >>> ad.grad(f)(ad.tensor([1.0, 2.0]))                # Tensor in, Tensor out
    tensor([ 3., 12.])
    >>> print(ad.grad(ad.grad(lambda x: x ** 3))(2.0))   # second derivative 6 x
    12.0

    ``argnums`` picks the arguments; the others (here data) get no gradient:

    >>> def loss(w, x, y):
    ...     return ad.mean((x @ w - y) ** 2)
    >>> w, x, y = np.array([1.0, -1.0]), np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.0, 1.0])
    >>> ad.grad(loss)(w, x, y)
    array([ -7., -10.])
    >>> gw, gx = ad.grad(loss, argnums=(0, 1))(w, x, y)
    >>> gx
    array([[-1.,  1.],
           [-2.,  2.]])

    Pytrees: the gradient of a dict of parameters is a dict of gradients:

    >>> params = {"w": w, "b": np.array(0.5)}
    >>> g = ad.grad(lambda p: ad.mean((x @ p["w"] + p["b"] - y) ** 2))(params)
    >>> g["w"], g["b"]
    (array([-5., -7.]), array(-2.))

    ``has_aux=True`` passes a second result through (here the predictions):

    >>> g, pred = ad.grad(lambda w: (loss(w, x, y), x @ w), has_aux=True)(w)
    >>> pred
    tensor([-1., -1.])

    Non-scalar outputs are an error:

    >>> ad.grad(lambda x: x ** 2)(np.array([1.0, 2.0]))
    Traceback (most recent call last):
    ...
    TypeError: pyad.grad: the function must return a scalar, got an output of shape (2,); ...
    """
    vg = value_and_grad(fun, argnums, has_aux)

    @functools.wraps(fun)
    def grad_fun(*args, **kwargs):
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g
    return grad_fun


def vjp(fun: Callable[..., Any],
        *primals: PyTree) -> Tuple[PyTree, Callable[[PyTree], Tuple[PyTree, ...]]]:
    """Vector-Jacobian products: ``fun``'s output and a function pulling cotangents back.

    ``fun(*primals)`` runs once, recorded on a tape; ``vjp_fn(u)`` then sweeps it backwards
    to give u^T J for each primal (reverse mode). It may be called many times with different
    cotangents (the gradient of a scalar is ``vjp_fn(1.0)``; rows of a Jacobian are
    ``vjp_fn(e_i)``).

    Parameters
    ----------
    fun : callable
        ``fun(*primals)`` returning an array, Tensor or any pytree of them.
    *primals : array_like, Tensor or pytree
        The point at which to differentiate, one per positional argument of ``fun``; every
        one is differentiated (float dtypes).

    Returns
    -------
    out : array, Tensor or pytree
        ``fun(*primals)`` (numpy for numpy primals).
    vjp_fn : callable
        ``vjp_fn(cotangent) -> tuple``: the cotangent has the output's structure and shapes;
        the tuple has one entry per primal, of its structure and shapes (zeros where the
        output does not depend on it).

    Raises
    ------
    TypeError
        When a primal has an integer dtype.
    ValueError
        From ``vjp_fn``, when the cotangent's structure or shapes differ from the output's.

    See Also
    --------
    grad : the scalar case. jvp : the forward-mode counterpart (J v).

    Examples
    --------
    >>> out, vjp_fn = ad.vjp(lambda a, b: a * b, np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    >>> out
    array([3., 8.])
    >>> vjp_fn(np.array([1.0, 10.0]))          # (u * b, u * a)
    (array([ 3., 40.]), array([ 1., 20.]))

    Pytree outputs take pytree cotangents:

    >>> out, vjp_fn = ad.vjp(lambda x: {"sum": ad.sum(x), "sq": x ** 2}, np.array([1.0, 2.0]))
    >>> vjp_fn({"sum": 1.0, "sq": np.array([1.0, 1.0])})
    (array([3., 5.]),)
    """
    free_dead_implicit_records()        # earlier calls' passes on Tensors that require grad
    args, boxed, _ = _prepare("vjp", primals, tuple(range(len(primals))))
    sources = [t for _, _, tensors, _ in boxed for t in tensors]
    with Tape(persistent=True) as tape:
        tape.watch(*sources)
        out = fun(*args)
    out_leaves, out_td = tree_flatten(out)
    targets = [o if isinstance(o, Tensor) else wrap(backend.as_array(o)) for o in out_leaves]
    any_tensor = _any_tensor(boxed)

    def vjp_fn(cotangent):
        ct_leaves, ct_td = tree_flatten(cotangent)
        if ct_td != out_td:
            raise ValueError(f"pyad.vjp: the cotangent's structure {ct_td} does not match the "
                             f"output's {out_td}")
        seeds = []
        for c, t in zip(ct_leaves, targets):
            c = c if isinstance(c, Tensor) else wrap(backend.asarray(
                c, backend.dtype_of(t.data), like=t.data, op="vjp"))
            if c.shape != t.shape:
                raise ValueError(f"pyad.vjp: cotangent of shape {c.shape} for an output of "
                                 f"shape {t.shape}")
            seeds.append(c)
        return tuple(_collect(boxed, sweep(tape, targets, seeds, sources), ct_leaves))

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
    return trace, out, out_td, [o if isinstance(o, Tensor) else wrap(backend.as_array(o))
                                for o in out_leaves]


def _tangent_arrays(fn_name, leaves, sources):
    """Vectors `leaves` (arrays or Tensors, one per source) as arrays on each source's
    backend and device in its dtype, checked for its shape."""
    values = []
    for v, s in zip(leaves, sources):
        a = derived(backend.asarray, [v.data if isinstance(v, Tensor) else v],
                    (backend.dtype_of(s.data), s.data, fn_name))
        if a.shape != s.shape:
            raise ValueError(f"pyad.{fn_name}: tangent of shape {a.shape} for a primal of "
                             f"shape {s.shape}")
        values.append(a)
    return values


def _replay(fn_name, linear, seeds, sources, leaves, dots, into=None):
    """The recorded tangents `dots` (None stays None) for new seed values `leaves`, one per
    source and of its shape, by replaying the tape `linear` (see Tape.replay); into: per
    dot, None or a numpy array of its shape and dtype the replay writes it into."""
    values = _tangent_arrays(fn_name, leaves, sources)
    wanted = [k for k, d in enumerate(dots) if d is not None]
    outs = iter(linear.replay(seeds, values, [dots[k] for k in wanted],
                              None if into is None else [into[k] for k in wanted]))
    result = []
    for d in dots:
        a = None if d is None else next(outs)
        if a is not None and a is d.data:
            # a tangent the replay did not recompute (it does not depend on the seeds) is the
            # tape's own array: copied, so that a caller writing into it cannot change later
            # replays (recomputed ones are new arrays; _fresh copies those shared with the
            # caller's tangents or with each other)
            a = derived(backend.copy, [a])
        result.append(None if a is None else wrap(a))
    return result


def jvp(fun: Callable[..., Any], primals: Sequence[PyTree],
        tangents: Sequence[PyTree]) -> Tuple[PyTree, PyTree]:
    """Forward mode: ``fun``'s output and its Jacobian-vector product J v, in one pass.

    Each operation carries a tangent alongside its value (no tape is kept), so the cost is
    a small multiple of one evaluation whatever the output size: cheap for functions with
    few inputs and many outputs, and the inner part of forward-over-reverse HVPs.

    Parameters
    ----------
    fun : callable
        ``fun(*primals)`` returning an array, Tensor or any pytree of them.
    primals : tuple or list
        The point, one entry (array, Tensor or pytree, float dtype) per positional argument
        of ``fun``.
    tangents : tuple or list
        The direction v: one entry per primal, of its structure and shapes.

    Returns
    -------
    out : array, Tensor or pytree
        ``fun(*primals)``.
    tangent_out : array, Tensor or pytree
        J v, of the output's structure and shapes (numpy for numpy primals).

    Raises
    ------
    TypeError
        When ``primals`` or ``tangents`` is not a tuple/list (write ``(x,)``), or a primal
        has an integer dtype.
    ValueError
        When the numbers or structures of primals and tangents differ.

    See Also
    --------
    linearize : J v for many v at one point. vjp : reverse mode.

    Examples
    --------
    >>> x = np.array([0.0, 1.0])
    >>> y, ydot = ad.jvp(ad.sin, (x,), (np.array([1.0, 1.0]),))      # cos(x) * v
    >>> print(np.round(y, 4), np.round(ydot, 4))
    [0.     0.8415] [1.     0.5403]
    >>> a, b = np.array([2.0]), np.array([3.0])
    >>> ad.jvp(lambda a, b: a * b, (a, b), (np.array([1.0]), np.array([0.0])))   # d(ab) = b da
    (array([6.]), array([3.]))
    """
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
        dots.append(wrap(backend.zeros_like(o.data)) if d is None else d)
    like = None if not _any_tensor(boxed) else sources[0]
    results = _fresh([_unbox(o, like) for o in outs] + [_unbox(d, like) for d in dots],
                     primals, tangents)
    return (tree_unflatten(out_td, results[:len(outs)]),
            tree_unflatten(out_td, results[len(outs):]))


def linearize(fun: Callable[..., Any],
              *primals: PyTree) -> Tuple[PyTree, Callable[..., PyTree]]:
    """``fun``'s output and a function v -> J v at the same point, without running fun again.

    fun runs once under a forward trace whose tangents are watched (zero) inputs: the tangent
    computation, linear in them, is recorded, and each f_jvp call replays it with the new
    tangents (forward kernels only, Tape.replay). Where a replay cannot stand in (an
    enclosing transform tracks the primals or the tangents, or a comparison read a tangent)
    f_jvp runs ad.jvp instead.

    Parameters
    ----------
    fun : callable
        ``fun(*primals)`` returning an array, Tensor or pytree of them.
    *primals : array_like, Tensor or pytree
        The point, one per positional argument of ``fun`` (float dtypes).

    Returns
    -------
    out : array, Tensor or pytree
        ``fun(*primals)``.
    f_jvp : callable
        ``f_jvp(*tangents) -> J v``: one tangent per primal, of its structure and shapes;
        the result has the output's structure.

    Raises
    ------
    TypeError
        When a primal has an integer dtype.
    ValueError
        From ``f_jvp``, when the tangents' structure or shapes differ from the primals'.

    See Also
    --------
    jvp : one J v (fun runs each time). pyad.hvp_fn : the same idea for Hessians.

    Examples
    --------
    >>> y, f_jvp = ad.linearize(ad.tanh, np.array([0.0, 1.0]))
    >>> print(np.round(y, 4))
    [0.     0.7616]
    >>> print(np.round(f_jvp(np.array([1.0, 1.0])), 4))       # (1 - tanh^2) v
    [1.    0.42]
    >>> print(np.round(f_jvp(np.array([2.0, 0.0])), 4))
    [2. 0.]
    """
    args, boxed, _ = _prepare("linearize", primals, tuple(range(len(primals))))
    sources = [t for _, _, tensors, _ in boxed for t in tensors]
    seeds = [wrap(backend.zeros_like(s.data)) for s in sources]
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
        jv = [wrap(backend.zeros_like(t.data)) if d is None else d for d, t in
              zip(_replay("linearize", linear, seeds, sources, t_leaves, dots), targets)]
        like = sources[0] if any_tensor else None
        return tree_unflatten(out_td, _fresh([_unbox(d, like) for d in jv], primals, tangents))

    out_value = out if any_tensor else tree_unflatten(out_td, [_unbox(t, None) for t in targets])
    return out_value, f_jvp
