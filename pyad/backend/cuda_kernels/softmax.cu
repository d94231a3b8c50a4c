// Row kernels of the softmax family on CUDA: softmax, log_softmax, their backward ops and the
// fused softmax cross-entropy with its backward. pyad/backend/cuda.py compiles this file with
// NVRTC (cupy.RawModule) on first use and launches one block per row of a C-contiguous
// (rows, n) array: the row's axis is moved last first, when it is not.
//
// The numbers follow the CPU's C++ kernels (csrc/reductions.cpp, csrc/losses.cpp):
//   - the max is NaN-propagating, and the softmax family shifts by it except where it is
//     +-inf (then by 0), so an all -inf row gives what the CPU gives (NaN for softmax and
//     log_softmax, as 0/0 and -inf - -inf) and a NaN anywhere in a row makes the row NaN;
//   - exp and log are T's, the sums accumulate in double and are rounded to T once;
//   - the cross-entropy shifts by the row max (no +-inf guard, as on the CPU) and takes its
//     exp and log in double.
// Each kernel is a template on the float type T, instantiated under extern "C" names with
// the dtype as suffix (softmax_f32, softmax_f64, ...), which cuda.py looks up.
//
// Launch: grid (min(rows, 2^31 - 1)), block (a power of two from 32 to 1024); every block
// strides over the rows, every thread over its row's entries. No dynamic shared memory.

namespace {

__device__ __forceinline__ float ex(float v) { return expf(v); }
__device__ __forceinline__ double ex(double v) { return exp(v); }
__device__ __forceinline__ float ab(float v) { return fabsf(v); }
__device__ __forceinline__ double ab(double v) { return fabs(v); }
__device__ __forceinline__ float inf_of(float) { return __int_as_float(0x7f800000); }
__device__ __forceinline__ double inf_of(double) {
    return __longlong_as_double(0x7ff0000000000000LL);
}
__device__ __forceinline__ float nan_of(float) { return __int_as_float(0x7fc00000); }
__device__ __forceinline__ double nan_of(double) {
    return __longlong_as_double(0x7ff8000000000000LL);
}

// NaN-propagating max: a NaN sticks because no comparison with it is true (as on the CPU).
template <class T>
__device__ __forceinline__ T pick_max(T acc, T v) { return (v > acc || v != v) ? v : acc; }

// The shift for exp(x - shift): the max, but 0 where it is +-inf.
template <class T>
__device__ __forceinline__ T exp_shift(T m) { return ab(m) == inf_of(m) ? T(0) : m; }

template <class T>
__device__ __forceinline__ T warp_max(T v) {
    for (int o = 16; o > 0; o >>= 1) v = pick_max(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ __forceinline__ double warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Block-wide reductions through buf (33 doubles of shared memory): every thread gets the
// result. blockDim.x is a multiple of 32. The result lives in buf[32], apart from the
// per-warp slots, and the barrier after it is written also ends every read of the slots, so
// consecutive calls need no other barrier.
template <class T>
__device__ T block_max(T v, double* buf) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = warp_max(v);
    if (lane == 0) buf[warp] = (double)v;     // float -> double -> float is exact (inf, NaN)
    __syncthreads();
    if (warp == 0) {
        T w = (T)buf[lane < nwarps ? lane : 0];
        w = warp_max(w);
        if (lane == 0) buf[32] = (double)w;
    }
    __syncthreads();
    return (T)buf[32];
}

__device__ double block_sum(double v, double* buf) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = warp_sum(v);
    if (lane == 0) buf[warp] = v;
    __syncthreads();
    if (warp == 0) {
        double w = lane < nwarps ? buf[lane] : 0.0;
        w = warp_sum(w);
        if (lane == 0) buf[32] = w;
    }
    __syncthreads();
    return buf[32];
}

// The max of row x[0, n), n >= 1, NaN-propagating.
template <class T>
__device__ T row_max(const T* x, long long n, double* buf) {
    T m = x[0];
    for (long long i = threadIdx.x; i < n; i += blockDim.x) m = pick_max(m, x[i]);
    return block_max(m, buf);
}

// The sum of exp(x - sh) over the row, exp in T, summed in double.
template <class T>
__device__ double row_sumexp(const T* x, long long n, T sh, double* buf) {
    double s = 0.0;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) s += (double)ex(x[i] - sh);
    return block_sum(s, buf);
}

// softmax: exp(x - shift) / sum, as exp(x - shift) * (T)(1 / sum) (the CPU's rounding).
template <class T>
__device__ void softmax_rows(const T* __restrict__ x, T* __restrict__ y, long long rows,
                             long long n) {
    __shared__ double buf[33];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* xr = x + r * n;
        T* yr = y + r * n;
        const T sh = exp_shift(row_max(xr, n, buf));
        const T c = (T)(1.0 / row_sumexp(xr, n, sh, buf));
        for (long long i = threadIdx.x; i < n; i += blockDim.x) yr[i] = ex(xr[i] - sh) * c;
    }
}

// log_softmax: (x - shift) - (T)log(sum): the first difference is exact for the largest
// entries.
template <class T>
__device__ void log_softmax_rows(const T* __restrict__ x, T* __restrict__ y, long long rows,
                                 long long n) {
    __shared__ double buf[33];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* xr = x + r * n;
        T* yr = y + r * n;
        const T sh = exp_shift(row_max(xr, n, buf));
        const T ls = (T)log(row_sumexp(xr, n, sh, buf));
        for (long long i = threadIdx.x; i < n; i += blockDim.x) yr[i] = (xr[i] - sh) - ls;
    }
}

