// Shared plumbing of every kernel file: argument parsing, array checks, outputs, dtype dispatch, threads.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <pybind11/pybind11.h>

#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
// One copy of numpy's C-API table for the whole extension; module.cpp owns it (PYAD_MODULE_MAIN).
#define PY_ARRAY_UNIQUE_SYMBOL PYAD_ARRAY_API
#ifndef PYAD_MODULE_MAIN
#define NO_IMPORT_ARRAY
#endif
#include <numpy/arrayobject.h>

#include "fp_state.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstring>
#include <new>
#include <string>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace py = pybind11;

namespace pyad {

// GCC function multiversioning: a portable build (no -march) still runs AVX-512 loops here,
// resolved once at load time through an ifunc, so the per-call cost is one indirect call.
#define PYAD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#define PYAD_INLINE inline __attribute__((always_inline))

// Below these sizes threading / GIL release cost more than they save. With passive OpenMP
// waiting (see pyad/__init__.py) waking the second thread costs ~70 us here, so a 65k-element
// tanh_backward took 94 us on two threads against 10 us on one: threads pay off from ~256k.
// When MKL shares the OpenMP pool, its threads spin briefly after each product and are
// awake for the kernels, so pyad._blas lowers the grain to PyTorch's 32k.
inline npy_intp g_par_grain = npy_intp(1) << 18;
constexpr npy_intp kGilGrain = 4096;

// Thrown after a Python exception has been set; the fastcall wrapper turns it into NULL.
struct PyErrSet {};

[[noreturn]] inline void raise(PyObject* type, const char* fmt, ...) {
    va_list va;
    va_start(va, fmt);
    PyErr_FormatV(type, fmt, va);
    va_end(va);
    throw PyErrSet{};
}

// ---------------------------------------------------------------------------------------------
// Argument parsing. pybind11's generic dispatcher costs ~150 ns per call; kernels are called
// ~5 times per small op, so they are registered as METH_FASTCALL functions parsed by hand.
// ---------------------------------------------------------------------------------------------
inline void parse_args(const char* k, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                       const char* const* names, int nnames, int nreq, PyObject** slot) {
    if (nargs > nnames)
        raise(PyExc_TypeError, "pyad._C.%s() takes at most %d arguments (%zd given)", k, nnames, nargs);
    for (int i = 0; i < nnames; ++i) slot[i] = i < nargs ? args[i] : nullptr;
    if (kwnames) {
        Py_ssize_t nkw = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t j = 0; j < nkw; ++j) {
            PyObject* key = PyTuple_GET_ITEM(kwnames, j);
            int found = -1;
            for (int i = 0; i < nnames; ++i)
                if (PyUnicode_CompareWithASCIIString(key, names[i]) == 0) { found = i; break; }
            if (found < 0)
                raise(PyExc_TypeError, "pyad._C.%s() got an unexpected keyword argument '%U'", k, key);
            if (slot[found])
                raise(PyExc_TypeError, "pyad._C.%s() got multiple values for argument '%s'", k, names[found]);
            slot[found] = args[nargs + j];
        }
    }
    for (int i = 0; i < nreq; ++i)
        if (!slot[i]) raise(PyExc_TypeError, "pyad._C.%s() missing required argument '%s'", k, names[i]);
}

inline bool is_none(PyObject* o) { return o == nullptr || o == Py_None; }

inline double as_double(const char* k, PyObject* o, const char* what) {
    double v = PyFloat_AsDouble(o);
    if (v == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        raise(PyExc_TypeError, "pyad._C.%s: %s must be a Python float, got %s", k, what, Py_TYPE(o)->tp_name);
    }
    return v;
}

inline npy_intp as_ssize(const char* k, PyObject* o, const char* what) {
    npy_intp v = PyLong_AsSsize_t(o);
    if (v == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        raise(PyExc_TypeError, "pyad._C.%s: %s must be an int", k, what);
    }
    return v;
}

// ---------------------------------------------------------------------------------------------
// Array checks. Kernels never copy: a non-contiguous input or a bad `out` is an error, because
// a silent copy of `out` would lose the write (see DESIGN.md, pybind11 array_t pitfall).
// ---------------------------------------------------------------------------------------------
inline std::string dtype_name(PyArrayObject* a) {
    PyObject* s = PyObject_Str((PyObject*)PyArray_DESCR(a));
    std::string r = s ? PyUnicode_AsUTF8(s) : "?";
    Py_XDECREF(s);
    return r;
}

inline std::string shape_str(int nd, const npy_intp* d) {
    std::string s = "(";
    for (int i = 0; i < nd; ++i) {
        if (i) s += ",";
        s += std::to_string((long long)d[i]);
    }
    if (nd == 1) s += ",";
    return s + ")";
}

