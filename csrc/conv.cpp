// Convolution and pooling kernels on NCHW planes: convolutions as per-image unfolding (im2col) and
// GEMMs on pyad's BLAS, 3x3 stride-1 ones as Winograd F(2x2, 3x3), with their two transposes;
// max and average pooling with backwards.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "common.h"

namespace pyad {
namespace {

// A 2-D window sweep: kernel kh x kw, strides, zero (or -inf) padding before each axis,
// dilations and the output size, as pyad.ops.convolution computes them.
struct Geom {
    npy_intp kh, kw, sh, sw, ph, pw, dh, dw, OH, OW;
};

Geom read_geom(const char* k, PyObject* o) {
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

PyArrayObject* as_4d(const char* k, PyObject* o, const char* what) {
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
Blas g_blas;

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

// ------------------------------------------------------------------- Winograd F(2x2, 3x3)
// A 3x3, stride-1, undilated, ungrouped convolution as Lavin & Gray's minimal filtering: each
// 2x2 block of outputs from a 4x4 block of input takes 16 multiplications per channel pair
// instead of 36, so the GEMMs (16 of them, one per point of the 4x4 transformed tile: O x C
// filters times C x tiles) do 2.25x fewer multiply-adds than im2col's. The transforms'
// coefficients are 0, +-1 and 1/2, exact in binary. Rows of tiles are handed out in blocks,
// a block's transformed input and products staying in cache between the three passes.
constexpr npy_intp kWinogradBlock = 192;      // tiles per block (the GEMMs' width), at least a row

// U[xi][o][c] (16 x O x C): G g G^T of each filter g = w[o][c] (3x3), G = [1 0 0; 1/2 1/2 1/2;
// 1/2 -1/2 1/2; 0 0 1]. flipped: g = w[c][o] rotated by 180 degrees, the filters of the
// input gradient (O, C are then the weights' in and out channels).
template <class T>
void winograd_filters(const T* w, T* U, npy_intp O, npy_intp C, bool flipped) {
    for (npy_intp o = 0; o < O; ++o)
        for (npy_intp c = 0; c < C; ++c) {
            T g[3][3];
            const T* src = flipped ? w + (c * O + o) * 9 : w + (o * C + c) * 9;
            for (int i = 0; i < 3; ++i)
                for (int j = 0; j < 3; ++j) g[i][j] = flipped ? src[(2 - i) * 3 + (2 - j)] : src[i * 3 + j];
            T t[4][3];          // G g
            for (int j = 0; j < 3; ++j) {
                t[0][j] = g[0][j];
                t[1][j] = T(0.5) * (g[0][j] + g[1][j] + g[2][j]);
                t[2][j] = T(0.5) * (g[0][j] - g[1][j] + g[2][j]);
                t[3][j] = g[2][j];
            }
            for (int i = 0; i < 4; ++i) {   // (G g) G^T
                T u[4] = {t[i][0], T(0.5) * (t[i][0] + t[i][1] + t[i][2]), T(0.5) * (t[i][0] - t[i][1] + t[i][2]),
                          t[i][2]};
                for (int j = 0; j < 4; ++j) U[((i * 4 + j) * O + o) * C + c] = u[j];
            }
        }
}

// The input transform of a block's tiles, one vector lane per tile: D[(4 i + j) * ld + t] is
// tile t's input d[i][j]; v[xi * vstep + t] = (B^T d B)[xi], B^T = [1 0 -1 0; 0 1 1 0;
// 0 -1 1 0; 0 1 0 -1].
template <class T>
PYAD_CLONES void winograd_input_block(const T* __restrict D, npy_intp ld, T* __restrict v, npy_intp vstep,
                                      npy_intp nb) {
#pragma omp simd
    for (npy_intp t = 0; t < nb; ++t) {
        T d[4][4];
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) d[i][j] = D[(i * 4 + j) * ld + t];
        T e[4][4];      // B^T d
        for (int j = 0; j < 4; ++j) {
            e[0][j] = d[0][j] - d[2][j];
            e[1][j] = d[1][j] + d[2][j];
            e[2][j] = d[2][j] - d[1][j];
            e[3][j] = d[1][j] - d[3][j];
        }
        for (int i = 0; i < 4; ++i) {      // (B^T d) B
            v[(i * 4 + 0) * vstep + t] = e[i][0] - e[i][2];
            v[(i * 4 + 1) * vstep + t] = e[i][1] + e[i][2];
            v[(i * 4 + 2) * vstep + t] = e[i][2] - e[i][1];
            v[(i * 4 + 3) * vstep + t] = e[i][1] - e[i][3];
        }
    }
}

// The output transform of a block's tiles, one lane per tile: y = A^T m A, A^T = [1 1 1 0;
// 0 1 -1 -1], from m[xi * mstep + t]; tile t's two output rows at y0[2 t], y1[2 t], so a row
// of tiles' outputs lie side by side as in the image.
template <class T>
PYAD_CLONES void winograd_output_block(const T* __restrict m, npy_intp mstep, T* __restrict y0,
                                       T* __restrict y1, npy_intp nb) {
#pragma omp simd
    for (npy_intp t = 0; t < nb; ++t) {
        T a[2][4];
        for (int j = 0; j < 4; ++j) {
            const T m0 = m[j * mstep + t], m1 = m[(4 + j) * mstep + t], m2 = m[(8 + j) * mstep + t],
                    m3 = m[(12 + j) * mstep + t];
            a[0][j] = m0 + m1 + m2;
            a[1][j] = m1 - m2 - m3;
        }
        y0[2 * t] = a[0][0] + a[0][1] + a[0][2];
        y0[2 * t + 1] = a[0][1] - a[0][2] - a[0][3];
        y1[2 * t] = a[1][0] + a[1][1] + a[1][2];
        y1[2 * t + 1] = a[1][1] - a[1][2] - a[1][3];
    }
}

// How a Winograd convolution's 2x2 output tiles are shared out: rows of TW tiles (TH of them
// an image), handed out in blocks of whole rows (about kWinogradBlock tiles, `width` the
// block buffers' row length), the blocks split between `threads` threads.
struct WinogradTiling {
    npy_intp TH, TW, tile_rows, rows_per_block, width, blocks;
    int threads;
    WinogradTiling(npy_intp N, npy_intp OH, npy_intp OW, npy_intp O, npy_intp C)
        : TH((OH + 1) / 2), TW((OW + 1) / 2), tile_rows(N * TH),
          rows_per_block(std::max<npy_intp>(1, kWinogradBlock / TW)), width(rows_per_block * TW),
          blocks((tile_rows + rows_per_block - 1) / rows_per_block), threads(threads_for(N * TH * TW * 16 * O * C / 4)) {
#ifdef _OPENMP
        threads = (int)std::min<npy_intp>(threads, blocks);
#endif
    }
    // f(r0, r1, nb): this thread's blocks, rows of tiles r0 .. r1 - 1, nb tiles
    template <class F>
    void for_blocks(npy_intp T_, npy_intp t_, F&& f) const {
        for (npy_intp b = blocks * t_ / T_; b < blocks * (t_ + 1) / T_; ++b) {
            const npy_intp r0 = b * rows_per_block, r1 = std::min(tile_rows, r0 + rows_per_block);
            f(r0, r1, (r1 - r0) * TW);
        }
    }
};

// V[xi][c][t] (16 x C x width) for the tiles of rows of tiles r0..r1 (TW tiles a row, TH rows
// an image) of x (N, C, H, W), padded ph above and pw left: each tile's 4x4 input gathered
// into D (16 x width, zero outside the image), then transformed.
template <class T>
void winograd_block_input(const T* x, npy_intp C, npy_intp H, npy_intp W, npy_intp ph, npy_intp pw, npy_intp TH,
                          npy_intp TW, npy_intp r0, npy_intp r1, npy_intp width, T* D, T* V) {
    const npy_intp nb = (r1 - r0) * TW;
    for (npy_intp c = 0; c < C; ++c) {
        for (npy_intp r = r0; r < r1; ++r) {    // the tiles' 4x4 inputs, zero padded
            const npy_intp n = r / TH, ih0 = (r % TH) * 2 - ph, k = (r - r0) * TW;
            const T* plane = x + (n * C + c) * H * W;
            for (int i = 0; i < 4; ++i) {       // tile tx reads columns 2 tx - pw + j
                const npy_intp ih = ih0 + i;
                T* dst = D + i * 4 * width + k;
                if (ih < 0 || ih >= H) {
                    for (int j = 0; j < 4; ++j) std::fill(dst + j * width, dst + j * width + TW, T(0));
                    continue;
                }
                const T* src = plane + ih * W;
                auto at = [&](npy_intp iw) { return iw >= 0 && iw < W ? src[iw] : T(0); };
                for (npy_intp tx = 0; tx < TW; ++tx) {
                    const npy_intp iw = 2 * tx - pw;
                    dst[tx] = at(iw);
                    dst[width + tx] = at(iw + 1);
                    dst[2 * width + tx] = at(iw + 2);
                    dst[3 * width + tx] = at(iw + 3);
                }
            }
        }
        winograd_input_block(D, width, V + c * width, C * width, nb);
    }
}

// out (N, O, OH, OW) = the 3x3 convolution of x (N, C, H, W) with the filters U, zero padding
// ph rows above and pw columns left (and whatever the output size implies after). Work is
// handed out in blocks of whole rows of tiles (about kWinogradBlock tiles).
template <class T>
void winograd_conv(const T* x, const T* U, T* out, npy_intp N, npy_intp C, npy_intp H, npy_intp W,
                   npy_intp O, npy_intp ph, npy_intp pw, npy_intp OH, npy_intp OW) {
    const WinogradTiling tl(N, OH, OW, O, C);
    const npy_intp TH = tl.TH, TW = tl.TW, width = tl.width;
    // the block GEMMs are small: single-threaded BLAS each
    on_pinned_threads(tl.threads, true, [&](npy_intp T_, npy_intp t_) {
        std::vector<T> V((size_t)(16 * C * width)), M((size_t)(16 * O * width));
        std::vector<T> D((size_t)(16 * width)), Y((size_t)(4 * width));
        tl.for_blocks(T_, t_, [&](npy_intp r0, npy_intp r1, npy_intp nb) {
            winograd_block_input(x, C, H, W, ph, pw, TH, TW, r0, r1, width, D.data(), V.data());
            for (int xi = 0; xi < 16; ++xi)      // M[xi] (O x nb) = U[xi] (O x C) V[xi] (C x nb)
                gemm<T>(false, false, O, nb, C, T(1), U + xi * O * C, C, V.data() + xi * C * width, width, T(0),
                        M.data() + xi * O * width, width);
            for (npy_intp o = 0; o < O; ++o) {
                T* y0 = Y.data();
                T* y1 = Y.data() + 2 * width;
                winograd_output_block(M.data() + o * width, O * width, y0, y1, nb);
                for (npy_intp r = r0; r < r1; ++r) {
                    const npy_intp n = r / TH, oh = (r % TH) * 2, k = 2 * (r - r0) * TW;
                    T* dst = out + ((n * O + o) * OH + oh) * OW;
                    const npy_intp rows = oh + 1 < OH ? 2 : 1;
                    for (npy_intp a = 0; a < rows; ++a) {      // (short rows: no memmove call)
                        const T* y = (a ? y1 : y0) + k;
                        T* d = dst + a * OW;
#pragma omp simd
                        for (npy_intp q = 0; q < OW; ++q) d[q] = y[q];
                    }
                }
            }
        });
    });
}

// The weight gradient's gy transform, one lane per tile: Gd[(2 a + b) * ld + t] is tile t's
// 2x2 output gradient g[a][b]; u[xi * ustep + t] = (G g G^T)[xi], G = [1 0; 1/2 1/2;
// 1/2 -1/2; 0 1] (Winograd F(3x3, 2x2): the 3x3 weight as the "output", gy as the "filter").
template <class T>
PYAD_CLONES void winograd_gy_block(const T* __restrict Gd, npy_intp ld, T* __restrict u, npy_intp ustep,
                                   npy_intp nb) {
#pragma omp simd
    for (npy_intp t = 0; t < nb; ++t) {
        const T g00 = Gd[t], g01 = Gd[ld + t], g10 = Gd[2 * ld + t], g11 = Gd[3 * ld + t];
        const T r[4][2] = {{g00, g01}, {T(0.5) * (g00 + g10), T(0.5) * (g01 + g11)},
                           {T(0.5) * (g00 - g10), T(0.5) * (g01 - g11)}, {g10, g11}};    // G g
        for (int i = 0; i < 4; ++i) {      // (G g) G^T
            u[(i * 4 + 0) * ustep + t] = r[i][0];
            u[(i * 4 + 1) * ustep + t] = T(0.5) * (r[i][0] + r[i][1]);
            u[(i * 4 + 2) * ustep + t] = T(0.5) * (r[i][0] - r[i][1]);
            u[(i * 4 + 3) * ustep + t] = r[i][1];
        }
    }
}

// dw (O, C, 3, 3) = sum over images and positions of gy (N, O, OH, OW) times the 3x3 windows
// of x (N, C, H, W) (padding ph, pw): per block of tiles, the input transform of the forward
// and gy's, then M[xi] (O x C) += Ug[xi] (O x tiles) V[xi]^T (tiles x C), one partial M per
// thread; finally dw = A^T M A with A^T = [1 1 1 0; 0 1 -1 0; 0 1 1 -1] (F(3x3, 2x2)'s output
// transform, its last column negated for the forward's input transform).
template <class T>
void winograd_weight_grad(const T* x, const T* gy, T* dw, const ConvShape& s) {
    const npy_intp C = s.C, O = s.O, OH = s.g.OH, OW = s.g.OW;
    const WinogradTiling tl(s.N, OH, OW, O, C);
    const npy_intp TH = tl.TH, TW = tl.TW, width = tl.width;
    const size_t msize = (size_t)(16 * O * C);
    std::vector<std::vector<T>> partial((size_t)std::max(tl.threads, 1));
    on_pinned_threads(tl.threads, true, [&](npy_intp T_, npy_intp t_) {
        std::vector<T>& M = partial[(size_t)t_];
        M.assign(msize, T(0));
        std::vector<T> V((size_t)(16 * C * width)), Ug((size_t)(16 * O * width)), D((size_t)(16 * width));
        tl.for_blocks(T_, t_, [&](npy_intp r0, npy_intp r1, npy_intp nb) {
            winograd_block_input(x, C, s.H, s.W, s.g.ph, s.g.pw, TH, TW, r0, r1, width, D.data(), V.data());
            for (npy_intp o = 0; o < O; ++o) {
                for (npy_intp r = r0; r < r1; ++r) {        // the tiles' 2x2 output gradients
                    const npy_intp n = r / TH, oh = (r % TH) * 2, k = (r - r0) * TW;
                    for (npy_intp a = 0; a < 2; ++a) {
                        T* dst = D.data() + 2 * a * width + k;
                        if (oh + a >= OH) {
                            std::fill(dst, dst + TW, T(0));
                            std::fill(dst + width, dst + width + TW, T(0));
                            continue;
                        }
                        const T* src = gy + ((n * O + o) * OH + oh + a) * OW;
                        for (npy_intp tx = 0; tx < TW; ++tx) {
                            dst[tx] = src[2 * tx];
                            dst[width + tx] = 2 * tx + 1 < OW ? src[2 * tx + 1] : T(0);
                        }
                    }
                }
                winograd_gy_block(D.data(), width, Ug.data() + o * width, O * width, nb);
            }
            for (int xi = 0; xi < 16; ++xi)      // M[xi] (O x C) += Ug[xi] (O x nb) V[xi]^T (nb x C)
                gemm<T>(false, true, O, C, nb, T(1), Ug.data() + xi * O * width, width, V.data() + xi * C * width,
                        width, T(1), M.data() + xi * O * C, C);
        });
    });
    std::vector<T>& M = partial[0];
    for (size_t p = 1; p < partial.size(); ++p)
        if (!partial[p].empty())
            for (size_t i = 0; i < msize; ++i) M[i] += partial[p][i];
    const npy_intp step = O * C;
    for (npy_intp oc = 0; oc < O * C; ++oc) {
        T m[4][4];
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) m[i][j] = M[(i * 4 + j) * step + oc];
        T a[3][4];      // A^T m
        for (int j = 0; j < 4; ++j) {
            a[0][j] = m[0][j] + m[1][j] + m[2][j];
            a[1][j] = m[1][j] - m[2][j];
            a[2][j] = m[1][j] + m[2][j] - m[3][j];
        }
        T* out = dw + oc * 9;
        for (int i = 0; i < 3; ++i) {      // (A^T m) A
            out[i * 3 + 0] = a[i][0] + a[i][1] + a[i][2];
            out[i * 3 + 1] = a[i][1] - a[i][2];
            out[i * 3 + 2] = a[i][1] + a[i][2] - a[i][3];
        }
    }
}

bool g_winograd = true;     // set_winograd: off, every convolution takes im2col (tests compare)

// Whether a convolution of this shape (and each of its two transposes) takes the Winograd
// path: 3x3, stride 1, no dilation, one group, enough channels for the 16 small GEMMs to pay
// (C, O >= 16; the first layer of an image network, C = 1 or 3, stays on im2col), padding at
// most 2 (the input gradient's own padding is then 2 - p >= 0).
inline bool winograd_fits(const ConvShape& s) {
    return g_winograd && s.g.kh == 3 && s.g.kw == 3 && s.g.sh == 1 && s.g.sw == 1 && s.g.dh == 1 && s.g.dw == 1 &&
           s.groups == 1 && s.C >= 16 && s.O >= 16 && s.g.ph <= 2 && s.g.pw <= 2 && s.g.OH >= 2 && s.g.OW >= 2;
}

template <class T>
void winograd_forward(const T* x, const T* w, T* y, const ConvShape& s) {
    std::vector<T> U((size_t)(16 * s.O * s.C));
    winograd_filters(w, U.data(), s.O, s.C, false);
    winograd_conv(x, U.data(), y, s.N, s.C, s.H, s.W, s.O, s.g.ph, s.g.pw, s.g.OH, s.g.OW);
}

// dx = conv2d(gy, w rotated and transposed, padding 2 - p): the transpose of the stride-1
// convolution, on gy's (OH, OW) images, giving (H, W) ones.
template <class T>
void winograd_input_grad(const T* gy, const T* w, T* dx, const ConvShape& s) {
    std::vector<T> U((size_t)(16 * s.O * s.C));
    winograd_filters(w, U.data(), s.C, s.O, true);
    winograd_conv(gy, U.data(), dx, s.N, s.O, s.g.OH, s.g.OW, s.C, 2 - s.g.ph, 2 - s.g.pw, s.H, s.W);
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

PyObject* set_winograd_entry(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const names[] = {"enabled"};
    PyObject* slot[1];
    parse_args("set_winograd", args, nargs, kwnames, names, 1, 1, slot);
    const int on = PyObject_IsTrue(slot[0]);
    if (on < 0) throw PyErrSet{};
    const bool previous = g_winograd;
    g_winograd = on != 0;
    return PyBool_FromLong(previous);
}

}  // namespace

void bind_conv(py::module_& m) {
    def_fast<set_winograd_entry>(m, "set_winograd",
        "set_winograd(enabled)\n--\n\nWhether 3x3 stride-1 convolutions (and their input gradients) may take "
        "the Winograd F(2x2, 3x3) path (default True); returns the previous setting.");
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
