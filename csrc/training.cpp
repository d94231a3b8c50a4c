// Training kernels: fused softmax cross-entropy (forward and backward) and one-pass optimizer
// updates (SGD, RMSprop, Adam/AdamW) that write parameters and state in place, with
// torch.optim's arithmetic.
#include <cmath>

#include "common.h"

namespace pyad {
namespace {

// ------------------------------------------------------------------- softmax cross-entropy
// logits (N, C), labels int64 (N,): loss_i = logsumexp(z_i) - z_i[label_i], computed with the
// row max shifted out so it is finite for any finite logits.
const npy_intp* check_labels(const char* k, PyArrayObject* lab, npy_intp n, npy_intp c) {
    if (PyArray_TYPE(lab) != NPY_INT64 || PyArray_NDIM(lab) != 1 || PyArray_DIM(lab, 0) != n)
        raise(PyExc_TypeError, "pyad._C.%s: labels must be an int64 array of shape (%zd,)", k, (Py_ssize_t)n);
    const npy_int64* l = (const npy_int64*)PyArray_DATA(lab);
    for (npy_intp i = 0; i < n; ++i)
        if (l[i] < 0 || l[i] >= c)
            raise(PyExc_IndexError, "pyad._C.%s: label %lld is out of range for %zd classes", k,
                  (long long)l[i], (Py_ssize_t)c);
    return nullptr;
}

template <class T>
void ce_forward(const T* z, const npy_int64* lab, T* loss, npy_intp n, npy_intp c) {
    parallel_items(n, n * c, [&](npy_intp r0, npy_intp r1) {
        for (npy_intp r = r0; r < r1; ++r) {
            const T* row = z + r * c;
            T mx = row[0];
            for (npy_intp j = 1; j < c; ++j) mx = row[j] > mx ? row[j] : mx;
            double s = 0.0;
            for (npy_intp j = 0; j < c; ++j) s += std::exp((double)(row[j] - mx));
            loss[r] = (T)(std::log(s) - (double)(row[lab[r]] - mx));
        }
    });
}

// out_i = g_i * (softmax(z_i) - onehot(label_i))
template <class T>
void ce_backward(const T* g, const T* z, const npy_int64* lab, T* out, npy_intp n, npy_intp c) {
    parallel_items(n, n * c, [&](npy_intp r0, npy_intp r1) {
        for (npy_intp r = r0; r < r1; ++r) {
            const T* row = z + r * c;
            T* o = out + r * c;
            T mx = row[0];
            for (npy_intp j = 1; j < c; ++j) mx = row[j] > mx ? row[j] : mx;
            double s = 0.0;
            for (npy_intp j = 0; j < c; ++j) s += std::exp((double)(row[j] - mx));
            double scale = (double)g[r] / s;
            for (npy_intp j = 0; j < c; ++j) o[j] = (T)(scale * std::exp((double)(row[j] - mx)));
            o[lab[r]] -= g[r];
        }
    });
}

PyArrayObject* as_2d(const char* k, PyObject* o, const char* what) {
    PyArrayObject* a = as_input(k, o, what);
    if (PyArray_NDIM(a) != 2 || PyArray_DIM(a, 1) < 1)
        raise(PyExc_ValueError, "pyad._C.%s: %s must have shape (N, C) with C >= 1", k, what);
    return a;
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
        if (tn == NPY_FLOAT)
            ce_forward<float>((const float*)PyArray_DATA(z), l, (float*)PyArray_DATA((PyArrayObject*)out.ptr()), n, c);
        else
            ce_forward<double>((const double*)PyArray_DATA(z), l, (double*)PyArray_DATA((PyArrayObject*)out.ptr()), n, c);
    }
    return out.release().ptr();
}

PyObject* softmax_cross_entropy_backward(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const names[] = {"g", "logits", "labels"};
    const char* k = "softmax_cross_entropy_backward";
    PyObject* slot[3];
    parse_args(k, args, nargs, kwnames, names, 3, 3, slot);
    PyArrayObject* arr[2] = {as_input(k, slot[0], "g"), as_2d(k, slot[1], "logits")};
    PyArrayObject* lab = as_input(k, slot[2], "labels");
    int tn = float_dtype(k, arr, 2);
    npy_intp n = PyArray_DIM(arr[1], 0), c = PyArray_DIM(arr[1], 1);
    if (PyArray_NDIM(arr[0]) != 1 || PyArray_DIM(arr[0], 0) != n)
        raise(PyExc_ValueError, "pyad._C.%s: g must have shape (%zd,)", k, (Py_ssize_t)n);
    check_labels(k, lab, n, c);
    npy_intp dims[2] = {n, c};
    py::object out = get_out(k, nullptr, 2, dims, tn);
    const npy_int64* l = (const npy_int64*)PyArray_DATA(lab);
    void* o = PyArray_DATA((PyArrayObject*)out.ptr());
    {
        MaybeNoGil nogil(n * c > kGilGrain);
        if (tn == NPY_FLOAT)
            ce_backward<float>((const float*)PyArray_DATA(arr[0]), (const float*)PyArray_DATA(arr[1]), l, (float*)o, n, c);
        else
            ce_backward<double>((const double*)PyArray_DATA(arr[0]), (const double*)PyArray_DATA(arr[1]), l, (double*)o, n, c);
    }
    return out.release().ptr();
}

// ------------------------------------------------------------------- optimizer updates
// Parameters and state are updated in place, so each must be a writeable C-contiguous array
// of the parameter's shape and dtype (never a copy: the write would be lost).
PyArrayObject* as_state(const char* k, PyObject* o, const char* what, PyArrayObject* p) {
    if (is_none(o)) return nullptr;
    PyArrayObject* a = as_input(k, o, what);
    if (PyArray_TYPE(a) != PyArray_TYPE(p))
        raise(PyExc_TypeError, "pyad._C.%s: %s has dtype %s but the parameter has %s", k, what,
              dtype_name(a).c_str(), dtype_name(p).c_str());
    if (PyArray_SIZE(a) != PyArray_SIZE(p))
        raise(PyExc_ValueError, "pyad._C.%s: %s has %zd elements but the parameter has %zd", k, what,
              (Py_ssize_t)PyArray_SIZE(a), (Py_ssize_t)PyArray_SIZE(p));
    if (!PyArray_ISWRITEABLE(a) && std::strcmp(what, "grad") != 0)
        raise(PyExc_ValueError, "pyad._C.%s: %s is not writeable", k, what);
    return a;
}

template <class T> T* data(PyArrayObject* a) { return a ? (T*)PyArray_DATA(a) : nullptr; }

struct SgdHyper { double lr, momentum, dampening, weight_decay; bool nesterov, first; };

// torch.optim.SGD: d = g + wd p; buf = d (first step) or mu buf + (1 - dampening) d;
// d = d + mu buf (nesterov) or buf; p -= lr d
template <class T>
PYAD_CLONES void sgd_loop(T* __restrict p, const T* __restrict g, T* __restrict buf, npy_intp b, npy_intp e,
                          SgdHyper h) {
    const T lr = h.lr, mu = h.momentum, damp = T(1) - T(h.dampening), wd = h.weight_decay;
    for (npy_intp i = b; i < e; ++i) {
        T d = g[i] + wd * p[i];
        if (buf) {
            T m = h.first ? d : mu * buf[i] + damp * d;
            buf[i] = m;
            d = h.nesterov ? d + mu * m : m;
        }
        p[i] -= lr * d;
    }
}

struct AdamHyper { double lr, beta1, beta2, eps, weight_decay, bc1, bc2_sqrt; bool decoupled; };

// torch.optim.Adam / AdamW: m += (1 - b1)(g - m); v = b2 v + (1 - b2) g^2;
// p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps); AdamW first decays p *= 1 - lr wd,
// Adam instead adds wd p to g. vmax (amsgrad) keeps the running max of v.
template <class T>
PYAD_CLONES void adam_loop(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v,
                           T* __restrict vmax, npy_intp b, npy_intp e, AdamHyper h) {
    const T b1c = T(1) - T(h.beta1), b2 = h.beta2, b2c = T(1) - T(h.beta2), eps = h.eps;
    const T step = h.lr / h.bc1, bc2s = h.bc2_sqrt, wd = h.weight_decay;
    const T decay = h.decoupled ? T(1) - T(h.lr * h.weight_decay) : T(1);
    for (npy_intp i = b; i < e; ++i) {
        T gi = h.decoupled ? g[i] : g[i] + wd * p[i];
        T pi = p[i] * decay;
        T mi = m[i] + b1c * (gi - m[i]);
        T vi = b2 * v[i] + b2c * gi * gi;
        m[i] = mi;
        v[i] = vi;
        if (vmax) {
            vi = vmax[i] > vi ? vmax[i] : vi;
            vmax[i] = vi;
        }
        p[i] = pi - step * (mi / (std::sqrt(vi) / bc2s + eps));
    }
}

struct RmsHyper { double lr, alpha, eps, weight_decay, momentum; };

// torch.optim.RMSprop: sq = alpha sq + (1 - alpha) g^2; centered: ga = alpha ga + (1-alpha) g,
// avg = sqrt(sq - ga^2) + eps, else sqrt(sq) + eps; momentum: buf = mu buf + g / avg, p -= lr buf;
// else p -= lr g / avg
template <class T>
PYAD_CLONES void rmsprop_loop(T* __restrict p, const T* __restrict g, T* __restrict sq, T* __restrict ga,
                              T* __restrict buf, npy_intp b, npy_intp e, RmsHyper h) {
    const T a = h.alpha, ac = T(1) - T(h.alpha), eps = h.eps, lr = h.lr, mu = h.momentum, wd = h.weight_decay;
    for (npy_intp i = b; i < e; ++i) {
        T gi = g[i] + wd * p[i];
        T s = a * sq[i] + ac * gi * gi;
        sq[i] = s;
        T avg;
        if (ga) {
            T c = a * ga[i] + ac * gi;
            ga[i] = c;
            avg = std::sqrt(s - c * c) + eps;
        } else {
            avg = std::sqrt(s) + eps;
        }
        if (buf) {
            T m = mu * buf[i] + gi / avg;
            buf[i] = m;
            p[i] -= lr * m;
        } else {
            p[i] -= lr * (gi / avg);
        }
    }
}

bool truthy(PyObject* o) { return !is_none(o) && PyObject_IsTrue(o) == 1; }

PyArrayObject* as_param(const char* k, PyObject* o) {
    PyArrayObject* p = as_input(k, o, "param");
    if (!is_float_type(PyArray_TYPE(p)))
        raise(PyExc_TypeError, "pyad._C.%s: param must be float32 or float64, got %s", k, dtype_name(p).c_str());
    if (!PyArray_ISWRITEABLE(p)) raise(PyExc_ValueError, "pyad._C.%s: param is not writeable", k);
    return p;
}

template <class Run>
void run_update(PyArrayObject* p, Run run) {
    npy_intp n = PyArray_SIZE(p);
    MaybeNoGil nogil(n > kGilGrain);
    parallel_chunks(n, n, run);
}

PyObject* sgd_update(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const names[] = {"param", "grad", "buf", "lr", "momentum", "dampening",
                                        "nesterov", "weight_decay", "first_step"};
    const char* k = "sgd_update";
    PyObject* s[9];
    parse_args(k, args, nargs, kwnames, names, 9, 9, s);
    PyArrayObject* p = as_param(k, s[0]);
    PyArrayObject* g = as_state(k, s[1], "grad", p);
    PyArrayObject* buf = as_state(k, s[2], "buf", p);
    SgdHyper h{as_double(k, s[3], "lr"), as_double(k, s[4], "momentum"), as_double(k, s[5], "dampening"),
               as_double(k, s[7], "weight_decay"), truthy(s[6]), truthy(s[8])};
    if (PyArray_TYPE(p) == NPY_FLOAT)
        run_update(p, [&](npy_intp b, npy_intp e) { sgd_loop<float>(data<float>(p), data<float>(g), data<float>(buf), b, e, h); });
    else
        run_update(p, [&](npy_intp b, npy_intp e) { sgd_loop<double>(data<double>(p), data<double>(g), data<double>(buf), b, e, h); });
    Py_RETURN_NONE;
}

PyObject* adam_update(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const names[] = {"param", "grad", "m", "v", "vmax", "lr", "beta1", "beta2",
                                        "eps", "weight_decay", "step", "decoupled"};
    const char* k = "adam_update";
    PyObject* s[12];
    parse_args(k, args, nargs, kwnames, names, 12, 12, s);
    PyArrayObject* p = as_param(k, s[0]);
    PyArrayObject* g = as_state(k, s[1], "grad", p);
    PyArrayObject* m = as_state(k, s[2], "m", p);
    PyArrayObject* v = as_state(k, s[3], "v", p);
    PyArrayObject* vmax = as_state(k, s[4], "vmax", p);
    if (!m || !v) raise(PyExc_ValueError, "pyad._C.%s: m and v are required", k);
    double beta1 = as_double(k, s[6], "beta1"), beta2 = as_double(k, s[7], "beta2");
    double step = as_double(k, s[10], "step");
    AdamHyper h{as_double(k, s[5], "lr"), beta1, beta2, as_double(k, s[8], "eps"),
                as_double(k, s[9], "weight_decay"), 1.0 - std::pow(beta1, step),
                std::sqrt(1.0 - std::pow(beta2, step)), truthy(s[11])};
    if (PyArray_TYPE(p) == NPY_FLOAT)
        run_update(p, [&](npy_intp b, npy_intp e) {
            adam_loop<float>(data<float>(p), data<float>(g), data<float>(m), data<float>(v), data<float>(vmax), b, e, h);
        });
    else
        run_update(p, [&](npy_intp b, npy_intp e) {
            adam_loop<double>(data<double>(p), data<double>(g), data<double>(m), data<double>(v), data<double>(vmax), b, e, h);
        });
    Py_RETURN_NONE;
}

PyObject* rmsprop_update(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const names[] = {"param", "grad", "square_avg", "grad_avg", "buf", "lr", "alpha",
                                        "eps", "weight_decay", "momentum"};
    const char* k = "rmsprop_update";
    PyObject* s[10];
    parse_args(k, args, nargs, kwnames, names, 10, 10, s);
    PyArrayObject* p = as_param(k, s[0]);
    PyArrayObject* g = as_state(k, s[1], "grad", p);
    PyArrayObject* sq = as_state(k, s[2], "square_avg", p);
    PyArrayObject* ga = as_state(k, s[3], "grad_avg", p);
    PyArrayObject* buf = as_state(k, s[4], "buf", p);
    if (!sq) raise(PyExc_ValueError, "pyad._C.%s: square_avg is required", k);
    RmsHyper h{as_double(k, s[5], "lr"), as_double(k, s[6], "alpha"), as_double(k, s[7], "eps"),
               as_double(k, s[8], "weight_decay"), as_double(k, s[9], "momentum")};
    if (PyArray_TYPE(p) == NPY_FLOAT)
        run_update(p, [&](npy_intp b, npy_intp e) {
            rmsprop_loop<float>(data<float>(p), data<float>(g), data<float>(sq), data<float>(ga), data<float>(buf), b, e, h);
        });
    else
        run_update(p, [&](npy_intp b, npy_intp e) {
            rmsprop_loop<double>(data<double>(p), data<double>(g), data<double>(sq), data<double>(ga), data<double>(buf), b, e, h);
        });
    Py_RETURN_NONE;
}

}  // namespace

