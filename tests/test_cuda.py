"""The CUDA backend: on any machine, that it imports without CuPy or a GPU, covers every row,
and fails with clear errors; on a GPU (the `gpu` marker), that every op spec's value, VJP, JVP
and HVP on CUDA arrays equal the CPU's, optimizers step alike and devices move as expected."""
import sys
import types

import numpy as np
import pytest

import pyad as ad
from pyad import backend
from pyad.backend import cuda, cuda_gemm

from backend_checks import host_leaves
from op_specs import SPECS, traced


@pytest.fixture
def fresh_cuda(monkeypatch):
    """The CUDA backend as if never used in this process (restored afterwards)."""
    monkeypatch.setattr(cuda, "_BACKEND", None)
    return cuda


# ------------------------------------------------------------------- every machine
def test_the_cuda_backend_has_a_kernel_for_every_row():
    missing = sorted(set(ad.PRIMITIVES) - cuda.kernel_names())
    assert not missing, f"rows without a CUDA kernel: {missing}"
    assert set(cuda.FUSED) <= set(ad.PRIMITIVES)


def test_is_available_is_a_bool_and_never_raises():
    assert isinstance(ad.cuda.is_available(), bool)


def test_cuda_without_cupy_names_what_to_install(fresh_cuda, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)        # import cupy -> ImportError
    assert ad.cuda.is_available() is False
    with pytest.raises(ImportError, match=r'pip install "pyad\[cuda12\]"'):
        ad.tensor([1.0, 2.0], device="cuda")


def test_cuda_without_a_usable_gpu_says_so(fresh_cuda, monkeypatch):
    fake = types.ModuleType("cupy")
    fake.is_available = lambda: False
    monkeypatch.setitem(sys.modules, "cupy", fake)
    assert ad.cuda.is_available() is False
    with pytest.raises(RuntimeError, match="no usable CUDA GPU"):
        ad.tensor([1.0, 2.0], device="cuda:0")


def test_the_backend_builds_where_cupy_sees_a_gpu(fresh_cuda, monkeypatch):
    """backend() from CuPy to a CudaBackend with every row's kernel, CuPy's modules stood in:
    wiring mistakes there (a name that is not the module it seems) otherwise show only on a
    GPU, and then fail every GPU test at once."""
    from pyad.backend import namespaces
    fake = types.ModuleType("cupy")
    fake.is_available = lambda: True
    fake.ndarray = type("ndarray", (), {})
    fake.ElementwiseKernel = lambda *spec, name: ("kernel", name, spec)
    fake.cublas = types.ModuleType("cupy.cublas")
    compat = types.ModuleType("array_api_compat")
    compat.cupy = types.ModuleType("array_api_compat.cupy")
    for name, module in [("cupy", fake), ("cupy.cublas", fake.cublas),
                         ("array_api_compat", compat), ("array_api_compat.cupy", compat.cupy)]:
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(namespaces, "_REGISTERED", dict(namespaces._REGISTERED))
    b = cuda.backend()
    assert isinstance(b, cuda.CudaBackend) and b.xp is compat.cupy and b.cupy is fake
    assert set(b.kernels) >= cuda.kernel_names()
    assert namespaces.namespace_of(fake.ndarray()) is compat.cupy
    assert cuda.backend() is b


def _column_major_gemm(op_a, op_b, m, n, k, a, lda, b, ldb, ldc):
    """What a column-major BLAS reads and computes from the operands' memory: op(A) op(B),
    m x n, returned as the C-contiguous array its column-major result (ld ldc) is."""
    def matrix(x, rows, cols, ld):
        return np.lib.stride_tricks.as_strided(x, (rows, cols), (x.itemsize, ld * x.itemsize))
    A = matrix(a, m, k, lda) if op_a == cuda_gemm.OP_N else matrix(a, k, m, lda).T
    B = matrix(b, k, n, ldb) if op_b == cuda_gemm.OP_N else matrix(b, n, k, ldb).T
    assert ldc == max(m, 1)
    return (A @ B).T


