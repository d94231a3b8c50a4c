"""Workload `hvp_cuda`: hvp on a CUDA GPU: the Hessian-vector product of the mean softmax
cross-entropy of the 784-512-512-10 tanh MLP (batch 128, float64) w.r.t. its six parameter
arrays, next to the same framework's gradient (/own grad), pyad (CuPy arrays) against
PyTorch eager (torch.func), both on the GPU. Skipped without a usable GPU.

The parameters, vectors, batch and check are hvp's. pyad: `grad`, `hvp` (fwd-rev, the
default) and `hvp_fn apply` (recorded once, a new vector each call); torch: torch.func.grad
and torch.func.jvp of it."""

from bench.workloads import framework
from bench.workloads import hvp as cpu

UNIT, PER_CALL = "ms", 1000
BASELINE, REFERENCE = "pyad-cuda", "torch-cuda"
CASE_BASE = "grad"
FRAMEWORKS = {}
verify = cpu.verify


def _host_flat(tree, to_numpy):
    """A dict of device arrays (hvp.NAMES) as one float64 host vector."""
    return cpu.flat({k: to_numpy(tree[k]) for k in cpu.NAMES})


@framework(FRAMEWORKS, "pyad-cuda", needs=["pyad", "cupy", "array_api_compat"], gpu="cupy")
def _pyad():
    import cupy
    import pyad as ad
    from pyad import nn
    p = {k: cupy.asarray(v) for k, v in cpu.PARAMS.items()}
    vs = [{k: cupy.asarray(a) for k, a in v.items()} for v in cpu.VS]
    x, y = cupy.asarray(cpu.X), cpu.Y       # labels stay on the host (a kernel parameter)

    def loss(q):
        h = x
        for i in range(2):
            h = ad.tanh(h @ q[f"W{i}"] + q[f"b{i}"])
        return nn.softmax_cross_entropy(h @ q["W2"] + q["b2"], y)

    def host(tree):
        return _host_flat(tree, cupy.asnumpy)
    g = ad.grad(loss)
    hvp = (lambda: ad.hvp(loss, (p,), (vs[0],)))
    apply = ad.hvp_fn(loss, p)
    nxt = cpu._cycle(vs)        # a new vector each call; the check sees VS[0] first
    return {"grad": (lambda: g(p), lambda: host(g(p))),
            "hvp": (hvp, lambda: host(hvp())),
            "hvp_fn apply": (lambda: apply(nxt()), lambda: host(apply(vs[0])))}


@framework(FRAMEWORKS, "torch-cuda", needs=["torch"], gpu="torch")
def _torch():
    """torch.func.grad, and torch.func.jvp of it (forward-over-reverse), on the GPU."""
    import torch
    import torch.nn.functional as F
    from torch.func import grad, jvp
    dev = torch.device("cuda")
    p = {k: torch.from_numpy(v).to(dev) for k, v in cpu.PARAMS.items()}
    v = {k: torch.from_numpy(a).to(dev) for k, a in cpu.V.items()}
    x, y = torch.from_numpy(cpu.X).to(dev), torch.from_numpy(cpu.Y).to(dev)

    def loss(q):
        h = x
        for i in range(2):
            h = torch.tanh(h @ q[f"W{i}"] + q[f"b{i}"])
        return F.cross_entropy(h @ q["W2"] + q["b2"], y)

    def host(tree):
        return _host_flat(tree, lambda t: t.cpu().numpy())
    g = grad(loss)
    hvp = (lambda: jvp(g, (p,), (v,))[1])
    return {"grad": (lambda: g(p), lambda: host(g(p))),
            "hvp": (hvp, lambda: host(hvp()))}
