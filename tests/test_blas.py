"""Matrix products through pyad.backend._blas on every BLAS it can bind: the active one in this
process (MKL when the `mkl` wheel is installed), and numpy's OpenBLAS in a subprocess with
PYAD_BLAS=openblas. Layouts (C order, transposed views, row slices), accumulation into out
(beta = 1), sizes on both sides of the single-threaded cut-off, and errors."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from pyad.backend import _blas

SHAPES = [(3, 4, 5), (1, 1, 1), (64, 70, 33), (130, 129, 131)]     # last: threaded


def _operands(m, k, n, dtype, layout, rng):
    a = rng.standard_normal((k, m)).astype(dtype).T if layout[0] == "T" else \
        rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((n, k)).astype(dtype).T if layout[1] == "T" else \
        rng.standard_normal((k, n)).astype(dtype)
    return a, b


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["NN", "TN", "NT", "TT"])
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_gemm_and_accumulate_match_numpy(dtype, layout, m, k, n):
    rng = np.random.default_rng([m, k, n])
    a, b = _operands(m, k, n, dtype, layout, rng)
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    want = a.astype(np.float64) @ b.astype(np.float64)
    got = _blas.gemm(a, b)
    assert got.dtype == dtype and got.flags.c_contiguous
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max())
    c0 = rng.standard_normal((m, n)).astype(dtype)
    out = c0.copy()
    assert _blas.gemm(a, b, out) is out
    np.testing.assert_allclose(out, c0 + want, rtol=rtol, atol=rtol * np.abs(want).max() * 2)
    c, d = _operands(m, 3, n, dtype, layout, rng)
    np.testing.assert_allclose(_blas.matmul_sum(a, b, c, d), want + c.astype(np.float64) @ d,
                               rtol=rtol, atol=rtol * np.abs(want).max() * 2)


def test_row_slices_and_errors():
    x = np.arange(60.0).reshape(6, 10)
    np.testing.assert_allclose(_blas.matmul(x[::2, :4], x[:4, 1:4]), x[::2, :4] @ x[:4, 1:4])
    with pytest.raises(ValueError, match="not aligned"):
        _blas.matmul(np.ones((2, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="out must be"):
        _blas.gemm(np.ones((2, 3)), np.ones((3, 2)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="out must be"):
        _blas.gemm(np.ones((2, 3)), np.ones((3, 2)), np.ones((2, 2), dtype=np.float32))


def _length_one_operands(dtype):
    """Operands with a dimension of length 1 whose stride is arbitrary (0 after broadcasting,
    huge, negative): numpy calls such arrays contiguous, and a gemm that trusted those strides
    passed BLAS a leading dimension of 0 or garbage (MKL refused it, leaving the output
    unwritten)."""
    from numpy.lib.stride_tricks import as_strided
    base = np.arange(1.0, 13.0, dtype=dtype)
    isz = base.itemsize
    for shape, strides in [((1, 1), (0, 0)), ((1, 1), (isz << 40, -isz)), ((1, 3), (0, isz)),
                           ((1, 3), (-isz * 7, isz)), ((3, 1), (isz, 0)), ((3, 1), (isz, 3 << 33)),
                           ((3, 1), (2 * isz, -isz)), ((1, 4), (0, 2 * isz))]:
        yield as_strided(base, shape, strides)
    yield np.broadcast_to(base[:1], (1, 1))
    yield np.broadcast_to(base[:3], (1, 3))
    yield np.broadcast_to(base[:1, None], (3, 1))


def check_length_one_strides():
    for dtype in (np.float32, np.float64):
        ops = list(_length_one_operands(dtype))
        for a in ops:
            for b in ops + [np.ones((a.shape[1], 2), dtype), np.ones((a.shape[1], 1), dtype).T.T]:
                if a.shape[1] != b.shape[0]:
                    continue
                want = a.astype(np.float64) @ b.astype(np.float64)
                np.testing.assert_allclose(_blas.gemm(a, b), want, rtol=1e-6)
                out = np.ones(want.shape, dtype)
                np.testing.assert_allclose(_blas.gemm(a, b, out), want + 1, rtol=1e-6)
                np.testing.assert_allclose(_blas.gemm(b.T, a.T), want.T, rtol=1e-6)


def test_length_one_dimensions_with_any_stride():
    check_length_one_strides()


def test_gradient_through_a_one_by_one_broadcast_cotangent():
    # sum(x @ w + b): the product's cotangent is a (1, 1) broadcast of ones, strides (0, 0)
    import pyad as ad
    for _ in range(20):
        w = ad.tensor([[1.0], [2.0]], requires_grad=True)
        b = ad.tensor([0.5], requires_grad=True)
        ad.sum(np.array([[1.0, 3.0]]) @ w + b).backward()
        np.testing.assert_array_equal(w.grad.numpy(), [[1.0], [3.0]])


def test_active_blas_is_reported():
    from pyad import _C
    assert _blas.BLAS in ("mkl", "numpy", "scipy")
    if _blas.BLAS == "mkl":
        assert os.environ.get("GOMP_SPINCOUNT")       # set before OpenMP loaded
        assert _C.get_parallel_grain() == 1 << 15      # its pool's threads stay awake
    else:
        assert _C.get_parallel_grain() == 1 << 18      # passive threads: wake-ups cost


def _numpy_openblas_threads():
    """numpy's OpenBLAS's thread count, read through its own symbol."""
    import ctypes
    import glob
    root = os.path.dirname(os.path.dirname(np.__file__))
    for path in glob.glob(os.path.join(root, "numpy.libs", "*openblas*.so*")):
        lib = ctypes.CDLL(path)
        for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads"):
            if hasattr(lib, name):
                return getattr(lib, name)()
    pytest.fail("numpy's OpenBLAS not found")


def test_linalg_kernels_run_numpy_lapack_on_one_thread_beside_mkl():
    """With MKL doing the products, numpy.linalg's kernels run OpenBLAS on the caller's
    thread (its spinning workers slowed MKL's products 5x) and give the count back after,
    errors included; with OpenBLAS doing both, they are numpy's own functions."""
    from pyad.backend import numpy_linalg
    inv = numpy_linalg.KERNELS["inv"]
    if _blas.BLAS != "mkl":
        assert inv is numpy_linalg.inv
    else:
        assert inv.__wrapped__ is numpy_linalg.inv
    before = _numpy_openblas_threads()
    a = np.random.default_rng(0).standard_normal((50, 50)) + 50 * np.eye(50)
    np.testing.assert_allclose(inv(a) @ a, np.eye(50), atol=1e-12)
    with pytest.raises(np.linalg.LinAlgError, match="pyad.linalg.inv: singular"):
        inv(np.zeros((3, 3)))
    assert _numpy_openblas_threads() == before


def test_concurrent_pins_give_openblas_its_threads_back():
    """OpenBLAS's thread count is process-wide: threads pinning it for small products,
    convolutions and LAPACK calls at once must leave it as it was (restoring what each
    saw, in the wrong order, left it at 1 thread for good)."""
    code = textwrap.dedent("""
        import threading
        import numpy as np
        import pyad as ad
        from pyad.backend import _blas
        import pyad.scipy.linalg as sl
        from test_blas import _numpy_openblas_threads
        assert _blas.BLAS == "numpy", _blas.BLAS
        before = _numpy_openblas_threads()
        a = np.random.default_rng(0).random((30, 30))
        x = np.ones((8, 4, 10, 10), np.float32)
        w = np.ones((4, 4, 3, 3), np.float32)
        t = np.tril(a) + 30 * np.eye(30)
        jobs = [lambda: [_blas.matmul(a, a) for _ in range(2000)],
                lambda: [ad.conv2d(x, w, padding=1) for _ in range(200)],
                lambda: [sl.solve_triangular(t, a, lower=True) for _ in range(300)],
                lambda: [ad.linalg.inv(t) for _ in range(300)]]
        threads = [threading.Thread(target=job) for job in jobs + jobs]
        [th.start() for th in threads]
        [th.join() for th in threads]
        assert _numpy_openblas_threads() == before, (_numpy_openblas_threads(), before)
    """)
    env = dict(os.environ, PYAD_BLAS="openblas",
               PYTHONPATH=os.pathsep.join([os.path.dirname(__file__),
                                           os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr


def test_openblas_path_in_a_subprocess():
    code = textwrap.dedent("""
        import sys
        import numpy as np
        from pyad.backend import _blas
        import pyad as ad
        assert _blas.BLAS in ("numpy", "scipy"), _blas.BLAS
        assert ad._C.get_parallel_grain() == 1 << 18
        rng = np.random.default_rng(0)
        for dt in (np.float32, np.float64):
            a, b = rng.standard_normal((130, 129)).astype(dt), rng.standard_normal((129, 7)).astype(dt)
            c, d = rng.standard_normal((130, 2)).astype(dt), rng.standard_normal((2, 7)).astype(dt)
            tol = 1e-5 if dt == np.float32 else 1e-12
            np.testing.assert_allclose(_blas.matmul(a.T.T, b), a @ b, rtol=tol, atol=tol)
            np.testing.assert_allclose(_blas.matmul_sum(a, b, c, d), a @ b + c @ d, rtol=tol,
                                       atol=10 * tol)
        A, x, y = rng.standard_normal((5, 40)), rng.standard_normal(5), np.ones(40)
        np.testing.assert_allclose(_blas.rows_matvec(A, x, y, 2.0, 1.0, transpose=True),
                                   2.0 * A.T @ x + 1.0, rtol=1e-13)
        f = lambda w: ad.sum(ad.tanh(np.ones((4, 3)) @ w) ** 2)
        w, v = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
        h = [ad.hvp(f, (w,), (v,), mode=m) for m in ("fwd-rev", "rev-rev")]
        np.testing.assert_allclose(h[0], h[1], rtol=1e-10)
        sys.path.insert(0, TESTS)
        from test_blas import check_length_one_strides
        check_length_one_strides()
        print("ok", _blas.BLAS)
    """).replace("TESTS", repr(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYAD_BLAS="openblas")
    env.pop("GOMP_SPINCOUNT", None)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("ok")


# single-threaded products split in two: by rows (the first half a multiple of 16: 64 -> 32,
# 100 -> 48), by columns where fewer than 32 rows, by columns where B is transposed
SPLIT_SHAPES = [(64, 128, 128), (100, 70, 90), (10, 128, 256), (128, 64, 40), (31, 300, 31)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["NN", "TN", "NT", "TT"])
@pytest.mark.parametrize("m,k,n", SPLIT_SHAPES)
def test_split_products_are_right_and_the_same_bits_on_one_thread_or_two(dtype, layout, m, k, n):
    """Products run in halves, one on the helper thread, give the product, and the bits of
    the same halves run one after the other on the caller's thread (what happens while the
    BLAS's own threads are awake, or another thread holds the helper): a product's bits
    depend on its shapes alone, so compiled replays equal eager steps."""
    rng = np.random.default_rng([m, k, n, len(layout)])
    a, b = _operands(m, k, n, dtype, layout, rng)
    c0 = rng.standard_normal((m, n)).astype(dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    want = a.astype(np.float64) @ b.astype(np.float64)
    runs = []
    old = _blas.set_direct_max_work(128 ** 3)     # single-threaded on MKL too (its own: 64^3)
    try:
        for recently in (False, True, False):
            _blas._set_blas_threads_ran(recently)
            runs.append((_blas.matmul(a, b), _blas.gemm(a, b, c0.copy()),
                         _blas.gemm(a, b, c0.copy(), False)))
    finally:
        _blas.set_direct_max_work(old)
        _blas._set_blas_threads_ran(False)
    got, accumulated, written = runs[0]
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max())
    np.testing.assert_allclose(accumulated, c0 + want, rtol=rtol, atol=2 * rtol * np.abs(want).max())
    assert got.tobytes() == written.tobytes()
    for other in runs[1:]:
        assert all(x.tobytes() == y.tobytes() for x, y in zip(runs[0], other))


def test_split_products_from_many_threads_and_a_forked_child():
    """The helper serves one caller at a time (the others compute both halves themselves),
    every thread gets its product's bits; a child forked after the helper started (it has
    no helper thread) makes its own instead of waiting forever."""
    code = textwrap.dedent("""
        import os, threading
        import numpy as np
        from pyad.backend import _blas
        rng = np.random.default_rng(0)
        pairs = [(rng.standard_normal((64, 96)).astype(np.float32),
                  rng.standard_normal((96, 80)).astype(np.float32)) for _ in range(6)]
        want = [_blas.matmul(a, b).tobytes() for a, b in pairs]
        bad = []

        def work(i):
            a, b = pairs[i % len(pairs)]
            for _ in range(300):
                if _blas.matmul(a, b).tobytes() != want[i % len(pairs)]:
                    bad.append(i)
        threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert not bad, bad
        pid = os.fork()
        if pid == 0:
            ok = all(_blas.matmul(a, b).tobytes() == w for (a, b), w in zip(pairs, want))
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        print("ok")
    """)
    # OpenBLAS (the default install): MKL's GNU OpenMP pool hangs a forked child by itself
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYAD_BLAS="openblas"))
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stderr[-2000:]


@pytest.mark.skipif(sys.platform != "linux" or os.uname().machine != "x86_64",
                    reason="glibc's fesetround on x86-64")
def test_split_products_round_as_their_caller_does():
    """The rounding mode is per thread: the helper runs its half under the caller's, so a
    product's bits are the same whichever thread runs which half."""
    code = textwrap.dedent("""
        import ctypes, ctypes.util
        import numpy as np
        from pyad.backend import _blas
        libm = ctypes.CDLL(ctypes.util.find_library("m"))
        rng = np.random.default_rng(1)
        a = rng.standard_normal((64, 128)).astype(np.float32)
        b = rng.standard_normal((128, 96)).astype(np.float32)
        nearest = _blas.matmul(a, b)
        assert libm.fesetround(0xc00) == 0          # FE_TOWARDZERO, this thread only
        _blas._set_blas_threads_ran(False)
        two_threads = _blas.matmul(a, b)
        _blas._set_blas_threads_ran(True)           # both halves on this thread
        one_thread = _blas.matmul(a, b)
        assert two_threads.tobytes() == one_thread.tobytes()
        assert two_threads.tobytes() != nearest.tobytes()
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYAD_BLAS="openblas"))
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stderr[-2000:]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux affinity masks")
def test_one_core_runs_both_halves_itself_with_the_same_bits():
    """A process held to one core (taskset, a container's cpuset), or whose BLAS is held to
    one thread (OPENBLAS_NUM_THREADS=1: MPI ranks sharing the cores), starts no helper
    thread (it would only take turns with the caller or another process) and runs both
    halves itself: the same bits as a process with two cores."""
    code = textwrap.dedent("""
        import os, sys
        if sys.argv[1] == "one":
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        import numpy as np
        from pyad.backend import _blas
        rng = np.random.default_rng(2)
        a = rng.standard_normal((64, 128)).astype(np.float32)
        b = rng.standard_normal((96, 128)).astype(np.float32).T        # B transposed too
        threads = len(os.listdir("/proc/self/task"))
        out = _blas.matmul(a, b).tobytes() + _blas.matmul(a, b.T.T.copy()).tobytes()
        print(len(os.listdir("/proc/self/task")) - threads, out.hex())
    """)
    runs = {}
    for cores, threads in (("one", None), ("all", "1"), ("all", None)):
        env = dict(os.environ, PYAD_BLAS="openblas")
        env.pop("OPENBLAS_NUM_THREADS", None)
        if threads:
            env["OPENBLAS_NUM_THREADS"] = threads
        r = subprocess.run([sys.executable, "-c", code, cores], capture_output=True, text=True,
                           timeout=60, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        runs[cores, threads] = r.stdout.split()
    assert runs["one", None][0] == runs["all", "1"][0] == "0"     # no helper thread
    assert runs["one", None][1] == runs["all", "1"][1] == runs["all", None][1]


@pytest.mark.parametrize("transpose", [False, True])
def test_rows_matvec_accumulates_like_numpy(transpose):
    rng = np.random.default_rng(5)
    A = rng.standard_normal((7, 300))
    x = rng.standard_normal(7 if transpose else 300)
    y0 = rng.standard_normal(300 if transpose else 7)
    y = y0.copy()
    assert _blas.rows_matvec(A, x, y, -0.5, 2.0, transpose=transpose) is y
    want = -0.5 * ((A.T @ x) if transpose else (A @ x)) + 2.0 * y0
    np.testing.assert_allclose(y, want, rtol=1e-13, atol=1e-13)
    with pytest.raises(ValueError, match="do not fit"):
        _blas.rows_matvec(A, x[:-1], y, 1.0, 0.0, transpose=transpose)
    with pytest.raises(ValueError, match="float64"):
        _blas.rows_matvec(A.astype(np.float32), x, y, 1.0, 0.0, transpose=transpose)


def test_threads_of_pyad_and_numpy_blas_and_lapack_at_once():
    """pyad's products (small ones in halves on the helper, threaded ones) and the user's own
    numpy products and LAPACK calls, from several Python threads at once: right results, no
    hang. (Handing OpenBLAS's threads to another pool through its threads callback hung
    np.linalg.inv called from two threads at once.)"""
    code = textwrap.dedent("""
        import threading
        import numpy as np
        from bench.workloads import mlp_step as W
        a = np.random.default_rng(0).standard_normal((300, 300)) + 300 * np.eye(300)
        bad = []

        def lapack():
            for _ in range(60):
                if not np.allclose(np.linalg.inv(a) @ a, np.eye(300), atol=1e-10):
                    bad.append("inv")

        def train(case, compiled):
            try:
                step, check = W.pyad_case(W.SIZES[case][0], *W.DATA[case], compiled=compiled)
                for _ in range(20):
                    step()
                W.verify(case, "pyad", check())       # the gradients, against float64
            except Exception as e:                    # a thread's error, not just printed
                bad.append(repr(e))
        jobs = [threading.Thread(target=lapack) for _ in range(2)]
        jobs += [threading.Thread(target=train, args=("S", True)),
                 threading.Thread(target=train, args=("M", False))]
        [t.start() for t in jobs]
        [t.join() for t in jobs]
        assert not bad, bad
        print("ok")
    """)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYAD_BLAS="openblas",
               PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300, env=env)
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stderr[-2000:]


@pytest.mark.skipif(sys.platform != "linux" or os.uname().machine != "x86_64",
                    reason="glibc's fesetround on x86-64")
def test_kernels_in_halves_on_the_helper_keep_their_bits():
    """Within microseconds of a split product (its helper thread still awake) kernels of 4k to
    256k elements run in two halves, the first on the helper: the same bits as on one thread,
    under the caller's rounding mode too. A stand-in for the helper (use_helper takes any
    such function) shows that the kernels ask for it, with halves that cover their work, and
    not where pyad is held to one thread."""
    code = textwrap.dedent('''
        import ctypes, ctypes.util
        import numpy as np
        from pyad import _C
        from pyad.backend import _blas
        libm = ctypes.CDLL(ctypes.util.find_library("m"))
        rng = np.random.default_rng(1)
        x, y = (rng.standard_normal(20_001).astype(np.float32) for _ in range(2))
        m = rng.standard_normal((30, 700)).astype(np.float32)     # 3 column tiles
        z, labels = rng.standard_normal((700, 10)), rng.integers(0, 10, 700)
        a, b = rng.standard_normal((128, 128)), rng.standard_normal((128, 128))

        def run():
            _blas.matmul(a, b)      # a split product: the helper spins after its half
            p, g = x.copy(), y.copy()
            _C.sgd_update_many([p], [g], None, 0.5, 0.0, 0.0, False, 0.0, False)
            return [_C.kernels.tanh(x).tobytes(), _C.kernels.add(x, y).tobytes(),
                    _C.kernels.sum(m, 0).tobytes(), _C.kernels.softmax_cross_entropy(z, labels).tobytes(),
                    p.tobytes()]
        helper = _C.use_helper(0)
        threads = _C.get_num_threads()
        calls = []
        job_type = ctypes.CFUNCTYPE(None, ctypes.c_void_p)

        @ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
        def stand_in(job, first, second):
            calls.append(1)
            job_type(job)(second)           # the halves in either order: the same bits
            job_type(job)(first)
            return True
        for rounding in (0, 0xc00):         # FE_TONEAREST, FE_TOWARDZERO (this thread)
            assert libm.fesetround(rounding) == 0
            _C.use_helper(0)
            alone = run()
            _C.use_helper(helper)
            assert run() == alone, rounding
            _C.use_helper(ctypes.cast(stand_in, ctypes.c_void_p).value)
            _C.set_num_threads(2)           # as on a machine of one core too
            assert run() == alone and len(calls) == 5, (rounding, len(calls))
            calls.clear()
            _C.set_num_threads(1)           # pyad held to one thread: no halves
            assert run() == alone and not calls
            _C.set_num_threads(threads)
        _C.use_helper(helper)
        libm.fesetround(0)
        print("ok")
    ''')
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, PYAD_BLAS="openblas"))
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stderr[-2000:]


def test_kernels_and_halves_on_openblas_workers_keep_their_bits():
    """While OpenBLAS's workers spin after a threaded product, kernels run their chunks on
    them and small products one half: the same bits as on the caller's thread, under the
    caller's rounding mode too (each job takes it along)."""
    code = textwrap.dedent('''
        import ctypes, ctypes.util, time
        import numpy as np
        from pyad import _C
        from pyad.backend import _blas
        # without gotoblas_pthread (another BLAS) the same bits with nothing to switch
        found = _blas._symbols("numpy", ["gotoblas_pthread"]) if _blas.BLAS == "numpy" else None
        use = _C.use_blas_workers if found else (lambda address: None)
        libm = ctypes.CDLL(ctypes.util.find_library("m"))
        rng = np.random.default_rng(0)
        # above the 32k elements of a kernel on OpenBLAS's workers, below OpenMP's 256k
        x, y = (rng.standard_normal(100_001).astype(np.float32) for _ in range(2))
        m = rng.standard_normal((400, 300)).astype(np.float32)
        big = rng.standard_normal((256, 256)).astype(np.float32)
        a, b = rng.standard_normal((128, 512)), rng.standard_normal((512, 10))

        def run(spinning):
            if spinning:
                _blas.matmul(big, big)      # threaded: OpenBLAS's workers spin after it
            else:
                time.sleep(0.06)            # past the mark; the halves then run here
            return [_C.kernels.tanh(x).tobytes(), _C.kernels.add(x, y).tobytes(),
                    _C.kernels.sum(m, 0).tobytes(), _blas.matmul(a, b).tobytes()]
        for rounding in (0, 0xc00):         # FE_TONEAREST, FE_TOWARDZERO (this thread)
            assert libm.fesetround(rounding) == 0
            use(found and found[0])
            on = run(True)
            use(0)
            off = run(False)
            assert on == off, [i for i, (p, q) in enumerate(zip(on, off)) if p != q]
            use(found and found[0])
        libm.fesetround(0)
        print("ok")
    ''')
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, PYAD_BLAS="openblas"))
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stderr[-2000:]
