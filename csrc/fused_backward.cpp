// Fused backward kernels (PyTorch's tanh_backward etc.): one pass over g and the saved tensor
// instead of numpy's 2-4 passes with temporaries.
#include "map_kernels.h"

namespace pyad {
namespace {

#define BWD_OP(NAME, SAVED, EXPR)                                                   \
    struct NAME##_op {                                                              \
        static constexpr const char* name = #NAME;                                  \
        static constexpr const char* const args[] = {"g", SAVED, "out"};            \
        template <class T> static PYAD_INLINE T f(T g, T v, T, T) { return EXPR; } \
    };
BWD_OP(tanh_backward, "y", g * (T(1) - v * v))
BWD_OP(sigmoid_backward, "y", g * v * (T(1) - v))
BWD_OP(relu_backward, "x", v > T(0) ? g : T(0))  // relu'(0) = 0
BWD_OP(abs_backward, "x", g * (v > T(0) ? T(1) : (v < T(0) ? T(-1) : (v == T(0) ? T(0) : v))))  // g*sign(x)
BWD_OP(softplus_backward, "x", g * sm::sigmoid(v))
BWD_OP(sqrt_backward, "y", g * T(0.5) / v)
#undef BWD_OP

struct clip_backward_op {
    static constexpr const char* name = "clip_backward";
    static constexpr const char* const args[] = {"g", "x", "lo", "hi", "out"};
    template <class T> static PYAD_INLINE T f(T g, T x, T lo, T hi) { return (x >= lo) & (x <= hi) ? g : T(0); }
};

// The tangent of tanh_backward(g, y) = g * (1 - y*y) along (dg, dy), in one pass instead of
// five: forward-over-reverse (HVPs, Hessians) of every tanh layer runs it.
template <class T>
PYAD_CLONES void tanh_backward_tangent_loop(const T* __restrict g, const T* __restrict y,
                                            const T* __restrict dg, const T* __restrict dy,
                                            T* __restrict out, npy_intp n) {
    for (npy_intp i = 0; i < n; ++i)
        out[i] = dg[i] * (T(1) - y[i] * y[i]) - T(2) * g[i] * y[i] * dy[i];
}

PyObject* tanh_backward_tangent(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const names[] = {"g", "y", "dg", "dy", "out"};
    const char* k = "tanh_backward_tangent";
    PyObject* slot[5];
    parse_args(k, args, nargs, kwnames, names, 5, 4, slot);
    PyArrayObject* arr[4];
    for (int i = 0; i < 4; ++i) arr[i] = as_input(k, slot[i], names[i]);
    int tn = float_dtype(k, arr, 4);
    for (int i = 1; i < 4; ++i) require_same_shape(k, arr[0], arr[i]);
    py::object out = get_out(k, slot[4], PyArray_NDIM(arr[0]), PyArray_DIMS(arr[0]), tn);
    npy_intp n = PyArray_SIZE(arr[0]);
    void* o = PyArray_DATA((PyArrayObject*)out.ptr());
    void* a[4];
    for (int i = 0; i < 4; ++i) a[i] = PyArray_DATA(arr[i]);
    MaybeNoGil nogil(n > kGilGrain);
    parallel_chunks(n, n, [&](npy_intp b, npy_intp e) {
        if (tn == NPY_FLOAT)
            tanh_backward_tangent_loop<float>((float*)a[0] + b, (float*)a[1] + b, (float*)a[2] + b,
                                              (float*)a[3] + b, (float*)o + b, e - b);
        else
            tanh_backward_tangent_loop<double>((double*)a[0] + b, (double*)a[1] + b,
                                               (double*)a[2] + b, (double*)a[3] + b,
                                               (double*)o + b, e - b);
    });
    return out.release().ptr();
}

}  // namespace

#define DEF_BWD(NAME, SAVED, FORMULA) \
    def_fast<map_entry<2, 0, NAME##_op>>(m, #NAME, #NAME "(g, " SAVED ", out=None)\n--\n\n" FORMULA ", one pass.")

void bind_fused_backward(py::module_& m) {
    DEF_BWD(tanh_backward, "y", "g * (1 - y*y) where y = tanh(x)");
    DEF_BWD(sigmoid_backward, "y", "g * y * (1 - y) where y = sigmoid(x)");
    DEF_BWD(relu_backward, "x", "g where x > 0 else 0");
    DEF_BWD(abs_backward, "x", "g * sign(x)");
    DEF_BWD(softplus_backward, "x", "g * sigmoid(x)");
    DEF_BWD(sqrt_backward, "y", "g * 0.5 / y where y = sqrt(x)");
    def_fast<tanh_backward_tangent>(
        m, "tanh_backward_tangent",
        "tanh_backward_tangent(g, y, dg, dy, out=None)\n--\n\n"
        "dg * (1 - y*y) - 2 * g * y * dy: the tangent of tanh_backward(g, y), one pass.");
    def_fast<map_entry<2, 2, clip_backward_op>>(
        m, "clip_backward", "clip_backward(g, x, lo, hi, out=None)\n--\n\ng where lo <= x <= hi else 0, one pass.");
}

}  // namespace pyad
