// Axis kernels on x viewed as (outer, n, inner): sum/max/min, logsumexp, softmax family with backwards.
#include "common.h"
#include "simd_math.h"

#include <algorithm>
#include <vector>

namespace pyad {
namespace {

constexpr npy_intp kBlock = 4096;  // float lanes sum at most kBlock/L values before going to double
constexpr npy_intp kTile = 256;    // column tile for inner > 1 (buffers stay in L1)

template <class T> constexpr int kLanes = 128 / sizeof(T);  // four 512-bit accumulators

// ---------------------------------------------------------------- row (inner == 1) kernels
// Sum of f(i) for i in [0, n): SIMD lanes of T inside a block, blocks combined in double. This
// gives pairwise-like float32 accuracy (numpy uses pairwise summation) at full vector speed.
template <class T, class F>
PYAD_INLINE double lane_sum(F f, npy_intp n) {
    constexpr int L = kLanes<T>;
    double total = 0.0;
    for (npy_intp b = 0; b < n; b += kBlock) {
        npy_intp m = std::min(kBlock, n - b);
        T acc[L] = {};
        npy_intp i = 0;
        for (; i + L <= m; i += L)
            for (int j = 0; j < L; ++j) acc[j] += f(b + i + j);
        // Vectorised (not scalar) tail, in its own array so `acc` stays in registers above.
        T tail[L] = {};
        npy_intp rem = m - i;
        for (npy_intp j = 0; j < rem; ++j) tail[j] = f(b + i + j);
        for (int j = 0; j < L; ++j) acc[j] += tail[j];
        for (int w = L / 2; w >= 1; w /= 2)  // tree, not a serial chain of L dependent adds
            for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
        total += acc[0];
    }
    return total;
}

// NaN-propagating max/min: a NaN lane sticks because no comparison with NaN is true.
template <bool MAX, class T>
PYAD_INLINE T pick(T acc, T v) {
    return ((MAX ? v > acc : v < acc) | (v != v)) ? v : acc;
}

template <bool MAX, class T>
PYAD_CLONES T row_extreme(const T* __restrict x, npy_intp n) {  // n >= 1
    constexpr int L = kLanes<T>;
    T acc[L];
    for (int j = 0; j < L; ++j) acc[j] = x[0];
    npy_intp i = 0;
    for (; i + L <= n; i += L)
        for (int j = 0; j < L; ++j) acc[j] = pick<MAX>(acc[j], x[i + j]);
    T tail[L];
    for (int j = 0; j < L; ++j) tail[j] = x[0];
    npy_intp rem = n - i;
    for (npy_intp j = 0; j < rem; ++j) tail[j] = x[i + j];
    for (int j = 0; j < L; ++j) acc[j] = pick<MAX>(acc[j], tail[j]);
    for (int w = L / 2; w >= 1; w /= 2)
        for (int j = 0; j < w; ++j) acc[j] = pick<MAX>(acc[j], acc[j + w]);
    return acc[0];
}

template <class T>
PYAD_CLONES double row_sum(const T* __restrict x, npy_intp n) {
    return lane_sum<T>([x](npy_intp i) { return x[i]; }, n);
}

// Shift for exp(x - shift): the max, except when it is +-inf (then 0, as scipy does) so that
// all -inf gives logsumexp = -inf and a +inf gives +inf instead of NaN.
template <class T>
PYAD_INLINE T exp_shift(T m) { return std::fabs(m) == sm::kInf<T> ? T(0) : m; }

template <class T>
PYAD_CLONES double row_sumexp(const T* __restrict x, npy_intp n, T sh) {
    return lane_sum<T>([x, sh](npy_intp i) { return sm::exp(x[i] - sh); }, n);
}

// ---------------------------------------------------------------- column (inner > 1) kernels
// x points at [outer o, k = 0, column c0]; row stride `inner`; w = tile width (<= kTile).
template <class T>
PYAD_CLONES void cols_sum(const T* __restrict x, T* __restrict out, npy_intp n, npy_intp inner, npy_intp w) {
    double acc[kTile];
    for (npy_intp j = 0; j < w; ++j) acc[j] = 0.0;
    for (npy_intp k = 0; k < n; ++k) {
        const T* r = x + k * inner;
        for (npy_intp j = 0; j < w; ++j) acc[j] += r[j];
    }
    for (npy_intp j = 0; j < w; ++j) out[j] = (T)acc[j];
}
template <bool MAX, class T>
PYAD_CLONES void cols_extreme(const T* __restrict x, T* __restrict out, npy_intp n, npy_intp inner, npy_intp w) {
    T acc[kTile];
    for (npy_intp j = 0; j < w; ++j) acc[j] = x[j];
    for (npy_intp k = 1; k < n; ++k) {
        const T* r = x + k * inner;
        for (npy_intp j = 0; j < w; ++j) acc[j] = pick<MAX>(acc[j], r[j]);
    }
    for (npy_intp j = 0; j < w; ++j) out[j] = acc[j];
}
// Shared first two passes of the softmax family: per-column shift and sum of exp(x - shift).
template <class T>
PYAD_INLINE void cols_shift_sumexp(const T* __restrict x, T* __restrict y, npy_intp n, npy_intp inner, npy_intp w,
                                   T* sh, double* s) {
    if (n == 0) {
        for (npy_intp j = 0; j < w; ++j) { sh[j] = T(0); s[j] = 0.0; }
        return;
    }
    for (npy_intp j = 0; j < w; ++j) sh[j] = x[j];
    for (npy_intp k = 1; k < n; ++k)
        for (npy_intp j = 0; j < w; ++j) sh[j] = pick<true>(sh[j], x[k * inner + j]);
    for (npy_intp j = 0; j < w; ++j) { sh[j] = exp_shift(sh[j]); s[j] = 0.0; }
    for (npy_intp k = 0; k < n; ++k)
        for (npy_intp j = 0; j < w; ++j) {
            T e = sm::exp(x[k * inner + j] - sh[j]);
            if (y) y[k * inner + j] = e;
            s[j] += e;
        }
}

// ---------------------------------------------------------------- drivers
struct Split {
    npy_intp outer = 1, n = 1, inner = 1;
    int out_nd = 0;  // a reduction's output shape: x's without the axis
    npy_intp out_dims[NPY_MAXDIMS];
};

Split split_axis(const char* k, PyArrayObject* x, PyObject* axis) {
    Split s;
    int nd = PyArray_NDIM(x);
    const npy_intp* d = PyArray_DIMS(x);
    if (is_none(axis)) {
        s.n = PyArray_SIZE(x);
        return s;
    }
    long ax = PyLong_AsLong(axis);
    if (ax == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        raise(PyExc_TypeError, "pyad._C.%s: axis must be an int or None, got %s", k, Py_TYPE(axis)->tp_name);
    }
    if (ax < 0) ax += nd;
    if (ax < 0 || ax >= nd)
        raise(PyExc_ValueError, "pyad._C.%s: axis %ld is out of bounds for array of dimension %d", k, PyLong_AsLong(axis), nd);
    for (int i = 0; i < nd; ++i) {
        if (i < ax) s.outer *= d[i];
        else if (i > ax) s.inner *= d[i];
        if (i != ax) s.out_dims[s.out_nd++] = d[i];
    }
    s.n = d[ax];
    return s;
}

// Reduction driver. ROW(x, n) -> T for inner == 1; COLS(x, out, n, inner, w) for inner > 1.
template <class T, class RowF, class ColsF>
void reduce_run(const T* x, T* out, const Split& s, RowF row, ColsF cols) {
    npy_intp total = s.outer * s.n * s.inner;
    if (s.inner == 1) {
        if (s.outer == 1) { out[0] = row(x, s.n); return; }
        parallel_items(s.outer, total, [&](npy_intp r0, npy_intp r1) {
            for (npy_intp r = r0; r < r1; ++r) out[r] = row(x + r * s.n, s.n);
        });
        return;
    }
    npy_intp tiles = (s.inner + kTile - 1) / kTile;
    parallel_items(s.outer * tiles, total, [&](npy_intp i0, npy_intp i1) {
        for (npy_intp it = i0; it < i1; ++it) {
            npy_intp o = it / tiles, c0 = (it % tiles) * kTile, w = std::min(kTile, s.inner - c0);
            cols(x + o * s.n * s.inner + c0, out + o * s.inner + c0, s.n, s.inner, w);
        }
    });
}

// Same-shape axis maps (softmax family): ROW(x.., y, n), COLS(x.., y, n, inner, w).
template <class RowF, class ColsF>
void axis_map_run(const Split& s, RowF row, ColsF cols) {
    npy_intp total = s.outer * s.n * s.inner;
    if (s.inner == 1) {
        parallel_items(s.outer, total, [&](npy_intp r0, npy_intp r1) {
            for (npy_intp r = r0; r < r1; ++r) row(r * s.n, s.n);
        });
        return;
    }
    npy_intp tiles = (s.inner + kTile - 1) / kTile;
    parallel_items(s.outer * tiles, total, [&](npy_intp i0, npy_intp i1) {
        for (npy_intp it = i0; it < i1; ++it) {
            npy_intp o = it / tiles, c0 = (it % tiles) * kTile, w = std::min(kTile, s.inner - c0);
            cols(o * s.n * s.inner + c0, s.n, s.inner, w);
        }
    });
}

// Whole-array reductions of one long row split across threads.
template <class T, class Part, class Combine>
T reduce_all_parallel(const T* x, npy_intp n, Part part, Combine combine) {
    int nt = threads_for(n);
    if (nt <= 1) return (T)part(x, n);
    std::vector<double> parts(nt);
    std::vector<T> parts_t(nt);
    int used = 1;
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
    {
        npy_intp Tn = omp_get_num_threads(), t = omp_get_thread_num();
#pragma omp single
        used = (int)Tn;
        npy_intp b = n * t / Tn, e = n * (t + 1) / Tn;
        parts[t] = part(x + b, e - b);
    }
#endif
    return combine(parts.data(), used);
}

// ---------------------------------------------------------------- sum / max / min
enum class Red { Sum, Max, Min };
constexpr const char* red_name(Red r) { return r == Red::Sum ? "sum" : (r == Red::Max ? "max" : "min"); }

template <Red R, class T>
void reduce_typed(const T* x, T* out, const Split& s) {
    npy_intp total = s.outer * s.n * s.inner;
    if constexpr (R == Red::Sum) {
        if (s.inner == 1 && s.outer == 1) {
            out[0] = reduce_all_parallel<T>(
                x, s.n, [](const T* p, npy_intp m) { return row_sum<T>(p, m); },
                [](const double* p, int k) { double a = 0; for (int i = 0; i < k; ++i) a += p[i]; return (T)a; });
            return;
        }
        if (s.n == 0) { std::fill(out, out + s.outer * s.inner, T(0)); return; }
        reduce_run<T>(x, out, s, [](const T* p, npy_intp m) { return (T)row_sum<T>(p, m); },
                      [](const T* p, T* o, npy_intp n, npy_intp inner, npy_intp w) { cols_sum<T>(p, o, n, inner, w); });
    } else {
        constexpr bool MAX = R == Red::Max;
        if (s.inner == 1 && s.outer == 1) {
            out[0] = reduce_all_parallel<T>(
                x, s.n, [](const T* p, npy_intp m) { return (double)row_extreme<MAX, T>(p, m); },
                [](const double* p, int k) { T a = (T)p[0]; for (int i = 1; i < k; ++i) a = pick<MAX>(a, (T)p[i]); return a; });
            return;
        }
        reduce_run<T>(x, out, s, [](const T* p, npy_intp m) { return row_extreme<MAX, T>(p, m); },
                      [](const T* p, T* o, npy_intp n, npy_intp inner, npy_intp w) { cols_extreme<MAX, T>(p, o, n, inner, w); });
        (void)total;
    }
}

template <Red R>
PyObject* reduce_entry(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const names[] = {"x", "axis", "out"};
    constexpr const char* k = red_name(R);
    PyObject* slot[3];
    parse_args(k, args, nargs, kwnames, names, 3, 1, slot);
    PyArrayObject* x = as_input(k, slot[0], "x");
    int tn = float_dtype(k, &x, 1);
    Split s = split_axis(k, x, slot[1]);
    npy_intp out_size = s.outer * s.inner;
    if (R != Red::Sum && s.n == 0)
        raise(PyExc_ValueError, "pyad._C.%s: zero-size array to reduction operation %s which has no identity", k,
              R == Red::Max ? "maximum" : "minimum");
    py::object out = get_out(k, slot[2], s.out_nd, s.out_dims, tn);
    if (out_size == 0) return out.release().ptr();
    const void* xp = PyArray_DATA(x);
    void* op = PyArray_DATA((PyArrayObject*)out.ptr());
    {
        MaybeNoGil nogil(PyArray_SIZE(x) > kGilGrain);
        dispatch_float(tn, [&](auto t) {
            using T = decltype(t);
            reduce_typed<R, T>((const T*)xp, (T*)op, s);
        });
    }
    return out.release().ptr();
}

// ---------------------------------------------------------------- logsumexp
template <class T>
void row_logsumexp(const T* x, T* out, npy_intp n) {
    if (n == 0) { *out = -sm::kInf<T>; return; }
    T sh = exp_shift(row_extreme<true, T>(x, n));
    *out = (T)((double)sh + std::log(row_sumexp<T>(x, n, sh)));
}
template <class T>
PYAD_CLONES void cols_logsumexp(const T* __restrict x, T* __restrict out, npy_intp n, npy_intp inner, npy_intp w) {
    T sh[kTile];
    double s[kTile];
    cols_shift_sumexp<T>(x, nullptr, n, inner, w, sh, s);
    for (npy_intp j = 0; j < w; ++j) out[j] = (T)((double)sh[j] + std::log(s[j]));
}

template <class T>
void logsumexp_typed(const T* x, T* out, const Split& s) {
    reduce_run<T>(x, out, s, [](const T* p, npy_intp m) { T r; row_logsumexp<T>(p, &r, m); return r; },
                  [](const T* p, T* o, npy_intp n, npy_intp inner, npy_intp w) { cols_logsumexp<T>(p, o, n, inner, w); });
}

PyObject* logsumexp_entry(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const names[] = {"x", "axis", "out"};
    const char* k = "logsumexp";
    PyObject* slot[3];
    parse_args(k, args, nargs, kwnames, names, 3, 1, slot);
    PyArrayObject* x = as_input(k, slot[0], "x");
    int tn = float_dtype(k, &x, 1);
    Split s = split_axis(k, x, slot[1]);
    py::object out = get_out(k, slot[2], s.out_nd, s.out_dims, tn);
    if (s.outer * s.inner == 0) return out.release().ptr();
    const void* xp = PyArray_DATA(x);
    void* op = PyArray_DATA((PyArrayObject*)out.ptr());
    {
        MaybeNoGil nogil(PyArray_SIZE(x) > kGilGrain);
        dispatch_float(tn, [&](auto t) {
            using T = decltype(t);
            logsumexp_typed<T>((const T*)xp, (T*)op, s);
        });
    }
    return out.release().ptr();
}

// ---------------------------------------------------------------- softmax family
// softmax, log_softmax and their backward ops keep x's shape. Each is a struct for softmax_entry:
// its name, its input arrays (x, or g and y) and its kernels on one row (inner == 1) and on a tile
// of columns (inner > 1). Both kernels take (first input, second input, output); the forward ops
// have one input and ignore the second.

// softmax: exp(x - shift) is stored on the way to its sum, then scaled by 1 / sum.
template <class T>
PYAD_CLONES double row_sumexp_store(const T* __restrict x, T* __restrict y, npy_intp n, T sh) {
    return lane_sum<T>([x, y, sh](npy_intp i) { T e = sm::exp(x[i] - sh); y[i] = e; return e; }, n);
}
template <class T>
PYAD_CLONES void row_scale(T* __restrict y, npy_intp n, T c) {
    for (npy_intp i = 0; i < n; ++i) y[i] *= c;
}
template <class T>
PYAD_CLONES void cols_softmax(const T* __restrict x, T* __restrict y, npy_intp n, npy_intp inner, npy_intp w) {
    T sh[kTile], c[kTile];
    double s[kTile];
    cols_shift_sumexp<T>(x, y, n, inner, w, sh, s);
    for (npy_intp j = 0; j < w; ++j) c[j] = (T)(1.0 / s[j]);
    for (npy_intp k = 0; k < n; ++k)
        for (npy_intp j = 0; j < w; ++j) y[k * inner + j] *= c[j];
}
struct Softmax {
    static constexpr const char* name = "softmax";
    static constexpr int nin = 1;
    template <class T> static void row(const T* x, const T*, T* y, npy_intp n) {
        if (n == 0) return;
        T sh = exp_shift(row_extreme<true, T>(x, n));
        double s = row_sumexp_store<T>(x, y, n, sh);
        row_scale<T>(y, n, (T)(1.0 / s));
    }
    template <class T> static void cols(const T* x, const T*, T* y, npy_intp n, npy_intp inner, npy_intp w) {
        cols_softmax<T>(x, y, n, inner, w);
    }
};

// softmax backward: y * (g - sum(g * y)).
template <class T>
PYAD_CLONES double row_dot(const T* __restrict g, const T* __restrict y, npy_intp n) {
    return lane_sum<T>([g, y](npy_intp i) { return g[i] * y[i]; }, n);
}
template <class T>
PYAD_CLONES void row_softmax_bwd(const T* __restrict g, const T* __restrict y, T* __restrict o, npy_intp n, T d) {
    for (npy_intp i = 0; i < n; ++i) o[i] = y[i] * (g[i] - d);
}
template <class T>
PYAD_CLONES void cols_softmax_bwd(const T* __restrict g, const T* __restrict y, T* __restrict o, npy_intp n,
                                  npy_intp inner, npy_intp w) {
    double d[kTile];
    T c[kTile];
    for (npy_intp j = 0; j < w; ++j) d[j] = 0.0;
    for (npy_intp k = 0; k < n; ++k)
        for (npy_intp j = 0; j < w; ++j) d[j] += g[k * inner + j] * y[k * inner + j];
    for (npy_intp j = 0; j < w; ++j) c[j] = (T)d[j];
    for (npy_intp k = 0; k < n; ++k)
        for (npy_intp j = 0; j < w; ++j) o[k * inner + j] = y[k * inner + j] * (g[k * inner + j] - c[j]);
}
struct SoftmaxBackward {
    static constexpr const char* name = "softmax_backward";
    static constexpr int nin = 2;
    template <class T> static void row(const T* g, const T* y, T* o, npy_intp n) {
        T d = (T)row_dot<T>(g, y, n);
        row_softmax_bwd<T>(g, y, o, n, d);
    }
    template <class T> static void cols(const T* g, const T* y, T* o, npy_intp n, npy_intp inner, npy_intp w) {
        cols_softmax_bwd<T>(g, y, o, n, inner, w);
    }
};

// log_softmax: (x - shift) - log(sum of exp(x - shift)), rather than x - (shift + log(sum)): the
// first difference is exact for the largest entries, so e.g. float32 rows of -80 keep full
// relative accuracy.
template <class T>
PYAD_CLONES void row_sub2(const T* __restrict x, T* __restrict y, npy_intp n, T sh, T ls) {
    for (npy_intp i = 0; i < n; ++i) y[i] = (x[i] - sh) - ls;
}
template <class T>
PYAD_CLONES void cols_log_softmax(const T* __restrict x, T* __restrict y, npy_intp n, npy_intp inner, npy_intp w) {
    T sh[kTile], c[kTile];
    double s[kTile];
    cols_shift_sumexp<T>(x, nullptr, n, inner, w, sh, s);
    for (npy_intp j = 0; j < w; ++j) c[j] = (T)std::log(s[j]);
    for (npy_intp k = 0; k < n; ++k)
        for (npy_intp j = 0; j < w; ++j) y[k * inner + j] = (x[k * inner + j] - sh[j]) - c[j];
}
struct LogSoftmax {
    static constexpr const char* name = "log_softmax";
    static constexpr int nin = 1;
    template <class T> static void row(const T* x, const T*, T* y, npy_intp n) {
        if (n == 0) return;
        T sh = exp_shift(row_extreme<true, T>(x, n));
        double s = row_sumexp<T>(x, n, sh);
        row_sub2<T>(x, y, n, sh, (T)std::log(s));
    }
    template <class T> static void cols(const T* x, const T*, T* y, npy_intp n, npy_intp inner, npy_intp w) {
        cols_log_softmax<T>(x, y, n, inner, w);
    }
};

// log_softmax backward: g - exp(y) * sum(g).
template <class T>
PYAD_CLONES void row_log_softmax_bwd(const T* __restrict g, const T* __restrict y, T* __restrict o, npy_intp n, T s) {
    for (npy_intp i = 0; i < n; ++i) o[i] = g[i] - sm::exp(y[i]) * s;
}
template <class T>
PYAD_CLONES void cols_log_softmax_bwd(const T* __restrict g, const T* __restrict y, T* __restrict o, npy_intp n,
                                      npy_intp inner, npy_intp w) {
    double d[kTile];
    T c[kTile];
    for (npy_intp j = 0; j < w; ++j) d[j] = 0.0;
    for (npy_intp k = 0; k < n; ++k)
        for (npy_intp j = 0; j < w; ++j) d[j] += g[k * inner + j];
    for (npy_intp j = 0; j < w; ++j) c[j] = (T)d[j];
    for (npy_intp k = 0; k < n; ++k)
        for (npy_intp j = 0; j < w; ++j) o[k * inner + j] = g[k * inner + j] - sm::exp(y[k * inner + j]) * c[j];
}
struct LogSoftmaxBackward {
    static constexpr const char* name = "log_softmax_backward";
    static constexpr int nin = 2;
    template <class T> static void row(const T* g, const T* y, T* o, npy_intp n) {
        T sg = (T)row_sum<T>(g, n);
        row_log_softmax_bwd<T>(g, y, o, n, sg);
    }
    template <class T> static void cols(const T* g, const T* y, T* o, npy_intp n, npy_intp inner, npy_intp w) {
        cols_log_softmax_bwd<T>(g, y, o, n, inner, w);
    }
};

template <class K>
PyObject* softmax_entry(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    constexpr int NIN = K::nin;
    const char* k = K::name;
    static const char* const names1[] = {"x", "axis", "out"};
    static const char* const names2[] = {"g", "y", "axis", "out"};
    PyObject* slot[4];
    parse_args(k, args, nargs, kwnames, NIN == 1 ? names1 : names2, NIN + 2, NIN, slot);
    PyArrayObject* arr[2];
    for (int i = 0; i < NIN; ++i) arr[i] = as_input(k, slot[i], NIN == 1 ? "x" : names2[i]);
    int tn = float_dtype(k, arr, NIN);
    if (NIN == 2) require_same_shape(k, arr[0], arr[1]);
    Split s = split_axis(k, arr[0], slot[NIN]);
    PyArrayObject* x = arr[0];
    py::object out = get_out(k, slot[NIN + 1], PyArray_NDIM(x), PyArray_DIMS(x), tn);
    if (PyArray_SIZE(x) == 0) return out.release().ptr();
    const void* a = PyArray_DATA(arr[0]);
    const void* b = PyArray_DATA(arr[NIN - 1]);
    void* y = PyArray_DATA((PyArrayObject*)out.ptr());
    {
        MaybeNoGil nogil(PyArray_SIZE(x) > kGilGrain);
        dispatch_float(tn, [&](auto t) {
            using T = decltype(t);
            const T* pa = (const T*)a;
            const T* pb = (const T*)b;
            T* py = (T*)y;
            axis_map_run(s, [&](npy_intp off, npy_intp n) { K::row(pa + off, pb + off, py + off, n); },
                         [&](npy_intp off, npy_intp n, npy_intp inner, npy_intp w) {
                             K::cols(pa + off, pb + off, py + off, n, inner, w);
                         });
        });
    }
    return out.release().ptr();
}

}  // namespace

void bind_reductions(py::module_& m) {
    def_fast<reduce_entry<Red::Sum>>(m, "sum", "sum(x, axis=None, out=None)\n--\n\nSum over one axis (removed) or all "
                                               "elements; float32 accumulates in SIMD blocks combined in double.");
    def_fast<reduce_entry<Red::Max>>(m, "max", "max(x, axis=None, out=None)\n--\n\nMaximum over one axis (removed) or all; NaN propagates.");
    def_fast<reduce_entry<Red::Min>>(m, "min", "min(x, axis=None, out=None)\n--\n\nMinimum over one axis (removed) or all; NaN propagates.");
    def_fast<logsumexp_entry>(m, "logsumexp", "logsumexp(x, axis=None, out=None)\n--\n\nStable log(sum(exp(x))) over one axis (removed) or all.");
    def_fast<softmax_entry<Softmax>>(m, "softmax", "softmax(x, axis=None, out=None)\n--\n\nStable softmax along axis (None: all elements).");
    def_fast<softmax_entry<SoftmaxBackward>>(m, "softmax_backward", "softmax_backward(g, y, axis=None, out=None)\n--\n\n"
                                                                    "y * (g - sum(g*y, axis)) where y = softmax(x, axis).");
    def_fast<softmax_entry<LogSoftmax>>(m, "log_softmax", "log_softmax(x, axis=None, out=None)\n--\n\nStable log-softmax along axis.");
    def_fast<softmax_entry<LogSoftmaxBackward>>(m, "log_softmax_backward", "log_softmax_backward(g, y, axis=None, out=None)\n--\n\n"
                                                                           "g - exp(y) * sum(g, axis) where y = log_softmax(x, axis).");
}

}  // namespace pyad
