"""Array API kernels of the linalg family's primitives (see backend/array_api.py).

Each computes what its CPU kernel (backend/numpy_linalg.py) computes, through the namespace's
linalg extension, and packs several results into one array exactly as the CPU does (slogdet,
eigh, svd, qr: see numpy_linalg's docstring). pinv and matrix_rank are composed from the SVD
as numpy composes them (the standard's versions take no absolute tol, no hermitian flag);
the standard's eigh reads the lower triangle only, so UPLO="U" mirrors the upper one first.
A failure the namespace reports as a LinAlgError is raised as the CPU raises it.
"""

from pyad.backend.namespaces import namespace_of as _ns
from pyad.backend.array_api_array import _take_along_axis
from pyad.backend.numpy_linalg import _SINGULAR_FIX, _raise


def _failed(err):
    """Whether err is a namespace's linear-algebra failure (numpy's, CuPy's, torch's...)."""
    return "LinAlgError" in type(err).__name__


def _t(xp, a):
    return xp.matrix_transpose(a)


def _pack(xp, parts, batch):
    """The parts flattened per matrix and concatenated on the last axis (as the CPU's _flat)."""
    return xp.concat([xp.reshape(p, batch + (-1,)) for p in parts], axis=-1)


def inv(a):
    xp = _ns(a)
    try:
        return xp.linalg.inv(a)
    except Exception as err:
        if not _failed(err):
            raise
        _raise("inv", "singular matrix", a, _SINGULAR_FIX)


def det(a):
    return _ns(a).linalg.det(a)


def slogdet(a):
    xp = _ns(a)
    sign, logabsdet = xp.linalg.slogdet(a)
    return xp.stack([sign, logabsdet], axis=-1)


def solve(a, b):
    xp = _ns(a)
    try:
        return xp.linalg.solve(a, b)
    except Exception as err:
        if not _failed(err):
            raise
        _raise("solve", "singular matrix a", a, _SINGULAR_FIX)


def cholesky(a):
    xp = _ns(a)
    try:
        return xp.linalg.cholesky(a)
    except Exception as err:
        if not _failed(err):
            raise
        _raise("cholesky", "the matrix is not positive definite", a,
               "cholesky needs a symmetric positive-definite matrix: check its symmetry and "
               "eigenvalues (pyad.linalg.eigvalsh), or add a multiple of the identity")


def _lower_read(xp, a, uplo):
    """The matrix whose lower triangle the standard's eigh reads for numpy's UPLO: a itself
    for "L", a's upper triangle mirrored for "U"."""
    if uplo == "L":
        return a
    return xp.triu(a) + _t(xp, xp.triu(a, k=1))


def _eigh(xp, a, uplo, values_only=False):
    op = "eigvalsh" if values_only else "eigh"
    try:
        sym = _lower_read(xp, a, uplo)
        return xp.linalg.eigvalsh(sym) if values_only else xp.linalg.eigh(sym)
    except Exception as err:
        if not _failed(err):
            raise
        _raise(op, "the eigenvalue iteration did not converge", a,
               "check the input for NaN/Inf or extreme values")


def eigh(a, uplo):
    xp = _ns(a)
    w, v = _eigh(xp, a, uplo)
    return xp.concat([w[..., None, :], v], axis=-2)


def eigvalsh(a, uplo):
    return _eigh(_ns(a), a, uplo, values_only=True)


def _svd(xp, a, full_matrices, hermitian):
    """numpy.linalg.svd's (u, s, vh); hermitian=True as numpy computes it, from eigh: the
    singular values are |eigenvalues| in descending order, their signs moved into vh."""
    try:
        if not hermitian:
            return xp.linalg.svd(a, full_matrices=full_matrices)
        w, u = xp.linalg.eigh(a)
    except Exception as err:
        if not _failed(err):
            raise
        _raise("svd", "the SVD did not converge", a, "check the input for NaN/Inf")
    # numpy: argsort(|w|)[..., ::-1], i.e. descending, ties in reverse order
    order = xp.flip(xp.argsort(xp.abs(w), axis=-1, stable=True), axis=-1)
    sign = _take_along_axis(xp.sign(w), order, -1, True)
    s = _take_along_axis(xp.abs(w), order, -1, True)
    u = _take_along_axis(u, order[..., None, :], u.ndim - 1, True)
    return u, s, _t(xp, u * sign[..., None, :])


def svd(a, full_matrices, hermitian):
    xp = _ns(a)
    return _pack(xp, _svd(xp, a, full_matrices, hermitian), tuple(a.shape[:-2]))


def svdvals(a):
    xp = _ns(a)
    try:
        return xp.linalg.svdvals(a)
    except Exception as err:
        if not _failed(err):
            raise
        _raise("svd", "the SVD did not converge", a, "check the input for NaN/Inf")


def pinv(a, rcond, hermitian, rtol):
    """numpy.linalg.pinv as numpy computes it: singular values above rcond (or rtol) times
    the largest are inverted, the rest dropped. Given neither, numpy's legacy 1e-15 (the
    CPU kernel passes neither on, so numpy falls back to it)."""
    xp = _ns(a)
    cut = rcond if rcond is not None else rtol if rtol is not None else 1e-15
    m, n = a.shape[-2:]
    if m == 0 or n == 0:
        return xp.zeros(tuple(a.shape[:-2]) + (n, m), dtype=a.dtype, device=a.device)
    u, s, vh = _svd(xp, a, False, hermitian)
    large = s > cut * xp.max(s, axis=-1, keepdims=True)
    s = xp.where(large, 1 / xp.where(large, s, xp.ones_like(s)), xp.zeros_like(s))
    return xp.matmul(_t(xp, vh), s[..., None] * _t(xp, u))


def matrix_rank(a, tol, hermitian, rtol):
    """numpy.linalg.matrix_rank: the singular values above tol, by default above
    max(M, N) * eps times the largest (rtol: rtol times the largest)."""
    xp = _ns(a)
    if hermitian:
        s = xp.abs(_eigh(xp, a, "L", values_only=True))
    else:
        s = svdvals(a)
    if tol is None:
        if rtol is None:
            rtol = max(a.shape[-2:]) * xp.finfo(s.dtype).eps
        largest = (xp.max(s, axis=-1, keepdims=True) if s.shape[-1] else
                   xp.zeros(tuple(s.shape[:-1]) + (1,), dtype=s.dtype, device=s.device))
        tol = largest * rtol
    count_type = xp.__array_namespace_info__().default_dtypes(device=a.device)["integral"]
    return xp.sum(xp.astype(s > tol, count_type), axis=-1)


def qr(a, mode):
    xp = _ns(a)
    q, r = xp.linalg.qr(a, mode=mode)
    return _pack(xp, (q, r), tuple(a.shape[:-2]))


def norm(x, axes, keepdims):
    """The 2-norm (Frobenius norm) over the given axes, summed as the CPU sums it."""
    xp = _ns(x)
    return xp.sqrt(xp.sum(xp.square(x), axis=tuple(axes), keepdims=keepdims))


KERNELS = {
    "inv": inv, "det": det, "slogdet": slogdet, "solve": solve, "cholesky": cholesky,
    "eigh": eigh, "eigvalsh": eigvalsh, "svd": svd, "svdvals": svdvals, "pinv": pinv,
    "matrix_rank": matrix_rank, "qr": qr, "norm": norm,
}
