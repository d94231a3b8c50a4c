"""The CUDA backend's sources: on any machine with CuPy and NVRTC (no GPU needed), that the row
kernels (pyad/backend/cuda_kernels/*.cu) and every ElementwiseKernel body of
pyad/backend/cuda.py (FUSED, UPDATE_KERNELS) compile for float and double; everywhere, that
the .cu files ship in wheels and sdists; on a GPU (the `gpu` marker), that the row kernels
give the CPU's numbers, edge cases included.

NVRTC comes with a CUDA toolkit or `pip install nvidia-cuda-nvrtc-cu12` (CuPy finds either);
without CuPy or NVRTC the compile tests skip, saying which is missing.
"""
import fnmatch
import pathlib
import re

import numpy as np
import pytest

import pyad as ad
from pyad import backend
from pyad.backend import cuda

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = pathlib.Path(ad.__file__).resolve().parent
# virtual architectures every supported toolkit compiles for (CUDA 13 dropped < 7.5):
# Ampere (A100) and Hopper (H100, H200)
ARCHS = ("compute_80", "compute_90")
# what CuPy adds to every NVRTC compile besides -arch (cupy/cuda/compiler.py)
CUPY_OPTIONS = ("-std=c++17", "--device-as-default-execution-space")


@pytest.fixture(scope="module")
def nvrtc():
    """CuPy's NVRTC bindings, once libnvrtc loads; else a skip naming what is missing."""
    pytest.importorskip("cupy", reason="CuPy is not installed (pip install cupy-cuda12x)")
    try:
        from cupy_backends.cuda.libs import nvrtc
        nvrtc.getVersion()
    except Exception as e:      # no libnvrtc: CuPy raises its own errors, or OSError
        pytest.skip(f"NVRTC is not available ({type(e).__name__}: {e}); "
                    "pip install nvidia-cuda-nvrtc-cu12 or install a CUDA toolkit")
    return nvrtc


def _ptx(nvrtc, source, name, arch, options=()):
    """PTX of `source` for virtual architecture `arch`; a compile error fails the test with
    NVRTC's log (warnings fail it too: the log must be empty)."""
    prog = nvrtc.createProgram(source, name, (), ())
    try:
        try:
            nvrtc.compileProgram(prog, CUPY_OPTIONS + tuple(options) + (f"-arch={arch}",))
        except nvrtc.NVRTCError:
            pytest.fail(f"{name} does not compile for {arch}:\n{nvrtc.getProgramLog(prog)}")
        log = nvrtc.getProgramLog(prog).strip()
        assert not log, f"{name} compiles with warnings for {arch}:\n{log}"
        ptx = nvrtc.getPTX(prog)
    finally:
        nvrtc.destroyProgram(prog)
    return ptx.decode() if isinstance(ptx, bytes) else ptx


def _entries(ptx):
    return re.findall(r"\.entry\s+(\w+)", ptx)


# ------------------------------------------------------------------- NVRTC, no GPU needed
@pytest.mark.parametrize("arch", ARCHS)
def test_the_row_kernels_compile_with_every_name_the_backend_launches(nvrtc, arch):
    ptx = _ptx(nvrtc, cuda.row_source(), cuda.ROW_SOURCE.name, arch, cuda.ROW_OPTIONS)
    assert sorted(_entries(ptx)) == sorted(cuda.ROW_KERNEL_NAMES)
    assert set(cuda.ROWS) <= set(ad.PRIMITIVES)


@pytest.mark.parametrize("arch", ARCHS)
def test_the_vectorised_kernels_compile_with_every_name_the_backend_launches(nvrtc, arch):
    ptx = _ptx(nvrtc, cuda.vec_source(), cuda.VEC_SOURCE.name, arch, cuda.ROW_OPTIONS)
    assert sorted(_entries(ptx)) == sorted(cuda.VEC_KERNEL_NAMES)
    assert "v4.f32" in ptx and "v2.f64" in ptx         # 16-byte loads and stores


# CuPy's ElementwiseKernel: `typedef <dtype> T;`, each array input read as
# `const T &name = _raw_name[i];`, each output as `T &name = _raw_name[i];`, a `raw` input
# indexed by the body itself (a pointer here, CuPy's CArray there), then the body
_CTYPES = {"T": "T", "int32": "int", "int64": "long long", "float32": "float",
           "float64": "double", "bool": "bool"}


