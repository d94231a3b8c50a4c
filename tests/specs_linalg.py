"""Op specs of the linalg family (see tests/op_specs.py, which imports this file).

Inputs come from the "real" domain (entries in [-2, 2]) and each case's fn/ref maps them to
where the function is smooth and well conditioned: a shifted diagonal for inverses and
determinants, x @ x.T + n I for cholesky, symmetrised matrices with well-separated
eigenvalues for eigh (checked in test_linalg_spec_inputs_are_well_conditioned below).
Eigenvector and singular-vector outputs are made sign-invariant (v * v, U diag(f(S)) Vh) or
have their sign fixed from a dominant diagonal, so that central differences are meaningful.
"""
import numpy as np

import pyad as ad
from op_specs import C, SPECS, const, spec

L = ad.linalg


# ----------------------------------------------------------------------------- helpers
# each works on pyad Tensors (fn) and on numpy arrays (ref) alike
def _is_t(x):
    return isinstance(x, ad.Tensor)


def _T(x):
    return ad.swapaxes(x, -1, -2) if _is_t(x) else np.swapaxes(x, -1, -2)


def _eye(x):
    return const(np.eye(x.shape[-1], dtype=x.dtype), x)


def _shift(x, c=3.0):
    """x + c I: away from singular for entries in [-2, 2]."""
    return x + c * _eye(x)


def _sym(x):
    return (x + _T(x)) * 0.5


def _spd(x):
    """x x^T + n I: symmetric positive definite."""
    p = x @ _T(x)
    return p + p.shape[-1] * _eye(p)


def _spread(x):
    """A symmetric matrix with eigenvalues at least ~0.5 apart: sym(x) / 4 + diag(0, 2, 4..)."""
    n = x.shape[-1]
    return _sym(x) * 0.25 + const(np.diag(np.arange(n) * 2.0).astype(x.dtype), x)


def _diag(x):
    return ad.sum(x * _eye(x), axis=-1) if _is_t(x) else np.sum(x * _eye(x), axis=-1)


def _sign(x):
    return ad.sign(x) if _is_t(x) else np.sign(x)


def _fix_sign(v):
    """Columns of v with a positive diagonal entry (for near-diagonal v)."""
    return v * ad.expand_dims(_sign(_diag(v)), -2) if _is_t(v) else \
        v * np.expand_dims(np.sign(_diag(v)), -2)


def _gauge_free(u, s, vh):
    """U diag(exp(S / 4)) Vh: unchanged by a sign flip of a pair of singular vectors."""
    w = ad.exp(s * 0.25) if _is_t(s) else np.exp(s * 0.25)
    return (u * (ad.expand_dims(w, -2) if _is_t(w) else np.expand_dims(w, -2))) @ vh


def _eig_gauge_free(w, v):
    """V diag(w^2) V^T."""
    return (v * (ad.expand_dims(w * w, -2) if _is_t(w) else np.expand_dims(w * w, -2))) @ _T(v)


def _lib(x):
    return L if _is_t(x) else np.linalg


# ----------------------------------------------------------------------------- inverse, det
spec("inv",
     *[C("inv", lambda x: L.inv(_shift(x)), lambda x: np.linalg.inv(_shift(x)), [s])
       for s in [(2, 2), (3, 3), (4, 4), (2, 3, 3), (1, 1)]],
     C("inv", lambda x: L.inv(_shift(x.T)), lambda x: np.linalg.inv(_shift(x.T)), [(3, 3)],
       label="transposed"),
     C("inv", lambda x: L.inv(_shift(x[:, ::2])), lambda x: np.linalg.inv(_shift(x[:, ::2])),
       [(3, 6)], label="strided"),
     C("inv", lambda x: np.linalg.inv(_shift(x)), lambda x: np.linalg.inv(_shift(x)),
       [(3, 3)], label="np.linalg-dispatch"),
     C("inv", lambda x: L.matrix_power(_shift(x), -2),
       lambda x: np.linalg.matrix_power(_shift(x), -2), [(3, 3)], label="matrix_power-2"),
     C("inv", lambda x: L.matrix_power(_shift(x), -5),
       lambda x: np.linalg.matrix_power(_shift(x), -5), [(2, 2, 2)],
       label="matrix_power-5-stacked"),
     C("inv", lambda x: L.cond(_shift(x), 1), lambda x: np.linalg.cond(_shift(x), 1),
       [(3, 3)], label="cond-p1"),
     C("inv", lambda x: L.inv(_shift(x, 3)), lambda x: np.linalg.inv(_shift(x, 3)), [(3, 3)],
       label="int64", grad=False, dtypes=(np.int64,)))