def _layouts(rows, cols, rng):
    """(name, array) of one rows x cols matrix in C order, F order, as a transposed view,
    and with any stride on a length-1 dimension."""
    x = rng.standard_normal((rows, cols))
    yield "C", x
    yield "F", np.asfortranarray(x)
    yield "T-view", np.ascontiguousarray(x.T).T
    if rows == 1 or cols == 1:
        odd = (12345 * 8, 8) if rows == 1 else (8, -999 * 8)
        yield "length-1 stride", np.lib.stride_tricks.as_strided(x.copy(), x.shape, odd)


@pytest.mark.parametrize("m,k,n", [(3, 4, 5), (1, 4, 5), (3, 1, 5), (3, 4, 1), (1, 1, 1),
                                   (6, 2, 6)])
def test_the_cublas_gemm_plan_computes_a_at_b_for_every_layout(m, k, n):
    """The direct cuBLAS path's operands, ops and leading dimensions (cuda_gemm.gemm_plan),
    run through a column-major GEMM emulated on the same memory: a @ b for C and F order,
    transposed views and odd strides on length-1 dimensions; None for strided views."""
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    for name_a, a in _layouts(m, k, rng):
        for name_b, b in _layouts(k, n, rng):
            plan = cuda_gemm.gemm_plan(a, b)
            assert plan is not None, (name_a, name_b)
            op_b, op_a, pn, pm, pk, ldb, lda, ldc = plan
            got = _column_major_gemm(op_b, op_a, pn, pm, pk, b, ldb, a, lda, ldc)
            np.testing.assert_allclose(got, a @ b, rtol=1e-13, err_msg=f"{name_a} @ {name_b}")
    a = rng.standard_normal((2 * m, k))[::2]
    assert m == 1 or cuda_gemm.gemm_plan(a, rng.standard_normal((k, n))) is None
    assert cuda_gemm.gemm_plan(rng.standard_normal((2, m, k)), rng.standard_normal((k, n))) is None


def test_loaded_libraries_are_found_by_name():
    assert cuda_gemm.loaded_library("libc") is not None         # every Linux process has it
    assert cuda_gemm.loaded_library("libpyad-no-such-library") is None


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "cuda:-1", "CPU"])
def test_unknown_devices_are_refused(name):
    with pytest.raises(ValueError, match="unknown device"):
        ad.tensor([1.0], device=name)


def test_device_names_and_moves_on_the_cpu():
    t = ad.tensor([1.0, 2.0], requires_grad=True)
    assert t.device == "cpu" and t.to("cpu") is t and t.cpu() is t
    with pytest.raises(TypeError, match="move the inputs"):
        (t * 2.0).to("cuda")
    tree = ad.device_put({"a": np.ones(2), "b": [t, 3]}, "cpu")
    assert tree["a"].dtype == np.float64 and tree["b"][0] is t and tree["b"][1] == 3
    model = ad.nn.Linear(2, 1, seed=0)
    assert model.to("cpu") is model and model.weight.device == "cpu"


def test_import_pyad_does_not_import_cupy():
    import subprocess
    code = "import sys, pyad; print('cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr


# ------------------------------------------------------------------- on a GPU
HAVE_GPU = cuda.is_available()
gpu = pytest.mark.skipif(not HAVE_GPU, reason="no usable CUDA GPU (cupy.is_available)")
# the generated cases only where they can run (one clean skip per test without a GPU)
CASES = [c for cases in SPECS.values() for c in cases] if HAVE_GPU else []
GRAD64 = [c for c in CASES if c.grad]


# float32 decompositions: cuSOLVER's algorithms are not LAPACK's, and their rounding reaches
# ~1e-5 of an entry in float32 (float64 still agrees to 1e-10)
LOOSE32 = {"svd": 1e-4, "eigh": 1e-4}


def _on_gpu(a):
    import cupy
    return cupy.asarray(a)


