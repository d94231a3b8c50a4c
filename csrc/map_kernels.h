// Driver of the same-shape elementwise kernels (unary, scalar, clip, fused backward) and their op macros.
#pragma once
#include "common.h"
#include "simd_math.h"

namespace pyad {

// Ops are structs with `static constexpr const char* name`, `template <class T> static T f(...)`
// taking NIN array values then two scalar parameters (unused ones are ignored and optimised away).
// A unary op may define `template <class T> static bool in_range(T x)`: its f is then only valid
// where in_range holds, and the rare other elements (NaN, huge, subnormal...) are recomputed by
// `ref` after the vector loop, which keeps range checks and special-value selects out of that loop.

template <class Op, class = void> struct has_range : std::false_type {};
template <class Op> struct has_range<Op, std::void_t<decltype(Op::in_range(0.0f))>> : std::true_type {};

template <class Op, class T>
PYAD_CLONES void map1_loop(const T* __restrict x, T* __restrict y, npy_intp n, T p0, T p1) {
    for (npy_intp i = 0; i < n; ++i) y[i] = Op::f(x[i], p0, p1);
}

template <class Op, class T>
PYAD_CLONES void map2_loop(const T* __restrict a, const T* __restrict b, T* __restrict y, npy_intp n, T p0, T p1) {
    for (npy_intp i = 0; i < n; ++i) y[i] = Op::f(a[i], b[i], p0, p1);
}

// Any x outside Op::in_range? Lane-wise flags so the scan vectorises; one 64-byte register of
// lanes (16 floats, 8 doubles), else GCC shuffles the double flags between registers.
template <class Op, class T>
PYAD_CLONES bool any_out_of_range(const T* __restrict x, npy_intp n) {
    constexpr int L = 64 / sizeof(T);
    T flag[L] = {};
    npy_intp i = 0;
    for (; i + L <= n; i += L)
        for (int j = 0; j < L; ++j) flag[j] = Op::in_range(x[i + j]) ? flag[j] : T(1);
    bool any = false;
    for (int j = 0; j < L; ++j) any |= flag[j] != T(0);
    for (; i < n; ++i) any |= !Op::in_range(x[i]);
    return any;
}

template <class Op, class T>
inline void map1_range(const T* x, T* y, npy_intp n, T p0, T p1) {
    if constexpr (has_range<Op>::value) {
        // Blocks keep x in L1 for the fix-up scan.
        for (npy_intp b = 0; b < n; b += 2048) {
            npy_intp m = n - b < 2048 ? n - b : 2048;
            map1_loop<Op, T>(x + b, y + b, m, p0, p1);
            if (any_out_of_range<Op, T>(x + b, m))
                for (npy_intp i = b; i < b + m; ++i)
                    if (!Op::in_range(x[i])) y[i] = Op::ref(x[i]);
        }
    } else {
        map1_loop<Op, T>(x, y, n, p0, p1);
    }
}

template <int NIN, class Op, class T>
inline void map_run(const void* a, const void* b, void* y, npy_intp n, double p0, double p1) {
    const T* pa = (const T*)a;
    const T* pb = (const T*)b;
    T* py = (T*)y;
    T q0 = (T)p0, q1 = (T)p1;
    parallel_chunks(n, n, [&](npy_intp s, npy_intp e) {
        if constexpr (NIN == 1) map1_range<Op, T>(pa + s, py + s, e - s, q0, q1);
        else map2_loop<Op, T>(pa + s, pb + s, py + s, e - s, q0, q1);
    });
}

// One block of a same-shape op for the fused programs of ad.compile (fused.cpp): the loop the
// op's own kernel runs, so a fused result is bitwise the op's. Registered beside each kernel.
using BlockFn = void (*)(const void* a, const void* b, void* y, npy_intp n, double p0, double p1);
struct BlockKernel {
    const char* name;
    int nin, npar;           // array inputs (1 or 2), float parameters (0 to 2)
    BlockFn f32, f64;
};
void register_block(const BlockKernel& k);

template <int NIN, class Op, class T>
void map_block(const void* a, const void* b, void* y, npy_intp n, double p0, double p1) {
    if constexpr (NIN == 1) map1_range<Op, T>((const T*)a, (T*)y, n, (T)p0, (T)p1);
    else map2_loop<Op, T>((const T*)a, (const T*)b, (T*)y, n, (T)p0, (T)p1);
}

template <int NIN, int NPAR, class Op>
inline void register_map() {
    register_block({Op::name, NIN, NPAR, &map_block<NIN, Op, float>, &map_block<NIN, Op, double>});
}

// Python entry: Op::args lists the argument names (arrays first, then NPAR floats, then "out").
template <int NIN, int NPAR, class Op>
PyObject* map_entry(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    constexpr int NA = NIN + NPAR + 1;
    PyObject* slot[NA];
    parse_args(Op::name, args, nargs, kwnames, Op::args, NA, NIN + NPAR, slot);
    PyArrayObject* arr[NIN > 0 ? NIN : 1];
    for (int i = 0; i < NIN; ++i) arr[i] = as_input(Op::name, slot[i], Op::args[i]);
    int tn = float_dtype(Op::name, arr, NIN);
    if constexpr (NIN == 2) require_same_shape(Op::name, arr[0], arr[1]);
    double p[2] = {0.0, 0.0};
    for (int i = 0; i < NPAR; ++i) p[i] = as_double(Op::name, slot[NIN + i], Op::args[NIN + i]);
    PyArrayObject* x = arr[0];
    py::object out = get_out(Op::name, slot[NA - 1], PyArray_NDIM(x), PyArray_DIMS(x), tn);
    npy_intp n = PyArray_SIZE(x);
    const void* a = PyArray_DATA(x);
    const void* b = NIN == 2 ? PyArray_DATA(arr[NIN - 1]) : nullptr;
    void* y = PyArray_DATA((PyArrayObject*)out.ptr());
    {
        MaybeNoGil nogil(n > kGilGrain);
        dispatch_float(tn, [&](auto t) { map_run<NIN, Op, decltype(t)>(a, b, y, n, p[0], p[1]); });
    }
    return out.release().ptr();
}

}  // namespace pyad

