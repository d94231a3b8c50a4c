"""The linalg family: its rows of the primitive table and its public functions.

numpy.linalg, differentiable: inv det slogdet solve cholesky eigh eigvalsh svd svdvals pinv
qr norm (and matrix_norm, vector_norm, cond, matrix_power, multi_dot, lstsq, matrix_rank,
matrix_transpose). The public namespace is ``pyad.linalg``; numpy's own functions dispatch
here for Tensors (``np.linalg.inv(t)``, NEP 18) through NUMPY_FUNCTIONS.

Every function takes stacks of matrices (..., M, N) as numpy.linalg does. The rules are
written in pyad ops (inv, solve, eigh and svd rows included), so they differentiate again:
Hessians and forward-over-reverse products of linear algebra work.

Conventions:
- eigh, eigvalsh and cholesky read one triangle of a symmetric matrix; their derivatives are
  those of the function of the symmetric matrix (the perturbation is symmetrised,
  (da + da^T) / 2), as in autograd, JAX and PyTorch.
- Eigenvector and singular-vector derivatives involve 1 / (w_j - w_i) (1 / (s_j^2 - s_i^2)):
  they are undefined where eigenvalues (singular values) repeat and give inf/NaN there.
- The derivative of the 2-norm (and Frobenius norm) at 0 is taken as 0 (as autograd/JAX do).

Several outputs (slogdet, eigh, svd, qr) are one primitive each whose kernel returns them
packed in one array (see pyad.backend.numpy_linalg); the public functions slice them apart.
"""
from __future__ import annotations

import math
import operator
from collections import namedtuple
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from pyad import backend
from pyad.ops import core as o
from pyad._typing import ArrayLike
from pyad.engine._tape import Tensor, bind, is_tracked, wrap
from pyad.ops.lifts import LEADING, same_params, shift_axes
from pyad.ops.prims import defprim

__all__ = []        # numpy keeps these in np.linalg: see pyad.linalg and NUMPY_FUNCTIONS

LinAlgError = np.linalg.LinAlgError



class SlogdetResult(namedtuple("SlogdetResult", ["sign", "logabsdet"])):
    """What :func:`slogdet` returns: a named pair that unpacks like numpy's.

    Parameters
    ----------
    sign : Tensor
        The sign of the determinant (-1, 0 or 1), not differentiable.
    logabsdet : Tensor
        The log of its absolute value, differentiable.

    Examples
    --------
    >>> sign, logabsdet = ad.linalg.slogdet(np.diag([-1.0, 1.0]))
    >>> float(sign), float(logabsdet)
    (-1.0, 0.0)
    """
    __slots__ = ()


class EighResult(namedtuple("EighResult", ["eigenvalues", "eigenvectors"])):
    """What :func:`eigh` returns: a named pair that unpacks like numpy's.

    Parameters
    ----------
    eigenvalues : Tensor
        Ascending, shape (..., M).
    eigenvectors : Tensor
        One per column, shape (..., M, M).

    Examples
    --------
    >>> w, v = ad.linalg.eigh(np.diag([2.0, 1.0]))
    >>> w
    tensor([1., 2.])
    """
    __slots__ = ()


class SVDResult(namedtuple("SVDResult", ["U", "S", "Vh"])):
    """What :func:`svd` returns: a named triple that unpacks like numpy's.

    Parameters
    ----------
    U : Tensor
        Left singular vectors, one per column.
    S : Tensor
        Singular values, descending.
    Vh : Tensor
        Right singular vectors, one per row.

    Examples
    --------
    >>> ad.linalg.svd(np.diag([1.0, 3.0])).S
    tensor([3., 1.])
    """
    __slots__ = ()


class QRResult(namedtuple("QRResult", ["Q", "R"])):
    """What :func:`qr` returns: a named pair that unpacks like numpy's.

    Parameters
    ----------
    Q : Tensor
        Orthonormal columns.
    R : Tensor
        Upper triangular.

    Examples
    --------
    >>> q, r = ad.linalg.qr(np.eye(2))
    >>> abs(r)
    tensor([[1., 0.],
            [0., 1.]])
    """
    __slots__ = ()


# the batch axis of a lifted rule is one more leading stack axis
_STACK = (LEADING, same_params)


# =========================================================================== rule helpers
# (pyad ops only, so the rules built from them are differentiable again)
def _mT(x):
    """The matrix transpose of a stack: swap the last two axes."""
    return o.swapaxes(x, -1, -2)


def _eye(n, like):
    """The n x n identity of like's dtype, on like's backend (constants never mix backends)."""
    return wrap(backend.eye(n, like.dtype, like.data))


def _mask(mask, like):
    """A numpy mask built on the host (np.tri), moved next to like's data (numpy: itself)."""
    return wrap(backend.to_backend(mask, like.data))


def _diag(x):
    """(..., n, n) -> (..., n): the diagonals."""
    return o.sum(x * _eye(x.shape[-1], x), axis=-1)


def _diag_embed(v):
    """(..., n) -> (..., n, n): diagonal matrices."""
    return o.expand_dims(v, -2) * _eye(v.shape[-1], v)


def _sym(x):
    return (x + _mT(x)) * 0.5


def _strict_lower(x):
    """The entries below the diagonal (the rest zero)."""
    return x * _mask(np.tri(*x.shape[-2:], k=-1, dtype=x.dtype), x)


def _cholesky_phi(x):
    """The lower triangle with the diagonal halved."""
    mask = np.tri(*x.shape[-2:], k=-1) + 0.5 * np.eye(x.shape[-1])
    return x * _mask(mask.astype(x.dtype), x)


def _lift2(t):
    """(...,) -> (..., 1, 1): a per-matrix scalar that broadcasts over its matrix."""
    return o.reshape(t, t.shape + (1, 1))


def _cols(s):
    """Scale the columns of a stack: X * _cols(s) = X @ diag(s)."""
    return o.expand_dims(s, -2)


def _rows(s):
    """Scale the rows of a stack: _rows(s) * X = diag(s) @ X."""
    return o.expand_dims(s, -1)


def _gap_inverse(w):
    """F[..., i, j] = 1 / (w_j - w_i) off the diagonal, 0 on it (inf where w_i == w_j)."""
    eye = _eye(w.shape[-1], w)
    gaps = o.expand_dims(w, -2) - o.expand_dims(w, -1)
    return (1.0 - eye) / (gaps + eye)


def _inv(x):
    return bind(inv_p, x)


def _inv_of_input(op, x):
    """inv(x) inside det/slogdet's rules, whose derivative det(x) inv(x)^T needs it."""
    try:
        return _inv(x)
    except LinAlgError:
        raise LinAlgError(
            f"pyad.linalg.{op}: cannot differentiate {op} at a singular matrix (shape "
            f"{x.shape}): its derivative rule uses inv(a); perturb or regularise the matrix "
            f"(a + eps * I)") from None


def _solve(a, b):
    return bind(solve_p, a, b)


# =========================================================================== rows
# ------------------------------------------------------------------- inverse, determinants
# d(A^-1) = -A^-1 dA A^-1
inv_p = defprim(
    "inv", lambda g, ans, x: -(_mT(ans) @ g @ _mT(ans)),
    jvp=lambda dots, ans, x: -(ans @ dots[0] @ ans), lift=_STACK)

