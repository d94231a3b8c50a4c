"""The generic Array API backend, proven on array-api-strict arrays: every row of the table has
a kernel on every registered backend, and each generic kernel computes what the CPU's does
on the very calls the op specs make (recorded on numpy, replayed on strict arrays).

array-api-strict arrays refuse numpy here (``__array__`` raises), so a numpy call that leaks
into a device path fails on the CPU instead of on a GPU."""
import numpy as np
import pytest

import pyad as ad
from pyad import backend
from pyad.backend.array_api import KERNELS as GENERIC
from pyad.backend.cpu import CPU

from op_specs import SPECS

xp = pytest.importorskip("array_api_strict")
BACKENDS = {"cpu": CPU, "array_api": backend.backend_of(xp.asarray([0.0]))}
CASES = [c for cases in SPECS.values() for c in cases]
FORWARD = [pytest.param(c, np.dtype(dt), id=f"{c.id}-{np.dtype(dt).name}")
           for c in CASES for dt in c.dtypes]


@pytest.fixture(autouse=True)
def no_numpy_conversion(monkeypatch):
    """Strict arrays that numpy cannot read: only the seam's DLPack copies reach the host."""
    def refuse(self, *args, **kwargs):
        raise TypeError("a numpy call reached an array-api-strict array (np.asarray/__array__)")
    monkeypatch.setattr(type(xp.asarray(0.0)), "__array__", refuse)


def strict(a):
    """A numpy array (or value) as an array-api-strict array of the same dtype."""
    return xp.asarray(np.ascontiguousarray(a)) if isinstance(a, np.ndarray) else a


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_every_row_has_a_kernel_on_every_backend(name):
    missing = sorted(set(ad.PRIMITIVES) - set(BACKENDS[name].kernels))
    assert not missing, f"rows without a kernel on the {name} backend: {missing}"


def _record(case, dtype):
    """The (row, arrays, params, output) of every kernel call case.fn makes on numpy."""
    calls = []
    saved = {}

    def recording(name, fn):
        def kernel(*args):
            out = fn(*args)
            calls.append((name, args, out))
            return out
        return kernel

    for name, prim in ad.PRIMITIVES.items():
        saved[name] = (prim.impl, prim.fallback)
        prim.impl = recording(name, prim.impl)
        if prim.fallback is not None:
            prim.fallback = recording(name, prim.fallback)
    try:
        with np.errstate(all="ignore"):
            case.fn(*[ad.tensor(a) for a in case.inputs(dtype)])
    finally:
        for name, (impl, fallback) in saved.items():
            ad.PRIMITIVES[name].impl, ad.PRIMITIVES[name].fallback = impl, fallback
    return calls


@pytest.mark.parametrize("case,dtype", FORWARD)
def test_generic_kernel_matches_the_cpu(case, dtype):
    calls = _record(case, dtype)
    assert calls, f"{case.id} ran no kernel"
    for name, args, want in calls:
        n_arrays = len([a for a in args if isinstance(a, np.ndarray)])
        arrays = [strict(a) for a in args[:n_arrays]]
        got = GENERIC[name](*arrays, *args[n_arrays:])
        assert not isinstance(got, np.ndarray), f"{name} returned numpy for strict arrays"
        got = backend.to_host(got)
        want = np.asarray(want)
        assert got.shape == want.shape, f"{name}: shape {got.shape} != CPU's {want.shape}"
        assert got.dtype == want.dtype, f"{name}: dtype {got.dtype} != CPU's {want.dtype}"
        rtol = 1e-5 if want.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, equal_nan=True,
                                   err_msg=f"{name} on {case.id}")
