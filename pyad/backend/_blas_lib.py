"""Which BLAS library pyad's matrix products call, decided before any extension loads."""
import glob
import os
import sys


def mkl_runtime():
    """Path of the MKL runtime of an installed `mkl` wheel (pip puts libmkl_rt in
    <prefix>/lib), or None when there is none or PYAD_BLAS=openblas asks for numpy's."""
    if os.environ.get("PYAD_BLAS", "").lower() == "openblas":
        return None
    found = sorted(glob.glob(os.path.join(sys.prefix, "lib", "libmkl_rt.so*")))
    return found[0] if found else None


OPENBLAS_CALLBACK_SETTERS = ("scipy_openblas_set_threads_callback_function64_",
                             "openblas_set_threads_callback_function64_",
                             "openblas_set_threads_callback_function")


def numpy_openblas():
    """Path of the OpenBLAS numpy's wheel bundles (numpy.libs), or None (numpy built against
    another BLAS, e.g. conda's or Apple's Accelerate)."""
    import importlib.util
    spec = importlib.util.find_spec("numpy")
    if spec is None or not spec.origin:
        return None
    root = os.path.dirname(os.path.dirname(spec.origin))
    found = sorted(glob.glob(os.path.join(root, "numpy.libs", "*openblas*.so*")))
    return found[0] if found else None


def openblas_on_pool():
    """Whether numpy's OpenBLAS will run its threaded products on pyad's OpenMP pool (no MKL;
    an OpenBLAS of 0.3.27 or later, which takes a threads callback; PYAD_BLAS_THREADS=openblas
    keeps OpenBLAS's own threads)."""
    if mkl_runtime() or os.environ.get("PYAD_BLAS_THREADS", "").lower() == "openblas":
        return False
    path = numpy_openblas()
    if path is None:
        return False
    import ctypes
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return False
    return any(hasattr(lib, name) for name in OPENBLAS_CALLBACK_SETTERS)
