// Winograd F(2x2, 3x3) convolutions on NCHW planes: the forward, the input gradient and (as
// F(3x3, 2x2)) the weight gradient of 3x3 stride-1 convolutions, 16 GEMMs over blocks of tiles.
#include <algorithm>
#include <vector>

#include "conv_common.h"

namespace pyad {
namespace {

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

// Whether a convolution of this shape (and each of its two transposes) takes the Winograd
// path: 3x3, stride 1, no dilation, one group, enough channels for the 16 small GEMMs to pay
// (C, O >= 16; the first layer of an image network, C = 1 or 3, stays on im2col), padding at
// most 2 (the input gradient's own padding is then 2 - p >= 0).
bool winograd_fits(const ConvShape& s) {
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

template void winograd_forward<float>(const float*, const float*, float*, const ConvShape&);
template void winograd_forward<double>(const double*, const double*, double*, const ConvShape&);
template void winograd_input_grad<float>(const float*, const float*, float*, const ConvShape&);
template void winograd_input_grad<double>(const double*, const double*, double*, const ConvShape&);
template void winograd_weight_grad<float>(const float*, const float*, float*, const ConvShape&);
template void winograd_weight_grad<double>(const double*, const double*, double*, const ConvShape&);

void bind_winograd(py::module_& m) {
    def_fast<set_winograd_entry>(m, "set_winograd",
        "set_winograd(enabled)\n--\n\nWhether 3x3 stride-1 convolutions (and their two transposes) may take "
        "the Winograd F(2x2, 3x3) path (default True); returns the previous setting.");
}

}  // namespace pyad
