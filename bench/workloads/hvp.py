"""Workload `hvp`: Hessian-vector product of the mean softmax cross-entropy of a 784-512-512-10
tanh MLP (batch 128, float64) with respect to all six parameter arrays, next to the same
framework's gradient (the /own grad column: an HVP costs a small multiple of a gradient).

Cases: `grad` (the gradient alone) and `hvp` (forward-over-reverse, each framework's usual
spelling); pyad adds its other modes and `hvp_fn apply` (the linearization hvp_fn(f, params)
recorded once in setup, then applied to a new vector each call; `hvp_fn build+apply` times
recording it and applying it once)."""
import numpy as np

from bench.workloads import framework

SIZES, BATCH = (784, 512, 512, 10), 128
NAMES = ("W0", "b0", "W1", "b1", "W2", "b2")
UNIT, PER_CALL = "ms", 1000
BASELINE, REFERENCE = "pyad", "numpy"
CASE_BASE = "grad"
FRAMEWORKS = {}

_rng = np.random.default_rng(1)
PARAMS, VS = {}, [{}, {}, {}]
for _i, (_a, _b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
    PARAMS[f"W{_i}"] = _rng.standard_normal((_a, _b)) * np.sqrt(1.0 / _a)
    PARAMS[f"b{_i}"] = 0.1 * _rng.standard_normal(_b)
    for _v in VS:
        _v[f"W{_i}"] = _rng.standard_normal((_a, _b))
        _v[f"b{_i}"] = _rng.standard_normal(_b)
X = _rng.standard_normal((BATCH, SIZES[0]))
Y = _rng.integers(0, SIZES[-1], BATCH)
V = VS[0]


def flat(tree):
    """A dict (or sequence in NAMES order) of arrays as one float64 vector."""
    leaves = [tree[k] for k in NAMES] if isinstance(tree, dict) else list(tree)
    return np.concatenate([np.asarray(t, dtype=np.float64).ravel() for t in leaves])


def grad_np(p):
    """Hand-written float64 gradient of the loss (a dict)."""
    hs = [X]
    for i in range(2):
        hs.append(np.tanh(hs[-1] @ p[f"W{i}"] + p[f"b{i}"]))
    z = hs[-1] @ p["W2"] + p["b2"]
    q = np.exp(z - z.max(1, keepdims=True))
    q /= q.sum(1, keepdims=True)
    q[np.arange(BATCH), Y] -= 1
    d = q / BATCH
    g = {}
    for i in (2, 1, 0):
        g[f"W{i}"], g[f"b{i}"] = hs[i].T @ d, d.sum(0)
        if i:
            d = (d @ p[f"W{i}"].T) * (1 - hs[i] ** 2)
    return g


def _reference():
    """The gradient, and H v by central differences of grad_np at steps 2e and e, Richardson-
    extrapolated (error O(e^4) + rounding; ~1e-11 of max |Hv| here)."""
    def central(eps):
        plus = grad_np({k: PARAMS[k] + eps * V[k] for k in NAMES})
        minus = grad_np({k: PARAMS[k] - eps * V[k] for k in NAMES})
        return (flat(plus) - flat(minus)) / (2 * eps)
    return {"grad": flat(grad_np(PARAMS)),
            "hvp": (4 * central(1e-5) - central(2e-5)) / 3}


_REF = {}


def verify(case, fw, out):
    if not _REF:
        _REF.update(_reference())
    want = _REF["grad" if case == "grad" else "hvp"]
    np.testing.assert_allclose(out, want, rtol=1e-6, atol=1e-7 * np.abs(want).max(),
                               err_msg=f"hvp/{case}/{fw}")


def _cycle(items):
    """A zero-argument callable returning items[0], items[1], ... round and round."""
    state = {"i": -1}

    def nxt():
        state["i"] = (state["i"] + 1) % len(items)
        return items[state["i"]]
    return nxt


@framework(FRAMEWORKS, "pyad", needs=["pyad"])
def _pyad():
    import pyad as ad
    from pyad import nn

    def loss(p):
        h = X
        for i in range(2):
            h = ad.tanh(h @ p[f"W{i}"] + p[f"b{i}"])
        return nn.softmax_cross_entropy(h @ p["W2"] + p["b2"], Y)
    g = ad.grad(loss)
    cases = {"grad": (lambda: g(PARAMS), lambda: flat(g(PARAMS)))}
    for mode in ("fwd-rev", "rev-rev", "rev-fwd"):
        fn = (lambda mode=mode: ad.hvp(loss, (PARAMS,), (V,), mode=mode))
        cases["hvp" if mode == "fwd-rev" else f"hvp {mode}"] = (fn, lambda fn=fn: flat(fn()))
    apply = ad.hvp_fn(loss, PARAMS)
    nxt = _cycle(VS)     # a new vector each call; the check sees VS[0] first
    cases["hvp_fn apply"] = (lambda: apply(nxt()), lambda: flat(apply(V)))
    build = (lambda: ad.hvp_fn(loss, PARAMS)(V))
    cases["hvp_fn build+apply"] = (build, lambda: flat(build()))
    return cases


@framework(FRAMEWORKS, "pyad-compiled", needs=["pyad"])
def _pyad_compiled():
    """pyad's grad, hvp (fwd-rev) and hvp_fn apply, each wrapped in ad.compile: recorded and
    checked in setup, then replayed."""
    import pyad as ad
    from pyad import nn

    def loss(p):
        h = X
        for i in range(2):
            h = ad.tanh(h @ p[f"W{i}"] + p[f"b{i}"])
        return nn.softmax_cross_entropy(h @ p["W2"] + p["b2"], Y)
    g = ad.compile(ad.grad(loss))
    hvp = ad.compile(lambda p, v: ad.hvp(loss, (p,), (v,)))
    apply = ad.compile(ad.hvp_fn(loss, PARAMS))
    for _ in range(2):
        g(PARAMS), hvp(PARAMS, V), apply(V)
    nxt = _cycle(VS)
    return {"grad": (lambda: g(PARAMS), lambda: flat(g(PARAMS))),
            "hvp": (lambda: hvp(PARAMS, nxt()), lambda: flat(hvp(PARAMS, V))),
            "hvp_fn apply": (lambda: apply(nxt()), lambda: flat(apply(V)))}


def _torch_setup():
    import torch
    import torch.nn.functional as F
    p = {k: torch.from_numpy(v) for k, v in PARAMS.items()}
    v = {k: torch.from_numpy(a) for k, a in V.items()}
    x, y = torch.from_numpy(X), torch.from_numpy(Y)

    def loss(p):
        h = x
        for i in range(2):
            h = torch.tanh(h @ p[f"W{i}"] + p[f"b{i}"])
        return F.cross_entropy(h @ p["W2"] + p["b2"], y)
    return torch, p, v, loss


@framework(FRAMEWORKS, "torch.func", needs=["torch"])
def _torch_func():
    """torch.func.grad, and torch.func.jvp of it (forward-over-reverse)."""
    torch, p, v, loss = _torch_setup()
    from torch.func import grad, jvp
    g = grad(loss)
    hvp = (lambda: jvp(g, (p,), (v,))[1])
    return {"grad": (lambda: g(p), lambda: flat({k: t.numpy() for k, t in g(p).items()})),
            "hvp": (hvp, lambda: flat({k: t.numpy() for k, t in hvp().items()}))}


@framework(FRAMEWORKS, "torch.autograd", needs=["torch"])
def _torch_autograd():
    """torch.autograd.grad, and torch.autograd.functional.hvp (double backward)."""
    torch, p, v, loss = _torch_setup()
    leaves = tuple(p[k].clone().requires_grad_() for k in NAMES)
    vs = tuple(v[k] for k in NAMES)

    def f(*ts):
        return loss(dict(zip(NAMES, ts)))

    def grad():
        return torch.autograd.grad(f(*leaves), leaves)

    def hvp():
        return torch.autograd.functional.hvp(f, leaves, vs)[1]
    return {"grad": (grad, lambda: flat([t.numpy() for t in grad()])),
            "hvp": (hvp, lambda: flat([t.numpy() for t in hvp()]))}


@framework(FRAMEWORKS, "jax-jit", needs=["jax", "jaxlib"])
def _jax():
    """jax.jit(jax.grad) and jax.jit of jax.jvp of it, float64, compiled before timing."""
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    p = {k: jnp.asarray(a) for k, a in PARAMS.items()}
    v = {k: jnp.asarray(a) for k, a in V.items()}
    x, y = jnp.asarray(X), jnp.asarray(Y)

    def loss(p):
        h = x
        for i in range(2):
            h = jnp.tanh(h @ p[f"W{i}"] + p[f"b{i}"])
        logp = jax.nn.log_softmax(h @ p["W2"] + p["b2"], axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))
    g = jax.jit(jax.grad(loss))
    hvp = jax.jit(lambda p, v: jax.jvp(jax.grad(loss), (p,), (v,))[1])
    g(p), hvp(p, v)
    return {"grad": (lambda: jax.block_until_ready(g(p)), lambda: flat(g(p))),
            "hvp": (lambda: jax.block_until_ready(hvp(p, v)), lambda: flat(hvp(p, v)))}


