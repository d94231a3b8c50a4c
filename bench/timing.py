"""The one timing loop every worker shares: warm up, calibrate inner loops, take samples."""
import gc
import statistics
import time


def _run(fn, inner, sync=None):
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    if sync is not None:
        sync()      # a GPU's queued work belongs to the sample
    return time.perf_counter() - t0


def _alone(n):
    """One process: its own count is everyone's."""
    return n


def measure(fn, repeat=15, min_sample=0.02, warmup=0.2, sync=None, agree=None):
    """Time fn(): median and IQR (seconds per call) of `repeat` samples of >= min_sample s each.

    sync (for GPU frameworks) waits for the device: it runs after the warm-up and at the end
    of every sample, inside its time, so a sample of `inner` calls times the calls' GPU work
    too, not only their launches (calls within a sample may overlap, as in a training loop).
    agree(n) -> the largest n over the MPI ranks (workloads run under mpiexec): every rank
    must make the same number of calls, each of which communicates."""
    if agree is None:
        agree = _alone
    t0, calls = time.perf_counter(), 0
    while agree(int(calls < 3 or time.perf_counter() - t0 < warmup)):
        fn()
        calls += 1
        if sync is not None:
            sync()
    inner = 1
    while True:
        t = _run(fn, inner, sync)
        if not agree(int(t < min_sample)):
            break
        inner = agree(max(inner * 2, int(inner * 1.2 * min_sample / max(t, 1e-9))))
    gc.collect()
    samples = [_run(fn, inner, sync) / inner for _ in range(repeat)]
    q1, med, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return {"median": med, "iqr": q3 - q1, "min": min(samples), "inner": inner,
            "repeat": repeat}


def block_median(fn, seconds):
    """Median time (seconds) of single fn() calls repeated for `seconds` seconds: one block of
    the in-process comparisons (bench/paired.py, bench/host_phases.py)."""
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
