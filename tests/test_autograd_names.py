"""autograd's differential operators under their names (pyad/transforms/autograd_names.py):
each gives what autograd gives on the same program (autograd is installed in CI; where it is
not, the closed forms below are checked alone)."""
import numpy as np
import pytest

import pyad as ad
import pyad.numpy as pnp

X = np.array([0.3, -1.2, 2.0])
V = np.array([1.0, 0.5, -2.0])


def program(np_):
    """A small scalar program written against a numpy module (pyad's or autograd's)."""
    return lambda x, y=1.5: np_.sum(np_.tanh(x) * y + np_.exp(0.3 * x) * x ** 2)


def elementwise(np_):
    return lambda x: np_.sin(x) * x


CASES = {
    "elementwise_grad": lambda m, np_: m.elementwise_grad(elementwise(np_))(X),
    "deriv": lambda m, np_: m.deriv(elementwise(np_))(X),
    "make_vjp": lambda m, np_: m.make_vjp(elementwise(np_))(X)[0](V),
    "make_vjp value": lambda m, np_: m.make_vjp(elementwise(np_))(X)[1],
    "make_jvp": lambda m, np_: m.make_jvp(elementwise(np_))(X)(V)[1],
    "make_hvp": lambda m, np_: m.make_hvp(program(np_))(X)[0](V),
    "make_hvp grad": lambda m, np_: m.make_hvp(program(np_))(X)[1],
    "hessian_tensor_product": lambda m, np_: m.hessian_tensor_product(program(np_))(X, V),
    "hessian_vector_product": lambda m, np_: m.hessian_vector_product(program(np_))(X, V),
    "tensor_jacobian_product": lambda m, np_: m.tensor_jacobian_product(elementwise(np_))(X, V),
    "vector_jacobian_product": lambda m, np_: m.vector_jacobian_product(elementwise(np_))(X, V),
    "grad argnum=1": lambda m, np_: m.grad(program(np_), 1)(X, 1.5),
    "grad_and_aux": lambda m, np_: m.grad_and_aux(
        lambda x: (program(np_)(x), np_.sum(x)))(X)[0],
    "grad_named": lambda m, np_: m.grad_named(program(np_), "y")(X, 1.5),
    "make_ggnvp": lambda m, np_: m.make_ggnvp(lambda w: np_.tanh(w) * 2.0)(X)(V),
    "value_and_grad": lambda m, np_: m.value_and_grad(program(np_))(X)[1],
    "jacobian": lambda m, np_: m.jacobian(elementwise(np_))(X),
    "hessian": lambda m, np_: m.hessian(program(np_))(X),
}


@pytest.mark.parametrize("name", CASES)
def test_same_as_autograd(name):
    autograd = pytest.importorskip("autograd", reason="compared with autograd where installed")
    import autograd.numpy as anp
    ours = CASES[name](ad, pnp)
    theirs = CASES[name](autograd, anp)
    np.testing.assert_allclose(np.asarray(ours, dtype=np.float64), theirs, rtol=1e-12,
                               atol=1e-14, err_msg=name)


def test_closed_forms():
    np.testing.assert_allclose(ad.elementwise_grad(pnp.sin)(X), np.cos(X), rtol=1e-15)
    f = lambda x: ad.sum(x ** 3)                                    # noqa: E731
    hv, g = ad.make_hvp(f)(X)
    np.testing.assert_allclose(hv(V), 6 * X * V, rtol=1e-14)
    np.testing.assert_allclose(g, 3 * X ** 2, rtol=1e-14)
    pullback, value = ad.make_vjp(lambda x: x * x)(X)
    np.testing.assert_allclose(pullback(V), 2 * X * V)
    np.testing.assert_allclose(value, X * X)
    # autograd's own multigrad_dict needs the funcsigs backport: compared with grad instead
    grads = ad.multigrad_dict(program(pnp))(X, 1.5)
    np.testing.assert_array_equal(grads["x"], ad.grad(program(pnp))(X, 1.5))
    np.testing.assert_array_equal(grads["y"], ad.grad(program(pnp), 1)(X, 1.5))
    with pytest.raises(ValueError, match="no parameter 'z'"):
        ad.grad_named(lambda x, y: x * y, "z")
