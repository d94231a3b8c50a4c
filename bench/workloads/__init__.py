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
and registers frameworks with the `framework` decorator below.
"""
import importlib
import pkgutil


def names():
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load(name):
    if name not in names():
        raise SystemExit(f"unknown workload {name!r}; known: {', '.join(names())}")
    return importlib.import_module(f"{__name__}.{name}")


def framework(table, name, needs=()):
    """Decorator: table[name] = (needs, setup)."""
    def register(setup):
        table[name] = (tuple(needs), setup)
        return setup
    return register
