"""Workload `adam_10m`: one Adam step on one tensor of 10M float32 parameters, against the
memory-streaming floor of the bytes that step must move.

Adam in place reads p, g, m, v and writes p, m, v: 7 x 40 MB = 280 MB of traffic. The floor
`numpy-copyto` moves the same 280 MB with np.copyto: a copy of 3.5 x 10M float32 reads 140 MB
and writes 140 MB (memcpy's stores also fetch each destination line first, so it is a
pessimistic floor); `numpy-inplace-floor` streams Adam's exact pattern in place with the
least arithmetic (p += g, m = -m, v = -v). The gradient is fixed, so m -> g and v -> g^2 stay well away from denormals."""
import numpy as np

from bench.workloads import framework

N = 10_000_000
LR, BETAS, EPS = 1e-3, (0.9, 0.999), 1e-8
UNIT, PER_CALL = "ms", 1000
BASELINE, REFERENCE = "pyad", "numpy-copyto"
FRAMEWORKS = {}

_rng = np.random.default_rng(0)
P0 = _rng.standard_normal(N, dtype=np.float32)
G = _rng.standard_normal(N, dtype=np.float32)


def _first_step():
    """float64 reference of the first Adam step from m = v = 0 (torch.optim.Adam's formula)."""
    p, g = P0.astype(np.float64), G.astype(np.float64)
    b1, b2 = BETAS
    m, v = (1 - b1) * g, (1 - b2) * g * g
    mhat, vhat = m / (1 - b1), v / (1 - b2)
    return p - LR * mhat / (np.sqrt(vhat) + EPS)


_REF = []


def verify(case, fw, out):
    """The first call is the first step: p must match the float64 formula."""
    if fw == "numpy-copyto":
        np.testing.assert_array_equal(out[:N], P0, err_msg="adam_10m/copyto")
        return
    if fw == "numpy-inplace-floor":
        np.testing.assert_allclose(out, P0 + G, rtol=1e-6, err_msg="adam_10m/inplace")
        return
    if not _REF:
        _REF.append(_first_step())
    np.testing.assert_allclose(out, _REF[0], rtol=1e-5, atol=1e-6, err_msg=f"adam_10m/{fw}")


def _pyad(threads):
    def setup():
        import pyad as ad
        from pyad import optim
        if threads:
            ad.set_num_threads(threads)
        p = ad.tensor(P0.copy(), requires_grad=True)
        p.grad = ad.tensor(G)
        opt = optim.Adam([p], lr=LR, betas=BETAS, eps=EPS)

        def step():
            opt.step()
            return p.data
        return {"adam": step}
    return setup


framework(FRAMEWORKS, "pyad", needs=["pyad"])(_pyad(None))
framework(FRAMEWORKS, "pyad-1t", needs=["pyad"])(_pyad(1))


def _torch(**kw):
    def setup():
        import torch
        p = torch.nn.Parameter(torch.from_numpy(P0.copy()))
        p.grad = torch.from_numpy(G.copy())
        opt = torch.optim.Adam([p], lr=LR, betas=BETAS, eps=EPS, **kw)

        def step():
            opt.step()
            return p.detach()
        return {"adam": step}
    return setup


framework(FRAMEWORKS, "torch-foreach=False", needs=["torch"])(_torch(foreach=False))
framework(FRAMEWORKS, "torch-foreach", needs=["torch"])(_torch(foreach=True))
framework(FRAMEWORKS, "torch-fused", needs=["torch"])(_torch(fused=True))


@framework(FRAMEWORKS, "numpy", needs=["numpy"])
def _numpy():
    """Adam by hand with out= everywhere (two scratch buffers), for scale."""
    p, m, v = P0.copy(), np.zeros(N, np.float32), np.zeros(N, np.float32)
    t1, t2 = np.empty(N, np.float32), np.empty(N, np.float32)
    state = {"t": 0}
    b1, b2 = BETAS

    def step():
        state["t"] += 1
        t = state["t"]
        np.multiply(m, np.float32(b1), out=m)
        np.multiply(G, np.float32(1 - b1), out=t1)
        np.add(m, t1, out=m)
        np.multiply(v, np.float32(b2), out=v)
        np.multiply(G, G, out=t1)
        np.multiply(t1, np.float32(1 - b2), out=t1)
        np.add(v, t1, out=v)
        np.sqrt(v, out=t1)
        np.multiply(t1, np.float32(1 / np.sqrt(1 - b2 ** t)), out=t1)
        np.add(t1, np.float32(EPS), out=t1)
        np.divide(m, t1, out=t2)
        np.multiply(t2, np.float32(LR / (1 - b1 ** t)), out=t2)
        np.subtract(p, t2, out=p)
        return p
    return {"adam": step}


@framework(FRAMEWORKS, "numpy-copyto", needs=["numpy"])
def _copyto():
    """The floor: np.copyto of 3.5 x 10M float32 (140 MB read + 140 MB written = Adam's 280 MB)."""
    src = np.concatenate([P0, G, P0, G[:N // 2]])
    dst = np.empty_like(src)

    def copy():
        np.copyto(dst, src)
        return dst
    return {"adam": copy}


@framework(FRAMEWORKS, "numpy-inplace-floor", needs=["numpy"])
def _inplace():
    """Adam's exact access pattern with the least arithmetic: p += g, m = -m, v = -v in place
    (reads p, g, m, v; writes p, m, v; no separate destination to fetch before writing)."""
    p, m, v = P0.copy(), np.ones(N, np.float32), np.ones(N, np.float32)

    def stream():
        np.add(p, G, out=p)
        np.negative(m, out=m)
        np.negative(v, out=v)
        return p
    return {"adam": stream}