# d det(A) = det(A) tr(A^-1 dA); the rules need A invertible
det_p = defprim(
    "det", lambda g, ans, x: _lift2(g * ans) * _mT(_inv_of_input("det", x)),
    jvp=lambda dots, ans, x: ans * o.sum(_mT(_inv_of_input("det", x)) * dots[0],
                                         axis=(-2, -1)),
    lift=_STACK)


def _slogdet_jvp(dots, ans, x):
    dlog = o.sum(_mT(_inv_of_input("slogdet", x)) * dots[0], axis=(-2, -1))
    return o.stack([o.zeros_like(dlog), dlog], axis=-1)     # the sign is locally constant


# output (..., 2): [sign, log|det|]
slogdet_p = defprim(
    "slogdet", lambda g, ans, x: _lift2(g[..., 1]) * _mT(_inv_of_input("slogdet", x)),
    jvp=_slogdet_jvp, lift=_STACK)


# ------------------------------------------------------------------- solve: x = A^-1 B
# a (..., M, M) and b (..., M, K) with the same leading axes (the public function
# broadcasts them). dx = A^-1 (dB - dA x); B-bar = A^-T g, A-bar = -B-bar x^T.
def _solve_jvp(dots, ans, a, b):
    da, db = dots
    rhs = db
    if da is not None:
        rhs = -(da @ ans) if rhs is None else rhs - da @ ans
    return _solve(a, rhs)


solve_p = defprim(
    "solve",
    lambda g, ans, a, b: -(_solve(_mT(a), g) @ _mT(ans)),
    lambda g, ans, a, b: _solve(_mT(a), g),
    jvp=_solve_jvp, lift=_STACK)


# ------------------------------------------------------------------- cholesky: A = L L^T
# dL = L phi(L^-1 sym(dA) L^-T) with phi the lower triangle, diagonal halved; its transpose
# A-bar = sym(L^-T phi(L^T g) L^-1).
def _cholesky_jvp(dots, ans, x):
    linv = _inv(ans)
    return ans @ _cholesky_phi(linv @ _sym(dots[0]) @ _mT(linv))


def _cholesky_vjp(g, ans, x):
    linv = _inv(ans)
    return _sym(_mT(linv) @ _cholesky_phi(_mT(ans) @ g) @ linv)


cholesky_p = defprim("cholesky", _cholesky_vjp, jvp=_cholesky_jvp, lift=_STACK)


# ------------------------------------------------------------------- symmetric eigenproblem
# output (..., n + 1, n): row 0 the eigenvalues w (ascending), below them the eigenvectors V
# (columns). With M = V^T sym(dA) V: dw = diag(M), dV = V (F * M), F = _gap_inverse(w).
def _eigh_split(packed):
    return packed[..., 0, :], packed[..., 1:, :]


def _eigh_jvp(dots, ans, x, uplo):
    w, v = _eigh_split(ans)
    m = _mT(v) @ _sym(dots[0]) @ v
    return o.concatenate([o.expand_dims(_diag(m), -2), v @ (_gap_inverse(w) * m)], axis=-2)


def _nonzero_cotangent(g):
    """False for a cotangent that is zero and not itself differentiated (by an outer tape or
    trace). The eigenvector (singular vector) terms of a rule are skipped for such a one, so
    that eigenvalue-only uses stay finite at repeated eigenvalues, where those terms would be
    inf * 0."""
    return is_tracked(g) or bool(backend.namespace(g.data).any(g.data != 0))


def _eigh_vjp(g, ans, x, uplo):
    w, v = _eigh_split(ans)
    gw, gv = _eigh_split(g)
    inner = _diag_embed(gw)
    if _nonzero_cotangent(gv):
        inner = inner + _gap_inverse(w) * (_mT(v) @ gv)
    return _sym(v @ inner @ _mT(v))


eigh_p = defprim("eigh", _eigh_vjp, jvp=_eigh_jvp, lift=_STACK)


def _eigenvectors(x, uplo):
    return _eigh_split(bind(eigh_p, x, params=(uplo,)))[1]


# eigenvalues only: dw_j = v_j^T sym(dA) v_j, A-bar = V diag(g) V^T
def _eigvalsh_jvp(dots, ans, x, uplo):
    v = _eigenvectors(x, uplo)
    return o.sum(v * (_sym(dots[0]) @ v), axis=-2)


def _eigvalsh_vjp(g, ans, x, uplo):
    v = _eigenvectors(x, uplo)
    return (v * _cols(g)) @ _mT(v)


eigvalsh_p = defprim("eigvalsh", _eigvalsh_vjp, jvp=_eigvalsh_jvp, lift=_STACK)


# ------------------------------------------------------------------- singular values
# output: U, S, Vh flattened and concatenated on the last axis. With V = Vh^T, dP = U^T dA V,
# F = _gap_inverse(S^2):
#   dS = diag(dP)
#   dU = U (F * (dP S + S dP^T)) + (I - U U^T) dA V S^-1
#   dV = V (F * (S dP + dP^T S)) + (I - V V^T) dA^T U S^-1
# and the transpose of that map for the VJP.
def _svd_shapes(x, full_matrices):
    m, n = x.shape[-2:]
    k = min(m, n)
    return m, n, k, (m if full_matrices else k), (n if full_matrices else k)


def _svd_split(packed, x, full_matrices):
    m, n, k, ku, kv = _svd_shapes(x, full_matrices)
    batch = packed.shape[:-1]
    u = o.reshape(packed[..., :m * ku], batch + (m, ku))
    s = packed[..., m * ku:m * ku + k]
    vh = o.reshape(packed[..., m * ku + k:], batch + (kv, n))
    return u, s, vh


def _svd_differentiable(x, full_matrices):
    m, n = x.shape[-2:]
    if full_matrices and m != n:
        raise ValueError(
            f"pyad.linalg.svd: svd(a, full_matrices=True) of a non-square matrix (shape "
            f"{x.shape[-2:]}) is not differentiable: the {abs(m - n)} extra singular vectors "
            f"are not unique. Use svd(a, full_matrices=False), or svd(a, compute_uv=False) for "
            f"the singular values alone")


def _svd_jvp(dots, ans, x, full_matrices, hermitian):
    _svd_differentiable(x, full_matrices)
    u, s, vh = _svd_split(ans, x, full_matrices)
    v = _mT(vh)
    da = dots[0]
    dav = da @ v
    dp = _mT(u) @ dav
    f = _gap_inverse(s * s)
    dps, sdp = dp * _cols(s), _rows(s) * dp
    du = u @ (f * (dps + _mT(dps)))
    dv = v @ (f * (sdp + _mT(sdp)))
    m, n, k = u.shape[-2], vh.shape[-1], s.shape[-1]
    if m > k:       # the part of dA V outside the span of U (none when U is square)
        du = du + (dav - u @ dp) / _cols(s)
    if n > k:
        dv = dv + (_mT(da) @ u - v @ _mT(dp)) / _cols(s)
    batch = ans.shape[:-1]
    return o.concatenate([o.reshape(du, batch + (-1,)), _diag(dp),
                          o.reshape(_mT(dv), batch + (-1,))], axis=-1)


