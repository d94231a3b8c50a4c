"""pyad.implicit (response_jacobian, argmin), pyad.unrolled (SGD/momentum unrolls, checkpoint)
and the HessianFree optimiser on array_api_strict arrays: each call agrees with the same call
on numpy, the results come back as strict arrays, and mixing numpy and strict inputs raises.

array-api-strict arrays refuse numpy here (``__array__`` raises), so a numpy call that leaks
into these paths fails on the CPU instead of on a GPU."""
import array_api_strict as xp
import numpy as np
import pytest

import pyad as ad
from pyad import backend
from pyad.hessian_free import HessianFree
from pyad.implicit import argmin, response_jacobian
from pyad.unrolled import checkpoint, sgd_step, unroll_sgd
from backend_checks import no_numpy_conversion  # noqa: F401  (autouse)

RTOL = 1e-10
RNG = np.random.default_rng(0)
X = RNG.standard_normal((25, 5))
Y = RNG.standard_normal(25)
XV = RNG.standard_normal((15, 5))
YV = RNG.standard_normal(15)
LAM = np.array([0.3, 1.0, 2.0, 0.5, 0.1])


def strict(a):
    return xp.asarray(np.array(a, dtype=np.float64, order="C", copy=True))


def numpy(a):
    return np.asarray(a, dtype=np.float64)


def is_strict(a):
    return type(a) is type(xp.asarray(0.0))


def data(x):
    return x.data if isinstance(x, ad.Tensor) else x


def assert_strict_like(got, want, what=""):
    """Every leaf of got is a strict array (or a Tensor on one) equal to want's leaf."""
    g_leaves, g_td = ad.tree_flatten(got)
    w_leaves, w_td = ad.tree_flatten(want)
    assert g_td == w_td, what
    for g, w in zip(g_leaves, w_leaves):
        g, w = data(g), data(w)
        assert is_strict(g), f"{what}: a {type(g).__name__} came back for strict inputs"
        g = backend.to_host(g)
        assert g.shape == np.shape(w) and g.dtype == np.asarray(w).dtype, what
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=1e-14, err_msg=what)


# ============================================================================ implicit
def ridge(conv):
    """1/2 ||X w - y||^2 + 1/2 sum(lam w^2) and its closed-form minimiser, on conv's arrays."""
    xa, ya = ad.tensor(conv(X)), ad.tensor(conv(Y))
    xtx, xty = conv(X.T @ X), conv(X.T @ Y)

    def loss(w, lam):
        return 0.5 * ad.sum((xa @ w - ya) ** 2) + 0.5 * ad.sum(lam * w * w)

    def solver(lam):
        ns = backend.namespace(xtx)
        return ns.linalg.solve(xtx + ns.eye(5, dtype=xtx.dtype) * lam, xty)
    return loss, solver


@pytest.mark.parametrize("lam", [np.array(0.7), LAM], ids=["scalar", "vector"])
def test_response_jacobian_on_strict_arrays(lam):
    want = response_jacobian(*_ridge_at(numpy, lam))
    got = response_jacobian(*_ridge_at(strict, lam))
    assert_strict_like(got, want, "response_jacobian")


def _ridge_at(conv, lam):
    loss, solver = ridge(conv)
    return loss, solver(conv(lam)), conv(lam)


def test_response_jacobian_row_by_row_on_strict_arrays():
    # more hyperparameters than weights: one CG solve per weight, rows stacked on the backend
    def at(conv):
        loss, _ = ridge(conv)
        loss6 = lambda w, th: loss(w, th[:5]) + th[5] * ad.sum(w)
        w6 = np.linalg.solve(X.T @ X + np.diag(LAM), X.T @ Y - 0.2)
        return loss6, conv(w6), conv(np.append(LAM, 0.2))
    want = response_jacobian(*at(numpy))
    got = response_jacobian(*at(strict))
    assert want.shape == (5, 6)
    assert_strict_like(got, want, "response_jacobian rows")


def _val(conv, w_of):
    xv, yv = ad.tensor(conv(XV)), ad.tensor(conv(YV))
    return lambda lam: ad.mean((xv @ w_of(ad.exp(lam)) - yv) ** 2)


