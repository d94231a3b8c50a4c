// Activations tanh, sigmoid, relu and softplus, each forward directly above its fused backward.
#include "map_kernels.h"

namespace pyad {
namespace {

// The backward ops are PyTorch's tanh_backward etc.: one pass over g and the saved array instead
// of numpy's 2-4 passes with temporaries. tanh and sigmoid save their output y, which gives the
// derivative without recomputing the function.
PYAD_UNARY_OP(tanh, sm::tanh(x))
PYAD_BACKWARD_OP(tanh_backward, "y", g * (T(1) - v * v))

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
    dispatch_float(tn, [&](auto t) {
        using T = decltype(t);
        parallel_chunks(n, n, [&](npy_intp b, npy_intp e) {
            tanh_backward_tangent_loop<T>((T*)a[0] + b, (T*)a[1] + b, (T*)a[2] + b, (T*)a[3] + b, (T*)o + b, e - b);
        });
    });
    return out.release().ptr();
}

PYAD_UNARY_OP(sigmoid, sm::sigmoid(x))
PYAD_BACKWARD_OP(sigmoid_backward, "y", g * v * (T(1) - v))

PYAD_UNARY_OP(relu, x < T(0) ? T(0) : x)  // NaN is not < 0, so relu(nan) = nan
PYAD_BACKWARD_OP(relu_backward, "x", v > T(0) ? g : T(0))  // relu'(0) = 0

PYAD_UNARY_OP(softplus, sm::softplus(x))
PYAD_BACKWARD_OP(softplus_backward, "x", g * sm::sigmoid(v))

}  // namespace

void bind_activations(py::module_& m) {
    PYAD_DEF_UNARY(tanh);
    PYAD_DEF_BACKWARD(tanh_backward, "y", "g * (1 - y*y) where y = tanh(x)");
    def_fast<tanh_backward_tangent>(
        m, "tanh_backward_tangent",
        "tanh_backward_tangent(g, y, dg, dy, out=None)\n--\n\n"
        "dg * (1 - y*y) - 2 * g * y * dy: the tangent of tanh_backward(g, y), one pass.");
    PYAD_DEF_UNARY(sigmoid);
    PYAD_DEF_BACKWARD(sigmoid_backward, "y", "g * y * (1 - y) where y = sigmoid(x)");
    PYAD_DEF_UNARY(relu);
    PYAD_DEF_BACKWARD(relu_backward, "x", "g where x > 0 else 0");
    PYAD_DEF_UNARY(softplus);
    PYAD_DEF_BACKWARD(softplus_backward, "x", "g * sigmoid(x)");
}

}  // namespace pyad
