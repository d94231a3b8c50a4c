// One helper thread that runs one job at a time beside its caller: half of a small matrix
// product, while the caller computes the other half (pyad/backend/_blas.pyx, _gemm_split), or
// half of a kernel between such products (helper_halves, below).
//
// The caller posts a job, does its own half, then finishes: if the helper has not started the
// job yet (asleep, or its core busy with another process) the caller takes it back and runs
// it itself, so a split product never waits on a thread that is not running; else it waits
// for the helper's end. The helper spins a short while after each job (a backward pass's
// products follow each other within microseconds), then sleeps on a condition variable; a
// post wakes it only when it sleeps. rest() sends a spinning helper to sleep at once, before
// work that wants every core (a product on the BLAS's own threads). One caller at a time
// owns the helper (try_acquire / release); others compute both halves themselves.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "fp_state.h"     // a job runs under its poster's rounding and flush-to-zero mode

#if defined(__x86_64__) || defined(__i386__)
#define PYAD_PAUSE() _mm_pause()
#else
#define PYAD_PAUSE() ((void)0)
#endif

namespace pyad {

typedef void (*helper_job)(void*);     // must not throw

class HelperThread {
public:
    // The thread starts with every signal blocked (the mask is inherited): signals go to the
    // interpreter's threads, so that Ctrl-C still interrupts the main thread's waits.
    HelperThread() {
        sigset_t all, previous;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &previous);
        thread_ = std::thread([this] { loop(); });
        pthread_sigmask(SIG_SETMASK, &previous, nullptr);
        thread_.detach();
    }

    bool try_acquire() { return !owned_.exchange(true, std::memory_order_acquire); }
    void release() { owned_.store(false, std::memory_order_release); }

    // Run job(arg) on the helper (the owner, after any previous job has finished).
    void post(helper_job job, void* arg) {
        job_ = job;
        arg_ = arg;
        fp_state_ = PYAD_FP_STATE();
        rest_.store(false, std::memory_order_relaxed);
        state_.store(POSTED, std::memory_order_seq_cst);
        if (sleeping_.load(std::memory_order_seq_cst)) {
            std::lock_guard<std::mutex> lock(mutex_);   // the helper waits, or is about to check
            cv_.notify_one();
        }
    }

    // The posted job done: by the helper (waited for), or here where it had not started.
    void finish() {
        int posted = POSTED;
        if (state_.compare_exchange_strong(posted, IDLE, std::memory_order_acq_rel)) {
            job_(arg_);
            return;
        }
        // the helper's half is under way: it ends about when ours did, unless the helper
        // shares our core (then yielding lets it run)
        for (int polls = 1; state_.load(std::memory_order_acquire) != DONE; ++polls) {
            PYAD_PAUSE();
            if (polls % 1024 == 0) std::this_thread::yield();
        }
        state_.store(IDLE, std::memory_order_relaxed);
    }

    void rest() { rest_.store(true, std::memory_order_relaxed); }

    // Whether the helper looks for its next job now (spinning after one) rather than sleeping
    // or on its way to sleep.
    bool awake() const {
        return !sleeping_.load(std::memory_order_relaxed) && !rest_.load(std::memory_order_relaxed);
    }

private:
    enum { IDLE, POSTED, RUNNING, DONE };
    // how long the helper looks for a next job before it sleeps: a backward pass's next
    // product comes within a few microseconds, the next training step's much later
    static constexpr std::chrono::microseconds kSpin{50};

    void loop() {
        for (;;) {
            wait_for_job();
            int posted = POSTED;
            if (!state_.compare_exchange_strong(posted, RUNNING, std::memory_order_acq_rel))
                continue;               // taken back by the caller
            PYAD_SET_FP_STATE(fp_state_);
            job_(arg_);
            state_.store(DONE, std::memory_order_release);
        }
    }

    void wait_for_job() {
        auto until = std::chrono::steady_clock::now() + kSpin;
        for (int polls = 1; state_.load(std::memory_order_acquire) != POSTED; ++polls) {
            PYAD_PAUSE();
            if (polls % 64 == 0 && (rest_.load(std::memory_order_relaxed)
                                    || std::chrono::steady_clock::now() > until)) {
                std::unique_lock<std::mutex> lock(mutex_);
                sleeping_.store(true, std::memory_order_seq_cst);
                while (state_.load(std::memory_order_seq_cst) != POSTED) cv_.wait(lock);
                sleeping_.store(false, std::memory_order_relaxed);
                return;
            }
        }
    }

    std::atomic<int> state_{IDLE};
    std::atomic<bool> sleeping_{false};
    std::atomic<bool> rest_{false};
    std::atomic<bool> owned_{false};
    helper_job job_ = nullptr;
    void* arg_ = nullptr;
    unsigned fp_state_ = 0;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::thread thread_;
};

// The process's helper, made on first use and never destroyed (a detached thread must not
// find its object gone at exit); a forked child, which has no helper thread, makes its own.
inline HelperThread*& helper_slot() {
    static HelperThread* helper = nullptr;
    return helper;
}

inline void helper_forget_after_fork() { helper_slot() = nullptr; }

// The helper, owned by the caller until helper_release; nullptr where another caller owns it.
inline HelperThread* helper_acquire() {
    HelperThread*& helper = helper_slot();
    if (helper == nullptr) {
        static bool registered = false;
        if (!registered) {
            pthread_atfork(nullptr, nullptr, helper_forget_after_fork);
            registered = true;
        }
        helper = new HelperThread();
    }
    return helper->try_acquire() ? helper : nullptr;
}

// job(first) on the helper and job(second) here, where the helper is free and awake: within
// microseconds of a split product, whose halves left half of its output in each core's cache,
// the kernels in between (pyad._C's, through common.h's parallel_chunks) run in halves too,
// each mostly on the data its own core made. False, and nothing run, otherwise.
inline bool helper_halves(helper_job job, void* first, void* second) {
    HelperThread* helper = helper_slot();
    if (helper == nullptr || !helper->awake() || !helper->try_acquire()) return false;
    helper->post(job, first);
    job(second);
    helper->finish();
    helper->release();
    return true;
}

// Monotonic nanoseconds (when the BLAS's own threads last ran: see _blas.pyx).
inline long long monotonic_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A spinning helper sent to sleep (before work on every core); nothing where none exists.
inline void helper_rest() {
    HelperThread* helper = helper_slot();
    if (helper != nullptr) helper->rest();
}

}  // namespace pyad