def _params(spec):
    """[(C type, name, raw)] of an ElementwiseKernel's parameter list."""
    out = []
    for item in spec.split(","):
        *raw, ctype, name = item.split()
        out.append((_CTYPES[ctype], name, raw == ["raw"]))
    return out


def _elementwise_source(name, spec):
    """The body of ElementwiseKernel spec (inputs, outputs, body) in a __global__ function
    per float type, as CuPy wraps it."""
    ins, outs, body = spec
    ins, outs = _params(ins), _params(outs)
    args = ", ".join([f"const {t}* {n}" if raw else f"const {t}* _raw_{n}" for t, n, raw in ins]
                     + [f"{t}* _raw_{n}" for t, n, _ in outs] + ["long long _n"])
    lines = ([f"const {t} &{n} = _raw_{n}[_i];" for t, n, raw in ins if not raw]
             + [f"{t} &{n} = _raw_{n}[_i];" for t, n, _ in outs] + [body + ";"])
    kernels = []
    for ctype, suffix in (("float", "f32"), ("double", "f64")):
        kernels.append(
            f"namespace {suffix} {{\ntypedef {ctype} T;\n"
            f"extern \"C\" __global__ void pyad_{name}_{suffix}({args}) {{\n"
            "    long long _i = (long long)blockIdx.x * blockDim.x + threadIdx.x;\n"
            "    if (_i >= _n) return;\n    " + "\n    ".join(lines) + "\n}\n}\n")
    return "\n".join(kernels)


ELEMENTWISE = {**{f"fused {k}": v for k, v in cuda.FUSED.items()},
               **{f"update {k}": v for k, v in cuda.UPDATE_KERNELS.items()}}


@pytest.mark.parametrize("label", sorted(ELEMENTWISE))
def test_every_elementwise_kernel_body_compiles_for_float_and_double(nvrtc, label):
    name = label.split()[1]
    # 177: an input the body does not read (CuPy binds every array input all the same)
    ptx = _ptx(nvrtc, _elementwise_source(name, ELEMENTWISE[label]), f"{name}.cu", ARCHS[0],
               ("--diag-suppress=177",))
    assert sorted(_entries(ptx)) == [f"pyad_{name}_f32", f"pyad_{name}_f64"]


def test_a_broken_body_fails_the_compile_check(nvrtc):
    with pytest.raises(pytest.fail.Exception, match="does not compile"):
        _ptx(nvrtc, _elementwise_source("bad", ("T g", "T out", "out = g * undefined_name")),
             "bad.cu", ARCHS[0])


# ------------------------------------------------------------------- packaging, anywhere
def test_the_cuda_sources_are_package_data_in_wheels_and_sdists():
    sources = sorted(cuda.ROW_SOURCE.parent.glob("*.cu"))
    assert {cuda.ROW_SOURCE, cuda.VEC_SOURCE} <= set(sources)
    assert cuda.ROW_SOURCE.is_relative_to(PACKAGE)
    # pyproject's [tool.setuptools.package-data] line for pyad (no toml parser needed)
    line = re.search(r"^pyad = \[(.*)\]$", (ROOT / "pyproject.toml").read_text(), re.M)
    assert line, "pyproject.toml has no package-data line for pyad"
    data = re.findall(r'"([^"]+)"', line.group(1))
    manifest = (ROOT / "MANIFEST.in").read_text().splitlines()
    for path in sources:
        rel = path.relative_to(PACKAGE).as_posix()
        assert any(fnmatch.fnmatch(rel, pat) for pat in data), f"{rel} is no package data"
        assert any(line.split()[:1] == ["recursive-include"] and line.split()[1] == "pyad"
                   and any(fnmatch.fnmatch(path.name, p) for p in line.split()[2:])
                   for line in manifest), f"MANIFEST.in does not ship {rel}"


# ------------------------------------------------------------------- on a GPU
HAVE_GPU = cuda.is_available()
gpu = pytest.mark.skipif(not HAVE_GPU, reason="no usable CUDA GPU (cupy.is_available)")
CPU = backend.CPU.kernels


def _rows(dtype, shape, seed=0):
    """Random rows with the edge cases on the first ones: all -inf, a NaN, a +inf, all -80."""
    rng = np.random.default_rng(seed)
    x = (5 * rng.standard_normal(shape)).astype(dtype)
    if x.ndim == 2 and x.shape[1] > 2:
        edges = x[:4]           # as many of the first four rows as there are
        edges[0:1] = -np.inf
        edges[1:2, 1] = np.nan
        edges[2:3, 2] = np.inf
        edges[3:4] = -80
    return x


