// OpenMP thread-count control and a report of which multiversioned SIMD variant runs here.
#include "common.h"

#include <pthread.h>

namespace pyad {
namespace {

void set_num_threads(int n) {
    if (n < 1) throw py::value_error("pyad._C.set_num_threads: n must be >= 1, got " + std::to_string(n));
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
}

void set_parallel_grain(long long n) {
    if (n < 1) throw py::value_error("pyad._C.set_parallel_grain: n must be >= 1, got " + std::to_string(n));
    g_par_grain = static_cast<npy_intp>(n);
}

int get_num_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

// Mirrors the target_clones resolver order ("avx512f", "avx2", "default").
std::string simd_level() {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return "avx512f";
    if (__builtin_cpu_supports("avx2")) return "avx2";
    return "default";
}

// A forked child of a process whose pool had started runs its kernels on one thread.
void after_fork_in_child() { g_pool_lost = g_pool_started; }

}  // namespace

void bind_threads(py::module_& m) {
    pthread_atfork(nullptr, nullptr, after_fork_in_child);
    m.def("pool_lost", [] { return g_pool_lost; },
          "Whether this process is a fork of one whose OpenMP pool had started, so that its "
          "kernels run on one thread (GNU OpenMP's pool does not survive fork).");
    m.def("use_blas_workers", [](uintptr_t gotoblas_pthread, uintptr_t get_num_threads) {
              g_blas_pthread = reinterpret_cast<BlasPthread>(gotoblas_pthread);
              if (get_num_threads != 0)
                  g_blas_threads = reinterpret_cast<BlasThreads>(get_num_threads);
              if (g_blas_threads == nullptr) g_blas_pthread = nullptr;
              return reinterpret_cast<uintptr_t>(&g_blas_threads_ran);
          }, py::arg("gotoblas_pthread"), py::arg("get_num_threads") = 0,
          "Let kernels run on OpenBLAS's workers while they spin (common.h): takes the "
          "addresses of its gotoblas_pthread (0: no more) and thread-count getter; returns the "
          "address of the steady-clock ns (a 64-bit integer) at which pyad's last product on "
          "OpenBLAS's threads ended, which pyad's products set.");
    m.attr("blas_workers_spin_ns") = kBlasSpinNs;     // _blas.pyx's halves use it too
    m.def("use_helper", [](uintptr_t helper_halves) {
              auto previous = reinterpret_cast<uintptr_t>(g_helper_halves);
              g_helper_halves = reinterpret_cast<HelperHalves>(helper_halves);
              return previous;
          }, py::arg("helper_halves"),
          "Let kernels run in halves on pyad's helper thread while it is awake (common.h): takes "
          "the address of helper_thread.h's helper_halves in the module that owns the helper "
          "(0: no more); returns the previous one.");
    m.def("pool_shared", [] { g_pool_started = true; },
          "Note that a library on the same OpenMP runtime (MKL's GNU threading) starts its pool "
          "as well, so that a forked child keeps off it.");
    // Rarely called, so the convenience of pybind11's dispatcher is fine here.
    m.def("set_num_threads", &set_num_threads, py::arg("n"), "Set the number of OpenMP threads used by pyad kernels.");
    m.def("get_num_threads", &get_num_threads, "Number of OpenMP threads pyad kernels may use.");
    m.def("set_parallel_grain", &set_parallel_grain, py::arg("n"),
          "Kernels with more than n elements of work run on all OpenMP threads.");
    m.def("get_parallel_grain", [] { return static_cast<long long>(g_par_grain); },
          "The work above which kernels run on all OpenMP threads.");
    m.def("simd_level", &simd_level, "Which target_clones variant the kernels run: 'avx512f', 'avx2' or 'default'.");
#ifdef _OPENMP
    m.attr("openmp") = true;
#else
    m.attr("openmp") = false;
#endif
}

}  // namespace pyad
