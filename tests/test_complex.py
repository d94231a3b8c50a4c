"""Complex numbers through the tape (pyad/ops/complex.py): autograd's convention on programs
mixing holomorphic and non-holomorphic steps, holomorphic_grad, forward mode and second order,
numpy's complex functions on Tensors, and clear errors where pyad has no complex rule."""
import numpy as np
import pytest

import pyad as ad
import pyad.numpy as pnp

Z = np.array([[1 + 2j, 0.5 - 1j], [2 - 0.3j, -1 + 1j]])
W = np.array([[0.3 + 1j, 1 - 1j], [0.2 + 0.1j, 1.5 + 0j]])


def program(np_):
    """A real-valued function of complex Z: moduli, conjugates, parts, holomorphic steps."""
    def f(z):
        h = np_.tanh(np_.dot(z, W)) / (z + 2.0)
        return (np_.sum(np_.abs(h) ** 2) + np_.sum(np_.imag(np_.sqrt(z) * np_.conj(z)))
                + np_.real(np_.mean(np_.exp(z) / z)) + np_.sum(np_.angle(z) * np_.real(z)))
    return f


def test_grad_of_a_real_function_of_complex_inputs_is_autograds():
    autograd = pytest.importorskip("autograd", reason="compared with autograd where installed")
    import autograd.numpy as anp
    np.testing.assert_allclose(ad.grad(program(pnp))(Z), autograd.grad(program(anp))(Z),
                               rtol=1e-12)


def test_convention_on_closed_forms():
    z = np.array(1.0 + 2.0j)
    np.testing.assert_allclose(ad.grad(lambda z: ad.abs(z) ** 2)(z), 2 * np.conj(z))  # 2x - 2iy
    np.testing.assert_allclose(ad.grad(lambda z: ad.real(z * z))(z), 2 * z)           # 2z
    np.testing.assert_allclose(ad.holomorphic_grad(lambda z: ad.exp(z) * ad.sin(z))(z),
                               np.exp(z) * (np.sin(z) + np.cos(z)), rtol=1e-14)
    with pytest.raises(TypeError, match="holomorphic_grad"):
        ad.grad(lambda z: z * z)(z)               # a complex output needs holomorphic_grad
    with pytest.raises(TypeError, match="complex functions of complex inputs"):
        ad.holomorphic_grad(lambda x: x * x)(np.array(2.0))


def _real_view(f):
    """f of a complex array as a function of its stacked real and imaginary parts."""
    return lambda xy: f(xy[0] + 1j * xy[1])


def test_derivatives_of_every_order_and_mode():
    xy = np.stack([Z.real, Z.imag])
    ad.check_grads(_real_view(program(pnp)), [xy], order=2, rtol=1e-6)
    ad.check_grads(program(pnp), [Z], order=2, rtol=1e-6)        # complex directions
    autograd = pytest.importorskip("autograd", reason="compared with autograd where installed")
    import autograd.numpy as anp
    np.testing.assert_allclose(ad.hessian(_real_view(program(pnp)))(xy),
                               autograd.hessian(_real_view(program(anp)))(xy), rtol=1e-10)


def test_complex_forward_values_are_numpys():
    np.testing.assert_allclose(ad.mean(Z).data, np.mean(Z), rtol=1e-15)
    np.testing.assert_allclose(ad.divide(1.0, ad.tensor(Z)).data, 1.0 / Z, rtol=1e-15)
    np.testing.assert_allclose(ad.divide(ad.tensor(Z), 2).data, Z / 2, rtol=1e-15)
    np.testing.assert_allclose(ad.angle(Z, deg=True).data, np.angle(Z, deg=True), rtol=1e-15)
    assert ad.iscomplexobj(Z) and not ad.isrealobj(Z) and ad.isrealobj(np.ones(2))
    np.testing.assert_array_equal(ad.iscomplex(np.array([1 + 0j, 1j])).data, [False, True])
    np.testing.assert_array_equal(pnp.real(ad.tensor(Z)).data, Z.real)
    np.testing.assert_array_equal(ad.imag(np.ones(2)).data, np.zeros(2))
    assert ad.real(np.ones(2)).dtype == np.float64 and ad.conj(np.ones(2)).dtype == np.float64


@pytest.mark.parametrize("call,name", [
    (lambda z: ad.relu(z), "relu"),
    (lambda z: ad.maximum(z, 0.5), "maximum"),
    (lambda z: ad.var(z), "var"),
    (lambda z: ad.logsumexp(z), "logsumexp"),
    (lambda z: ad.softmax(z), "softmax"),
    (lambda z: ad.clip(z, 0.0, 1.0), "clip"),
    (lambda z: ad.cumsum(z), "cumsum"),
    (lambda z: ad.linalg.inv(z), "inv"),
])
def test_operations_without_complex_rules_refuse_complex_inputs(call, name):
    """Never a guess: a row whose complex meaning pyad does not compute names itself."""
    with pytest.raises(TypeError, match=rf"pyad\.[\w.]*{name}\w*: (complex inputs are not "
                                        rf"supported|arrays of dtype complex128 are not)"):
        ad.grad(lambda z: ad.sum(ad.abs(call(z))))(Z)