def test_argmin_value_and_derivatives_on_strict_arrays():
    results = {}
    for name, conv in (("numpy", numpy), ("strict", strict)):
        loss, solver = ridge(conv)
        w_of = argmin(loss, solver)
        val = _val(conv, w_of)
        lam, t, u = conv(LAM), conv(np.linspace(-1.0, 1.0, 5)), conv(np.arange(5.0))
        out = {"w": w_of(lam), "grad": ad.grad(val)(lam)}
        out["jvp"] = ad.jvp(w_of, (lam,), (t,))
        out["jvp_val"] = ad.jvp(val, (lam,), (t,))[1]
        out["vjp"] = ad.vjp(w_of, lam)[1](u)
        out["hessian"] = ad.hessian(val)(conv(np.array(-0.5)))
        results[name] = out
    for key, want in results["numpy"].items():
        assert_strict_like(results["strict"][key], want, f"argmin {key}")


def test_argmin_solver_answer_joins_theta_backend():
    # a solver returning a list gives w* on theta's backend
    w_of = argmin(lambda w, t: 0.5 * ad.sum((w - 3.0) ** 2) + 0.5 * t * ad.sum(w ** 2),
                  lambda t: [1.5, 1.5])
    w = w_of(strict(1.0))
    assert is_strict(w.data)
    g = ad.grad(lambda t: ad.sum(w_of(t)))(strict(1.0))
    assert is_strict(g) and float(g) == pytest.approx(-1.5, rel=1e-10)


# ============================================================================ unrolled
XT = RNG.standard_normal((30, 4))
YT = XT @ RNG.standard_normal(4) + 0.1 * RNG.standard_normal(30)
W_INIT = RNG.standard_normal(4)


def losses(conv):
    xt, yt = ad.tensor(conv(XT)), ad.tensor(conv(YT))
    xv, yv = ad.tensor(conv(XV[:, :4])), ad.tensor(conv(YV))
    return (lambda w: ad.mean((xt @ w - yt) ** 2)), (lambda w: ad.mean((xv @ w - yv) ** 2))


@pytest.mark.parametrize("every", [None, 3])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_unroll_sgd_on_strict_arrays(momentum, every):
    results = {}
    for name, conv in (("numpy", numpy), ("strict", strict)):
        train, val = losses(conv)
        w0 = conv(W_INIT)

        def obj(lr, wd, scale):
            return val(unroll_sgd(train, scale * w0, lr, 10, momentum=momentum,
                                  weight_decay=wd, checkpoint_every=every))
        out = {"w": unroll_sgd(train, w0, 0.05, 10, momentum=momentum, weight_decay=0.01,
                               checkpoint_every=every),
               "grad": ad.grad(obj, argnums=(0, 1, 2))(conv(0.05), conv(0.01), conv(1.0))}
        sched = conv(np.linspace(0.08, 0.01, 10))
        sobj = lambda s: val(unroll_sgd(train, w0, s, 10, momentum=momentum,
                                        checkpoint_every=every))
        out["schedule_grad"] = ad.grad(sobj)(sched)
        out["schedule_jvp"] = ad.jvp(sobj, (sched,), (conv(np.linspace(1.0, -1.0, 10)),))[1]
        out["hessian"] = ad.hessian(lambda z: obj(z[0], z[1], conv(1.0)))(conv([0.05, 0.01]))
        results[name] = out
    for key, want in results["numpy"].items():
        assert_strict_like(results["strict"][key], want, f"unroll_sgd {key}")


def test_sgd_step_and_checkpoint_on_strict_arrays():
    results = {}
    for name, conv in (("numpy", numpy), ("strict", strict)):
        train, _ = losses(conv)
        out = {"step": sgd_step(train, conv(W_INIT), conv(np.zeros(4)), 0.05, 0.9, 0.01)}
        p = {"W": conv(XT[:3]), "b": conv(YT[:4])}
        x = conv(XV[:2, :3])

        def block(p, x):
            h = ad.tanh(x @ p["W"] + p["b"])
            return {"h": h, "s": ad.sum(h * h)}
        ck = checkpoint(block)
        f = lambda p, x: ad.sum(ck(p, x)["h"] ** 3) + ck(p, x)["s"]
        out["value"] = f(p, x)
        out["grad"] = ad.grad(f, argnums=(0, 1))(p, x)
        out["jvp"] = ad.jvp(f, (p, x), ({"W": conv(XV[:3, :4]), "b": conv(YV[:4])},
                                        conv(XT[:2, :3])))[1]
        results[name] = out
    for key, want in results["numpy"].items():
        assert_strict_like(results["strict"][key], want, f"unrolled {key}")