spec("det",
     *[C("det", lambda x: L.det(_shift(x)), lambda x: np.linalg.det(_shift(x)), [s])
       for s in [(2, 2), (3, 3), (4, 4), (2, 3, 3), (2, 2, 2, 2)]],
     C("det", lambda x: L.det(_shift(x)), lambda x: np.linalg.det(_shift(x)), [(1, 1)],
       order2=False),         # linear: its Hessian is 0 and the batched check compares noise
     C("det", lambda x: L.det(_shift(x, -3.0)), lambda x: np.linalg.det(_shift(x, -3.0)),
       [(3, 3)], label="negative"),
     C("det", lambda x: L.det(_shift(x.T)), lambda x: np.linalg.det(_shift(x.T)), [(3, 3)],
       label="transposed"),
     C("det", lambda x: L.det(_shift(x[::2])), lambda x: np.linalg.det(_shift(x[::2])),
       [(6, 3)], label="strided"),
     C("det", lambda x: np.linalg.det(_shift(x)), lambda x: np.linalg.det(_shift(x)),
       [(3, 3)], label="np.linalg-dispatch"))
spec("slogdet",
     *[C("slogdet", lambda x: L.slogdet(_shift(x))[1],
         lambda x: np.linalg.slogdet(_shift(x))[1], [s]) for s in [(2, 2), (3, 3), (4, 4)]],
     C("slogdet", lambda x: L.slogdet(_shift(x, -3.0)).logabsdet,
       lambda x: np.linalg.slogdet(_shift(x, -3.0)).logabsdet, [(2, 3, 3)],
       label="stacked-negative"),
     C("slogdet", lambda x: (lambda s, l: s * ad.exp(l))(*L.slogdet(_shift(x, -3.0))),
       lambda x: (lambda s, l: s * np.exp(l))(*np.linalg.slogdet(_shift(x, -3.0))), [(3, 3)],
       label="sign*exp(logdet)"),
     C("slogdet", lambda x: L.slogdet(_shift(x, -3.0))[0],
       lambda x: np.linalg.slogdet(_shift(x, -3.0))[0], [(2, 3, 3)], label="sign"),
     C("slogdet", lambda x: L.slogdet(_shift(x.T))[1], lambda x: np.linalg.slogdet(_shift(x.T))[1],
       [(3, 3)], label="transposed"),
     C("slogdet", lambda x: np.linalg.slogdet(_spd(x))[1],
       lambda x: np.linalg.slogdet(_spd(x))[1], [(3, 3)], label="np.linalg-dispatch-spd"))


# ----------------------------------------------------------------------------- solve
def _solve_case(sa, sb, label=None, fa=lambda a: a):
    return C("solve", lambda a, b: L.solve(_shift(fa(a)), b),
             lambda a, b: np.linalg.solve(_shift(fa(a)), b), [sa, sb], label=label)


spec("solve",
     _solve_case((3, 3), (3,), "vector"),
     _solve_case((3, 3), (3, 2), "matrix"),
     _solve_case((2, 2), (2, 2)),
     _solve_case((4, 4), (4, 3)),
     _solve_case((2, 3, 3), (2, 3, 2), "stacked"),
     _solve_case((2, 3, 3), (3,), "stacked,vector"),
     _solve_case((2, 3, 3), (3, 2), "stacked-a,matrix-b"),
     _solve_case((3, 3), (2, 3, 1), "matrix-a,stacked-b"),
     _solve_case((3, 1, 2, 2), (2, 2, 1), "broadcast-stacks"),
     _solve_case((3, 3), (3, 2), "transposed-a", fa=lambda a: a.T),
     C("solve", lambda a, b: L.solve(_shift(a), b[::2, ::-1]),
       lambda a, b: np.linalg.solve(_shift(a), b[::2, ::-1]), [(3, 3), (6, 2)],
       label="strided-b"),
     C("solve", lambda a, b: np.linalg.solve(_shift(a), b),
       lambda a, b: np.linalg.solve(_shift(a), b), [(3, 3), (3,)], label="np.linalg-dispatch"),
     C("solve", lambda a: L.solve(_shift(a), const(np.ones(3), a)),
       lambda a: np.linalg.solve(_shift(a), np.ones(3)), [(3, 3)], label="a-only,f64-b",
       dtypes=(np.float64,)))


