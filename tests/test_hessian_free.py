"""pyad.hessian_free.HessianFree: exact Gauss-Newton steps, fast nonlinear fits, LM damping."""
import numpy as np
import pytest

import pyad as ad
from pyad.hessian_free import HessianFree

RNG = np.random.default_rng(0)


def _linear_problem():
    x = RNG.standard_normal((40, 6))
    y = RNG.standard_normal(40)
    model = lambda p: x @ p["w"] + p["b"]
    exact = np.linalg.lstsq(np.c_[x, np.ones(40)], y, rcond=None)[0]
    return model, ad.losses.MSE(y), {"w": np.zeros(6), "b": np.zeros(1)}, exact


@pytest.mark.parametrize("curvature", ["gauss-newton", "hessian"])
def test_one_undamped_step_solves_linear_least_squares(curvature):
    model, loss, p0, exact = _linear_problem()
    hf = HessianFree(damping=0.0, curvature=curvature, cg_tol=1e-12, cg_max_iter=50)
    p1, info = hf.step(model, loss, p0)
    np.testing.assert_allclose(np.r_[p1["w"], p1["b"]], exact, rtol=1e-9, atol=1e-12)
    assert info["accepted"] and info["step_size"] == 1.0
    assert info["rho"] == pytest.approx(1.0, abs=1e-9)     # the quadratic model is exact
    assert info["cg_iterations"] <= 7


def _mlp_problem():
    x = RNG.uniform(-2, 2, (100, 2))
    y = np.sin(x[:, 0]) * np.cos(x[:, 1])

    def mlp(p):
        h = ad.tanh(x @ p["W1"] + p["b1"])
        return (h @ p["W2"] + p["b2"])[:, 0]
    p0 = {"W1": RNG.standard_normal((2, 16)) * 0.8, "b1": np.zeros(16),
          "W2": RNG.standard_normal((16, 1)) * 0.3, "b2": np.zeros(1)}
    return mlp, ad.losses.MSE(y), p0


@pytest.mark.parametrize("curvature", ["gauss-newton", "hessian"])
def test_nonlinear_regression_much_faster_than_sgd(curvature):
    mlp, loss, p0 = _mlp_problem()
    f = lambda p: loss(mlp(p))
    hf = HessianFree(damping=1.0, curvature=curvature)
    p = p0
    losses = []
    for _ in range(15):
        p, info = hf.step(mlp, loss, p)
        losses.append(info["new_loss"])
    assert all(b <= a for a, b in zip(losses, losses[1:]))          # monotone
    q = p0
    for _ in range(15):
        g = ad.grad(f)(q)
        q = {k: q[k] - 0.2 * g[k] for k in q}
    assert losses[-1] < 0.1 * float(np.asarray(f(q).data))


def test_damping_adapts_by_reduction_ratio():
    mlp, loss, p0 = _mlp_problem()
    hf = HessianFree(damping=1.0)
    p = p0
    for _ in range(10):
        lam = hf.damping
        p, info = hf.step(mlp, loss, p)
        assert info["damping_used"] == lam
        expected = lam * 1.5 if info["rho"] < 0.25 else lam * 2 / 3 if info["rho"] > 0.75 else lam
        assert info["damping"] == pytest.approx(expected, rel=1e-15)
        assert info["rho"] == pytest.approx(info["actual_reduction"]
                                            / info["predicted_reduction"])


def test_bad_step_raises_damping_and_is_rejected_without_backtracking():
    # a tiny damping on a strongly nonlinear problem far from the optimum: the GN model
    # overshoots, rho < 1/4, lambda grows by 3/2; with backtrack=False the step is refused
    x = np.linspace(-1, 1, 20)
    y = np.exp(3 * x)
    model = lambda p: ad.exp(p["a"] * x)
    loss = ad.losses.MSE(y)
    hf = HessianFree(damping=1e-8, backtrack=False)
    p0 = {"a": np.array(0.0)}
    p1, info = hf.step(model, loss, p0)
    f = lambda a: np.mean((np.exp(a * x) - y) ** 2)
    if info["accepted"]:
        assert f(p1["a"]) < f(0.0)
    else:
        assert p1["a"] == 0.0 and info["step_size"] == 0.0
    if info["rho"] < 0.25:
        assert info["damping"] == pytest.approx(1.5e-8)
    # with backtracking the same situation still decreases the loss
    hf = HessianFree(damping=1e-8, backtrack=True)
    p1, info = hf.step(model, loss, p0)
    assert info["accepted"] and f(p1["a"]) < f(0.0)


def test_negative_curvature_stops_cg_and_grows_damping():
    # curvature="hessian" at a maximum (H = -I) with lambda < 1: H + lambda I is negative
    # definite, CG stops before its first step, no reduction is predicted, lambda *= 3/2
    model = lambda p: p["w"]
    loss = lambda z: ad.sum(ad.cos(z))
    hf = HessianFree(damping=0.1, curvature="hessian")
    p, info = hf.step(model, loss, {"w": np.array([0.01, -0.02])})
    assert info["negative_curvature"] and info["cg_iterations"] == 0
    assert info["damping"] == pytest.approx(0.15) and info["new_loss"] <= info["loss"]


def test_tensor_list_updated_in_place_and_state_dict():
    model, loss, _, exact = _linear_problem()
    params = [ad.tensor(np.zeros(6), requires_grad=True),
              ad.tensor(np.zeros(1), requires_grad=True)]
    hf = HessianFree(damping=0.0, cg_tol=1e-12)
    out, info = hf.step(lambda ps: model({"w": ps[0], "b": ps[1]}), loss, params)
    assert out is params
    np.testing.assert_allclose(np.r_[params[0].data, params[1].data], exact, rtol=1e-9,
                               atol=1e-12)
    sd = hf.state_dict()
    other = HessianFree().load_state_dict(sd)
    assert other.damping == hf.damping and other.cg_tol == 1e-12 and other.steps == 1


def test_bad_arguments():
    with pytest.raises(ValueError, match="curvature"):
        HessianFree(curvature="fisher")
    with pytest.raises(ValueError, match="damping"):
        HessianFree(damping=-1.0)
    with pytest.raises(ValueError, match="cg_max_iter"):
        HessianFree(cg_max_iter=0)
