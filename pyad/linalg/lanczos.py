"""Lanczos on a symmetric matvec: extreme eigenpairs and Gauss quadrature, on its backend."""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Dict, Optional, Tuple, Union

import numpy as np

from pyad import backend
from pyad.engine._tape import Tensor
from pyad.linalg.vectors import on_backend_of, vdot
from pyad._typing import ArrayLike

Matvec = Callable[[Any], ArrayLike]

__all__ = ["lanczos", "lanczos_quadrature", "operator_product"]

_EPS = np.finfo(np.float64).eps
_WHICH = ("largest", "smallest", "both")


# ============================================================================ vectors
# The vectors (start, basis rows, matvec results) live on the backend of the operator's
# arrays; only scalars (alpha, beta, the Gram-Schmidt coefficients) and the small tridiagonal
# T come to the host. numpy vectors keep the in-place updates and the BLAS pool products.
def _dot(a, b):
    return float(vdot(a, b))        # numpy float64 vectors: one pass on pyad's BLAS


def _norm(w):
    return math.sqrt(_dot(w, w))      # a Python float: some backends refuse numpy scalars


def _float64(x):
    return x if backend.dtype_of(x) == np.float64 else backend.astype(x, np.float64)


def _minus(w, a, x):
    """w - a x: in place on numpy (w is always a fresh vector there), a new array elsewhere
    (some backends forbid writes). Contiguous float64 numpy steps take backend.axpy_dot."""
    if type(w) is np.ndarray:
        w -= a * x
        return w
    return w - a * x


def operator_product(matvec: Matvec, q: Any, n: int, who: str = "pyad.lanczos",
                     check_finite: bool = True) -> Any:
    """matvec(q) as a flat float64 vector of n entries on q's backend, checked.

    Parameters
    ----------
    matvec : callable
        ``matvec(v) -> A v``.
    q : array
        A flat vector (numpy or another backend's).
    n : int
        Its length.
    who : str, default "pyad.lanczos"
        The name errors start with.
    check_finite : bool, default True
        Check for NaN and Inf (a caller that reads every entry anyway, through a dot
        product, passes False and calls check_finite_product when the dot is not finite).

    Returns
    -------
    array
        A q, float64, shape (n,), a vector of its own (never q's memory).

    Raises
    ------
    ValueError
        When matvec returns another shape.
    FloatingPointError
        When matvec returns NaN or Inf.
    TypeError
        When matvec returns an array of another backend or device than q's.

    Examples
    --------
    >>> from pyad.linalg.lanczos import operator_product
    >>> operator_product(lambda v: 2 * v, np.ones(2), 2)
    array([2., 2.])
    """
    w = matvec(q)
    if type(q) is np.ndarray:
        w = np.asarray(w, dtype=np.float64).ravel()
        if not w.flags.writeable or np.may_share_memory(w, q):
            w = w.copy()        # a read-only result, or (part of) the operator's input
        finite = not check_finite or bool(np.isfinite(w).all())
    else:
        w = backend.asarray(w.data if isinstance(w, Tensor) else w, like=q, op=who)
        xp = backend.namespace(w)
        w = xp.reshape(_float64(w), (-1,))
        if w is q:
            w = backend.copy(w)
        finite = not check_finite or bool(xp.all(xp.isfinite(w)))
    if tuple(w.shape) != (n,):
        raise ValueError(f"{who}: matvec returned shape {tuple(w.shape)} for a vector of "
                         f"shape ({n},)")
    if not finite:
        _non_finite(who)
    return w


def _non_finite(who):
    raise FloatingPointError(f"{who}: the operator returned NaN or Inf; check that the "
                             "parameters (and the loss there) are finite")


# Random vectors are drawn on the host, so that every backend sees the same ones: uniform in
# [-1, 1)^n. Any continuous distribution gives a start with a nonzero component along every
# eigenvector almost surely (random signs would not: (e_1 - e_2) / sqrt(2) misses half of
# them); uniform draws take a quarter of a Gaussian's time (1.6 ms against 6.9 ms for the
# 670k parameters of bench/lanczos.py's MLP, 3% of its 20 Lanczos iterations).
def _random(rng, n):
    v = rng.random(n)
    v *= 2.0
    v -= 1.0
    return v