# ----------------------------------------------------------------------------- cholesky
spec("cholesky",
     *[C("cholesky", lambda x: L.cholesky(_spd(x)), lambda x: np.linalg.cholesky(_spd(x)), [s])
       for s in [(2, 2), (3, 3), (4, 4), (2, 3, 3), (3, 2)]],
     C("cholesky", lambda x: L.cholesky(_spd(x), upper=True),
       lambda x: np.linalg.cholesky(_spd(x), upper=True), [(3, 3)], label="upper"),
     C("cholesky", lambda x: L.cholesky(_spd(x.T)), lambda x: np.linalg.cholesky(_spd(x.T)),
       [(3, 4)], label="transposed"),
     C("cholesky", lambda x: L.cholesky(_spd(x[:, ::2])),
       lambda x: np.linalg.cholesky(_spd(x[:, ::2])), [(3, 6)], label="strided"),
     C("cholesky", lambda x: np.linalg.cholesky(_spd(x)),
       lambda x: np.linalg.cholesky(_spd(x)), [(3, 3)], label="np.linalg-dispatch"),
     # 2 * sum(log(diag(L))) = logdet: the classic Gaussian log-likelihood term
     C("cholesky", lambda x: ad.sum(ad.log(_diag(L.cholesky(_spd(x)))), axis=-1),
       lambda x: np.sum(np.log(_diag(np.linalg.cholesky(_spd(x)))), axis=-1), [(2, 4, 4)],
       label="logdet"))


# ----------------------------------------------------------------------------- eigh, eigvalsh
def _eigh_case(shape, out, label, prep=_spread, uplo="L"):
    return C("eigh", lambda x: out(*_lib(x).eigh(prep(x), UPLO=uplo)),
             lambda x: out(*np.linalg.eigh(prep(x), UPLO=uplo)), [shape], label=label)


spec("eigh",
     _eigh_case((2, 2), lambda w, v: w, "2x2,w"),
     _eigh_case((3, 3), lambda w, v: w, "3x3,w", prep=_sym),
     _eigh_case((4, 4), lambda w, v: w, "4x4,w"),
     _eigh_case((3, 3), lambda w, v: _fix_sign(v), "3x3,v-sign-fixed"),
     _eigh_case((4, 4), lambda w, v: _fix_sign(v), "4x4,v-sign-fixed"),
     _eigh_case((2, 3, 3), lambda w, v: _fix_sign(v), "stacked,v-sign-fixed"),
     _eigh_case((4, 4), lambda w, v: v * v, "4x4,v*v", prep=_sym),
     _eigh_case((2, 3, 3), lambda w, v: v * v, "stacked,v*v", prep=_sym),
     _eigh_case((3, 3), _eig_gauge_free, "3x3,V diag(w^2) V^T", prep=_sym),
     _eigh_case((4, 4), lambda w, v: v * v, "4x4,v*v,UPLO=U", prep=_sym, uplo="U"),
     _eigh_case((3, 3), lambda w, v: _fix_sign(v), "transposed",
                prep=lambda x: _spread(_T(x))),
     C("eigh", lambda x: L.eigh(_spread(x[:, ::2])).eigenvectors ** 2,
       lambda x: np.linalg.eigh(_spread(x[:, ::2])).eigenvectors ** 2, [(3, 6)],
       label="strided"))
spec("eigvalsh",
     *[C("eigvalsh", lambda x: L.eigvalsh(_sym(x)), lambda x: np.linalg.eigvalsh(_sym(x)), [s])
       for s in [(2, 2), (3, 3), (4, 4), (2, 3, 3)]],
     C("eigvalsh", lambda x: L.eigvalsh(_sym(x), UPLO="U"),
       lambda x: np.linalg.eigvalsh(_sym(x), UPLO="U"), [(3, 3)], label="UPLO=U"),
     C("eigvalsh", lambda x: L.eigvalsh(_spd(x.T)), lambda x: np.linalg.eigvalsh(_spd(x.T)),
       [(3, 3)], label="spd-transposed"),
     C("eigvalsh", lambda x: np.linalg.eigvalsh(_spread(x[::2])),
       lambda x: np.linalg.eigvalsh(_spread(x[::2])), [(6, 3)], label="np.linalg-strided"))


# ----------------------------------------------------------------------------- svd
def _svd_case(shape, out, label, full_matrices=False, prep=lambda x: x):
    return C("svd", lambda x: out(*_lib(x).svd(prep(x), full_matrices=full_matrices)),
             lambda x: out(*np.linalg.svd(prep(x), full_matrices=full_matrices)), [shape],
             label=label)