@framework(FRAMEWORKS, "autograd", needs=["autograd"])
def _autograd():
    """autograd.grad and autograd.hessian_vector_product (reverse-over-reverse)."""
    import autograd
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp
    sizes = [PARAMS[k].size for k in NAMES]
    splits = np.cumsum(sizes)[:-1]
    shapes = [PARAMS[k].shape for k in NAMES]

    def loss(theta):   # autograd's hessian_vector_product wants one array argument
        p = dict(zip(NAMES, (t.reshape(s) for t, s in zip(anp.split(theta, splits), shapes))))
        h = X
        for i in range(2):
            h = anp.tanh(anp.dot(h, p[f"W{i}"]) + p[f"b{i}"])
        z = anp.dot(h, p["W2"]) + p["b2"]
        return anp.mean(logsumexp(z, axis=1) - z[np.arange(BATCH), Y])
    theta, v = flat(PARAMS), flat(V)
    g = autograd.grad(loss)
    hvp = autograd.hessian_vector_product(loss)
    return {"grad": lambda: g(theta), "hvp": lambda: hvp(theta, v)}


@framework(FRAMEWORKS, "numpy", needs=["numpy"])
def _numpy():
    """The hand-written gradient, for scale (no HVP)."""
    return {"grad": (lambda: grad_np(PARAMS), lambda: flat(grad_np(PARAMS)))}