def _start_vector(v0_or_dim, rng, like):
    v0 = v0_or_dim.data if isinstance(v0_or_dim, Tensor) else v0_or_dim
    if not backend.is_foreign(v0):
        if np.ndim(v0) == 0:
            n = int(v0)
            if n < 1:
                raise ValueError(f"pyad.lanczos: dimension must be >= 1, got {n}")
            return on_backend_of(_random(rng, n), like)
        v0 = np.asarray(v0, dtype=np.float64).ravel()
        if v0.size == 0:
            raise ValueError("pyad.lanczos: empty start vector")
        if not np.all(np.isfinite(v0)) or not np.any(v0):
            return _random(rng, v0.size)
        return v0
    xp = backend.namespace(v0)          # a start vector of another backend: the vectors live there
    v0 = xp.reshape(_float64(v0), (-1,))
    if v0.shape[0] == 0:
        raise ValueError("pyad.lanczos: empty start vector")
    if not bool(xp.all(xp.isfinite(v0))) or _norm(v0) == 0:
        return on_backend_of(_random(rng, v0.shape[0]), v0)
    return v0


# ============================================================================ the Krylov basis
# Blocks of basis rows stay under this size, so glibc serves them from the heap that pyad
# keeps for reuse (pyad/backend/__init__.py): a later Lanczos run writes into memory already
# mapped instead of page-faulting ~100 MB of fresh huge pages (~10 ms a 5 MB row here).
_BLOCK_BYTES = 24 << 20


