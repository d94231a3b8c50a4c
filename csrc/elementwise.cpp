// Elementwise math and arithmetic: unary functions, array-scalar ops, clip, broadcasting binary ops.
#include "map_kernels.h"

namespace pyad {
namespace {

// ------------------------------------------------------------------ unary
// exp, log, sin and cos define in_range and ref: a fast core where it is valid, the full function
// for the rare rest (see map_kernels.h).
struct exp_op {
    static constexpr const char* name = "exp";
    static constexpr const char* const args[] = {"x", "out"};
    template <class T> static PYAD_INLINE bool in_range(T x) { return std::fabs(x) <= sm::kExpCoreLimit<T>; }
    template <class T> static PYAD_INLINE T f(T x, T, T) { return sm::exp_core(x); }
    template <class T> static T ref(T x) { return sm::exp(x); }
};
struct log_op {
    static constexpr const char* name = "log";
    static constexpr const char* const args[] = {"x", "out"};
    template <class T> static PYAD_INLINE bool in_range(T x) {
        return x >= std::numeric_limits<T>::min() && x <= std::numeric_limits<T>::max();
    }
    template <class T> static PYAD_INLINE T f(T x, T, T) { return sm::log_core(x); }
    template <class T> static T ref(T x) { return sm::log(x); }
};
PYAD_UNARY_OP(log1p, sm::log1p(x))

PYAD_UNARY_OP(sqrt, std::sqrt(x))
PYAD_BACKWARD_OP(sqrt_backward, "y", g * T(0.5) / v)

PYAD_UNARY_OP(square, x * x)

PYAD_UNARY_OP(abs, std::fabs(x))
PYAD_BACKWARD_OP(abs_backward, "x", g * (v > T(0) ? T(1) : (v < T(0) ? T(-1) : (v == T(0) ? T(0) : v))))  // g*sign(x)

struct sin_op {
    static constexpr const char* name = "sin";
    static constexpr const char* const args[] = {"x", "out"};
    template <class T> static PYAD_INLINE bool in_range(T x) { return std::fabs(x) <= sm::kTrigLimit<T>; }
    template <class T> static PYAD_INLINE T f(T x, T, T) { return sm::sin(x); }
    template <class T> static T ref(T x) { return std::sin(x); }
};
struct cos_op {
    static constexpr const char* name = "cos";
    static constexpr const char* const args[] = {"x", "out"};
    template <class T> static PYAD_INLINE bool in_range(T x) { return std::fabs(x) <= sm::kTrigLimit<T>; }
    template <class T> static PYAD_INLINE T f(T x, T, T) { return sm::cos(x); }
    template <class T> static T ref(T x) { return std::cos(x); }
};
PYAD_UNARY_OP(negative, -x)
PYAD_UNARY_OP(sign, x > T(0) ? T(1) : (x < T(0) ? T(-1) : (x == T(0) ? T(0) : x)))  // sign(nan) = nan

// ------------------------------------------------------------------ array-scalar
#define SCALAR_OP(NAME, EXPR)                                                  \
    struct NAME##_op {                                                         \
        static constexpr const char* name = #NAME;                             \
        static constexpr const char* const args[] = {"x", "c", "out"};         \
        template <class T> static PYAD_INLINE T f(T x, T c, T) { return EXPR; } \
    };
SCALAR_OP(add_scalar, x + c)
SCALAR_OP(mul_scalar, x * c)
SCALAR_OP(rsub_scalar, c - x)
SCALAR_OP(rdiv_scalar, c / x)
SCALAR_OP(pow_scalar, std::pow(x, c))
SCALAR_OP(rpow_scalar, std::pow(c, x))
#undef SCALAR_OP

// Fast paths of x**c that numpy also special-cases; they vectorise where pow() does not.
struct pow2_op { template <class T> static PYAD_INLINE T f(T x, T, T) { return x * x; } };
struct pow3_op { template <class T> static PYAD_INLINE T f(T x, T, T) { return x * x * x; } };
// numpy also maps x**0.5 to sqrt, so (-inf)**0.5 = nan here as there
struct powh_op { template <class T> static PYAD_INLINE T f(T x, T, T) { return std::sqrt(x); } };
struct powm1_op { template <class T> static PYAD_INLINE T f(T x, T, T) { return T(1) / x; } };
struct pow1_op { template <class T> static PYAD_INLINE T f(T x, T, T) { return x; } };

template <class Op>
void pow_dispatch(int tn, const void* x, void* y, npy_intp n, double c) {
    dispatch_float(tn, [&](auto t) { map_run<1, Op, decltype(t)>(x, nullptr, y, n, c, 0.0); });
}

PyObject* pow_scalar_entry(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    const char* k = "pow_scalar";
    PyObject* slot[3];
    parse_args(k, args, nargs, kwnames, pow_scalar_op::args, 3, 2, slot);
    PyArrayObject* x = as_input(k, slot[0], "input");
    int tn = float_dtype(k, &x, 1);
    double c = as_double(k, slot[1], "c");
    py::object out = get_out(k, slot[2], PyArray_NDIM(x), PyArray_DIMS(x), tn);
    npy_intp n = PyArray_SIZE(x);
    const void* a = PyArray_DATA(x);
    void* y = PyArray_DATA((PyArrayObject*)out.ptr());
    MaybeNoGil nogil(n > kGilGrain);
    if (c == 2.0) pow_dispatch<pow2_op>(tn, a, y, n, c);
    else if (c == 0.5) pow_dispatch<powh_op>(tn, a, y, n, c);
    else if (c == -1.0) pow_dispatch<powm1_op>(tn, a, y, n, c);
    else if (c == 1.0) pow_dispatch<pow1_op>(tn, a, y, n, c);
    else if (c == 3.0) pow_dispatch<pow3_op>(tn, a, y, n, c);
    else pow_dispatch<pow_scalar_op>(tn, a, y, n, c);
    return out.release().ptr();
}

// ------------------------------------------------------------------ clip
struct clip_op {
    static constexpr const char* name = "clip";
    static constexpr const char* const args[] = {"x", "lo", "hi", "out"};
    template <class T> static PYAD_INLINE T f(T x, T lo, T hi) {
        T v = x < lo ? lo : x;  // NaN fails both compares and passes through, like np.clip
        return v > hi ? hi : v;
    }
};
struct clip_backward_op {
    static constexpr const char* name = "clip_backward";
    static constexpr const char* const args[] = {"g", "x", "lo", "hi", "out"};
    template <class T> static PYAD_INLINE T f(T g, T x, T lo, T hi) { return (x >= lo) & (x <= hi) ? g : T(0); }
};

// ------------------------------------------------------------------ binary with broadcasting
#define BINARY_OP(NAME, EXPR)                                                  \
    struct NAME##_op {                                                         \
        static constexpr const char* name = #NAME;                             \
        template <class T> static PYAD_INLINE T f(T a, T b) { return EXPR; }   \
    };
