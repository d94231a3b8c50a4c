// Vectorised elementwise kernels on CUDA for the hot rows of a training step: relu, its and
// tanh's backward, the sum of two arrays (same shape, or a matrix plus a bias row) and the SGD
// update in place. pyad/backend/cuda.py compiles this file with NVRTC (cupy.RawModule) on first
// use and launches these on C-contiguous float32/float64 arrays of at least 2^20 elements
// (VEC_MIN_SIZE; below it the GPU's time is a few microseconds either way and the host's
// launch cost decides) whose pointers are 16-byte aligned; anything else takes the CuPy
// ElementwiseKernels of the same rows (cuda.py's FUSED and UPDATE_KERNELS), whose bodies these
// repeat expression for expression, so both paths round alike.
//
// Why: a CuPy ElementwiseKernel reads and writes one element per thread through an indexer,
// which reaches about half of an H200's memory bandwidth on the arrays of a large MLP (a relu
// of 1024 x 4096 float32 took 21 us where PyTorch's takes 7). Here each thread moves 16 bytes
// per load (float4, double2) and the grid strides over the array.
//
// Entry points: <name>_f32 and <name>_f64, arguments (inputs..., out, n) with n elements (sgd:
// p, g, lr, wd, n), and for add_row the row length `cols` last (b holds cols entries, cols a
// multiple of the vector width). relu reads its input through both of map2's operands (the
// second load hits the cache). Launch: block 256, any grid (the loops stride).

namespace {

template <class T> struct Vec;
template <> struct Vec<float> { typedef float4 type; enum { width = 4 }; };
template <> struct Vec<double> { typedef double2 type; enum { width = 2 }; };

// out = f(a[, b]) over n elements: whole vectors first, then the tail one by one
template <class T, class F>
__device__ __forceinline__ void map2(const T* a, const T* b, T* out, long long n, F f) {
    typedef typename Vec<T>::type V;
    const int W = Vec<T>::width;
    const long long nv = n / W;
    const long long stride = (long long)gridDim.x * blockDim.x;
    const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    for (long long i = first; i < nv; i += stride) {
        V va = reinterpret_cast<const V*>(a)[i];
        V vb = reinterpret_cast<const V*>(b)[i];
        V vo;
        const T* pa = reinterpret_cast<const T*>(&va);
        const T* pb = reinterpret_cast<const T*>(&vb);
        T* po = reinterpret_cast<T*>(&vo);
#pragma unroll
        for (int k = 0; k < W; ++k) po[k] = f(pa[k], pb[k]);
        reinterpret_cast<V*>(out)[i] = vo;
    }
    for (long long i = nv * W + first; i < n; i += stride) out[i] = f(a[i], b[i]);
}

template <class T> struct Relu {       // NaN stays NaN (x < 0 is false)
    __device__ T operator()(T x, T) const { return x < T(0) ? T(0) : x; }
};
template <class T> struct ReluBackward {
    __device__ T operator()(T g, T x) const { return x > T(0) ? g : T(0); }
};
template <class T> struct TanhBackward {
    __device__ T operator()(T g, T y) const { return g * (T(1) - y * y); }
};
template <class T> struct Add {
    __device__ T operator()(T x, T y) const { return x + y; }
};

// out = a + b[column] for a (n / cols, cols) and b (cols,), cols a multiple of the width
template <class T>
__device__ __forceinline__ void add_row(const T* a, const T* b, T* out, long long n,
                                        long long cols) {
    typedef typename Vec<T>::type V;
    const int W = Vec<T>::width;
    const long long nv = n / W, cv = cols / W;
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < nv; i += stride) {
        V va = reinterpret_cast<const V*>(a)[i];
        V vb = reinterpret_cast<const V*>(b)[i % cv];
        V vo;
        const T* pa = reinterpret_cast<const T*>(&va);
        const T* pb = reinterpret_cast<const T*>(&vb);
        T* po = reinterpret_cast<T*>(&vo);
#pragma unroll
        for (int k = 0; k < W; ++k) po[k] = pa[k] + pb[k];
        reinterpret_cast<V*>(out)[i] = vo;
    }
}

// p = p - lr * (g + wd * p), in place (as UPDATE_KERNELS["sgd"]): map2 with out = a = p
template <class T> struct Sgd {
    T lr, wd;
    __device__ T operator()(T p, T g) const { return p - lr * (g + wd * p); }
};

}  // namespace

// ------------------------------------------------------------------- entry points
#define PYAD_MAP1(NAME, FUNCTOR, T, SUFFIX)                                                  \
    extern "C" __global__ void NAME##_##SUFFIX(const T* x, T* out, long long n) {            \
        map2<T>(x, x, out, n, FUNCTOR<T>());                                                 \
    }
#define PYAD_MAP2(NAME, FUNCTOR, T, SUFFIX)                                                  \
    extern "C" __global__ void NAME##_##SUFFIX(const T* a, const T* b, T* out, long long n) { \
        map2<T>(a, b, out, n, FUNCTOR<T>());                                                 \
    }
#define PYAD_ROWS(T, SUFFIX)                                                                 \
    PYAD_MAP1(relu, Relu, T, SUFFIX)                                                         \
    PYAD_MAP2(relu_backward, ReluBackward, T, SUFFIX)                                        \
    PYAD_MAP2(tanh_backward, TanhBackward, T, SUFFIX)                                        \
    PYAD_MAP2(add, Add, T, SUFFIX)                                                           \
    extern "C" __global__ void add_row_##SUFFIX(const T* a, const T* b, T* out, long long n, \
                                                long long cols) {                            \
        add_row<T>(a, b, out, n, cols);                                                      \
    }                                                                                        \
    extern "C" __global__ void sgd_##SUFFIX(T* p, const T* g, T lr, T wd, long long n) {     \
        map2<T>(p, g, p, n, Sgd<T>{lr, wd});                                                 \
    }

PYAD_ROWS(float, f32)
PYAD_ROWS(double, f64)