spec("svd",
     _svd_case((3, 3), lambda u, s, vh: s, "3x3,S,full"),
     _svd_case((4, 3), lambda u, s, vh: s, "4x3,S"),
     _svd_case((2, 2), _gauge_free, "2x2,U f(S) Vh", full_matrices=True),
     _svd_case((3, 3), _gauge_free, "3x3,U f(S) Vh"),
     _svd_case((4, 3), _gauge_free, "4x3,U f(S) Vh"),
     _svd_case((3, 4), _gauge_free, "3x4,U f(S) Vh"),
     _svd_case((4, 4), lambda u, s, vh: u * u, "4x4,U*U"),
     _svd_case((4, 3), lambda u, s, vh: u * u, "4x3,U*U"),
     _svd_case((3, 4), lambda u, s, vh: vh * vh, "3x4,Vh*Vh"),
     _svd_case((4, 2), lambda u, s, vh: vh * vh, "4x2,Vh*Vh"),
     _svd_case((2, 4, 3), _gauge_free, "stacked,U f(S) Vh"),
     _svd_case((2, 3, 4), lambda u, s, vh: u * u, "stacked-wide,U*U"),
     _svd_case((3, 4), _gauge_free, "transposed", prep=_T),
     _svd_case((3, 8), lambda u, s, vh: vh * vh, "strided", prep=lambda x: x[:, ::2]),
     C("svd", lambda x: L.svd(x, full_matrices=True)[0][:, :2] ** 2,
       lambda x: np.linalg.svd(x, full_matrices=True)[0][:, :2] ** 2, [(2, 4)],
       label="full_matrices-wide-forward", grad=False))
spec("svdvals",
     *[C("svdvals", L.svdvals, np.linalg.svdvals, [s]) for s in [(3, 3), (4, 3), (3, 4),
                                                                  (2, 4, 3), (1, 3)]],
     C("svdvals", lambda x: L.svd(x, compute_uv=False),
       lambda x: np.linalg.svd(x, compute_uv=False), [(4, 4)], label="compute_uv=False"),
     C("svdvals", lambda x: np.linalg.svd(x.T, compute_uv=False),
       lambda x: np.linalg.svd(x.T, compute_uv=False), [(3, 4)],
       label="np.linalg-dispatch-transposed"),
     C("svdvals", lambda x: L.norm(x, "nuc"), lambda x: np.linalg.norm(x, "nuc"), [(3, 4)],
       label="norm-nuc"),
     C("svdvals", lambda x: L.norm(x, 2), lambda x: np.linalg.norm(x, 2), [(4, 3)],
       label="norm-2"),
     C("svdvals", lambda x: L.norm(x, -2, axis=(2, 0), keepdims=True),
       lambda x: np.linalg.norm(x, -2, axis=(2, 0), keepdims=True), [(3, 2, 4)],
       label="norm--2,axis=(2,0),keepdims"),
     C("svdvals", lambda x: L.matrix_norm(x, ord=2), lambda x: np.linalg.matrix_norm(x, ord=2),
       [(2, 3, 3)], label="matrix_norm-2"),
     C("svdvals", L.cond, np.linalg.cond, [(3, 3)], label="cond"),
     C("svdvals", lambda x: L.cond(x, -2), lambda x: np.linalg.cond(x, -2), [(2, 3, 3)],
       label="cond--2-stacked"))


# ----------------------------------------------------------------------------- pinv, lstsq
spec("pinv",
     *[C("pinv", L.pinv, np.linalg.pinv, [s]) for s in [(4, 3), (3, 4), (2, 4, 3), (1, 3)]],
     C("pinv", lambda x: L.pinv(_shift(x)), lambda x: np.linalg.pinv(_shift(x)), [(3, 3)],
       label="square"),
     C("pinv", lambda x: L.pinv(x.T, rcond=1e-10), lambda x: np.linalg.pinv(x.T, rcond=1e-10),
       [(4, 3)], label="transposed,rcond"),
     C("pinv", lambda x: np.linalg.pinv(x[::2]), lambda x: np.linalg.pinv(x[::2]), [(8, 3)],
       label="np.linalg-dispatch-strided"),
     C("pinv", lambda a, b: L.lstsq(a, b)[0], lambda a, b: np.linalg.lstsq(a, b)[0],
       [(5, 3), (5,)], label="lstsq-x"),
     C("pinv", lambda a, b: L.lstsq(a, b)[1], lambda a, b: np.linalg.lstsq(a, b)[1],
       [(5, 3), (5, 2)], label="lstsq-residuals"),
     C("pinv", lambda a, b: np.linalg.lstsq(a, b)[0], lambda a, b: np.linalg.lstsq(a, b)[0],
       [(3, 4), (3, 2)], label="lstsq-underdetermined-dispatch"))
