// Scatter-add out[index[k]] += src[k] in place: np.add.at's semantics at memcpy-like speed.
#include "common.h"

#include <algorithm>

namespace pyad {
namespace {

template <class T>
PYAD_CLONES void add_row(T* __restrict o, const T* __restrict s, npy_intp r) {
    for (npy_intp j = 0; j < r; ++j) o[j] += s[j];
}

template <class T, class I>
void index_add_typed(T* out, const I* idx, const T* src, npy_intp N, npy_intp K, npy_intp R) {
    auto row = [&](npy_intp k) { npy_intp i = (npy_intp)idx[k]; return i < 0 ? i + N : i; };
    if (R == 1) {  // gather-style scalar loop; repeated indices make it inherently serial
        for (npy_intp k = 0; k < K; ++k) out[row(k)] += src[k];
        return;
    }
    // Threads own disjoint column ranges of every row, so repeated indices never race.
    npy_intp total = K * R;
    int nt = R >= 256 ? threads_for(total) : 1;
    if (nt <= 1) {
        for (npy_intp k = 0; k < K; ++k) add_row<T>(out + row(k) * R, src + k * R, R);
        return;
    }
    parallel_chunks(R, total, [&](npy_intp c0, npy_intp c1) {
        for (npy_intp k = 0; k < K; ++k) add_row<T>(out + row(k) * R + c0, src + k * R + c0, c1 - c0);
    });
}

template <class I>
void check_indices(const I* idx, npy_intp K, npy_intp N) {
    for (npy_intp k = 0; k < K; ++k) {
        npy_intp i = (npy_intp)idx[k];
        if (i < -N || i >= N)
            raise(PyExc_IndexError, "pyad._C.index_add: index %lld is out of bounds for axis 0 with size %lld",
                  (long long)i, (long long)N);
    }
}

PyObject* index_add_entry(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const names[] = {"out", "index", "src"};
    const char* k = "index_add";
    PyObject* slot[3];
    parse_args(k, args, nargs, kwnames, names, 3, 3, slot);
    PyArrayObject* out = as_input(k, slot[0], "out");
    PyArrayObject* idx = as_input(k, slot[1], "index");
    PyArrayObject* src = as_input(k, slot[2], "src");
    PyArrayObject* fl[2] = {out, src};
    int tn = float_dtype(k, fl, 2);
    if (!PyArray_ISWRITEABLE(out)) raise(PyExc_ValueError, "pyad._C.index_add: out is not writeable");
    int it = PyArray_TYPE(idx);
    bool i64 = it == NPY_INT64 || it == NPY_LONGLONG || (it == NPY_INTP);
    bool i32 = !i64 && (it == NPY_INT32 || (it == NPY_INT && sizeof(int) == 4));
    if (!i64 && !i32) {
        std::string d = dtype_name(idx);
        raise(PyExc_TypeError, "pyad._C.index_add: index must be an int64 (intp) or int32 array, got %s", d.c_str());
    }
    if (PyArray_NDIM(idx) != 1) raise(PyExc_ValueError, "pyad._C.index_add: index must be 1-d, got %d-d", PyArray_NDIM(idx));
    int nd = PyArray_NDIM(out);
    if (nd < 1) raise(PyExc_ValueError, "pyad._C.index_add: out must have at least one dimension");
    npy_intp K = PyArray_DIMS(idx)[0], N = PyArray_DIMS(out)[0];
    bool ok = PyArray_NDIM(src) == nd && PyArray_DIMS(src)[0] == K;
    for (int d = 1; ok && d < nd; ++d) ok = PyArray_DIMS(src)[d] == PyArray_DIMS(out)[d];
    if (!ok) {
        npy_intp dims[NPY_MAXDIMS];
        dims[0] = K;
        for (int d = 1; d < nd; ++d) dims[d] = PyArray_DIMS(out)[d];
        std::string want = shape_str(nd, dims), got = shape_str(PyArray_NDIM(src), PyArray_DIMS(src));
        raise(PyExc_ValueError, "pyad._C.index_add: src has shape %s, expected %s", got.c_str(), want.c_str());
    }
    npy_intp R = N > 0 ? PyArray_SIZE(out) / N : size_of(nd - 1, PyArray_DIMS(out) + 1);
    const void* ip = PyArray_DATA(idx);
    if (i64) check_indices((const int64_t*)ip, K, N);
    else check_indices((const int32_t*)ip, K, N);
    if (K > 0 && R > 0) {
        void* op = PyArray_DATA(out);
        const void* sp = PyArray_DATA(src);
        MaybeNoGil nogil(K * R > kGilGrain);
        dispatch_float(tn, [&](auto t) {
            using T = decltype(t);
            if (i64) index_add_typed<T>((T*)op, (const int64_t*)ip, (const T*)sp, N, K, R);
            else index_add_typed<T>((T*)op, (const int32_t*)ip, (const T*)sp, N, K, R);
        });
    }
    Py_INCREF(out);
    return (PyObject*)out;
}

}  // namespace

void bind_indexing(py::module_& m) {
    def_fast<index_add_entry>(m, "index_add", "index_add(out, index, src)\n--\n\nIn place out[index[k]] += src[k] "
                                              "(repeated indices accumulate, negative ones wrap); returns out.");
}

}  // namespace pyad