inline PyArrayObject* as_input(const char* k, PyObject* o, const char* what) {
    if (!PyArray_Check(o))
        raise(PyExc_TypeError, "pyad._C.%s: %s must be a numpy.ndarray, got %s", k, what, Py_TYPE(o)->tp_name);
    PyArrayObject* a = (PyArrayObject*)o;
    if (!PyArray_IS_C_CONTIGUOUS(a))
        raise(PyExc_ValueError, "pyad._C.%s: input must be C-contiguous; call np.ascontiguousarray (%s)", k, what);
    if (!PyArray_ISALIGNED(a) || !PyArray_ISNOTSWAPPED(a))
        raise(PyExc_ValueError, "pyad._C.%s: %s must be aligned and in native byte order; call np.ascontiguousarray", k, what);
    return a;
}

inline bool is_float_type(int t) { return t == NPY_FLOAT || t == NPY_DOUBLE; }

// The one float32/float64 switch: f(T()) with T the C type of `typenum`, which the caller has
// already checked (float_dtype, or is_float_type). f is a generic lambda written once for both
// types; it is inlined, so this costs the same single branch as a hand-written if/else.
template <class F>
PYAD_INLINE void dispatch_float(int typenum, F&& f) {
    if (typenum == NPY_FLOAT) f(float());
    else f(double());
}

// Common dtype of the float arrays of one call (float32 or float64), else TypeError.
inline int float_dtype(const char* k, PyArrayObject* const* arrs, int n) {
    int t = PyArray_TYPE(arrs[0]);
    bool ok = is_float_type(t);
    for (int i = 1; i < n; ++i) ok = ok && PyArray_TYPE(arrs[i]) == t;
    if (ok) return t;
    std::string got = dtype_name(arrs[0]);
    for (int i = 1; i < n; ++i) got += " and " + dtype_name(arrs[i]);
    raise(PyExc_TypeError, "pyad._C.%s: expected float32 or float64 arrays of one dtype, got %s", k, got.c_str());
}

// New reference to the output: a fresh PyArray_EMPTY (cheaper than np.empty from Python), or
// the caller's `out` after checking it can be written in place.
inline py::object get_out(const char* k, PyObject* out, int nd, const npy_intp* dims, int typenum) {
    if (is_none(out)) {
        PyObject* r = PyArray_EMPTY(nd, const_cast<npy_intp*>(dims), typenum, 0);
        if (!r) throw PyErrSet{};
        return py::reinterpret_steal<py::object>(r);
    }
    if (!PyArray_Check(out))
        raise(PyExc_TypeError, "pyad._C.%s: out must be a numpy.ndarray, got %s", k, Py_TYPE(out)->tp_name);
    PyArrayObject* o = (PyArrayObject*)out;
    if (PyArray_TYPE(o) != typenum) {
        std::string got = dtype_name(o);
        raise(PyExc_ValueError, "pyad._C.%s: out has dtype %s, expected %s", k, got.c_str(),
              typenum == NPY_FLOAT ? "float32" : "float64");
    }
    if (!PyArray_IS_C_CONTIGUOUS(o) || !PyArray_ISALIGNED(o) || !PyArray_ISNOTSWAPPED(o))
        raise(PyExc_ValueError, "pyad._C.%s: out must be C-contiguous (it is written in place)", k);
    if (!PyArray_ISWRITEABLE(o)) raise(PyExc_ValueError, "pyad._C.%s: out is not writeable", k);
    bool same = PyArray_NDIM(o) == nd;
    for (int i = 0; same && i < nd; ++i) same = PyArray_DIMS(o)[i] == dims[i];
    if (!same) {
        std::string a = shape_str(PyArray_NDIM(o), PyArray_DIMS(o)), b = shape_str(nd, dims);
        raise(PyExc_ValueError, "pyad._C.%s: out has shape %s, expected %s", k, a.c_str(), b.c_str());
    }
    return py::reinterpret_borrow<py::object>(out);
}

inline void require_same_shape(const char* k, PyArrayObject* a, PyArrayObject* b) {
    bool same = PyArray_NDIM(a) == PyArray_NDIM(b);
    for (int i = 0; same && i < PyArray_NDIM(a); ++i) same = PyArray_DIMS(a)[i] == PyArray_DIMS(b)[i];
    if (!same) {
        std::string sa = shape_str(PyArray_NDIM(a), PyArray_DIMS(a)), sb = shape_str(PyArray_NDIM(b), PyArray_DIMS(b));
        raise(PyExc_ValueError, "pyad._C.%s: arguments must have the same shape, got %s and %s", k, sa.c_str(), sb.c_str());
    }
}