BINARY_OP(add, a + b)
BINARY_OP(subtract, a - b)
BINARY_OP(multiply, a * b)
BINARY_OP(divide, a / b)
BINARY_OP(maximum, a != a ? a : (a >= b ? a : b))  // NaN in either propagates, like numpy
BINARY_OP(minimum, a != a ? a : (a <= b ? a : b))
BINARY_OP(power, std::pow(a, b))
#undef BINARY_OP

template <class Op, class T>
PYAD_CLONES void bin_vv(const T* __restrict a, const T* __restrict b, T* __restrict o, npy_intp n) {
    for (npy_intp i = 0; i < n; ++i) o[i] = Op::f(a[i], b[i]);
}
template <class Op, class T>
PYAD_CLONES void bin_sv(T a, const T* __restrict b, T* __restrict o, npy_intp n) {
    for (npy_intp i = 0; i < n; ++i) o[i] = Op::f(a, b[i]);
}
template <class Op, class T>
PYAD_CLONES void bin_vs(const T* __restrict a, T b, T* __restrict o, npy_intp n) {
    for (npy_intp i = 0; i < n; ++i) o[i] = Op::f(a[i], b);
}

// Same-shape operands, one block of a fused program (the loop binary_entry runs on them).
template <class Op, class T>
void bin_block(const void* a, const void* b, void* y, npy_intp n, double, double) {
    bin_vv<Op, T>((const T*)a, (const T*)b, (T*)y, n);
}

