"""pyad.linalg: numpy.linalg, differentiable (``ad.linalg.inv(a)``, ``ad.linalg.eigh(a)``).

The functions live in pyad.ops.linalg with their rows of the primitive table; numpy's own
(``np.linalg.inv(t)`` on a Tensor) dispatch to them too. See pyad.ops.linalg for the
conventions: symmetric inputs for eigh/eigvalsh/cholesky, the degenerate-eigenvalue caveat,
and the zero derivative of the 2-norm at 0.

The layer's own modules hold the linear algebra of pytrees and operators that the transforms,
analysis and training layers share, each on the backend of its arrays: vectors.py (the one
ravel/unravel of pytrees, ``ad.ravel_pytree``, and the one inner product, ``ad.vdot``),
cg.py (conjugate gradient, ``ad.implicit.cg``) and lanczos.py (``ad.curvature.lanczos``).
"""
from pyad.ops.linalg import (  # noqa: F401
    LINALG_NAMES, EighResult, LinAlgError, QRResult, SlogdetResult, SVDResult, cholesky, cond,
    det, eigh, eigvalsh, inv, lstsq, matrix_norm, matrix_power, matrix_rank, matrix_transpose,
    multi_dot, norm, pinv, qr, slogdet, solve, svd, svdvals, vector_norm)

__all__ = list(LINALG_NAMES)
del LINALG_NAMES