def _svd_vjp(g, ans, x, full_matrices, hermitian):
    _svd_differentiable(x, full_matrices)
    u, s, vh = _svd_split(ans, x, full_matrices)
    gu, gs, gvh = _svd_split(g, x, full_matrices)
    v, gv = _mT(vh), _mT(gvh)
    m, n, k = u.shape[-2], vh.shape[-1], s.shape[-1]
    inner = _diag_embed(gs)
    out = None
    if _nonzero_cotangent(gu):
        ju = _mT(u) @ gu
        inner = inner + (_gap_inverse(s * s) * (ju - _mT(ju))) * _cols(s)
        if m > k:   # the part of gU off the span of U (none when U is square)
            out = ((gu - u @ ju) / _cols(s)) @ vh
    right = None
    if _nonzero_cotangent(gvh):
        jv = _mT(v) @ gv
        inner = inner + _rows(s) * (_gap_inverse(s * s) * (jv - _mT(jv)))
        if n > k:
            right = _mT(gv - v @ jv) / _rows(s)
    right = inner @ vh if right is None else inner @ vh + right
    return u @ right if out is None else u @ right + out


svd_p = defprim("svd", _svd_vjp, jvp=_svd_jvp, lift=_STACK)


def _singular_vectors(x):
    u, _, vh = _svd_split(bind(svd_p, x, params=(False, False)), x, False)
    return u, vh


# singular values only: dS = diag(U^T dA V), A-bar = U diag(g) Vh
def _svdvals_jvp(dots, ans, x):
    u, vh = _singular_vectors(x)
    return o.sum(u * (dots[0] @ _mT(vh)), axis=-2)


def _svdvals_vjp(g, ans, x):
    u, vh = _singular_vectors(x)
    return (u * _cols(g)) @ vh


svdvals_p = defprim("svdvals", _svdvals_vjp, jvp=_svdvals_jvp, lift=_STACK)


# ------------------------------------------------------------------- pseudo-inverse
# For a perturbation that keeps the rank (P = A+):
#   dP = -P dA P + P P^T dA^T (I - A P) + (I - P A) dA^T P^T P
def _pinv_jvp(dots, ans, a, rcond, hermitian, rtol):
    p, dat = ans, _mT(dots[0])
    return (-(p @ dots[0] @ p) + (p @ _mT(p)) @ (dat - (dat @ a) @ p)
            + (dat - p @ (a @ dat)) @ (_mT(p) @ p))


def _pinv_vjp(g, ans, a, rcond, hermitian, rtol):
    p, gt = ans, _mT(g)
    pt = _mT(p)
    return (-(pt @ g @ pt) + (gt - a @ (p @ gt)) @ (p @ pt)
            + (pt @ p) @ (gt - (gt @ p) @ a))


pinv_p = defprim("pinv", _pinv_vjp, jvp=_pinv_jvp, lift=_STACK)


# ------------------------------------------------------------------- QR
# output: Q, R flattened and concatenated. For m >= n (R square and invertible), with
# C = Q^T dA R^-1 and W = L(C) - L(C)^T (L: below the diagonal): dR = (C - W) R and
# dQ = Q W + (I - Q Q^T) dA R^-1. A wide A = [X | Y] (m < n) factors X = Q R_X, and
# R_Y = Q^T Y.
def _qr_shapes(x, mode):
    m, n = x.shape[-2:]
    k = m if mode == "complete" else min(m, n)
    return m, n, k


def _qr_split(packed, x, mode):
    m, n, k = _qr_shapes(x, mode)
    batch = packed.shape[:-1]
    return (o.reshape(packed[..., :m * k], batch + (m, k)),
            o.reshape(packed[..., m * k:], batch + (k, n)))


def _qr_differentiable(x, mode):
    m, n = x.shape[-2:]
    if mode == "complete" and m > n:
        raise ValueError(
            f"pyad.linalg.qr: qr(a, mode='complete') of a tall matrix (shape {x.shape[-2:]}) "
            f"is not differentiable: the {m - n} extra columns of Q are not unique. Use "
            f"mode='reduced'")


def _qr_square_jvp(q, r, da):
    dari = da @ _inv(r)
    c = _mT(q) @ dari
    low = _strict_lower(c)
    w = low - _mT(low)
    return q @ w + dari - q @ c, (c - w) @ r


def _qr_square_vjp(q, r, gq, gr):
    m = gr @ _mT(r)
    qtgq = _mT(q) @ gq
    nn = qtgq - m
    cbar = m + _strict_lower(nn - _mT(nn))
    return (q @ cbar + gq - q @ qtgq) @ _mT(_inv(r))


def _qr_jvp(dots, ans, x, mode):
    _qr_differentiable(x, mode)
    q, r = _qr_split(ans, x, mode)
    m, n = x.shape[-2:]
    da = dots[0]
    batch = ans.shape[:-1]
    if m >= n:
        dq, dr = _qr_square_jvp(q, r, da)
    else:
        dq, drx = _qr_square_jvp(q, r[..., :m], da[..., :m])
        dry = _mT(dq) @ x[..., m:] + _mT(q) @ da[..., m:]
        dr = o.concatenate([drx, dry], axis=-1)
    return o.concatenate([o.reshape(dq, batch + (-1,)), o.reshape(dr, batch + (-1,))], axis=-1)


def _qr_vjp(g, ans, x, mode):
    _qr_differentiable(x, mode)
    q, r = _qr_split(ans, x, mode)
    gq, gr = _qr_split(g, x, mode)
    m, n = x.shape[-2:]
    if m >= n:
        return _qr_square_vjp(q, r, gq, gr)
    gry = gr[..., m:]
    gx = _qr_square_vjp(q, r[..., :m], gq + x[..., m:] @ _mT(gry), gr[..., :m])
    return o.concatenate([gx, q @ gry], axis=-1)


qr_p = defprim("qr", _qr_vjp, jvp=_qr_jvp, lift=_STACK)


# ------------------------------------------------------------------- the 2-norm over axes
# sqrt(sum(x^2)) over the axes; its derivative x / norm is taken as 0 where the norm is 0
def _norm_expand(t, x, axes, keepdims):
    if keepdims:
        return t
    return o.reshape(t, tuple(1 if i in axes else n for i, n in enumerate(x.shape)))


def _nonzero(ans):
    # the 0 is made on ans's backend: o.equal turns a Python number into a numpy array
    return o.where(o.equal(ans, o._scalar_like(0.0, ans)), 1.0, ans)


norm_p = defprim(
    "norm",
    lambda g, ans, x, axes, keepdims: x * _norm_expand(g / _nonzero(ans), x, axes, keepdims),
    jvp=lambda dots, ans, x, axes, keepdims: o.sum(x * dots[0], axis=axes,
                                                   keepdims=keepdims) / _nonzero(ans),
    lift=(LEADING, shift_axes))

# ------------------------------------------------------------------- not differentiable
matrix_rank_p = defprim("matrix_rank", nondiff=True)


# =========================================================================== public functions
def _float_input(op, a):
    """a as a float32/float64 Tensor (integers and bools become float64, as in numpy)."""
    a = o._t(a)
    dt = np.dtype(a.dtype)
    if dt.kind == "f" and dt.itemsize >= 4:
        return a
    if dt.kind in "biu":
        return o.astype(a, np.float64)
    raise TypeError(f"pyad.linalg.{op}: arrays of dtype {dt} are not supported; pyad's linear "
                    f"algebra differentiates real float32 and float64 arrays (cast with "
                    f".astype(np.float32) or np.float64)")