// ---------------------------------------------------------------------------------------------
// Threads and the GIL.
// ---------------------------------------------------------------------------------------------
// Releasing the GIL costs ~50 ns, so only large calls do it.
struct MaybeNoGil {
    PyThreadState* st = nullptr;
    explicit MaybeNoGil(bool release) { if (release) st = PyEval_SaveThread(); }
    ~MaybeNoGil() { if (st) PyEval_RestoreThread(st); }
    MaybeNoGil(const MaybeNoGil&) = delete;
    MaybeNoGil& operator=(const MaybeNoGil&) = delete;
};

// GNU OpenMP's worker pool does not survive fork(): in a child of a process whose pool had
// started, the first parallel region waits forever for workers that were not copied (a
// multiprocessing worker after a large kernel hung). Such a child runs every kernel on its own
// thread (threads.cpp registers the fork handler); a process whose pool never started keeps
// its threads.
inline bool g_pool_started = false;
inline bool g_pool_lost = false;

inline int threads_for(npy_intp work) {
#ifdef _OPENMP
    if (work <= g_par_grain || g_pool_lost) return 1;
    g_pool_started = true;
    return omp_get_max_threads();
#else
    (void)work;
    return 1;
#endif
}

// For a while after a product on OpenBLAS's own threads its workers spin on the other cores
// (~0.1 s), where waking pyad's OpenMP pool would cost ~70 us and leave its workers and
// OpenBLAS's taking turns. Kernels above kBlasGrain then (within kBlasSpinNs of the
// product's end) run their chunks on OpenBLAS's
// workers (its gotoblas_pthread; the chunk on this thread, the others queued to them), each
// under the caller's rounding and flush-to-zero mode. pyad/backend/_blas.pyx hands over the
// functions and notes when each of pyad's threaded products ends; the
// chunks are the same partition-free work as on the pool, so results do not change. A
// chunk must not call a threaded BLAS routine (on a worker it would wait for the workers).
using BlasPthread = int (*)(int, void*, void*, int);   // (threads, job(void*), args, stride)
using BlasThreads = int (*)();                          // OpenBLAS's current thread count
inline BlasPthread g_blas_pthread = nullptr;
inline BlasThreads g_blas_threads = nullptr;
// when pyad's last product on OpenBLAS's threads ended (steady-clock ns; _blas.pyx writes it)
inline std::atomic<long long> g_blas_threads_ran{0};
constexpr long long kBlasSpinNs = 50'000'000;   // well within the workers' ~0.1 s spin
constexpr npy_intp kBlasGrain = npy_intp(1) << 15;
constexpr int kMaxChunks = 64;

inline int blas_workers_for(npy_intp work) {
    if (g_blas_pthread == nullptr || work <= kBlasGrain) return 0;
#ifdef _OPENMP
    if (omp_in_parallel()) return 0;      // inside a parallel region: its thread's own work
#endif
    long long now = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::steady_clock::now().time_since_epoch()).count();
    if (now - g_blas_threads_ran.load(std::memory_order_relaxed) > kBlasSpinNs) return 0;
    int nt = g_blas_threads();
#ifdef _OPENMP
    nt = std::min(nt, omp_get_max_threads());     // no more chunks than pyad's own threads
#endif
    return nt > kMaxChunks ? kMaxChunks : nt;
}

template <class F>
struct Chunk {
    F* f;
    npy_intp b, e;
    unsigned fp_state;
};

template <class F>
void run_chunk(void* arg) {
    auto* c = static_cast<Chunk<F>*>(arg);
    unsigned own = PYAD_FP_STATE();
    PYAD_SET_FP_STATE(c->fp_state);
    if (c->b < c->e) (*c->f)(c->b, c->e);
    PYAD_SET_FP_STATE(own);
}

// f over nt chunks [bounds(t), bounds(t + 1)) on OpenBLAS's workers.
template <class F, class Bounds>
inline void chunks_on_blas_workers(int nt, F& f, Bounds bounds) {
    Chunk<F> jobs[kMaxChunks];
    unsigned fp_state = PYAD_FP_STATE();
    for (int t = 0; t < nt; ++t) jobs[t] = {&f, bounds(t), bounds(t + 1), fp_state};
    g_blas_pthread(nt, reinterpret_cast<void*>(&run_chunk<F>), jobs,
                   static_cast<int>(sizeof(Chunk<F>)));
}

