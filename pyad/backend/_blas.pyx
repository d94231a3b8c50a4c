# Matrix products through BLAS (scipy.linalg.cython_blas): no Python call between us and gemm.
#
# Row-major C = A @ B is column-major C^T = B^T A^T, so a C-contiguous operand is passed as is
# ('N') and an F-contiguous one (a transposed view, as the VJP rules make) as 'T': neither
# is ever copied.
cimport numpy as cnp
from cpython.pycapsule cimport PyCapsule_GetName, PyCapsule_GetPointer
from cpython.pythread cimport (PyThread_acquire_lock, PyThread_allocate_lock,
                               PyThread_release_lock, PyThread_type_lock, WAIT_LOCK)
import os
import numpy as np

cnp.import_array()

# scipy.linalg.cython_blas's Fortran gemm, taken from that module's table of C functions (what
# a cimport of it does, so that building pyad needs no scipy), only where neither MKL nor
# numpy's OpenBLAS is found: importing scipy.linalg took ~0.25 s of `import pyad`.
ctypedef void (*f77_sgemm_fn)(char*, char*, int*, int*, int*, float*, float*, int*, float*,
                              int*, float*, float*, int*) noexcept nogil
ctypedef void (*f77_dgemm_fn)(char*, char*, int*, int*, int*, double*, double*, int*,
                              double*, int*, double*, double*, int*) noexcept nogil


cdef void* _scipy_blas(str name) except NULL:
    from scipy.linalg import cython_blas
    capsule = cython_blas.__pyx_capi__[name]
    return PyCapsule_GetPointer(capsule, PyCapsule_GetName(capsule))


cdef f77_sgemm_fn sgemm = NULL
cdef f77_dgemm_fn dgemm = NULL


cdef inline bint _leading(Py_ssize_t stride, Py_ssize_t length, Py_ssize_t isz):
    """Whether `stride` (bytes) is a BLAS leading dimension over `length` items: a whole
    number of items, at least `length`, and within gemm's int."""
    return stride % isz == 0 and stride >= max(length, 1) * isz and stride // isz <= 0x7fffffff