def _matrices(op, a, square=False):
    if a.ndim < 2:
        raise LinAlgError(f"pyad.linalg.{op}: expected a matrix or a stack of matrices "
                          f"(..., M, N), got a {a.ndim}-dimensional array of shape {a.shape}")
    if square and a.shape[-1] != a.shape[-2]:
        raise LinAlgError(f"pyad.linalg.{op}: expected a square matrix or a stack of them "
                          f"(..., n, n), got shape {a.shape} ({a.dtype}); the last two "
                          f"dimensions must be equal"
                          + ("; use pyad.linalg.pinv for a non-square matrix"
                             if op in ("inv", "solve") else ""))
    return a


def _square_input(op, a):
    return _matrices(op, _float_input(op, a), square=True)


def inv(a: ArrayLike) -> Tensor:
    """The inverse of a matrix, or of each matrix of a stack (numpy.linalg.inv).

    Parameters
    ----------
    a : array_like, shape (..., M, M)
        Square matrices (integers are promoted to float64).

    Returns
    -------
    Tensor, shape (..., M, M)
        ``inv(a) @ a == I``; the derivative is ``-inv(a) @ da @ inv(a)``.

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``a`` is not square, has fewer than two dimensions, or is singular.

    Examples
    --------
    >>> import numpy as np
    >>> import pyad as ad
    >>> ad.linalg.inv(ad.tensor([[2.0, 1.0], [1.0, 1.0]]))
    tensor([[ 1., -1.],
            [-1.,  2.]])
    >>> ad.grad(lambda a: ad.linalg.inv(a)[0, 0])(np.array([[2.0, 0.0], [0.0, 1.0]]))
    array([[-0.25, -0.  ],
           [-0.  , -0.  ]])
    """
    return bind(inv_p, _square_input("inv", a))


def det(a: ArrayLike) -> Tensor:
    """The determinant of a matrix, or of each matrix of a stack (numpy.linalg.det).

    Parameters
    ----------
    a : array_like, shape (..., M, M)

    Returns
    -------
    Tensor, shape (...)
        Its derivative is ``det(a) * inv(a).T``, so differentiating needs ``a`` invertible.

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``a`` is not square or has fewer than two dimensions, or (when differentiating)
        is singular.

    Examples
    --------
    >>> import numpy as np
    >>> import pyad as ad
    >>> ad.linalg.det(ad.tensor([[2.0, 1.0], [1.0, 3.0]]))
    tensor(5.)
    >>> ad.grad(ad.linalg.det)(np.array([[2.0, 1.0], [1.0, 3.0]]))
    array([[ 3., -1.],
           [-1.,  2.]])
    """
    return bind(det_p, _square_input("det", a))


def slogdet(a: ArrayLike) -> SlogdetResult:
    """The sign and the log of the absolute value of the determinant (numpy.linalg.slogdet).

    Parameters
    ----------
    a : array_like, shape (..., M, M)

    Returns
    -------
    SlogdetResult(sign, logabsdet)
        Two Tensors of shape (...). ``logabsdet`` is differentiable, with derivative
        ``inv(a).T``; ``sign`` is piecewise constant (its derivative is zero).

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``a`` is not square or has fewer than two dimensions, or (when differentiating)
        is singular.

    Examples
    --------
    >>> import numpy as np
    >>> import pyad as ad
    >>> ad.linalg.slogdet(ad.tensor([[1.0, 2.0], [3.0, 4.0]]))
    SlogdetResult(sign=tensor(-1.), logabsdet=tensor(0.69314718))
    >>> ad.grad(lambda a: ad.linalg.slogdet(a).logabsdet)(np.array([[1.0, 2.0], [3.0, 4.0]]))
    array([[-2. ,  1.5],
           [ 1. , -0.5]])
    """
    packed = bind(slogdet_p, _square_input("slogdet", a))
    return SlogdetResult(packed[..., 0], packed[..., 1])


def solve(a: ArrayLike, b: ArrayLike) -> Tensor:
    """The solution x of ``a @ x = b`` (numpy.linalg.solve, numpy 2 semantics).

    Parameters
    ----------
    a : array_like, shape (..., M, M)
    b : array_like, shape (M,) or (..., M, K)
        A 1-D ``b`` is one right-hand side vector for every matrix of ``a``; otherwise ``b``
        is a stack of matrices whose leading axes broadcast against those of ``a``.

    Returns
    -------
    Tensor, shape (..., M) or (..., M, K)

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``a`` is not square or is singular.
    ValueError
        If the shapes of ``a`` and ``b`` do not match.

    Examples
    --------
    >>> import numpy as np
    >>> import pyad as ad
    >>> a = ad.tensor([[2.0, 0.0], [0.0, 4.0]])
    >>> ad.linalg.solve(a, ad.tensor([1.0, 1.0]))
    tensor([0.5 , 0.25])
    """
    a = _square_input("solve", a)
    b = _float_input("solve", b)
    a, b = o._promote("linalg.solve", a, b)
    m = a.shape[-1]
    vector = b.ndim == 1
    if b.ndim == 0 or b.shape[-2 if not vector else 0] != m:
        raise ValueError(f"pyad.linalg.solve: b of shape {b.shape} does not match a of shape "
                         f"{a.shape}: b must be ({m},) or (..., {m}, K)")
    if vector:
        b = o.reshape(b, (m, 1))
    try:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"pyad.linalg.solve: the leading (stack) dimensions of a {a.shape} "
                         f"and b {b.shape} do not broadcast") from None
    a = o.broadcast_to(a, batch + a.shape[-2:])
    b = o.broadcast_to(b, batch + b.shape[-2:])
    x = bind(solve_p, a, b)
    return o.reshape(x, batch + (m,)) if vector else x


def cholesky(a: ArrayLike, /, *, upper: bool = False) -> Tensor:
    """The Cholesky factor of a symmetric positive-definite matrix (numpy.linalg.cholesky).

    Parameters
    ----------
    a : array_like, shape (..., M, M)
        Symmetric positive-definite; like numpy, only the lower triangle is read.
    upper : bool, optional
        Return the upper factor ``L.T`` (``a = U.T @ U``) instead of ``L`` (``a = L @ L.T``).

    Returns
    -------
    Tensor, shape (..., M, M)
        The derivatives are those of the factor of the symmetric matrix: a perturbation
        ``da`` acts as ``(da + da.T) / 2``.

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``a`` is not square or not positive definite.

    Examples
    --------
    >>> import numpy as np
    >>> import pyad as ad
    >>> ad.linalg.cholesky(ad.tensor([[4.0, 2.0], [2.0, 5.0]]))
    tensor([[2., 0.],
            [1., 2.]])
    """
    factor = bind(cholesky_p, _square_input("cholesky", a))
    return _mT(factor) if upper else factor


def _uplo(op, UPLO):
    uplo = str(UPLO).upper()
    if uplo not in ("L", "U"):
        raise ValueError(f"pyad.linalg.{op}: UPLO must be 'L' or 'U', got {UPLO!r}")
    return uplo


