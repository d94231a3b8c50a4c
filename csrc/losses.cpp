// Softmax cross-entropy of logits and integer labels: the fused forward, then its backward.
#include <algorithm>
#include <cmath>
#include <vector>

#include "common.h"
#include "simd_math.h"

namespace pyad {
namespace {

// Argument checks shared by the forward and the backward.
void check_labels(const char* k, PyArrayObject* lab, npy_intp n, npy_intp c) {
    if (PyArray_TYPE(lab) != NPY_INT64 || PyArray_NDIM(lab) != 1 || PyArray_DIM(lab, 0) != n)
        raise(PyExc_TypeError, "pyad._C.%s: labels must be an int64 array of shape (%zd,)", k, (Py_ssize_t)n);
    const npy_int64* l = (const npy_int64*)PyArray_DATA(lab);
    // pyad.softmax_cross_entropy leaves numpy labels' range to this check (one pass here
    // against two numpy reductions there), so the message is the loss's own
    for (npy_intp i = 0; i < n; ++i)
        if (l[i] < 0 || l[i] >= c)
            raise(PyExc_IndexError,
                  "pyad.softmax_cross_entropy: label %lld is out of range for %zd classes (labels "
                  "must lie in [0, %zd))", (long long)l[i], (Py_ssize_t)c, (Py_ssize_t)c);
}

PyArrayObject* as_2d(const char* k, PyObject* o, const char* what) {
    PyArrayObject* a = as_input(k, o, what);
    if (PyArray_NDIM(a) != 2 || PyArray_DIM(a, 1) < 1)
        raise(PyExc_ValueError, "pyad._C.%s: %s must have shape (N, C) with C >= 1", k, what);
    return a;
}

// ------------------------------------------------------------------- forward
// The max of a row, eight independent lanes (one running max is a dependency chain).
template <class T>
PYAD_INLINE T row_max(const T* __restrict row, npy_intp c) {
    T m8[8];
    for (int k = 0; k < 8; ++k) m8[k] = row[0];
    npy_intp j = 0;
    for (; j + 8 <= c; j += 8)
        for (int k = 0; k < 8; ++k) m8[k] = row[j + k] > m8[k] ? row[j + k] : m8[k];
    T mx = m8[0];
    for (int k = 1; k < 8; ++k) mx = m8[k] > mx ? m8[k] : mx;
    for (; j < c; ++j) mx = row[j] > mx ? row[j] : mx;
    return mx;
}

// The sum of a row of exps, eight independent lanes.
PYAD_INLINE double row_sum(const double* __restrict e, npy_intp c) {
    double s8[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    npy_intp j = 0;
    for (; j + 8 <= c; j += 8)
        for (int k = 0; k < 8; ++k) s8[k] += e[j + k];
    double s = ((s8[0] + s8[1]) + (s8[2] + s8[3])) + ((s8[4] + s8[5]) + (s8[6] + s8[7]));
    for (; j < c; ++j) s += e[j];
    return s;
}

// Rows [r0, r1) of z (N, C) a block at a time: each row's max mx[r], exp(z - max) in double
// into e (the block's rows one after another) and the row sums s[r] (finite for any finite
// logits). The exps of a whole block are one loop: a row of 10 classes is too short for the
// vector lanes, and row by row the pass cost ~6 ns an element (rows of 32 classes or more go
// one at a time, in one pass). Calls f(r, e of row r, mx, s) for each row.
constexpr npy_intp kBlockElems = 2048;

template <class T, class F>
PYAD_CLONES void row_blocks(const T* __restrict z, npy_intp r0, npy_intp r1, npy_intp c, F&& f) {
    const npy_intp rows = c >= 32 ? 1 : kBlockElems / c;
    std::vector<double> e((size_t)(rows * c));
    std::vector<T> mx((size_t)rows);
    std::vector<double> s((size_t)rows);
    double* __restrict ep = e.data();
    for (npy_intp b = r0; b < r1; b += rows) {
        const npy_intp nb = std::min(rows, r1 - b);
        const T* zb = z + b * c;
        if (c >= 32) {      // rows long enough for the lanes: one pass
            const T m = row_max(zb, c);
            mx[0] = m;
            for (npy_intp j = 0; j < c; ++j) ep[j] = sm::exp((double)(zb[j] - m));
        } else {
            for (npy_intp r = 0; r < nb; ++r) {
                const T m = row_max(zb + r * c, c);
                mx[r] = m;
                for (npy_intp j = 0; j < c; ++j) ep[r * c + j] = (double)(zb[r * c + j] - m);
            }
            for (npy_intp i = 0; i < nb * c; ++i) ep[i] = sm::exp(ep[i]);
        }
        for (npy_intp r = 0; r < nb; ++r) s[r] = row_sum(ep + r * c, c);
        for (npy_intp r = 0; r < nb; ++r) f(b + r, ep + r * c, mx[r], s[r]);
    }
}

// logits (N, C), labels int64 (N,): loss_i = logsumexp(z_i) - z_i[label_i].
template <class T>
void ce_forward(const T* z, const npy_int64* lab, T* loss, npy_intp n, npy_intp c) {
    parallel_items(n, n * c, [&](npy_intp r0, npy_intp r1) {
        row_blocks(z, r0, r1, c, [&](npy_intp r, const double*, T mx, double s) {
            loss[r] = (T)(std::log(s) - (double)(z[r * c + lab[r]] - mx));
        });
    });
}

PyObject* softmax_cross_entropy(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const names[] = {"logits", "labels"};
    const char* k = "softmax_cross_entropy";
    PyObject* slot[2];
    parse_args(k, args, nargs, kwnames, names, 2, 2, slot);
    PyArrayObject* z = as_2d(k, slot[0], "logits");
    PyArrayObject* lab = as_input(k, slot[1], "labels");
    int tn = float_dtype(k, &z, 1);
    npy_intp n = PyArray_DIM(z, 0), c = PyArray_DIM(z, 1);
    check_labels(k, lab, n, c);
    npy_intp dims[1] = {n};
    py::object out = get_out(k, nullptr, 1, dims, tn);
    const npy_int64* l = (const npy_int64*)PyArray_DATA(lab);
    {
        MaybeNoGil nogil(n * c > kGilGrain);
        dispatch_float(tn, [&](auto t) {
            using T = decltype(t);
            ce_forward<T>((const T*)PyArray_DATA(z), l, (T*)PyArray_DATA((PyArrayObject*)out.ptr()), n, c);
        });
    }
    return out.release().ptr();
}

// ------------------------------------------------------------------- backward
// out_i = g_i * (softmax(z_i) - onehot(label_i))
// g may be strided (gs elements apart; 0: a mean's broadcast cotangent, read without a copy).
template <class T>
void ce_backward(const T* g, npy_intp gs, const T* z, const npy_int64* lab, T* out, npy_intp n,
                 npy_intp c) {
    parallel_items(n, n * c, [&](npy_intp r0, npy_intp r1) {
        row_blocks(z, r0, r1, c, [&](npy_intp r, const double* e, T, double s) {
            T* o = out + r * c;
            double scale = (double)g[r * gs] / s;
            for (npy_intp j = 0; j < c; ++j) o[j] = (T)(scale * e[j]);
            o[lab[r]] -= g[r * gs];
        });
    });
}

PyObject* softmax_cross_entropy_backward(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const names[] = {"g", "logits", "labels"};
    const char* k = "softmax_cross_entropy_backward";
    PyObject* slot[3];
    parse_args(k, args, nargs, kwnames, names, 3, 3, slot);
    if (!PyArray_Check(slot[0]))
        raise(PyExc_TypeError, "pyad._C.%s: g must be a numpy.ndarray, got %s", k, Py_TYPE(slot[0])->tp_name);
    PyArrayObject* gv = (PyArrayObject*)slot[0];
    if (!PyArray_ISALIGNED(gv) || !PyArray_ISNOTSWAPPED(gv))
        raise(PyExc_ValueError, "pyad._C.%s: g must be aligned and in native byte order", k);
    PyArrayObject* arr[2] = {gv, as_2d(k, slot[1], "logits")};
    PyArrayObject* lab = as_input(k, slot[2], "labels");
    int tn = float_dtype(k, arr, 2);
    npy_intp n = PyArray_DIM(arr[1], 0), c = PyArray_DIM(arr[1], 1);
    if (PyArray_NDIM(arr[0]) != 1 || PyArray_DIM(arr[0], 0) != n)
        raise(PyExc_ValueError, "pyad._C.%s: g must have shape (%zd,)", k, (Py_ssize_t)n);
    check_labels(k, lab, n, c);
    npy_intp gs = PyArray_STRIDE(gv, 0) / (npy_intp)PyArray_ITEMSIZE(gv);
    npy_intp dims[2] = {n, c};
    py::object out = get_out(k, nullptr, 2, dims, tn);
    const npy_int64* l = (const npy_int64*)PyArray_DATA(lab);
    void* o = PyArray_DATA((PyArrayObject*)out.ptr());
    {
        MaybeNoGil nogil(n * c > kGilGrain);
        dispatch_float(tn, [&](auto t) {
            using T = decltype(t);
            ce_backward<T>((const T*)PyArray_DATA(arr[0]), gs, (const T*)PyArray_DATA(arr[1]), l, (T*)o, n, c);
        });
    }
    return out.release().ptr();
}

}  // namespace

void bind_losses(py::module_& m) {
    def_fast<softmax_cross_entropy>(
        m, "softmax_cross_entropy",
        "softmax_cross_entropy(logits, labels)\n--\n\nPer-row logsumexp(z) - z[label], shifted by the row max.");
    def_fast<softmax_cross_entropy_backward>(
        m, "softmax_cross_entropy_backward",
        "softmax_cross_entropy_backward(g, logits, labels)\n--\n\ng[:, None] * (softmax(z) - onehot(labels)); g "
        "may be strided (a broadcast mean cotangent is read in place).");
}

}  // namespace pyad
