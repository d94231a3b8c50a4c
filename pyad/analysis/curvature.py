"""Curvature of functions and operators: Lanczos eigenpairs, spectral densities, trace and
diagonal estimates, stationary-point classification and quadratic-model training dynamics.

Every routine takes a symmetric linear operator as a *matvec*: a function of one flat numpy
vector returning A @ v (an explicit matrix, ``ad.hvp_fn``, ``ad.gnvp``, ...). The ``hessian_*``
and ``gn_*`` wrappers build that matvec from a function and a pytree of parameters, flattening
and unflattening vectors with :func:`ravel`. Work is done in float64 whatever the operator's
dtype (a float32 HVP limits the attainable residual to ~1e-7 relative).
"""
from __future__ import annotations

import warnings
from collections import namedtuple
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import scipy.linalg

from pyad import backend
from pyad.ops import core as ops
from pyad.engine._tape import Tensor
from pyad.transforms.higher_order import gnvp, hessian, hvp_fn
from pyad.analysis.implicit import argmin, cg, response_jacobian  # noqa: F401  (issue 5 lists them here)
from pyad.engine.pytree import tree_flatten, tree_unflatten
from pyad.transforms.core import grad
from pyad._typing import ArrayLike, PyTree

Matvec = Callable[[np.ndarray], ArrayLike]

__all__ = [
    "ravel", "lanczos", "hessian_eigs", "gn_eigs", "spectral_density", "hessian_density",
    "hutchinson_trace", "hutchinson_diag", "classify_stationary_point", "StationaryPoint",
    "QuadraticModel", "gd_regime", "max_stable_lr", "condition_number", "response_jacobian",
    "argmin", "cg",
]

_EPS = np.finfo(np.float64).eps


# ============================================================================ pytrees <-> flat
def _leaf_array(x):
    return np.asarray(x.data if isinstance(x, Tensor) else x)


def ravel(tree: PyTree) -> Tuple[np.ndarray, Callable[[Any], PyTree]]:
    """(flat, unravel): the leaves of a pytree of arrays/Tensors concatenated into one 1-D
    numpy vector (dtype: the leaves' common floating dtype), and the inverse map.

    unravel(vec) rebuilds the pytree: from a numpy vector it gives numpy leaves of the original
    shapes and dtypes; from a Tensor it slices and reshapes with pyad ops, so it can sit inside
    a differentiated function (e.g. ``ad.hessian(lambda x: f(unravel(x)))(flat)``).

    Parameters
    ----------
    tree : pytree
        Arrays or Tensors in nested lists, tuples and dicts (dict leaves in sorted key
        order).

    Returns
    -------
    flat : numpy.ndarray
        The 1-D concatenation of the leaves.
    unravel : callable
        ``unravel(vector) -> pytree`` of the original structure; raises ValueError for a
        vector of the wrong shape.

    Examples
    --------
    >>> flat, unravel = ad.curvature.ravel({"w": np.ones((2, 2)), "b": np.array([5.0])})
    >>> flat
    array([5., 1., 1., 1., 1.])
    >>> unravel(np.arange(5.0))
    {'b': array([0.]), 'w': array([[1., 2.],
           [3., 4.]])}
    """
    leaves, td = tree_flatten(tree)
    arrays = [_leaf_array(x) for x in leaves]
    dtype = np.result_type(*arrays, np.float32) if arrays else np.dtype(np.float64)
    shapes = [a.shape for a in arrays]
    dtypes = [a.dtype if a.dtype.kind == "f" else dtype for a in arrays]
    sizes = [int(a.size) for a in arrays]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    flat = (np.concatenate([a.ravel() for a in arrays]).astype(dtype, copy=False) if arrays
            else np.zeros(0, dtype))
    n = int(offsets[-1])

    def unravel(vec):
        if np.shape(vec) != (n,):
            raise ValueError(f"pyad.analysis.curvature.ravel: unravel expects a vector of shape ({n},), "
                             f"got shape {np.shape(vec)}")
        parts = []
        for shape, dt, lo, hi in zip(shapes, dtypes, offsets[:-1], offsets[1:]):
            if isinstance(vec, Tensor):
                piece = ops.reshape(vec[int(lo):int(hi)], shape)
                if piece.dtype != dt:
                    piece = ops.astype(piece, dt)
            else:
                piece = np.asarray(vec)[lo:hi].reshape(shape).astype(dt, copy=False)
            parts.append(piece)
        return tree_unflatten(td, parts)
    return flat, unravel


def _flat(tree):
    """The leaves of a pytree (arrays or Tensors) as one float64 numpy vector."""
    leaves, _ = tree_flatten(tree)
    if not leaves:
        return np.zeros(0)
    return np.concatenate([_leaf_array(x).ravel() for x in leaves]).astype(np.float64)


# ============================================================================ Lanczos
_WHICH = ("largest", "smallest", "both")


# Products in the Lanczos loop run on pyad's BLAS pool (backend.pool_matmul) and dots in
# numpy's own loops (einsum): with MKL, numpy's BLAS calls would wake OpenBLAS's thread pool,
# which then spins against MKL's while the matvecs run (they took 2.3x as long here).
def _dot(a, b):
    return float(np.einsum("i,i->", a, b))


def _norm(w):
    return np.sqrt(_dot(w, w))


def _orthogonalize(basis, m, w):
    """w minus its projection on the orthonormal rows q_0..q_{m-1} by classical Gram-Schmidt,
    with a second pass when the first removed most of w ("twice is enough": Kahan/Parlett,
    the norm dropping below 1/sqrt(2) of its value flags cancellation); returns
    (w, coefficients)."""
    if m == 0:
        return w, np.zeros(0)
    norm0 = _norm(w)
    c = basis.remove(m, w)
    if _norm(w) < np.sqrt(0.5) * norm0:
        c = c + basis.remove(m, w)
    return w, c


def _lanczos_step(matvec, basis, j, beta_prev, n):
    """One Lanczos step from q_j: A q_j minus the three-term recurrence (cheap, O(n)), then
    fully reorthogonalised against q_0..q_j. Returns (w, alpha_j)."""
    q = basis.row(j)
    w = _matvec64(matvec, q, n)
    if j > 0 and beta_prev != 0.0:
        w -= beta_prev * basis.row(j - 1)
    alpha = _dot(q, w)
    w -= alpha * q
    w, c = _orthogonalize(basis, j + 1, w)
    return w, alpha + float(c[j])


def _wanted(m, k, which):
    """Indices (into ascending Ritz values of an m x m T) of the wanted pairs, in output order."""
    k = min(k, m)
    if which == "largest":
        return list(range(m - 1, m - 1 - k, -1))
    if which == "smallest":
        return list(range(k))
    low = list(range(k))
    return low + [i for i in range(max(m - k, 0), m) if i not in low]