def eigh(a: ArrayLike, UPLO: str = "L") -> EighResult:
    """Eigenvalues and eigenvectors of a symmetric matrix (numpy.linalg.eigh).

    Parameters
    ----------
    a : array_like, shape (..., M, M)
        Symmetric matrices; only the triangle named by ``UPLO`` is read.
    UPLO : {'L', 'U'}, optional

    Returns
    -------
    EighResult(eigenvalues, eigenvectors)
        ``eigenvalues`` (..., M) in ascending order and ``eigenvectors`` (..., M, M), one
        per column. Derivatives treat ``a`` as symmetric (a perturbation acts as
        ``(da + da.T) / 2``).

        Caveats: the eigenvector derivative involves ``1 / (w_j - w_i)``, so it is undefined
        (inf/NaN) where eigenvalues repeat and large where they nearly do; eigenvalues of
        a degenerate matrix are not differentiable either. Eigenvectors are defined up to
        sign: the derivative follows LAPACK's choice, so differentiate sign-invariant
        quantities (``v * v``, ``v @ diag(f(w)) @ v.T``) or fix the sign yourself.

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``a`` is not square, or the iteration does not converge.

    Examples
    --------
    >>> import numpy as np
    >>> import pyad as ad
    >>> w, v = ad.linalg.eigh(ad.tensor([[2.0, 0.0], [0.0, 1.0]]))
    >>> w
    tensor([1., 2.])
    >>> ad.grad(lambda a: ad.linalg.eigh(a)[0][1])(np.array([[2.0, 0.0], [0.0, 1.0]]))
    array([[1., 0.],
           [0., 0.]])
    """
    packed = bind(eigh_p, _square_input("eigh", a), params=(_uplo("eigh", UPLO),))
    w, v = _eigh_split(packed)
    return EighResult(w, v)


def eigvalsh(a: ArrayLike, UPLO: str = "L") -> Tensor:
    """The eigenvalues of a symmetric matrix, ascending (numpy.linalg.eigvalsh).

    Parameters
    ----------
    a : array_like, shape (..., M, M)
        Symmetric matrices; only the triangle named by ``UPLO`` is read.
    UPLO : {'L', 'U'}, optional

    Returns
    -------
    Tensor, shape (..., M)
        The derivative of eigenvalue j is ``v_j v_j^T`` (symmetric); it is undefined where
        eigenvalues repeat, and second derivatives involve ``1 / (w_j - w_i)`` (see eigh).

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``a`` is not square, or the iteration does not converge.

    Examples
    --------
    >>> import numpy as np
    >>> import pyad as ad
    >>> ad.linalg.eigvalsh(ad.tensor([[2.0, 0.0], [0.0, -1.0]]))
    tensor([-1.,  2.])
    """
    return bind(eigvalsh_p, _square_input("eigvalsh", a), params=(_uplo("eigvalsh", UPLO),))


def svd(a: ArrayLike, full_matrices: bool = True, compute_uv: bool = True,
        hermitian: bool = False) -> Union[SVDResult, Tensor]:
    """The singular value decomposition ``a = U @ diag(S) @ Vh`` (numpy.linalg.svd).

    Parameters
    ----------
    a : array_like, shape (..., M, N)
    full_matrices : bool, optional
        numpy's default True gives U (..., M, M) and Vh (..., N, N); False gives the reduced
        factors U (..., M, K), Vh (..., K, N) with K = min(M, N). Only the reduced form (or a
        square ``a``) is differentiable: the extra vectors of the full one are not unique.
    compute_uv : bool, optional
        False returns the singular values S alone (differentiable for any shape).
    hermitian : bool, optional
        Passed to numpy (faster for symmetric ``a``).

    Returns
    -------
    SVDResult(U, S, Vh), or S when ``compute_uv`` is False
        S (..., K) in descending order.

        Caveats: the derivatives of U and Vh involve ``1 / (s_j^2 - s_i^2)`` and ``1 / s_i``:
        undefined (inf/NaN) for repeated or (with M != N) zero singular values. Singular
        vectors are defined up to a sign shared by ``u_i`` and ``v_i``; differentiate
        sign-invariant quantities (``U @ diag(f(S)) @ Vh``, ``U * U``).

    Raises
    ------
    ValueError
        When differentiating ``full_matrices=True`` factors of a non-square matrix.
    numpy.linalg.LinAlgError
        If ``a`` has fewer than two dimensions, or the SVD does not converge.

    Examples
    --------
    >>> import numpy as np
    >>> import pyad as ad
    >>> u, s, vh = ad.linalg.svd(ad.tensor([[3.0, 0.0], [0.0, -4.0]]))
    >>> s
    tensor([4., 3.])
    >>> ad.linalg.svd(ad.tensor([[3.0, 0.0], [0.0, -4.0]]), compute_uv=False)
    tensor([4., 3.])
    """
    a = _matrices("svd", _float_input("svd", a))
    if not compute_uv:
        return bind(svdvals_p, a)
    packed = bind(svd_p, a, params=(bool(full_matrices), bool(hermitian)))
    return SVDResult(*_svd_split(packed, a, bool(full_matrices)))


def svdvals(x: ArrayLike, /) -> Tensor:
    """The singular values of a matrix or stack, descending (numpy.linalg.svdvals).

    Parameters
    ----------
    x : array_like, shape (..., M, N)

    Returns
    -------
    Tensor, shape (..., min(M, N))
        The derivative of ``s_i`` is ``u_i v_i^T`` (undefined where singular values repeat).

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``x`` has fewer than two dimensions.

    Examples
    --------
    >>> import numpy as np
    >>> import pyad as ad
    >>> ad.linalg.svdvals(ad.tensor([[0.0, 2.0], [1.0, 0.0], [0.0, 0.0]]))
    tensor([2., 1.])
    """
    return bind(svdvals_p, _matrices("svdvals", _float_input("svdvals", x)))


def _scalar_param(op, name, value):
    if value is None:
        return None
    if isinstance(value, Tensor):
        value = value.data
    # a cutoff is a host number (a kernel param): arrays of any backend are read through the seam
    value = backend.to_host(value)
    if value.ndim != 0:
        raise TypeError(f"pyad.linalg.{op}: {name} must be a scalar, got an array of shape "
                        f"{value.shape}")
    return float(value)


def pinv(a: ArrayLike, rcond: Optional[float] = None, hermitian: bool = False, *,
         rtol: Optional[float] = None) -> Tensor:
    """The Moore-Penrose pseudo-inverse (numpy.linalg.pinv).

    Parameters
    ----------
    a : array_like, shape (..., M, N)
    rcond, rtol : float, optional
        Singular values at or below ``rcond * largest`` count as zero (numpy's defaults;
        give one of the two).
    hermitian : bool, optional
        Passed to numpy.

    Returns
    -------
    Tensor, shape (..., N, M)
        The derivative (Golub and Pereyra) holds where the rank is locally constant, e.g.
        for full-rank ``a``; it needs no distinct singular values.

    Raises
    ------
    ValueError
        If both ``rcond`` and ``rtol`` are given.
    numpy.linalg.LinAlgError
        If ``a`` has fewer than two dimensions.

    Examples
    --------
    >>> import numpy as np
    >>> import pyad as ad
    >>> ad.linalg.pinv(ad.tensor([[2.0], [0.0]]))
    tensor([[0.5, 0. ]])
    """
    if rcond is not None and rtol is not None:
        raise ValueError("pyad.linalg.pinv: give rcond or rtol, not both (they are the same "
                         "cutoff relative to the largest singular value)")
    a = _matrices("pinv", _float_input("pinv", a))
    return bind(pinv_p, a, params=(_scalar_param("pinv", "rcond", rcond), bool(hermitian),
                                   _scalar_param("pinv", "rtol", rtol)))


