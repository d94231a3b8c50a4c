// Optimizer updates (SGD, RMSprop, Adam/AdamW): one pass, in place, with torch.optim's arithmetic.
#include <cmath>

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

// ------------------------------------------------------------------- SGD
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
    run_update(p, [&](auto t, npy_intp b, npy_intp e) {
        using T = decltype(t);
        sgd_loop<T>(data<T>(p), data<T>(g), data<T>(buf), b, e, h);
    });
    Py_RETURN_NONE;
}

// ------------------------------------------------------------------- RMSprop
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
    run_update(p, [&](auto t, npy_intp b, npy_intp e) {
        using T = decltype(t);
        rmsprop_loop<T>(data<T>(p), data<T>(g), data<T>(sq), data<T>(ga), data<T>(buf), b, e, h);
    });
    Py_RETURN_NONE;
}

// ------------------------------------------------------------------- Adam / AdamW
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
    run_update(p, [&](auto t, npy_intp b, npy_intp e) {
        using T = decltype(t);
        adam_loop<T>(data<T>(p), data<T>(g), data<T>(m), data<T>(v), data<T>(vmax), b, e, h);
    });
    Py_RETURN_NONE;
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
}

}  // namespace pyad
