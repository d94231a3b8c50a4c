"""Workload registry: every module in this package is a workload named after its file.

A workload module defines
    UNIT, PER_CALL   how to report a call's time: seconds / PER_CALL, shown in UNIT (us/...)
    BASELINE         framework the "/pyad" ratio column divides by
    REFERENCE        framework the second ratio column divides by (e.g. "numpy")
    FRAMEWORKS       {name: (needs, setup)}: `needs` = modules that must be installed;
                     setup() -> {case: zero-argument callable, or a pair (fn, check) of them},
                     called in the worker process; fn is timed, np.asarray(check()) is verified
                     once before (check usually runs fn once and gathers its results, e.g.
                     gradients left on parameters, into one flat array)
    CASE_BASE        optional: a case name; adds a column dividing each case by the same
                     framework's CASE_BASE case (e.g. "grad": HVP time / gradient time)
    verify(case, framework, out)   raise AssertionError if fn()'s result is wrong
and registers frameworks with the `framework` decorator below. A framework registered with
`ranks=N` runs under `mpiexec -n N` (pyad.distributed's workloads): every rank times the same
calls, the timing loop's counts agreed between the ranks, and rank 0 reports. A framework that computes on a
GPU names its array library (`gpu="cupy"` or `gpu="torch"`): the runner skips it where that
library sees no usable GPU, and the worker synchronizes that device at the end of every
timed sample (GPU calls return before the GPU is done), so a sample covers the work itself.
"""
import importlib
import pkgutil

# GPU array library -> a program that exits 0 where that library sees a usable GPU
GPU_LIBS = {
    "cupy": "import cupy, sys; sys.exit(0 if cupy.is_available() else 1)",
    "torch": "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)",
}


def names():
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load(name):
    if name not in names():
        raise SystemExit(f"unknown workload {name!r}; known: {', '.join(names())}")
    return importlib.import_module(f"{__name__}.{name}")


def framework(table, name, needs=(), gpu=None, ranks=None):
    """Decorator: table[name] = (needs, setup); `gpu` (a key of GPU_LIBS) marks a framework
    that needs a usable GPU of that array library (setup.gpu); `ranks` one that runs under
    mpiexec with that many ranks (setup.ranks)."""
    if gpu is not None and gpu not in GPU_LIBS:
        raise ValueError(f"gpu must be one of {sorted(GPU_LIBS)}, not {gpu!r}")

    def register(setup):
        setup.gpu = gpu
        setup.ranks = ranks
        table[name] = (tuple(needs), setup)
        return setup
    return register


def ranks_of(table, name):
    """The number of MPI ranks framework `name` of `table` runs on (None: one plain process)."""
    return getattr(table[name][1], "ranks", None)


def gpu_of(table, name):
    """The GPU array library framework `name` of `table` needs (None: a CPU framework)."""
    return getattr(table[name][1], "gpu", None)


def gpu_sync(lib):
    """A function that waits for all work queued on the current device of `lib` (None for
    a CPU framework)."""
    if lib == "cupy":
        import cupy
        return lambda: cupy.cuda.Device().synchronize()
    if lib == "torch":
        import torch
        return torch.cuda.synchronize
    return None
