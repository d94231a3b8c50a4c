"""pyad.unrolled: hypergradients through SGD/momentum unrolls; checkpoint() rematerialisation."""
import tracemalloc

import numpy as np
import pytest

import pyad as ad
from pyad.unrolled import checkpoint, sgd_step, unroll_sgd

RNG = np.random.default_rng(0)
X = RNG.standard_normal((30, 4))
Y = X @ RNG.standard_normal(4) + 0.1 * RNG.standard_normal(30)
XV = RNG.standard_normal((20, 4))
YV = XV @ RNG.standard_normal(4)
W_INIT = RNG.standard_normal(4)


def train_loss(w):
    return ad.mean((X @ w - Y) ** 2)


def val_loss(w):
    return ad.mean((XV @ w - YV) ** 2)


def hyper_objective(lr, wd, scale=1.0, steps=20, momentum=0.0, every=None):
    w0 = scale * W_INIT
    return val_loss(unroll_sgd(train_loss, w0, lr, steps, momentum=momentum, weight_decay=wd,
                               checkpoint_every=every))


def _value(x):
    return float(np.asarray(x.data if isinstance(x, ad.Tensor) else x))


def _central(f, x, eps=1e-6):
    return (_value(f(x + eps)) - _value(f(x - eps))) / (2 * eps)


# ------------------------------------------------------------------------------ unroll
def test_unroll_matches_torch_style_sgd_arithmetic():
    w, v = W_INIT.copy(), np.zeros(4)
    for _ in range(5):
        g = 2 * X.T @ (X @ w - Y) / len(Y)
        d = g + 0.01 * w
        v = 0.9 * v + d
        w = w - 0.05 * v
    out = unroll_sgd(train_loss, W_INIT, 0.05, 5, momentum=0.9, weight_decay=0.01)
    np.testing.assert_allclose(np.asarray(out), w, rtol=1e-12)
    w1, v1 = sgd_step(train_loss, W_INIT, np.zeros(4), 0.05)
    np.testing.assert_allclose(np.asarray(w1), W_INIT - 0.05 * np.asarray(v1), rtol=1e-14)


@pytest.mark.parametrize("momentum", [0.0, 0.5])
@pytest.mark.parametrize("every", [None, 3])
def test_hypergradients_vs_central_differences(momentum, every):
    lr, wd, scale = 0.05, 0.1, 1.0
    g_lr, g_wd, g_scale = ad.grad(
        lambda a, b, c: hyper_objective(a, b, c, momentum=momentum, every=every),
        argnums=(0, 1, 2))(lr, wd, scale)
    f = lambda **kw: (lambda x: hyper_objective(**{"lr": lr, "wd": wd, "scale": scale,
                                                   "momentum": momentum, **{kw["name"]: x}}))
    np.testing.assert_allclose(g_lr, _central(f(name="lr"), lr), rtol=1e-6)
    np.testing.assert_allclose(g_wd, _central(f(name="wd"), wd), rtol=1e-6)
    np.testing.assert_allclose(g_scale, _central(f(name="scale"), scale), rtol=1e-6)


def test_checkpointed_and_plain_hypergradients_agree():
    for momentum in (0.0, 0.9):
        plain = ad.grad(lambda lr, wd: hyper_objective(lr, wd, steps=23, momentum=momentum),
                        argnums=(0, 1))(0.03, 0.05)
        for every in (1, 4, 7, 22):
            ck = ad.grad(lambda lr, wd: hyper_objective(lr, wd, steps=23, momentum=momentum,
                                                        every=every), argnums=(0, 1))(0.03, 0.05)
            np.testing.assert_allclose(ck, plain, rtol=1e-10, atol=1e-12)


