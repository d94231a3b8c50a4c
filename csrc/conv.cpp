// Convolution and pooling kernels on NCHW planes: convolutions as per-image unfolding (im2col) and
// GEMMs on pyad's BLAS (3x3 stride-1 ones as Winograd F(2x2, 3x3): winograd.cpp), with their two
// transposes; max and average pooling with backwards.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "conv_common.h"

namespace pyad {
namespace {

PyObject* set_blas_entry(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const names[] = {"abi", "sgemm", "dgemm", "set_local_threads"};
    const char* k = "set_blas";
    PyObject* slot[4];
    parse_args(k, args, nargs, kwnames, names, 4, 4, slot);
    npy_intp abi = as_ssize(k, slot[0], "abi");
    if (abi < 1 || abi > 3) raise(PyExc_ValueError, "pyad._C.set_blas: abi must be 1, 2 or 3");
    void* p[3];
    for (int i = 0; i < 3; ++i) {
        p[i] = PyLong_AsVoidPtr(slot[i + 1]);
        if (PyErr_Occurred()) throw PyErrSet{};
    }
    if (!p[0] || !p[1]) raise(PyExc_ValueError, "pyad._C.set_blas: null gemm");
    g_blas.abi = (int)abi;
    g_blas.gemm[0] = p[0];
    g_blas.gemm[1] = p[1];
    g_blas.set_local_threads = (int (*)(int))p[2];
    Py_RETURN_NONE;
}

// ------------------------------------------------------------------- unfolding
// col (C kh kw, (oh1 - oh0) OW), rows ld apart: row (c, i, j), column (oh, ow) holds
// img[c, oh sh - ph + i dh, ow sw - pw + j dw] for output rows oh0 <= oh < oh1, zero outside the
// image. The rows of one group are contiguous, so group g's GEMM reads a row block; ld wider
// than the block puts several images' columns side by side.
//
// The walk both directions share: f(col_row, image_row, lo, hi) for each output row of each
// column row, col_row its OW entries, image_row the pixel its column ow = 0 stands for
// (entries lo <= ow < hi read image_row[ow sw]; the others fall in the padding), or nullptr
// when the whole row lies in the padding.
template <class T, class Img, class F>
void walk_taps(Img* img, T* col, npy_intp C, npy_intp H, npy_intp W, const Geom& g, npy_intp oh0,
               npy_intp oh1, npy_intp ld, F&& f) {
    for (npy_intp r = 0; r < C * g.kh * g.kw; ++r) {
        const npy_intp c = r / (g.kh * g.kw), i = (r / g.kw) % g.kh, j = r % g.kw;
        const npy_intp off = j * g.dw - g.pw;
        npy_intp lo, hi;
        valid_span(off, g.sw, W, g.OW, &lo, &hi);
        T* row = col + r * ld;
        for (npy_intp oh = oh0; oh < oh1; ++oh, row += g.OW) {
            const npy_intp ih = oh * g.sh - g.ph + i * g.dh;
            f(row, ih < 0 || ih >= H ? nullptr : img + c * H * W + ih * W + off, lo, hi);
        }
    }
}

template <class T>
void unfold_rows(const T* img, T* col, npy_intp C, npy_intp H, npy_intp W, const Geom& g, npy_intp oh0,
                 npy_intp oh1, npy_intp ld) {
    walk_taps(img, col, C, H, W, g, oh0, oh1, ld, [&](T* dst, const T* src, npy_intp lo, npy_intp hi) {
        if (!src) {
            std::fill(dst, dst + g.OW, T(0));
            return;
        }
        std::fill(dst, dst + lo, T(0));
        if (g.sw == 1) std::copy(src + lo, src + hi, dst + lo);
        else
            for (npy_intp ow = lo; ow < hi; ++ow) dst[ow] = src[ow * g.sw];
        std::fill(dst + hi, dst + g.OW, T(0));
    });
}

// The transpose of unfold_rows: every column entry added back onto the pixel it came from.
template <class T>
void fold_rows(const T* col, T* img, npy_intp C, npy_intp H, npy_intp W, const Geom& g, npy_intp oh0,
               npy_intp oh1, npy_intp ld) {
    walk_taps(img, col, C, H, W, g, oh0, oh1, ld, [&](const T* src, T* row, npy_intp lo, npy_intp hi) {
        if (!row) return;
        if (g.sw == 1)
            for (npy_intp ow = lo; ow < hi; ++ow) row[ow] += src[ow];
        else
            for (npy_intp ow = lo; ow < hi; ++ow) row[ow * g.sw] += src[ow];
    });
}

// f(n0, count, col, gbuf, thread, rows) for every image, images split between threads (each with
// its own buffers and one BLAS thread); a single thread keeps threaded BLAS only for GEMMs big
// enough to pay for waking BLAS's threads (small ones ran 100x slower unpinned). With `batch`,
// images small enough are handed out `count` at a time, so the transposes' GEMMs run over
// several images' columns side by side (their inner dimension the images' pixels: 15-25%
// faster than one image at a time on 14x14 images); gbuf then holds (O, count P).
constexpr npy_intp kThreadedGemm = npy_intp(1) << 22;  // multiply-adds per GEMM

template <class T, class F>
void for_images(const ConvShape& s, bool batch, F&& f) {
    const npy_intp rows = s.rows_per_block(), unfolded = s.C * s.g.kh * s.g.kw;
    const npy_intp per_group = batch && rows == s.g.OH ? std::max<npy_intp>(1, kColBlock / std::max<npy_intp>(unfolded * s.P, 1)) : 1;
    const size_t col_size = (size_t)(unfolded * rows * s.g.OW * per_group);
    const size_t gbuf_size = per_group > 1 ? (size_t)(s.O * s.P * per_group) : 0;
    const npy_intp work = s.N * s.O * s.P * s.K;
    int nt = s.N > 1 ? threads_for(work / 16) : 1;
#ifdef _OPENMP
    nt = std::min<npy_intp>(nt, s.N);
#endif
    on_pinned_threads(nt, nt > 1 || s.O * s.K * rows * s.g.OW < kThreadedGemm, [&](npy_intp T_, npy_intp t) {
        std::vector<T> col(col_size), gbuf(gbuf_size);
        const npy_intp end = s.N * (t + 1) / T_;
        for (npy_intp n = s.N * t / T_; n < end; n += per_group)
            f(n, std::min(per_group, end - n), col.data(), gbuf.data(), t, rows);
    });
}

// gbuf (O, count P) <- gy's images n0 .. n0 + count - 1, side by side.
template <class T>
void gather_images(const T* gy, T* gbuf, npy_intp n0, npy_intp count, const ConvShape& s) {
    for (npy_intp i = 0; i < count; ++i)
        for (npy_intp o = 0; o < s.O; ++o)
            std::copy_n(gy + ((n0 + i) * s.O + o) * s.P, s.P, gbuf + o * count * s.P + i * s.P);
}

template <class T>
void conv_forward_typed(const T* x, const T* w, T* y, const ConvShape& s) {
    if (winograd_fits(s)) return winograd_forward(x, w, y, s);
    // one image per GEMM: side by side, its output would need a copy back to NCHW, and the
    // wider GEMM was no faster
    for_images<T>(s, false, [&](npy_intp n, npy_intp, T* col, T*, npy_intp, npy_intp rows) {
        const T* img = x + n * s.C * s.H * s.W;
        for (npy_intp oh0 = 0; oh0 < s.g.OH; oh0 += rows) {
            const npy_intp oh1 = std::min(s.g.OH, oh0 + rows), width = (oh1 - oh0) * s.g.OW;
            unfold_rows(img, col, s.C, s.H, s.W, s.g, oh0, oh1, width);
            for (npy_intp gi = 0; gi < s.groups; ++gi)
                gemm<T>(false, false, s.Og, width, s.K, T(1), w + gi * s.Og * s.K, s.K, col + gi * s.K * width,
                        width, T(0), y + (n * s.O + gi * s.Og) * s.P + oh0 * s.g.OW, s.P);
        }
    });
}

template <class T>
void conv_input_grad_typed(const T* gy, const T* w, T* dx, const ConvShape& s) {
    if (winograd_fits(s)) return winograd_input_grad(gy, w, dx, s);
    for_images<T>(s, true, [&](npy_intp n0, npy_intp count, T* col, T* gbuf, npy_intp, npy_intp rows) {
        std::fill(dx + n0 * s.C * s.H * s.W, dx + (n0 + count) * s.C * s.H * s.W, T(0));
        if (count > 1) {        // whole images, side by side
            const npy_intp ld = count * s.P;
            gather_images(gy, gbuf, n0, count, s);
            for (npy_intp gi = 0; gi < s.groups; ++gi)
                gemm<T>(true, false, s.K, ld, s.Og, T(1), w + gi * s.Og * s.K, s.K, gbuf + gi * s.Og * ld, ld,
                        T(0), col + gi * s.K * ld, ld);
            for (npy_intp i = 0; i < count; ++i)
                fold_rows(col + i * s.P, dx + (n0 + i) * s.C * s.H * s.W, s.C, s.H, s.W, s.g, 0, s.g.OH, ld);
            return;
        }
        T* img = dx + n0 * s.C * s.H * s.W;  // one image, a block of rows at a time
        for (npy_intp oh0 = 0; oh0 < s.g.OH; oh0 += rows) {
            const npy_intp oh1 = std::min(s.g.OH, oh0 + rows), width = (oh1 - oh0) * s.g.OW;
            for (npy_intp gi = 0; gi < s.groups; ++gi)
                gemm<T>(true, false, s.K, width, s.Og, T(1), w + gi * s.Og * s.K, s.K,
                        gy + (n0 * s.O + gi * s.Og) * s.P + oh0 * s.g.OW, s.P, T(0), col + gi * s.K * width, width);
            fold_rows(col, img, s.C, s.H, s.W, s.g, oh0, oh1, width);
        }
    });
}

// dw = sum over images of gy_n (unfolded x_n)^T, one partial sum per thread added at the end.
template <class T>
void conv_weight_grad_typed(const T* x, const T* gy, T* dw, const ConvShape& s) {
    if (winograd_fits(s)) return winograd_weight_grad(x, gy, dw, s);
    const size_t wsize = (size_t)(s.O * s.K);
#ifdef _OPENMP
    std::vector<std::vector<T>> partial((size_t)std::max(1, omp_get_max_threads()));
#else
    std::vector<std::vector<T>> partial(1);
#endif
    std::fill(dw, dw + wsize, T(0));
    for_images<T>(s, true, [&](npy_intp n0, npy_intp count, T* col, T* gbuf, npy_intp t, npy_intp rows) {
        T* acc = dw;
        if (t > 0) {
            if (partial[t].empty()) partial[t].assign(wsize, T(0));
            acc = partial[t].data();
        }
        if (count > 1) {        // whole images, side by side
            const npy_intp ld = count * s.P;
            gather_images(gy, gbuf, n0, count, s);
            for (npy_intp i = 0; i < count; ++i)
                unfold_rows(x + (n0 + i) * s.C * s.H * s.W, col + i * s.P, s.C, s.H, s.W, s.g, 0, s.g.OH, ld);
            for (npy_intp gi = 0; gi < s.groups; ++gi)
                gemm<T>(false, true, s.Og, s.K, ld, T(1), gbuf + gi * s.Og * ld, ld, col + gi * s.K * ld, ld, T(1),
                        acc + gi * s.Og * s.K, s.K);
            return;
        }
        const T* img = x + n0 * s.C * s.H * s.W;  // one image, a block of rows at a time
        for (npy_intp oh0 = 0; oh0 < s.g.OH; oh0 += rows) {
            const npy_intp oh1 = std::min(s.g.OH, oh0 + rows), width = (oh1 - oh0) * s.g.OW;
            unfold_rows(img, col, s.C, s.H, s.W, s.g, oh0, oh1, width);
            for (npy_intp gi = 0; gi < s.groups; ++gi)
                gemm<T>(false, true, s.Og, s.K, width, T(1), gy + (n0 * s.O + gi * s.Og) * s.P + oh0 * s.g.OW, s.P,
                        col + gi * s.K * width, width, T(1), acc + gi * s.Og * s.K, s.K);
        }
    });
    for (auto& p : partial)
        if (!p.empty())
            for (size_t i = 0; i < wsize; ++i) dw[i] += p[i];
}

// conv2d_forward(x, w, y, geometry, groups); conv2d_input_grad(gy, w, dx, geometry, groups);
// conv2d_weight_grad(x, gy, dw, geometry, groups): every array C-contiguous NCHW / OIHW, the
// third one written.
template <int Kind>
PyObject* conv_entry(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const n0[] = {"x", "w", "y", "geometry", "groups"};
    static const char* const n1[] = {"gy", "w", "dx", "geometry", "groups"};
    static const char* const n2[] = {"x", "gy", "dw", "geometry", "groups"};
    const char* k = Kind == 0 ? "conv2d_forward" : Kind == 1 ? "conv2d_input_grad" : "conv2d_weight_grad";
    PyObject* slot[5];
    parse_args(k, args, nargs, kwnames, Kind == 0 ? n0 : Kind == 1 ? n1 : n2, 5, 5, slot);
    PyArrayObject* a[3];
    for (int i = 0; i < 3; ++i) a[i] = as_4d(k, slot[i], (Kind == 0 ? n0 : Kind == 1 ? n1 : n2)[i]);
    int tn = float_dtype(k, a, 3);
    if (!PyArray_ISWRITEABLE(a[2])) raise(PyExc_ValueError, "pyad._C.%s: output is not writeable", k);
    if (!g_blas.abi) raise(PyExc_RuntimeError, "pyad._C.%s: no BLAS (pyad._C.set_blas was not called)", k);
    ConvShape s;
    s.g = read_geom(k, slot[3]);
    s.groups = as_ssize(k, slot[4], "groups");
    // x-like, y-like and w-like arrays by kind
    PyArrayObject* xa = Kind == 1 ? a[2] : a[0];
    PyArrayObject* ya = Kind == 0 ? a[2] : Kind == 1 ? a[0] : a[1];
    PyArrayObject* wa = Kind == 2 ? a[2] : a[1];
    s.N = PyArray_DIM(xa, 0); s.C = PyArray_DIM(xa, 1); s.H = PyArray_DIM(xa, 2); s.W = PyArray_DIM(xa, 3);
    s.O = PyArray_DIM(wa, 0);
    s.Cg = PyArray_DIM(wa, 1);
    bool ok = s.groups >= 1 && s.C % s.groups == 0 && s.O % s.groups == 0 && s.Cg * s.groups == s.C &&
              PyArray_DIM(wa, 2) == s.g.kh && PyArray_DIM(wa, 3) == s.g.kw && PyArray_DIM(ya, 0) == s.N &&
              PyArray_DIM(ya, 1) == s.O && PyArray_DIM(ya, 2) == s.g.OH && PyArray_DIM(ya, 3) == s.g.OW;
    if (!ok) raise(PyExc_ValueError, "pyad._C.%s: shapes do not fit the geometry and groups", k);
    s.Og = s.O / s.groups;
    s.K = s.Cg * s.g.kh * s.g.kw;
    s.P = s.g.OH * s.g.OW;
    void* p0 = PyArray_DATA(a[0]);
    void* p1 = PyArray_DATA(a[1]);
    void* p2 = PyArray_DATA(a[2]);
    if (s.N * s.O * s.P == 0 || s.K == 0) {
        if (Kind != 0) std::memset(p2, 0, (size_t)PyArray_NBYTES(a[2]));
        Py_RETURN_NONE;
    }
    {
        MaybeNoGil nogil(true);
        dispatch_float(tn, [&](auto t) {
            using T = decltype(t);
            if (Kind == 0) conv_forward_typed<T>((const T*)p0, (const T*)p1, (T*)p2, s);
            else if (Kind == 1) conv_input_grad_typed<T>((const T*)p0, (const T*)p1, (T*)p2, s);
            else conv_weight_grad_typed<T>((const T*)p0, (const T*)p1, (T*)p2, s);
        });
    }
    Py_RETURN_NONE;
}

// ------------------------------------------------------------------- max pooling
// The flat index (ih W + iw) of the first maximum of a window, -inf padding; a NaN wins (as
// in PyTorch, so NaN propagates). -1 for a window with no pixel in the image.
template <class T>
PYAD_INLINE npy_intp window_argmax(const T* plane, npy_intp H, npy_intp W, npy_intp oh, npy_intp ow, const Geom& g) {
    npy_intp best = -1;
    T bv = T(0);
    for (npy_intp i = 0; i < g.kh; ++i) {
        const npy_intp ih = oh * g.sh - g.ph + i * g.dh;
        if (ih < 0 || ih >= H) continue;
        for (npy_intp j = 0; j < g.kw; ++j) {
            const npy_intp iw = ow * g.sw - g.pw + j * g.dw;
            if (iw < 0 || iw >= W) continue;
            const T v = plane[ih * W + iw];
            if (best < 0 || v > bv || std::isnan(v)) {
                best = ih * W + iw;
                bv = v;
                if (std::isnan(v)) return best;
            }
        }
    }
    return best;
}

// A run of n windows of one output row that lie inside the image, row0 pointing at the first
// one's top-left pixel: the running max over the taps (and, with arg, the offset of the first
// maximum from each window's start), vectorised across the windows. A NaN wins, the first
// one, as in window_argmax. SW > 0 fixes the stride at compile time (2: the common pool).
template <class T, int SW>
PYAD_CLONES void row_max(const T* __restrict row0, npy_intp n, npy_intp W, npy_intp sw_rt, const Geom& g,
                         T* __restrict best, int32_t* __restrict arg) {
    const npy_intp sw = SW ? SW : sw_rt;
    for (npy_intp k = 0; k < n; ++k) best[k] = row0[k * sw];
    if (arg)
        for (npy_intp k = 0; k < n; ++k) arg[k] = 0;
    for (npy_intp i = 0; i < g.kh; ++i)
        for (npy_intp j = 0; j < g.kw; ++j) {
            if (i == 0 && j == 0) continue;
            const npy_intp off = i * g.dh * W + j * g.dw;
            const T* __restrict src = row0 + off;
            if (arg) {
                const int32_t o32 = (int32_t)off;
                for (npy_intp k = 0; k < n; ++k) {
                    const T v = src[k * sw], m = best[k];
                    const bool take = (v > m) | ((v != v) & (m == m));
                    best[k] = take ? v : m;
                    arg[k] = take ? o32 : arg[k];
                }
            } else {
                for (npy_intp k = 0; k < n; ++k) {
                    const T v = src[k * sw], m = best[k];
                    best[k] = ((v > m) | (v != v)) & (m == m) ? v : m;
                }
            }
        }
}

// The common pool, 2 x 2 windows at stride 2 without padding or dilation, on a whole plane
// whose windows all lie inside it: constant strides the compiler vectorises, no per-row setup.
// arg (modes 1, 2) gets each window's first maximum as 0..3 (row-major in the window).
template <class T>
PYAD_CLONES void pool2x2_plane(const T* __restrict plane, npy_intp W, npy_intp OH, npy_intp OW,
                               T* __restrict best, T* __restrict arg) {
    for (npy_intp oh = 0; oh < OH; ++oh) {
        const T* __restrict r0 = plane + 2 * oh * W;
        const T* __restrict r1 = r0 + W;
        T* __restrict b = best + oh * OW;
        if (!arg) {
            // plain maxima, then NaN wherever a window holds one (NaN propagates)
            for (npy_intp k = 0; k < OW; ++k) {
                const T v0 = r0[2 * k], v1 = r0[2 * k + 1], v2 = r1[2 * k], v3 = r1[2 * k + 1];
                const T m01 = v1 > v0 ? v1 : v0, m23 = v3 > v2 ? v3 : v2;
                const T m = m23 > m01 ? m23 : m01;
                const T nan = (v0 + v1) + (v2 + v3);      // NaN iff a NaN (or +inf and -inf)
                b[k] = nan != nan && (v0 != v0 || v1 != v1 || v2 != v2 || v3 != v3) ? nan : m;
            }
            continue;
        }
        // the first maximum's position 0..3 (the first NaN's, if any), in branch-free
        // integer arithmetic (rows are short: the loop runs scalar, and branches mispredict)
        T* __restrict a = arg + oh * OW;
        for (npy_intp k = 0; k < OW; ++k) {
            const T v0 = r0[2 * k], v1 = r0[2 * k + 1], v2 = r1[2 * k], v3 = r1[2 * k + 1];
            const T m01 = v1 > v0 ? v1 : v0, m23 = v3 > v2 ? v3 : v2;
            const T m = m23 > m01 ? m23 : m01;
            const int e0 = v0 == m, e1 = v1 == m, e2 = v2 == m;
            const int n0 = v0 != v0, n1 = v1 != v1, n2 = v2 != v2, n3 = v3 != v3;
            const int first_max = (1 - e0) * (1 + (1 - e1) * (1 + (1 - e2)));
            const int first_nan = (1 - n0) * (1 + (1 - n1) * (1 + (1 - n2)));
            const int any_nan = n0 | n1 | n2 | n3;
            a[k] = (T)(any_nan ? first_nan : first_max);
        }
    }
}

template <class T>
inline void row_max_any(const T* row0, npy_intp n, npy_intp W, const Geom& g, T* best, int32_t* arg) {
    if (g.sw == 2) row_max<T, 2>(row0, n, W, 2, g, best, arg);
    else if (g.sw == 1) row_max<T, 1>(row0, n, W, 1, g, best, arg);
    else row_max<T, 0>(row0, n, W, g.sw, g, best, arg);
}

// The output indices [lo, hi) along an axis whose windows lie wholly inside [0, n).
inline void inner_span(npy_intp n, npy_intp k, npy_intp s, npy_intp p, npy_intp d, npy_intp out,
                       npy_intp* lo, npy_intp* hi) {
    npy_intp a = (p + s - 1) / s;
    npy_intp last = n - 1 - (k - 1) * d + p;     // the largest start (+ p) that fits
    npy_intp b = last >= 0 ? last / s + 1 : 0;
    *lo = std::min(a, out);
    *hi = std::max(*lo, std::min(b, out));
}

// mode 0: y = max over each window of x; 1: dx = g scattered onto each window's argmax;
// 2: y = t at each window's argmax of x (the JVP, and the backward's transpose). Windows
// inside the image take the unchecked path; those on the border check every tap.
template <class T>
void max_pool_typed(int mode, const T* x, const T* other, T* out, npy_intp planes, npy_intp H, npy_intp W,
                    const Geom& g) {
    const npy_intp P = g.OH * g.OW;
    npy_intp h0, h1, w0, w1;
    inner_span(H, g.kh, g.sh, g.ph, g.dh, g.OH, &h0, &h1);
    inner_span(W, g.kw, g.sw, g.pw, g.dw, g.OW, &w0, &w1);
    const bool two = g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0 &&
                     g.dh == 1 && g.dw == 1 && 2 * g.OH <= H && 2 * g.OW <= W;
    parallel_items(planes, planes * P * g.kh * g.kw, [&](npy_intp p0, npy_intp p1) {
        std::vector<T> best((size_t)(two ? P : g.OW));
        std::vector<int32_t> arg((size_t)g.OW);
        std::vector<T> arg2((size_t)(two ? P : 0));
        for (npy_intp p = p0; p < p1; ++p) {
            const T* plane = x + p * H * W;
            const T* src = other + (mode == 1 ? p * P : p * H * W);
            T* dst = out + (mode == 1 ? p * H * W : p * P);
            if (mode == 1) std::fill(dst, dst + H * W, T(0));
            if (two) {
                if (mode == 0) {
                    pool2x2_plane(plane, W, g.OH, g.OW, dst, (T*)nullptr);
                    continue;
                }
                pool2x2_plane(plane, W, g.OH, g.OW, best.data(), arg2.data());
                for (npy_intp oh = 0; oh < g.OH; ++oh)
                    for (npy_intp ow = 0; ow < g.OW; ++ow) {
                        const int t = (int)arg2[oh * g.OW + ow];
                        const npy_intp a = (2 * oh + (t >> 1)) * W + 2 * ow + (t & 1), o = oh * g.OW + ow;
                        if (mode == 1) dst[a] += src[o];
                        else dst[o] = src[a];
                    }
                continue;
            }
            auto checked = [&](npy_intp oh, npy_intp ow) {
                const npy_intp a = window_argmax(plane, H, W, oh, ow, g);
                const npy_intp o = oh * g.OW + ow;
                if (mode == 0) dst[o] = a < 0 ? -std::numeric_limits<T>::infinity() : plane[a];
                else if (mode == 1) { if (a >= 0) dst[a] += src[o]; }
                else dst[o] = a < 0 ? T(0) : src[a];
            };
            for (npy_intp oh = 0; oh < g.OH; ++oh) {
                if (oh < h0 || oh >= h1) {
                    for (npy_intp ow = 0; ow < g.OW; ++ow) checked(oh, ow);
                    continue;
                }
                for (npy_intp ow = 0; ow < w0; ++ow) checked(oh, ow);
                const npy_intp first = (oh * g.sh - g.ph) * W + w0 * g.sw - g.pw, n = w1 - w0;
                const npy_intp o = oh * g.OW + w0;
                if (mode == 0) {
                    row_max_any(plane + first, n, W, g, dst + o, (int32_t*)nullptr);
                } else {
                    row_max_any(plane + first, n, W, g, best.data(), arg.data());
                    for (npy_intp k = 0; k < n; ++k) {
                        const npy_intp a = first + k * g.sw + arg[k];
                        if (mode == 1) dst[a] += src[o + k];
                        else dst[o + k] = src[a];
                    }
                }
                for (npy_intp ow = w1; ow < g.OW; ++ow) checked(oh, ow);
            }
        }
    });
}

// max_pool2d(x, geometry); max_pool2d_backward(g, x, geometry); max_pool2d_select(t, x, geometry)
template <int Mode>
PyObject* max_pool_entry(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const n0[] = {"x", "geometry"};
    static const char* const n1[] = {"g", "x", "geometry"};
    static const char* const n2[] = {"t", "x", "geometry"};
    const char* k = Mode == 0 ? "max_pool2d" : Mode == 1 ? "max_pool2d_backward" : "max_pool2d_select";
    PyObject* slot[3];
    int na = Mode == 0 ? 2 : 3;
    parse_args(k, args, nargs, kwnames, Mode == 0 ? n0 : Mode == 1 ? n1 : n2, na, na, slot);
    PyArrayObject* x = as_4d(k, slot[na - 2], "x");
    PyArrayObject* other = Mode == 0 ? x : as_4d(k, slot[0], Mode == 1 ? "g" : "t");
    PyArrayObject* both[2] = {x, other};
    int tn = float_dtype(k, both, 2);
    Geom g = read_geom(k, slot[na - 1]);
    npy_intp N = PyArray_DIM(x, 0), C = PyArray_DIM(x, 1), H = PyArray_DIM(x, 2), W = PyArray_DIM(x, 3);
    npy_intp pooled[4] = {N, C, g.OH, g.OW};
    if (Mode == 1) {
        for (int d = 0; d < 4; ++d)
            if (PyArray_DIM(other, d) != pooled[d]) raise(PyExc_ValueError, "pyad._C.%s: g must have the pooled shape", k);
    } else if (Mode == 2) {
        require_same_shape(k, other, x);
    }
    py::object out = get_out(k, nullptr, 4, Mode == 1 ? PyArray_DIMS(x) : pooled, tn);
    {
        MaybeNoGil nogil(N * C * g.OH * g.OW > kGilGrain / 16);
        dispatch_float(tn, [&](auto t) {
            using T = decltype(t);
            max_pool_typed<T>(Mode, (const T*)PyArray_DATA(x), (const T*)PyArray_DATA(other),
                              (T*)PyArray_DATA((PyArrayObject*)out.ptr()), N * C, H, W, g);
        });
    }
    return out.release().ptr();
}

// ------------------------------------------------------------------- average pooling
// PyTorch's windows: the count includes padding (but not a ceil_mode overhang) when
// count_include_pad, else only pixels of the image; divisor > 0 replaces it.
PYAD_INLINE void avg_window(npy_intp oh, npy_intp ow, npy_intp H, npy_intp W, const Geom& g, bool include_pad,
                            npy_intp divisor, npy_intp* h0, npy_intp* h1, npy_intp* w0, npy_intp* w1, double* scale) {
    npy_intp hs = oh * g.sh - g.ph, ws = ow * g.sw - g.pw;
    npy_intp he = std::min(hs + g.kh, H + g.ph), we = std::min(ws + g.kw, W + g.pw);
    npy_intp pool = (he - hs) * (we - ws);
    hs = std::max<npy_intp>(hs, 0);
    ws = std::max<npy_intp>(ws, 0);
    he = std::min(he, H);
    we = std::min(we, W);
    npy_intp count = divisor > 0 ? divisor : include_pad ? pool : (he - hs) * (we - ws);
    *h0 = hs; *h1 = he; *w0 = ws; *w1 = we;
    *scale = count > 0 ? 1.0 / (double)count : 0.0;
}

// The common pool (2 x 2 windows at stride 2, no padding, every window inside the plane):
// each output the scaled sum of its four pixels, or each gradient spread back onto them.
template <class T>
PYAD_CLONES void avg2x2_plane(bool backward, const T* __restrict in, T* __restrict out, npy_intp W, npy_intp OH,
                              npy_intp OW, T scale) {
    for (npy_intp oh = 0; oh < OH; ++oh) {
        if (backward) {
            const T* __restrict gr = in + oh * OW;
            T* __restrict r0 = out + 2 * oh * W;
            T* __restrict r1 = r0 + W;
            for (npy_intp k = 0; k < OW; ++k) {
                const T v = gr[k] * scale;
                r0[2 * k] = v;
                r0[2 * k + 1] = v;
                r1[2 * k] = v;
                r1[2 * k + 1] = v;
            }
        } else {
            const T* __restrict r0 = in + 2 * oh * W;
            const T* __restrict r1 = r0 + W;
            T* __restrict o = out + oh * OW;
            for (npy_intp k = 0; k < OW; ++k)
                o[k] = ((r0[2 * k] + r0[2 * k + 1]) + (r1[2 * k] + r1[2 * k + 1])) * scale;
        }
    }
}

template <class T>
void avg_pool_typed(bool backward, const T* in, T* out, npy_intp planes, npy_intp H, npy_intp W, const Geom& g,
                    bool include_pad, npy_intp divisor) {
    const npy_intp P = g.OH * g.OW;
    const bool two = g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0 &&
                     2 * g.OH <= H && 2 * g.OW <= W;
    parallel_items(planes, planes * P * g.kh * g.kw, [&](npy_intp p0, npy_intp p1) {
        for (npy_intp p = p0; p < p1; ++p) {
            if (backward) std::fill(out + p * H * W, out + (p + 1) * H * W, T(0));
            if (two) {
                const T scale = T(1) / T(divisor > 0 ? divisor : 4);
                if (backward) avg2x2_plane(true, in + p * P, out + p * H * W, W, g.OH, g.OW, scale);
                else avg2x2_plane(false, in + p * H * W, out + p * P, W, g.OH, g.OW, scale);
                continue;
            }
            for (npy_intp oh = 0; oh < g.OH; ++oh)
                for (npy_intp ow = 0; ow < g.OW; ++ow) {
                    npy_intp h0, h1, w0, w1;
                    double scale;
                    avg_window(oh, ow, H, W, g, include_pad, divisor, &h0, &h1, &w0, &w1, &scale);
                    const npy_intp o = p * P + oh * g.OW + ow;
                    if (backward) {
                        const T v = (T)(in[o] * scale);
                        T* plane = out + p * H * W;
                        for (npy_intp ih = h0; ih < h1; ++ih)
                            for (npy_intp iw = w0; iw < w1; ++iw) plane[ih * W + iw] += v;
                    } else {
                        const T* plane = in + p * H * W;
                        double s = 0.0;
                        for (npy_intp ih = h0; ih < h1; ++ih)
                            for (npy_intp iw = w0; iw < w1; ++iw) s += plane[ih * W + iw];
                        out[o] = (T)(s * scale);
                    }
                }
        }
    });
}

// avg_pool2d(x, geometry, count_include_pad, divisor); avg_pool2d_backward(g, geometry, H, W,
// count_include_pad, divisor): g spread evenly over each window's pixels (its transpose).
template <bool Backward>
PyObject* avg_pool_entry(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const nf[] = {"x", "geometry", "count_include_pad", "divisor"};
    static const char* const nb[] = {"g", "geometry", "H", "W", "count_include_pad", "divisor"};
    const char* k = Backward ? "avg_pool2d_backward" : "avg_pool2d";
    PyObject* slot[6];
    int na = Backward ? 6 : 4;
    parse_args(k, args, nargs, kwnames, Backward ? nb : nf, na, na, slot);
    PyArrayObject* in = as_4d(k, slot[0], Backward ? "g" : "x");
    int tn = float_dtype(k, &in, 1);
    Geom g = read_geom(k, slot[1]);
    bool include_pad = PyObject_IsTrue(slot[na - 2]) == 1;
    npy_intp divisor = as_ssize(k, slot[na - 1], "divisor");
    npy_intp N = PyArray_DIM(in, 0), C = PyArray_DIM(in, 1), H, W;
    if (Backward) {
        H = as_ssize(k, slot[2], "H");
        W = as_ssize(k, slot[3], "W");
        if (PyArray_DIM(in, 2) != g.OH || PyArray_DIM(in, 3) != g.OW)
            raise(PyExc_ValueError, "pyad._C.%s: g must have the pooled shape", k);
    } else {
        H = PyArray_DIM(in, 2);
        W = PyArray_DIM(in, 3);
    }
    npy_intp dims[4] = {N, C, Backward ? H : g.OH, Backward ? W : g.OW};
    py::object out = get_out(k, nullptr, 4, dims, tn);
    {
        MaybeNoGil nogil(N * C * g.OH * g.OW > kGilGrain / 16);
        dispatch_float(tn, [&](auto t) {
            using T = decltype(t);
            avg_pool_typed<T>(Backward, (const T*)PyArray_DATA(in), (T*)PyArray_DATA((PyArrayObject*)out.ptr()),
                              N * C, H, W, g, include_pad, divisor);
        });
    }
    return out.release().ptr();
}

}  // namespace

void bind_conv(py::module_& m) {
    def_fast<set_blas_entry>(m, "set_blas",
        "set_blas(abi, sgemm, dgemm, set_local_threads)\n--\n\nThe GEMM the convolutions call (see pyad.backend._blas.gemm_pointers).");
    def_fast<conv_entry<0>>(m, "conv2d_forward",
        "conv2d_forward(x, w, y, geometry, groups)\n--\n\ny = the cross-correlation of x with w (NCHW, OIHW).");
    def_fast<conv_entry<1>>(m, "conv2d_input_grad",
        "conv2d_input_grad(gy, w, dx, geometry, groups)\n--\n\ndx = the transpose of the convolution in x, applied to gy.");
    def_fast<conv_entry<2>>(m, "conv2d_weight_grad",
        "conv2d_weight_grad(x, gy, dw, geometry, groups)\n--\n\ndw = the transpose of the convolution in w, applied to gy.");
    def_fast<max_pool_entry<0>>(m, "max_pool2d",
        "max_pool2d(x, geometry)\n--\n\nThe max of each window (-inf padding; NaN propagates).");
    def_fast<max_pool_entry<1>>(m, "max_pool2d_backward",
        "max_pool2d_backward(g, x, geometry)\n--\n\ng added onto each window's first maximum of x.");
    def_fast<max_pool_entry<2>>(m, "max_pool2d_select",
        "max_pool2d_select(t, x, geometry)\n--\n\nt at each window's first maximum of x.");
    def_fast<avg_pool_entry<false>>(m, "avg_pool2d",
        "avg_pool2d(x, geometry, count_include_pad, divisor)\n--\n\nThe mean of each window (PyTorch's divisors).");
    def_fast<avg_pool_entry<true>>(m, "avg_pool2d_backward",
        "avg_pool2d_backward(g, geometry, H, W, count_include_pad, divisor)\n--\n\nThe transpose of avg_pool2d.");
}

}  // namespace pyad
