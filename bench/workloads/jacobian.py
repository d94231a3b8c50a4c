"""Workload `jacobian`: the dense 1000 x 10 Jacobian of f(x) = tanh(W2 tanh(W1 x)), x in R^10,
W1 of 100 x 10, W2 of 1000 x 100, float64. Forward mode needs 10 passes, reverse mode 1000
sweeps; pyad's mode="auto" should pick forward. torch.func and jax (jitted) for reference,
and the closed form diag(1 - y^2) W2 diag(1 - h^2) W1 in numpy."""
import numpy as np

from bench.workloads import framework

N_IN, HIDDEN, N_OUT = 10, 100, 1000
UNIT, PER_CALL = "us", 1
BASELINE, REFERENCE = "pyad-auto", "numpy"
FRAMEWORKS = {}

_rng = np.random.default_rng(2)
W1 = _rng.standard_normal((HIDDEN, N_IN)) / np.sqrt(N_IN)
W2 = _rng.standard_normal((N_OUT, HIDDEN)) / np.sqrt(HIDDEN)
X0 = _rng.standard_normal(N_IN)


def jac_np(x):
    h = np.tanh(W1 @ x)
    y = np.tanh(W2 @ h)
    return ((1 - y * y)[:, None] * W2) @ ((1 - h * h)[:, None] * W1)


REF = jac_np(X0)


def verify(case, fw, out):
    np.testing.assert_allclose(out, REF, rtol=1e-10, atol=1e-12, err_msg=f"jacobian/{fw}")


def _pyad(mode):
    def setup():
        import pyad as ad
        jac = ad.jacobian(lambda x: ad.tanh(W2 @ ad.tanh(W1 @ x)), mode=mode)
        return {"jacobian": lambda: jac(X0)}
    return setup


for _m in ("auto", "fwd", "rev"):
    framework(FRAMEWORKS, f"pyad-{_m}", needs=["pyad"])(_pyad(_m))


def _torch(kind):
    def setup():
        import torch
        from torch import func
        w1, w2, x = (torch.from_numpy(a) for a in (W1, W2, X0))
        jac = getattr(func, kind)(lambda x: torch.tanh(w2 @ torch.tanh(w1 @ x)))
        return {"jacobian": lambda: jac(x)}
    return setup


def _jax(kind):
    def setup():
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        w1, w2, x = (jnp.asarray(a) for a in (W1, W2, X0))
        jac = jax.jit(getattr(jax, kind)(lambda x: jnp.tanh(w2 @ jnp.tanh(w1 @ x))))
        jac(x).block_until_ready()
        return {"jacobian": lambda: jac(x).block_until_ready()}
    return setup


for _k in ("jacfwd", "jacrev"):
    framework(FRAMEWORKS, f"torch.func.{_k}", needs=["torch"])(_torch(_k))
    framework(FRAMEWORKS, f"jax.{_k}-jit", needs=["jax", "jaxlib"])(_jax(_k))


@framework(FRAMEWORKS, "numpy", needs=["numpy"])
def _numpy():
    """The closed form, for scale."""
    return {"jacobian": lambda: jac_np(X0)}