def test_learning_rate_schedule_and_forward_mode():
    sched = np.linspace(0.08, 0.01, 12)
    plain = ad.grad(lambda s: hyper_objective(s, 0.0, steps=12))(sched)
    ck = ad.grad(lambda s: hyper_objective(s, 0.0, steps=12, every=5))(sched)
    assert plain.shape == (12,)
    np.testing.assert_allclose(ck, plain, rtol=1e-10, atol=1e-13)
    e = np.zeros(12)
    e[3] = 1.0
    fd = (_value(hyper_objective(sched + 1e-6 * e, 0.0, steps=12))
          - _value(hyper_objective(sched - 1e-6 * e, 0.0, steps=12))) / 2e-6
    np.testing.assert_allclose(plain[3], fd, rtol=1e-6)
    t = RNG.standard_normal(12)
    for every in (None, 5):
        _, dv = ad.jvp(lambda s: hyper_objective(s, 0.0, steps=12, every=every), (sched,), (t,))
        np.testing.assert_allclose(float(np.asarray(dv)), plain @ t, rtol=1e-9)
    with pytest.raises(ValueError, match="schedule"):
        unroll_sgd(train_loss, W_INIT, np.ones(3), 5)


def test_hypergradient_descent_improves_validation_loss():
    log_lr = np.log(0.01)
    obj = lambda l: hyper_objective(ad.exp(l), 0.0, steps=10, every=5)
    start = _value(obj(log_lr))
    for _ in range(10):
        log_lr = log_lr - 0.1 * float(ad.grad(obj)(log_lr))
    assert _value(obj(log_lr)) < 0.8 * start


def _recorded_ops(every, steps=60):
    lr = ad.tensor(0.02)
    with ad.Tape() as tape:
        tape.watch(lr)
        out = hyper_objective(lr, 0.01, steps=steps, momentum=0.5, every=every)
    return len(tape), tape, out, lr


def test_checkpointing_bounds_tape_length():
    plain, _, _, _ = _recorded_ops(None)
    ck, tape, out, lr = _recorded_ops(10)
    assert ck * 5 < plain, (ck, plain)
    # the checkpointed recording still differentiates to the plain answer
    g_ck, = tape.gradient(out, [lr])
    g_plain = ad.grad(lambda a: hyper_objective(a, 0.01, steps=60, momentum=0.5))(0.02)
    np.testing.assert_allclose(float(g_ck.data), g_plain, rtol=1e-10)


def test_checkpointing_lowers_peak_memory_for_long_unrolls():
    big_x = RNG.standard_normal((200, 100))
    big_y = RNG.standard_normal(200)
    loss = lambda w: ad.mean((big_x @ w - big_y) ** 2)

    def peak(every):
        tracemalloc.start()
        try:
            ad.grad(lambda lr: ad.sum(unroll_sgd(loss, np.zeros(100), lr, 200,
                                                 checkpoint_every=every) ** 2))(0.01)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak(20) < 0.5 * peak(None)


# ------------------------------------------------------------------------------ checkpoint
def _block(p, x):
    h = ad.tanh(x @ p["W"] + p["b"])
    return {"h": h, "s": ad.sum(h * h)}


def test_checkpoint_pytree_function_grad_and_jvp_match():
    p = {"W": RNG.standard_normal((3, 4)), "b": RNG.standard_normal(4)}
    x = RNG.standard_normal((2, 3))
    fn = lambda p, x: ad.sum(_block(p, x)["h"] ** 3) + _block(p, x)["s"]
    ck_block = checkpoint(_block)
    fn_ck = lambda p, x: ad.sum(ck_block(p, x)["h"] ** 3) + ck_block(p, x)["s"]
    np.testing.assert_allclose(_value(fn_ck(p, x)), _value(fn(p, x)), rtol=1e-14)
    g = ad.grad(fn, argnums=(0, 1))(p, x)
    g_ck = ad.grad(fn_ck, argnums=(0, 1))(p, x)
    for k in ("W", "b"):
        np.testing.assert_allclose(g_ck[0][k], g[0][k], rtol=1e-12)
    np.testing.assert_allclose(g_ck[1], g[1], rtol=1e-12)
    tp = {"W": RNG.standard_normal((3, 4)), "b": RNG.standard_normal(4)}
    tx = RNG.standard_normal((2, 3))
    _, d = ad.jvp(fn, (p, x), (tp, tx))
    _, d_ck = ad.jvp(fn_ck, (p, x), (tp, tx))
    np.testing.assert_allclose(d_ck, d, rtol=1e-12)


