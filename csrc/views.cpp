// Array views made in C, without numpy's Python layer: np.broadcast_to's (the sum VJP's).
#include "common.h"

namespace pyad {
namespace {

// A read-only view of x broadcast to `shape` (numpy's rules; x's trailing dimensions against
// shape's), as np.broadcast_to returns, in ~0.3 us instead of its ~2.5 us of Python.
PyObject* broadcast_view(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    static const char* const names[] = {"x", "shape"};
    const char* k = "broadcast_view";
    PyObject* slot[2];
    parse_args(k, args, nargs, kwnames, names, 2, 2, slot);
    py::object held;            // a numpy scalar (or other array-like) as a 0-d or n-d array
    if (!PyArray_Check(slot[0])) {
        PyObject* arr = PyArray_FROM_O(slot[0]);
        if (!arr) throw PyErrSet{};
        held = py::reinterpret_steal<py::object>(arr);
    }
    PyArrayObject* x = (PyArrayObject*)(held ? held.ptr() : slot[0]);
    if (!PyTuple_Check(slot[1]))
        raise(PyExc_TypeError, "pyad._C.%s: shape must be a tuple, got %s", k, Py_TYPE(slot[1])->tp_name);
    int nd = (int)PyTuple_GET_SIZE(slot[1]), xd = PyArray_NDIM(x);
    if (nd > NPY_MAXDIMS) raise(PyExc_ValueError, "pyad._C.%s: %d dimensions is more than numpy's %d", k, nd, NPY_MAXDIMS);
    npy_intp dims[NPY_MAXDIMS], strides[NPY_MAXDIMS];
    for (int i = 0; i < nd; ++i) {
        PyObject* d = PyTuple_GET_ITEM(slot[1], i);
        if (!PyIndex_Check(d))
            raise(PyExc_TypeError, "pyad._C.%s: shape entries must be integers, got %s", k, Py_TYPE(d)->tp_name);
        dims[i] = PyNumber_AsSsize_t(d, PyExc_OverflowError);
        if (dims[i] == -1 && PyErr_Occurred()) throw PyErrSet{};
    }
    bool ok = nd >= xd;
    for (int i = 0; ok && i < nd; ++i) {
        int j = i - (nd - xd);          // x's dimension against shape's i-th
        if (dims[i] < 0) ok = false;
        else if (j < 0) strides[i] = 0;
        else if (PyArray_DIM(x, j) == dims[i]) strides[i] = PyArray_STRIDE(x, j);
        else if (PyArray_DIM(x, j) == 1) strides[i] = 0;
        else ok = false;
    }
    if (!ok) {
        std::string a = shape_str(xd, PyArray_DIMS(x)), b = shape_str(nd, dims);
        raise(PyExc_ValueError, "pyad.broadcast_to: cannot broadcast shape %s to %s", a.c_str(), b.c_str());
    }
    PyArray_Descr* descr = PyArray_DESCR(x);
    Py_INCREF(descr);
    PyObject* view = PyArray_NewFromDescr(&PyArray_Type, descr, nd, dims, strides, PyArray_DATA(x),
                                          PyArray_FLAGS(x) & NPY_ARRAY_ALIGNED, nullptr);
    if (!view) throw PyErrSet{};
    Py_INCREF(x);
    if (PyArray_SetBaseObject((PyArrayObject*)view, (PyObject*)x) < 0) {
        Py_DECREF(view);
        throw PyErrSet{};
    }
    return view;
}

}  // namespace

void bind_views(py::module_& m) {
    def_fast<broadcast_view>(m, "broadcast_view",
                             "broadcast_view(x, shape)\n--\n\nA read-only view of x broadcast to the tuple "
                             "shape, as np.broadcast_to(x, shape) gives.");
}

}  // namespace pyad
