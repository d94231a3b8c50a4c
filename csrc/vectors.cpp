// Fused vector passes of the Krylov methods (Lanczos): an axpy and a dot product in one read.
#include <cmath>

#include "common.h"

namespace pyad {
namespace {

// y += a x, then the dot of z with the new y (z == y: the new y's squared norm), in one pass.
// Eight partial sums so the loop vectorises.
PYAD_CLONES double axpy_dot_loop(double* __restrict y, const double* __restrict x, double a,
                                 const double* z, bool self, npy_intp n) {
    double s8[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    npy_intp i = 0;
    if (self) {
        for (; i + 8 <= n; i += 8)
            for (int k = 0; k < 8; ++k) {
                double v = y[i + k] + a * x[i + k];
                y[i + k] = v;
                s8[k] += v * v;
            }
    } else {
        for (; i + 8 <= n; i += 8)
            for (int k = 0; k < 8; ++k) {
                double v = y[i + k] + a * x[i + k];
                y[i + k] = v;
                s8[k] += z[i + k] * v;
            }
    }
    double s = ((s8[0] + s8[1]) + (s8[2] + s8[3])) + ((s8[4] + s8[5]) + (s8[6] + s8[7]));
    for (; i < n; ++i) {
        double v = y[i] + a * x[i];
        y[i] = v;
        s += (self ? v : z[i]) * v;
    }
    return s;
}

PyArrayObject* vector_arg(const char* k, PyObject* o, const char* what, npy_intp n) {
    PyArrayObject* v = as_input(k, o, what);
    if (PyArray_TYPE(v) != NPY_DOUBLE || PyArray_NDIM(v) != 1 || (n >= 0 && PyArray_DIM(v, 0) != n))
        raise(PyExc_ValueError, "pyad._C.%s: %s must be a C-contiguous float64 vector%s", k, what,
              n >= 0 ? " of y's length" : "");
    return v;
}

PyObject* axpy_dot(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const names[] = {"y", "x", "a", "z"};
    const char* k = "axpy_dot";
    PyObject* slot[4];
    parse_args(k, args, nargs, kwnames, names, 4, 4, slot);
    PyArrayObject* y = vector_arg(k, slot[0], "y", -1);
    npy_intp n = PyArray_DIM(y, 0);
    PyArrayObject* x = vector_arg(k, slot[1], "x", n);
    double a = as_double(k, slot[2], "a");
    PyArrayObject* z = vector_arg(k, slot[3], "z", n);
    if (!PyArray_ISWRITEABLE(y)) raise(PyExc_ValueError, "pyad._C.%s: y is not writeable", k);
    double* py = (double*)PyArray_DATA(y);
    const double* px = (const double*)PyArray_DATA(x);
    const double* pz = (const double*)PyArray_DATA(z);
    bool self = pz == py;
    if (!self && (px == py || pz == py))
        raise(PyExc_ValueError, "pyad._C.%s: x (and z, unless it is y itself) must not be y", k);
    double total = 0.0;
    {
        MaybeNoGil nogil(n > kGilGrain);
        int nt = threads_for(n);
        if (nt <= 1) {
            total = axpy_dot_loop(py, px, a, pz, self, n);
        } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) reduction(+ : total)
            {
                npy_intp T = omp_get_num_threads(), t = omp_get_thread_num();
                npy_intp chunk = ((n + T - 1) / T + 63) & ~npy_intp(63);
                npy_intp b = t * chunk < n ? t * chunk : n, e = b + chunk < n ? b + chunk : n;
                if (b < e) total += axpy_dot_loop(py + b, px + b, a, pz + b, self, e - b);
            }
#endif
        }
    }
    return PyFloat_FromDouble(total);
}

}  // namespace

void bind_vectors(py::module_& m) {
    def_fast<axpy_dot>(m, "axpy_dot",
                       "axpy_dot(y, x, a, z)\n--\n\ny += a * x in place, then return z . y (z may be y: its "
                       "squared norm), in one pass over float64 vectors.");
}

}  // namespace pyad
