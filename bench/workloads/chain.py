"""Workload `chain`: 1000 x h = tanh(0.9*h + 0.1) on a float64 16-vector, grad of sum(h) w.r.t. h0."""
import numpy as np

from bench.workloads import framework

STEPS, SIZE = 1000, 16
UNIT, PER_CALL = "us/step", STEPS
BASELINE, REFERENCE = "pyad", "numpy"
FRAMEWORKS = {}
H0 = np.random.default_rng(0).uniform(-1, 1, SIZE)


def forward_backward_np(h0):
    """Hand-written numpy forward + backward: (sum(h_final), d sum / d h0)."""
    h, ys = h0, []
    for _ in range(STEPS):
        h = np.tanh(0.9 * h + 0.1)
        ys.append(h)
    g = np.ones_like(h)
    for y in reversed(ys):
        g = g * (1.0 - y * y) * 0.9
    return h.sum(), g


VALUE, GRAD = forward_backward_np(H0)


def verify(case, fw, out):
    """Relative check only: after 1000 contracting steps the gradient is ~1e-171."""
    want = VALUE if fw == "numpy" else GRAD
    np.testing.assert_allclose(out, want, rtol=1e-9, atol=0, err_msg=f"chain/{fw}")


def _loop(tanh, h):
    for _ in range(STEPS):
        h = tanh(0.9 * h + 0.1)
    return h


@framework(FRAMEWORKS, "pyad", needs=["pyad"])
def _pyad():
    import pyad as ad
    g = ad.grad(lambda h: ad.sum(_loop(ad.tanh, h)))
    return {"chain": lambda: g(H0)}


@framework(FRAMEWORKS, "pyad-compiled", needs=["pyad"])
def _pyad_compiled():
    """ad.compile(ad.grad(f)): the recorded kernels replayed, no tracing or tape."""
    import pyad as ad
    g = ad.compile(ad.grad(lambda h: ad.sum(_loop(ad.tanh, h))))
    g(H0), g(H0)        # record and check, outside the timing
    return {"chain": lambda: g(H0)}


@framework(FRAMEWORKS, "pyad-backward", needs=["pyad"])
def _pyad_backward():
    import pyad as ad

    def step():
        x = ad.tensor(H0, requires_grad=True)
        ad.sum(_loop(ad.tanh, x)).backward()
        return x.grad
    return {"chain": lambda: np.asarray(step())}


@framework(FRAMEWORKS, "torch", needs=["torch"])
def _torch():
    import torch
    x = torch.tensor(H0, dtype=torch.float64, requires_grad=True)

    def step():
        x.grad = None
        _loop(torch.tanh, x).sum().backward()
        return x.grad
    return {"chain": step}


@framework(FRAMEWORKS, "autograd", needs=["autograd"])
def _autograd():
    import autograd
    import autograd.numpy as anp
    g = autograd.grad(lambda h: anp.sum(_loop(anp.tanh, h)))
    return {"chain": lambda: g(H0)}


@framework(FRAMEWORKS, "jax-jit", needs=["jax", "jaxlib"])
def _jax():
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    g = jax.jit(jax.grad(lambda h: jnp.sum(_loop(jnp.tanh, h))))
    x = jax.device_put(H0)
    g(x).block_until_ready()  # compile once, outside the timing
    return {"chain": lambda: g(x).block_until_ready()}


@framework(FRAMEWORKS, "numpy", needs=["numpy"])
def _numpy():
    """Forward only, no autodiff: the cost of the 3000 numpy calls themselves."""
    return {"chain": lambda: _loop(np.tanh, H0).sum()}


@framework(FRAMEWORKS, "numpy-fwd+bwd", needs=["numpy"])
def _numpy_manual():
    """Hand-written backward in numpy: what an autodiff tape costs at best in numpy calls."""
    return {"chain": lambda: forward_backward_np(H0)[1]}