class _Basis:
    """Rows q_0, q_1, ... of an orthonormal Krylov basis of numpy vectors, stored in blocks of
    rows allocated as it grows (row blocks of one array each, so products stay BLAS calls).
    Products run on pyad's BLAS pool (backend.pool_matmul / rows_matvec): with MKL, numpy's
    BLAS calls would wake OpenBLAS's thread pool, which then spins against MKL's while the
    matvecs run (they took 2.3x as long here)."""

    def __init__(self, n):
        self.n = n
        self.per_block = max(1, _BLOCK_BYTES // (8 * max(n, 1)))
        self.blocks = []

    def row(self, i):
        return self.blocks[i // self.per_block][i % self.per_block]

    def set(self, i, q, scale=1.0):
        """Row i = scale * q (one pass)."""
        while i >= len(self.blocks) * self.per_block:
            self.blocks.append(np.empty((self.per_block, self.n)))
        np.multiply(q, scale, out=self.row(i))

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
        Returns (w, c)."""
        w0 = w.copy()
        c = np.empty(m)
        for start, rows in self._parts(m):
            cb = backend.rows_matvec(rows, w0, c[start:start + len(rows)], 1.0, 0.0)
            backend.rows_matvec(rows, cb, w, -1.0, 1.0, transpose=True)   # w -= Q_b^T c_b
        return w, c

    def combine(self, m, coef):
        """Q[:m].T @ coef for host coef of shape (m, k): shape (n, k)."""
        out = None
        for start, rows in self._parts(m):
            part = backend.pool_matmul(rows.T, np.ascontiguousarray(
                coef[start:start + len(rows)], dtype=np.float64))
            out = part if out is None else np.add(out, part, out=out)
        return out


class _ArrayBasis:
    """The same rows for vectors of another backend: kept as a list and stacked for the
    products (no writes into arrays, which some backends forbid); the coefficients come to
    the host, where the tridiagonal problem is."""

    def __init__(self, like):
        self.xp = backend.namespace(like)
        self.rows = []
        self._stack = (0, None)

    def row(self, i):
        return self.rows[i]

    def set(self, i, q, scale=1.0):
        """Row i = scale * q, set in order (i is the number of rows so far)."""
        self.rows.append(q * scale if scale != 1.0 else q)

    def _matrix(self, m):
        """Rows 0..m-1 stacked (m, n), kept for the second Gram-Schmidt pass."""
        if self._stack[0] != m:
            self._stack = (m, self.xp.stack(self.rows[:m]))
        return self._stack[1]

    def remove(self, m, w):
        """One classical Gram-Schmidt pass: c = Q[:m] @ w, w - Q[:m].T @ c. Returns (w, c)
        with c on the host."""
        q = self._matrix(m)
        c = self.xp.matmul(q, w)
        return w - self.xp.matmul(c, q), backend.to_host(c)

    def combine(self, m, coef):
        """Q[:m].T @ coef for host coef of shape (m, k): shape (n, k), on the rows' backend."""
        q = self._matrix(m)
        return self.xp.matmul(q.T, backend.to_backend(np.ascontiguousarray(coef, np.float64), q))


def _basis(v, n):
    return _Basis(n) if type(v) is np.ndarray else _ArrayBasis(v)


def _orthogonalize(basis, m, w):
    """w minus its projection on the orthonormal rows q_0..q_{m-1} by classical Gram-Schmidt,
    with a second pass when the first removed most of w ("twice is enough": Kahan/Parlett,
    the norm dropping below 1/sqrt(2) of its value flags cancellation); returns
    (w, coefficients)."""
    if m == 0:
        return w, np.zeros(0)
    norm0 = _norm(w)
    w, c = basis.remove(m, w)
    if _norm(w) < np.sqrt(0.5) * norm0:
        w, c2 = basis.remove(m, w)
        c = c + c2
    return w, c


def _lanczos_step(matvec, basis, j, beta_prev, n, reorthogonalize=True):
    """One Lanczos step from q_j: A q_j minus the three-term recurrence (cheap, O(n)), then
    (unless told not to) fully reorthogonalised against q_0..q_j. Returns (w, alpha_j, ||w||).
    numpy vectors take two fused passes (backend.axpy_dot: each update with the dot after
    it), other backends their own operations."""
    q = basis.row(j)
    w = operator_product(matvec, q, n, check_finite=False)
    fused = type(w) is np.ndarray and type(q) is np.ndarray and w.flags.c_contiguous \
        and w.flags.writeable and w.dtype == q.dtype == np.float64
    if j > 0 and beta_prev != 0.0:
        if fused:
            alpha = backend.axpy_dot(w, basis.row(j - 1), -beta_prev, q)
        else:
            w = _minus(w, beta_prev, basis.row(j - 1))
            alpha = _dot(q, w)
    else:
        alpha = _dot(q, w)
    if not math.isfinite(alpha) and not bool(backend.namespace(w).all(
            backend.namespace(w).isfinite(w))):
        _non_finite("pyad.lanczos")         # a NaN or Inf in A q reaches alpha = q . w
    if fused:
        norm = math.sqrt(max(backend.axpy_dot(w, q, -alpha, w), 0.0))
    else:
        w = _minus(w, alpha, q)
        norm = _norm(w)
    if not reorthogonalize:
        return w, alpha, norm
    w, c = _orthogonalize(basis, j + 1, w)
    return w, alpha + float(c[j]), _norm(w)


class _Semiorthogonality:
    """Simon's estimates w_k ~ q_{j+1} . q_k of how far the three-term recurrence has let the
    next basis vector drift from orthogonality (partial reorthogonalisation: H. D. Simon, "The
    Lanczos algorithm with partial reorthogonalization", Math. Comp. 42, 1984). The next vector
    is reorthogonalised against the whole basis only when an estimate passes sqrt(eps), and
    then the one after it too; the basis stays semi-orthogonal (|q_j . q_k| <= sqrt(eps)),
    which keeps the Ritz values accurate to working precision (no spurious copies) for a few
    full passes over the basis instead of one per iteration. What a reorthogonalisation
    removes (up to the level times beta) is left out of T, so the residual estimates
    beta |s_m| are good to about level * ||A||: lanczos lowers the level to fit its
    tolerance (to eps, full reorthogonalisation, for tight tolerances on eigenvalues near 0)."""

    def __init__(self, n):
        self.psi = math.sqrt(n) * _EPS       # rounding of one inner product of length n
        self.prev = np.zeros(0)               # estimates for q_{j-1} against q_0..q_{j-1}
        self.cur = np.ones(1)                 # for q_j against q_0..q_j
        self.force = False                    # reorthogonalise the next vector too

    def next(self, alphas, betas, beta, anorm, level):
        """The estimates for q_{j+1} = w / beta (j + 1 = len(alphas); betas[i] couples q_i and
        q_{i+1}, i < j) against q_0..q_j; whether to reorthogonalise it (an estimate above
        level, at most sqrt(eps))."""
        j = len(alphas) - 1
        new = np.empty(j + 2)
        if j > 0:
            a, b, cur = np.asarray(alphas), np.asarray(betas[:j]), self.cur
            t = b * cur[1:j + 1] + (a[:j] - a[j]) * cur[:j] - b[j - 1] * self.prev[:j]
            t[1:] += b[:j - 1] * cur[:j - 1]
            t += np.copysign(_EPS * (b + beta), t)        # this step's own rounding
            new[:j] = t / beta
        new[j] = self.psi * anorm / beta
        new[j + 1] = 1.0
        self.prev, self.cur = self.cur, new
        due = self.force or bool(np.max(np.abs(new[:j + 1])) > level)
        self.force = due and not self.force
        return due

    def reorthogonalised(self):
        """q_{j+1} was reorthogonalised: its estimates fall back to rounding level."""
        self.cur[:-1] = self.psi

    def restart(self, m):
        """q_m is a fresh vector orthogonalised against q_0..q_{m-1} (an invariant subspace
        restart)."""
        self.prev, self.cur = self.cur, np.full(m + 1, self.psi)
        self.cur[m] = 1.0
        self.force = False


# ============================================================================ the tridiagonal T
def _tridiag_eigh(alpha, beta):
    """Eigenpairs of the small tridiagonal T (a host problem, whatever the vectors' backend)."""
    if len(alpha) == 1:
        return np.array(alpha, dtype=float), np.ones((1, 1))
    import scipy.linalg         # on first use: it took ~0.2 s of `import pyad`
    return scipy.linalg.eigh_tridiagonal(np.asarray(alpha), np.asarray(beta))


def _wanted(m, k, which):
    """Indices (into ascending Ritz values of an m x m T) of the wanted pairs, in output order."""
    k = min(k, m)
    if which == "largest":
        return list(range(m - 1, m - 1 - k, -1))
    if which == "smallest":
        return list(range(k))
    low = list(range(k))
    return low + [i for i in range(max(m - k, 0), m) if i not in low]


# ============================================================================ eigenpairs
def lanczos(matvec: Matvec, v0_or_dim: Union[int, ArrayLike], k: int = 1,
            which: str = "largest", tol: float = 1e-6, max_iter: Optional[int] = None,
            seed: int = 0, like: Optional[Any] = None,
            distributed: bool = False) -> Tuple[Any, Any, Dict[str, Any]]:
    """Extreme eigenpairs of a symmetric operator by Lanczos with partial reorthogonalisation.

    matvec: v -> A v on flat float64 vectors. v0_or_dim: a start vector, or the dimension n
    (then the start is uniform in [-1, 1)^n from `seed`). which: "largest" (the k
    algebraically largest, descending), "smallest" (the k smallest, ascending) or "both" (the
    k smallest and the k largest, together ascending). Asking for more pairs than the
    dimension returns all n.

    The vectors live on the backend of the start vector (of ``like`` for a dimension; numpy
    by default): numpy vectors for numpy operators, arrays of another Array API library for
    its operators. Only scalars and the small tridiagonal problem go to the host.

    Each iteration is one matvec plus O(n) for the three-term recurrence. The basis is kept
    semi-orthogonal (partial reorthogonalisation, Simon 1984): Simon's recurrence estimates
    how far the next vector has drifted from orthogonality, and only when an estimate passes
    sqrt(eps) (lower for tight tolerances, down to eps: full reorthogonalisation) is it
    Gram-Schmidt-orthogonalised against the whole basis (O(m n)), and the vector after it
    too. Ritz pairs come from the tridiagonal T_m (scipy.linalg.eigh_tridiagonal);
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
    "converged": bool, "restarts": invariant subspaces met, "reorthogonalisations": full
    Gram-Schmidt passes made}. The returned eigenvectors are orthonormalised (they move by
    O(sqrt(eps)) at most).

    Parameters
    ----------
    matvec : callable
        ``matvec(v) -> A v`` for a flat float64 vector v (symmetric A), returning an array of
        v's backend.
    v0_or_dim : int or array_like
        The dimension n (a start uniform in [-1, 1)^n from ``seed``) or a start vector.
    k : int, default 1
        The number of eigenpairs wanted (per end for "both").
    which : {"largest", "smallest", "both"}, default "largest"
        Which end(s) of the spectrum.
    tol : float, default 1e-6
        Relative residual tolerance.
    max_iter : int, optional
        The most matvecs (default ``min(n, max(300, 20 k))``).
    seed : int, default 0
        Seed of the random start and restarts (drawn on the host: every backend sees the
        same vectors).
    like : array, optional
        For a dimension: an array on the backend and device the vectors should live on.
    distributed : bool, default False
        Run under ``mpiexec`` on every rank (after ``dist.init()``): each rank's matvec is its
        share of the operator, and the operator is their sum over the ranks (summed bitwise
        identically on every rank, so the replicated iteration takes the same path
        everywhere); a start vector is rank 0's. Every rank returns the same pairs.

    Returns
    -------
    eigenvalues : array
        Descending for "largest", ascending for "smallest" and "both"; on the vectors'
        backend.
    eigenvectors : array
        Orthonormal columns, shape (n, number of pairs), on the vectors' backend.
    info : dict
        iterations, residuals (numpy), converged, restarts, reorthogonalisations.

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
        raise ValueError(f"pyad.lanczos: which={which!r}; use one of {_WHICH}")
    if distributed:
        matvec, v0_or_dim = across_ranks("pyad.lanczos", matvec, v0_or_dim)
    if int(k) < 1:
        raise ValueError(f"pyad.lanczos: k must be >= 1, got {k}")
    k = int(k)
    rng = np.random.default_rng(seed)
    v = _start_vector(v0_or_dim, rng, like)
    n = int(v.shape[0])
    if max_iter is None:
        max_iter = min(n, max(300, 20 * k))
    max_iter = max(1, min(int(max_iter), n))
    basis = _basis(v, n)
    basis.set(0, v / _norm(v))
    alphas, betas = [], []          # betas[j] couples q_j and q_{j+1}
    block_start, restarts, converged, reorths = 0, 0, False, 0
    theta = S = None
    beta_last, anorm = 0.0, 0.0
    orthogonality = _Semiorthogonality(n)
    for j in range(max_iter):
        m_prev = j
        w, alpha, beta_last = _lanczos_step(matvec, basis, j, betas[j - 1] if j else 0.0, n,
                                            reorthogonalize=False)
        anorm = max(anorm, abs(alpha) + beta_last + (betas[j - 1] if j else 0.0))
        if beta_last == 0.0 or orthogonality.next(alphas + [alpha], betas, beta_last, anorm,
                                                  _orthogonality_level(theta, m_prev, k,
                                                                       which, tol, anorm)):
            w, c = _orthogonalize(basis, j + 1, w)
            alpha += float(c[j])
            beta_last = _norm(w)
            orthogonality.reorthogonalised()
            reorths += 1
        alphas.append(alpha)
        m = j + 1
        theta, S = _tridiag_eigh(alphas, betas)
        anorm = max(anorm, float(np.max(np.abs(theta))), np.finfo(float).tiny)
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
            r = on_backend_of(_random(rng, n), v)
            r0 = _norm(r)
            r, _ = _orthogonalize(basis, m, r)
            if _norm(r) <= 1e-8 * r0:       # nothing left to explore
                converged = True
                break
            basis.set(m, r / _norm(r))
            betas.append(0.0)
            orthogonality.restart(m)
            block_start, restarts = m, restarts + 1
            continue
        basis.set(m, w, 1.0 / beta_last)
        betas.append(beta_last)
    m = len(alphas)
    idx = _wanted(m, k, which)
    if which == "both":
        idx = sorted(idx)
    vals = on_backend_of(theta[idx], v)
    vecs = _orthonormal_columns(basis.combine(m, S[:, idx]))
    res = beta_last * np.abs(S[-1, idx])
    if not converged:
        warnings.warn(f"pyad.lanczos: not converged after {m} iterations (max residual "
                      f"{np.max(res):.3g}, tol {tol:g}); raise max_iter or tol",
                      RuntimeWarning, stacklevel=2)
    info = {"iterations": m, "residuals": res, "converged": converged, "restarts": restarts,
            "reorthogonalisations": reorths}
    return vals, vecs, info


def _orthogonality_level(theta, m, k, which, tol, anorm):
    """How far (|q_i . q_j|) the basis may drift before a reorthogonalisation: sqrt(eps)
    (semi-orthogonality), lowered so that what reorthogonalisations leave out of T stays a
    tenth of the residual the wanted pairs must reach (tol times max(|theta|, sqrt(eps)
    ||A||), see lanczos), and never below eps."""
    if theta is None or anorm == 0.0:
        return math.sqrt(_EPS)
    smallest = float(np.min(np.abs(theta[_wanted(m, k, which)])))
    level = 0.1 * tol * max(smallest / anorm, math.sqrt(_EPS))
    return min(math.sqrt(_EPS), max(level, _EPS))


def _orthonormal_columns(vecs):
    """The Ritz vectors Q s of a semi-orthogonal basis, made orthonormal to working precision
    by Gram-Schmidt twice over the few columns (each moves by O(sqrt(eps)))."""
    cols = []
    for i in range(vecs.shape[1]):
        v = vecs[:, i]
        for _ in range(2):
            for u in cols:
                v = v - _dot(u, v) * u
        cols.append(v / _norm(v))
    if type(vecs) is np.ndarray:
        return np.stack(cols, axis=1) if cols else vecs
    return backend.namespace(vecs).stack(cols, axis=1) if cols else vecs


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


# ============================================================================ quadrature
def across_ranks(who, matvec, start=None):
    """(matvec summed over the MPI ranks, rank 0's start vector): a replicated solver's
    operator when every rank passes its share (pyad.distributed; imported only here)."""
    from pyad.distributed.comm import from_root, summed_operator
    if start is not None and not isinstance(start, (int, np.integer)):
        start = from_root(who, start)
    return summed_operator(matvec, who), start


def lanczos_quadrature(matvec: Matvec, v: Any, num_steps: int) -> Tuple[np.ndarray, np.ndarray]:
    """Gauss quadrature (nodes, weights) of the spectral measure of A seen from unit v.

    The eigenvalues of T_m and the squared first components of its eigenvectors, from m
    steps of Lanczos with full reorthogonalisation and no restart (an invariant subspace ends
    it early, the quadrature then being exact); stochastic Lanczos quadrature averages these
    over random v.

    Parameters
    ----------
    matvec : callable
        ``matvec(v) -> A v`` on flat vectors of v's backend (symmetric A).
    v : array
        The flat start vector (any nonzero norm).
    num_steps : int
        The most Lanczos steps (nodes).

    Returns
    -------
    nodes, weights : numpy.ndarray
        The quadrature on the host; the weights sum to 1.

    Examples
    --------
    >>> from pyad.linalg.lanczos import lanczos_quadrature
    >>> nodes, weights = lanczos_quadrature(lambda v: np.array([1.0, 3.0]) * v, np.ones(2), 2)
    >>> nodes, weights
    (array([1., 3.]), array([0.5, 0.5]))
    """
    n = int(v.shape[0])
    steps = max(1, min(int(num_steps), n))
    basis = _basis(v, n)
    basis.set(0, v / _norm(v))
    alphas, betas = [], []
    for j in range(steps):
        w, alpha, beta = _lanczos_step(matvec, basis, j, betas[j - 1] if j else 0.0, n)
        alphas.append(alpha)
        scale = max(np.max(np.abs(alphas)), max(betas, default=0.0), np.finfo(float).tiny)
        if j + 1 == steps or beta <= 64 * _EPS * scale * np.sqrt(j + 1):
            break
        betas.append(beta)
        basis.set(j + 1, w / beta)
    theta, S = _tridiag_eigh(alphas, betas)
    return theta, S[0] ** 2
