// Optimizer updates (SGD, RMSprop, Adam/AdamW): one pass, in place, with torch.optim's arithmetic.
#include <array>
#include <cmath>
#include <vector>

#include "common.h"

namespace pyad {
namespace {

// Parameters and state are updated in place, so each must be a writeable C-contiguous array
// of the parameter's shape and dtype (never a copy: the write would be lost).
PyArrayObject* as_param(const char* k, PyObject* o) {
    PyArrayObject* p = as_input(k, o, "param");
    if (!is_float_type(PyArray_TYPE(p)))
        raise(PyExc_TypeError, "pyad._C.%s: param must be float32 or float64, got %s", k, dtype_name(p).c_str());
    if (!PyArray_ISWRITEABLE(p)) raise(PyExc_ValueError, "pyad._C.%s: param is not writeable", k);
    return p;
}

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

bool truthy(PyObject* o) { return !is_none(o) && PyObject_IsTrue(o) == 1; }

// update(T(), begin, end) over chunks of p's elements, T being p's dtype; the GIL is released
// for large p.
template <class Update>
void run_update(PyArrayObject* p, Update update) {
    npy_intp n = PyArray_SIZE(p);
    MaybeNoGil nogil(n > kGilGrain);
    dispatch_float(PyArray_TYPE(p), [&](auto t) {
        parallel_chunks(n, n, [&](npy_intp b, npy_intp e) { update(t, b, e); });
    });
}

// ------------------------------------------------------------------- many parameters
// An optimizer's step over all its parameters in one call: the per-call cost (~1 us a
// parameter through Python) was a fifth of a small MLP's training step. lists[0] holds the
// parameters, lists[j] the j-th state of each (a list of the same length, or None: no such
// state). Every item is checked before any is written; where one is not what the
// per-parameter kernel takes as is (another type, dtype or shape, a copy it would need, a
// required state missing) nothing is written and the call returns False, so that the caller
// steps parameter by parameter, converting or raising that kernel's specific error.
template <int N>
using Row = std::array<PyArrayObject*, N>;

inline bool takes(PyObject* o, bool writeable) {
    if (!PyArray_Check(o)) return false;
    PyArrayObject* a = (PyArrayObject*)o;
    return PyArray_IS_C_CONTIGUOUS(a) && PyArray_ISALIGNED(a) && PyArray_ISNOTSWAPPED(a)
           && (!writeable || PyArray_ISWRITEABLE(a));
}

template <int N>
bool gather_rows(const char* k, PyObject* const* lists, const bool* required, std::vector<Row<N>>& rows,
                 npy_intp& total) {
    PyObject* params = lists[0];
    if (!PyList_Check(params))
        raise(PyExc_TypeError, "pyad._C.%s: params must be a list, got %s", k, Py_TYPE(params)->tp_name);
    Py_ssize_t n = PyList_GET_SIZE(params);
    for (int j = 1; j < N; ++j)
        if (!is_none(lists[j]) && (!PyList_Check(lists[j]) || PyList_GET_SIZE(lists[j]) != n))
            raise(PyExc_TypeError, "pyad._C.%s: each state must be None or a list of %zd arrays", k, n);
    rows.resize(n);
    total = 0;
    for (Py_ssize_t i = 0; i < n; ++i) {
        PyObject* po = PyList_GET_ITEM(params, i);
        if (!takes(po, true) || !is_float_type(PyArray_TYPE((PyArrayObject*)po))) return false;
        PyArrayObject* p = (PyArrayObject*)po;
        rows[i][0] = p;
        for (int j = 1; j < N; ++j) {
            PyObject* o = is_none(lists[j]) ? Py_None : PyList_GET_ITEM(lists[j], i);
            rows[i][j] = nullptr;
            if (is_none(o)) {
                if (required[j]) return false;
                continue;
            }
            if (!takes(o, j > 1)) return false;      // j == 1: the gradient, only read
            PyArrayObject* a = (PyArrayObject*)o;
            if (PyArray_TYPE(a) != PyArray_TYPE(p) || PyArray_NDIM(a) != PyArray_NDIM(p)
                || !PyArray_CompareLists(PyArray_DIMS(a), PyArray_DIMS(p), PyArray_NDIM(p)))
                return false;
            rows[i][j] = a;
        }
        total += PyArray_SIZE(p);
    }
    return true;
}

// update(T(), row, begin, end) over each row's elements; False (nothing written) when
// gather_rows refuses the lists.
template <int N, class Update>
PyObject* run_many(const char* k, PyObject* const* lists, const bool* required, Update update) {
    std::vector<Row<N>> rows;
    npy_intp total = 0;
    if (!gather_rows<N>(k, lists, required, rows, total)) Py_RETURN_FALSE;
    {
        MaybeNoGil nogil(total > kGilGrain);
        for (const Row<N>& row : rows) {
            npy_intp n = PyArray_SIZE(row[0]);
            dispatch_float(PyArray_TYPE(row[0]), [&](auto t) {
                parallel_chunks(n, n, [&](npy_intp b, npy_intp e) { update(t, row, b, e); });
            });
        }
    }
    Py_RETURN_TRUE;
}

// ------------------------------------------------------------------- SGD
struct SgdHyper { double lr, momentum, dampening, weight_decay; bool nesterov, first; };

// s: the arguments from lr on (lr, momentum, dampening, nesterov, weight_decay, first_step)
SgdHyper sgd_hyper(const char* k, PyObject* const* s) {
    return {as_double(k, s[0], "lr"), as_double(k, s[1], "momentum"), as_double(k, s[2], "dampening"),
            as_double(k, s[4], "weight_decay"), truthy(s[3]), truthy(s[5])};
}

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

PyObject* sgd_update(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const names[] = {"param", "grad", "buf", "lr", "momentum", "dampening",
                                        "nesterov", "weight_decay", "first_step"};
    const char* k = "sgd_update";
    PyObject* s[9];
    parse_args(k, args, nargs, kwnames, names, 9, 9, s);
    PyArrayObject* p = as_param(k, s[0]);
    PyArrayObject* g = as_state(k, s[1], "grad", p);
    PyArrayObject* buf = as_state(k, s[2], "buf", p);
    SgdHyper h = sgd_hyper(k, s + 3);
    run_update(p, [&](auto t, npy_intp b, npy_intp e) {
        using T = decltype(t);
        sgd_loop<T>(data<T>(p), data<T>(g), data<T>(buf), b, e, h);
    });
    Py_RETURN_NONE;
}

PyObject* sgd_update_many(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const names[] = {"params", "grads", "bufs", "lr", "momentum", "dampening",
                                        "nesterov", "weight_decay", "first_step"};
    const char* k = "sgd_update_many";
    PyObject* s[9];
    parse_args(k, args, nargs, kwnames, names, 9, 9, s);
    SgdHyper h = sgd_hyper(k, s + 3);
    static const bool required[] = {true, true, false};
    return run_many<3>(k, s, required, [&](auto t, const Row<3>& r, npy_intp b, npy_intp e) {
        using T = decltype(t);
        sgd_loop<T>(data<T>(r[0]), data<T>(r[1]), data<T>(r[2]), b, e, h);
    });
}

// ------------------------------------------------------------------- RMSprop
struct RmsHyper { double lr, alpha, eps, weight_decay, momentum; };

// s: the arguments from lr on (lr, alpha, eps, weight_decay, momentum)
RmsHyper rms_hyper(const char* k, PyObject* const* s) {
    return {as_double(k, s[0], "lr"), as_double(k, s[1], "alpha"), as_double(k, s[2], "eps"),
            as_double(k, s[3], "weight_decay"), as_double(k, s[4], "momentum")};
}

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
    RmsHyper h = rms_hyper(k, s + 5);
    run_update(p, [&](auto t, npy_intp b, npy_intp e) {
        using T = decltype(t);
        rmsprop_loop<T>(data<T>(p), data<T>(g), data<T>(sq), data<T>(ga), data<T>(buf), b, e, h);
    });
    Py_RETURN_NONE;
}

PyObject* rmsprop_update_many(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const names[] = {"params", "grads", "square_avgs", "grad_avgs", "bufs", "lr",
                                        "alpha", "eps", "weight_decay", "momentum"};
    const char* k = "rmsprop_update_many";
    PyObject* s[10];
    parse_args(k, args, nargs, kwnames, names, 10, 10, s);
    RmsHyper h = rms_hyper(k, s + 5);
    static const bool required[] = {true, true, true, false, false};
    return run_many<5>(k, s, required, [&](auto t, const Row<5>& r, npy_intp b, npy_intp e) {
        using T = decltype(t);
        rmsprop_loop<T>(data<T>(r[0]), data<T>(r[1]), data<T>(r[2]), data<T>(r[3]), data<T>(r[4]), b, e, h);
    });
}

// ------------------------------------------------------------------- Adam / AdamW
struct AdamHyper { double lr, beta1, beta2, eps, weight_decay, bc1, bc2_sqrt; bool decoupled; };

// s: the arguments from lr on (lr, beta1, beta2, eps, weight_decay, step, decoupled)
AdamHyper adam_hyper(const char* k, PyObject* const* s) {
    double beta1 = as_double(k, s[1], "beta1"), beta2 = as_double(k, s[2], "beta2");
    double step = as_double(k, s[5], "step");
    return {as_double(k, s[0], "lr"), beta1, beta2, as_double(k, s[3], "eps"),
            as_double(k, s[4], "weight_decay"), 1.0 - std::pow(beta1, step),
            std::sqrt(1.0 - std::pow(beta2, step)), truthy(s[6])};
}

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
    AdamHyper h = adam_hyper(k, s + 5);
    run_update(p, [&](auto t, npy_intp b, npy_intp e) {
        using T = decltype(t);
        adam_loop<T>(data<T>(p), data<T>(g), data<T>(m), data<T>(v), data<T>(vmax), b, e, h);
    });
    Py_RETURN_NONE;
}

