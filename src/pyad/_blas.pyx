# Matrix products through BLAS (scipy.linalg.cython_blas): no Python call between us and gemm.
#
# Row-major C = A @ B is column-major C^T = B^T A^T, so a C-contiguous operand is passed as is
# ('N') and an F-contiguous one (a transposed view, as the VJP rules make) as 'T': neither
# is ever copied.
cimport numpy as cnp
from scipy.linalg.cython_blas cimport sgemm, dgemm
import numpy as np

cnp.import_array()


cdef inline bint _layout(cnp.ndarray a, char* trans, int* ld):
    """BLAS view of a 2-D row-major operand: 'N' with ld = row length for C order, 'T' with
    ld = column length for F order. False if the array has neither layout."""
    cdef Py_ssize_t isz = cnp.PyArray_ITEMSIZE(a)
    cdef Py_ssize_t r = cnp.PyArray_DIM(a, 0), c = cnp.PyArray_DIM(a, 1)
    cdef Py_ssize_t s0 = cnp.PyArray_STRIDE(a, 0), s1 = cnp.PyArray_STRIDE(a, 1)
    if (s1 == isz or c == 1) and s0 >= max(c, 1) * isz and s0 % isz == 0:
        trans[0] = b'N'
        ld[0] = <int>max(s0 // isz, max(c, 1))
        return True
    if (s0 == isz or r == 1) and s1 >= max(r, 1) * isz and s1 % isz == 0:
        trans[0] = b'T'
        ld[0] = <int>max(s1 // isz, max(r, 1))
        return True
    return False


def gemm(cnp.ndarray a, cnp.ndarray b):
    """a @ b for 2-D float32/float64 arrays of one dtype (C order, F order or row slices)."""
    cdef int m = <int>cnp.PyArray_DIM(a, 0), k = <int>cnp.PyArray_DIM(a, 1)
    cdef int n = <int>cnp.PyArray_DIM(b, 1)
    cdef int tn = cnp.PyArray_TYPE(a)
    cdef char ta, tb
    cdef int lda, ldb, ldc = max(n, 1)
    cdef cnp.npy_intp dims[2]
    dims[0] = m
    dims[1] = n
    if not _layout(a, &ta, &lda):
        a = np.ascontiguousarray(a)
        _layout(a, &ta, &lda)
    if not _layout(b, &tb, &ldb):
        b = np.ascontiguousarray(b)
        _layout(b, &tb, &ldb)
    cdef cnp.ndarray c
    if k == 0 or m == 0 or n == 0:
        return np.zeros((m, n), dtype=a.dtype)
    c = cnp.PyArray_EMPTY(2, dims, tn, 0)
    cdef float fone = 1.0, fzero = 0.0
    cdef double done = 1.0, dzero = 0.0
    cdef float* fa = <float*>cnp.PyArray_DATA(a)
    cdef float* fb = <float*>cnp.PyArray_DATA(b)
    cdef float* fc = <float*>cnp.PyArray_DATA(c)
    cdef double* da = <double*>cnp.PyArray_DATA(a)
    cdef double* db = <double*>cnp.PyArray_DATA(b)
    cdef double* dc = <double*>cnp.PyArray_DATA(c)
    cdef int previous = 0
    with nogil:
        if _set_local_threads != NULL:
            previous = _set_local_threads(1)
        if tn == cnp.NPY_FLOAT32:
            sgemm(&tb, &ta, &n, &m, &k, &fone, fb, &ldb, fa, &lda, &fzero, fc, &ldc)
        else:
            dgemm(&tb, &ta, &n, &m, &k, &done, db, &ldb, da, &lda, &dzero, dc, &ldc)
        if _set_local_threads != NULL:
            _set_local_threads(previous)
    return c


# Two OpenBLAS copies are loaded (numpy's and scipy's), each with its own thread pool; pools
# that wake up together spin against each other and, on a loaded machine, a threaded 64x128
# product can take milliseconds. So the direct calls run scipy's gemm single-threaded (through
# OpenBLAS's per-calling-thread setting, leaving scipy.linalg's own threading alone) for every
# product small enough not to need threads; larger ones go through np.matmul (numpy's pool,
# the same gemm with the same transpose flags).
cdef Py_ssize_t DIRECT_MAX_WORK = 128 * 128 * 128
ctypedef int (*set_threads_fn)(int) noexcept nogil
cdef set_threads_fn _set_local_threads = NULL


def _find_thread_local_setter():
    """scipy's bundled OpenBLAS's openblas_set_num_threads_local, or None for other BLAS."""
    import ctypes
    import glob
    import os
    import scipy
    libs = os.path.join(os.path.dirname(os.path.dirname(scipy.__file__)), "scipy.libs")
    for path in glob.glob(os.path.join(libs, "*openblas*.so*")):
        try:
            fn = ctypes.CDLL(path).openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
        return ctypes.cast(fn, ctypes.c_void_p).value
    return None


_address = _find_thread_local_setter()
if _address:
    _set_local_threads = <set_threads_fn><size_t>_address
SINGLE_THREADED_DIRECT = _address is not None


def matmul(a, b):
    """np.matmul semantics for arrays of ndim >= 2; 2-D float products up to 128^3
    multiply-adds call single-threaded gemm directly (also saving numpy's ~0.35 us of
    dispatch), larger ones go through np.matmul and its threads."""
    if (type(a) is np.ndarray and type(b) is np.ndarray and a.ndim == 2 and b.ndim == 2
            and a.dtype == b.dtype and (a.dtype == np.float64 or a.dtype == np.float32)):
        if a.shape[1] != b.shape[0]:
            raise ValueError(f"pyad.matmul: shapes {a.shape} and {b.shape} are not aligned "
                             f"({a.shape[1]} != {b.shape[0]})")
        if a.shape[0] * a.shape[1] * b.shape[1] <= DIRECT_MAX_WORK:
            return gemm(a, b)
    return np.matmul(a, b)
