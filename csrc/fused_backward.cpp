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
    def_fast<map_entry<2, 2, clip_backward_op>>(
        m, "clip_backward", "clip_backward(g, x, lo, hi, out=None)\n--\n\ng where lo <= x <= hi else 0, one pass.");
}

}  // namespace pyad