// Ops of map_entry, declared here because elementwise.cpp and activations.cpp both keep each
// backward op directly below its forward one. A backward op reads g and one saved array v (the
// forward's input x or output y, named by SAVED), so it is one pass with no temporaries.
#define PYAD_UNARY_OP(NAME, EXPR)                                                  \
    struct NAME##_op {                                                             \
        static constexpr const char* name = #NAME;                                 \
        static constexpr const char* const args[] = {"x", "out"};                  \
        template <class T> static PYAD_INLINE T f(T x, T, T) { return EXPR; }      \
    };
#define PYAD_BACKWARD_OP(NAME, SAVED, EXPR)                                        \
    struct NAME##_op {                                                             \
        static constexpr const char* name = #NAME;                                 \
        static constexpr const char* const args[] = {"g", SAVED, "out"};           \
        template <class T> static PYAD_INLINE T f(T g, T v, T, T) { return EXPR; } \
    };

// Registration (inside a bind_* function, with its module `m`); the docstrings start with the
// signature so that inspect.signature() works on the kernel.
#define PYAD_DEF_UNARY(NAME) \
    (register_map<1, 0, NAME##_op>(), \
     def_fast<map_entry<1, 0, NAME##_op>>(m, #NAME, #NAME "(x, out=None)\n--\n\nElementwise " #NAME "(x)."))
#define PYAD_DEF_BACKWARD(NAME, SAVED, FORMULA) \
    (register_map<2, 0, NAME##_op>(), \
     def_fast<map_entry<2, 0, NAME##_op>>(m, #NAME, #NAME "(g, " SAVED ", out=None)\n--\n\n" FORMULA ", one pass."))
