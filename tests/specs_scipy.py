"""Op specs of pyad.scipy's signal and linalg rows (see tests/op_specs.py, which imports this
file). Inputs from the "real" domain are mapped to well-conditioned problems by each case
(diagonals shifted, sizes kept small), references are scipy's in the input's dtype."""
import numpy as np
import scipy.linalg as sl
import scipy.signal as ss

import pyad as ad
from op_specs import C, const, spec

L, SIG = ad.scipy.linalg, ad.scipy.signal


def _in(dtype_of, out):
    return np.asarray(out).astype(np.result_type(dtype_of.dtype, np.float32))


def _eye(n, x):
    """The identity next to x (a Tensor on its backend, or numpy), in x's dtype."""
    return const(np.eye(n, dtype=x.dtype), x)


spec("convolve_full",
     C("convolve_full", lambda a, b: SIG.convolve(a, b), lambda a, b: _in(a, ss.convolve(a, b)),
       [(5,), (3,)], label="1d-full"),
     C("convolve_full", lambda a, b: SIG.convolve(a, b, "valid"),
       lambda a, b: _in(a, ss.convolve(a, b, "valid")), [(4, 5), (2, 3)], label="2d-valid"),
     C("convolve_full", lambda a, b: SIG.convolve(a, b, "same"),
       lambda a, b: _in(a, ss.convolve(a, b, "same")), [(3, 4), (2, 2)], label="2d-same"),
     C("convolve_full", lambda a, b: SIG.fftconvolve(a, b, axes=1),
       lambda a, b: _in(a, ss.fftconvolve(a, b, axes=1)), [(3, 6), (1, 3)], label="axes"))
spec("expm", C("expm", lambda a: L.expm(a * 0.5), lambda a: _in(a, sl.expm(a * 0.5)),
               [(3, 3)]))
spec("sqrtm", C("sqrtm", lambda a: L.sqrtm(a @ a.T + 3.0 * _eye(3, a)),
                lambda a: _in(a, sl.sqrtm(a @ a.T + 3.0 * np.eye(3, dtype=a.dtype))),
                [(3, 3)]))
spec("solve_sylvester",
     C("solve_sylvester",
       lambda a, b, q: L.solve_sylvester(a + 4.0 * _eye(3, a), b + 4.0 * _eye(2, b), q),
       lambda a, b, q: _in(a, sl.solve_sylvester(a + 4.0 * np.eye(3), b + 4.0 * np.eye(2), q)),
       [(3, 3), (2, 2), (3, 2)]))


def _tri(lower, trans, unit, b_shape, label):
    def f(t, b):
        return L.solve_triangular(t + 4.0 * _eye(3, t), b, trans, lower, unit)

    def r(t, b):
        return _in(t, sl.solve_triangular(t + 4.0 * np.eye(3, dtype=t.dtype), b, trans, lower,
                                          unit))
    return C("solve_triangular", f, r, [(3, 3), b_shape], label=label)


spec("solve_triangular",
     _tri(True, 0, False, (3,), "lower"), _tri(False, 1, False, (3, 2), "upper-T"),
     _tri(True, "T", True, (3, 2), "lower-T-unit"), _tri(False, 0, True, (3,), "upper-unit"))


def _banded(ab, b):
    return ab + const(np.array([[0.0], [4.0], [0.0], [0.0]], dtype=ab.dtype), ab)


spec("solve_banded",
     C("solve_banded", lambda ab, b: L.solve_banded((2, 1), _banded(ab, b), b),
       lambda ab, b: _in(ab, sl.solve_banded((2, 1), _banded(ab, b), b)), [(4, 5), (5,)]),
     C("solve_banded", lambda ab, b: L.solve_banded((2, 1), _banded(ab, b), b),
       lambda ab, b: _in(ab, sl.solve_banded((2, 1), _banded(ab, b), b)), [(4, 5), (5, 2)],
       label="matrix-rhs"))
