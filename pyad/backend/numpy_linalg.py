"""CPU forward kernels (numpy) of the linalg family's primitives, by primitive name.

Every kernel takes stacks of matrices (..., M, N) as numpy.linalg does (the batching
interpreter lifts a problem by adding a leading axis). Shapes are checked by the public
functions in pyad.ops.linalg; the kernels only turn LAPACK's failures (a singular matrix,
one that is not positive definite) into errors that name the pyad function and the fix.

Primitives with several outputs return them packed into one array, which
pyad.ops.linalg unpacks with differentiable slicing:

- slogdet: (..., 2), [sign, logabsdet] on the last axis;
- eigh: (..., n + 1, n), the eigenvalues as row 0 and the eigenvectors (columns) below;
- svd, qr: the factors flattened and concatenated on the last axis (U, S, Vh / Q, R).
"""
import numpy as np

from pyad.backend._blas import on_one_lapack_thread

LinAlgError = np.linalg.LinAlgError


def _what(a):
    return f"an input of shape {a.shape} and dtype {a.dtype}"


def _raise(op, problem, a, fix):
    raise LinAlgError(f"pyad.linalg.{op}: {problem} ({_what(a)}); {fix}") from None


_SINGULAR_FIX = ("it has no inverse: use pyad.linalg.pinv or lstsq for a least-squares "
                 "answer, or regularise it (a + eps * I)")


def inv(a):
    try:
        return np.linalg.inv(a)
    except LinAlgError:
        _raise("inv", "singular matrix", a, _SINGULAR_FIX)


def det(a):
    return np.asarray(np.linalg.det(a))


def slogdet(a):
    sign, logabsdet = np.linalg.slogdet(a)
    return np.stack([np.asarray(sign), np.asarray(logabsdet)], axis=-1)


def solve(a, b):
    """a (..., M, M), b (..., M, K) with the same leading axes."""
    try:
        return np.linalg.solve(a, b)
    except LinAlgError:
        _raise("solve", "singular matrix a", a, _SINGULAR_FIX)


def cholesky(a):
    try:
        return np.linalg.cholesky(a)
    except LinAlgError:
        _raise("cholesky", "the matrix is not positive definite", a,
               "cholesky needs a symmetric positive-definite matrix: check its symmetry and "
               "eigenvalues (pyad.linalg.eigvalsh), or add a multiple of the identity")


def eigh(a, uplo):
    try:
        w, v = np.linalg.eigh(a, UPLO=uplo)
    except LinAlgError:
        _raise("eigh", "the eigenvalue iteration did not converge", a,
               "check the input for NaN/Inf or extreme values")
    return np.concatenate([w[..., None, :], v], axis=-2)


def eigvalsh(a, uplo):
    try:
        return np.linalg.eigvalsh(a, UPLO=uplo)
    except LinAlgError:
        _raise("eigvalsh", "the eigenvalue iteration did not converge", a,
               "check the input for NaN/Inf or extreme values")


def _flat(parts, batch):
    return np.concatenate([p.reshape(batch + (-1,)) for p in parts], axis=-1)


def svd(a, full_matrices, hermitian):
    try:
        u, s, vh = np.linalg.svd(a, full_matrices=full_matrices, hermitian=hermitian)
    except LinAlgError:
        _raise("svd", "the SVD did not converge", a, "check the input for NaN/Inf")
    return _flat((u, s, vh), a.shape[:-2])


def svdvals(a):
    try:
        return np.linalg.svd(a, compute_uv=False)
    except LinAlgError:
        _raise("svd", "the SVD did not converge", a, "check the input for NaN/Inf")


def pinv(a, rcond, hermitian, rtol):
    kw = {} if rtol is None else {"rtol": rtol}
    if rcond is not None:
        kw["rcond"] = rcond
    try:
        return np.linalg.pinv(a, hermitian=hermitian, **kw)
    except LinAlgError:
        _raise("pinv", "the SVD did not converge", a, "check the input for NaN/Inf")


def matrix_rank(a, tol, hermitian, rtol):
    return np.asarray(np.linalg.matrix_rank(a, tol=tol, hermitian=hermitian, rtol=rtol))


def qr(a, mode):
    q, r = np.linalg.qr(a, mode=mode)
    return _flat((q, r), a.shape[:-2])


def norm(x, axes, keepdims):
    """The 2-norm (Frobenius norm) over the given axes."""
    return np.sqrt(np.sum(np.square(x), axis=axes, keepdims=keepdims))


KERNELS = {
    "inv": inv, "det": det, "slogdet": slogdet, "solve": solve, "cholesky": cholesky,
    "eigh": eigh, "eigvalsh": eigvalsh, "svd": svd, "svdvals": svdvals, "pinv": pinv,
    "matrix_rank": matrix_rank, "qr": qr,
}
# numpy's LAPACK on one thread where MKL does the products (two pools fought: see _blas)
KERNELS = {name: on_one_lapack_thread(fn, "numpy") for name, fn in KERNELS.items()}
KERNELS["norm"] = norm
FALLBACKS = {}      # numpy versions for integer/bool inputs, where a kernel takes floats only
