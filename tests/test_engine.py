"""Engine tests: Tape recording and gradient(), Tensor.backward(), no_grad, nesting, threads,
memory release, debug_nans and dtypes. Every value is checked against numpy or a derivative
worked out by hand."""
import gc
import sys
import threading
import weakref

import numpy as np
import pytest

import pyad as ad
from pyad import Tensor

RNG = np.random.default_rng(1234)


def arr(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def val(t):
    """The numpy value of a Tensor (or array)."""
    assert isinstance(t, (Tensor, np.ndarray)), type(t)
    return t.data if isinstance(t, Tensor) else t


def close(a, b, rtol=1e-12, atol=1e-12):
    np.testing.assert_allclose(val(a) if isinstance(a, Tensor) else a, b, rtol=rtol, atol=atol)


# ------------------------------------------------------------------------- Tape basics
def test_tape_records_and_gradient():
    x0 = arr(5)
    x = ad.tensor(x0)
    with ad.Tape() as tape:
        tape.watch(x)
        y = ad.sum(ad.sin(x) * x)
    assert len(tape) >= 3
    gx, = tape.gradient(y, [x])
    assert isinstance(gx, Tensor)
    close(y, np.sum(np.sin(x0) * x0))
    close(gx, np.cos(x0) * x0 + np.sin(x0))


def test_gradient_single_source_not_in_list():
    x0 = arr(3)
    x = ad.tensor(x0)
    with ad.Tape() as tape:
        tape.watch(x)
        y = ad.sum(ad.exp(x))
    gx = tape.gradient(y, x)
    assert isinstance(gx, Tensor)
    close(gx, np.exp(x0))


def test_explicit_watch_needed_without_requires_grad():
    x0 = arr(4)
    x = ad.tensor(x0)                   # requires_grad=False and never watched
    with ad.Tape() as tape:
        y = ad.sum(x * x)
    assert len(tape) == 0
    gx, = tape.gradient(y, [x])
    close(gx, np.zeros(4))


def test_automatic_watch_of_requires_grad_leaf():
    x0 = arr(4)
    x = ad.tensor(x0, requires_grad=True)
    with ad.Tape() as tape:
        y = ad.sum(x * x * x)
    assert len(tape) >= 2
    gx, = tape.gradient(y, [x])
    close(gx, 3 * x0 ** 2)


def test_watch_accessed_variables_false_does_not_autowatch():
    x = ad.tensor(arr(4), requires_grad=True)
    with ad.Tape(watch_accessed_variables=False) as tape:
        y = ad.sum(x * 2.0)
    assert len(tape) == 0
    gx, = tape.gradient(y, [x])
    close(gx, np.zeros(4))


def test_watch_accepts_pytrees():
    a, b = ad.tensor(arr(2)), ad.tensor(arr(3))
    with ad.Tape() as tape:
        tape.watch({"a": a, "rest": [b]})
        y = ad.sum(a) * 2.0 + ad.sum(b * b)
    ga, gb = tape.gradient(y, [a, b])
    close(ga, np.full(2, 2.0))
    close(gb, 2 * b.data)


def test_non_scalar_target_is_summed():
    x0 = arr(2, 3)
    x = ad.tensor(x0)
    with ad.Tape() as tape:
        tape.watch(x)
        y = ad.tanh(x) * 3.0            # shape (2, 3)
    gx, = tape.gradient(y, [x])
    close(gx, 3.0 * (1 - np.tanh(x0) ** 2))


def test_non_scalar_target_with_output_gradients():
    x0, w = arr(2, 3), arr(2, 3)
    x = ad.tensor(x0)
    with ad.Tape() as tape:
        tape.watch(x)
        y = ad.square(x)
    gx, = tape.gradient(y, [x], output_gradients=w)
    close(gx, 2 * x0 * w)


def test_sources_as_dict_and_nested_list():
    p = {"w": ad.tensor(arr(3)), "b": [ad.tensor(arr(1)), (ad.tensor(arr(3)),)]}
    with ad.Tape() as tape:
        tape.watch(p)
        w, (b, (c,)) = p["w"], p["b"]
        y = ad.sum(w * c) + ad.sum(b) * 5.0
    g = tape.gradient(y, p)
    assert isinstance(g, dict) and set(g) == {"w", "b"}
    assert isinstance(g["b"], list) and isinstance(g["b"][1], tuple)
    close(g["w"], p["b"][1][0].data)
    close(g["b"][0], np.array([5.0]))
    close(g["b"][1][0], p["w"].data)


def test_fan_out_accumulates():
    x0 = arr(4)
    x = ad.tensor(x0)
    with ad.Tape() as tape:
        tape.watch(x)
        y = ad.sum(x * 2.0 + ad.sin(x) + x * x)     # x used 3 times (4 uses)
    gx, = tape.gradient(y, [x])
    close(gx, 2.0 + np.cos(x0) + 2 * x0)


def test_same_tensor_as_both_operands():
    x0 = arr(3)
    x = ad.tensor(x0)
    with ad.Tape() as tape:
        tape.watch(x)
        y = ad.sum(ad.multiply(x, x))
    gx, = tape.gradient(y, [x])
    close(gx, 2 * x0)


def test_numpy_constants_get_no_gradient_and_unused_source_gets_zeros():
    x0, c = arr(3), arr(3)
    c_before = c.copy()
    x, unused = ad.tensor(x0), ad.tensor(arr(2, 2))
    with ad.Tape() as tape:
        tape.watch(x, unused)
        n0 = len(tape)
        k = ad.exp(ad.tensor(c))           # only constants: nothing recorded
        assert len(tape) == n0
        y = ad.sum(x * c + k)
    gx, gu = tape.gradient(y, [x, unused])
    close(gx, c)
    assert gu.shape == (2, 2)
    close(gu, np.zeros((2, 2)))
    np.testing.assert_array_equal(c, c_before)


def test_target_independent_of_source_gives_zeros():
    x = ad.tensor(arr(3))
    with ad.Tape() as tape:
        tape.watch(x)
        y = ad.sum(ad.tensor(arr(3)))
    gx, = tape.gradient(y, [x])
    close(gx, np.zeros(3))


def test_gradient_of_source_with_respect_to_itself():
    x = ad.tensor(arr(3))
    with ad.Tape() as tape:
        tape.watch(x)
    gx, = tape.gradient(x, [x])
    close(gx, np.ones(3))


def test_gradient_with_respect_to_intermediate():
    x0 = arr(3)
    x = ad.tensor(x0)
    with ad.Tape() as tape:
        tape.watch(x)
        h = x * 2.0
        y = ad.sum(h * h) + ad.sum(ad.sin(x))
    gh, gx = tape.gradient(y, [h, x])
    close(gh, 2 * (2 * x0))
    close(gx, 8 * x0 + np.cos(x0))


def test_gradient_called_inside_the_with_block():
    x0 = arr(3)
    x = ad.tensor(x0)
    with ad.Tape() as tape:
        tape.watch(x)
        y = ad.sum(ad.exp(x))
        gx, = tape.gradient(y, [x])
        n = len(tape)
    close(gx, np.exp(x0))
    assert n == 0                            # the sweep itself was not recorded


# ------------------------------------------------------------------------- no_grad
def test_no_grad_records_nothing():
    x0 = arr(3)
    x = ad.tensor(x0, requires_grad=True)
    with ad.Tape() as tape:
        with ad.no_grad():
            y = ad.sum(ad.exp(x))
        assert len(tape) == 0
        z = ad.sum(x * 2.0)
    assert not y.requires_grad
    close(y, np.sum(np.exp(x0)))
    gy, = tape.gradient(y, [x])
    close(gy, np.zeros(3))


def test_no_grad_block_then_recording_resumes():
    x = ad.tensor(arr(3), requires_grad=True)
    with ad.Tape() as tape:
        with ad.no_grad():
            pass
        y = ad.sum(x * 2.0)
    gx, = tape.gradient(y, [x])
    close(gx, np.full(3, 2.0))


def test_no_grad_as_decorator():
    @ad.no_grad()
    def f(t):
        return ad.sum(ad.tanh(t))

    x = ad.tensor(arr(3), requires_grad=True)
    with ad.Tape() as tape:
        y = f(x)
        assert len(tape) == 0
        z = ad.sum(x * 3.0)             # recording back on after the call
    assert f.__name__ == "f"
    gy, = tape.gradient(y, [x])
    close(gy, np.zeros(3))
    x2 = ad.tensor(arr(3), requires_grad=True)
    y2 = f(x2)
    assert not y2.requires_grad
    close(y2, np.sum(np.tanh(x2.data)))


def test_no_grad_restored_after_exception():
    x = ad.tensor(arr(3), requires_grad=True)
    with pytest.raises(ZeroDivisionError):
        with ad.no_grad():
            1 / 0
    y = ad.sum(x * x)
    assert y.requires_grad
    y.backward()
    close(x.grad, 2 * x.data)


# ------------------------------------------------------------------------- long chains
def test_100k_op_chain_at_default_recursion_limit():
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        a, b, n = 0.99999, 0.00001, 50_000        # 2 primitives per step: 100,000 ops
        x = ad.tensor(3.0)
        with ad.Tape() as tape:
            tape.watch(x)
            h = x
            for _ in range(n):
                h = h * a + b
        assert len(tape) == 2 * n
        gx, = tape.gradient(h, [x])
        del h, tape
        gc.collect()
    finally:
        sys.setrecursionlimit(old)
    # h_n = 1 + (x - 1) a^n, so dh_n/dx = a^n
    np.testing.assert_allclose(gx.data, a ** n, rtol=1e-9)


def test_100k_op_chain_backward():
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        a, b, n = 0.99999, 0.00001, 50_000
        x = ad.tensor(np.array([3.0, -1.0]), requires_grad=True)
        h = x
        for _ in range(n):
            h = h * a + b
        ad.sum(h).backward()
        del h
        gc.collect()
    finally:
        sys.setrecursionlimit(old)
    np.testing.assert_allclose(x.grad.data, [a ** n, a ** n], rtol=1e-9)


# ------------------------------------------------------------------------- persistence
def test_non_persistent_tape_second_gradient_raises():
    x = ad.tensor(arr(3))
    with ad.Tape() as tape:
        tape.watch(x)
        y = ad.sum(x * x)
    tape.gradient(y, [x])
    with pytest.raises(RuntimeError, match=r"(?s)released.*persistent"):
        tape.gradient(y, [x])


def test_persistent_tape_used_twice():
    x0 = arr(3)
    x = ad.tensor(x0)
    with ad.Tape(persistent=True) as tape:
        tape.watch(x)
        y = ad.sum(x * x * x)
        z = ad.sum(ad.sin(x))
    g1, = tape.gradient(y, [x])
    g2, = tape.gradient(y, [x])
    g3, = tape.gradient(z, [x])
    close(g1, 3 * x0 ** 2)
    close(g2, 3 * x0 ** 2)
    close(g3, np.cos(x0))


# ------------------------------------------------------------------------- higher order
def test_nested_tapes_second_derivative():
    x = ad.tensor(np.array([-1.5, 0.5, 2.0]))
    with ad.Tape() as outer:
        outer.watch(x)
        with ad.Tape() as inner:
            inner.watch(x)
            y = ad.sum(x ** 3)
        dy, = inner.gradient(y, [x])
    close(dy, 3 * x.data ** 2)
    d2, = outer.gradient(dy, [x])
    close(d2, 6 * x.data)


def test_nested_grad_second_derivative():
    f = lambda x: x ** 3
    np.testing.assert_allclose(ad.grad(ad.grad(f))(2.5), 6 * 2.5)


def test_perturbation_confusion():
    # d/dx [x * d/dy (x + y)] = d/dx [x * 1] = 1 (not 2)
    def f(x):
        return x * ad.grad(lambda y: x + y)(1.0)
    np.testing.assert_allclose(ad.grad(f)(3.0), 1.0)

    # d/dx [x * d/dy (x * y)] = d/dx [x * x] = 2x
    def g(x):
        return x * ad.grad(lambda y: x * y)(1.0)
    np.testing.assert_allclose(ad.grad(g)(3.0), 6.0)


# ------------------------------------------------------------------------- Tensor.backward
def test_backward_accumulates_into_grad():
    x0 = arr(3)
    x = ad.tensor(x0, requires_grad=True)
    assert x.grad is None
    y = ad.sum(x * x)
    y.backward()
    close(x.grad, 2 * x0)
    z = ad.sum(ad.sin(x))
    z.backward()
    close(x.grad, 2 * x0 + np.cos(x0))
    x.grad = None
    ad.sum(x * 3.0).backward()
    close(x.grad, np.full(3, 3.0))


def test_backward_two_leaves_and_constant_leaf():
    a0, b0 = arr(2, 3), arr(3)
    a = ad.tensor(a0, requires_grad=True)
    b = ad.tensor(b0, requires_grad=True)
    c = ad.tensor(arr(3))                 # no requires_grad: stays without .grad
    loss = ad.sum(ad.tanh(a + b) * c)
    loss.backward()
    d = (1 - np.tanh(a0 + b0) ** 2) * c.data
    close(a.grad, d)
    close(b.grad, d.sum(axis=0))
    assert c.grad is None


def test_backward_with_gradient_argument():
    x0 = arr(3)
    x = ad.tensor(x0, requires_grad=True)
    y = x * x
    v = np.array([1.0, -2.0, 0.5])
    y.backward(gradient=v)
    close(x.grad, 2 * x0 * v)


def test_backward_retain_graph():
    x0 = arr(3)
    x = ad.tensor(x0, requires_grad=True)
    y = ad.sum(ad.exp(x))
    y.backward(retain_graph=True)
    y.backward()
    close(x.grad, 2 * np.exp(x0))


def test_second_backward_without_retain_graph_raises():
    x = ad.tensor(arr(3), requires_grad=True)
    y = ad.sum(ad.exp(x))
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_backward_result_flags():
    x = ad.tensor(arr(3), requires_grad=True)
    y = ad.sum(x * 2.0)
    assert x.requires_grad and x.is_leaf
    assert y.requires_grad and not y.is_leaf


def test_float32_backward_grad_dtype():
    x = ad.tensor(arr(4, dtype=np.float32), requires_grad=True)
    ad.sum(ad.tanh(x) * 2.0).backward()
    assert x.grad.dtype == np.float32
    close(x.grad, 2 * (1 - np.tanh(x.data.astype(np.float64)) ** 2), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------- detach
def test_detach():
    x0 = arr(3)
    x = ad.tensor(x0, requires_grad=True)
    d = x.detach()
    assert isinstance(d, Tensor)
    assert not d.requires_grad
    np.testing.assert_array_equal(d.data, x0)
    y = ad.sum(x * d)                       # d is a constant: dy/dx = x, not 2x
    y.backward()
    close(x.grad, x0)
    assert d.grad is None


def test_detach_on_tape():
    x0 = arr(3)
    x = ad.tensor(x0)
    with ad.Tape() as tape:
        tape.watch(x)
        y = ad.sum(ad.square(x) * ad.exp(x).detach())
    gx, = tape.gradient(y, [x])
    close(gx, 2 * x0 * np.exp(x0))


# ------------------------------------------------------------------------- threads
def test_tape_is_per_thread():
    barrier = threading.Barrier(2, timeout=20)
    x_main = ad.tensor(np.array([1.0, 2.0, 3.0]))
    shared = ad.tensor(np.array([4.0, 5.0]))
    results, errors = {}, []

    def worker():
        try:
            barrier.wait()                    # the main thread's tape is open now
            # a tensor the main tape watches: another thread's ops must not land on it
            for _ in range(50):
                _ = ad.exp(shared) * 2.0
            x = ad.tensor(np.array([0.5, -0.5]))
            with ad.Tape() as mine:
                mine.watch(x)
                y = ad.sum(x * x * x)
            results["worker_len"] = len(mine)
            results["worker_grad"] = mine.gradient(y, [x])[0].data
            barrier.wait()
        except Exception as e:                # pragma: no cover - reported below
            errors.append(e)
            barrier.abort()

    th = threading.Thread(target=worker)
    th.start()
    with ad.Tape() as tape:
        tape.watch(x_main, shared)
        barrier.wait()
        barrier.wait()                        # worker finished all its ops
        n_other = len(tape)
        y = ad.sum(x_main * 3.0)
    th.join(20)
    assert not errors, errors
    assert n_other == 0
    gx, gs = tape.gradient(y, [x_main, shared])
    close(gx, np.full(3, 3.0))
    close(gs, np.zeros(2))
    assert results["worker_len"] == 3            # x*x, *x, sum
    close(results["worker_grad"], 3 * np.array([0.5, -0.5]) ** 2)


def test_concurrent_threads_each_get_their_own_gradients():
    n_threads, steps = 4, 200
    barrier = threading.Barrier(n_threads, timeout=20)
    out, errors = {}, []

    def worker(i):
        try:
            x = ad.tensor(np.full(3, 1.0 + i))
            with ad.Tape() as tape:
                tape.watch(x)
                barrier.wait()
                h = x
                for _ in range(steps):
                    h = h * 1.001
                s = ad.sum(h)
            out[i] = (len(tape), tape.gradient(s, [x])[0].data)
        except Exception as e:                # pragma: no cover
            errors.append(e)

    ths = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(30)
    assert not errors, errors
    for i in range(n_threads):
        n, g = out[i]
        assert n == steps + 1
        close(g, np.full(3, 1.001 ** steps), rtol=1e-10)


def test_no_grad_is_per_thread():
    barrier = threading.Barrier(2, timeout=20)
    seen = {}

    def worker():
        x = ad.tensor(arr(2), requires_grad=True)
        barrier.wait()                        # main thread is inside no_grad now
        seen["requires_grad"] = (x * 2.0).requires_grad
        barrier.wait()

    th = threading.Thread(target=worker)
    th.start()
    with ad.no_grad():
        barrier.wait()
        barrier.wait()
    th.join(20)
    assert seen["requires_grad"] is True


def test_new_thread_reusing_a_dead_threads_id_keeps_its_graph():
    # OS thread ids are reused once a thread has been joined; a new thread must neither
    # inherit the dead thread's cached state nor lose its own graph when another thread
    # touches pyad in between.
    def first():
        x = ad.tensor(np.ones(3), requires_grad=True)
        ad.sum(x * x)

    built, go = threading.Event(), threading.Event()
    res = {}

    def second():
        try:
            x = ad.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
            y = ad.sum(x * x)
            built.set()
            go.wait(20)
            y.backward()
            res["grad"] = x.grad.data
        except Exception as e:                # reported below
            res["err"] = e
            built.set()

    reused = 0
    for _ in range(20):                        # ids are usually, not always, reused
        res.clear()
        built.clear()
        go.clear()
        t1 = threading.Thread(target=first)
        t1.start()
        t1.join()
        t2 = threading.Thread(target=second)
        t2.start()
        built.wait(20)
        with ad.no_grad():                     # the main thread touches its own state
            ad.sum(ad.tensor(np.ones(2)) * 2.0)
        go.set()
        t2.join(20)
        assert "err" not in res, repr(res.get("err"))
        close(res["grad"], [2.0, 4.0, 6.0])
        reused += t1.ident == t2.ident
        if reused >= 3:
            break


# ------------------------------------------------------------------------- memory
def test_saved_arrays_released_after_non_persistent_gradient():
    x = ad.tensor(arr(1000))
    with ad.Tape() as tape:
        tape.watch(x)
        h = ad.tanh(x)
        ref = weakref.ref(h)
        y = ad.sum(h * 2.0)
        del h
    gc.collect()
    assert ref() is not None                  # the tape keeps it for the backward pass
    assert len(tape) == 3
    tape.gradient(y, [x])
    gc.collect()
    assert len(tape) == 0
    assert ref() is None


def test_persistent_tape_keeps_saved_arrays():
    x = ad.tensor(arr(10))
    with ad.Tape(persistent=True) as tape:
        tape.watch(x)
        h = ad.tanh(x)
        ref = weakref.ref(h)
        y = ad.sum(h * 2.0)
        del h
    tape.gradient(y, [x])
    gc.collect()
    assert ref() is not None
    del tape
    gc.collect()
    assert ref() is None


def test_backward_releases_graph():
    x = ad.tensor(arr(1000), requires_grad=True)
    h = ad.tanh(x)
    ref = weakref.ref(h)
    y = ad.sum(h * 2.0)
    del h
    gc.collect()
    assert ref() is not None
    y.backward()
    gc.collect()
    assert ref() is None


def test_training_loop_with_backward_does_not_keep_old_graphs():
    w = ad.tensor(arr(50), requires_grad=True)
    refs = []
    for _ in range(5):
        h = ad.tanh(w * 2.0)
        refs.append(weakref.ref(h))
        loss = ad.sum(h * h)
        del h
        loss.backward()
        del loss
    gc.collect()
    assert [r() is None for r in refs] == [True] * 5
    close(w.grad, 5 * 2 * np.tanh(2 * w.data) * (1 - np.tanh(2 * w.data) ** 2) * 2)


# ------------------------------------------------------------------------- debug_nans
def _nan_fn(x):
    # log of a negative halfway through a longer function
    a = ad.exp(x) * 0.5
    b = a - 2.0                      # negative
    c = ad.log(b)                    # NaN born here
    d = ad.sqrt(c * c + 1.0)
    return ad.sum(ad.tanh(d))


def test_debug_nans_off_by_default_nan_passes_silently():
    x = ad.tensor(np.array([0.1, 0.2]))
    y = _nan_fn(x)
    assert np.isnan(y.item())


def test_debug_nans_names_first_primitive():
    x = ad.tensor(np.array([0.1, 0.2]))
    with ad.debug_nans():
        with pytest.raises(FloatingPointError, match=r"'log'"):
            _nan_fn(x)
    # off again after the block
    y = _nan_fn(x)
    assert np.isnan(y.item())


def test_debug_nans_quiet_on_finite_computations():
    x0 = np.array([0.1, 0.2])
    with ad.debug_nans():
        g = ad.grad(lambda x: ad.sum(ad.log(x + 1.0)))(x0)
    close(g, 1.0 / (x0 + 1.0))


def test_debug_nans_checks_the_backward_pass():
    # sqrt(0) is finite, its derivative 1/(2 sqrt(0)) is not: the backward primitive is named
    with ad.debug_nans():
        with pytest.raises(FloatingPointError, match=r"sqrt"):
            ad.grad(lambda x: ad.sum(ad.sqrt(x)))(np.array([0.0, 1.0]))
    g = ad.grad(lambda x: ad.sum(ad.sqrt(x)))(np.array([0.0, 1.0]))
    assert np.isinf(g[0]) and g[1] == 0.5


# ------------------------------------------------------------------------- dtypes
def test_float32_in_float32_gradients():
    x0 = arr(5, dtype=np.float32)
    x = ad.tensor(x0)
    c = arr(5)                                  # float64 constant promotes the product
    with ad.Tape() as tape:
        tape.watch(x)
        y = ad.sum(ad.tanh(x) * 2.0) + ad.sum(x * c)
    gx, = tape.gradient(y, [x])
    assert gx.dtype == np.float32
    expect = 2 * (1 - np.tanh(x0.astype(np.float64)) ** 2) + c
    close(gx, expect, rtol=1e-5, atol=1e-5)


def test_float32_stays_float32_through_ops():
    x = ad.tensor(arr(3, dtype=np.float32))
    for y in (x * 2.0, x + 1, x / 3.0, ad.exp(x), ad.sum(x), ad.mean(x), x ** 2, 1.0 - x):
        assert y.dtype == np.float32, y


def test_int_tensors_usable_as_constants():
    x0 = arr(3)
    x = ad.tensor(x0)
    k = ad.tensor([1, 2, 3])
    assert k.dtype.kind == "i"
    with ad.Tape() as tape:
        tape.watch(x)
        y = ad.sum(x * k + k * k) + ad.sum(x + np.arange(3))
    gx, = tape.gradient(y, [x])
    close(gx, np.array([1.0, 2.0, 3.0]) + 1.0)
    close(y, np.sum(x0 * [1, 2, 3] + [1, 4, 9]) + np.sum(x0 + np.arange(3)))
    # integer arithmetic alone works and gives integers
    z = k * 2 + k
    assert z.dtype.kind == "i"
    np.testing.assert_array_equal(z.data, [3, 6, 9])


def test_transforms_inside_no_grad_still_differentiate():
    """no_grad() freezes recording for backward() and open tapes, not transforms begun in it."""
    x = ad.tensor(np.ones(3), requires_grad=True)
    with ad.no_grad():
        y = ad.sum(x * x)
        g = ad.grad(lambda w: ad.sum(w * w))(np.ones(3))
        with ad.Tape() as tape:
            z = ad.tensor(np.full(2, 3.0))
            tape.watch(z)
            out = ad.sum(z ** 2)
        dz, = tape.gradient(out, [z])
    assert not y.requires_grad
    np.testing.assert_allclose(g, 2.0)
    np.testing.assert_allclose(dz.data, 6.0)


def test_backward_frees_graphs_nobody_can_reach():
    """Evaluation passes run without no_grad() between training steps do not pile up on the
    implicit tape; an output still referenced keeps its graph differentiable."""
    w = ad.tensor(np.linspace(-1.0, 1.0, 12).reshape(4, 3), requires_grad=True)
    x = np.linspace(0.0, 1.0, 20).reshape(5, 4)
    refs = []
    for _ in range(4):
        h = ad.tanh(ad.tanh(x @ w) * 2.0)          # an "evaluation" nobody differentiates
        refs.append(weakref.ref(h))
        del h
        ad.sum(ad.tanh(x @ w)).backward()
    gc.collect()
    assert [r() for r in refs] == [None] * 4
    kept = ad.sum(ad.tanh(x @ w) ** 2)
    ad.sum(ad.tanh(x @ w)).backward()
    w.grad = None
    kept.backward()
    t = np.tanh(x @ w.data)
    np.testing.assert_allclose(w.grad.data, x.T @ (2 * t * (1 - t * t)), rtol=1e-12)


def test_transforms_of_tensors_that_require_grad_do_not_pile_up_on_the_implicit_tape():
    """ad.grad / ad.vjp of Tensors with requires_grad=True record their passes on the implicit
    backward() tape as well; without a backward() those records used to stay forever (a
    training loop of ad.grad steps grew by its activations every step). Each call now frees
    what nothing can reach, so only the latest pass may still be alive."""
    import gc
    import weakref
    w = ad.tensor(np.ones(3), requires_grad=True)
    refs = []

    def f(w):
        h = ad.tanh(w)
        refs.append(weakref.ref(h))
        return ad.sum(h * h)
    for _ in range(4):
        ad.grad(f)(w)
        ad.vjp(f, w)
    gc.collect()
    assert [r() is None for r in refs[:-2]] == [True] * (len(refs) - 2)
    # a pass still reachable from outside keeps its records: backward() works on it
    loss = f(w)
    ad.grad(f)(w)
    loss.backward()
    np.testing.assert_allclose(w.grad, 2 * np.tanh(1.0) * (1 - np.tanh(1.0) ** 2) * np.ones(3))


@pytest.fixture
def small_collections():
    """The implicit tape collects its dead records after every 8 new records (or 1 KB)."""
    from pyad.engine._tape import set_collect_thresholds
    old = set_collect_thresholds(8, 1024)
    yield
    set_collect_thresholds(*old)


def test_forward_passes_without_backward_do_not_pile_up():
    """An evaluation loop run without no_grad() and with no backward() after it: the implicit
    tape frees the records nothing can reach while it records (it used to keep every
    activation until the next backward(), 640 MB for 20,000 passes of a 64x128 layer)."""
    from pyad.engine._tape import implicit_tape_stats
    w = ad.tensor(np.linspace(-1.0, 1.0, 12).reshape(4, 3), requires_grad=True)
    x = np.linspace(0.0, 1.0, 20).reshape(5, 4)
    refs = []
    for i in range(3000):
        h = ad.tanh(ad.tanh(x @ w) * 2.0)
        if i % 500 == 0:
            refs.append(weakref.ref(h))
    records = implicit_tape_stats()["records"]
    assert records <= 256 + 4, records     # h's pass and what came after the last collection
    gc.collect()
    assert [r() for r in refs[:-1]] == [None] * (len(refs) - 1)
    loss = ad.sum(h)                        # the pass still held is differentiable
    loss.backward()
    t1 = np.tanh(x @ w.data)
    t2 = np.tanh(t1 * 2.0)
    np.testing.assert_allclose(w.grad.data, x.T @ ((1 - t2 ** 2) * 2.0 * (1 - t1 ** 2)),
                               rtol=1e-12)


def test_collections_while_recording_keep_every_gradient(small_collections):
    """Collections in the middle of a forward pass (every 8 records here) keep what the
    output depends on, including outputs dropped by Python but read by a later op, and a
    graph already swept still raises when swept again."""
    w = ad.tensor(np.linspace(0.1, 0.9, 6), requires_grad=True)
    h = w
    for k in range(40):
        dead = ad.exp(h) * 3.0              # a side branch nobody reads: freed
        h = ad.tanh(0.9 * h + 0.1 * k)      # each h only the next op reads
    del dead
    loss = ad.sum(h * h)
    want = ad.grad(lambda v: ad.sum(_chain(v) ** 2))(w.data)
    loss.backward()
    np.testing.assert_allclose(w.grad.data, want, rtol=1e-12)
    y = ad.sin(w) * 2.0
    ad.sum(y).backward()
    for _ in range(50):
        ad.cos(w) + 1.0                     # collections after the sweep
    with pytest.raises(RuntimeError):
        ad.sum(y * 3.0).backward()          # y's graph was freed by the first backward()


def test_leaves_made_in_a_loop_without_backward_are_let_go(small_collections):
    """Inputs made with requires_grad=True in each pass of a loop, with no backward(): the
    tape lets go of those nobody else holds; one still held gets its .grad."""
    refs, kept = [], []
    for i in range(200):
        x = ad.tensor(np.full(3, float(i)), requires_grad=True)
        y = ad.tanh(x) * 2.0
        refs.append(weakref.ref(x))
        if i == 150:
            kept = [x, y]
    del x, y
    gc.collect()
    alive = [i for i, r in enumerate(refs) if r() is not None]
    assert [i for i in alive if i < 190] == [150], alive    # and those since the last look
    ad.sum(kept[1]).backward()
    np.testing.assert_allclose(kept[0].grad.data, 2.0 * (1 - np.tanh(150.0) ** 2) * np.ones(3))


def test_retained_graphs_in_a_loop_keep_the_tape_small(small_collections):
    """backward(retain_graph=True) in every step never starts a fresh tape: collections
    free the dead steps and number the slots anew (each sweep sizes its arrays by them, so
    the steps grew slower), and a graph kept alive through it all stays differentiable."""
    from pyad.engine._tape import implicit_tape_stats
    w = ad.tensor(np.linspace(-1.0, 1.0, 12).reshape(4, 3), requires_grad=True)
    x = np.linspace(0.0, 1.0, 20).reshape(5, 4)
    kept = ad.sum(ad.tanh(x @ w) ** 2)
    for _ in range(300):
        w.grad = None
        loss = ad.sum(ad.tanh(x @ w))
        loss.backward(retain_graph=True)
    stats = implicit_tape_stats()
    assert stats["slots"] < 64 and stats["records"] < 64, stats
    t = np.tanh(x @ w.data)
    np.testing.assert_allclose(w.grad.data, x.T @ (1 - t * t), rtol=1e-12)
    w.grad = None
    kept.backward(retain_graph=True)
    kept.backward()
    np.testing.assert_allclose(w.grad.data, 2 * x.T @ (2 * t * (1 - t * t)), rtol=1e-12)


def _chain(v):
    for k in range(40):
        v = ad.tanh(0.9 * v + 0.1 * k)
    return v


def test_training_steps_larger_than_the_thresholds_are_not_walked_every_step(
        small_collections):
    """A fresh implicit tape after backward() starts from twice the records and bytes the
    swept step recorded, so a steady training loop stops collecting after its first steps."""
    from pyad.engine._tape import implicit_tape_stats
    w = ad.tensor(np.ones(4), requires_grad=True)
    counts = [implicit_tape_stats()["collections"]]
    for _ in range(5):
        h = w
        for _ in range(30):
            h = ad.tanh(h)
        counts.append(implicit_tape_stats()["collections"])
        ad.sum(h).backward()
    walks = np.diff(counts)
    assert walks[0] >= 1 and list(walks[1:]) == [0] * 4, counts
    np.testing.assert_allclose(w.grad.data, 5 * _tanh_chain_grad(30), rtol=1e-12)  # summed


def _tanh_chain_grad(n):
    v, d = 1.0, 1.0
    for _ in range(n):
        v = np.tanh(v)
        d *= 1 - v * v
    return d


# ============================================================================ gradient destinations
def _mlp_grads(dtype, dests=None, shared=False):
    """An MLP's gradients by backward(), with destinations given to its parameters first."""
    from pyad.engine._tape import set_grad_destination
    model = ad.nn.MLP([5, 7, 3], seed=0, dtype=dtype)
    params = model.parameters()
    x = np.random.default_rng(3).standard_normal((9, 5)).astype(dtype)
    y = np.arange(9) % 3
    for p, d in zip(params, dests or ()):
        set_grad_destination(p, d)
    out = model(x)
    if shared:                     # the first weight read twice: its gradient is a sum
        out = out + ad.sum(params[0] * params[0])
    ad.nn.softmax_cross_entropy(out, y).backward()
    return params


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_writes_weight_gradients_into_their_destinations(dtype):
    plain = [p.grad.data for p in _mlp_grads(dtype)]
    dests = [np.full(p.shape, np.nan, dtype) for p in plain]
    params = _mlp_grads(dtype, dests)
    for k, (p, d, want) in enumerate(zip(params, dests, plain)):
        np.testing.assert_array_equal(p.grad.data, want)        # the same bits
        # the weights' gradients (one GEMM each) are made in place; the biases' (a sum
        # over the batch) are new arrays, their destinations left alone
        assert (p.grad.data is d) == (k % 2 == 0)
        if k % 2:
            assert np.isnan(d).all()
    # each destination serves one backward(): the next one makes new arrays
    for p in params:
        p.grad = None
    x = np.ones((2, 5), dtype)
    ad.sum(x @ params[0]).backward()             # one product: would be written there
    assert params[0].grad.data is not dests[0]


def test_gradient_destinations_leave_sums_and_accumulation_alone():
    from pyad.engine._tape import set_grad_destination
    want = [p.grad.data for p in _mlp_grads(np.float64, shared=True)]
    dests = [np.zeros(g.shape) for g in want]
    params = _mlp_grads(np.float64, dests, shared=True)
    close(params[0].grad, want[0])                  # a sum of two rules' cotangents
    assert params[0].grad.data is not dests[0] and not dests[0].any()
    assert params[2].grad.data is dests[2]          # the other weight: its one product
    # a leaf with a .grad to add to: the sum is a new array, the destination unused
    w = ad.tensor(arr(4, 3), requires_grad=True)
    x = arr(2, 4)
    ad.sum(x @ w).backward()
    first = w.grad.data.copy()
    dest = np.zeros((4, 3))
    set_grad_destination(w, dest)
    ad.sum(x @ w).backward()
    close(w.grad, 2 * first)
    assert not dest.any()


def test_gradient_destination_errors():
    from pyad.engine._tape import set_grad_destination
    w = ad.tensor(np.ones((2, 3)), requires_grad=True)
    for bad in (np.ones((3, 2)), np.ones((2, 3), np.float32), np.ones((4, 3))[::2],
                np.ones((2, 3))[None].repeat(1, 0)):
        with pytest.raises(ValueError, match="shape .2, 3. and dtype float64"):
            set_grad_destination(w, bad)
    with pytest.raises(TypeError, match="Tensor"):
        set_grad_destination(np.ones(2), np.ones(2))
    set_grad_destination(w, None)           # removing one that is not there is fine


def test_a_gradient_destination_goes_with_its_leaf():
    from pyad.engine import _tape
    w = ad.tensor(np.ones((2, 3)), requires_grad=True)
    dest = np.zeros((2, 3))
    _tape.set_grad_destination(w, dest)
    held = sys.getrefcount(dest)
    del w
    gc.collect()
    assert sys.getrefcount(dest) == held - 1      # the registry let go of it