def matrix_rank(A: ArrayLike, tol: Optional[float] = None, hermitian: bool = False, *,
                rtol: Optional[float] = None) -> Tensor:
    """The rank of a matrix or of each matrix of a stack (numpy.linalg.matrix_rank); not
    differentiable (an integer result).

    Parameters
    ----------
    A : array_like, shape (M,) or (..., M, N)
    tol, rtol : float, optional
        Absolute / relative thresholds below which singular values count as zero (numpy's
        rules and defaults).
    hermitian : bool, optional

    Returns
    -------
    Tensor of int64, shape (...)

    Raises
    ------
    TypeError
        If ``tol`` or ``rtol`` is not a scalar.

    Examples
    --------
    >>> import numpy as np
    >>> import pyad as ad
    >>> ad.linalg.matrix_rank(ad.tensor([[1.0, 2.0], [2.0, 4.0]]))
    tensor(1)
    """
    A = _float_input("matrix_rank", A)
    if A.ndim < 2:      # a vector has rank 1 unless it is all zeros
        nonzero = bool(backend.namespace(A.data).any(A.data != 0))
        return wrap(backend.asarray(int(nonzero), np.int64, like=A.data))
    return bind(matrix_rank_p, A, params=(_scalar_param("matrix_rank", "tol", tol),
                                          bool(hermitian),
                                          _scalar_param("matrix_rank", "rtol", rtol)))


def qr(a: ArrayLike, mode: str = "reduced") -> Union[QRResult, Tensor]:
    """The QR factorisation ``a = Q @ R`` (numpy.linalg.qr).

    Parameters
    ----------
    a : array_like, shape (..., M, N)
    mode : {'reduced', 'complete', 'r'}, optional
        'reduced': Q (..., M, K), R (..., K, N) with K = min(M, N); 'complete': Q (..., M, M),
        R (..., M, N); 'r': R of the reduced form alone.

    Returns
    -------
    QRResult(Q, R), or R for mode 'r'
        Differentiable for every shape in the reduced form (R's diagonal must be non-zero,
        i.e. the leading min(M, N) columns independent); 'complete' is differentiable for
        M <= N, where it equals the reduced form.

    Raises
    ------
    ValueError
        For mode 'raw' or an unknown mode, or when differentiating 'complete' factors of a
        tall matrix.
    numpy.linalg.LinAlgError
        If ``a`` has fewer than two dimensions.

    Examples
    --------
    >>> import numpy as np
    >>> import pyad as ad
    >>> q, r = ad.linalg.qr(ad.tensor([[0.0, 2.0], [3.0, 1.0]]))
    >>> (q @ r).numpy().round(12) + 0.0
    array([[0., 2.],
           [3., 1.]])
    """
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"pyad.linalg.qr: mode {mode!r} is not supported; use 'reduced', "
                         f"'complete' or 'r' (numpy's 'raw' Householder form is not "
                         f"differentiable here)")
    a = _matrices("qr", _float_input("qr", a))
    packed = bind(qr_p, a, params=("complete" if mode == "complete" else "reduced",))
    q, r = _qr_split(packed, a, "complete" if mode == "complete" else "reduced")
    return r if mode == "r" else QRResult(q, r)


# ------------------------------------------------------------------- norms
def _norm_axes(axis, ndim):
    """axis as a tuple of non-negative ints in the given order."""
    items = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in items:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise TypeError(f"pyad.linalg.norm: axis must be an int or a tuple of ints, got "
                            f"{axis!r}")
        if not -ndim <= a < ndim:
            raise o._AxisError(int(a), ndim, "pyad.linalg.norm")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"pyad.linalg.norm: duplicate axes given: {axis!r}")
    return tuple(out)


def _keep(t, x, axes, keepdims):
    if not keepdims:
        return t
    return o.reshape(t, tuple(1 if i in axes else n for i, n in enumerate(x.shape)))


def _vector_norm(x, ord, axes, keepdims):
    if ord is None or (not isinstance(ord, str) and ord == 2):
        return bind(norm_p, x, params=(tuple(sorted(axes)), bool(keepdims)))
    if isinstance(ord, str):
        raise ValueError(f"pyad.linalg.norm: invalid norm order {ord!r} for vectors; use a "
                         f"number, inf or -inf (or axis=(i, j) for matrix norms)")
    if ord == math.inf:
        return o.max(o.abs(x), axis=axes, keepdims=keepdims)
    if ord == -math.inf:
        return o.min(o.abs(x), axis=axes, keepdims=keepdims)
    if ord == 0:        # the number of non-zeros: piecewise constant (a zero derivative)
        nonzero = o.not_equal(x, o._scalar_like(0.0, x))     # a 0 on x's backend
        return o.sum(o.astype(nonzero, x.dtype), axis=axes, keepdims=keepdims)
    if ord == 1:
        return o.sum(o.abs(x), axis=axes, keepdims=keepdims)
    p = float(ord)
    return o.power(o.sum(o.power(o.abs(x), p), axis=axes, keepdims=keepdims), 1.0 / p)


def _matrix_norm(x, ord, row, col, keepdims):
    if ord is None or ord == "fro":
        return bind(norm_p, x, params=(tuple(sorted((row, col))), bool(keepdims)))
    if ord in ("nuc", 2, -2):
        rest = tuple(i for i in range(x.ndim) if i not in (row, col))
        s = bind(svdvals_p, o.transpose(x, rest + (row, col)))
        out = (o.sum(s, axis=-1) if ord == "nuc" else
               o.max(s, axis=-1) if ord == 2 else o.min(s, axis=-1))
    elif ord in (1, -1):        # the largest / smallest column sum
        sums = o.sum(o.abs(x), axis=row)
        out = (o.max if ord == 1 else o.min)(sums, axis=col - 1 if col > row else col)
    elif ord in (math.inf, -math.inf):      # the largest / smallest row sum
        sums = o.sum(o.abs(x), axis=col)
        out = (o.max if ord > 0 else o.min)(sums, axis=row - 1 if row > col else row)
    else:
        raise ValueError(f"pyad.linalg.norm: invalid norm order {ord!r} for matrices; use "
                         f"None, 'fro', 'nuc', 1, -1, 2, -2, inf or -inf")
    return _keep(out, x, (row, col), keepdims)


