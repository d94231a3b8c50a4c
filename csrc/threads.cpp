// OpenMP thread-count control and a report of which multiversioned SIMD variant runs here.
#include "common.h"

#include <pthread.h>

#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PYAD_FP_STATE() _mm_getcsr()
#define PYAD_SET_FP_STATE(s) _mm_setcsr(s)
#else
#define PYAD_FP_STATE() 0u
#define PYAD_SET_FP_STATE(s) ((void)(s))
#endif

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

// OpenBLAS's threads callback (openblas_set_threads_callback_function, OpenBLAS >= 0.3.27):
// OpenBLAS hands its threaded work here as numjobs jobs instead of to its own threads, and
// pyad runs them on its OpenMP pool, the one its kernels use. OpenBLAS's own workers spin
// ~0.1 s on the other cores after every threaded product, against pyad's kernels and split
// products; one pool takes turns instead. The jobs of one product wait on each other (each
// packs a part of B that all use), so they must all run at once: on the pool where it can
// give numjobs threads, else on threads started for them (a call from inside a parallel
// region). Each job runs under its caller's rounding mode and flush-to-zero setting.
// OpenBLAS gives the jobs of calls from several threads at once the same scratch buffers
// (their results came out wrong here), so one call's jobs run at a time.
using BlasJob = void (*)(int, void*, int);
using BlasCallback = void (*)(int, BlasJob, int, size_t, void*, int);
using BlasCallbackSetter = void (*)(BlasCallback);

BlasCallbackSetter g_blas_setter = nullptr;     // numpy's OpenBLAS's, once registered
bool g_jobs_on_new_threads = false;             // tests: the fallback below, always
// one call's jobs at a time; a forked child gets a fresh lock (a thread of its parent may
// have held this one, and the child has no such thread to release it)
std::mutex* g_one_call = new std::mutex;

void blas_jobs_on_pool(int /*sync*/, BlasJob dojob, int numjobs, size_t size, void* jobs,
                       int data) {
    char* job = static_cast<char*>(jobs);
    unsigned fp_state = PYAD_FP_STATE();
    auto run = [&](int i) {
        unsigned own = PYAD_FP_STATE();
        PYAD_SET_FP_STATE(fp_state);
        dojob(i, job + i * size, data);
        PYAD_SET_FP_STATE(own);
    };
    // jobs [from, numjobs) on threads started for them, while this thread runs job `own`
    auto on_new_threads = [&](int own, int from) {
        std::vector<std::thread> others;
        for (int i = from; i < numjobs; ++i) others.emplace_back(run, i);
        run(own);
        for (auto& t : others) t.join();
    };
    if (numjobs <= 1) {
        if (numjobs == 1) dojob(0, job, data);
        return;
    }
    std::lock_guard<std::mutex> hold(*g_one_call);
#ifdef _OPENMP
    if (!g_jobs_on_new_threads && !g_pool_lost && omp_get_active_level() == 0) {
        g_pool_started = true;
        PoolRegion region;
#pragma omp parallel num_threads(numjobs)
        {
            int t = omp_get_thread_num(), team = omp_get_num_threads();
            if (t == 0 && team < numjobs) on_new_threads(0, team);    // a smaller team
            else run(t);
        }
        return;
    }
#endif
    on_new_threads(0, 1);
}

void run_blas_on_pool(uintptr_t setter) {
    if (setter == 0) throw py::value_error("pyad._C.run_blas_on_pool: no setter address");
    g_blas_setter = reinterpret_cast<BlasCallbackSetter>(setter);
    g_blas_setter(&blas_jobs_on_pool);
}

// A forked child of a process whose pool had started runs its kernels on one thread and
// gives OpenBLAS back its own threads (which OpenBLAS starts afresh after a fork).
void after_fork_in_child() {
    g_one_call = new std::mutex;
    g_pool_lost = g_pool_started;
    if (g_pool_lost && g_blas_setter != nullptr) g_blas_setter(nullptr);
}

}  // namespace

void bind_threads(py::module_& m) {
    pthread_atfork(nullptr, nullptr, after_fork_in_child);
    m.def("pool_lost", [] { return g_pool_lost; },
          "Whether this process is a fork of one whose OpenMP pool had started, so that its "
          "kernels run on one thread (GNU OpenMP's pool does not survive fork).");
    m.def("run_blas_on_pool", &run_blas_on_pool, py::arg("setter"),
          "Run an OpenBLAS's threaded products on pyad's OpenMP pool: setter is the address of "
          "its openblas_set_threads_callback_function.");
    m.def("_blas_jobs_on_new_threads", [](bool on) { g_jobs_on_new_threads = on; },
          py::arg("on"), "Tests: run OpenBLAS's jobs on threads started for them, not the pool.");
    m.def("pool_clock", [] { return reinterpret_cast<uintptr_t>(&g_pool_ended_ns); },
          "Address of the steady-clock ns (a 64-bit integer) at which the pool's last parallel "
          "region ended.");
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