PyObject* adam_update_many(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const names[] = {"params", "grads", "ms", "vs", "vmaxs", "lr", "beta1", "beta2",
                                        "eps", "weight_decay", "step", "decoupled"};
    const char* k = "adam_update_many";
    PyObject* s[12];
    parse_args(k, args, nargs, kwnames, names, 12, 12, s);
    AdamHyper h = adam_hyper(k, s + 5);
    static const bool required[] = {true, true, true, true, false};
    return run_many<5>(k, s, required, [&](auto t, const Row<5>& r, npy_intp b, npy_intp e) {
        using T = decltype(t);
        adam_loop<T>(data<T>(r[0]), data<T>(r[1]), data<T>(r[2]), data<T>(r[3]), data<T>(r[4]), b, e, h);
    });
}

}  // namespace

void bind_optimizers(py::module_& m) {
    def_fast<sgd_update>(
        m, "sgd_update",
        "sgd_update(param, grad, buf, lr, momentum, dampening, nesterov, weight_decay, first_step)\n--\n\n"
        "torch.optim.SGD's step, in place, one pass.");
    def_fast<rmsprop_update>(
        m, "rmsprop_update",
        "rmsprop_update(param, grad, square_avg, grad_avg, buf, lr, alpha, eps, weight_decay, momentum)\n--\n\n"
        "torch.optim.RMSprop's step, in place, one pass.");
    def_fast<adam_update>(
        m, "adam_update",
        "adam_update(param, grad, m, v, vmax, lr, beta1, beta2, eps, weight_decay, step, decoupled)\n--\n\n"
        "torch.optim.Adam (decoupled=False) or AdamW (True) step, in place, one pass.");
    def_fast<sgd_update_many>(
        m, "sgd_update_many",
        "sgd_update_many(params, grads, bufs, lr, momentum, dampening, nesterov, weight_decay, first_step)\n--\n\n"
        "sgd_update over lists (bufs: a list or None); False, nothing written, where an item needs a\n"
        "conversion or a check of the one-parameter kernel.");
    def_fast<rmsprop_update_many>(
        m, "rmsprop_update_many",
        "rmsprop_update_many(params, grads, square_avgs, grad_avgs, bufs, lr, alpha, eps, weight_decay, momentum)\n--\n\n"
        "rmsprop_update over lists, as sgd_update_many.");
    def_fast<adam_update_many>(
        m, "adam_update_many",
        "adam_update_many(params, grads, ms, vs, vmaxs, lr, beta1, beta2, eps, weight_decay, step, decoupled)\n--\n\n"
        "adam_update over lists (one step count for all), as sgd_update_many.");
}

}  // namespace pyad
