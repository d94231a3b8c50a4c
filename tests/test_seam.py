"""The backend seam: only pyad/backend/ reaches the compiled kernels (pyad._C), BLAS and
cupy; everything else asks the seam (DESIGN.md: the array picks the backend)."""
import pathlib
import re

import pytest

import pyad

PACKAGE = pathlib.Path(pyad.__file__).parent
FORBIDDEN = re.compile(r"^\s*(from pyad import[^#\n]*\b_C\b|import pyad\._C|from pyad\._C\b"
                       r"|from pyad(\.backend)? import[^#\n]*\b_blas\b|from pyad(\.backend)?\._blas"
                       r"|import cupy|from cupy)|\b_C\.\w+\(", re.M)


def test_only_the_backend_reaches_kernels_blas_and_cupy():
    offenders = []
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix not in (".py", ".pyx") or "backend" in path.relative_to(PACKAGE).parts:
            continue
        for m in FORBIDDEN.finditer(path.read_text()):
            line = path.read_text().count("\n", 0, m.start()) + 1
            offenders.append(f"{path.relative_to(PACKAGE)}:{line}: {m.group(0).strip()}")
    assert not offenders, "calls past the backend seam:\n" + "\n".join(offenders)


def test_the_seam_sets_the_runtime_policy_before_extensions_load():
    import os
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert pyad.backend.optimizer_update("adam") is pyad.backend.UPDATES["adam"]
    before = pyad.get_num_threads()
    pyad.set_num_threads(1)
    assert pyad.backend.get_num_threads() == 1
    pyad.set_num_threads(before)


def test_import_pyad_loads_no_gpu_library_and_warns_nothing():
    import subprocess
    import sys
    code = ("import sys, warnings; warnings.simplefilter('error'); import pyad, pyad.numpy; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('cupy', 'cupyx', 'array_api_strict', 'torch', 'jax')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


def test_the_array_picks_the_backend():
    import numpy as np
    from pyad import backend
    assert backend.backend_of(np.ones(2)) is backend.CPU
    with pytest.raises(TypeError, match="is not an array pyad computes on"):
        backend.backend_of(object())


def test_a_row_without_a_kernel_on_the_arrays_backend_names_both():
    xp = pytest.importorskip("array_api_strict")
    x = xp.asarray([1.0, 2.0])
    other = pyad.backend.backend_of(x)
    kernels = dict(other.kernels)
    del kernels["tanh"]
    saved, other.kernels = other.kernels, kernels
    try:
        with pytest.raises(NotImplementedError,
                           match=r"pyad\.tanh: no kernel on the array_api\(array_api_strict\) "
                                 r"backend \(for array_api_strict\..*\)"):
            pyad.tanh(x)
    finally:
        other.kernels = saved
