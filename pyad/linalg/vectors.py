"""Pytrees as vectors: the one ravel/unravel and the one inner product (vdot), on any backend."""
from __future__ import annotations

from typing import Any, Callable, Tuple

import numpy as np

from pyad import backend
from pyad.engine._tape import Tensor, wrap
from pyad.engine.pytree import tree_flatten, tree_unflatten
from pyad.ops import core as ops
from pyad._typing import PyTree

__all__ = ["vdot", "ravel_pytree", "on_backend_of"]


def _is_array(x):
    return isinstance(x, np.ndarray) or backend.is_foreign(x)


def _inner(x, y):
    """sum(x * y) of two plain leaves (arrays or numbers), unrecorded, on their backend: a
    numpy scalar, a 0-d array of the other backend, or a Python number for two numbers (which
    adds to the terms of any backend)."""
    if not _is_array(x) and not _is_array(y):
        return np.multiply(x, y).item()
    if not _is_array(x):
        x = backend.asarray(x, like=y if _is_array(y) else None)
    if not _is_array(y):
        y = backend.asarray(y, like=x)
    if type(x) is np.ndarray and type(y) is np.ndarray:
        if x.shape == y.shape:
            # never numpy's BLAS: with MKL, a numpy BLAS call wakes OpenBLAS's thread pool,
            # which then spins against MKL's while the operator's products run (a Lanczos
            # loop's matvecs took 2.3x as long here). float64 in one pass on pyad's BLAS (a
            # one-row gemv), the rest by numpy's own loop.
            if (x.dtype == y.dtype == np.float64 and x.size and x.flags.c_contiguous
                    and y.flags.c_contiguous):
                return backend.rows_matvec(x.reshape(1, -1), y.reshape(-1), np.empty(1),
                                           1.0, 0.0)[0]
            return np.einsum("i,i->", x.ravel(), y.ravel())
        return np.sum(np.multiply(x, y))
    xp = backend.same_backend("vdot", [x, y]).xp
    return xp.sum(xp.multiply(x, y))


def vdot(a: PyTree, b: PyTree) -> Tensor:
    """The inner product <a, b>: sum(a * b) over all leaves of two pytrees (differentiable).

    Leaf pairs holding a Tensor are multiplied and summed with pyad ops, so the result is
    differentiable in them; pairs of plain arrays (numpy or any other backend's, which must
    match) are summed without recording, on their own backend. Real arrays: nothing is
    conjugated.

    Parameters
    ----------
    a, b : array_like, Tensor or pytree
        Two pytrees of one structure whose corresponding leaves broadcast together.

    Returns
    -------
    Tensor
        The scalar sum over leaves of ``ad.sum(a_leaf * b_leaf)`` (0 for empty pytrees);
        ``float(...)`` reads it.

    Raises
    ------
    ValueError
        When the two structures differ.

    Examples
    --------
    >>> ad.vdot({"w": np.array([1.0, 2.0])}, {"w": np.array([3.0, 4.0])})
    tensor(11.)
    >>> float(ad.grad(lambda x: ad.vdot([x, x], [x, np.ones(2)]))(np.array([1.0, 2.0]))[1])
    5.0
    """
    la, ta = tree_flatten(a)
    lb, tb = tree_flatten(b)
    if ta != tb:
        raise ValueError(f"pyad.vdot: structures {ta} and {tb} differ")
    traced = plain = None
    for x, y in zip(la, lb):
        if isinstance(x, Tensor) or isinstance(y, Tensor):
            term = ops.sum(ops.multiply(x, y))
            traced = term if traced is None else traced + term
        else:
            term = _inner(x, y)
            plain = term if plain is None else plain + term
    if traced is None:
        plain = 0.0 if plain is None else plain
        return wrap(plain if _is_array(plain) else np.asarray(plain))
    return traced if plain is None else ops.add(traced, plain)