# ============================================================================ HessianFree
def mlp_problem(conv):
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, (60, 2))
    y = np.sin(x[:, 0]) * np.cos(x[:, 1])
    p0 = {"W1": rng.standard_normal((2, 8)) * 0.8, "b1": np.zeros(8),
          "W2": rng.standard_normal((8, 1)) * 0.3, "b2": np.zeros(1)}
    xa = ad.tensor(conv(x))

    def mlp(p):
        h = ad.tanh(xa @ p["W1"] + p["b1"])
        return (h @ p["W2"] + p["b2"])[:, 0]
    return mlp, ad.losses.MSE(conv(y)), {k: conv(v) for k, v in p0.items()}


def linear_problem(conv):
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((40, 6)), rng.standard_normal(40)
    xa = ad.tensor(conv(x))
    return (lambda p: xa @ p["w"] + p["b"]), ad.losses.MSE(conv(y)), \
        {"w": conv(np.zeros(6)), "b": conv(np.zeros(1))}


INFO_KEYS = ("loss", "new_loss", "rho", "damping", "damping_used", "cg_iterations",
             "negative_curvature", "step_size", "accepted")


@pytest.mark.parametrize("problem,curvature,steps", [
    (linear_problem, "gauss-newton", 1), (linear_problem, "hessian", 1),
    (mlp_problem, "gauss-newton", 3), (mlp_problem, "hessian", 2)],
    ids=["linear-gn", "linear-hessian", "mlp-gn", "mlp-hessian"])
def test_hessian_free_steps_on_strict_arrays(problem, curvature, steps):
    results = {}
    for name, conv in (("numpy", numpy), ("strict", strict)):
        model, loss, p = problem(conv)
        hf = HessianFree(damping=1e-3 if steps == 1 else 1.0, curvature=curvature,
                         cg_tol=1e-12 if steps == 1 else 1e-4, cg_warm_start=0.5)
        infos = []
        for _ in range(steps):
            p, info = hf.step(model, loss, p)
            infos.append(info)
        results[name] = p, infos
    (p_np, i_np), (p_s, i_s) = results["numpy"], results["strict"]
    assert_strict_like(p_s, p_np, "HessianFree params")
    for a, b in zip(i_s, i_np):
        for k in INFO_KEYS:
            assert a[k] == pytest.approx(b[k], rel=RTOL, abs=1e-14), k
    assert i_s[-1]["accepted"]


def test_hessian_free_updates_strict_tensors_in_place():
    def run(conv):
        model, loss, p = linear_problem(conv)
        params = [ad.tensor(p["w"], requires_grad=True), ad.tensor(p["b"], requires_grad=True)]
        out, info = HessianFree(damping=0.0, cg_tol=1e-12).step(
            lambda ps: model({"w": ps[0], "b": ps[1]}), loss, params)
        assert out is params and info["accepted"]
        return [t.data for t in params]
    assert_strict_like(run(strict), run(numpy), "HessianFree in place")


# ============================================================================ mixing
def _mixed_argmin():
    loss, _ = ridge(strict)
    w_of = argmin(loss, lambda lam: np.zeros(5))          # numpy answer for a strict theta
    w_of(strict(LAM))


def _mixed_hessian_free():
    model, loss, p = linear_problem(strict)
    HessianFree().step(model, loss, {"w": p["w"], "b": np.zeros(1)})


def _mixed_unroll():
    train, _ = losses(strict)
    unroll_sgd(train, strict(W_INIT), np.full(4, 0.05), 4, checkpoint_every=2)


MIXED = {
    "response_jacobian": lambda: response_jacobian(ridge(strict)[0], strict(np.ones(5)), LAM),
    "response_jacobian-numpy-w": lambda: response_jacobian(ridge(numpy)[0], np.ones(5),
                                                           strict(LAM)),
    "argmin": _mixed_argmin,
    "unroll_sgd": lambda: unroll_sgd(losses(strict)[0], strict(W_INIT), np.array(0.05), 3),
    "unroll_sgd-checkpoint": _mixed_unroll,
    "checkpoint": lambda: checkpoint(lambda a, b: a * b)(strict([1.0]), np.ones(1)),
    "hessian_free": _mixed_hessian_free,
}


@pytest.mark.parametrize("name", sorted(MIXED))
def test_mixing_numpy_and_strict_inputs_raises(name):
    with pytest.raises(TypeError, match="different backends") as err:
        MIXED[name]()
    assert "numpy.ndarray" in str(err.value) and "array_api_strict" in str(err.value)