// Inner row: element stride of each input is 1 (contiguous) or 0 (broadcast).
template <class Op, class T>
inline void bin_row(const T* a, bool va, const T* b, bool vb, T* o, npy_intp n) {
    if (va && vb) bin_vv<Op, T>(a, b, o, n);
    else if (vb) bin_sv<Op, T>(*a, b, o, n);
    else if (va) bin_vs<Op, T>(a, *b, o, n);
    else {
        T v = Op::f(*a, *b);
        for (npy_intp i = 0; i < n; ++i) o[i] = v;
    }
}

// Broadcast layout after dropping size-1 output dims and merging dims contiguous in both inputs.
struct Layout {
    int k = 0;
    npy_intp shape[NPY_MAXDIMS], sa[NPY_MAXDIMS], sb[NPY_MAXDIMS];
};

template <class Op, class T>
void bin_run(const Layout& L, const T* a, const T* b, T* o, npy_intp total) {
    int k = L.k;
    npy_intp inner = L.shape[k - 1];
    bool va = L.sa[k - 1] != 0, vb = L.sb[k - 1] != 0;
    npy_intp rows = total / inner;
    if (rows == 1) {
        parallel_chunks(inner, total, [&](npy_intp s, npy_intp e) {
            bin_row<Op, T>(a + (va ? s : 0), va, b + (vb ? s : 0), vb, o + s, e - s);
        });
        return;
    }
    parallel_items(rows, total, [&](npy_intp r0, npy_intp r1) {
        for (npy_intp r = r0; r < r1; ++r) {
            npy_intp oa = 0, ob = 0, rr = r;
            for (int d = k - 2; d >= 0; --d) {
                npy_intp i = rr % L.shape[d];
                rr /= L.shape[d];
                oa += i * L.sa[d];
                ob += i * L.sb[d];
            }
            bin_row<Op, T>(a + oa, va, b + ob, vb, o + r * inner, inner);
        }
    });
}

template <class Op>
PyObject* binary_entry(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const names[] = {"a", "b", "out"};
    const char* k = Op::name;
    PyObject* slot[3];
    parse_args(k, args, nargs, kwnames, names, 3, 2, slot);
    PyArrayObject* arr[2] = {as_input(k, slot[0], "first argument"), as_input(k, slot[1], "second argument")};
    int tn = float_dtype(k, arr, 2);
    // numpy broadcasting: the operand with fewer dims is left-padded with size-1 dims
    int nda = PyArray_NDIM(arr[0]), ndb = PyArray_NDIM(arr[1]);
    int nd = nda > ndb ? nda : ndb;
    npy_intp da[NPY_MAXDIMS], db[NPY_MAXDIMS];
    for (int d = 0; d < nd; ++d) {
        da[d] = d < nd - nda ? 1 : PyArray_DIMS(arr[0])[d - (nd - nda)];
        db[d] = d < nd - ndb ? 1 : PyArray_DIMS(arr[1])[d - (nd - ndb)];
    }
    npy_intp dims[NPY_MAXDIMS];
    for (int d = 0; d < nd; ++d) {
        if (da[d] == db[d] || db[d] == 1) dims[d] = da[d];
        else if (da[d] == 1) dims[d] = db[d];
        else {
            std::string s1 = shape_str(nda, PyArray_DIMS(arr[0])), s2 = shape_str(ndb, PyArray_DIMS(arr[1]));
            raise(PyExc_ValueError, "pyad._C.%s: shapes %s and %s do not broadcast", k, s1.c_str(), s2.c_str());
        }
    }
    py::object out = get_out(k, slot[2], nd, dims, tn);
    npy_intp total = size_of(nd, dims);
    if (total == 0) return out.release().ptr();

    // element strides: 0 along broadcast dims
    Layout L;
    npy_intp ca = 1, cb = 1;
    npy_intp st_a[NPY_MAXDIMS], st_b[NPY_MAXDIMS];
    for (int d = nd - 1; d >= 0; --d) {
        st_a[d] = da[d] == 1 ? 0 : ca;
        st_b[d] = db[d] == 1 ? 0 : cb;
        ca *= da[d];
        cb *= db[d];
    }
    for (int d = 0; d < nd; ++d) {
        if (dims[d] == 1) continue;
        if (L.k > 0) {
            int p = L.k - 1;  // merge into previous kept dim if both inputs are contiguous across it
            if (L.sa[p] == st_a[d] * dims[d] && L.sb[p] == st_b[d] * dims[d]) {
                L.shape[p] *= dims[d];
                L.sa[p] = st_a[d];
                L.sb[p] = st_b[d];
                continue;
            }
        }
        L.shape[L.k] = dims[d];
        L.sa[L.k] = st_a[d];
        L.sb[L.k] = st_b[d];
        ++L.k;
    }
    if (L.k == 0) {  // single element
        L.k = 1;
        L.shape[0] = 1;
        L.sa[0] = L.sb[0] = 1;
    }
    const void* a = PyArray_DATA(arr[0]);
    const void* b = PyArray_DATA(arr[1]);
    void* o = PyArray_DATA((PyArrayObject*)out.ptr());
    {
        MaybeNoGil nogil(total > kGilGrain);
        dispatch_float(tn, [&](auto t) {
            using T = decltype(t);
            bin_run<Op, T>(L, (const T*)a, (const T*)b, (T*)o, total);
        });
    }
    return out.release().ptr();
}

}  // namespace