// Between the split products of a small model's step (pyad/backend/_blas.pyx's helper thread,
// awake for ~50 us after each half it ran) kernels of kHelperGrain to g_par_grain work run in
// two halves, the first on the helper: a split product left half of its output in each core's
// cache, and reading all of it from one core made the S step's SGD update take 15 us instead
// of 5. Same partition-free work, so the same bits. _blas.pyx hands over helper_halves.
using HelperHalves = bool (*)(void (*)(void*), void*, void*);
inline HelperHalves g_helper_halves = nullptr;
constexpr npy_intp kHelperGrain = 4096;

template <class F>
inline bool halves_on_helper(npy_intp work, F& f, npy_intp n, npy_intp half) {
    if (g_helper_halves == nullptr || work < kHelperGrain || work > g_par_grain || half <= 0
        || half >= n)
        return false;
#ifdef _OPENMP
    // not inside a parallel region, nor where pyad is held to one thread (set_num_threads)
    if (omp_in_parallel() || omp_get_max_threads() < 2) return false;
#endif
    unsigned fp_state = PYAD_FP_STATE();
    Chunk<F> halves[2] = {{&f, 0, half, fp_state}, {&f, half, n, fp_state}};
    return g_helper_halves(&run_chunk<F>, &halves[0], &halves[1]);
}

// f(begin, end) over [0, n) in one static chunk per thread (chunks rounded to 64 elements so
// threads never share a cache line of the output).
template <class F>
inline void parallel_chunks(npy_intp n, npy_intp work, F&& f) {
    if (int bt = n >= 2 ? blas_workers_for(work) : 0; bt > 1) {
        npy_intp chunk = ((n + bt - 1) / bt + 63) & ~npy_intp(63);
        chunks_on_blas_workers(bt, f, [&](int t) { return t * chunk < n ? t * chunk : n; });
        return;
    }
    if (halves_on_helper(work, f, n, ((n + 1) / 2 + 63) & ~npy_intp(63))) return;
    int nt = threads_for(work);
    if (nt <= 1 || n < 2) { f(npy_intp(0), n); return; }
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
    {
        npy_intp T = omp_get_num_threads(), t = omp_get_thread_num();
        npy_intp chunk = ((n + T - 1) / T + 63) & ~npy_intp(63);
        npy_intp b = t * chunk < n ? t * chunk : n, e = b + chunk < n ? b + chunk : n;
        if (b < e) f(b, e);
    }
#endif
}

// Same, but for items that are whole rows (no rounding).
template <class F>
inline void parallel_items(npy_intp items, npy_intp work, F&& f) {
    if (int bt = items >= 2 ? blas_workers_for(work) : 0; bt > 1) {
        chunks_on_blas_workers(bt, f, [&](int t) { return items * t / bt; });
        return;
    }
    if (halves_on_helper(work, f, items, items / 2)) return;
    int nt = threads_for(work);
    if (nt <= 1 || items < 2) { f(npy_intp(0), items); return; }
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
    {
        npy_intp T = omp_get_num_threads(), t = omp_get_thread_num();
        npy_intp b = items * t / T, e = items * (t + 1) / T;
        if (b < e) f(b, e);
    }
#endif
}

// ---------------------------------------------------------------------------------------------
// Registration of METH_FASTCALL kernels.
// ---------------------------------------------------------------------------------------------
using FastImpl = PyObject* (*)(PyObject* const*, Py_ssize_t, PyObject*);

template <FastImpl F>
PyObject* guarded(PyObject*, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    try {
        return F(args, nargs, kwnames);
    } catch (const PyErrSet&) {
        return nullptr;
    } catch (const py::error_already_set& e) {
        const_cast<py::error_already_set&>(e).restore();
        return nullptr;
    } catch (const std::bad_alloc&) {
        PyErr_NoMemory();
        return nullptr;
    } catch (const std::exception& e) {
        PyErr_SetString(PyExc_RuntimeError, e.what());
        return nullptr;
    }
}

// `doc` starts with "name(sig)\n--\n\n" so inspect.signature() works on the kernel.
template <FastImpl F>
inline void def_fast(py::module_& m, const char* name, const char* doc) {
    auto* def = new PyMethodDef{name, (PyCFunction)(void (*)(void))guarded<F>, METH_FASTCALL | METH_KEYWORDS, doc};
    py::object modname = m.attr("__name__");
    PyObject* f = PyCFunction_NewEx(def, nullptr, modname.ptr());
    if (!f) throw py::error_already_set();
    m.add_object(name, py::reinterpret_steal<py::object>(f));
}

inline npy_intp size_of(int nd, const npy_intp* d) {
    npy_intp n = 1;
    for (int i = 0; i < nd; ++i) n *= d[i];
    return n;
}

}  // namespace pyad
