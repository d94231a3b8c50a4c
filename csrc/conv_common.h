// What the convolution files share: window geometry, a convolution's shape, pyad's BLAS gemm
// called from kernel threads, OpenMP threads each pinned to one BLAS thread, the Winograd path.
#pragma once
#include <algorithm>
#include <vector>

#include "common.h"

namespace pyad {

// A 2-D window sweep: kernel kh x kw, strides, zero (or -inf) padding before each axis,
// dilations and the output size, as pyad.ops.convolution computes them.
struct Geom {
    npy_intp kh, kw, sh, sw, ph, pw, dh, dw, OH, OW;
};

inline Geom read_geom(const char* k, PyObject* o) {
    npy_intp v[10];
    if (!PyTuple_Check(o) || PyTuple_GET_SIZE(o) != 10)
        raise(PyExc_TypeError, "pyad._C.%s: geometry must be a tuple of 10 ints (kh, kw, sh, sw, ph, pw, dh, dw, OH, OW)", k);
    for (int i = 0; i < 10; ++i) {
        v[i] = PyLong_AsSsize_t(PyTuple_GET_ITEM(o, i));
        if (v[i] == -1 && PyErr_Occurred()) throw PyErrSet{};
    }
    Geom g{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]};
    if (g.kh < 1 || g.kw < 1 || g.sh < 1 || g.sw < 1 || g.dh < 1 || g.dw < 1 || g.ph < 0 || g.pw < 0 ||
        g.OH < 0 || g.OW < 0)
        raise(PyExc_ValueError, "pyad._C.%s: invalid geometry", k);
    return g;
}

inline PyArrayObject* as_4d(const char* k, PyObject* o, const char* what) {
    PyArrayObject* a = as_input(k, o, what);
    if (PyArray_NDIM(a) != 4) raise(PyExc_ValueError, "pyad._C.%s: %s must be 4-d (N, C, H, W)", k, what);
    return a;
}

// The output columns ow whose input column ow * sw + off lies in [0, W): [lo, hi).
inline void valid_span(npy_intp off, npy_intp sw, npy_intp W, npy_intp OW, npy_intp* lo, npy_intp* hi) {
    npy_intp a = off >= 0 ? 0 : (-off + sw - 1) / sw;
    npy_intp b = W - 1 - off >= 0 ? (W - 1 - off) / sw + 1 : 0;
    *lo = std::min(a, OW);
    *hi = std::max(*lo, std::min(b, OW));
}

// ------------------------------------------------------------------- BLAS
// The GEMM of pyad's BLAS (pyad.backend._blas.gemm_pointers, set once by set_blas): called per
// image from pyad's own threads, each pinned to one BLAS thread, so BLAS never starts a pool
// of its own to spin against ours (DESIGN.md: both spin; together they were ~20x slower).
struct Blas {
    int abi = 0;                   // 1 cblas/int32 (MKL), 2 cblas/int64 (numpy's OpenBLAS), 3 f77
    void* gemm[2] = {nullptr, nullptr};     // float, double
    int (*set_local_threads)(int) = nullptr;
};
inline Blas g_blas;

template <class T, class I>
using CblasFn = void (*)(int, int, int, I, I, I, T, const T*, I, const T*, I, T, T*, I);
template <class T>
using F77Fn = void (*)(const char*, const char*, const int*, const int*, const int*, const T*, const T*,
                       const int*, const T*, const int*, const T*, T*, const int*);

// Row-major C (M x N, leading dim ldc) = alpha op(A) op(B) + beta C.
template <class T>
void gemm(bool ta, bool tb, npy_intp M, npy_intp N, npy_intp K, T alpha, const T* A, npy_intp lda, const T* B,
          npy_intp ldb, T beta, T* C, npy_intp ldc) {
    void* f = g_blas.gemm[sizeof(T) == 8];
    const int a = ta ? 112 : 111, b = tb ? 112 : 111;
    if (g_blas.abi == 1)
        ((CblasFn<T, int>)f)(101, a, b, (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
    else if (g_blas.abi == 2)
        ((CblasFn<T, long long>)f)(101, a, b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else {     // column-major: C^T = op(B)^T op(A)^T
        const char ca = ta ? 'T' : 'N', cb = tb ? 'T' : 'N';
        const int m = (int)N, n = (int)M, k = (int)K, la = (int)ldb, lb = (int)lda, lc = (int)ldc;
        ((F77Fn<T>)f)(&cb, &ca, &m, &n, &k, &alpha, B, &la, A, &lb, &beta, C, &lc);
    }
}

// One BLAS thread for the calling thread while alive, undone after: set_local_threads(1)
// returns the value that undoes it (MKL: the thread's previous count; OpenBLAS, whose count
// is process-wide: a token for pyad._blas's counted pin).
struct PinBlas {
    bool active = false;
    int previous = 0;
    explicit PinBlas(bool pin) {
        if (pin && g_blas.set_local_threads) {
            previous = g_blas.set_local_threads(1);
            active = true;
        }
    }
    ~PinBlas() {
        if (active) g_blas.set_local_threads(previous);
    }
};

// f(threads, thread) on nt OpenMP threads (1: the caller's), each with its BLAS pinned to one
// thread when `pin`. Pinned on the caller's thread before the workers start as well as on
// each worker: OpenBLAS's "local" thread count is process-wide, so workers pinning and
// restoring it one after another left the others' GEMMs threaded and serialised on its lock.
template <class F>
void on_pinned_threads(int nt, bool pin, F&& f) {
    PinBlas pin_caller(pin);
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        PinBlas pin_worker(pin);
        f((npy_intp)omp_get_num_threads(), (npy_intp)omp_get_thread_num());
    }
#else
    (void)nt;
    f(npy_intp(1), npy_intp(0));
#endif
}

// ------------------------------------------------------------------- convolutions
// Per image, a block of output rows at a time (its unfolded columns at most kColBlock entries,
// so they stay in cache between the unfolding and the GEMM), images split between threads.
constexpr npy_intp kColBlock = npy_intp(1) << 18;

struct ConvShape {
    npy_intp N, C, H, W, O, groups, Cg, Og, K, P;
    Geom g;
    npy_intp rows_per_block() const {
        npy_intp per_row = C * g.kh * g.kw * g.OW;
        return std::max<npy_intp>(1, std::min<npy_intp>(g.OH, kColBlock / std::max<npy_intp>(per_row, 1)));
    }
};

// The Winograd F(2x2, 3x3) path (winograd.cpp): whether a convolution of this shape takes it,
// and its three kernels (float and double).
inline bool g_winograd = true;     // set_winograd: off, every convolution takes im2col (tests compare)
bool winograd_fits(const ConvShape& s);
template <class T>
void winograd_forward(const T* x, const T* w, T* y, const ConvShape& s);
template <class T>
void winograd_input_grad(const T* gy, const T* w, T* dx, const ConvShape& s);
template <class T>
void winograd_weight_grad(const T* x, const T* gy, T* dw, const ConvShape& s);

}  // namespace pyad
