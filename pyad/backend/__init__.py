"""The backend seam: the only way into compiled kernels (pyad._C), BLAS and the runtime
settings they need. Each backend exposes the same KERNELS mapping from primitive name to
forward kernel (backend/cpu.py; CuPy's later); optimizer updates, thread counts and the
products of the curvature tools' vector work are looked up here by name."""
import os

from pyad.backend._blas_lib import mkl_runtime

# Imported before any pyad extension loads (pyad/__init__ imports this package first): OpenMP
# reads its settings when its runtime loads with the first extension.
# OpenMP workers that spin-wait fight OpenBLAS's for the same cores (an MLP step ran ~20x
# slower here), so they wait passively. With MKL, matrix products run on that same OpenMP
# pool (one pool for everything), and a short spin (~10 us) before sleeping saves the ~70 us
# wake-up of every threaded product.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
if mkl_runtime():
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")

from pyad import _C  # noqa: E402

# glibc unmaps freed blocks of >= 128 KB (a threshold it raises only as it goes) and trims the
# heap's free top, so each new array as large as one just freed page-faults in afresh: that
# was ~40% of an MLP gradient and ~35% of an HVP here. Freed memory up to 32 MB a block and
# 256 MB in all stays for reuse; setting either MALLOC_*_ variable or PYAD_SYSTEM_MALLOC=1
# keeps glibc's own policy.
_MALLOC_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "PYAD_SYSTEM_MALLOC")
if not any(os.environ.get(v) for v in _MALLOC_VARS):
    _C.keep_freed_memory(32 << 20, 256 << 20)

from pyad.backend._blas import pool_matmul, rows_matvec  # noqa: E402,F401  (curvature's products)

# optimizer updates by name: one fused in-place pass per parameter
UPDATES = {"sgd": _C.sgd_update, "rmsprop": _C.rmsprop_update, "adam": _C.adam_update}


def optimizer_update(name):
    """The in-place update kernel of optimizer `name` ("sgd", "rmsprop", "adam")."""
    return UPDATES[name]


def set_num_threads(n):
    """Threads for the compiled kernels (OpenMP); BLAS keeps its own setting."""
    _C.set_num_threads(int(n))


def get_num_threads():
    return _C.get_num_threads()