def _close(got, want, dtype, what, tol=None):
    import cupy
    assert isinstance(got, cupy.ndarray), what
    got = cupy.asnumpy(got)
    assert got.shape == want.shape and got.dtype == want.dtype, what
    tol = tol or (1e-12 if np.dtype(dtype) == np.float64 else 2e-6)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True, err_msg=what)


SHAPES = [((5, 7), (-1, 0)), ((3, 4, 70), (0, 1, 2)), ((2, 1500), (1, 0)), ((4, 1), (1, 0)),
          ((6,), (0,)), ((0, 3), (1, 0)), ((3, 0), (1,)), ((2, 5000), (-1,))]


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axes", SHAPES, ids=[str(s) for s, _ in SHAPES])
def test_softmax_family_kernels_on_cuda_equal_cpu(dtype, shape, axes):
    import cupy
    b = cuda.backend()
    x = _rows(dtype, shape)
    g = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    for ax in axes:
        for name in ("softmax", "log_softmax"):
            _close(b.kernels[name](cupy.asarray(x), ax), CPU[name](x, ax), dtype,
                   f"{name} {shape} axis {ax}")
            y = np.nan_to_num(CPU[name](_rows(dtype, shape, 2)[::-1].copy(), ax))
            bwd = name + "_backward"
            _close(b.kernels[bwd](cupy.asarray(g), cupy.asarray(y), ax), CPU[bwd](g, y, ax),
                   dtype, f"{bwd} {shape} axis {ax}")


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,c", [(7, 10), (3, 1), (2, 3000), (0, 5), (130, 33)])
def test_softmax_cross_entropy_kernels_on_cuda_equal_cpu(dtype, n, c):
    import cupy
    b = cuda.backend()
    rng = np.random.default_rng(3)
    z = _rows(dtype, (n, c), 4)
    labels = rng.integers(0, c, n)
    g = rng.standard_normal(n).astype(dtype)
    want = CPU["softmax_cross_entropy"](z, labels)
    _close(b.kernels["softmax_cross_entropy"](cupy.asarray(z), labels), want, dtype, "ce")
    _close(b.kernels["softmax_cross_entropy"](cupy.asarray(z), cupy.asarray(labels)), want,
           dtype, "ce, labels on the GPU")
    _close(b.kernels["softmax_cross_entropy_backward"](cupy.asarray(g), cupy.asarray(z), labels),
           CPU["softmax_cross_entropy_backward"](g, z, labels), dtype, "ce backward")


@pytest.mark.gpu
@gpu
def test_row_kernels_fall_back_to_the_generic_ones_for_other_dtypes():
    import cupy
    from pyad.backend import array_api
    b = cuda.backend()
    for x in (np.arange(12).reshape(3, 4), np.linspace(-2, 2, 12).astype(np.float16).reshape(3, 4)):
        for name in ("softmax", "log_softmax"):
            got = b.kernels[name](cupy.asarray(x), 1)
            want = array_api.KERNELS[name](cupy.asarray(x), 1)
            np.testing.assert_array_equal(cupy.asnumpy(got), cupy.asnumpy(want))
    g, y = cupy.ones((2, 3)), cupy.full((2, 3), 1 / 3, dtype=cupy.float32)   # mixed dtypes
    np.testing.assert_allclose(cupy.asnumpy(b.kernels["softmax_backward"](g, y, 1)), 0,
                               atol=1e-7)


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_training_gradients_on_cuda_equal_cpu(dtype):
    rng = np.random.default_rng(5)
    z = rng.standard_normal((64, 10)).astype(dtype)
    labels = rng.integers(0, 10, 64)
    x3 = rng.standard_normal((4, 5, 6)).astype(dtype)

    def loss(z, x3):
        return (ad.nn.softmax_cross_entropy(z, labels)
                + ad.sum(ad.log_softmax(x3, axis=1) * ad.softmax(x3, axis=0)))
    want = ad.grad(loss, argnums=(0, 1))(z, x3)
    import cupy
    got = ad.grad(loss, argnums=(0, 1))(cupy.asarray(z), cupy.asarray(x3))
    for gg, w in zip(got, want):
        _close(gg.data if isinstance(gg, ad.Tensor) else gg, np.asarray(w), dtype, "grad",
               1e-10 if dtype == np.float64 else 1e-5)