spec("matrix_rank",
     C("matrix_rank", L.matrix_rank, np.linalg.matrix_rank, [(3, 3)], grad=False),
     C("matrix_rank", lambda x: L.matrix_rank(x @ _T(x)),
       lambda x: np.linalg.matrix_rank(x @ _T(x)), [(2, 4, 2)], label="rank-deficient-stacked",
       grad=False),
     C("matrix_rank", lambda x: np.linalg.matrix_rank(x.T, tol=0.5),
       lambda x: np.linalg.matrix_rank(x.T, tol=0.5), [(4, 3)], label="tol,dispatch",
       grad=False),
     C("matrix_rank", L.matrix_rank, np.linalg.matrix_rank, [(3, 4)], label="int64",
       grad=False, dtypes=(np.int64,)))


# ----------------------------------------------------------------------------- qr
def _qr_case(shape, out, label, mode="reduced", prep=lambda x: x):
    return C("qr", lambda x: out(*_lib(x).qr(prep(x), mode=mode)),
             lambda x: out(*np.linalg.qr(prep(x), mode=mode)), [shape], label=label)


spec("qr",
     _qr_case((3, 3), lambda q, r: q, "3x3,Q"),
     _qr_case((3, 3), lambda q, r: r, "3x3,R"),
     _qr_case((2, 2), lambda q, r: (q @ r) ** 2, "2x2,(QR)^2"),
     _qr_case((4, 4), lambda q, r: q, "4x4,Q"),
     _qr_case((4, 3), lambda q, r: q, "4x3,Q"),
     _qr_case((4, 3), lambda q, r: r, "4x3,R"),
     _qr_case((3, 5), lambda q, r: q, "3x5,Q"),
     _qr_case((3, 5), lambda q, r: r, "3x5,R"),
     _qr_case((2, 4, 3), lambda q, r: q, "stacked,Q"),
     _qr_case((2, 3, 4), lambda q, r: r, "stacked-wide,R"),
     _qr_case((3, 4), lambda q, r: q, "complete-wide,Q", mode="complete"),
     _qr_case((3, 3), lambda q, r: r, "complete-square,R", mode="complete"),
     _qr_case((3, 4), lambda q, r: r, "transposed,R", prep=_T),
     _qr_case((4, 6), lambda q, r: q, "strided,Q", prep=lambda x: x[:, ::2]),
     C("qr", lambda x: L.qr(x, mode="r"), lambda x: np.linalg.qr(x, mode="r"), [(4, 3)],
       label="mode=r"))


# ----------------------------------------------------------------------------- norm
def _norm_case(shape, label, **kw):
    return C("norm", lambda x: L.norm(x, **kw), lambda x: np.linalg.norm(x, **kw), [shape],
             label=label)


spec("norm",
     _norm_case((4,), "vector"),
     _norm_case((3, 4), "matrix-fro"),
     _norm_case((2, 3, 4), "3d-flattened"),
     _norm_case((2, 3, 4), "3d-flattened-keepdims", keepdims=True),
     _norm_case((3, 4), "fro", ord="fro"),
     _norm_case((5,), "ord=2", ord=2),
     _norm_case((2, 3, 4), "axis=1", axis=1),
     _norm_case((2, 3, 4), "axis=-1,keepdims", axis=-1, keepdims=True),
     _norm_case((2, 3, 4), "fro,axis=(2,0)", ord="fro", axis=(2, 0)),
     _norm_case((2, 3, 4), "axis=(0,1),keepdims", axis=(0, 1), keepdims=True),
     _norm_case((3, 4), "axis=0,ord=2", axis=0, ord=2),
     C("norm", L.norm, np.linalg.norm, [()], label="0d", order2=False),   # H = 0: noise
     C("norm", lambda x: L.norm(x.T, axis=0), lambda x: np.linalg.norm(x.T, axis=0), [(3, 4)],
       label="transposed"),
     C("norm", lambda x: np.linalg.norm(x[:, ::2], axis=1),
       lambda x: np.linalg.norm(x[:, ::2], axis=1), [(3, 8)], label="np.linalg-strided"),
     C("norm", lambda x: L.vector_norm(x, axis=(0, 2)),
       lambda x: np.linalg.vector_norm(x, axis=(0, 2)), [(2, 3, 4)], label="vector_norm"),
     C("norm", lambda x: L.matrix_norm(x), lambda x: np.linalg.matrix_norm(x), [(2, 3, 4)],
       label="matrix_norm"),
     C("norm", lambda x: ad.linalg.norm(x, axis=1), lambda x: np.linalg.norm(x, axis=1),
       [(3, 4)], label="int64", grad=False, dtypes=(np.int64,)))

