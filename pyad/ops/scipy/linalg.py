"""pyad.scipy.linalg: autograd.scipy.linalg's functions (solve_triangular, cholesky, sqrtm,
solve_sylvester, solve_banded) and expm, as rows of the primitive table with rules in pyad ops.

Rules (matrices 2-d; every rule uses the rows again, so any order of derivative works):
- expm: the Frechet derivative is the upper-right block of expm([[A, E], [0, A]]) (Mathias
  1996); its adjoint is the same at A^T (the VJP).
- solve_sylvester, A X + X B = Q: dX = sylv(A, B, dQ - dA X - X dB); the adjoint of the
  Sylvester operator is the one of A^T, B^T.
- sqrtm, X X = A: dX = sylv(X, X, dA).
- solve_triangular: dX = op(T)^-1 (db - op(dT) X), dT kept to T's triangle.
- solve_banded: the same through the banded storage (gathers of the band).
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from pyad import backend
from pyad.ops import core as o
from pyad.ops.array import tril, triu
from pyad.ops.linalg import cholesky as _lower_cholesky, matrix_transpose
from pyad.ops.prims import LOOP, _tangent_sum, defprim
from pyad.engine._tape import Tensor, bind, wrap
from pyad._typing import ArrayLike

__all__ = ["expm", "sqrtm", "solve_sylvester", "solve_triangular", "solve_banded", "cholesky"]


# ----------------------------------------------------------------------------- expm
def _frechet(a, e):
    """The upper-right block of expm([[a, e], [0, a]]): d expm(a)[e]."""
    n = a.shape[-1]
    top = o.concatenate([a, e], axis=1)
    bottom = o.concatenate([o.zeros_like(a), a], axis=1)
    return bind(_EXPM, o.concatenate([top, bottom], axis=0))[:n, n:]


_EXPM = defprim("expm", lambda g, ans, a: _frechet(matrix_transpose(a), g),
                jvp=lambda dots, ans, a: _frechet(a, dots[0]), lift=LOOP)


# ----------------------------------------------------------------------------- sylvester
def _sylvester_vjp(k):
    def vjp(g, ans, a, b, q):
        lam = bind(_SYLVESTER, matrix_transpose(a), matrix_transpose(b), g)
        if k == 2:
            return lam
        return -(lam @ matrix_transpose(ans)) if k == 0 else -(matrix_transpose(ans) @ lam)
    return vjp


def _sylvester_jvp(dots, ans, a, b, q):
    da, db, dq = dots
    rhs = _tangent_sum((dq, None if da is None else -(da @ ans),
                        None if db is None else -(ans @ db)), ans)
    return bind(_SYLVESTER, a, b, rhs)


_SYLVESTER = defprim("solve_sylvester", _sylvester_vjp(0), _sylvester_vjp(1), _sylvester_vjp(2),
                     jvp=_sylvester_jvp, lift=LOOP)
_SQRTM = defprim("sqrtm", lambda g, ans, a: bind(_SYLVESTER, matrix_transpose(ans), matrix_transpose(ans), g),
                 jvp=lambda dots, ans, a: bind(_SYLVESTER, ans, ans, dots[0]), lift=LOOP)


# ----------------------------------------------------------------------------- triangular
def _triangle(m, lower, unit):
    """m kept to a lower (upper) triangle; strictly, for a unit diagonal (not read)."""
    if lower:
        return tril(m, -1 if unit else 0)
    return triu(m, 1 if unit else 0)


def _outer(u, v):
    """u v^T for matrices, or the outer product of vectors."""
    if u.ndim == 1:
        return o.reshape(u, (-1, 1)) * o.reshape(v, (1, -1))
    return u @ matrix_transpose(v)


def _tri_vjp_a(g, ans, a, b, lower, trans, unit):
    bbar = bind(_TRIANGULAR, a, g, params=(lower, 1 - trans, unit))
    mbar = -_outer(bbar, ans)                       # the cotangent of op(T)
    return _triangle(mbar if trans == 0 else matrix_transpose(mbar), lower, unit)


def _tri_vjp_b(g, ans, a, b, lower, trans, unit):
    return bind(_TRIANGULAR, a, g, params=(lower, 1 - trans, unit))


def _tri_jvp(dots, ans, a, b, lower, trans, unit):
    da, db = dots
    rhs = db
    if da is not None:
        dt = _triangle(da, lower, unit)
        dm_x = (dt if trans == 0 else matrix_transpose(dt)) @ ans
        rhs = -dm_x if rhs is None else rhs - dm_x
    return bind(_TRIANGULAR, a, rhs, params=(lower, trans, unit))


_TRIANGULAR = defprim("solve_triangular", _tri_vjp_a, _tri_vjp_b, jvp=_tri_jvp, lift=LOOP)


# ----------------------------------------------------------------------------- banded
def _band_index(lower, upper, n):
    """(rows, columns, valid) of the band storage ab[u + i - j, j]: for each storage slot
    (r, j) the matrix entry (i, j) = (r - u + j, j) it holds, and whether it exists."""
    r, j = np.meshgrid(np.arange(lower + upper + 1), np.arange(n), indexing="ij")
    i = r - upper + j
    valid = (i >= 0) & (i < n)
    return np.where(valid, i, 0), j, valid


def _dense(ab, lower, upper, n):
    """The n x n matrix of band storage ab (a gather: differentiable)."""
    i, j, valid = _band_index(lower, upper, n)
    flat_index = np.full(n * n, ab.size, dtype=np.int64)       # -> the appended zero
    r = np.arange(lower + upper + 1)[:, None] * n + j
    flat_index[(i * n + j)[valid]] = r[valid]
    padded = o.concatenate([o.reshape(ab, (-1,)), o.zeros_like(o.reshape(ab, (-1,))[:1])])
    return o.reshape(o.take(padded, _index(flat_index, ab)), (n, n))


def _band_of(m, lower, upper):
    """Band storage of the n x n matrix m (zeros in the unused corners)."""
    n = m.shape[0]
    i, j, valid = _band_index(lower, upper, n)
    picked = o.take(o.reshape(m, (-1,)), _index(i * n + j, m))
    return o.where(_index(valid, m), picked, 0.0)


def _index(a, like):
    return wrap(backend.to_backend(np.asarray(a), like.data)) if backend.is_foreign(like.data) \
        else wrap(np.asarray(a))


def _transposed_band(ab, lower, upper):
    """The band storage (bands swapped) of the transpose of the matrix ab stores."""
    return _band_of(matrix_transpose(_dense(ab, lower, upper, ab.shape[1])), upper, lower)


def _banded_vjp_ab(g, ans, ab, b, lower, upper):
    bbar = bind(_BANDED, _transposed_band(ab, lower, upper), g, params=(upper, lower))
    return _band_of(-_outer(bbar, ans), lower, upper)


def _banded_vjp_b(g, ans, ab, b, lower, upper):
    return bind(_BANDED, _transposed_band(ab, lower, upper), g, params=(upper, lower))


def _banded_jvp(dots, ans, ab, b, lower, upper):
    dab, db = dots
    rhs = db
    if dab is not None:
        da_x = _dense(dab, lower, upper, ab.shape[1]) @ ans
        rhs = -da_x if rhs is None else rhs - da_x
    return bind(_BANDED, ab, rhs, params=(lower, upper))


_BANDED = defprim("solve_banded", _banded_vjp_ab, _banded_vjp_b, jvp=_banded_jvp, lift=LOOP)


# ----------------------------------------------------------------------------- public
def _matrix(name, a, square=True):
    t = o._t(a)
    if t.dtype.kind not in "biuf":
        raise TypeError(f"pyad.scipy.linalg.{name}: real arrays only, got dtype {t.dtype}")
    if t.ndim != 2 or (square and t.shape[0] != t.shape[1]):
        want = "a square matrix" if square else "a matrix"
        raise ValueError(f"pyad.scipy.linalg.{name}: expected {want}, got shape {t.shape}")
    return o.astype(t, np.float64) if t.dtype.kind != "f" else t


def _rhs(name, b, n):
    t = o._t(b)
    if t.ndim not in (1, 2) or t.shape[0] != n:
        raise ValueError(f"pyad.scipy.linalg.{name}: b of shape {t.shape} does not match a "
                         f"system of {n} equations (want ({n},) or ({n}, k))")
    return o.astype(t, np.float64) if t.dtype.kind != "f" else t


def _same_dtype(*ts):
    dtype = np.result_type(*[t.dtype for t in ts])
    return [t if t.dtype == dtype else o.astype(t, dtype) for t in ts]


def expm(A: ArrayLike) -> Tensor:
    """The matrix exponential (``scipy.linalg.expm``), differentiable to any order.

    Parameters
    ----------
    A : array_like
        A real square matrix.

    Returns
    -------
    Tensor
        exp(A).

    Raises
    ------
    ValueError
        When A is not a square matrix.

    Examples
    --------
    >>> from pyad.scipy import linalg
    >>> linalg.expm(np.zeros((2, 2)))
    tensor([[1., 0.],
            [0., 1.]])
    >>> round(float(ad.grad(lambda t: ad.sum(linalg.expm(t * np.eye(2))))(1.0)), 6)   # 2 e
    5.436564
    """
    return bind(_EXPM, _matrix("expm", A))


def sqrtm(A: ArrayLike) -> Tensor:
    """The principal matrix square root X, X @ X = A (``scipy.linalg.sqrtm``).

    Parameters
    ----------
    A : array_like
        A real square matrix with a real principal square root (e.g. positive definite).

    Returns
    -------
    Tensor
        X.

    Raises
    ------
    ValueError
        When A is not a square matrix.

    Examples
    --------
    >>> from pyad.scipy import linalg
    >>> linalg.sqrtm(np.array([[4.0, 0.0], [0.0, 9.0]]))
    tensor([[2., 0.],
            [0., 3.]])
    """
    return bind(_SQRTM, _matrix("sqrtm", A))


def solve_sylvester(a: ArrayLike, b: ArrayLike, q: ArrayLike) -> Tensor:
    """X with a X + X b = q (``scipy.linalg.solve_sylvester``), differentiable in a, b, q.

    Parameters
    ----------
    a : array_like
        (m, m).
    b : array_like
        (n, n).
    q : array_like
        (m, n).

    Returns
    -------
    Tensor
        X, (m, n).

    Raises
    ------
    ValueError
        For shapes that do not fit.

    Examples
    --------
    >>> from pyad.scipy import linalg
    >>> linalg.solve_sylvester(np.eye(2), np.eye(2), 2 * np.eye(2))
    tensor([[1., 0.],
            [0., 1.]])
    """
    a, b = _matrix("solve_sylvester", a), _matrix("solve_sylvester", b)
    q = _matrix("solve_sylvester", q, square=False)
    if q.shape != (a.shape[0], b.shape[0]):
        raise ValueError(f"pyad.scipy.linalg.solve_sylvester: q of shape {q.shape} for a "
                         f"{a.shape} and b {b.shape} (want {(a.shape[0], b.shape[0])})")
    return bind(_SYLVESTER, *_same_dtype(a, b, q))


def solve_triangular(a: ArrayLike, b: ArrayLike, trans: int = 0, lower: bool = False,
                     unit_diagonal: bool = False) -> Tensor:
    """x with op(a) x = b for a triangular a (``scipy.linalg.solve_triangular``), reading only
    a's triangle; differentiable in a (its triangle) and b.

    Parameters
    ----------
    a : array_like
        (n, n), triangular.
    b : array_like
        (n,) or (n, k).
    trans : {0, 1, 2, "N", "T", "C"}, default 0
        Solve a x = b (0, "N") or a^T x = b (1, "T"; 2, "C" for real a).
    lower : bool, default False
        Read the lower triangle (else the upper).
    unit_diagonal : bool, default False
        Take the diagonal as ones (it is not read).

    Returns
    -------
    Tensor
        x, of b's shape.

    Raises
    ------
    ValueError
        For shapes that do not fit or an unknown trans.

    Examples
    --------
    >>> from pyad.scipy import linalg
    >>> linalg.solve_triangular(np.array([[2.0, 0.0], [1.0, 1.0]]), np.array([2.0, 2.0]),
    ...                         lower=True)
    tensor([1., 1.])
    """
    codes = {0: 0, 1: 1, 2: 1, "N": 0, "T": 1, "C": 1}
    if trans not in codes:
        raise ValueError(f"pyad.scipy.linalg.solve_triangular: trans must be 0, 1, 2, 'N', "
                         f"'T' or 'C', got {trans!r}")
    a = _matrix("solve_triangular", a)
    b = _rhs("solve_triangular", b, a.shape[0])
    return bind(_TRIANGULAR, *_same_dtype(a, b),
                params=(bool(lower), codes[trans], bool(unit_diagonal)))


def solve_banded(l_and_u: Tuple[int, int], ab: ArrayLike, b: ArrayLike) -> Tensor:
    """x with A x = b for a banded A given in band storage ab (``scipy.linalg.solve_banded``:
    ab[u + i - j, j] = A[i, j]); differentiable in ab and b.

    Parameters
    ----------
    l_and_u : (int, int)
        The numbers of non-zero lower and upper diagonals.
    ab : array_like
        (l + u + 1, n) band storage.
    b : array_like
        (n,) or (n, k).

    Returns
    -------
    Tensor
        x, of b's shape.

    Raises
    ------
    ValueError
        When ab's shape does not match (l, u) or b.

    Examples
    --------
    >>> from pyad.scipy import linalg
    >>> ab = np.array([[0.0, 1.0], [2.0, 2.0]])              # [[2, 1], [0, 2]]: u = 1
    >>> linalg.solve_banded((0, 1), ab, np.array([3.0, 2.0]))
    tensor([1., 1.])
    """
    lower, upper = (int(v) for v in l_and_u)
    ab = _matrix("solve_banded", ab, square=False)
    if lower < 0 or upper < 0 or ab.shape[0] != lower + upper + 1:
        raise ValueError(f"pyad.scipy.linalg.solve_banded: ab of shape {ab.shape} for "
                         f"(l, u) = {(lower, upper)} (want {lower + upper + 1} rows)")
    b = _rhs("solve_banded", b, ab.shape[1])
    return bind(_BANDED, *_same_dtype(ab, b), params=(lower, upper))


def cholesky(a: ArrayLike, lower: bool = False) -> Tensor:
    """The Cholesky factor of a symmetric positive-definite a (``scipy.linalg.cholesky``):
    upper U with a = U^T U by default (scipy's default), lower L with lower=True.

    Parameters
    ----------
    a : array_like
        (n, n) symmetric positive definite.
    lower : bool, default False
        Return L instead of U.

    Returns
    -------
    Tensor
        The factor.

    Examples
    --------
    >>> from pyad.scipy import linalg
    >>> linalg.cholesky(np.array([[4.0, 2.0], [2.0, 2.0]]))
    tensor([[2., 1.],
            [0., 1.]])
    """
    factor = _lower_cholesky(_matrix("cholesky", a))
    return factor if lower else matrix_transpose(factor)