# the vectorised kernels: sizes with and without a tail past the last whole vector, one past
# the grid's stride (4096 blocks of 256 threads of 4 floats), and 0
VEC_SIZES = [(1,), (7,), (3, 8), (5, 1001), (0, 4), (4097, 1024)]


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", VEC_SIZES, ids=[str(s) for s in VEC_SIZES])
def test_vectorised_kernels_equal_the_elementwise_ones_bitwise(dtype, shape, monkeypatch):
    import cupy
    b = cuda.backend()
    monkeypatch.setattr(b, "vec_min_size", 0)      # small arrays too: the tails, n = 0
    launched = []
    launch = b._vec_launch
    monkeypatch.setattr(b, "_vec_launch", lambda name, *a: launched.append(name) or launch(name, *a))
    rng = np.random.default_rng(7)
    x, y, g = (cupy.asarray(rng.standard_normal(shape).astype(dtype)) for _ in range(3))
    if x.size > 3:
        x.ravel()[:3] = cupy.asarray([0.0, np.nan, -0.0], dtype)      # relu's edge cases
    for name, args in (("relu", (x,)), ("relu_backward", (g, x)), ("tanh_backward", (g, y))):
        got = b.kernels[name](*args)
        want = b._fused[name](*args)           # the ElementwiseKernel of the same body
        np.testing.assert_array_equal(cupy.asnumpy(got), cupy.asnumpy(want), err_msg=name)
    np.testing.assert_array_equal(cupy.asnumpy(b.kernels["add"](x, y)), cupy.asnumpy(x + y))
    row = y.reshape(-1, y.shape[-1])[0].copy() if y.size else cupy.zeros(shape[-1], dtype)
    np.testing.assert_array_equal(cupy.asnumpy(b.kernels["add"](x, row)), cupy.asnumpy(x + row))
    np.testing.assert_array_equal(cupy.asnumpy(b.kernels["add"](row, x)), cupy.asnumpy(row + x))
    p, q = x.copy(), x.copy()
    b.updates["sgd"](p, g, None, 0.01, 0.0, 0.0, False, 0.1, True)
    b._updates["sgd"](g, *b._hyper(q, 0.01, 0.1), q)
    np.testing.assert_array_equal(cupy.asnumpy(p), cupy.asnumpy(q))
    rows = len(shape) == 2 and shape[1] % (16 // np.dtype(dtype).itemsize) == 0
    want = (["relu", "relu_backward", "tanh_backward", "add"] + ["add_row"] * 2 * rows
            + ["add"] * 2 * (len(shape) == 1) + ["sgd"]) if x.size else []
    assert launched == want            # the vectorised kernels ran (not the fallbacks)


@pytest.mark.gpu
@gpu
def test_vectorised_kernels_leave_other_layouts_to_the_elementwise_ones(monkeypatch):
    import cupy
    b = cuda.backend()
    big = cupy.ones(cuda.VEC_MIN_SIZE, cupy.float32)
    assert b._vectorisable(big) == np.float32
    assert b._vectorisable(big[:-4]) is None          # fewer elements than VEC_MIN_SIZE
    monkeypatch.setattr(b, "vec_min_size", 0)
    base = cupy.arange(4 * 9, dtype=cupy.float32).reshape(4, 9) - 17
    shifted = base.ravel()[1:33].reshape(4, 8)             # data 4 bytes past an aligned start
    transposed = base[:, :8].T
    assert b._vectorisable(shifted) is None and b._vectorisable(transposed) is None
    assert b._vectorisable(base, base.astype(cupy.float64)) is None
    for x in (shifted, transposed, base[:, ::2]):
        np.testing.assert_array_equal(cupy.asnumpy(b.kernels["relu"](x)),
                                      np.maximum(cupy.asnumpy(x), 0))
        np.testing.assert_array_equal(cupy.asnumpy(b.kernels["add"](x, x[0])),
                                      cupy.asnumpy(x) + cupy.asnumpy(x[0]))
    odd = cupy.ones((3, 6), cupy.float32)       # a bias row of 6: not a whole number of vectors
    np.testing.assert_array_equal(cupy.asnumpy(b.kernels["add"](odd, odd[0])), 2)
    ints = cupy.arange(8)
    assert b.kernels["add"](ints, ints).dtype == cupy.int64
    assert b.kernels["relu"](ints - 4).dtype == cupy.int64
