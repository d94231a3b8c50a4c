"""The activation family (pyad/ops/activations.py) against PyTorch, in float64: values, VJPs,
JVPs and second derivatives of gelu (both variants), silu, leaky_relu, elu and log_sigmoid on
random inputs that include exactly 0, where leaky_relu'(0) = negative_slope and elu'(0) = alpha
(torch's backward conventions), and far tails; and the errors for a bad approximate and for
complex inputs. Skipped when torch is not installed."""
import numpy as np
import pytest

import pyad as ad

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = dict(rtol=1e-12, atol=1e-12)

# name -> (pyad function, torch function)
CASES = {
    "gelu": (ad.gelu, F.gelu),
    "gelu-tanh": (lambda x: ad.gelu(x, approximate="tanh"),
                  lambda x: F.gelu(x, approximate="tanh")),
    "silu": (ad.silu, F.silu),
    "leaky_relu": (ad.leaky_relu, F.leaky_relu),
    "leaky_relu-0.2": (lambda x: ad.leaky_relu(x, negative_slope=0.2),
                       lambda x: F.leaky_relu(x, negative_slope=0.2)),
    "leaky_relu--1.5": (lambda x: ad.leaky_relu(x, -1.5),
                        lambda x: F.leaky_relu(x, negative_slope=-1.5)),
    "elu": (ad.elu, F.elu),
    "elu-0.5": (lambda x: ad.elu(x, alpha=0.5), lambda x: F.elu(x, alpha=0.5)),
    "elu-2": (lambda x: ad.elu(x, 2.0), lambda x: F.elu(x, alpha=2.0)),
    "log_sigmoid": (ad.log_sigmoid, F.logsigmoid),
}


def _inputs():
    rng = np.random.default_rng(15)
    special = [0.0, -0.0, 0.0, 1e-8, -1e-8, 0.5, -0.5, 6.0, -6.0, 12.0, -12.0, 30.0, -30.0]
    return np.concatenate([rng.standard_normal(200) * 3.0, special])


def _torch_derivatives(f, x, u, w):
    """f(x), the VJP of u, and the VJP of x -> <VJP(u)(x), w> (a second-derivative product)."""
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y = f(xt)
    g, = torch.autograd.grad(y, xt, torch.tensor(u), create_graph=True)
    h, = torch.autograd.grad(g, xt, torch.tensor(w), allow_unused=True, materialize_grads=True)
    return y.detach().numpy(), g.detach().numpy(), h.numpy()


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_derivatives_match_torch(name):
    f, tf = CASES[name]
    x = _inputs()
    rng = np.random.default_rng(1)
    u, w, v = (rng.standard_normal(x.shape) for _ in range(3))
    want_y, want_g, want_h = _torch_derivatives(tf, x, u, w)

    y, vjp_fn = ad.vjp(f, x)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, want_y, **TOL, err_msg=f"{name}: value")
    g, = vjp_fn(u)
    np.testing.assert_allclose(g, want_g, **TOL, err_msg=f"{name}: VJP")
    # the Jacobian is diagonal: the JVP of v is the VJP of v
    _, t = ad.jvp(f, (x,), (v,))
    _, want_t, _ = _torch_derivatives(tf, x, v, w)
    np.testing.assert_allclose(t, want_t, **TOL, err_msg=f"{name}: JVP")

    def vjp_dot(x):
        _, vjp_x = ad.vjp(f, x)
        return ad.sum(vjp_x(u)[0] * w)
    np.testing.assert_allclose(ad.grad(vjp_dot)(x), want_h, **TOL,
                               err_msg=f"{name}: second derivative")


@pytest.mark.parametrize("name,slope", [("leaky_relu", 0.01), ("leaky_relu-0.2", 0.2),
                                        ("leaky_relu--1.5", -1.5), ("elu", 1.0),
                                        ("elu-0.5", 0.5), ("elu-2", 2.0)])
def test_derivative_at_zero_is_the_slope_branch(name, slope):
    """torch's convention at the kink: x > 0 ? g : g * slope (alpha for elu)."""
    f, tf = CASES[name]
    x = np.array([0.0, -0.0])
    g = ad.grad(lambda x: ad.sum(f(x)))(x)
    np.testing.assert_array_equal(g, [slope, slope])
    _, want, _ = _torch_derivatives(tf, x, np.ones(2), np.ones(2))
    np.testing.assert_array_equal(g, want)


@pytest.mark.parametrize("name", sorted(CASES))
def test_far_tails_are_finite_and_match_torch(name):
    f, tf = CASES[name]
    x = np.array([-700.0, -100.0, -40.0, 40.0, 100.0, 700.0])
    with np.errstate(all="raise"):
        y = f(x).numpy()
        g = ad.grad(lambda x: ad.sum(f(x)))(x)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(g)), (name, y, g)
    want_y, want_g, _ = _torch_derivatives(tf, x, np.ones(x.shape), np.ones(x.shape))
    np.testing.assert_allclose(y, want_y, **TOL, err_msg=f"{name}: value")
    np.testing.assert_allclose(g, want_g, **TOL, err_msg=f"{name}: derivative")


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_stays_float32(name):
    f, _ = CASES[name]
    x = np.linspace(-3.0, 3.0, 7, dtype=np.float32)
    assert f(x).dtype == np.float32
    assert ad.grad(lambda x: ad.sum(f(x)))(x).dtype == np.float32


def test_integer_inputs_become_float64():
    assert ad.gelu(np.array([1, 2])).dtype == np.float64
    np.testing.assert_allclose(ad.elu(np.array([-1, 2])).numpy(), [np.expm1(-1.0), 2.0])


@pytest.mark.parametrize("bad", ["erf", "Tanh", None, ""])
def test_gelu_refuses_an_unknown_approximation(bad):
    with pytest.raises(ValueError, match=r"pyad\.gelu: approximate must be 'none' or 'tanh', "
                                         r"got " + repr(repr(bad))[1:-1]):
        ad.gelu(np.ones(3), approximate=bad)


@pytest.mark.parametrize("name", ["gelu", "silu", "leaky_relu", "elu", "log_sigmoid"])
def test_complex_input_is_refused_naming_the_op(name):
    z = np.array([1.0 + 2.0j, -0.5j])
    with pytest.raises(TypeError, match=rf"pyad\.{name}: complex inputs are not supported"):
        getattr(ad, name)(z)


@pytest.mark.parametrize("call", [lambda x: ad.leaky_relu(x, negative_slope=np.ones(2)),
                                  lambda x: ad.elu(x, alpha="1"),
                                  lambda x: ad.elu(x, alpha=ad.tensor(1.0))],
                         ids=["slope-array", "alpha-str", "alpha-tensor"])
def test_params_must_be_python_numbers(call):
    with pytest.raises(TypeError, match=r"pyad\.(leaky_relu|elu): (negative_slope|alpha) "
                                        r"must be a real Python number"):
        call(np.ones(2))