#define DEF_SCALAR(NAME, WHAT) \
    (register_map<1, 1, NAME##_op>(), \
     def_fast<map_entry<1, 1, NAME##_op>>(m, #NAME, #NAME "(x, c, out=None)\n--\n\nElementwise " WHAT " for a Python float c."))
#define DEF_BINARY(NAME) \
    (register_block({#NAME, 2, 0, &bin_block<NAME##_op, float>, &bin_block<NAME##_op, double>}), \
     def_fast<binary_entry<NAME##_op>>(m, #NAME, #NAME "(a, b, out=None)\n--\n\nElementwise " #NAME \
        " with broadcasting; shapes broadcast like numpy's."))

void bind_elementwise(py::module_& m) {
    PYAD_DEF_UNARY(exp); PYAD_DEF_UNARY(log); PYAD_DEF_UNARY(log1p);
    PYAD_DEF_UNARY(sqrt);
    PYAD_DEF_BACKWARD(sqrt_backward, "y", "g * 0.5 / y where y = sqrt(x)");
    PYAD_DEF_UNARY(square);
    PYAD_DEF_UNARY(abs);
    PYAD_DEF_BACKWARD(abs_backward, "x", "g * sign(x)");
    PYAD_DEF_UNARY(sin); PYAD_DEF_UNARY(cos); PYAD_DEF_UNARY(negative); PYAD_DEF_UNARY(sign);
    DEF_SCALAR(add_scalar, "x + c");
    DEF_SCALAR(mul_scalar, "x * c");
    DEF_SCALAR(rsub_scalar, "c - x");
    DEF_SCALAR(rdiv_scalar, "c / x");
    DEF_SCALAR(rpow_scalar, "c ** x");
    def_fast<pow_scalar_entry>(m, "pow_scalar", "pow_scalar(x, c, out=None)\n--\n\nElementwise x ** c for a Python float c.");
    register_map<1, 2, clip_op>();
    register_map<2, 2, clip_backward_op>();
    def_fast<map_entry<1, 2, clip_op>>(m, "clip", "clip(x, lo, hi, out=None)\n--\n\nElementwise min(max(x, lo), hi); "
                                                   "pass +-inf for a missing bound. NaN propagates.");
    def_fast<map_entry<2, 2, clip_backward_op>>(
        m, "clip_backward", "clip_backward(g, x, lo, hi, out=None)\n--\n\ng where lo <= x <= hi else 0, one pass.");
    DEF_BINARY(add); DEF_BINARY(subtract); DEF_BINARY(multiply); DEF_BINARY(divide);
    DEF_BINARY(maximum); DEF_BINARY(minimum); DEF_BINARY(power);
}

}  // namespace pyad