# ----------------------------------------------------------------------------- composites
# functions built from other rows: each case reaches the row it is listed under
_N = "nokink"           # |x| >= 0.25: abs is smooth
SPECS["sum"] += [
    C("sum", lambda x: L.norm(x, 1), lambda x: np.linalg.norm(x, 1), [(5,)], domain=_N,
      label="linalg.norm-vector-ord1"),
    C("sum", lambda x: L.norm(x, 0, axis=0), lambda x: np.linalg.norm(x, 0, axis=0), [(3, 4)],
      label="linalg.norm-ord0", grad=False)]
SPECS["max"] += [
    C("max", lambda x: L.norm(x, np.inf), lambda x: np.linalg.norm(x, np.inf), [(5,)],
      domain=_N, label="linalg.norm-vector-inf"),
    C("max", lambda x: L.norm(x, 1), lambda x: np.linalg.norm(x, 1), [(3, 4)], domain=_N,
      label="linalg.norm-matrix-ord1"),
    C("max", lambda x: L.norm(x, np.inf, axis=(2, 1), keepdims=True),
      lambda x: np.linalg.norm(x, np.inf, axis=(2, 1), keepdims=True), [(2, 3, 4)], domain=_N,
      label="linalg.norm-matrix-inf-axes")]
SPECS["min"] += [
    C("min", lambda x: L.norm(x, -np.inf, axis=1), lambda x: np.linalg.norm(x, -np.inf, axis=1),
      [(3, 4)], domain=_N, label="linalg.norm-vector--inf"),
    C("min", lambda x: L.norm(x, -1), lambda x: np.linalg.norm(x, -1), [(3, 4)], domain=_N,
      label="linalg.norm-matrix-ord-1")]
SPECS["pow_scalar"] += [
    C("pow_scalar", lambda x: L.norm(x, 3), lambda x: np.linalg.norm(x, 3), [(4,)], domain=_N,
      label="linalg.norm-vector-ord3"),
    C("pow_scalar", lambda x: L.norm(x, -1, axis=0), lambda x: np.linalg.norm(x, -1, axis=0),
      [(3, 2)], domain=_N, label="linalg.norm-vector-ord-1")]
SPECS["matmul"] += [
    C("matmul", lambda x: L.matrix_power(x, 2), lambda x: np.linalg.matrix_power(x, 2),
      [(3, 3)], label="linalg.matrix_power-2"),
    C("matmul", lambda x: L.matrix_power(x * 0.5, 5), lambda x: np.linalg.matrix_power(x * 0.5, 5),
      [(2, 3, 3)], label="linalg.matrix_power-5-stacked"),
    C("matmul", lambda x: np.linalg.matrix_power(x, 3), lambda x: np.linalg.matrix_power(x, 3),
      [(2, 2)], label="linalg.matrix_power-3-dispatch"),
    C("matmul", lambda x: L.matrix_power(x, 4), lambda x: np.linalg.matrix_power(x, 4),
      [(2, 2)], label="linalg.matrix_power-int64", grad=False, dtypes=(np.int64,)),
    C("matmul", lambda a, b, c, d: L.multi_dot([a, b, c, d]),
      lambda a, b, c, d: np.linalg.multi_dot([a, b, c, d]), [(4,), (4, 6), (6, 2), (2, 3)],
      label="linalg.multi_dot-vector-first"),
    C("matmul", lambda a, b, c: np.linalg.multi_dot([a, b, c]),
      lambda a, b, c: np.linalg.multi_dot([a, b, c]), [(5, 2), (2, 6), (6,)],
      label="linalg.multi_dot-dispatch-vector-last"),
    C("matmul", lambda a, b: L.multi_dot([a, b]), lambda a, b: np.linalg.multi_dot([a, b]),
      [(2, 3), (3, 4)], label="linalg.multi_dot-two")]