void bind_training(py::module_& m) {
    def_fast<softmax_cross_entropy>(
        m, "softmax_cross_entropy",
        "softmax_cross_entropy(logits, labels)\n--\n\nPer-row logsumexp(z) - z[label], shifted by the row max.");
    def_fast<softmax_cross_entropy_backward>(
        m, "softmax_cross_entropy_backward",
        "softmax_cross_entropy_backward(g, logits, labels)\n--\n\ng[:, None] * (softmax(z) - onehot(labels)).");
    def_fast<sgd_update>(
        m, "sgd_update",
        "sgd_update(param, grad, buf, lr, momentum, dampening, nesterov, weight_decay, first_step)\n--\n\n"
        "torch.optim.SGD's step, in place, one pass.");
    def_fast<adam_update>(
        m, "adam_update",
        "adam_update(param, grad, m, v, vmax, lr, beta1, beta2, eps, weight_decay, step, decoupled)\n--\n\n"
        "torch.optim.Adam (decoupled=False) or AdamW (True) step, in place, one pass.");
    def_fast<rmsprop_update>(
        m, "rmsprop_update",
        "rmsprop_update(param, grad, square_avg, grad_avg, buf, lr, alpha, eps, weight_decay, momentum)\n--\n\n"
        "torch.optim.RMSprop's step, in place, one pass.");
}

}  // namespace pyad
