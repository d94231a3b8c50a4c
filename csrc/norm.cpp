// Batch and layer normalisation: the normalising forward and its fused one-pass backward.
#include <cmath>

#include "common.h"

namespace pyad {
namespace {

// x seen as (A, C, B), statistics per c over A and B: batch norm (N, C, H W), layer norm
// (1, rows, features). Means and variances in double, two passes (no cancellation).
template <class T>
void group_stats(const T* x, npy_intp A, npy_intp C, npy_intp B, npy_intp c, double eps, double* mean, double* rstd) {
    double s = 0.0;
    for (npy_intp a = 0; a < A; ++a) {
        const T* row = x + (a * C + c) * B;
        for (npy_intp b = 0; b < B; ++b) s += row[b];
    }
    const double n = (double)(A * B), m = s / n;
    double v = 0.0;
    for (npy_intp a = 0; a < A; ++a) {
        const T* row = x + (a * C + c) * B;
        for (npy_intp b = 0; b < B; ++b) {
            const double d = row[b] - m;
            v += d * d;
        }
    }
    *mean = m;
    *rstd = 1.0 / std::sqrt(v / n + eps);
}

template <class T>
void norm_forward_typed(const T* x, T* y, npy_intp A, npy_intp C, npy_intp B, double eps) {
    parallel_items(C, A * C * B, [&](npy_intp c0, npy_intp c1) {
        for (npy_intp c = c0; c < c1; ++c) {
            double m, r;
            group_stats(x, A, C, B, c, eps, &m, &r);
            const T tm = (T)m, tr = (T)r;
            for (npy_intp a = 0; a < A; ++a) {
                const T* row = x + (a * C + c) * B;
                T* out = y + (a * C + c) * B;
                for (npy_intp b = 0; b < B; ++b) out[b] = (row[b] - tm) * tr;
            }
        }
    });
}

// out = rstd(x) (g - mean(g) - xhat mean(g xhat)) per group: the VJP (and JVP) of normalising.
template <class T>
void norm_backward_typed(const T* g, const T* xh, const T* x, T* out, npy_intp A, npy_intp C, npy_intp B, double eps) {
    parallel_items(C, 3 * A * C * B, [&](npy_intp c0, npy_intp c1) {
        for (npy_intp c = c0; c < c1; ++c) {
            double m, r, sg = 0.0, sgx = 0.0;
            group_stats(x, A, C, B, c, eps, &m, &r);
            for (npy_intp a = 0; a < A; ++a) {
                const npy_intp o = (a * C + c) * B;
                for (npy_intp b = 0; b < B; ++b) {
                    sg += g[o + b];
                    sgx += (double)g[o + b] * xh[o + b];
                }
            }
            const double n = (double)(A * B);
            const T mg = (T)(sg / n), mgx = (T)(sgx / n), tr = (T)r;
            for (npy_intp a = 0; a < A; ++a) {
                const npy_intp o = (a * C + c) * B;
                for (npy_intp b = 0; b < B; ++b) out[o + b] = tr * (g[o + b] - mg - xh[o + b] * mgx);
            }
        }
    });
}

void read_layout(const char* k, PyArrayObject* x, PyObject* const* slot, npy_intp* A, npy_intp* C, npy_intp* B) {
    *A = as_ssize(k, slot[0], "A");
    *C = as_ssize(k, slot[1], "C");
    *B = as_ssize(k, slot[2], "B");
    if (*A < 0 || *C < 0 || *B < 0 || *A * *C * *B != PyArray_SIZE(x))
        raise(PyExc_ValueError, "pyad._C.%s: layout (A, C, B) does not match the array's size", k);
}

// norm_forward(x, A, C, B, eps) -> xhat; norm_backward(g, xhat, x, A, C, B, eps)
template <bool Backward>
PyObject* norm_entry(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const nf[] = {"x", "A", "C", "B", "eps"};
    static const char* const nb[] = {"g", "xhat", "x", "A", "C", "B", "eps"};
    const char* k = Backward ? "norm_backward" : "norm_forward";
    PyObject* slot[7];
    int na = Backward ? 7 : 5, arrays = Backward ? 3 : 1;
    parse_args(k, args, nargs, kwnames, Backward ? nb : nf, na, na, slot);
    PyArrayObject* arr[3];
    for (int i = 0; i < arrays; ++i) arr[i] = as_input(k, slot[i], Backward ? nb[i] : nf[i]);
    int tn = float_dtype(k, arr, arrays);
    for (int i = 1; i < arrays; ++i) require_same_shape(k, arr[i], arr[0]);
    npy_intp A, C, B;
    read_layout(k, arr[0], slot + arrays, &A, &C, &B);
    double eps = as_double(k, slot[na - 1], "eps");
    py::object out = get_out(k, nullptr, PyArray_NDIM(arr[0]), PyArray_DIMS(arr[0]), tn);
    {
        MaybeNoGil nogil(A * C * B > kGilGrain);
        dispatch_float(tn, [&](auto t) {
            using T = decltype(t);
            T* o = (T*)PyArray_DATA((PyArrayObject*)out.ptr());
            if (Backward)
                norm_backward_typed<T>((const T*)PyArray_DATA(arr[0]), (const T*)PyArray_DATA(arr[1]),
                                       (const T*)PyArray_DATA(arr[2]), o, A, C, B, eps);
            else
                norm_forward_typed<T>((const T*)PyArray_DATA(arr[0]), o, A, C, B, eps);
        });
    }
    return out.release().ptr();
}

}  // namespace

void bind_norm(py::module_& m) {
    def_fast<norm_entry<false>>(m, "norm_forward",
        "norm_forward(x, A, C, B, eps)\n--\n\n(x - mean) / sqrt(var + eps) per c of x seen as (A, C, B).");
    def_fast<norm_entry<true>>(m, "norm_backward",
        "norm_backward(g, xhat, x, A, C, B, eps)\n--\n\nrstd (g - mean(g) - xhat mean(g xhat)) per c.");
}

}  // namespace pyad
