"""Conjugate gradient: A x = b for a symmetric positive definite matvec on pytrees, any backend."""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from pyad import backend
from pyad.engine._tape import Tensor
from pyad.engine.pytree import tree_flatten, tree_unflatten
from pyad.linalg.vectors import vdot
from pyad._typing import PyTree

__all__ = ["cg"]


def _leaf(x, like=None):
    """The array behind a Tensor, array, number or list, on like's backend (an array of
    another backend raises TypeError: never a silent copy)."""
    return backend.asarray(x.data if isinstance(x, Tensor) else x, like=like, op="cg")


def _reshape(a, shape):
    return a.reshape(shape) if isinstance(a, np.ndarray) else backend.namespace(a).reshape(
        a, tuple(shape))


def _dot(a, b):
    return float(vdot(a, b))


def cg(matvec: Callable[[PyTree], PyTree], b: PyTree, x0: Optional[PyTree] = None,
       tol: float = 1e-10, max_iter: Optional[int] = None) -> Tuple[PyTree, Dict[str, Any]]:
    """Solve A x = b for a symmetric positive definite A given as matvec(x) -> A x.

    b (and x0) may be an array or a pytree of arrays; matvec takes and returns the same
    structure (Tensors are read as arrays). The vectors live on b's backend (numpy, or the
    Array API library of b's arrays), so matvec receives and returns arrays of it. Stops when
    ||r|| <= tol * ||b|| or after max_iter iterations (default: the number of unknowns).
    Returns (x, info) with info keys "iterations", "residual" (relative residual norm),
    "converged" and "negative_curvature" (True when some p^T A p <= 0 was met: A is not
    positive definite along p and the iterate reached so far is returned, as truncated-Newton
    methods want).

    Parameters
    ----------
    matvec : callable
        ``matvec(x) -> A x`` (e.g. a Hessian-vector product), taking and returning b's
        structure.
    b : array_like or pytree
        The right-hand side.
    x0 : array_like or pytree, optional
        The start (default zeros).
    tol : float, default 1e-10
        Relative residual tolerance.
    max_iter : int, optional
        The most iterations (default: the number of unknowns).

    Returns
    -------
    x : array or pytree
        The solution, structured like b, on b's backend.
    info : dict
        iterations, residual, converged, negative_curvature.

    Raises
    ------
    ValueError
        When matvec returns another structure than b's.
    TypeError
        When matvec or x0 gives arrays of another backend or device than b's.

    Examples
    --------
    >>> A = np.array([[4.0, 1.0], [1.0, 3.0]])
    >>> x, info = ad.implicit.cg(lambda v: A @ v, np.array([1.0, 2.0]))
    >>> np.allclose(A @ x, [1.0, 2.0]), info["converged"], info["iterations"]
    (True, True, 2)
    >>> ad.implicit.cg(lambda d: {"u": 2.0 * d["u"]}, {"u": np.array([2.0, 4.0])})[0]
    {'u': array([1., 2.])}
    """
    b_leaves, td = tree_flatten(b)
    b_leaves = [_leaf(v) for v in b_leaves]
    # float32 stays float32, integers solve in float64; astype copies, so b is never written
    b_leaves = [backend.astype(v, np.result_type(backend.dtype_of(v), np.float32))
                for v in b_leaves]

    def apply(leaves):
        out, out_td = tree_flatten(matvec(tree_unflatten(td, leaves)))
        if out_td != td:
            raise ValueError(f"pyad.cg: matvec returned structure {out_td}, expected {td}")
        return [_reshape(_leaf(o, v), v.shape) for o, v in zip(out, b_leaves)]

    n = sum(int(np.prod(v.shape, dtype=np.int64)) for v in b_leaves)
    max_iter = n if max_iter is None else int(max_iter)
    b_norm = np.sqrt(_dot(b_leaves, b_leaves))
    if x0 is None:
        x = [backend.zeros_like(v) for v in b_leaves]
        r = [backend.copy(v) for v in b_leaves]
    else:
        x = [_reshape(backend.astype(_leaf(v, bv), backend.dtype_of(bv)), bv.shape)
             for v, bv in zip(tree_flatten(x0)[0], b_leaves)]
        r = [bv - av for bv, av in zip(b_leaves, apply(x))]
    info = {"iterations": 0, "residual": 0.0, "converged": True, "negative_curvature": False}
    if b_norm == 0.0:        # the solution of A x = 0 is x = 0, whatever x0 was
        return tree_unflatten(td, [backend.zeros_like(v) for v in b_leaves]), info
    p = [backend.copy(v) for v in r]
    rr = _dot(r, r)
    k = 0
    while np.sqrt(rr) > tol * b_norm and k < max_iter:
        ap = apply(p)
        pap = _dot(p, ap)
        if pap <= 0.0:
            info["negative_curvature"] = True
            break
        alpha = rr / pap
        x = [xi + alpha * pi for xi, pi in zip(x, p)]
        r = [ri - alpha * api for ri, api in zip(r, ap)]
        rr_new = _dot(r, r)
        p = [ri + (rr_new / rr) * pi for ri, pi in zip(r, p)]
        rr = rr_new
        k += 1
    info["iterations"] = k
    info["residual"] = float(np.sqrt(rr) / b_norm)
    info["converged"] = bool(np.sqrt(rr) <= tol * b_norm)
    return tree_unflatten(td, x), info