// softmax backward: y * (g - sum(g * y)), the products in T, their sum in double.
template <class T>
__device__ void softmax_backward_rows(const T* __restrict__ g, const T* __restrict__ y,
                                      T* __restrict__ o, long long rows, long long n) {
    __shared__ double buf[33];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* gr = g + r * n;
        const T* yr = y + r * n;
        T* orow = o + r * n;
        double s = 0.0;
        for (long long i = threadIdx.x; i < n; i += blockDim.x) s += (double)(gr[i] * yr[i]);
        const T d = (T)block_sum(s, buf);
        for (long long i = threadIdx.x; i < n; i += blockDim.x) orow[i] = yr[i] * (gr[i] - d);
    }
}

// log_softmax backward: g - exp(y) * sum(g).
template <class T>
__device__ void log_softmax_backward_rows(const T* __restrict__ g, const T* __restrict__ y,
                                          T* __restrict__ o, long long rows, long long n) {
    __shared__ double buf[33];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* gr = g + r * n;
        const T* yr = y + r * n;
        T* orow = o + r * n;
        double s = 0.0;
        for (long long i = threadIdx.x; i < n; i += blockDim.x) s += (double)gr[i];
        const T sg = (T)block_sum(s, buf);
        for (long long i = threadIdx.x; i < n; i += blockDim.x) orow[i] = gr[i] - ex(yr[i]) * sg;
    }
}

// The cross-entropy's row sum: sum of exp((double)(z - mx)), mx the row max.
template <class T>
__device__ double ce_sumexp(const T* z, long long c, T mx, double* buf) {
    double s = 0.0;
    for (long long j = threadIdx.x; j < c; j += blockDim.x) s += exp((double)(z[j] - mx));
    return block_sum(s, buf);
}

// softmax cross-entropy, logits z (rows, c), int64 labels (rows,): loss_r = log(sum of
// exp(z_r - max)) - (z_r[label] - max). The caller checks the labels' range; a label out of
// it gives NaN here rather than a read out of bounds.
template <class T>
__device__ void softmax_cross_entropy_rows(const T* __restrict__ z,
                                           const long long* __restrict__ labels,
                                           T* __restrict__ loss, long long rows, long long c) {
    __shared__ double buf[33];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* zr = z + r * c;
        const T mx = row_max(zr, c, buf);
        const double s = ce_sumexp(zr, c, mx, buf);
        if (threadIdx.x == 0) {
            const long long lab = labels[r];
            loss[r] = (lab >= 0 && lab < c) ? (T)(log(s) - (double)(zr[lab] - mx)) : nan_of(mx);
        }
    }
}

// its backward: out_r = g_r * (softmax(z_r) - onehot(label_r)), as the CPU rounds it:
// (T)((double)g_r / sum * exp((double)(z - max))), then g_r subtracted in T at the label.
template <class T>
__device__ void softmax_cross_entropy_backward_rows(const T* __restrict__ g,
                                                    const T* __restrict__ z,
                                                    const long long* __restrict__ labels,
                                                    T* __restrict__ out, long long rows,
                                                    long long c) {
    __shared__ double buf[33];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* zr = z + r * c;
        T* orow = out + r * c;
        const T mx = row_max(zr, c, buf);
        const double scale = (double)g[r] / ce_sumexp(zr, c, mx, buf);
        const long long lab = labels[r];
        const bool ok = lab >= 0 && lab < c;
        for (long long j = threadIdx.x; j < c; j += blockDim.x) {
            T v = (T)(scale * exp((double)(zr[j] - mx)));
            if (j == lab) v -= g[r];
            orow[j] = ok ? v : nan_of(v);
        }
    }
}

}  // namespace

// ------------------------------------------------------------------- entry points
#define PYAD_FORWARD(NAME, T, SUFFIX)                                                        \
    extern "C" __global__ void NAME##_##SUFFIX(const T* x, T* y, long long rows, long long n) { \
        NAME##_rows<T>(x, y, rows, n);                                                       \
    }
#define PYAD_BACKWARD(NAME, T, SUFFIX)                                                       \
    extern "C" __global__ void NAME##_##SUFFIX(const T* g, const T* y, T* o, long long rows,  \
                                               long long n) {                                \
        NAME##_rows<T>(g, y, o, rows, n);                                                    \
    }

PYAD_FORWARD(softmax, float, f32)
PYAD_FORWARD(softmax, double, f64)
PYAD_FORWARD(log_softmax, float, f32)
PYAD_FORWARD(log_softmax, double, f64)
PYAD_BACKWARD(softmax_backward, float, f32)
PYAD_BACKWARD(softmax_backward, double, f64)
PYAD_BACKWARD(log_softmax_backward, float, f32)
PYAD_BACKWARD(log_softmax_backward, double, f64)

extern "C" __global__ void softmax_cross_entropy_f32(const float* z, const long long* labels,
                                                     float* loss, long long rows, long long c) {
    softmax_cross_entropy_rows<float>(z, labels, loss, rows, c);
}
extern "C" __global__ void softmax_cross_entropy_f64(const double* z, const long long* labels,
                                                     double* loss, long long rows, long long c) {
    softmax_cross_entropy_rows<double>(z, labels, loss, rows, c);
}
extern "C" __global__ void softmax_cross_entropy_backward_f32(const float* g, const float* z,
                                                              const long long* labels,
                                                              float* out, long long rows,
                                                              long long c) {
    softmax_cross_entropy_backward_rows<float>(g, z, labels, out, rows, c);
}
extern "C" __global__ void softmax_cross_entropy_backward_f64(const double* g, const double* z,
                                                              const long long* labels,
                                                              double* out, long long rows,
                                                              long long c) {
    softmax_cross_entropy_backward_rows<double>(g, z, labels, out, rows, c);
}