def norm(x: ArrayLike, ord: Union[None, int, float, str] = None,
         axis: Union[None, int, Tuple[int, ...]] = None, keepdims: bool = False) -> Tensor:
    """Vector and matrix norms (numpy.linalg.norm).

    Parameters
    ----------
    x : array_like
    ord : {None, 'fro', 'nuc', inf, -inf, int/float}, optional
        Vectors: None/2 (Euclidean), inf, -inf, 0 (number of non-zeros), 1 and any p
        (``sum(|x|**p)**(1/p)``). Matrices: None/'fro', 'nuc', 1, -1, 2, -2, inf, -inf.
    axis : int or pair of ints, optional
        An int selects vector norms along it, a pair matrix norms over those axes. None: a
        1-D ``x`` is a vector, a 2-D ``x`` a matrix, and with ``ord=None`` any ``x`` is
        flattened to one vector.
    keepdims : bool, optional

    Returns
    -------
    Tensor
        The derivative of the 2-norm (and Frobenius norm) at 0 is 0, as in autograd and JAX.
        The 2 / -2 / 'nuc' matrix norms are differentiated through the singular values
        (undefined where the extreme singular value repeats); 1 / inf norms split ties evenly.

    Raises
    ------
    ValueError
        For an invalid ``ord``, duplicate axes, or more than two axes (or ``ord`` given for an
        array of more than two dimensions without ``axis``).
    numpy.exceptions.AxisError
        For an axis out of range.

    Examples
    --------
    >>> import numpy as np
    >>> import pyad as ad
    >>> ad.linalg.norm(ad.tensor([3.0, 4.0]))
    tensor(5.)
    >>> ad.linalg.norm(ad.tensor([[1.0, -2.0], [3.0, 4.0]]), ord=1)
    tensor(6.)
    >>> ad.grad(ad.linalg.norm)(np.zeros(3))
    array([0., 0., 0.])
    """
    x = _float_input("norm", x)
    nd = x.ndim
    if axis is None:
        if ord is None:
            return bind(norm_p, x, params=(tuple(range(nd)), bool(keepdims)))
        if nd not in (1, 2):
            raise ValueError(f"pyad.linalg.norm: ord={ord!r} needs a 1-D or 2-D array, got "
                             f"shape {x.shape}; pass axis=int (vector norms) or axis=(i, j) "
                             f"(matrix norms)")
        axes = tuple(range(nd))
    else:
        axes = _norm_axes(axis, nd)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes, keepdims)
    if len(axes) == 2:
        return _matrix_norm(x, ord, axes[0], axes[1], keepdims)
    raise ValueError(f"pyad.linalg.norm: axis={axis!r} names {len(axes)} axes; norms take one "
                     f"(vector) or two (matrix); use vector_norm for a norm over more axes")


def vector_norm(x: ArrayLike, /, *, axis: Union[None, int, Tuple[int, ...]] = None,
                keepdims: bool = False, ord: Union[int, float] = 2) -> Tensor:
    """A vector norm over one axis, several, or all of them (numpy.linalg.vector_norm).

    Parameters
    ----------
    x : array_like
    axis : int or tuple of ints, optional
        None: over all elements.
    keepdims : bool, optional
    ord : int, float, inf or -inf, optional

    Returns
    -------
    Tensor
        As :func:`norm`; the derivative of the 2-norm at 0 is 0.

    Raises
    ------
    ValueError
        For a string ``ord`` or duplicate axes.

    Examples
    --------
    >>> import numpy as np
    >>> import pyad as ad
    >>> ad.linalg.vector_norm(ad.tensor([[3.0, 0.0], [0.0, 4.0]]))
    tensor(5.)
    """
    x = _float_input("vector_norm", x)
    axes = tuple(range(x.ndim)) if axis is None else _norm_axes(axis, x.ndim)
    return _vector_norm(x, ord, axes, keepdims)


def matrix_norm(x: ArrayLike, /, *, keepdims: bool = False,
                ord: Union[int, float, str] = "fro") -> Tensor:
    """A matrix norm over the last two axes (numpy.linalg.matrix_norm).

    Parameters
    ----------
    x : array_like, shape (..., M, N)
    keepdims : bool, optional
    ord : {'fro', 'nuc', 1, -1, 2, -2, inf, -inf}, optional

    Returns
    -------
    Tensor, shape (...)

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``x`` has fewer than two dimensions.
    ValueError
        For an invalid ``ord``.

    Examples
    --------
    >>> import numpy as np
    >>> import pyad as ad
    >>> ad.linalg.matrix_norm(ad.tensor([[3.0, 0.0], [0.0, 4.0]]), ord=2)
    tensor(4.)
    """
    x = _matrices("matrix_norm", _float_input("matrix_norm", x))
    return _matrix_norm(x, ord, x.ndim - 2, x.ndim - 1, keepdims)


def cond(x: ArrayLike, p: Union[None, int, float, str] = None) -> Tensor:
    """The condition number of a matrix or stack (numpy.linalg.cond).

    Parameters
    ----------
    x : array_like, shape (..., M, N)
    p : {None, 2, -2, 'fro', 'nuc', 1, -1, inf, -inf}, optional
        None/2: ``s_max / s_min``; -2: its inverse; otherwise ``norm(x, p) * norm(inv(x), p)``
        (square ``x``).

    Returns
    -------
    Tensor, shape (...)

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``x`` has fewer than two dimensions, or (for p other than None/2/-2) is not square
        or is singular.

    Examples
    --------
    >>> import numpy as np
    >>> import pyad as ad
    >>> ad.linalg.cond(ad.tensor([[4.0, 0.0], [0.0, 0.5]]))
    tensor(8.)
    """
    x = _matrices("cond", _float_input("cond", x))
    if p is None or (not isinstance(p, str) and p in (2, -2)):
        s = bind(svdvals_p, x)
        big, small = s[..., 0], s[..., -1]
        return big / small if p != -2 else small / big
    _matrices("cond", x, square=True)
    ax = (-2, -1)
    return norm(x, p, axis=ax) * norm(bind(inv_p, x), p, axis=ax)


def matrix_transpose(x: ArrayLike, /) -> Tensor:
    """Swap the last two axes (numpy.linalg.matrix_transpose).

    Parameters
    ----------
    x : array_like, shape (..., M, N)

    Returns
    -------
    Tensor, shape (..., N, M)

    Raises
    ------
    ValueError
        If ``x`` has fewer than two dimensions.

    Examples
    --------
    >>> import numpy as np
    >>> import pyad as ad
    >>> ad.linalg.matrix_transpose(ad.tensor([[1.0, 2.0]]))
    tensor([[1.],
            [2.]])
    """
    x = o._t(x)
    if x.ndim < 2:
        raise ValueError(f"pyad.linalg.matrix_transpose: needs at least 2 dimensions, got "
                         f"shape {x.shape}")
    return _mT(x)


# ------------------------------------------------------------------- products and powers
def matrix_power(a: ArrayLike, n: int) -> Tensor:
    """A square matrix (or stack) raised to an integer power (numpy.linalg.matrix_power).

    Parameters
    ----------
    a : array_like, shape (..., M, M)
    n : int
        Positive: repeated products (by squaring); 0: the identity (its derivative is zero);
        negative: powers of ``inv(a)``.

    Returns
    -------
    Tensor, shape (..., M, M)
        Integer matrices stay integers for n >= 0, as in numpy.

    Raises
    ------
    TypeError
        If ``n`` is not an integer.
    numpy.linalg.LinAlgError
        If ``a`` is not square, or is singular and ``n < 0``.

    Examples
    --------
    >>> import numpy as np
    >>> import pyad as ad
    >>> ad.linalg.matrix_power(ad.tensor([[1.0, 1.0], [0.0, 1.0]]), 3)
    tensor([[1., 3.],
            [0., 1.]])
    >>> ad.linalg.matrix_power(ad.tensor([[2.0, 0.0], [0.0, 4.0]]), -1)
    tensor([[0.5 , 0.  ],
            [0.  , 0.25]])
    """
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"pyad.linalg.matrix_power: the exponent must be an integer, got "
                        f"{n!r}") from None
    a = _matrices("matrix_power", o._t(a), square=True)
    if n == 0:
        # a new identity per matrix (zeros + eye broadcasts into a fresh array)
        return wrap(backend.zeros(a.shape, a.dtype, a.data)
                    + backend.eye(a.shape[-1], a.dtype, a.data))
    if n < 0:
        a, n = inv(a), -n
    if n == 1:
        return a
    if n == 2:
        return a @ a
    if n == 3:
        return (a @ a) @ a
    result = z = None
    while n > 0:            # binary powering: square z, multiply it in where a bit is set
        z = a if z is None else z @ z
        n, bit = divmod(n, 2)
        if bit:
            result = z if result is None else result @ z
    return result


