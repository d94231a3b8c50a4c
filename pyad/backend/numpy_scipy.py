"""CPU forward kernels (scipy.signal, scipy.linalg) of pyad.scipy's signal and linalg rows.

scipy.signal and scipy.linalg load on a kernel's first call (scipy.signal alone took ~0.5 s,
doubling `import pyad`)."""
import numpy as np

from pyad.backend._blas import on_one_lapack_thread
from pyad.backend.lazy_module import LazyModule

scipy_signal, scipy_linalg = LazyModule("scipy.signal"), LazyModule("scipy.linalg")


def _convolve_full(a, b, axes):
    """The full N-d convolution of a and b over `axes` (None: all), broadcasting the others;
    scipy picks direct or FFT by size. Results keep the inputs' float dtype."""
    dtype = np.result_type(a.dtype, b.dtype, np.float32)
    if axes is None:
        out = scipy_signal.convolve(a, b, mode="full")
    else:
        out = scipy_signal.fftconvolve(a, b, mode="full", axes=axes)
    return np.asarray(out, dtype=dtype)


def _float(out, *like):
    return np.asarray(out, dtype=np.result_type(*[x.dtype for x in like], np.float32))


def _one_thread(kernels):
    """scipy's LAPACK on the caller's thread alone, unless scipy's BLAS does pyad's products
    (its OpenBLAS is a pool apart from the products': see pyad.backend._blas)."""
    return {name: on_one_lapack_thread(fn, "scipy") for name, fn in kernels.items()}


KERNELS = {"convolve_full": _convolve_full} | _one_thread({
    "expm": lambda a: _float(scipy_linalg.expm(a), a),
    "sqrtm": lambda a: _float(scipy_linalg.sqrtm(a), a),
    "solve_sylvester": lambda a, b, q: _float(scipy_linalg.solve_sylvester(a, b, q), a, b, q),
    "solve_triangular": lambda a, b, lower, trans, unit: _float(
        scipy_linalg.solve_triangular(a, b, lower=lower, trans=trans, unit_diagonal=unit), a, b),
    "solve_banded": lambda ab, b, lower, upper: _float(
        scipy_linalg.solve_banded((lower, upper), ab, b), ab, b),
})