def _same(got, want, what, rtol=1e-10):
    assert len(got) == len(want), what
    for g, w in zip(got, want):
        assert g.shape == w.shape, f"{what}: {g.shape} != {w.shape}"
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * 1e-2, equal_nan=True,
                                   err_msg=what)


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_value_on_cuda_equals_cpu(case, dtype):
    if np.dtype(dtype) not in [np.dtype(d) for d in case.dtypes]:
        dtype = case.dtypes[0]
    xs = case.inputs(dtype)
    want = host_leaves(case.fn(*[ad.tensor(x) for x in xs]))
    got = case.fn(*[ad.tensor(_on_gpu(x)) for x in xs])
    assert all(leaf.device.startswith("cuda")
               for leaf in ad.tree_flatten(got)[0] if isinstance(leaf, ad.Tensor))
    _same(host_leaves(got), want, case.id, 1e-10 if np.dtype(dtype) == np.float64
          else LOOSE32.get(case.id.split("[")[0], 1e-5))


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("case", GRAD64, ids=[c.id for c in GRAD64])
def test_vjp_jvp_hvp_on_cuda_equal_cpu(case):
    f = traced(case)
    xs = case.inputs(np.float64)
    rng = np.random.default_rng(0)
    vs = [rng.uniform(-1, 1, x.shape) for x in xs]
    out, vjp_cpu = ad.vjp(f, *xs)
    ct = rng.uniform(-1, 1, np.shape(out))
    _, vjp_gpu = ad.vjp(f, *[_on_gpu(x) for x in xs])
    _same(host_leaves(vjp_gpu(_on_gpu(ct))), host_leaves(vjp_cpu(ct)), f"vjp {case.id}")
    _, t_cpu = ad.jvp(f, xs, vs)
    _, t_gpu = ad.jvp(f, [_on_gpu(x) for x in xs], [_on_gpu(v) for v in vs])
    _same(host_leaves(t_gpu), host_leaves(t_cpu), f"jvp {case.id}")
    if case.order2:
        w = rng.uniform(-1, 1, np.shape(out))

        def scalar(*a):
            y = f(*a)
            s = ad.sum(y * ad.tensor(w if isinstance(y.data, np.ndarray) else _on_gpu(w)))
            return ad.real(s) if np.dtype(s.dtype).kind == "c" else s
        _same(host_leaves(ad.hvp(scalar, [_on_gpu(x) for x in xs], [_on_gpu(v) for v in vs])),
              host_leaves(ad.hvp(scalar, xs, vs)), f"hvp {case.id}")


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("make", [
    lambda ps: ad.optim.SGD(ps, lr=0.1),
    lambda ps: ad.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda ps: ad.optim.Adam(ps, lr=0.01), lambda ps: ad.optim.AdamW(ps, lr=0.01),
    lambda ps: ad.optim.Adam(ps, lr=0.01, amsgrad=True), lambda ps: ad.optim.RMSprop(ps),
], ids=["sgd", "sgd-nesterov", "adam", "adamw", "amsgrad", "rmsprop"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_optimizer_steps_on_cuda_equal_cpu(make, dtype):
    rng = np.random.default_rng(1)
    w0, x = rng.normal(size=(4, 3)).astype(dtype), rng.normal(size=(8, 4)).astype(dtype)

    def train(device):
        model = ad.nn.Linear(4, 3, dtype=dtype, seed=0).to(device)
        model.weight.data = backend.to_device(w0, device)
        opt = make(model.parameters())
        for _ in range(3):
            opt.zero_grad()
            ad.sum(ad.tanh(model(ad.tensor(x, device=device))) ** 2).backward()
            opt.step()
        return backend.to_host(model.weight.data)
    # float32: the GPU's tanh and fused multiply-adds round differently from the CPU's, and
    # three momentum steps carry the differences (2.3e-5 of an entry seen for Nesterov)
    np.testing.assert_allclose(train("cuda"), train("cpu"),
                               rtol=1e-12 if dtype == np.float64 else 1e-4,
                               atol=0 if dtype == np.float64 else 1e-6)


@pytest.mark.gpu
@gpu
def test_lanczos_on_cuda_equals_cpu():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(30, 30))
    a = a + a.T
    cpu = ad.curvature.lanczos(lambda v: a @ v, 30, k=3)
    ag = _on_gpu(a)
    gpu_ = ad.curvature.lanczos(lambda v: ag @ v, _on_gpu(rng.normal(size=30)), k=3)
    np.testing.assert_allclose(backend.to_host(gpu_[0]), backend.to_host(cpu[0]), rtol=1e-8)


@pytest.mark.gpu
@gpu
def test_devices_move_and_mixing_raises_on_a_gpu():
    t = ad.tensor([1.0, 2.0], device="cuda")
    assert t.device == "cuda:0" and t.to("cuda") is t
    back = t.to("cpu")
    assert back.device == "cpu" and np.array_equal(back.data, [1.0, 2.0])
    with pytest.raises(TypeError, match="cuda:0.*cpu|cpu.*cuda:0"):
        t + ad.tensor([1.0, 2.0])
    assert isinstance(t.numpy(), np.ndarray)


@pytest.mark.gpu
@gpu
def test_dlpack_round_trip_with_torch():
    torch = pytest.importorskip("torch")
    import cupy
    x = torch.arange(4.0, device="cuda", dtype=torch.float64)
    g = ad.grad(lambda z: ad.sum(z ** 2))(cupy.from_dlpack(x))
    assert torch.equal(torch.from_dlpack(g), 2 * x)


@pytest.mark.gpu
@gpu
def test_compiled_training_step_and_hvp_on_cuda_equal_eager_bitwise():
    import cupy
    from pyad import nn, optim
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((32, 20)).astype(np.float32), rng.integers(0, 4, 32)

    def make():
        model = nn.MLP([20, 16, 4], activation="relu", seed=1)
        model.to("cuda")
        opt = optim.Adam(model.parameters(), lr=1e-2)

        def step(xb, yb):
            opt.zero_grad()
            loss = nn.softmax_cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            return loss
        return model, step
    (m1, eager), (m2, step) = make(), make()
    compiled = ad.compile(step)
    xg = ad.tensor(x, device="cuda")
    for _ in range(5):
        a, b = eager(xg, y), compiled(xg, y)
        assert cupy.asnumpy(a.data).tobytes() == cupy.asnumpy(b.data).tobytes()
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert cupy.asnumpy(p.data).tobytes() == cupy.asnumpy(q.data).tobytes()
    w = _on_gpu(rng.standard_normal((6, 3)))
    hv = ad.compile(lambda w, v: ad.hvp(lambda w: ad.sum(ad.tanh(w) ** 3), (w,), (v,)))
    for _ in range(4):
        v = _on_gpu(rng.standard_normal((6, 3)))
        got, want = hv(w, v), ad.hvp(lambda w: ad.sum(ad.tanh(w) ** 3), (w,), (v,))
        assert cupy.asnumpy(got).tobytes() == cupy.asnumpy(want).tobytes()


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("opt_name", ["sgd", "momentum", "rmsprop", "adam", "adamw_amsgrad"])
@pytest.mark.parametrize("labels_on", ["host", "cuda"])
def test_compiled_training_step_is_one_cuda_graph_equal_to_eager(opt_name, labels_on):
    """zero_grad(), forward, backward() and the update replay as one graph launch (Adam's
    bias corrections, which change every step, read from device memory each launch
    refreshes), bitwise equal to eager steps, with the same .grads and step counts; a
    changed learning rate is captured again."""
    import cupy
    from pyad import nn, optim
    rng = np.random.default_rng(8)
    x = ad.tensor(rng.standard_normal((32, 20)).astype(np.float32), device="cuda")
    labels = rng.integers(0, 4, 32)
    y = labels if labels_on == "host" else cupy.asarray(labels)
    make_opt = {"sgd": lambda ps: optim.SGD(ps, lr=0.05),
                "momentum": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
                "rmsprop": lambda ps: optim.RMSprop(ps, lr=1e-3, momentum=0.5, centered=True),
                "adam": lambda ps: optim.Adam(ps, lr=1e-2),
                "adamw_amsgrad": lambda ps: optim.AdamW(ps, lr=1e-2, amsgrad=True,
                                                        betas=(0.8, 0.9))}[opt_name]

    def make():
        model = nn.MLP([20, 16, 16, 4], activation="relu", seed=1).to("cuda")
        opt = make_opt(model.parameters())

        def step(xb):
            opt.zero_grad()
            loss = nn.softmax_cross_entropy(model(xb), y)
            loss.backward()
            opt.step()
            return loss
        return model, opt, step
    (m1, o1, eager), (m2, o2, step) = make(), make()
    compiled = ad.compile(step)
    bits = lambda a: cupy.asnumpy(a.data if isinstance(a, ad.Tensor) else a).tobytes()
    for i in range(8):
        if i == 5:
            o1.lr = o2.lr = o1.lr / 2           # a schedule: the graph is captured again
        a, b = eager(x), compiled(x)
        assert bits(a) == bits(b), f"loss differs at step {i}"
        for p, q in zip(m1.parameters(), m2.parameters()):
            assert bits(p) == bits(q) and bits(p.grad) == bits(q.grad), f"step {i}"
        assert [s["step"] for s in o1.state] == [s["step"] for s in o2.state]
    program = next(iter(compiled._programs.values()))
    assert compiled.graphs == 1
    assert program.captures == 2 and program.launches == 2      # calls 3-5, then 6-8
    # a .grad is the graph's buffer, which each launch rewrites (the docs say so)
    first = list(m2.parameters())[0]
    where = first.grad.data.data.ptr
    compiled(x)
    assert first.grad.data.data.ptr == where


@pytest.mark.gpu
@gpu
def test_compiled_adam_graph_with_two_dtypes_different_step_counts_and_a_skipped_parameter():
    """Adam in a CUDA graph: a float32 and a float64 parameter (a device array of bias
    corrections each), step counts that differ (one trained alone before), and a parameter
    with no gradient (not updated, its step count kept): bitwise the eager steps."""
    import cupy
    from pyad import optim
    rng = np.random.default_rng(12)
    start = [rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal(7),
             rng.standard_normal(2)]

    def make():
        w32, w64, unused = (ad.tensor(a, device="cuda", requires_grad=True) for a in start)
        opt = optim.Adam([w32, w64, unused], lr=0.05, betas=(0.7, 0.95), weight_decay=0.1)
        for _ in range(3):                  # w64 alone: its step count runs ahead
            opt.zero_grad()
            ad.sum(ad.tanh(w64) ** 2).backward()
            opt.step()

        def step():
            opt.zero_grad()
            loss = ad.sum(ad.tanh(w32) ** 2) + ad.sum(w64 * w64 * w64)
            loss.backward()
            opt.step()
            return loss
        return (w32, w64, unused), opt, step
    (ps1, o1, eager), (ps2, o2, step) = make(), make()
    compiled = ad.compile(step)
    bits = lambda a: cupy.asnumpy(a.data if isinstance(a, ad.Tensor) else a).tobytes()
    for i in range(7):
        assert bits(eager()) == bits(compiled()), f"loss differs at step {i}"
        assert all(bits(p) == bits(q) for p, q in zip(ps1, ps2)), f"step {i}"
        assert [s.get("step") for s in o1.state] == [s.get("step") for s in o2.state]
    assert compiled.graphs == 1 and [s.get("step") for s in o2.state] == [7, 10, None]


@pytest.mark.gpu
@gpu
def test_compiled_steps_with_host_labels_are_graphs_each_and_see_labels_change():
    """Programs recorded one after another, each with its own numpy labels, are each one
    graph (the labels are copied to the device outside the capture); labels changed in
    place are captured again, as eager calls would read them."""
    import cupy
    from pyad import nn, optim
    rng = np.random.default_rng(9)
    bits = lambda a: cupy.asnumpy(a.data if isinstance(a, ad.Tensor) else a).tobytes()
    runs = []
    for n in (16, 24):
        x = ad.tensor(rng.standard_normal((n, 8)).astype(np.float32), device="cuda")
        y = rng.integers(0, 3, n)
        pair = []
        for _ in range(2):
            model = nn.MLP([8, 12, 3], activation="relu", seed=2).to("cuda")
            opt = optim.SGD(model.parameters(), lr=0.1)

            def step(model=model, opt=opt, x=x, y=y):
                opt.zero_grad()
                loss = nn.softmax_cross_entropy(model(x), y)
                loss.backward()
                opt.step()
                return loss
            pair.append((model, step))
        compiled = ad.compile(pair[1][1])
        compiled(), compiled()                  # both programs recorded before any replay
        pair[0][1](), pair[0][1]()
        runs.append((pair, compiled, y))
    for k in range(6):
        for (eager_pair, comp_pair), compiled, y in runs:
            if k == 4:
                y[:] = (y + 1) % 3              # in place: the graph must see it
            assert bits(eager_pair[1]()) == bits(compiled()), f"call {k}"
            for p, q in zip(eager_pair[0].parameters(), comp_pair[0].parameters()):
                assert bits(p) == bits(q)
    for _, compiled, _ in runs:
        assert compiled.graphs == 1
        assert next(iter(compiled._programs.values())).captures == 2


@pytest.mark.gpu
@gpu
def test_compiled_elementwise_program_is_one_cuda_graph_bitwise_equal_to_eager():
    import cupy

    def chain(h):
        for _ in range(50):
            h = ad.tanh(0.9 * h + 0.1)
        return ad.sum(h)
    g = ad.grad(chain)
    compiled = ad.compile(g)
    rng = np.random.default_rng(6)
    results = []
    for _ in range(6):
        h = _on_gpu(rng.uniform(-1, 1, 64))
        got, want = compiled(h), g(h)
        assert isinstance(got, cupy.ndarray)
        assert cupy.asnumpy(got).tobytes() == cupy.asnumpy(want).tobytes()
        results.append((got, cupy.asnumpy(got)))
    assert compiled.graphs == 1
    # each launch writes the graph's own buffers: results handed out earlier keep their values
    assert all(cupy.asnumpy(a).tobytes() == b.tobytes() for a, b in results)
    # products too (pyad calls cuBLAS itself: CuPy's wrappers refuse to run under capture)
    w = _on_gpu(rng.standard_normal((8, 4)))
    mlp = ad.grad(lambda w, x: ad.sum(ad.tanh(x @ w) ** 2))
    cmlp = ad.compile(mlp)
    for _ in range(5):
        x = _on_gpu(rng.standard_normal((5, 8)))
        assert cupy.asnumpy(cmlp(w, x)).tobytes() == cupy.asnumpy(mlp(w, x)).tobytes()
    assert cmlp.graphs == 1


def _like_on_gpu(a, dtype):
    """a on the GPU in `dtype`, F-ordered where a is only F-contiguous."""
    import cupy
    g = cupy.asarray(a.astype(dtype))
    return cupy.asfortranarray(g) if a.flags.f_contiguous and not a.flags.c_contiguous else g


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_direct_cublas_products_equal_cupy_matmul_for_every_layout(dtype):
    import cupy
    gemm = cuda.backend()._gemm
    assert gemm is not None, "libcublas was not found among the loaded libraries"
    rng = np.random.default_rng(7)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for m, k, n in [(3, 4, 5), (1, 7, 1), (64, 1, 9), (130, 70, 33)]:
        for _, a in _layouts(m, k, rng):
            for _, b in _layouts(k, n, rng):
                ga, gb = _like_on_gpu(a, dtype), _like_on_gpu(b, dtype)
                want = cupy.asnumpy(cupy.matmul(ga, gb))
                got = gemm(ga, gb)
                np.testing.assert_allclose(cupy.asnumpy(got), want, rtol=tol, atol=tol)
                acc = cupy.ones((m, n), dtype)
                assert gemm(ga, gb, out=acc) is acc
                np.testing.assert_allclose(cupy.asnumpy(acc), want + 1, rtol=tol, atol=tol)


@pytest.mark.gpu
@gpu
def test_labels_copied_once_a_step_yet_never_stale():
    """The loss's backward reuses the forward's device copy of host labels, but only while
    they are the same array with the same values (an in-place change is copied again)."""
    b = cuda.backend()
    rng = np.random.default_rng(8)
    z = rng.standard_normal((5, 3))
    y = np.array([0, 1, 2, 0, 1])
    first = backend.to_host(b.kernels["softmax_cross_entropy"](_on_gpu(z), y))
    y[0] = 2
    again = backend.to_host(b.kernels["softmax_cross_entropy"](_on_gpu(z), y))
    cpu = ad.backend.kernel_for("softmax_cross_entropy", [z])
    np.testing.assert_allclose(first, cpu(z, np.array([0, 1, 2, 0, 1])), rtol=1e-12)
    np.testing.assert_allclose(again, cpu(z, y), rtol=1e-12)
