"""cuBLAS GEMMs called directly (ctypes) on CuPy arrays: products a CUDA graph can capture.

CuPy's own cuBLAS wrappers refuse to run while a stream is being captured ("calling cuBLAS
API during stream capture is currently unsupported"), so a compiled program with a matrix
product could not become a CUDA graph. cuBLAS itself captures GEMMs (with host-pointer alpha
and beta, their values are recorded in the graph), so pyad's CUDA backend calls
cublasSgemm_v2 / cublasDgemm_v2 from the library CuPy loaded, on CuPy's handle and the current
stream, for every 2-D float32/float64 product of C- or F-contiguous operands, eagerly and
under capture alike (one path, so a replayed graph is bitwise the eager run). Anything else
(batched, strided, integer or complex products) goes to CuPy's matmul.
"""
import ctypes

import numpy as np

OP_N, OP_T = 0, 1
_INT_MAX = 2 ** 31 - 1


def loaded_library(name):
    """The path of the shared library `name` (e.g. "libcublas") this process has loaded, from
    /proc/self/maps; None where it is not loaded or the map cannot be read (not Linux)."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.rsplit(" ", 1)[-1].strip()
                if path.rsplit("/", 1)[-1].startswith(name + ".so"):
                    return path
    except OSError:
        pass
    return None


def _operand(x):
    """(cuBLAS op, leading dimension) that gives x (r x c, row-major as numpy sees it) to a
    column-major GEMM as x transposed: a C-contiguous x already is x.T in column-major order
    (op N, ld c), an F-contiguous one is x in column-major order (op T, ld r); else None."""
    r, c = x.shape
    if x.flags.c_contiguous:
        return OP_N, max(c, 1)
    if x.flags.f_contiguous:
        return OP_T, max(r, 1)
    return None


def gemm_plan(a, b):
    """The column-major call computing a @ b (a m x k, b k x n) into a C-contiguous m x n
    array: C.T = b.T @ a.T, so (op_b, op_a, n, m, k, ldb, lda, ldc) for
    gemm(handle, op_b, op_a, n, m, k, alpha, b, ldb, a, lda, beta, c, ldc); None where the
    operands' layouts or sizes need another path."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        return None
    pa, pb = _operand(a), _operand(b)
    (m, k), n = a.shape, b.shape[1]
    if pa is None or pb is None or max(m, n, k, pa[1], pb[1]) > _INT_MAX:
        return None
    return pb[0], pa[0], n, m, k, pb[1], pa[1], max(n, 1)


class Gemm:
    """a @ b (and out += a @ b) on CuPy arrays through cuBLAS directly (see the module)."""

    def __init__(self, cupy):
        self.cupy = cupy
        cupy.cuda.device.get_cublas_handle()       # CuPy loads libcublas with its first handle
        path = loaded_library("libcublas")
        if path is None:
            raise OSError("pyad: libcublas is not among the loaded libraries")
        lib = ctypes.CDLL(path)
        ptr, i32 = ctypes.c_void_p, ctypes.c_int
        self._set_stream = lib.cublasSetStream_v2
        self._set_stream.argtypes, self._set_stream.restype = [ptr, ptr], i32
        self._get_stream = lib.cublasGetStream_v2
        self._get_stream.argtypes, self._get_stream.restype = [ptr, ptr], i32
        self._handle_stream = ctypes.c_void_p()
        self._gemm = {}
        for dtype, symbol, scalar in ((np.float32, "cublasSgemm_v2", ctypes.c_float),
                                      (np.float64, "cublasDgemm_v2", ctypes.c_double)):
            fn = getattr(lib, symbol)
            fn.argtypes = [ptr, i32, i32, i32, i32, i32, ptr, ptr, i32, ptr, i32, ptr, ptr, i32]
            fn.restype = i32
            one, zero = scalar(1.0), scalar(0.0)
            self._gemm[np.dtype(dtype)] = (fn, ctypes.addressof(one), ctypes.addressof(zero),
                                           (one, zero))     # the last keeps the scalars alive

    def _handle(self):
        """CuPy's cuBLAS handle of the current device, on the current stream. cuBLAS resets
        its workspace whenever its stream is set, so it is set only where it differs (CuPy
        sets it before each of its own calls too, so another stream may have been left)."""
        cp = self.cupy
        handle = cp.cuda.device.get_cublas_handle()
        stream = cp.cuda.get_current_stream().ptr
        self._get_stream(handle, ctypes.byref(self._handle_stream))
        if (self._handle_stream.value or 0) != stream:
            self._set_stream(handle, stream)
        return handle

    def __call__(self, a, b, out=None, accumulate=True):
        """a @ b as a new C-contiguous array, or into `out` (C-contiguous, m x n, a's dtype):
        added to it (accumulate) or written over it; None (nothing done) where the product
        needs CuPy's matmul."""
        entry = self._gemm.get(a.dtype)
        if entry is None or b.dtype != a.dtype:
            return None
        plan = gemm_plan(a, b)
        if plan is None:
            return None
        op_b, op_a, n, m, k, ldb, lda, ldc = plan
        device = a.device
        if device.id != b.device.id:
            return None
        with device:
            if out is None:
                out, beta = self.cupy.empty((m, n), a.dtype), entry[2]
            elif (out.shape != (m, n) or out.dtype != a.dtype or not out.flags.c_contiguous
                  or out.device.id != device.id):
                return None
            else:
                beta = entry[1] if accumulate else entry[2]
            if m == 0 or n == 0:
                return out
            if k == 0:
                if beta == entry[2]:
                    out.fill(0)
                return out
            status = entry[0](self._handle(), op_b, op_a, n, m, k, entry[1], b.data.ptr, ldb,
                              a.data.ptr, lda, beta, out.data.ptr, ldc)
        if status != 0:
            raise RuntimeError(f"pyad: cuBLAS gemm of {a.shape} @ {b.shape} ({a.dtype}) "
                               f"failed with status {status}")
        return out