def _tridiag_eigh(alpha, beta):
    if len(alpha) == 1:
        return np.array(alpha, dtype=float), np.ones((1, 1))
    return scipy.linalg.eigh_tridiagonal(np.asarray(alpha), np.asarray(beta))


# Blocks of basis rows stay under this size, so glibc serves them from the heap that pyad
# keeps for reuse (pyad/__init__.py): a later Lanczos run writes into memory already mapped
# instead of page-faulting ~100 MB of fresh huge pages (~10 ms a 5 MB row here).
_BLOCK_BYTES = 24 << 20


class _Basis:
    """Rows q_0, q_1, ... of an orthonormal Krylov basis, stored in blocks of rows allocated
    as it grows (row blocks of one array each, so products stay BLAS calls)."""

    def __init__(self, n):
        self.n = n
        self.per_block = max(1, _BLOCK_BYTES // (8 * max(n, 1)))
        self.blocks = []

    def row(self, i):
        return self.blocks[i // self.per_block][i % self.per_block]

    def set(self, i, q):
        while i >= len(self.blocks) * self.per_block:
            self.blocks.append(np.empty((self.per_block, self.n)))
        self.row(i)[:] = q

    def _parts(self, m):
        """(first row index, block rows) covering rows 0..m-1."""
        for b, block in enumerate(self.blocks):
            start = b * self.per_block
            if start >= m:
                break
            yield start, block[:min(self.per_block, m - start)]

    def remove(self, m, w):
        """One classical Gram-Schmidt pass in place: c = Q[:m] @ w, then w -= Q[:m].T @ c,
        a block of rows at a time so that the second read of each block hits the cache.
        Returns c."""
        w0 = w.copy()
        c = np.empty(m)
        for start, rows in self._parts(m):
            cb = backend.rows_matvec(rows, w0, c[start:start + len(rows)], 1.0, 0.0)
            backend.rows_matvec(rows, cb, w, -1.0, 1.0, transpose=True)   # w -= Q_b^T c_b
        return c

    def combine(self, m, C):
        """Q[:m].T @ C for C of shape (m, k): shape (n, k)."""
        out = None
        for start, rows in self._parts(m):
            part = backend.pool_matmul(rows.T, np.ascontiguousarray(C[start:start + len(rows)],
                                                                dtype=np.float64))
            out = part if out is None else np.add(out, part, out=out)
        return out


def _start_vector(v0_or_dim, rng):
    if np.ndim(v0_or_dim) == 0:
        n = int(v0_or_dim)
        if n < 1:
            raise ValueError(f"pyad.analysis.curvature.lanczos: dimension must be >= 1, got {n}")
        return rng.standard_normal(n)
    v0 = np.asarray(v0_or_dim, dtype=np.float64).ravel()
    if v0.size == 0:
        raise ValueError("pyad.analysis.curvature.lanczos: empty start vector")
    if not np.all(np.isfinite(v0)) or np.linalg.norm(v0) == 0:
        return rng.standard_normal(v0.size)
    return v0


def _matvec64(matvec, q, n):
    w = np.asarray(matvec(q), dtype=np.float64).ravel()
    if w.shape != (n,):
        raise ValueError(f"pyad.analysis.curvature.lanczos: matvec returned shape {w.shape} for a "
                         f"vector of shape ({n},)")
    if not np.isfinite(w).all():
        raise FloatingPointError("pyad.analysis.curvature.lanczos: the operator returned NaN or Inf; "
                                 "check that the parameters (and the loss there) are finite")
    return w


def lanczos(matvec: Matvec, v0_or_dim: Union[int, ArrayLike], k: int = 1,
            which: str = "largest", tol: float = 1e-6, max_iter: Optional[int] = None,
            seed: int = 0) -> Tuple[np.ndarray, np.ndarray, Dict[str, Any]]:
    """Extreme eigenpairs of a symmetric operator by Lanczos with full reorthogonalisation.

    matvec: v -> A v on flat numpy vectors (float64 in). v0_or_dim: a start vector, or the
    dimension n (then the start is Gaussian from `seed`). which: "largest" (the k algebraically
    largest, descending), "smallest" (the k smallest, ascending) or "both" (the k smallest and
    the k largest, together ascending). Asking for more pairs than the dimension returns all n.

    Each iteration is one matvec plus O(m n) for the two Gram-Schmidt passes against the m
    basis vectors. Ritz pairs come from the tridiagonal T_m (scipy.linalg.eigh_tridiagonal);
    the residual of a Ritz pair (theta, y = Q s) is ||A y - theta y|| = beta_m |s_m|, so it is
    known without another matvec. Iteration stops when every wanted pair has
    residual <= tol * max(|theta|, sqrt(eps) * ||T_m||) (the floor keeps eigenvalues ~0 from
    demanding more than working precision), when the whole space is spanned, or at max_iter
    (default min(n, max(300, 20 k)); a RuntimeWarning then says it did not converge).

    An invariant subspace (beta ~ 0: e.g. a start vector made of a few eigenvectors) is not
    the end: the iteration restarts from a random vector orthogonal to the basis (T gets a zero
    off-diagonal) and, so that eigenvalues hiding outside the first subspace or further copies
    of repeated eigenvalues are found, it then also waits for that new block's extreme Ritz
    value(s) to converge. Like every single-vector Krylov method it sees only one copy of an
    exactly repeated eigenvalue per such block, and nearly repeated ones slowly.

    Returns (eigenvalues, eigenvectors as the columns of an (n, k) array, info) with info
    {"iterations": matvecs used, "residuals": estimated ||A y - theta y|| per returned pair,
    "converged": bool, "restarts": invariant subspaces met}.

    Parameters
    ----------
    matvec : callable
        ``matvec(v) -> A v`` for a flat float64 vector v (symmetric A).
    v0_or_dim : int or array_like
        The dimension n (a Gaussian start from ``seed``) or a start vector.
    k : int, default 1
        The number of eigenpairs wanted (per end for "both").
    which : {"largest", "smallest", "both"}, default "largest"
        Which end(s) of the spectrum.
    tol : float, default 1e-6
        Relative residual tolerance.
    max_iter : int, optional
        The most matvecs (default ``min(n, max(300, 20 k))``).
    seed : int, default 0
        Seed of the random start and restarts.

    Returns
    -------
    eigenvalues : numpy.ndarray
        Descending for "largest", ascending for "smallest" and "both".
    eigenvectors : numpy.ndarray
        Orthonormal columns, shape (n, number of pairs).
    info : dict
        iterations, residuals, converged, restarts.

    Raises
    ------
    ValueError
        For an unknown ``which``, ``k < 1``, a bad start vector, or a matvec returning the
        wrong shape.
    FloatingPointError
        When the operator returns NaN or Inf.

    Warns
    -----
    RuntimeWarning
        When it stops at max_iter before converging.

    Examples
    --------
    >>> A = np.diag([1.0, 2.0, 3.0, 4.0])
    >>> vals, vecs, info = ad.curvature.lanczos(lambda v: A @ v, 4, k=2)
    >>> vals, vecs.shape, info["converged"]
    (array([4., 3.]), (4, 2), True)
    >>> ad.curvature.lanczos(lambda v: A @ v, 4, k=1, which="both")[0]
    array([1., 4.])
    """
    if which not in _WHICH:
        raise ValueError(f"pyad.analysis.curvature.lanczos: which={which!r}; use one of {_WHICH}")
    if int(k) < 1:
        raise ValueError(f"pyad.analysis.curvature.lanczos: k must be >= 1, got {k}")
    k = int(k)
    rng = np.random.default_rng(seed)
    v = _start_vector(v0_or_dim, rng)
    n = v.size
    if max_iter is None:
        max_iter = min(n, max(300, 20 * k))
    max_iter = max(1, min(int(max_iter), n))
    basis = _Basis(n)
    basis.set(0, v / np.linalg.norm(v))
    alphas, betas = [], []          # betas[j] couples q_j and q_{j+1}
    block_start, restarts, converged = 0, 0, False
    theta = S = None
    beta_last = 0.0
    for j in range(max_iter):
        w, alpha = _lanczos_step(matvec, basis, j, betas[j - 1] if j else 0.0, n)
        alphas.append(alpha)
        beta_last = _norm(w)
        m = j + 1
        theta, S = _tridiag_eigh(alphas, betas)
        anorm = max(float(np.max(np.abs(theta))), beta_last, np.finfo(float).tiny)
        if m == n:                      # the whole space: T_m is similar to A
            converged = True
            break
        breakdown = beta_last <= 64 * _EPS * anorm * np.sqrt(m)
        if breakdown:
            beta_last = 0.0
        enough = m >= min(k, n) and (which != "both" or m >= min(2 * k, n))
        if enough and _lanczos_done(theta, S, alphas, betas, beta_last, block_start, k, which,
                                    tol, anorm, breakdown):
            converged = True
            break
        if breakdown:
            # invariant subspace: restart from a random vector orthogonal to the basis
            r = rng.standard_normal(n)
            r0 = np.linalg.norm(r)
            r, _ = _orthogonalize(basis, m, r)
            if np.linalg.norm(r) <= 1e-8 * r0:       # nothing left to explore
                converged = True
                break
            basis.set(m, r / np.linalg.norm(r))
            betas.append(0.0)
            block_start, restarts = m, restarts + 1
            continue
        basis.set(m, w / beta_last)
        betas.append(beta_last)
    m = len(alphas)
    idx = _wanted(m, k, which)
    if which == "both":
        idx = sorted(idx)
    vals = theta[idx]
    vecs = basis.combine(m, S[:, idx])
    res = beta_last * np.abs(S[-1, idx])
    if not converged:
        warnings.warn(f"pyad.analysis.curvature.lanczos: not converged after {m} iterations (max "
                      f"residual {np.max(res):.3g}, tol {tol:g}); raise max_iter or tol",
                      RuntimeWarning, stacklevel=2)
    info = {"iterations": m, "residuals": res, "converged": converged, "restarts": restarts}
    return vals, vecs, info


def _lanczos_done(theta, S, alphas, betas, beta_last, block_start, k, which, tol, anorm,
                  breakdown):
    """Whether the wanted Ritz pairs of T_m have converged (see lanczos).

    After a restart, the newest block (the Krylov space of a random vector orthogonal to the
    earlier blocks) must also have converged its extreme Ritz value(s), so that the rest of
    the space has been looked at. If that block has itself become invariant (breakdown) and
    brought in a value more extreme than the k-th wanted one (e.g. another copy of a repeated
    eigenvalue), what is still unexplored may hold further copies, so the iteration goes on."""
    if breakdown and block_start == 0:
        return False        # an invariant first block says nothing about the rest of A
    m = len(alphas)
    floor = np.sqrt(_EPS) * anorm
    idx = _wanted(m, k, which)
    res = beta_last * np.abs(S[-1, idx])
    if not np.all(res <= tol * np.maximum(np.abs(theta[idx]), floor)):
        return False
    if block_start == 0:
        return True
    bt, bS = _tridiag_eigh(alphas[block_start:], betas[block_start:])
    margin = max(tol * max(abs(theta[idx[-1]]), floor), 1e3 * _EPS * anorm)
    kk = min(k, m)
    ends = []
    if which in ("largest", "both"):
        ends.append((-1, bt[-1] > theta[m - kk] + margin))
    if which in ("smallest", "both"):
        ends.append((0, bt[0] < theta[kk - 1] - margin))
    for end, beyond_kth in ends:
        if beta_last * abs(bS[-1, end]) > tol * max(abs(bt[end]), floor):
            return False
        if breakdown and beyond_kth:
            return False
    return True


def _eigs_of_operator(matvec, flat, unravel, k, which, v0, lanczos_kw):
    """lanczos on a flat matvec, with a pytree (or flat) start vector and pytree eigenvectors."""
    start = flat.size if v0 is None else _flat(v0)
    vals, vecs, info = lanczos(matvec, start, k=k, which=which, **lanczos_kw)
    trees = [unravel(vecs[:, i].astype(flat.dtype, copy=False)) for i in range(vecs.shape[1])]
    return vals, trees, info


def _hessian_matvec(f, params, args):
    """(matvec on flat vectors, n) for the Hessian of f(params, *args): one ad.hvp_fn recording,
    one reverse sweep per product."""
    flat, unravel = ravel(params)
    apply = hvp_fn(lambda p: f(p, *args), params)

    def matvec(v):
        return _flat(apply(unravel(v.astype(flat.dtype, copy=False))))
    return matvec, flat.size


def hessian_eigs(f: Callable[..., Any], params: PyTree, k: int = 1, which: str = "largest",
                 args: Sequence[Any] = (), v0: Optional[PyTree] = None,
                 **lanczos_kw: Any) -> Tuple[np.ndarray, List[PyTree], Dict[str, Any]]:
    """Extreme eigenpairs of the Hessian of scalar f(params, *args) w.r.t. the pytree params.

    The forward and gradient passes are recorded once (ad.hvp_fn); each Lanczos iteration is
    one reverse sweep of that recording. Returns (eigenvalues, eigenvectors as a list of
    pytrees shaped like params, info); lanczos_kw go to :func:`lanczos` (tol, max_iter, seed).
    v0 is an optional start vector (pytree like params, or flat).

    Parameters
    ----------
    f : callable
        ``f(params, *args) -> scalar``, written in pyad ops.
    params : pytree
        The point (arrays or Tensors).
    k : int, default 1
        Eigenpairs wanted (per end for "both").
    which : {"largest", "smallest", "both"}, default "largest"
        Which end(s) of the spectrum.
    args : tuple, default ()
        Further (not differentiated) arguments of f, e.g. a batch of data.
    v0 : pytree or array_like, optional
        A start vector.
    **lanczos_kw
        tol, max_iter, seed: see :func:`lanczos`.

    Returns
    -------
    eigenvalues : numpy.ndarray
        As :func:`lanczos` orders them.
    eigenvectors : list of pytree
        One pytree shaped like params per eigenvalue.
    info : dict
        As :func:`lanczos`.

    Examples
    --------
    >>> f = lambda p: ad.sum(p["a"] ** 2) + 3.0 * ad.sum(p["b"] ** 2)     # H = diag(2, 2, 6)
    >>> vals, vecs, info = ad.curvature.hessian_eigs(f, {"a": np.ones(2), "b": np.ones(1)})
    >>> vals, np.abs(vecs[0]["b"]).round(6)
    (array([6.]), array([1.]))
    """
    flat, unravel = ravel(params)
    matvec, _ = _hessian_matvec(f, params, args)
    return _eigs_of_operator(matvec, flat, unravel, k, which, v0, lanczos_kw)


def gn_eigs(model: Callable[[PyTree], Any], loss: Callable[[Any], Any], params: PyTree,
            k: int = 1, which: str = "largest", v0: Optional[PyTree] = None,
            **lanczos_kw: Any) -> Tuple[np.ndarray, List[PyTree], Dict[str, Any]]:
    """Extreme eigenpairs of the Gauss-Newton matrix J^T H_L J of loss(model(params)) (one
    ad.gnvp per iteration); returns and options as :func:`hessian_eigs`.

    Parameters
    ----------
    model : callable
        ``model(params) -> z``.
    loss : callable
        ``loss(z) -> scalar`` (a loss object with ``output_hessian_vp`` is used in closed
        form, see :func:`pyad.gnvp`).
    params : pytree
        The point.
    k, which, v0, **lanczos_kw
        As for :func:`hessian_eigs`.

    Returns
    -------
    eigenvalues : numpy.ndarray
        As :func:`lanczos` orders them.
    eigenvectors : list of pytree
        Shaped like params.
    info : dict
        As :func:`lanczos`.

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [0.0, 2.0]])                # J^T J = diag(1, 4)
    >>> vals, vecs, info = ad.curvature.gn_eigs(lambda w: X @ w,
    ...                                         lambda z: 0.5 * ad.sum(z ** 2), np.ones(2))
    >>> vals, np.abs(vecs[0]).round(6)
    (array([4.]), array([0., 1.]))
    """
    flat, unravel = ravel(params)

    def matvec(v):
        return _flat(gnvp(model, loss, params, unravel(v.astype(flat.dtype, copy=False))))
    return _eigs_of_operator(matvec, flat, unravel, k, which, v0, lanczos_kw)


# ============================================================================ estimators
def _probe(rng, n, kind):
    if kind == "rademacher":
        return rng.choice(np.array([-1.0, 1.0]), size=n)
    if kind == "gaussian":
        return rng.standard_normal(n)
    raise ValueError(f"pyad.analysis.curvature: probe={kind!r}; use 'rademacher' or 'gaussian'")


def _quadrature(matvec, v, num_steps):
    """Gauss quadrature (nodes, weights) of the spectral measure of A seen from unit v: the
    eigenvalues of T_m and the squared first components of its eigenvectors (m steps of
    Lanczos with full reorthogonalisation, no restart; an invariant subspace ends it early,
    the quadrature then being exact)."""
    n = v.size
    steps = max(1, min(int(num_steps), n))
    basis = _Basis(n)
    basis.set(0, v / np.linalg.norm(v))
    alphas, betas = [], []
    for j in range(steps):
        w, alpha = _lanczos_step(matvec, basis, j, betas[j - 1] if j else 0.0, n)
        alphas.append(alpha)
        beta = _norm(w)
        scale = max(np.max(np.abs(alphas)), max(betas, default=0.0), np.finfo(float).tiny)
        if j + 1 == steps or beta <= 64 * _EPS * scale * np.sqrt(j + 1):
            break
        betas.append(beta)
        basis.set(j + 1, w / beta)
    theta, S = _tridiag_eigh(alphas, betas)
    return theta, S[0] ** 2


def spectral_density(matvec: Matvec, dim: int, num_probes: int = 10, num_steps: int = 50,
                     grid: Optional[ArrayLike] = None, sigma: Optional[float] = None,
                     seed: int = 0, probe: str = "rademacher",
                     num_points: int = 1001) -> Tuple[np.ndarray, np.ndarray]:
    """Spectral density of a symmetric operator by stochastic Lanczos quadrature.

    For each of num_probes random probes (Rademacher or Gaussian, normalised) num_steps
    Lanczos steps give Gauss quadrature nodes theta_i and weights tau_i (summing to 1); the
    density is the average over probes of sum_i tau_i N(t; theta_i, sigma^2). sigma defaults
    to 1% of the node range; the default grid spans [min node - 5 sigma, max node + 5 sigma]
    with num_points points, so the density integrates to ~1 on it. Moments: sum tau theta^p
    is an unbiased estimate of tr(A^p) / n for p < 2 num_steps (the broadening adds sigma^2
    to the second moment). Returns (grid, density).

    Parameters
    ----------
    matvec : callable
        ``matvec(v) -> A v`` on flat vectors (symmetric A).
    dim : int
        The dimension n.
    num_probes : int, default 10
        Random probes averaged.
    num_steps : int, default 50
        Lanczos steps (quadrature nodes) per probe.
    grid : array_like, optional
        Where to evaluate the density (default: spanning the nodes, num_points points).
    sigma : float, optional
        The Gaussian broadening (default: 1% of the node range).
    seed : int, default 0
        Seed of the probes.
    probe : {"rademacher", "gaussian"}, default "rademacher"
        The probes' distribution.
    num_points : int, default 1001
        Points of the default grid.

    Returns
    -------
    grid : numpy.ndarray
        The evaluation points.
    density : numpy.ndarray
        The smoothed spectral density there (integrates to ~1).

    Raises
    ------
    ValueError
        For ``dim < 1``, ``sigma <= 0`` or an unknown probe.

    Examples
    --------
    >>> A = np.diag([1.0, 2.0, 3.0, 4.0])
    >>> grid, density = ad.curvature.spectral_density(lambda v: A @ v, 4, num_probes=2,
    ...                                                num_steps=4)
    >>> grid.shape, round(float(np.sum(density) * (grid[1] - grid[0])), 3)
    ((1001,), 1.0)
    """
    n = int(dim)
    if n < 1:
        raise ValueError(f"pyad.analysis.curvature.spectral_density: dim must be >= 1, got {dim}")
    rng = np.random.default_rng(seed)
    nodes, weights = [], []
    for _ in range(int(num_probes)):
        theta, tau = _quadrature(matvec, _probe(rng, n, probe), num_steps)
        nodes.append(theta)
        weights.append(tau / num_probes)
    nodes, weights = np.concatenate(nodes), np.concatenate(weights)
    lo, hi = float(np.min(nodes)), float(np.max(nodes))
    if sigma is None:
        span = hi - lo
        sigma = 0.01 * span if span > 0 else 1e-3 * max(1.0, abs(hi))
    sigma = float(sigma)
    if sigma <= 0:
        raise ValueError(f"pyad.analysis.curvature.spectral_density: sigma must be > 0, got {sigma}")
    if grid is None:
        grid = np.linspace(lo - 5 * sigma, hi + 5 * sigma, int(num_points))
    grid = np.asarray(grid, dtype=np.float64)
    z = (grid[:, None] - nodes[None, :]) / sigma
    density = np.exp(-0.5 * z * z) @ weights / (sigma * np.sqrt(2 * np.pi))
    return grid, density


def hessian_density(f: Callable[..., Any], params: PyTree, args: Sequence[Any] = (),
                    **kw: Any) -> Tuple[np.ndarray, np.ndarray]:
    """spectral_density of the Hessian of scalar f(params, *args) at the pytree params (one
    recording by ad.hvp_fn, one reverse sweep per Lanczos step); kw as spectral_density.

    Parameters
    ----------
    f : callable
        ``f(params, *args) -> scalar``.
    params : pytree
        The point.
    args : tuple, default ()
        Further (not differentiated) arguments of f.
    **kw
        num_probes, num_steps, grid, sigma, seed, probe, num_points: see
        :func:`spectral_density`.

    Returns
    -------
    grid, density : numpy.ndarray
        As :func:`spectral_density`.

    Examples
    --------
    >>> f = lambda p: ad.sum(p ** 2)                           # H = 2 I
    >>> grid, density = ad.curvature.hessian_density(f, np.ones(3), num_probes=2, num_steps=3)
    >>> round(float(grid[np.argmax(density)]), 2)
    2.0
    """
    matvec, n = _hessian_matvec(f, params, args)
    return spectral_density(matvec, n, **kw)


def hutchinson_trace(matvec: Matvec, dim: int, num_probes: int = 100,
                     seed: int = 0) -> Tuple[float, float]:
    """(estimate, standard error) of tr(A) from num_probes Rademacher probes z: the mean of
    z^T A z (unbiased; variance 2 sum_{i != j} A_ij^2 per probe) and its standard error.

    Parameters
    ----------
    matvec : callable
        ``matvec(v) -> A v`` on flat vectors.
    dim : int
        The dimension n.
    num_probes : int, default 100
        Probes averaged.
    seed : int, default 0
        Seed of the probes.

    Returns
    -------
    estimate : float
        The mean of z^T A z.
    stderr : float
        Its standard error (inf for a single probe).

    Examples
    --------
    >>> A = np.diag([1.0, 2.0, 3.0, 4.0])            # exact for a diagonal A
    >>> ad.curvature.hutchinson_trace(lambda v: A @ v, 4, num_probes=10)
    (10.0, 0.0)
    """
    rng = np.random.default_rng(seed)
    samples = np.empty(int(num_probes))
    for i in range(samples.size):
        z = _probe(rng, int(dim), "rademacher")
        samples[i] = z @ _matvec64(matvec, z, int(dim))
    se = samples.std(ddof=1) / np.sqrt(samples.size) if samples.size > 1 else np.inf
    return float(samples.mean()), float(se)


def hutchinson_diag(matvec: Matvec, dim: int, num_probes: int = 100,
                    seed: int = 0) -> np.ndarray:
    """Estimate of diag(A): the mean of z * (A z) over num_probes Rademacher probes (unbiased;
    entry i has variance sum_{j != i} A_ij^2 per probe, so it is sharp when A is diagonally
    dominant).

    Parameters
    ----------
    matvec : callable
        ``matvec(v) -> A v`` on flat vectors.
    dim : int
        The dimension n.
    num_probes : int, default 100
        Probes averaged.
    seed : int, default 0
        Seed of the probes.

    Returns
    -------
    numpy.ndarray
        The estimated diagonal, shape (n,).

    Examples
    --------
    >>> A = np.diag([1.0, 2.0, 3.0, 4.0])
    >>> ad.curvature.hutchinson_diag(lambda v: A @ v, 4, num_probes=10)
    array([1., 2., 3., 4.])
    """
    rng = np.random.default_rng(seed)
    total = np.zeros(int(dim))
    for _ in range(int(num_probes)):
        z = _probe(rng, int(dim), "rademacher")
        total += z * _matvec64(matvec, z, int(dim))
    return total / num_probes


# ============================================================================ stationary points
StationaryPoint = namedtuple("StationaryPoint", ["kind", "eigenvalues", "grad_norm"])
StationaryPoint.__doc__ = """What :func:`classify_stationary_point` found (a namedtuple).

Parameters
----------
kind : str
    "minimum", "maximum", "saddle", "degenerate" or "not stationary".
eigenvalues : numpy.ndarray or None
    The Hessian eigenvalues used (all of them, ascending, when dense; [lambda_min,
    lambda_max] from Lanczos; None when not stationary).
grad_norm : float
    ||grad f(x)||.

Examples
--------
>>> p = ad.curvature.classify_stationary_point(lambda x: x[0] ** 2 - x[1] ** 2, np.zeros(2))
>>> p.kind, p.eigenvalues, p.grad_norm
('saddle', array([-2.,  2.]), 0.0)
"""


def classify_stationary_point(f: Callable[..., Any], x: PyTree, tol: float = 1e-8,
                              grad_tol: Optional[float] = None, dense_max: int = 200,
                              **lanczos_kw: Any) -> StationaryPoint:
    """Classify x for scalar f (x an array or pytree) by the second-order test.

    x is stationary when ||grad f(x)|| <= grad_tol (default tol); otherwise the kind is
    "not stationary". At a stationary point the Hessian's eigenvalues decide: all > tol ->
    "minimum" (strict local minimum), all < -tol -> "maximum", some > tol and some < -tol ->
    "saddle", otherwise (none of opposite sign, some within tol of 0) -> "degenerate" (the
    second-order test is inconclusive, e.g. x^4 + y^2 at 0). Up to dense_max parameters the
    dense Hessian (ad.hessian) is diagonalised; above, Lanczos finds both ends of the
    spectrum, which is all the test needs.

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar``, written in pyad ops.
    x : array_like or pytree
        The candidate point.
    tol : float, default 1e-8
        Eigenvalues within tol of 0 count as zero.
    grad_tol : float, optional
        The gradient norm below which x is stationary (default ``tol``).
    dense_max : int, default 200
        Up to this many parameters the dense Hessian is used.
    **lanczos_kw
        Options of :func:`lanczos` for larger problems.

    Returns
    -------
    StationaryPoint
        (kind, eigenvalues, grad_norm).

    Examples
    --------
    >>> classify = ad.curvature.classify_stationary_point
    >>> classify(lambda x: x[0] ** 2 - x[1] ** 2, np.zeros(2)).kind
    'saddle'
    >>> classify(lambda x: x[0] ** 4 + x[1] ** 2, np.zeros(2)).kind
    'degenerate'
    >>> classify(lambda x: ad.sum(x ** 2), np.ones(2)).kind
    'not stationary'
    """
    grad_tol = tol if grad_tol is None else grad_tol
    flat, unravel = ravel(x)
    g = _flat(grad(f)(x))
    gnorm = float(np.linalg.norm(g))
    if not gnorm <= grad_tol:
        return StationaryPoint("not stationary", None, gnorm)
    if flat.size <= dense_max:
        H = np.asarray(hessian(lambda v: f(unravel(v)))(flat), dtype=np.float64)
        eigs = np.linalg.eigvalsh(0.5 * (H + H.T))
    else:
        matvec, _ = _hessian_matvec(f, x, ())
        eigs, _, _ = lanczos(matvec, flat.size, k=1, which="both", **lanczos_kw)
    lo, hi = float(np.min(eigs)), float(np.max(eigs))
    if lo > tol:
        kind = "minimum"
    elif hi < -tol:
        kind = "maximum"
    elif lo < -tol and hi > tol:
        kind = "saddle"
    else:
        kind = "degenerate"
    return StationaryPoint(kind, eigs, gnorm)


# ============================================================================ quadratic model
def _chebyshev_s(t, beta, ks):
    """s_k with s_0 = 0, s_1 = 1, s_{k+1} = t s_k - beta s_{k-1} for k in ks (rows) and each
    (t, beta) pair (columns): the (1, 0) entry of M^k for M = [[t, -beta], [1, 0]], so that
    M^k = s_k M - beta s_{k-1} I. Closed form from M's eigenvalues r = (t +- sqrt(t^2 -
    4 beta)) / 2: s_k = rho^(k-1) U_{k-1}(t / (2 rho)) with rho = sqrt(beta) (U: Chebyshev of
    the second kind, sin(k th)/sin(th) for complex r, sinh(k ph)/sinh(ph) for real r), which
    stays accurate at and near the double root where (r1^k - r2^k)/(r1 - r2) cancels."""
    t = np.asarray(t, dtype=np.float64)[None, :]
    beta = np.broadcast_to(np.asarray(beta, dtype=np.float64), t.shape[1:])[None, :]
    k = np.asarray(ks, dtype=np.float64)[:, None]
    out = np.zeros(np.broadcast_shapes(k.shape, t.shape))
    zero = (beta == 0)[0]
    with np.errstate(all="ignore"):
        if np.any(zero):                 # roots t and 0: s_k = t^(k-1)
            tz = t[:, zero]
            out[:, zero] = np.where(k >= 1, tz ** np.maximum(k - 1, 0), 0.0)
        pos = ~zero
        if np.any(pos):
            tp, rho = t[:, pos], np.sqrt(beta[:, pos])
            x = tp / (2 * rho)
            sgn = np.where(x < 0, -1.0, 1.0)
            y = np.abs(x)
            sign_k = sgn ** (k - 1)
            # |x| <= 1: complex conjugate roots rho e^{+-i th}
            th = np.arccos(np.minimum(y, 1.0))
            sin_th = np.sin(th)
            trig = np.where(sin_th > 0, np.sin(k * th) / np.where(sin_th > 0, sin_th, 1.0), k)
            trig = rho ** (k - 1) * trig
            # |x| > 1: real roots of one sign, magnitudes rho e^{+-ph}
            ph = np.arccosh(np.maximum(y, 1.0))
            den = np.expm1(-2 * ph)
            ratio = np.where(den != 0, np.expm1(-2 * k * ph) / np.where(den != 0, den, 1.0), k)
            hyp = np.exp((k - 1) * (np.log(rho) + ph)) * ratio
            out[:, pos] = sign_k * np.where(y <= 1, trig, hyp)
    out[k[:, 0] == 0] = 0.0
    return out


def gd_regime(alpha: float, lambdas: ArrayLike, bt: Optional[ArrayLike] = None,
              zero_tol: float = 0.0) -> np.ndarray:
    """Per eigen-direction label of gradient descent w <- w - alpha (A w + b) on a quadratic
    with curvatures lambdas: the error along direction j is multiplied by 1 - alpha lambda_j
    each step.

    "decaying":    0 < alpha lambda <= 1 (monotone; alpha lambda = 1 lands in one step),
    "oscillating": 1 < alpha lambda <= 2 (sign flips each step; it decays below 2, and at
                   alpha lambda = 2 exactly it oscillates forever with constant amplitude),
    "diverging":   alpha lambda > 2 (growing oscillation) or lambda < 0 (monotone growth),
    "stationary" / "drifting": lambda = 0 (|lambda| <= zero_tol): the direction never moves
                   when its component of b, bt_j, is 0, and moves by -alpha bt_j every step
                   forever ("drifting") otherwise; without bt these are all "stationary".
    Products within 1e-12 of 1 or 2 count as exactly 1 or 2.

    Parameters
    ----------
    alpha : float
        The learning rate, > 0.
    lambdas : array_like
        The curvatures (Hessian eigenvalues).
    bt : array_like, optional
        The linear term's components along the same directions (tells drifting from
        stationary flat directions).
    zero_tol : float, default 0
        Curvatures with ``|lambda| <= zero_tol`` count as zero.

    Returns
    -------
    numpy.ndarray
        One label (str, object dtype) per curvature.

    Raises
    ------
    ValueError
        When ``alpha <= 0``.

    Examples
    --------
    >>> ad.curvature.gd_regime(0.5, [1.0, 3.0, 5.0, 0.0, -1.0]).tolist()
    ['decaying', 'oscillating', 'diverging', 'stationary', 'diverging']
    """
    alpha = float(alpha)
    if not alpha > 0:
        raise ValueError(f"pyad.analysis.curvature.gd_regime: alpha must be > 0, got {alpha}")
    lam = np.asarray(lambdas, dtype=np.float64)
    p = alpha * lam
    labels = np.full(lam.shape, "oscillating", dtype=object)
    labels[p <= 1 + 1e-12] = "decaying"
    labels[p > 2 + 1e-12] = "diverging"
    labels[lam < -zero_tol] = "diverging"
    zero = np.abs(lam) <= zero_tol
    drift = zero & (np.abs(np.asarray(bt, dtype=np.float64)) > 0 if bt is not None else False)
    labels[zero] = "stationary"
    labels[drift] = "drifting"
    return labels


def max_stable_lr(lambdas: ArrayLike) -> float:
    """2 / lambda_max: gradient descent converges along every positive-curvature direction
    iff alpha < 2 / lambda_max. inf when no eigenvalue is positive (directions with
    lambda < 0 diverge for every alpha > 0 regardless).

    Parameters
    ----------
    lambdas : array_like
        The curvatures.

    Returns
    -------
    float
        2 / max(lambdas), or inf.

    Examples
    --------
    >>> ad.curvature.max_stable_lr([0.5, 4.0])
    0.5
    """
    lmax = float(np.max(np.asarray(lambdas, dtype=np.float64)))
    return 2.0 / lmax if lmax > 0 else np.inf


def condition_number(lambdas: ArrayLike) -> float:
    """lambda_max / lambda_min for a positive definite spectrum; inf when lambda_min <= 0.

    Parameters
    ----------
    lambdas : array_like
        The eigenvalues.

    Returns
    -------
    float
        The condition number.

    Examples
    --------
    >>> ad.curvature.condition_number([0.5, 4.0]), ad.curvature.condition_number([0.0, 1.0])
    (8.0, inf)
    """
    lam = np.asarray(lambdas, dtype=np.float64)
    lmin = float(np.min(lam))
    return float(np.max(lam)) / lmin if lmin > 0 else np.inf


class QuadraticModel:
    """J(w) = 1/2 w^T A w + b^T w + c with A symmetric, and the exact dynamics of gradient
    descent and heavy-ball momentum on it.

    In the eigenbasis A = Q diag(a) Q^T, u = Q^T w and b~ = Q^T b, the directions decouple:
    gradient descent gives u_j <- (1 - alpha a_j) u_j - alpha b~_j, so for a_j != 0
    u_j(k) = u*_j + (1 - alpha a_j)^k (u_j(0) - u*_j) with the fixed point u*_j = -b~_j / a_j,
    and for a_j = 0 (|a_j| <= zero_tol, default n eps max|a|) u_j(k) = u_j(0) - k alpha b~_j:
    it drifts linearly forever when b~_j != 0 (b outside A's range: J unbounded below) and
    never moves when b~_j = 0.

    Parameters
    ----------
    A : array_like
        The symmetric (n, n) curvature matrix.
    b : array_like
        The linear term, n entries.
    c : float, default 0
        The constant term.
    zero_tol : float, optional
        Eigenvalues with ``|a_j| <= zero_tol`` count as zero (default n eps max|a|).

    Raises
    ------
    ValueError
        When A is not square, does not match b, or is not symmetric.

    Examples
    --------
    >>> q = ad.curvature.QuadraticModel(np.diag([1.0, 4.0]), np.array([-1.0, 0.0]))
    >>> float(q.value(np.array([1.0, 0.0]))), q.grad(np.zeros(2))
    (-0.5, array([-1.,  0.]))
    >>> q.gd_regime(0.4).tolist()                # alpha a = 0.4 and 1.6
    ['decaying', 'oscillating']
    >>> q.gd_trajectory(np.array([0.0, 1.0]), 0.4, 2)
    array([[ 0.  ,  1.  ],
           [ 0.4 , -0.6 ],
           [ 0.64,  0.36]])
    """

    def __init__(self, A: ArrayLike, b: ArrayLike, c: float = 0.0,
                 zero_tol: Optional[float] = None) -> None:
        A = np.asarray(A, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64).ravel()
        if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] != b.size:
            raise ValueError(f"pyad.analysis.curvature.QuadraticModel: A must be (n, n) and b (n,), "
                             f"got {A.shape} and {b.shape}")
        scale = max(np.max(np.abs(A)), np.finfo(float).tiny) if A.size else 1.0
        if np.max(np.abs(A - A.T), initial=0.0) > 1e-10 * scale:
            raise ValueError("pyad.analysis.curvature.QuadraticModel: A must be symmetric")
        self.A, self.b, self.c = 0.5 * (A + A.T), b, float(c)
        self.lambdas, self.Q = np.linalg.eigh(self.A)
        self.zero_tol = (A.shape[0] * _EPS * max(np.max(np.abs(self.lambdas), initial=0.0), 1e-300)
                         if zero_tol is None else float(zero_tol))
        self.bt = self.Q.T @ self.b

    @property
    def eig(self) -> Tuple[np.ndarray, np.ndarray]:
        """(eigenvalues ascending, orthonormal eigenvectors as columns) of A (numpy eigh)."""
        return self.lambdas, self.Q

    def value(self, w: ArrayLike) -> float:
        """J(w) = 1/2 w^T A w + b^T w + c.

        Parameters
        ----------
        w : array_like
            A point, n entries.

        Returns
        -------
        float
            The value.

        Examples
        --------
        >>> float(ad.curvature.QuadraticModel(np.eye(2), np.ones(2), c=1.0).value(np.ones(2)))
        4.0
        """
        w = np.asarray(w, dtype=np.float64)
        return 0.5 * w @ self.A @ w + self.b @ w + self.c

    def grad(self, w: ArrayLike) -> np.ndarray:
        """grad J(w) = A w + b.

        Parameters
        ----------
        w : array_like
            A point, n entries.

        Returns
        -------
        numpy.ndarray
            The gradient.

        Examples
        --------
        >>> ad.curvature.QuadraticModel(np.diag([1.0, 4.0]), np.ones(2)).grad(np.ones(2))
        array([2., 5.])
        """
        return self.A @ np.asarray(w, dtype=np.float64) + self.b

    def _zero(self):
        return np.abs(self.lambdas) <= self.zero_tol

    def gd_regime(self, alpha: float) -> np.ndarray:
        """gd_regime(alpha, eigenvalues of A, b~) (ascending-eigenvalue order).

        Parameters
        ----------
        alpha : float
            The learning rate, > 0.

        Returns
        -------
        numpy.ndarray
            One label per eigen-direction: see :func:`gd_regime`.

        Examples
        --------
        >>> q = ad.curvature.QuadraticModel(np.diag([0.0, 1.0]), np.array([1.0, 0.0]))
        >>> q.gd_regime(2.5).tolist()
        ['drifting', 'diverging']
        """
        bt = np.where(np.abs(self.bt) > 1e-12 * max(np.linalg.norm(self.b), 1e-300), self.bt, 0)
        return gd_regime(alpha, self.lambdas, bt=bt, zero_tol=self.zero_tol)

    def gd_trajectory(self, w0: ArrayLike, alpha: float, steps: int) -> np.ndarray:
        """Iterates w_0 .. w_steps of w <- w - alpha grad J(w), as a (steps + 1, n) array, in
        closed form (no iteration): per eigen-direction the error from the fixed point is
        multiplied by (1 - alpha a_j)^k; zero-curvature directions move by -k alpha b~_j.

        Parameters
        ----------
        w0 : array_like
            The start, n entries.
        alpha : float
            The learning rate.
        steps : int
            The number of steps.

        Returns
        -------
        numpy.ndarray
            Shape (steps + 1, n), row k the k-th iterate.

        Examples
        --------
        >>> q = ad.curvature.QuadraticModel(np.diag([1.0, 4.0]), np.array([-1.0, 0.0]))
        >>> q.gd_trajectory(np.zeros(2), 0.5, 3)[:, 0]       # 1 - 0.5^k
        array([0.   , 0.5  , 0.75 , 0.875])
        """
        u0 = self.Q.T @ np.asarray(w0, dtype=np.float64)
        k = np.arange(int(steps) + 1, dtype=np.float64)[:, None]
        a, zero = self.lambdas, self._zero()
        a_safe = np.where(zero, 1.0, a)
        ustar = -self.bt / a_safe
        with np.errstate(over="ignore", invalid="ignore"):
            u = np.where(zero, u0 - k * alpha * self.bt,
                         ustar + (1 - alpha * a) ** k * (u0 - ustar))
        return u @ self.Q.T

    def momentum_trajectory(self, w0: ArrayLike, alpha: float, beta: float,
                            steps: int) -> np.ndarray:
        """Iterates w_0 .. w_steps of heavy-ball momentum v <- beta v - alpha grad J(w),
        w <- w + v, v_0 = 0, in closed form. Per eigen-direction the error e_k = u_k - u*_j obeys
        e_{k+1} = t e_k - beta e_{k-1} with t = 1 + beta - alpha a_j, i.e. a 2x2 matrix
        M = [[t, -beta], [1, 0]] acting on (e_k, e_{k-1}); by Cayley-Hamilton
        M^k = s_k M - beta s_{k-1} I with s_k from M's eigenvalues (see _chebyshev_s), so
        e_k = (s_{k+1} - beta s_k) e_0 (as e_{-1} = e_0). Zero-curvature directions move by
        -alpha b~_j (k - beta (1 - beta^k) / (1 - beta)) / (1 - beta) (k (k + 1) / 2 for
        beta = 1).

        Parameters
        ----------
        w0 : array_like
            The start, n entries.
        alpha : float
            The learning rate.
        beta : float
            The momentum, >= 0.
        steps : int
            The number of steps.

        Returns
        -------
        numpy.ndarray
            Shape (steps + 1, n), row k the k-th iterate.

        Raises
        ------
        ValueError
            When ``beta < 0``.

        Examples
        --------
        >>> q = ad.curvature.QuadraticModel(np.diag([1.0, 4.0]), np.array([-1.0, 0.0]))
        >>> q.momentum_trajectory(np.array([0.0, 1.0]), 0.1, 0.5, 2)
        array([[0.  , 1.  ],
               [0.1 , 0.6 ],
               [0.24, 0.16]])
        """
        alpha, beta = float(alpha), float(beta)
        if beta < 0:
            raise ValueError(f"pyad.analysis.curvature.momentum_trajectory: beta must be >= 0, got {beta}")
        u0 = self.Q.T @ np.asarray(w0, dtype=np.float64)
        K = int(steps)
        a, zero = self.lambdas, self._zero()
        t = 1 + beta - alpha * a
        s = _chebyshev_s(t, beta, np.arange(K + 2))
        factor = s[1:] - beta * s[:-1]                       # rows k = 0..K
        a_safe = np.where(zero, 1.0, a)
        ustar = -self.bt / a_safe
        k = np.arange(K + 1, dtype=np.float64)[:, None]
        if beta == 1.0:
            drift = k * (k + 1) / 2
        else:
            drift = (k - beta * (1 - beta ** k) / (1 - beta)) / (1 - beta)
        with np.errstate(over="ignore", invalid="ignore"):
            u = np.where(zero, u0 - alpha * self.bt * drift, ustar + factor * (u0 - ustar))
        return u @ self.Q.T

    def simulate_gd(self, w0: ArrayLike, alpha: float, steps: int) -> np.ndarray:
        """The same iterates as gd_trajectory by running the loop (for checking).

        Parameters
        ----------
        w0 : array_like
            The start.
        alpha : float
            The learning rate.
        steps : int
            The number of steps.

        Returns
        -------
        numpy.ndarray
            Shape (steps + 1, n).

        Examples
        --------
        >>> q = ad.curvature.QuadraticModel(np.diag([1.0, 4.0]), np.array([-1.0, 0.0]))
        >>> np.allclose(q.simulate_gd(np.ones(2), 0.3, 5), q.gd_trajectory(np.ones(2), 0.3, 5))
        True
        """
        w = np.asarray(w0, dtype=np.float64).copy()
        out = [w.copy()]
        for _ in range(int(steps)):
            w = w - alpha * self.grad(w)
            out.append(w.copy())
        return np.array(out)

    def simulate_momentum(self, w0: ArrayLike, alpha: float, beta: float,
                          steps: int) -> np.ndarray:
        """The same iterates as momentum_trajectory by running the loop (for checking).

        Parameters
        ----------
        w0 : array_like
            The start.
        alpha : float
            The learning rate.
        beta : float
            The momentum.
        steps : int
            The number of steps.

        Returns
        -------
        numpy.ndarray
            Shape (steps + 1, n).

        Examples
        --------
        >>> q = ad.curvature.QuadraticModel(np.diag([1.0, 4.0]), np.array([-1.0, 0.0]))
        >>> np.allclose(q.simulate_momentum(np.ones(2), 0.1, 0.9, 6),
        ...             q.momentum_trajectory(np.ones(2), 0.1, 0.9, 6))
        True
        """
        w = np.asarray(w0, dtype=np.float64).copy()
        v = np.zeros_like(w)
        out = [w.copy()]
        for _ in range(int(steps)):
            v = beta * v - alpha * self.grad(w)
            w = w + v
            out.append(w.copy())
        return np.array(out)