def test_checkpoint_nests_and_runs_the_inside_once_per_backward():
    calls = []

    def inner(x):
        calls.append(1)
        return ad.sin(x) * x

    outer = checkpoint(lambda x: checkpoint(inner)(x) ** 2)
    x = np.array([0.3, -1.2, 2.0])
    g = ad.grad(lambda x: ad.sum(outer(x)))(x)
    ref = ad.grad(lambda x: ad.sum((ad.sin(x) * x) ** 2))(x)
    np.testing.assert_allclose(g, ref, rtol=1e-12)
    calls.clear()
    ck = checkpoint(inner)
    ad.grad(lambda x: ad.sum(ck(x)))(x)
    assert len(calls) == 2          # forward, then one recomputation in the backward pass


# ------------------------------------------------------------------------------ second order
def test_checkpoint_second_derivatives_match_plain():
    p = {"W": RNG.standard_normal((3, 4)), "b": RNG.standard_normal(4)}
    x = RNG.standard_normal((2, 3))
    ck_block = checkpoint(_block)
    fn = lambda x: ad.sum(_block(p, x)["h"] ** 3) + _block(p, x)["s"]
    fn_ck = lambda x: ad.sum(ck_block(p, x)["h"] ** 3) + ck_block(p, x)["s"]
    np.testing.assert_allclose(ad.hessian(fn_ck)(x), ad.hessian(fn)(x), rtol=1e-12, atol=1e-14)
    v = RNG.standard_normal((2, 3))
    for mode in ("fwd-rev", "rev-rev", "rev-fwd"):
        np.testing.assert_allclose(ad.hvp(fn_ck, (x,), (v,), mode=mode),
                                   ad.hvp(fn, (x,), (v,), mode=mode), rtol=1e-12, atol=1e-14,
                                   err_msg=mode)
    # nested checkpoints, differentiated twice
    outer = checkpoint(lambda x: checkpoint(lambda y: ad.sin(y) * y)(x) ** 2)
    xs = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(ad.hessian(lambda x: ad.sum(outer(x)))(xs),
                               ad.hessian(lambda x: ad.sum((ad.sin(x) * x) ** 2))(xs),
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_hyper_hessian_checkpointed_matches_plain_and_finite_differences(momentum):
    obj = lambda every: (lambda z: hyper_objective(z[0], z[1], steps=12, momentum=momentum,
                                                   every=every))
    z = np.array([0.05, 0.1])
    plain = ad.hessian(obj(None))(z)
    for every in (1, 5):
        np.testing.assert_allclose(ad.hessian(obj(every))(z), plain, rtol=1e-10, atol=1e-12)
    g = ad.grad(obj(5))
    eps = 1e-6
    fd = np.array([(np.asarray(g(z + eps * e)) - np.asarray(g(z - eps * e))) / (2 * eps)
                   for e in np.eye(2)])
    np.testing.assert_allclose(plain, fd, rtol=1e-5, atol=1e-8)
    # grad of a hypergradient (rev-rev) and forward-over-reverse through the checkpoints
    d2 = ad.grad(ad.grad(lambda lr: hyper_objective(lr, 0.1, steps=12, momentum=momentum,
                                                    every=4)))(0.05)
    np.testing.assert_allclose(d2, plain[0, 0], rtol=1e-10)
    hv = ad.hvp(obj(5), (z,), (np.array([1.0, -2.0]),), mode="fwd-rev")
    np.testing.assert_allclose(hv, plain @ np.array([1.0, -2.0]), rtol=1e-10)