def ravel_pytree(tree: PyTree, detach: bool = False) -> Tuple[Any, Callable[[Any], PyTree]]:
    """Flatten a pytree of arrays into one 1-D float array, with the function that rebuilds it.

    Like ``jax.flatten_util.ravel_pytree`` and autograd's ``flatten``: the leaves, in
    :func:`tree_flatten` order, are raveled and concatenated into a vector of their common
    float dtype (``numpy.result_type`` of the leaves, float64 when they are all integers or
    booleans), so an optimiser, a Hessian or a line search can treat the parameters as one
    vector. numpy in, numpy out: when any leaf is a pyad Tensor the vector is a Tensor and
    differentiable (through the concatenation); otherwise a numpy array. Leaves of another
    backend (arrays with ``__array_namespace__``) give a vector of that backend; number
    leaves join the arrays' backend.

    Parameters
    ----------
    tree : pytree
        Nested lists, tuples (namedtuples included) and dicts whose leaves are numpy arrays,
        Tensors, Python/numpy numbers or arrays of one other backend.
    detach : bool, default False
        Read Tensor leaves as their arrays: the vector is then a plain array, never a Tensor
        (what :func:`pyad.analysis.curvature.ravel` does, for operators on flat vectors).

    Returns
    -------
    flat : numpy.ndarray, Tensor or array of the leaves' backend
        The 1-D vector of all leaf entries.
    unravel : callable
        ``unravel(v)`` rebuilds ``tree``'s structure from a vector ``v`` of ``flat``'s
        length: each leaf with its shape and dtype (a number leaf becomes a 0-d array). A
        numpy ``v`` gives numpy arrays (views of ``v`` where the dtype already matches), a
        Tensor ``v`` gives Tensors, differentiable, so ``grad`` flows through ``unravel``;
        an array of another backend gives arrays of that backend. A ``v`` of another shape
        raises a ValueError.

    Raises
    ------
    TypeError
        When a leaf is not numeric (None, a string, a complex array, an object).

    Examples
    --------
    >>> params = {"w": np.ones((2, 2)), "b": np.zeros(2)}
    >>> flat, unravel = ad.ravel_pytree(params)
    >>> flat
    array([0., 0., 1., 1., 1., 1.])
    >>> unravel(flat + 1.0)["b"]
    array([1., 1.])
    >>> ad.grad(lambda v: ad.sum(unravel(v)["w"] ** 2))(flat)
    array([0., 0., 2., 2., 2., 2.])
    >>> type(ad.ravel_pytree([ad.tensor([1.0])], detach=True)[0]).__name__
    'ndarray'
    """
    leaves, treedef = tree_flatten(tree)
    arrays, metas, numbers = [], [], []     # each leaf's array; (shape, dtype, size) per leaf
    for i, leaf in enumerate(leaves):
        data = leaf.data if isinstance(leaf, Tensor) else leaf
        if not _is_array(data):
            numbers.append(i)
            data = np.asarray(data)     # numbers and lists: numpy until the backend is known
        dtype = backend.dtype_of(data)
        if dtype.kind not in "biuf":
            raise TypeError(f"pyad.ravel_pytree: leaf {i} ({type(leaf).__name__} of dtype "
                            f"{dtype}) is not a real numeric array; the leaves of "
                            f"{treedef} must be arrays, Tensors or numbers")
        shape = tuple(data.shape)
        arrays.append(data)
        metas.append((shape, dtype, int(np.prod(shape, dtype=np.int64))))
    like = next((a for a in arrays if backend.is_foreign(a)), None)
    for i in numbers if like is not None else ():
        arrays[i] = backend.asarray(leaves[i], like=like)     # numbers join the arrays' backend
    flat_dtype = np.result_type(*[d for _, d, _ in metas]) if metas else np.dtype(np.float64)
    if flat_dtype.kind != "f":
        flat_dtype = np.dtype(np.float64)
    total = sum(n for _, _, n in metas)

    if not detach and any(isinstance(leaf, Tensor) for leaf in leaves):
        parts = [ops.reshape(ops.astype(leaf if isinstance(leaf, Tensor) else ops._t(a),
                                        flat_dtype), (-1,))
                 for leaf, a in zip(leaves, arrays)]
        flat = ops.concatenate(parts)
    elif like is not None:
        xp = backend.namespace(like)
        flat = xp.concat([xp.reshape(_cast(a, dtype, flat_dtype), (-1,))
                          for a, (_, dtype, _) in zip(arrays, metas)])
    elif arrays:
        flat = np.concatenate([np.ravel(np.asarray(a, dtype=flat_dtype)) for a in arrays])
    else:
        flat = np.zeros(0, flat_dtype)

    def unravel(vector):
        data = vector.data if isinstance(vector, Tensor) else vector
        shape = tuple(data.shape) if _is_array(data) else np.shape(data)
        if shape != (total,):
            raise ValueError(f"pyad.ravel_pytree: unravel takes a 1-D vector of length "
                             f"{total}, got shape {shape}")
        out, start = [], 0
        if isinstance(vector, Tensor):
            for shape, dtype, n in metas:
                piece = ops.getitem(vector, slice(start, start + n))
                out.append(ops.astype(ops.reshape(piece, shape), dtype))
                start += n
        elif backend.is_foreign(vector):
            xp = backend.namespace(vector)
            vec_dtype = backend.dtype_of(vector)
            for shape, dtype, n in metas:
                out.append(_cast(xp.reshape(vector[start:start + n], shape), vec_dtype, dtype))
                start += n
        else:
            vector = np.asarray(vector)
            for shape, dtype, n in metas:
                out.append(vector[start:start + n].reshape(shape).astype(dtype, copy=False))
                start += n
        return tree_unflatten(treedef, out)

    return flat, unravel


def _cast(a, dtype, to):
    """Array a (of numpy dtype `dtype`, any backend) as dtype `to`, itself when it has it."""
    return a if dtype == to else backend.astype(a, to)


def on_backend_of(x: np.ndarray, like: Any) -> Any:
    """Host array x copied to the backend and device of `like` (x itself when like is None
    or numpy): for what is computed on the host (random draws, small dense problems) and
    handed back next to the caller's arrays.

    Parameters
    ----------
    x : numpy.ndarray
        The host array.
    like : array or None
        An array of the target backend and device.

    Returns
    -------
    array
        x on like's backend.

    Examples
    --------
    >>> from pyad.linalg.vectors import on_backend_of
    >>> on_backend_of(np.ones(2), None)
    array([1., 1.])
    """
    return x if like is None else backend.to_backend(x, like)