cdef inline bint _layout(cnp.ndarray a, char* trans, int* ld):
    """BLAS view of a 2-D row-major operand: 'N' with ld = row length for C order, 'T' with
    ld = column length for F order. False if the array has neither layout. The stride of a
    dimension of length 1 is never followed, so it is ignored: numpy gives such dimensions
    any stride (0 after broadcasting) and still calls the array contiguous."""
    cdef Py_ssize_t isz = cnp.PyArray_ITEMSIZE(a)
    cdef Py_ssize_t r = cnp.PyArray_DIM(a, 0), c = cnp.PyArray_DIM(a, 1)
    cdef Py_ssize_t s0 = cnp.PyArray_STRIDE(a, 0), s1 = cnp.PyArray_STRIDE(a, 1)
    if (s1 == isz or c <= 1) and (r <= 1 or _leading(s0, c, isz)):
        trans[0] = b'N'
        ld[0] = <int>(max(c, 1) if r <= 1 else s0 // isz)
        return True
    if (s0 == isz or r <= 1) and (c <= 1 or _leading(s1, r, isz)):
        trans[0] = b'T'
        ld[0] = <int>(max(r, 1) if c <= 1 else s1 // isz)
        return True
    return False


def gemm(cnp.ndarray a, cnp.ndarray b, cnp.ndarray out=None, bint accumulate=True):
    """a @ b for 2-D float32/float64 arrays of one dtype (C order, F order or row slices);
    with out (C-contiguous, of the result's shape and dtype) it returns out += a @ b, the
    add done by gemm itself (beta = 1), or with accumulate=False out = a @ b (beta = 0).
    Products up to DIRECT_MAX_WORK multiply-adds run single-threaded, larger ones on the
    BLAS's own threads."""
    cdef Py_ssize_t rows = cnp.PyArray_DIM(a, 0), inner = cnp.PyArray_DIM(a, 1)
    cdef Py_ssize_t cols = cnp.PyArray_DIM(b, 1)
    cdef int tn = cnp.PyArray_TYPE(a)
    if out is not None and (cnp.PyArray_TYPE(out) != tn or cnp.PyArray_NDIM(out) != 2
                            or cnp.PyArray_DIM(out, 0) != rows or cnp.PyArray_DIM(out, 1) != cols
                            or not cnp.PyArray_IS_C_CONTIGUOUS(out)):
        raise ValueError(f"pyad gemm: out must be a C-contiguous ({rows}, {cols}) array of "
                         f"{(<object>a).dtype}, got {(<object>out).shape} {(<object>out).dtype}")
    if rows == 0 or inner == 0 or cols == 0:
        if out is None:
            return np.zeros((rows, cols), dtype=a.dtype)
        if not accumulate:
            out[...] = 0
        return out
    if max(rows, inner, cols) > 0x7fffffff:     # past the int sizes gemm takes
        if out is None:
            return np.matmul(a, b)
        if accumulate:
            out += np.matmul(a, b)
        else:
            np.matmul(a, b, out=out)
        return out
    return _gemm_prepared(a, b, out, accumulate)


# One product's gemm call, its operands' layouts worked out (_gemm_prepared), so that it can
# run in parts and on another thread (_halves, _gemm_run).
cdef struct GemmCall:
    int tn                  # NPY_FLOAT32 or NPY_FLOAT64
    int m, n, k, lda, ldb, ldc
    char ta, tb
    void* a
    void* b
    void* c
    double beta
    bint pin                # single-threaded: small enough (DIRECT_MAX_WORK)
    void* b_rows            # B ('T') copied here in rows (k x n) first, where not NULL


cdef cnp.ndarray _gemm_prepared(cnp.ndarray a, cnp.ndarray b, cnp.ndarray out, bint accumulate):
    """a @ b (2-D, one float dtype, every size within int; out checked) by gemm's call for
    it, worked out here and made by _gemm_split; its output returned."""
    cdef GemmCall gemm_call
    cdef GemmCall* call = &gemm_call
    cdef Py_ssize_t rows = cnp.PyArray_DIM(a, 0), inner = cnp.PyArray_DIM(a, 1)
    cdef Py_ssize_t cols = cnp.PyArray_DIM(b, 1)
    cdef int m = <int>rows, k = <int>inner, n = <int>cols
    cdef char ta, tb
    cdef int lda = 1, ldb = 1
    # a fresh C-order copy always has the 'N' layout
    if not _layout(a, &ta, &lda):
        a = np.array(a, order="C")
        _layout(a, &ta, &lda)
    if not _layout(b, &tb, &ldb):
        b = np.array(b, order="C")
        _layout(b, &tb, &ldb)
    cdef cnp.ndarray c
    cdef cnp.npy_intp dims[2]
    dims[0] = m
    dims[1] = n
    if out is None:
        c = cnp.PyArray_EMPTY(2, dims, cnp.PyArray_TYPE(a), 0)
    else:
        c = out
    call.tn = cnp.PyArray_TYPE(a)
    call.m, call.n, call.k, call.lda, call.ldb, call.ldc = m, n, k, lda, ldb, n
    call.ta, call.tb = ta, tb
    call.a, call.b, call.c = cnp.PyArray_DATA(a), cnp.PyArray_DATA(b), cnp.PyArray_DATA(c)
    call.beta = 1.0 if out is not None and accumulate else 0.0
    call.pin = _set_local_threads != NULL and <Py_ssize_t>m * k * n <= DIRECT_MAX_WORK
    cdef bint large = <Py_ssize_t>m * k * n >= SPLIT_MIN_WORK
    cdef cnp.ndarray b_rows = None
    call.b_rows = NULL
    if call.pin and large and tb != b'N' and _by_columns(call) and _numpy_somatcopy != NULL:
        # B transposed, split by columns: each half first copies its columns of B into rows,
        # where it runs: OpenBLAS's small products with B transposed took ~25% longer than
        # with B in rows (64x128 by 128x128: 29 against 23 us), its transposing copy ~1 us
        dims[0], dims[1] = k, n
        b_rows = cnp.PyArray_EMPTY(2, dims, call.tn, 0)
        call.b_rows = cnp.PyArray_DATA(b_rows)
    _gemm_split(call, large)
    return c


# Products that BLAS runs on one thread (DIRECT_MAX_WORK) but large enough to gain from a
# second core run in two halves, one on a helper thread (csrc/helper_thread.h): OpenBLAS's own
# threads took longer to start than such a product takes. Where the helper is another
# thread's, or has not started its half when the caller's is done, the caller computes both:
# the same two gemm calls wherever they run, so a product's bits depend on its shapes alone.
cdef extern from "helper_thread.h" namespace "pyad":
    ctypedef void (*helper_job)(void*) noexcept nogil
    cdef cppclass HelperThread:
        void post(helper_job job, void* arg) nogil
        void finish() nogil
        void release() nogil
    HelperThread* helper_acquire()
    void helper_rest() nogil
    bint helper_halves(helper_job job, void* first, void* second) nogil
    long long monotonic_ns() nogil
cdef extern from "fp_state.h":            # macros: the thread's rounding and flush-to-zero mode
    unsigned PYAD_FP_STATE() nogil
    void PYAD_SET_FP_STATE(unsigned) nogil



def _cores():
    """The cores this process may run on (its affinity mask: a container's cpuset, taskset)."""
    affinity = getattr(os, "sched_getaffinity", None)     # Linux
    return len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)


cdef Py_ssize_t SPLIT_MIN_WORK = 64 * 64 * 64
# on one core (an affinity mask, a container's cpuset) the halves run on the caller's thread:
# the same calls, so the same bits as with two
cdef bint _HELPER_OK = _cores() > 1
# and none where the BLAS is held to one thread (OPENBLAS_NUM_THREADS=1, threadpoolctl: MPI
# ranks sharing the cores, say), asked at each product: a limit set at run time counts too
ctypedef int (*get_threads_fn)() noexcept nogil
cdef get_threads_fn _blas_threads = NULL
# After a product on the BLAS's own threads, OpenBLAS's workers spin for ~0.1 s (2^28 cycles)
# on the other core, where a helper would take turns with them at the scheduler's pace
# (milliseconds): products run whole on the caller's thread until they have gone to sleep.
cdef long long BLAS_THREADS_QUIET_NS = 150_000_000
# Meanwhile kernels (csrc/common.h) and halves (below) run on those spinning workers, within
# BLAS_WORKERS_SPIN_NS of the product. When the product ended: this module's clock, or
# pyad._C's where the kernels read it too (_bind_blas).
cdef long long BLAS_WORKERS_SPIN_NS = 0      # pyad._C's, read where the workers are bound
cdef long long _own_threads_ran = -BLAS_THREADS_QUIET_NS
cdef long long* _blas_threads_ran = &_own_threads_ran


def _set_blas_threads_ran(bint recently):
    """As if the BLAS's own threads had just run (split products then run their halves on
    the caller's thread), or long ago (tests)."""
    _blas_threads_ran[0] = monotonic_ns() if recently else -BLAS_THREADS_QUIET_NS


cdef void _run_half(void* call) noexcept nogil:
    _gemm_run(<GemmCall*>call)


# A half on one of OpenBLAS's spinning workers (gotoblas_pthread), under its caller's
# rounding and flush-to-zero mode, as on the helper.
ctypedef int (*blas_pthread_fn)(int, void*, void*, int) noexcept nogil
cdef blas_pthread_fn _blas_pthread = NULL
cdef struct WorkerHalf:
    GemmCall* call
    unsigned fp_state


cdef void _run_worker_half(void* arg) noexcept nogil:
    cdef WorkerHalf* half = <WorkerHalf*>arg
    cdef unsigned own = PYAD_FP_STATE()
    PYAD_SET_FP_STATE(half.fp_state)
    _gemm_run(half.call)
    PYAD_SET_FP_STATE(own)


cdef inline bint _by_columns(GemmCall* g) noexcept nogil:
    """Whether _halves splits g by columns: where B is transposed (OpenBLAS then packs half
    of B for each half: faster) or C has fewer than 32 rows."""
    return g.n >= 32 and (g.tb != b'N' or g.m < 32)


cdef bint _halves(GemmCall* g, GemmCall* first, GemmCall* second) noexcept nogil:
    """g as two gemm calls of half its rows each (of the row-major C), or of half its columns
    (_by_columns), the first half a multiple of 16 long (whole register tiles); False where
    neither has 32."""
    cdef Py_ssize_t isz = 4 if g.tn == cnp.NPY_FLOAT32 else 8
    cdef int half
    first[0] = g[0]
    second[0] = g[0]
    if _by_columns(g):          # columns of B and C: C[:, :h] = A @ B[:, :h]
        half = (g.n // 2) & ~15
        first.n, second.n = half, g.n - half
        second.b = <char*>g.b + isz * half * (1 if g.tb == b'N' else g.ldb)
        second.c = <char*>g.c + isz * half
        if g.b_rows != NULL:        # each half's columns, rows of its own block
            second.b_rows = <char*>g.b_rows + isz * half * g.k
        return True
    if g.m >= 32:               # rows of A and C: C[:h] = A[:h] @ B
        half = (g.m // 2) & ~15
        first.m, second.m = half, g.m - half
        second.a = <char*>g.a + isz * half * (g.lda if g.ta == b'N' else 1)
        second.c = <char*>g.c + isz * half * g.ldc
        return True
    return False


cdef void _gemm_split(GemmCall* call, bint large):
    """The product, in halves on two threads where it is single-threaded and large (see
    above) and the BLAS's threads are quiet (else the halves run here, one after the other:
    the same bits); before a product on the BLAS's own threads, a spinning helper is sent to
    sleep."""
    cdef GemmCall halves[2]
    cdef HelperThread* helper = NULL
    cdef bint split = call.pin and large and _halves(call, &halves[0], &halves[1])
    cdef WorkerHalf on_workers[2]
    cdef long long now
    if split and _HELPER_OK and (_blas_threads == NULL or _blas_threads() > 1):
        now = monotonic_ns()
        if now - _blas_threads_ran[0] > BLAS_THREADS_QUIET_NS:
            helper = helper_acquire()
        elif _blas_pthread != NULL and now - _blas_threads_ran[0] <= BLAS_WORKERS_SPIN_NS:
            # OpenBLAS's workers still spin after a threaded product: one half on them
            on_workers[0].call, on_workers[1].call = &halves[1], &halves[0]
            on_workers[0].fp_state = on_workers[1].fp_state = PYAD_FP_STATE()
            with nogil:
                _blas_pthread(2, <void*>_run_worker_half, on_workers, sizeof(WorkerHalf))
            return
    with nogil:
        if helper != NULL:
            helper.post(_run_half, &halves[0])
            _gemm_run(&halves[1])
            helper.finish()
            helper.release()
        elif split:
            _gemm_run(&halves[0])
            _gemm_run(&halves[1])
        else:
            if not call.pin:
                helper_rest()
            _gemm_run(call)
    if not call.pin:
        _blas_threads_ran[0] = monotonic_ns()


cdef void _gemm_run(GemmCall* g) noexcept nogil:
    """The gemm call (row-major C = A @ B as column-major C^T = B^T A^T), single-threaded
    where g.pin says."""
    cdef int previous = 0
    cdef int cta = NO_TRANS if g.ta == b'N' else TRANS, ctb = NO_TRANS if g.tb == b'N' else TRANS
    cdef float fone = 1.0, fbeta = <float>g.beta
    cdef double done = 1.0, dbeta = g.beta
    cdef float* fa = <float*>g.a
    cdef float* fb = <float*>g.b
    cdef float* fc = <float*>g.c
    cdef double* da = <double*>g.a
    cdef double* db = <double*>g.b
    cdef double* dc = <double*>g.c
    cdef int ldb = g.ldb
    cdef char tb = g.tb
    if g.pin:
        previous = _set_local_threads(1)
    if g.b_rows != NULL:            # B's columns into rows first (see _gemm_prepared)
        if g.tn == cnp.NPY_FLOAT32:
            _numpy_somatcopy(ROW_MAJOR, TRANS, g.n, g.k, 1.0, fb, g.ldb, <float*>g.b_rows, g.n)
        else:
            _numpy_domatcopy(ROW_MAJOR, TRANS, g.n, g.k, 1.0, db, g.ldb, <double*>g.b_rows, g.n)
        fb, db, ldb, tb, ctb = <float*>g.b_rows, <double*>g.b_rows, g.n, b'N', NO_TRANS
    if _mkl_sgemm != NULL:
        if g.tn == cnp.NPY_FLOAT32:
            _mkl_sgemm(COL_MAJOR, ctb, cta, g.n, g.m, g.k, fone, fb, ldb, fa, g.lda, fbeta,
                       fc, g.ldc)
        else:
            _mkl_dgemm(COL_MAJOR, ctb, cta, g.n, g.m, g.k, done, db, ldb, da, g.lda, dbeta,
                       dc, g.ldc)
    elif g.tn == cnp.NPY_FLOAT32:
        if _numpy_sgemm != NULL:
            _numpy_sgemm(COL_MAJOR, ctb, cta, g.n, g.m, g.k, fone, fb, ldb, fa, g.lda, fbeta,
                         fc, g.ldc)
        else:
            sgemm(&tb, &g.ta, &g.n, &g.m, &g.k, &fone, fb, &ldb, fa, &g.lda, &fbeta, fc,
                  &g.ldc)
    else:
        if _numpy_dgemm != NULL:
            _numpy_dgemm(COL_MAJOR, ctb, cta, g.n, g.m, g.k, done, db, ldb, da, g.lda, dbeta,
                         dc, g.ldc)
        else:
            dgemm(&tb, &g.ta, &g.n, &g.m, &g.k, &done, db, &ldb, da, &g.lda, &dbeta, dc,
                  &g.ldc)
    if g.pin:
        _set_local_threads(previous)


# Which BLAS. MKL (the optional `mkl` wheel: pip install "pyad[mkl]") runs this machine's
# MLP products 15-30% faster than OpenBLAS, as fast as PyTorch's, and runs its threads on the
# OpenMP pool pyad's own kernels use. Without it: two OpenBLAS copies are loaded, numpy's
# and scipy's, each with its own thread pool; pools that wake up together spin against each
# other (on a loaded machine a threaded 64x128 product took milliseconds), and numpy's runs
# large float32 products ~20% faster. So every product goes to numpy's OpenBLAS through its
# 64-bit-index cblas_?gemm when its wheel bundles one, else to scipy.linalg.cython_blas.
# Products too small to gain from threads run single-threaded through the library's
# per-calling-thread setting. PYAD_BLAS=openblas skips MKL.
cdef Py_ssize_t DIRECT_MAX_WORK = 128 * 128 * 128


def set_direct_max_work(Py_ssize_t n):
    """Products of at most n multiply-adds run single-threaded; returns the old value."""
    global DIRECT_MAX_WORK
    old = DIRECT_MAX_WORK
    DIRECT_MAX_WORK = n
    return old
cdef enum:
    ROW_MAJOR = 101
    COL_MAJOR = 102
    NO_TRANS = 111
    TRANS = 112
ctypedef int (*set_threads_fn)(int) noexcept nogil
ctypedef void (*cblas_sgemm_fn)(int, int, int, long long, long long, long long, float,
                                const float*, long long, const float*, long long, float,
                                float*, long long) noexcept nogil
ctypedef void (*cblas_dgemm_fn)(int, int, int, long long, long long, long long, double,
                                const double*, long long, const double*, long long, double,
                                double*, long long) noexcept nogil
ctypedef void (*cblas_sgemm32_fn)(int, int, int, int, int, int, float, const float*, int,
                                  const float*, int, float, float*, int) noexcept nogil
ctypedef void (*cblas_dgemm32_fn)(int, int, int, int, int, int, double, const double*, int,
                                  const double*, int, double, double*, int) noexcept nogil
ctypedef void (*cblas_dgemv32_fn)(int, int, int, int, double, const double*, int,
                                  const double*, int, double, double*, int) noexcept nogil
ctypedef void (*cblas_dgemv_fn)(int, int, long long, long long, double, const double*,
                                long long, const double*, long long, double, double*,
                                long long) noexcept nogil
cdef set_threads_fn _set_local_threads = NULL


# OpenBLAS's "local" thread count is process-wide (MKL's is per thread): two threads pinning
# it to 1 and restoring what each saw, in the wrong order, left it at 1 for good. So pins of
# an OpenBLAS are counted: the first sets 1, the last gives back what was there. Its setter
# as pyad calls it (here and in pyad._C's convolutions): f(1) pins and returns PINNED, f(PINNED)
# unpins; MKL's setter keeps its own protocol (f(1) returns the count that f(count) restores).
cdef enum:
    PINNED = -2
    NUMPY_OPENBLAS = 0
    SCIPY_OPENBLAS = 1
cdef set_threads_fn _openblas_setter[2]
cdef int _pins[2]
cdef int _saved[2]
cdef PyThread_type_lock _pin_lock = PyThread_allocate_lock()


cdef int _counted(int lib, int n) noexcept nogil:
    if _openblas_setter[lib] == NULL:
        return PINNED
    PyThread_acquire_lock(_pin_lock, WAIT_LOCK)
    if n == PINNED:
        _pins[lib] -= 1
        if _pins[lib] == 0:
            _openblas_setter[lib](_saved[lib])
    else:
        if _pins[lib] == 0:
            _saved[lib] = _openblas_setter[lib](1)
        _pins[lib] += 1
    PyThread_release_lock(_pin_lock)
    return PINNED


cdef int _numpy_openblas_pin(int n) noexcept nogil:
    return _counted(NUMPY_OPENBLAS, n)


cdef int _scipy_openblas_pin(int n) noexcept nogil:
    return _counted(SCIPY_OPENBLAS, n)


cdef int _openblas_index(str library) except -1:
    """The counted-pin slot of library's OpenBLAS ("numpy" or "scipy"), its setter looked up
    on first use; -1 when the library bundles none."""
    cdef int lib = NUMPY_OPENBLAS if library == "numpy" else SCIPY_OPENBLAS
    if _openblas_setter[lib] == NULL:
        found = _symbols(library, ["openblas_set_num_threads_local"])
        if not found:
            return -1
        _openblas_setter[lib] = <set_threads_fn><size_t>found[0]
    return lib
cdef cblas_dgemv32_fn _mkl_dgemv = NULL
cdef cblas_dgemv_fn _numpy_dgemv = NULL
cdef cblas_sgemm32_fn _mkl_sgemm = NULL
cdef cblas_dgemm32_fn _mkl_dgemm = NULL
ctypedef void (*omatcopy_s_fn)(int, int, long long, long long, float, const float*, long long,
                               float*, long long) noexcept nogil
ctypedef void (*omatcopy_d_fn)(int, int, long long, long long, double, const double*,
                               long long, double*, long long) noexcept nogil
cdef omatcopy_s_fn _numpy_somatcopy = NULL      # OpenBLAS's out-of-place transposes
cdef omatcopy_d_fn _numpy_domatcopy = NULL
cdef cblas_sgemm_fn _numpy_sgemm = NULL
cdef cblas_dgemm_fn _numpy_dgemm = NULL


def _symbols(package, names):
    """Addresses of the first bundled OpenBLAS of package (its wheel's <package>.libs folder)
    that exports all of names, or None."""
    import ctypes
    import glob
    import importlib
    root = os.path.dirname(os.path.dirname(importlib.import_module(package).__file__))
    for path in sorted(glob.glob(os.path.join(root, f"{package}.libs", "*openblas*.so*"))):
        try:
            lib = ctypes.CDLL(path)
            return [ctypes.cast(getattr(lib, n), ctypes.c_void_p).value for n in names]
        except (OSError, AttributeError):
            continue
    return None


def _mkl_library():
    """MKL's runtime (an installed `mkl` wheel), loaded, when pyad's kernels run on OpenMP
    (GNU's, which MKL then shares); else None."""
    import ctypes
    from pyad import _C
    from pyad.backend._blas_lib import mkl_runtime
    path = mkl_runtime()
    if path is None or not _C.openmp:
        return None
    try:
        return ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    except OSError:
        return None


def _bind_blas():
    global _set_local_threads, _numpy_sgemm, _numpy_dgemm, _mkl_sgemm, _mkl_dgemm
    global _mkl_dgemv, _numpy_dgemv, _blas_threads, _numpy_somatcopy, _numpy_domatcopy
    global _blas_threads_ran, _blas_pthread, BLAS_WORKERS_SPIN_NS
    import ctypes
    mkl = _mkl_library()
    if mkl is not None:
        # MKL's threads on libgomp, the OpenMP runtime pyad's own kernels use: one pool
        mkl.MKL_Set_Threading_Layer(3)         # MKL_THREADING_GNU
        mkl.MKL_Set_Interface_Layer(0)         # MKL_INTERFACE_LP64: 32-bit ints
        # bitwise the same products from run to run (a resumed training run must continue
        # exactly): a fixed thread count, and strict reproducibility for gemm, which cost
        # nothing measurable here; MKL_DYNAMIC / MKL_CBWR in the environment win
        if "MKL_DYNAMIC" not in os.environ:
            mkl.MKL_Set_Dynamic(0)
        if "MKL_CBWR" not in os.environ:
            mkl.MKL_CBWR_Set(2 | 0x10000)      # MKL_CBWR_AUTO | MKL_CBWR_STRICT
        addr = lambda name: ctypes.cast(getattr(mkl, name), ctypes.c_void_p).value  # noqa
        _mkl_sgemm = <cblas_sgemm32_fn><size_t>addr("cblas_sgemm")
        _mkl_dgemm = <cblas_dgemm32_fn><size_t>addr("cblas_dgemm")
        _mkl_dgemv = <cblas_dgemv32_fn><size_t>addr("cblas_dgemv")
        _set_local_threads = <set_threads_fn><size_t>addr("MKL_Set_Num_Threads_Local")
        from pyad import _C
        _C.set_parallel_grain(1 << 15)        # the shared pool's threads are awake: see common.h
        # MKL's threads are that pool's, which a forked child does not get: the child's MKL
        # runs on its own thread, as its kernels do (common.h), instead of hanging
        _C.pool_shared()
        set_threads = mkl.MKL_Set_Num_Threads
        os.register_at_fork(after_in_child=lambda: set_threads(1))
        set_direct_max_work(64 * 64 * 64)     # and so threads pay off for smaller products
        return "mkl"
    for prefix in ("scipy_cblas_", "cblas_"):
        found = _symbols("numpy", [f"{prefix}sgemm64_", f"{prefix}dgemm64_",
                                   "openblas_set_num_threads_local"])
        if found:
            _numpy_sgemm = <cblas_sgemm_fn><size_t>found[0]
            _numpy_dgemm = <cblas_dgemm_fn><size_t>found[1]
            _openblas_setter[NUMPY_OPENBLAS] = <set_threads_fn><size_t>found[2]
            _set_local_threads = _numpy_openblas_pin
            gemv = _symbols("numpy", [f"{prefix}dgemv64_"])
            if gemv:
                _numpy_dgemv = <cblas_dgemv_fn><size_t>gemv[0]
            copies = _symbols("numpy", [f"{prefix}somatcopy64_", f"{prefix}domatcopy64_"])
            if copies:
                _numpy_somatcopy = <omatcopy_s_fn><size_t>copies[0]
                _numpy_domatcopy = <omatcopy_d_fn><size_t>copies[1]
            for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                         "openblas_get_num_threads"):
                threads = _symbols("numpy", [name])
                if threads:
                    _blas_threads = <get_threads_fn><size_t>threads[0]
                    break
            workers = _symbols("numpy", ["gotoblas_pthread"])
            if workers and _blas_threads != NULL:
                from pyad import _C
                _blas_threads_ran = <long long*><size_t>_C.use_blas_workers(
                    workers[0], <size_t>_blas_threads)
                _blas_threads_ran[0] = _own_threads_ran
                _blas_pthread = <blas_pthread_fn><size_t>workers[0]
                BLAS_WORKERS_SPIN_NS = _C.blas_workers_spin_ns
            return "numpy"
    global sgemm, dgemm
    sgemm = <f77_sgemm_fn>_scipy_blas("sgemm")
    dgemm = <f77_dgemm_fn>_scipy_blas("dgemm")
    if _openblas_index("scipy") >= 0:
        _set_local_threads = _scipy_openblas_pin
    return "scipy"


BLAS = _bind_blas()     # which library's gemm the products call
if _HELPER_OK:          # and the kernels between split products in halves too (common.h)
    from pyad import _C
    _C.use_helper(<size_t>&helper_halves)


cdef class _OneThread:
    """fn(*args, **kwargs) with one OpenBLAS library on the caller's thread alone (a counted
    pin: see _counted); the library's setter is looked up on the first call (scipy's
    OpenBLAS loads with scipy.linalg, on first use)."""
    cdef int lib
    cdef object library
    cdef public object __wrapped__, __name__, __doc__

    def __call__(self, *args, **kwargs):
        if self.library is not None:
            self.lib = _openblas_index(self.library)
            self.library = None
        if self.lib < 0:
            return self.__wrapped__(*args, **kwargs)
        _counted(self.lib, 1)
        try:
            return self.__wrapped__(*args, **kwargs)
        finally:
            _counted(self.lib, PINNED)


def on_one_lapack_thread(fn, library):
    """fn, which calls LAPACK through library ("numpy": numpy.linalg; "scipy": scipy.linalg,
    each wheel bundling its own OpenBLAS), made to run that OpenBLAS on the caller's thread
    alone, unless it is the library pyad's products use (then fn itself). Two thread pools
    on 2 cores fight: after a threaded call OpenBLAS's workers spin for ~0.1 s, and the other
    pool's products wait for the core they hold. A gradient through a 300 x 300
    solve_triangular and a product took 8-16 ms (p90 16-48) with scipy's pool threaded and
    5.0-5.3 ms pinned; a Gaussian-process gradient with MKL doing the products 2x autograd's
    time threaded, 0.39x pinned."""
    if library == BLAS:
        return fn
    cdef _OneThread pinned = _OneThread.__new__(_OneThread)
    pinned.lib = -1
    pinned.library = library
    pinned.__wrapped__ = fn
    pinned.__name__, pinned.__doc__ = getattr(fn, "__name__", "kernel"), fn.__doc__
    return pinned


def gemm_pointers():
    """(abi, sgemm, dgemm, set_local_threads) as addresses, for C++ kernels that call the same
    BLAS from their own threads (pyad._C's convolutions): abi 1 = cblas with 32-bit ints
    (MKL), 2 = cblas with 64-bit ints (numpy's OpenBLAS), 3 = Fortran gemm (scipy's);
    set_local_threads (0 when absent) pins the calling thread's BLAS to one thread: f(1)
    returns a value v that f(v) restores (MKL's count; for OpenBLAS, whose count is
    process-wide, a counted pin: see _counted)."""
    if _mkl_sgemm != NULL:
        abi, s, d = 1, <size_t>_mkl_sgemm, <size_t>_mkl_dgemm
    elif _numpy_sgemm != NULL:
        abi, s, d = 2, <size_t>_numpy_sgemm, <size_t>_numpy_dgemm
    else:
        abi, s, d = 3, <size_t>sgemm, <size_t>dgemm
    return abi, s, d, <size_t>_set_local_threads


cdef inline bint _gemm_ready(a, b):
    """Two 2-D float arrays of one dtype: what gemm takes."""
    return (type(a) is np.ndarray and type(b) is np.ndarray and a.ndim == 2 and b.ndim == 2
            and a.dtype == b.dtype and (a.dtype == np.float64 or a.dtype == np.float32))


def _check_aligned(a, b):
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"pyad.matmul: shapes {a.shape} and {b.shape} are not aligned "
                         f"({a.shape[1]} != {b.shape[0]})")


def matmul(a, b):
    """np.matmul semantics for arrays of ndim >= 2; 2-D float products call gemm directly
    (saving numpy's ~0.35 us of dispatch), batched ones go through np.matmul."""
    if _gemm_ready(a, b):
        _check_aligned(a, b)
        return gemm(a, b)
    return np.matmul(a, b)


def matmul_into(dest, a, b):
    """dest = a @ b by gemm writing into dest, for 2-D float arrays of dest's dtype and a
    C-contiguous dest of the product's shape (a gradient's place in a bucket, see
    pyad.engine's set_grad_destination); returns False, writing nothing, for anything else
    (batched or mixed-dtype products, a dest that does not fit)."""
    if not (_gemm_ready(a, b) and type(dest) is np.ndarray and dest.dtype == a.dtype
            and dest.ndim == 2 and dest.shape[0] == a.shape[0] and dest.shape[1] == b.shape[1]
            and a.shape[1] == b.shape[0] and dest.flags.c_contiguous and dest.flags.writeable):
        return False
    gemm(a, b, dest, False)
    return True


def matmul_sum_into(dest, a, b, c, d):
    """dest = a @ b + c @ d by two gemm calls writing into dest (the second adding, beta = 1),
    on the terms matmul_into takes; False, writing nothing, otherwise."""
    if not (_gemm_ready(c, d) and c.dtype == a.dtype and c.shape[0] == a.shape[0]
            and d.shape[1] == b.shape[1] and c.shape[1] == d.shape[0]
            and matmul_into(dest, a, b)):
        return False
    gemm(c, d, dest)
    return True


def rows_matvec(cnp.ndarray A, cnp.ndarray x, cnp.ndarray y, double alpha, double beta,
                bint transpose=False):
    """y = alpha * op(A) @ x + beta * y in place, op(A) = A or A.T, for a C-contiguous float64
    matrix and contiguous float64 vectors (the Lanczos basis' projections): BLAS gemv, which
    streams A at about twice the rate of a one-column gemm here. Returns y."""
    cdef cnp.ndarray arr
    for arr, nd in ((A, 2), (x, 1), (y, 1)):
        if (cnp.PyArray_TYPE(arr) != cnp.NPY_FLOAT64 or cnp.PyArray_NDIM(arr) != nd
                or not cnp.PyArray_IS_C_CONTIGUOUS(arr)):
            raise ValueError("pyad rows_matvec: needs a float64 C-contiguous 2-D A and 1-D x, y")
    cdef int m = <int>cnp.PyArray_DIM(A, 0), n = <int>cnp.PyArray_DIM(A, 1)
    if (cnp.PyArray_DIM(x, 0) != (m if transpose else n)
            or cnp.PyArray_DIM(y, 0) != (n if transpose else m)):
        raise ValueError(f"pyad rows_matvec: A {(<object>A).shape}, x {(<object>x).shape} and "
                         f"y {(<object>y).shape} do not fit")
    cdef double* pa = <double*>cnp.PyArray_DATA(A)
    cdef double* px = <double*>cnp.PyArray_DATA(x)
    cdef double* py = <double*>cnp.PyArray_DATA(y)
    cdef int trans = TRANS if transpose else NO_TRANS
    if m == 0 or n == 0:
        y *= beta
        return y
    if _mkl_dgemv != NULL:
        with nogil:
            _mkl_dgemv(ROW_MAJOR, trans, m, n, alpha, pa, n, px, 1, beta, py, 1)
    elif _numpy_dgemv != NULL:
        with nogil:
            _numpy_dgemv(ROW_MAJOR, trans, m, n, alpha, pa, n, px, 1, beta, py, 1)
    else:
        y *= beta
        y += alpha * (A.T @ x if transpose else A @ x)
    return y


def pool_matmul(a, b):
    """a @ b for 2-D float64/float32 arrays on the thread pool pyad's products use: numpy's
    own matmul where that is numpy's OpenBLAS (its gemv is the faster for one column), gemm
    where it is MKL (a numpy BLAS call would wake OpenBLAS's pool to spin against MKL's)."""
    if BLAS == "mkl" and _gemm_ready(a, b):
        _check_aligned(a, b)
        return gemm(a, b)
    return np.matmul(a, b)


def matmul_sum(a, b, c, d):
    """a @ b + c @ d; for 2-D operands the second product is accumulated into the first by
    gemm (no temporary, no separate add pass)."""
    if _gemm_ready(a, b) and _gemm_ready(c, d) and a.dtype == c.dtype:
        _check_aligned(a, b)
        _check_aligned(c, d)
        if (a.shape[0], b.shape[1]) == (c.shape[0], d.shape[1]):
            return gemm(c, d, gemm(a, b))
    return np.add(np.matmul(a, b), np.matmul(c, d))