def _chain_splits(dims):
    """The cheapest parenthesisation of a chain of products: split[i][j] is where the
    product of matrices i..j divides (dims: the n + 1 boundary sizes)."""
    n = len(dims) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for span in range(1, n):
        for i in range(n - span):
            j = i + span
            best = None
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if best is None or c < best:
                    best, split[i][j] = c, k
            cost[i][j] = best
    return split


def multi_dot(arrays: Sequence[ArrayLike], *, out: None = None) -> Tensor:
    """The product of two or more matrices, in the cheapest order (numpy.linalg.multi_dot).

    Parameters
    ----------
    arrays : sequence of array_like
        2-D arrays, except that the first may be a 1-D row vector and the last a 1-D column
        vector.
    out : None
        Not supported (Tensors are immutable).

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        For fewer than two arrays, arrays of the wrong dimensions, or mismatched shapes.
    TypeError
        If ``out`` is given.

    Examples
    --------
    >>> import numpy as np
    >>> import pyad as ad
    >>> ad.linalg.multi_dot([ad.tensor([1.0, 2.0]), ad.tensor([[1.0, 0.0], [0.0, 2.0]]),
    ...                      ad.tensor([3.0, 1.0])])
    tensor(7.)
    """
    if out is not None:
        raise TypeError("pyad.linalg.multi_dot: out= is not supported (Tensors are immutable)")
    ts = [o._t(a) for a in arrays]
    if len(ts) < 2:
        raise ValueError(f"pyad.linalg.multi_dot: expected at least two arrays, got {len(ts)}")
    first_vec, last_vec = ts[0].ndim == 1, ts[-1].ndim == 1
    if len(ts) == 2:
        return o.dot(ts[0], ts[1]) if ts[0].ndim <= 2 and ts[1].ndim <= 2 else \
            _multi_dot_dims(ts)
    if first_vec:
        ts[0] = o.reshape(ts[0], (1, -1))
    if last_vec:
        ts[-1] = o.reshape(ts[-1], (-1, 1))
    _multi_dot_dims(ts)
    dims = [t.shape[0] for t in ts] + [ts[-1].shape[1]]
    split = _chain_splits(dims)

    def product(i, j):
        if i == j:
            return ts[i]
        k = split[i][j]
        return o.matmul(product(i, k), product(k + 1, j))
    result = product(0, len(ts) - 1)
    if first_vec and last_vec:
        return o.reshape(result, ())
    if first_vec:
        return o.reshape(result, result.shape[1:])
    if last_vec:
        return o.reshape(result, result.shape[:1])
    return result


def _multi_dot_dims(ts):
    for i, t in enumerate(ts):
        if t.ndim != 2:
            raise ValueError(f"pyad.linalg.multi_dot: array {i} has shape {t.shape}; arrays "
                             f"must be 2-D (the first and last may be 1-D)")
    for i in range(len(ts) - 1):
        if ts[i].shape[1] != ts[i + 1].shape[0]:
            raise ValueError(f"pyad.linalg.multi_dot: shapes {ts[i].shape} (array {i}) and "
                             f"{ts[i + 1].shape} (array {i + 1}) are not aligned")
    return ts


def lstsq(a: ArrayLike, b: ArrayLike, rcond: Optional[float] = None
          ) -> Tuple[Tensor, Tensor, int, Tensor]:
    """The least-squares solution of ``a @ x = b`` (numpy.linalg.lstsq).

    Parameters
    ----------
    a : array_like, shape (M, N)
    b : array_like, shape (M,) or (M, K)
    rcond : float, optional
        Singular values at or below ``rcond * largest`` count as zero; default
        ``eps * max(M, N)``.

    Returns
    -------
    x : Tensor, shape (N,) or (N, K)
        ``pinv(a) @ b``, the minimum-norm solution; differentiable where the rank is locally
        constant.
    residuals : Tensor, shape (1,) or (K,), or (0,)
        The squared residual norms, when ``a`` has full column rank and M > N.
    rank : int
    s : Tensor, shape (min(M, N),)
        The singular values of ``a``.

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``a`` is not 2-D or ``b`` has more than two dimensions.
    ValueError
        If the shapes of ``a`` and ``b`` do not match.

    Examples
    --------
    >>> import numpy as np
    >>> import pyad as ad
    >>> a = ad.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    >>> x, res, rank, s = ad.linalg.lstsq(a, ad.tensor([1.0, 2.0, 2.0]))
    >>> x, res, rank
    (tensor([1., 2.]), tensor([4.]), 2)
    """
    a = _float_input("lstsq", a)
    b = _float_input("lstsq", b)
    a, b = o._promote("linalg.lstsq", a, b)
    if a.ndim != 2 or b.ndim not in (1, 2):
        raise LinAlgError(f"pyad.linalg.lstsq: expects a (M, N) and b (M,) or (M, K), got "
                          f"shapes {a.shape} and {b.shape}")
    m, n = a.shape
    if b.shape[0] != m:
        raise ValueError(f"pyad.linalg.lstsq: a {a.shape} and b {b.shape} do not match: b "
                         f"needs {m} rows")
    if rcond is None:
        rcond = float(np.finfo(np.dtype(a.dtype)).eps) * max(m, n)
    s = bind(svdvals_p, a)
    sv = backend.to_host(s.data)       # the rank is a host int (a data-dependent decision)
    rank = int(np.sum(sv > rcond * sv.max())) if sv.size else 0
    x = o.matmul(pinv(a, rcond=rcond), b)
    if m > n and rank == n:
        residuals = o.sum(o.square(o.subtract(b, o.matmul(a, x))), axis=0)
        if b.ndim == 1:
            residuals = o.reshape(residuals, (1,))
    else:
        residuals = wrap(backend.zeros((0,), a.dtype, a.data))
    return x, residuals, rank, s


NUMPY_FUNCTIONS = {
    np.linalg.inv: inv, np.linalg.det: det, np.linalg.slogdet: slogdet,
    np.linalg.solve: solve, np.linalg.cholesky: cholesky, np.linalg.eigh: eigh,
    np.linalg.eigvalsh: eigvalsh, np.linalg.svd: svd, np.linalg.pinv: pinv,
    np.linalg.matrix_rank: matrix_rank, np.linalg.qr: qr, np.linalg.norm: norm,
    np.linalg.matrix_power: matrix_power, np.linalg.multi_dot: multi_dot,
    np.linalg.lstsq: lstsq, np.linalg.cond: cond,
}
for _name, _ours in (("svdvals", svdvals), ("vector_norm", vector_norm),
                     ("matrix_norm", matrix_norm), ("matrix_transpose", matrix_transpose)):
    if hasattr(np.linalg, _name):       # numpy >= 2
        NUMPY_FUNCTIONS[getattr(np.linalg, _name)] = _ours

# the public names of pyad.linalg (kept out of the top-level namespace, as numpy does)
LINALG_NAMES = ("inv", "det", "slogdet", "solve", "cholesky", "eigh", "eigvalsh", "svd",
                "svdvals", "pinv", "matrix_rank", "qr", "norm", "vector_norm", "matrix_norm",
                "cond", "matrix_transpose", "matrix_power", "multi_dot", "lstsq",
                "LinAlgError", "SlogdetResult", "EighResult", "SVDResult", "QRResult")
